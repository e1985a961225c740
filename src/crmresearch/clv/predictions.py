"""Predictions from fitted BTYD models: P(alive), expected transactions, spend and discounted CLV.

All functions take natural-scale parameters θ and per-customer arrays; they are vectorized and
broadcast over a time grid (a trailing axis), so cohort forecasts and CLV sums need no loops.

BG/NBD (Fader, Hardie & Lee 2005, eq. 7, 10, 11), with ₂F₁ the Gauss hypergeometric function:

* E[X(t)] = (a+b-1)/(a-1) · [1 - (α/(α+t))^r ₂F₁(r, b; a+b-1; t/(α+t))];
* P(alive | x, t_x, T) = 1 / (1 + δ_{x>0} a/(b+x-1) · ((α+T)/(α+t_x))^(r+x));
* E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x)
  ₂F₁(r+x, b+x; a+b+x-1; t/(α+T+t))] · P(alive). (The formulas hold for a < 1 as well.)

Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie's note):

* E[X(t)] = rβ/(α(s-1)) · [1 - (β/(β+t))^(s-1)];
* P(alive) = alive term / likelihood bracket (see `models.ParetoNbd`);
* E[Y(t) | x, t_x, T] = (r+x)(β+T)/((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)] · P(alive).

Gamma-Gamma (Fader, Hardie & Lee 2005, JMR, eq. 5): E[M | p, q, γ, m_x, x] =
(q-1)/(px+q-1) · γp/(q-1) + px/(px+q-1) · m_x, a weighted mean of the population mean and m_x.

Discounted CLV per customer (as in Fader, Hardie & Lee 2005 JMR, in discrete steps):
CLV_i = margin · E[M_i] · Σ_{k=1}^{K} (E[Y_i(kΔ)] - E[Y_i((k-1)Δ)]) / (1+d)^k, with Δ the step,
K = horizon/Δ and d the discount rate per step. Uncertainty by the delta method on the
log-parameters of both fits (taken as independent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from . import models


def _col(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


# ------------------------------------------------------------------ BG/NBD

def bgnbd_expected_repeat(theta, t) -> np.ndarray:
    """Unconditional expected repeat transactions E[X(t)] of a new customer in (0, t]."""
    r, alpha, a, b = theta
    t = _col(t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def bgnbd_prob_alive(theta, frequency, recency, T) -> np.ndarray:
    r, alpha, a, b = theta
    x, t_x, T = _col(frequency), _col(recency), _col(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(x > 0, a / (b + x - 1) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))), 0.0)
    return 1.0 / (1.0 + odds)


def bgnbd_conditional_expected(theta, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]; `t` broadcasts against the customers (e.g. t[None, :] for a grid)."""
    r, alpha, a, b = theta
    x, t_x, T = _col(frequency), _col(recency), _col(T)
    t = _col(t)
    if x.ndim == 1 and x.size > 1 and np.ndim(r) == 0:
        # The hypergeometric term depends on (x, T) only, not on t_x: evaluated once per distinct
        # (x, T) pair (a million customers have some tens of thousands) and mapped back.
        pairs = models.collapse_rows(x=x, T=T)
        ux, uT = pairs.columns["x"], pairs.columns["T"]
        if t.ndim > 0:
            ux, uT = ux[:, None], uT[:, None]
        term = bgnbd_alive_expected(theta, t, ux, uT)
        alive = bgnbd_prob_alive(theta, x, t_x, T)
        return term[pairs.inverse] * (alive[:, None] if t.ndim > 0 else alive)
    if t.ndim > 0 and x.ndim > 0:
        x, t_x, T = x[:, None], t_x[:, None], T[:, None]
    return bgnbd_alive_expected(theta, t, x, T) * bgnbd_prob_alive(theta, x, t_x, T)


def bgnbd_alive_expected(theta, t, x, T):
    """E[Y(t) | x, t_x, T] / P(alive | x, t_x, T): a function of (x, T) only (FHL 2005, eq. 10)."""
    r, alpha, a, b = theta
    z = t / (alpha + T + t)
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * bracket


