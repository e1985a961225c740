"""Simulators that draw customers from the BTYD models exactly, for parameter-recovery tests,
Monte Carlo checks of the predictions and the benchmark.

Purchases are drawn as a Poisson process over each customer's whole window in one flat array
(counts by `rng.poisson`, times uniform, sorted within customer), so there is no loop over
customers. BG/NBD dropout: after each repeat purchase the customer leaves with probability p,
so the number of purchases before leaving is K ~ Geometric(p) on {1, 2, ...} (Fader, Hardie &
Lee 2005, assumption iii). Pareto/NBD: lifetime τ ~ Exponential(μ).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _purchase_times(rates, windows, rng):
    counts = rng.poisson(rates * windows)
    owner = np.repeat(np.arange(rates.size), counts)
    times = rng.random(owner.size) * windows[owner]
    order = np.lexsort((times, owner))
    times = times[order]
    start = np.cumsum(counts) - counts
    rank = np.arange(owner.size) - start[owner] + 1
    return owner, times, rank


def _summarize(owner, times, realized, T, holdout, n):
    in_cal = realized & (times <= T[owner])
    frequency = np.bincount(owner[in_cal], minlength=n)
    recency = np.zeros(n)
    np.maximum.at(recency, owner[in_cal], times[in_cal])
    in_hold = realized & (times > T[owner]) & (times <= (T + holdout)[owner])
    return frequency, recency, np.bincount(owner[in_hold], minlength=n)


def simulate_bgnbd(theta, T, holdout: float = 0.0, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Customers from the BG/NBD with parameters θ = (r, α, a, b), observed for T (array) then `holdout`."""
    rng = rng or np.random.default_rng()
    r, alpha, a, b = theta
    T = np.asarray(T, dtype=float)
    n = T.size
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    purchases_before_leaving = rng.geometric(np.clip(dropout, 1e-300, 1))
    owner, times, rank = _purchase_times(rate, T + holdout, rng)
    realized = rank <= purchases_before_leaving[owner]
    x, t_x, y = _summarize(owner, times, realized, T, holdout, n)
    potential = np.bincount(owner[times <= T[owner]], minlength=n)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "frequency_holdout": y,
                         "alive": potential < purchases_before_leaving, "rate": rate, "dropout": dropout})


def simulate_pareto_nbd(theta, T, holdout: float = 0.0, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Customers from the Pareto/NBD with θ = (r, α, s, β)."""
    rng = rng or np.random.default_rng()
    r, alpha, s, beta = theta
    T = np.asarray(T, dtype=float)
    n = T.size
    rate = rng.gamma(r, 1 / alpha, n)
    death_rate = rng.gamma(s, 1 / beta, n)
    lifetime = rng.exponential(1 / death_rate)
    owner, times, _ = _purchase_times(rate, T + holdout, rng)
    realized = times < lifetime[owner]
    x, t_x, y = _summarize(owner, times, realized, T, holdout, n)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "frequency_holdout": y,
                         "alive": lifetime > T, "rate": rate, "death_rate": death_rate})


def simulate_gamma_gamma(theta, frequency, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Mean spend of x transactions under Gamma-Gamma θ = (p, q, γ); also the true mean spend p/ν."""
    rng = rng or np.random.default_rng()
    p, q, gamma = theta
    x = np.asarray(frequency, dtype=float)
    scale_rate = rng.gamma(q, 1 / gamma, x.size)
    total = rng.gamma(p * np.maximum(x, 1), 1 / scale_rate)
    return pd.DataFrame({"frequency": x, "monetary_value": np.where(x > 0, total / np.maximum(x, 1), np.nan),
                         "true_mean_spend": p / scale_rate})


def simulate_transaction_log(purchase_theta, spend_theta, customers: int, start, acquisition_days: int,
                             end, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """A daily transaction log (customer_id, date, amount) from BG/NBD purchases and Gamma-Gamma spend.

    Trial purchases are spread uniformly over the first `acquisition_days` days from `start`;
    repeat purchases follow the BG/NBD with θ = (r, α, a, b) in weeks until `end`; every
    transaction's value is Gamma(p, ν) with the customer's ν ~ Gamma(q, γ). A purchase at time t
    (weeks after the trial) falls on day ⌈7t⌉ after the trial day, so it is in calibration exactly
    when t ≤ T; two purchases on one day occur, as in real logs, and `rfm_summary` merges them.
    """
    rng = rng or np.random.default_rng()
    r, alpha, a, b = purchase_theta
    p, q, gamma = spend_theta
    start_day = np.datetime64(pd.Timestamp(start).date(), "D")
    end_day = np.datetime64(pd.Timestamp(end).date(), "D")
    trial_day = rng.integers(0, acquisition_days, customers)
    window = ((end_day - start_day).astype(int) + 1 - trial_day) / 7.0
    rate = rng.gamma(r, 1 / alpha, customers)
    purchases_before_leaving = rng.geometric(np.clip(rng.beta(a, b, customers), 1e-300, 1))
    owner, times, rank = _purchase_times(rate, window, rng)
    keep = rank <= purchases_before_leaving[owner]
    owner = np.concatenate([np.arange(customers), owner[keep]])
    day = np.concatenate([trial_day, trial_day[owner[customers:]] + np.ceil(times[keep] * 7).astype(int)])
    spend_rate = rng.gamma(q, 1 / gamma, customers)
    amount = rng.gamma(p, 1 / spend_rate[owner])
    order = np.lexsort((day, owner))
    width = len(str(customers))
    ids = np.char.zfill(np.arange(customers).astype(str), width)
    return pd.DataFrame({"customer_id": ids[owner[order]],
                         "date": (start_day + day[order]).astype("datetime64[ns]"),
                         "amount": np.round(amount[order], 2)})
