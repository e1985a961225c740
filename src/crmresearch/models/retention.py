"""Contractual retention: the beta-discrete-Weibull (BdW) model and its special case, the shifted-beta-geometric (sBG).

A contractual customer renews at discrete times 1, 2, ... or leaves, and the firm sees the
leaving. Each customer has a churn probability θ ~ Beta(α, β); the chance of surviving t renewals
given θ is (1 - θ)^(t^c), so c < 1 means churn falls with tenure for every customer (duration
dependence) and c > 1 that it rises; the sBG is the special case c = 1:

    S(t) = B(α, β + t^c) / B(α, β),      P(T = t) = S(t - 1) - S(t),   t = 1, 2, ...

* sBG: Fader & Hardie (2007), "How to project customer retention", Journal of Interactive
  Marketing 21(1). Their survivor tables (1,000 customers per cohort, years 0-7) give regular
  α = 0.704, β = 1.182, LL = -1680.27 and high end α = 0.668, β = 3.806, LL = -1611.16. Under the
  sBG the retention rate r_t = (β + t - 1)/(α + β + t - 1) rises with t although no customer's
  churn changes.
* BdW: Fader, Hardie, Liu, Davin & Steenburgh (2018), "How to project customer retention
  revisited: the role of duration dependence", Journal of Interactive Marketing 43. The sBG is
  the BdW with c = 1, so a likelihood-ratio test of c = 1 tests for duration dependence.

The data are *duration rows* (t, churned, count): `count` customers who left at renewal t
(churned = 1) or were still customers after t renewals when observation stopped (churned = 0,
censored); the models take the counts as their `weights`. A survivor table of one cohort, several
cohorts with different lengths and a subscriber log all reduce to such rows
(`rows_from_survivors`, `rows_from_durations`).

DERL, the discounted expected residual lifetime of a customer who has made m renewals, is
Σ_{k≥1} S(m+k)/S(m) · (1+d)^-(k-1) (Fader & Hardie 2010, Marketing Science 29(1)); under the sBG
it has the closed form (eq. 6) DERL = (β + m)/(α + β + m) · ₂F₁(1, β + m + 1; α + β + m + 1; 1/(1 + d)),
for the BdW the series is summed (`derl_series`).

Use: ``crm.ShiftedBetaGeometric().fit(rows)`` or ``crm.BetaDiscreteWeibull().fit(rows)`` on duration
rows; `duration_dependence_test(sbg_fit, bdw_fit, rows)` compares them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from ..subscriptions import FADER_HARDIE_2007_SURVIVORS
from .base import FittedModel, LogParameterLikelihood, Model, collapse_counted, quick_mle, weighted_sum
from .lr_test import lr_test_from_loglikelihoods

DURATION_COLUMNS = ("t", "churned")
PUBLISHED_FADER_HARDIE_2007 = {
    "survivors": FADER_HARDIE_2007_SURVIVORS,
    "estimates": {
        "regular": {"alpha": 0.704, "beta": 1.182, "loglike": -1680.27},
        "high end": {"alpha": 0.668, "beta": 3.806, "loglike": -1611.16},
    },
    "source": "Fader & Hardie (2007), 'How to project customer retention', J. Interactive Marketing 21(1), table 1",
}
SERIES_TERMS = 3000


# ------------------------------------------------------------------ duration rows

def rows_from_survivors(survivors) -> pd.DataFrame:
    """Duration rows (t, churned, count) from one cohort's counts alive at t = 0, 1, ..., T.

    Trailing missing values are allowed (a younger cohort observed for fewer periods).
    """
    alive = np.asarray(pd.to_numeric(pd.Series(survivors), errors="coerce"), dtype=float)
    alive = alive[~np.isnan(alive)]
    if alive.size < 2:
        raise ValueError("a survivor table needs counts for t = 0 and at least t = 1")
    if np.any(np.diff(alive) > 0) or np.any(alive < 0):
        raise ValueError("survivor counts must be non-negative and never increase")
    T = alive.size - 1
    lost = alive[:-1] - alive[1:]
    out = pd.DataFrame({"t": np.r_[np.arange(1, T + 1), T], "churned": np.r_[np.ones(T), 0.0],
                        "count": np.r_[lost, alive[-1]]})
    return out[out["count"] > 0].reset_index(drop=True)


def duration_counts(periods, churned) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, churned, count) arrays of `rows_from_durations`, without building its data frame (a
    simulation check makes hundreds of these, and a small data frame costs more than the counting)."""
    t = np.asarray(periods, dtype=float).ravel()
    c = np.asarray(churned, dtype=float).ravel()
    known = ~(np.isnan(t) | np.isnan(c))                 # as a groupby would, rows with a missing key are left out
    t, c = t[known], c[known]
    if t.size and t.min() >= 0 and t.max() < 1e6 and np.all(t == np.floor(t)) and np.all((c == 0) | (c == 1)):
        # renewals (whole numbers) and a 0/1 flag: count the keys 2t + churned, already in (t, churned) order
        counts = np.bincount((2 * t + c).astype(np.int64))
        key = np.flatnonzero(counts)
        return (key // 2).astype(float), (key % 2).astype(float), counts[key].astype(float)
    order = np.lexsort((c, t))                           # sorted by t, then churned (one sort, no groupby)
    t, c = t[order], c[order]
    first = np.flatnonzero(np.r_[True, (t[1:] != t[:-1]) | (c[1:] != c[:-1])]) if t.size else np.zeros(0, np.int64)
    return t[first], c[first], np.diff(np.r_[first, t.size]).astype(float)


def rows_from_durations(periods, churned) -> pd.DataFrame:
    """Duration rows from one value per customer: renewals survived (censored) or the renewal at which
    the customer left (churned), collapsed to counts."""
    t, c, count = duration_counts(periods, churned)
    return pd.DataFrame({"t": t, "churned": c, "count": count})


def survivors_from_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Customers alive at t = 0..max t (churn is observed until each row's own censoring time)."""
    t_max = int(rows["t"].max())
    t = np.arange(t_max + 1)
    churn = np.bincount(rows.loc[rows["churned"] == 1, "t"].astype(int), weights=rows.loc[rows["churned"] == 1, "count"],
                        minlength=t_max + 1)
    censored = np.bincount(rows.loc[rows["churned"] == 0, "t"].astype(int), weights=rows.loc[rows["churned"] == 0, "count"],
                           minlength=t_max + 1)
    at_risk = rows["count"].sum() - np.r_[0, np.cumsum(churn + censored)[:-1]]
    return pd.DataFrame({"t": t, "at_risk": at_risk, "churned": churn, "censored": censored})



# ------------------------------------------------------------------ survival

def log_survival(theta, t, c: float = 1.0) -> np.ndarray:
    """log S(t) = log B(α, β + t^c) - log B(α, β)."""
    alpha, beta = theta[0], theta[1]
    tc = np.power(np.asarray(t, dtype=float), c)
    return special.betaln(alpha, beta + tc) - special.betaln(alpha, beta)


def survival(theta, t, c: float | None = None) -> np.ndarray:
    """S(t) under sBG (θ = (α, β)) or BdW (θ = (α, β, c))."""
    c = c if c is not None else (theta[2] if len(theta) > 2 else 1.0)
    return np.exp(log_survival(theta, t, c))


def retention_rates(theta, t) -> np.ndarray:
    """r_t = S(t) / S(t-1), the share of those alive at t-1 who renew at t; sBG: (β + t - 1) / (α + β + t - 1)."""
    t = np.asarray(t, dtype=float)
    return survival(theta, t) / survival(theta, t - 1)


def mean_churn_among_survivors(theta, t) -> np.ndarray:
    """E[θ | alive after t renewals]; for the sBG α / (α + β + t): it falls although nobody's θ changes."""
    alpha, beta = theta[0], theta[1]
    c = theta[2] if len(theta) > 2 else 1.0
    t = np.asarray(t, dtype=float)
    # E[θ (1-θ)^(t^c)] / E[(1-θ)^(t^c)] = B(α+1, β+t^c) / B(α, β+t^c)
    tc = np.power(t, c)
    return np.exp(special.betaln(alpha + 1, beta + tc) - special.betaln(alpha, beta + tc))


def derl_series(theta, renewals, discount_rate: float, terms: int = SERIES_TERMS) -> np.ndarray:
    """DERL by summing Σ_{k≥1} S(m+k)/S(m) (1+d)^-(k-1) (any c; used for the BdW and to check eq. 6)."""
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    m = np.asarray(renewals, dtype=float)
    k = np.arange(1, terms + 1, dtype=float)
    c = theta[:, 2] if theta.shape[1] > 2 else np.ones(theta.shape[0])
    out = np.empty((theta.shape[0], m.size))
    for j, (row, cj) in enumerate(zip(theta, c)):      # loop over parameter draws, vectorised over tenure × k
        ls = log_survival(row, m[:, None] + k[None, :], cj) - log_survival(row, m, cj)[:, None]
        out[j] = np.exp(ls - (k - 1) * np.log1p(discount_rate)).sum(axis=1)
    return out[0] if out.shape[0] == 1 and np.ndim(theta) else out



# ------------------------------------------------------------------ the likelihood

class BdwLikelihood(LogParameterLikelihood):
    """BdW likelihood for duration rows (t, churned) with weights; natural parameters (α, β, c)."""

    natural_names = ("alpha", "beta", "c")
    columns = ("t", "churned")

    def __init__(self, t, churned, weights=None, **kwds):
        t = np.asarray(t, dtype=float)
        churned = np.asarray(churned, dtype=float)
        rows = collapse_counted(weights, t=t, churned=churned)
        if np.any(rows.columns["t"][rows.columns["churned"] == 1] < 1) or np.any(rows.columns["t"] < 0):
            raise ValueError("churn times must be renewals 1, 2, ... and censoring times at least 0")
        super().__init__(rows, **kwds)
        self.t, self.churned = rows.columns["t"], rows.columns["churned"] == 1

    def _c(self, theta):
        return theta[2]

    def default_start(self):
        n = self.weights.sum()
        churn = self.weights[self.churned].sum()
        exposure = weighted_sum(self.weights, np.where(self.churned, self.t, self.t))
        rate = min(max(churn / max(exposure, 1.0), 0.01), 0.9)
        start = [1.0, (1 - rate) / rate]
        return np.array(start + [1.0] * (len(self.natural_names) - 2)) if n else np.ones(len(self.natural_names))

    def _pieces(self, theta):
        """Per row: log-likelihood and its gradient with respect to (α, β, c)."""
        alpha, beta = theta[0], theta[1]
        c = self._c(theta)
        t, churned = self.t, self.churned
        psi_ab = special.digamma(alpha + beta)
        psi_b = special.digamma(beta)

        def log_s_and_grad(times):
            tc = np.power(times, c)
            u = beta + tc
            psi_au = special.digamma(alpha + u)
            psi_u = special.digamma(u)
            ls = special.betaln(alpha, u) - special.betaln(alpha, beta)
            d_alpha = psi_ab - psi_au
            d_beta = psi_u - psi_au - psi_b + psi_ab
            with np.errstate(divide="ignore", invalid="ignore"):
                d_c = np.where(times > 0, (psi_u - psi_au) * tc * np.log(np.where(times > 0, times, 1.0)), 0.0)
            return ls, np.stack([d_alpha, d_beta, d_c], axis=1)

        # S and its gradient at t and at t - 1 in one pass over the rows (the special functions dominate)
        ls_both, g_both = log_s_and_grad(np.concatenate([t, np.maximum(t - 1, 0)]))
        ls_t, ls_prev = ls_both[: t.size], ls_both[t.size:]
        g_t, g_prev = g_both[: t.size], g_both[t.size:]
        # log P(T = t) = log S(t-1) + log(1 - S(t)/S(t-1))
        ratio = np.exp(np.minimum(ls_t - ls_prev, 0.0))
        one_minus = -np.expm1(np.minimum(ls_t - ls_prev, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            ll_churn = ls_prev + np.log(one_minus)
            g_churn = (g_prev - ratio[:, None] * g_t) / one_minus[:, None]
        ll = np.where(churned, ll_churn, ls_t)
        grad = np.where(churned[:, None], g_churn, g_t)
        return ll, grad

    def _row_loglike(self, theta):
        return self._pieces(theta)[0]

    def _loglike_and_gradient(self, theta):
        ll, grad = self._pieces(theta)
        w = self.weights
        return float(weighted_sum(w, ll)), (w @ grad)[: len(self.natural_names)]


class SbgLikelihood(BdwLikelihood):
    """sBG likelihood: the BdW with c = 1; natural parameters (α, β)."""

    natural_names = ("alpha", "beta")

    def _c(self, theta):
        return 1.0


def _derl_sbg_draws(alpha, beta, renewals, z: float) -> np.ndarray:
    """Eq. 6 for many parameter draws (columns alpha, beta of shape (k, 1)) and whole-number renewals.

    With F_n = ₂F₁(1, β + n; α + β + n; z), eq. 6 is DERL(n - 1) = (β + n - 1)/(α + β + n - 1) · F_n, and
    the series of ₂F₁ with a = 1 gives F_n = 1 + z (β + n)/(α + β + n) · F_{n+1}. So ₂F₁ is evaluated
    once per draw, at the largest n, and the smaller n follow downwards by that recursion (stable:
    each step multiplies the error by z (β + n)/(α + β + n) < 1). ₂F₁ near z = 1 sums thousands of
    terms, so this is what makes parametric intervals of a tier's value with thousands of draws cheap;
    it agrees with ₂F₁ at each n to rounding (about 1e-15 relative).
    """
    grid = np.arange(renewals.min(), renewals.max() + 1)           # renewals made, m = n - 1
    F = np.empty((alpha.shape[0], grid.size))
    F[:, -1:] = special.hyp2f1(1, beta + grid[-1] + 1, alpha + beta + grid[-1] + 1, z)
    for j in range(grid.size - 2, -1, -1):                          # a loop over renewals, vectorised over draws
        n = grid[j] + 1
        F[:, j:j + 1] = 1 + z * (beta + n) / (alpha + beta + n) * F[:, j + 1:j + 2]
    values = (beta + grid) / (alpha + beta + grid) * F
    return values[:, (renewals - grid[0]).astype(np.int64)]


def derl_sbg(theta, renewals, discount_rate: float) -> np.ndarray:
    """DERL under the sBG for customers with `renewals` renewals so far (Fader & Hardie 2010, eq. 6).

    `theta` may be one (α, β) or an array of draws (k, 2); the result broadcasts draws × renewals.
    """
    theta = np.asarray(theta, dtype=float)
    alpha, beta = (theta[..., 0], theta[..., 1]) if theta.ndim > 1 else (theta[0], theta[1])
    alpha = np.asarray(alpha)[..., None] if theta.ndim > 1 else alpha
    beta = np.asarray(beta)[..., None] if theta.ndim > 1 else beta
    m = np.asarray(renewals, dtype=float)
    n = m + 1
    with np.errstate(all="ignore"):
        if theta.ndim == 2 and m.ndim == 1 and m.size > 1 and np.all(m == np.floor(m)) and 0 <= m.min() and np.ptp(m) < 5000:
            out = _derl_sbg_draws(alpha, beta, m, 1 / (1 + discount_rate))
        else:
            out = (beta + n - 1) / (alpha + beta + n - 1) * special.hyp2f1(1, beta + n, alpha + beta + n, 1 / (1 + discount_rate))
    if not np.all(np.isfinite(out)):       # ₂F₁ fails for very large α, β (almost no heterogeneity): sum the series
        series = derl_series(theta.reshape(-1, 2), np.ravel(m), discount_rate)
        out = series.reshape(np.shape(out)) if theta.ndim > 1 else series.reshape(np.shape(m))
    return out


def derl(theta, renewals, discount_rate: float) -> np.ndarray:
    """DERL for sBG (θ of length 2: closed form) or BdW (length 3: series)."""
    theta = np.asarray(theta, dtype=float)
    if theta.shape[-1] == 2:
        return derl_sbg(theta, renewals, discount_rate)
    return derl_series(theta, renewals, discount_rate)




class DurationResults(FittedModel):
    """A fitted sBG or BdW: survival, retention and residual lifetime at the estimates."""

    def survival(self, t) -> np.ndarray:
        """S(t): the share of a new cohort still customers after t renewals."""
        return survival(self.theta, t)

    def retention(self, t) -> np.ndarray:
        """r_t = S(t) / S(t-1): the share of those present at t - 1 who renew at t."""
        return retention_rates(self.theta, t)

    def mean_churn_among_survivors(self, t) -> np.ndarray:
        """E[θ | still a customer after t renewals]: falls with t as the likeliest leavers leave first."""
        return mean_churn_among_survivors(self.theta, t)

    def expected_residual_lifetime(self, renewals, discount_rate: float) -> np.ndarray:
        """DERL of customers who have made `renewals` renewals, at a discount rate per period."""
        return derl_series(self.theta, renewals, discount_rate)

    def customer_value(self, renewals, revenue, discount_rate: float) -> np.ndarray:
        """Residual lifetime value: revenue per period × DERL, per customer (or per tenure row)."""
        return np.asarray(revenue, dtype=float) * self.expected_residual_lifetime(renewals, discount_rate)


class DurationModel(Model):
    """A retention model on duration rows: columns t and churned, with the column `count` (or
    `weights=`) as customers per row."""

    data_names = DURATION_COLUMNS
    results_class = DurationResults

    def check(self, t, churned) -> str | None:
        if not np.any(churned == 1):
            return "no customer left during the observation, so churn is not identified"
        if np.all(churned == 1) and np.max(t) <= 1:
            return "every customer left at the first renewal, so heterogeneity is not identified"
        return None



class BetaDiscreteWeibull(DurationModel):
    """The BdW; ``BetaDiscreteWeibull().fit(rows)`` on duration rows (t, churned, count).
    `start_params` as (α, β, c); `crm.ShiftedBetaGeometric` is the special case c = 1."""

    name = "BdW"
    likelihood = BdwLikelihood

    def fit(self, data=None, weights=None, **columns):
        """Started from the sBG's estimates with c = 1 (unless `start_params` were given)."""
        if self.start_params is None:
            sbg = ShiftedBetaGeometric().fit(data, weights, **columns)
            if sbg.converged:
                return type(self)(start_params=np.r_[sbg.theta, 1.0]).fit(data, weights, **columns)
        return super().fit(data, weights, **columns)


class SbgResults(DurationResults):
    """A fitted sBG: DERL in closed form."""

    def expected_residual_lifetime(self, renewals, discount_rate: float) -> np.ndarray:
        return derl_sbg(self.theta, renewals, discount_rate)


class ShiftedBetaGeometric(DurationModel):
    """The sBG; ``ShiftedBetaGeometric().fit(rows)`` on duration rows (t, churned, count);
    `start_params` as (α, β)."""

    name = "sBG"
    likelihood = SbgLikelihood
    results_class = SbgResults


@dataclass
class DurationDependenceTest:
    """Likelihood-ratio test of the sBG (c = 1) within the BdW, χ² with 1 df, with the BdW's c."""

    statistic: float
    df: int
    p_value: float
    loglike_restricted: float
    loglike_full: float
    c: float

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.p_value,
                "loglike_sbg": self.loglike_restricted, "loglike_bdw": self.loglike_full, "c": self.c}


def duration_dependence_test(sbg: FittedModel, bdw, rows: pd.DataFrame | None = None) -> DurationDependenceTest:
    """Likelihood-ratio test of the sBG (c = 1) within the BdW.

    The BdW contains the sBG, so its maximum is at least the sBG's. When the BdW fit failed because
    its maximum lies on the boundary (α, β → ∞: a discrete Weibull without heterogeneity), the
    supremum it approaches is found by BFGS on `rows` and used; without rows the statistic is 0.
    """
    if bdw.converged:
        ll_full, c = max(bdw.llf, sbg.llf), float(bdw.params["c"])
    elif rows is not None:
        model = BdwLikelihood(rows["t"].to_numpy(), rows["churned"].to_numpy(), rows["count"].to_numpy())
        theta, _ = quick_mle(model, np.r_[sbg.theta, 1.0])
        ll = model.loglike(np.log(theta))
        ll_full, c = (max(ll, sbg.llf), float(theta[2])) if np.isfinite(ll) else (sbg.llf, float("nan"))
    else:
        ll_full, c = sbg.llf, float("nan")
    test = lr_test_from_loglikelihoods(sbg.llf, ll_full, 1)
    return DurationDependenceTest(test.statistic, 1, test.p_value, sbg.llf, ll_full, c)