def bgnbd_pmf(theta, t, max_count: int) -> np.ndarray:
    """P(X(t) = x) for x = 0..max_count-1 and P(X(t) ≥ max_count) in the last column (FHL 2005, eq. 8).

    P(X(t) = x) = B(a, b+x)/B(a, b) · NB(x; r, α, t)
                  + δ_{x>0} B(a+1, b+x-1)/B(a, b) · [1 - Σ_{j<x} NB(j; r, α, t)],
    with NB(j; r, α, t) = Γ(r+j)/(Γ(r) j!) (α/(α+t))^r (t/(α+t))^j. Rows follow `t`.
    """
    r, alpha, a, b = theta
    t = np.atleast_1d(_col(t))[:, None]
    x = np.arange(max_count)[None, :]
    with np.errstate(divide="ignore"):
        log_nb = (special.gammaln(r + x) - special.gammaln(r) - special.gammaln(x + 1)
                  + r * np.log(alpha / (alpha + t)) + special.xlogy(x, t / (alpha + t)))   # t = 0: X = 0
    nb = np.exp(log_nb)
    below = np.cumsum(nb, axis=-1) - nb                    # Σ_{j<x} NB(j)
    log_beta_ab = special.betaln(a, b)
    stay = np.exp(special.betaln(a, b + x) - log_beta_ab)
    with np.errstate(invalid="ignore"):
        drop = np.where(x > 0, np.exp(special.betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - log_beta_ab), 0.0)
    probs = stay * nb + drop * (1 - below)
    # The last axis is the count; θ given as arrays of shape (k, 1, 1) gives one (t × count) table per draw.
    return np.concatenate([probs, 1 - probs.sum(axis=-1, keepdims=True)], axis=-1)


def frequency_histogram(fit, summary: pd.DataFrame, max_count: int = 7) -> pd.DataFrame:
    """Customers by repeat purchases in calibration (0..max_count-1, max_count+): actual and expected.

    Expected counts sum P(X(T_i) = x) over customers (FHL 2005, figure 1); BG/NBD only.
    """
    if fit.name != "BG/NBD":
        raise ValueError("the frequency histogram is implemented for the BG/NBD")
    T_values, counts = np.unique(summary["T"].to_numpy(), return_counts=True)
    expected = counts @ bgnbd_pmf(fit.theta, T_values, max_count)
    actual = np.bincount(np.minimum(summary["frequency"].to_numpy(), max_count), minlength=max_count + 1)
    labels = [str(k) for k in range(max_count)] + [f"{max_count}+"]
    return pd.DataFrame({"repeat purchases": labels, "actual": actual, "BG/NBD": expected})


# ------------------------------------------------------------------ Pareto/NBD

def pareto_expected_repeat(theta, t) -> np.ndarray:
    r, alpha, s, beta = theta
    t = _col(t)
    return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))


def pareto_prob_alive(theta, frequency, recency, T) -> np.ndarray:
    model = models.ParetoNbd(frequency, recency, T)
    _, parts, log_sum, _, _ = model._terms(np.asarray(theta, dtype=float))
    return np.exp(parts[:, 0] - log_sum)[model.rows.inverse]


def pareto_conditional_expected(theta, t, frequency, recency, T) -> np.ndarray:
    r, alpha, s, beta = theta
    x, T_ = _col(frequency), _col(T)
    alive = pareto_prob_alive(theta, frequency, recency, T)
    t = _col(t)
    if t.ndim > 0 and x.ndim > 0:
        x, T_, alive = x[:, None], T_[:, None], alive[:, None]
    return ((r + x) * (beta + T_) / ((alpha + T_) * (s - 1))
            * (1 - ((beta + T_) / (beta + T_ + t)) ** (s - 1)) * alive)


PURCHASE_MODELS = {
    "BG/NBD": (bgnbd_expected_repeat, bgnbd_conditional_expected, bgnbd_prob_alive),
    "Pareto/NBD": (pareto_expected_repeat, pareto_conditional_expected, pareto_prob_alive),
}


def _functions(fit: models.FittedModel):
    if fit.name not in PURCHASE_MODELS:
        raise ValueError(f"{fit.name} is not a purchase model (expected one of {', '.join(PURCHASE_MODELS)})")
    return PURCHASE_MODELS[fit.name]


def expected_repeat(fit, t):
    return _functions(fit)[0](fit.theta, t)


