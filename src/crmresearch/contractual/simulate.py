"""Simulated customers with known truth: sBG/BdW cohorts, telecom subscribers in value tiers, BG/BB donors.

Every draw is vectorised over customers and takes a seeded `numpy.random.Generator`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..models.base import quick_mle
from ..models.retention import BdwLikelihood, SbgLikelihood, duration_counts


def draw_durations(alpha: float, beta: float, size: int, rng: np.random.Generator, c: float = 1.0) -> np.ndarray:
    """Renewal at which each customer leaves, under the BdW (sBG when c = 1).

    θ ~ Beta(α, β); P(T > t | θ) = (1 - θ)^(t^c), so T = floor(v^(1/c)) + 1 with v = log U / log(1 - θ).
    Customers with θ so small that they practically never leave get a very large T.
    """
    theta = rng.beta(alpha, beta, size)
    u = rng.random(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(u) / np.log1p(-theta)
    v = np.where(np.isfinite(v), v, 1e12)
    return np.floor(np.minimum(v, 1e12) ** (1.0 / c)) + 1


def simulate_cohort(alpha: float, beta: float, size: int, periods: int, rng: np.random.Generator,
                    c: float = 1.0) -> np.ndarray:
    """Counts alive at t = 0..periods in one cohort of `size` customers (a survivor table)."""
    durations = draw_durations(alpha, beta, size, rng, c)
    t = np.arange(periods + 1)
    # alive at t means T > t; counted with one sort instead of a loop over periods
    ordered = np.sort(durations)
    return (size - np.searchsorted(ordered, t, side="right")).astype(float)


def cohort_rows(alpha: float, beta: float, size: int, periods: int, rng: np.random.Generator,
                c: float = 1.0) -> pd.DataFrame:
    """Duration rows (t, churned, count) of one simulated cohort observed for `periods` renewals."""
    return design_rows(alpha, beta, ([periods], [size]), rng, c)


def design_rows(alpha: float, beta: float, windows, rng: np.random.Generator, c: float = 1.0) -> pd.DataFrame:
    """Duration rows of customers simulated on a data set's design: `windows` = (distinct observation
    windows, customers with each), as `contractual.data.Segments.windows` gives them; each customer is
    censored at their own window (a cohort table: one window; a subscriber log: one per start date)."""
    t, churned, count = design_counts(alpha, beta, windows, rng, c)
    return pd.DataFrame({"t": t, "churned": churned, "count": count})


def design_counts(alpha: float, beta: float, windows, rng: np.random.Generator, c: float = 1.0):
    """`design_rows` as arrays (t, churned, count): what the simulation checks fit, once per replication."""
    window_values, customers = (np.asarray(w, dtype=float) for w in windows)
    window = np.repeat(window_values, customers.astype(np.int64))
    durations = draw_durations(alpha, beta, window.size, rng, c)
    churned = durations <= window
    return duration_counts(np.where(churned, durations, window), churned)


def simulate_subscribers(tiers: dict, customers: int, acquisition_months: int, observation_months: int,
                         rng: np.random.Generator, start: str = "2020-01-01") -> pd.DataFrame:
    """A telecom subscriber log: customer, start, end (NaT = still a customer), tier, monthly revenue.

    Dates fall on the first of a month (subscribers join and leave at monthly renewals); observation
    ends on the first day of month `observation_months` after `start` (`observation_end`).

    `tiers` maps a tier name to {share, alpha, beta, monthly_revenue, revenue_spread}: the share of
    subscribers, the sBG churn distribution (monthly renewals), the mean monthly revenue and the
    log-normal spread of revenue within the tier. Subscribers join uniformly over the first
    `acquisition_months`; observation ends after `observation_months`.
    """
    names = list(tiers)
    shares = np.array([tiers[n]["share"] for n in names], dtype=float)
    tier_index = rng.choice(len(names), size=customers, p=shares / shares.sum())
    alpha = np.array([tiers[n]["alpha"] for n in names])[tier_index]
    beta = np.array([tiers[n]["beta"] for n in names])[tier_index]
    theta = rng.beta(alpha, beta)
    with np.errstate(divide="ignore"):
        v = np.log(rng.random(customers)) / np.log1p(-theta)
    durations = np.floor(np.minimum(np.where(np.isfinite(v), v, 1e9), 1e9)) + 1
    joined = rng.integers(0, acquisition_months, customers)
    spread = np.array([tiers[n].get("revenue_spread", 0.3) for n in names])[tier_index]
    mean_revenue = np.array([tiers[n]["monthly_revenue"] for n in names])[tier_index]
    revenue = mean_revenue * np.exp(spread * rng.standard_normal(customers) - spread**2 / 2)
    origin = np.datetime64(pd.Timestamp(start).strftime("%Y-%m"), "M")
    left = joined + durations <= observation_months
    start_dates = pd.to_datetime((origin + joined).astype("datetime64[D]"))
    end_month = origin + np.where(left, joined + durations, 0).astype(np.int64)
    end_dates = pd.Series(pd.to_datetime(end_month.astype("datetime64[D]"))).where(left)
    return pd.DataFrame({"customer": np.arange(1, customers + 1), "start": start_dates, "end": end_dates, "tier": np.array(names)[tier_index],
                         "monthly_revenue": revenue.round(2)})


def simulate_bgbb(theta, customers: int, periods: int, rng: np.random.Generator) -> pd.DataFrame:
    """BG/BB donors with n = `periods` opportunities: frequency x, recency t_x, periods n.

    p ~ Beta(α, β), θ ~ Beta(γ, δ); an alive customer dies before each opportunity with prob. θ
    and buys with prob. p. The last purchase is found from the end: the run of trailing
    non-purchases is geometric, so no loop over opportunities is needed.
    """
    alpha, beta, gamma, delta = theta
    p = rng.beta(alpha, beta, customers)
    death = rng.beta(gamma, delta, customers)
    alive_periods = np.minimum(rng.geometric(np.clip(death, 1e-300, 1)) - 1, periods)
    trailing = rng.geometric(np.clip(p, 1e-300, 1)) - 1          # non-purchases before the last purchase, counted backwards
    buys = trailing < alive_periods
    t_x = np.where(buys, alive_periods - trailing, 0)
    x = np.where(buys, 1 + rng.binomial(np.maximum(t_x - 1, 0), p), 0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x.astype(float),
                         "periods": np.full(customers, float(periods))})


def observation_end(start: str, observation_months: int) -> pd.Timestamp:
    return pd.Timestamp(start).to_period("M").to_timestamp() + pd.DateOffset(months=observation_months)


def lr_test_size(theta, windows, cohorts: int, rng: np.random.Generator, level: float = 0.05) -> dict:
    """Size of the sBG-vs-BdW likelihood-ratio test: simulate `cohorts` data sets under the sBG (c = 1)
    on the design `windows` (`design_rows`: the data's customers and observation windows), fit both
    models to each and count how often the χ²(1) test rejects at `level`.

    Returns the rejection rate with its Wilson interval, the number of cohorts used and how many
    were dropped because a fit failed.
    """
    from scipy import stats as sps

    from .. import stats

    critical = sps.chi2.ppf(1 - level, 1)
    statistics = []
    failed = 0
    for _ in range(cohorts):                      # one simulated cohort per iteration, customers vectorised
        args = design_counts(theta[0], theta[1], windows, rng)
        sbg, bdw = SbgLikelihood(*args), BdwLikelihood(*args)
        th0, ok0 = quick_mle(sbg, theta[:2])
        if not ok0:
            failed += 1
            continue
        # The BdW's maximum may lie on the boundary (α, β → ∞: a discrete Weibull without heterogeneity);
        # the likelihood it reaches there is still its supremum, so it enters the statistic.
        th1, _ = quick_mle(bdw, np.r_[th0, 1.0])
        ll0, ll1 = sbg.loglike(np.log(th0)), bdw.loglike(np.log(th1))
        statistics.append(max(2 * ((ll1 if np.isfinite(ll1) else ll0) - ll0), 0.0))
    statistics = np.array(statistics)
    rejections = int((statistics > critical).sum())
    lo, hi = stats.wilson_interval(rejections, statistics.size)
    return {"cohorts": int(statistics.size), "failed_fits": failed, "level": level, "rejections": rejections,
            "rejection_rate": rejections / statistics.size if statistics.size else float("nan"),
            "ci_lower": lo, "ci_upper": hi, "cohort_size": int(np.sum(windows[1])), "periods": int(np.max(windows[0])),
            "windows": int(np.size(windows[0])),
            "mean_statistic": float(statistics.mean()) if statistics.size else float("nan")}