def conditional_expected(fit, t, frequency, recency, T):
    return _functions(fit)[1](fit.theta, t, frequency, recency, T)


def prob_alive(fit, frequency, recency, T):
    return _functions(fit)[2](fit.theta, frequency, recency, T)


# ------------------------------------------------------------------ spend

def gamma_gamma_expected_spend(theta, frequency, monetary_value) -> np.ndarray:
    """Conditional expected spend per transaction; customers with x = 0 get the population mean γp/(q-1)."""
    p, q, gamma = theta
    x = _col(frequency)
    m = np.nan_to_num(_col(monetary_value), nan=0.0)
    population_mean = gamma * p / (q - 1)
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * population_mean + weight * m


# ------------------------------------------------------------------ cohort tracking

def expected_cumulative_repeat(fit, first_purchase_time, period_ends) -> np.ndarray:
    """Expected cumulative repeat transactions of a cohort at each period end.

    `first_purchase_time` is each customer's trial time and `period_ends` the times at which the
    count is taken, on the same clock (e.g. weeks since the cohort's start). Customers are
    grouped by trial time so the cost is (distinct trial times) × (periods).
    """
    starts, counts = np.unique(_col(first_purchase_time), return_counts=True)
    elapsed = np.clip(_col(period_ends)[None, :] - starts[:, None], 0.0, None)
    return counts @ expected_repeat(fit, elapsed)


def conditional_expectation_by_frequency(summary: pd.DataFrame, fits: list, holdout: float,
                                         max_frequency: int = 7) -> pd.DataFrame:
    """Mean holdout transactions, actual vs each model, by calibration frequency (capped at `max_frequency`+).

    Reproduces Fader, Hardie & Lee (2005, figure 4).
    """
    x = summary["frequency"].to_numpy()
    group = np.minimum(x, max_frequency)
    out = pd.DataFrame({"frequency": group, "actual": summary["frequency_holdout"].to_numpy()})
    for fit in fits:
        out[fit.name] = conditional_expected(fit, holdout, x, summary["recency"], summary["T"])
    table = out.groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                         **{f.name: (f.name, "mean") for f in fits}).reset_index()
    table["frequency"] = [f"{v}+" if v == max_frequency else str(v) for v in table["frequency"]]
    return table


# ------------------------------------------------------------------ discounted CLV

def discounted_expected_transactions(purchase_fit, frequency, recency, T, horizon: float, step: float,
                                     discount_per_step: float, theta=None) -> np.ndarray:
    """Σ_k (E[Y(kΔ)] - E[Y((k-1)Δ)]) / (1+d)^k per customer (discounted expected transactions)."""
    theta = purchase_fit.theta if theta is None else theta
    conditional = _functions(purchase_fit)[1]
    rows = models.collapse_rows(x=frequency, t_x=recency, T=T)
    c = rows.columns
    grid = np.arange(1, int(round(horizon / step)) + 1) * step
    discount = (1 + discount_per_step) ** -np.arange(1, grid.size + 1)
    if purchase_fit.name == "BG/NBD":
        # E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) * g(t; x, T): the discounted sum over the grid is
        # taken once per distinct (x, T) pair, then scaled by each row's P(alive).
        pairs = models.collapse_rows(x=c["x"], T=c["T"])
        g = bgnbd_alive_expected(theta, grid[None, :], pairs.columns["x"][:, None], pairs.columns["T"][:, None])
        per_pair = np.diff(g, axis=1, prepend=0.0) @ discount
        return (bgnbd_prob_alive(theta, c["x"], c["t_x"], c["T"]) * per_pair[pairs.inverse])[rows.inverse]
    cumulative = conditional(theta, grid[None, :], c["x"], c["t_x"], c["T"])
    increments = np.diff(np.concatenate([np.zeros((cumulative.shape[0], 1)), cumulative], axis=1), axis=1)
    return (increments @ discount)[rows.inverse]


def customer_lifetime_value(purchase_fit, spend_fit, summary: pd.DataFrame, horizon: float, step: float,
                            annual_discount_rate: float, periods_per_year: float = 52.0, margin: float = 1.0,
                            confidence: float = 0.95, epsilon: float = 1e-5) -> tuple[pd.DataFrame, dict]:
    """Per-customer discounted CLV with delta-method standard errors, and the cohort total.

    `horizon` and `step` are in the models' time unit (weeks when `periods_per_year` = 52); the
    annual rate becomes d = (1 + annual)^(step/periods_per_year) - 1 per step. Returns the
    per-customer table (p_alive, expected transactions over the horizon, expected spend,
    discounted transactions, clv, clv_se, clv_lower, clv_upper) and a dict for the total.
    """
    d = (1 + annual_discount_rate) ** (step / periods_per_year) - 1
    x = summary["frequency"].to_numpy(float)
    m = summary["monetary_value"].to_numpy(float)
    # The purchase model's terms depend on (x, t_x, T) only: computed once per unique row (a
    # million customers have about a hundred thousand) and mapped back, with the same numbers.
    rows = models.collapse_rows(x=x, t_x=summary["recency"].to_numpy(float), T=summary["T"].to_numpy(float))
    ux, ut_x, uT = rows.columns["x"], rows.columns["t_x"], rows.columns["T"]

    def discounted(theta):
        return discounted_expected_transactions(purchase_fit, ux, ut_x, uT, horizon, step, d, theta)

    base_theta = purchase_fit.theta
    dert_unique = discounted(base_theta)
    dert = dert_unique[rows.inverse]
    spend = gamma_gamma_expected_spend(spend_fit.theta, x, m)
    clv = margin * spend * dert

    def jacobian(func, theta):
        cols = []
        for j in range(theta.size):
            up, down = np.log(theta).copy(), np.log(theta).copy()
            up[j] += epsilon
            down[j] -= epsilon
            cols.append((func(np.exp(up)) - func(np.exp(down))) / (2 * epsilon))
        return np.column_stack(cols)

    jac_purchase = margin * spend[:, None] * jacobian(discounted, base_theta)[rows.inverse]
    jac_spend = margin * dert[:, None] * jacobian(lambda th: gamma_gamma_expected_spend(th, x, m), spend_fit.theta)
    variance = (np.einsum("ij,jk,ik->i", jac_purchase, purchase_fit.log_cov, jac_purchase)
                + np.einsum("ij,jk,ik->i", jac_spend, spend_fit.log_cov, jac_spend))
    z = special.ndtri(0.5 + confidence / 2)
    se = np.sqrt(variance)
    table = pd.DataFrame({
        "p_alive": prob_alive(purchase_fit, ux, ut_x, uT)[rows.inverse],
        "expected_transactions": conditional_expected(purchase_fit, horizon, ux, ut_x, uT)[rows.inverse],
        "expected_spend": spend,
        "discounted_transactions": dert,
        "clv": clv, "clv_se": se, "clv_lower": clv - z * se, "clv_upper": clv + z * se,
    }, index=summary.index)
    total_grad_p, total_grad_s = jac_purchase.sum(0), jac_spend.sum(0)
    total_se = float(np.sqrt(total_grad_p @ purchase_fit.log_cov @ total_grad_p
                             + total_grad_s @ spend_fit.log_cov @ total_grad_s))
    total = {"total": float(clv.sum()), "se": total_se, "lower": float(clv.sum() - z * total_se),
             "upper": float(clv.sum() + z * total_se), "mean_per_customer": float(clv.mean()),
             "discount_per_step": d, "horizon": horizon, "step": step}
    return table, total


def spend_frequency_correlation(frequency, monetary_value, confidence: float = 0.95) -> dict:
    """Pearson correlation of repeat purchases and average spend among repeat buyers, with a Fisher-z interval.

    Gamma-Gamma assumes spend per purchase is independent of the purchase process; Fader,
    Hardie & Lee (2005, JMR) check it this way on CDNOW (r = 0.11) and call it weak enough.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    keep = (x > 0) & np.isfinite(m)
    n = int(keep.sum())
    r = float(np.corrcoef(x[keep], m[keep])[0, 1])
    z = special.ndtri(0.5 + confidence / 2)
    half = z / np.sqrt(n - 3)
    return {"n": n, "correlation": r, "lower": float(np.tanh(np.arctanh(r) - half)),
            "upper": float(np.tanh(np.arctanh(r) + half))}
