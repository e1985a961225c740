"""Shifted-beta-geometric (sBG) and beta-discrete-Weibull (BdW) retention models on statsmodels.

A contractual customer renews at discrete times 1, 2, ... or leaves, and the firm sees the
leaving. Each customer has a churn probability θ ~ Beta(α, β); in the BdW model the chance of
surviving t renewals given θ is (1 - θ)^(t^c), so c < 1 means churn falls with tenure for every
customer (duration dependence) and c > 1 that it rises; the sBG is the special case c = 1:

    S(t) = B(α, β + t^c) / B(α, β),      P(T = t) = S(t - 1) - S(t),   t = 1, 2, ...

* sBG: Fader & Hardie (2007), "How to project customer retention", Journal of Interactive
  Marketing 21(1). Their survivor tables (1,000 customers per cohort, years 0-7) give regular
  α = 0.704, β = 1.182, LL = -1680.27 and high end α = 0.668, β = 3.806, LL = -1611.16.
* BdW: Fader, Hardie, Liu, Davin & Steenburgh (2018), "How to project customer retention
  revisited: the role of duration dependence", Journal of Interactive Marketing 43.

The data are *duration rows*: (t, churned, count): `count` customers who left at renewal t
(churned = 1) or were still customers after t renewals when observation stopped (churned = 0,
censored). A survivor table of one cohort, several cohorts with different lengths and a
subscriber log all reduce to such rows (`rows_from_survivors`, `rows_from_durations`).

The models are `GenericLikelihoodModel`s on the logarithms of the parameters with an analytic
score (the machinery of `crmresearch.clv.models`). `fit_sbg` and `fit_bdw` return a
`FittedModel` (estimates, delta-method SEs, log-parameter covariance, statsmodels results) or,
when the fit does not converge, a `FailedFit` saying what failed and what was tried: they never
raise for a fit that fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from ..clv.models import FailedFit, FittedModel, _LogParameterModel, collapse_rows, fit_multistart

PUBLISHED_FADER_HARDIE_2007 = {
    "survivors": {
        "regular": [1000, 631, 468, 382, 326, 289, 262, 241],
        "high end": [1000, 869, 743, 653, 593, 551, 517, 491],
    },
    "estimates": {
        "regular": {"alpha": 0.704, "beta": 1.182, "loglike": -1680.27},
        "high end": {"alpha": 0.668, "beta": 3.806, "loglike": -1611.16},
    },
    "source": "Fader & Hardie (2007), 'How to project customer retention', J. Interactive Marketing 21(1), table 1",
}


def converged(fit) -> bool:
    return isinstance(fit, FittedModel)


# ------------------------------------------------------------------ data rows

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


def rows_from_durations(periods, churned) -> pd.DataFrame:
    """Duration rows from one value per customer: renewals survived (censored) or the renewal at which
    the customer left (churned), collapsed to counts."""
    t = np.asarray(periods, dtype=float)
    c = np.asarray(churned, dtype=float)
    frame = pd.DataFrame({"t": t, "churned": c})
    return frame.groupby(["t", "churned"], sort=True).size().rename("count").reset_index().astype(float)


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


# ------------------------------------------------------------------ likelihoods

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


class BetaDiscreteWeibull(_LogParameterModel):
    """BdW likelihood for duration rows (t, churned) with counts; natural parameters (α, β, c)."""

    natural_names = ("alpha", "beta", "c")

    def __init__(self, t, churned, counts=None, **kwds):
        t = np.asarray(t, dtype=float)
        churned = np.asarray(churned, dtype=float)
        if counts is None:
            rows = collapse_rows(t=t, churned=churned)
        else:
            counts = np.asarray(counts, dtype=float)
            keep = counts > 0
            base = collapse_rows(t=t[keep], churned=churned[keep])
            weights = np.bincount(base.inverse, weights=counts[keep], minlength=base.weights.size)
            rows = type(base)(base.columns, weights, base.inverse)
        if np.any(rows.columns["t"][rows.columns["churned"] == 1] < 1) or np.any(rows.columns["t"] < 0):
            raise ValueError("churn times must be renewals 1, 2, ... and censoring times at least 0")
        super().__init__(rows, **kwds)
        self.t, self.churned = rows.columns["t"], rows.columns["churned"] == 1

    def _c(self, theta):
        return theta[2]

    def default_start(self):
        n = self.weights.sum()
        churn = self.weights[self.churned].sum()
        exposure = _dot_w(self.weights, np.where(self.churned, self.t, self.t))
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

        ls_t, g_t = log_s_and_grad(t)
        ls_prev, g_prev = log_s_and_grad(np.maximum(t - 1, 0))
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
        return float(_dot_w(w, ll)), (w @ grad)[: len(self.natural_names)]


class ShiftedBetaGeometric(BetaDiscreteWeibull):
    """sBG likelihood (Fader & Hardie 2007): the BdW with c = 1; natural parameters (α, β)."""

    natural_names = ("alpha", "beta")

    def _c(self, theta):
        return 1.0


def _dot_w(weights, values) -> float:
    return float(np.einsum("i,i->", weights, np.asarray(values, dtype=float)))


def _fit(model_cls, name, rows: pd.DataFrame, start_params=None):
    """The model fitted from `start_params` or from several deterministic starts (`clv.models.fit_multistart`);
    data that cannot identify churn give a `FailedFit` without trying."""
    rows = pd.DataFrame(rows)
    n = int(rows["count"].sum()) if len(rows) else 0
    try:
        model = model_cls(rows["t"].to_numpy(), rows["churned"].to_numpy(), rows["count"].to_numpy())
    except ValueError as exc:
        return FailedFit(name, str(exc), [], n)
    if model.weights[model.churned].sum() == 0:
        return FailedFit(name, "no customer left during the observation, so churn is not identified", [], n)
    if model.weights[~model.churned].sum() == 0 and model.t.max() <= 1:
        return FailedFit(name, "every customer left at the first renewal, so heterogeneity is not identified", [], n)
    return fit_multistart(model, name, start_params)


def fit_sbg(rows: pd.DataFrame, start_params=None):
    """Fit the sBG by maximum likelihood on duration rows (t, churned, count); `FittedModel` or `FailedFit`."""
    return _fit(ShiftedBetaGeometric, "sBG", rows, start_params)


def fit_bdw(rows: pd.DataFrame, start_params=None):
    """Fit the BdW by maximum likelihood; started from the sBG fit with c = 1 unless given."""
    if start_params is None:
        sbg = fit_sbg(rows)
        start_params = np.r_[sbg.theta, 1.0] if converged(sbg) else None
    return _fit(BetaDiscreteWeibull, "BdW", rows, start_params)


# ------------------------------------------------------------------ tests and tables

@dataclass
class LikelihoodRatioTest:
    statistic: float
    df: int
    p_value: float
    loglike_restricted: float
    loglike_full: float
    c: float

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.p_value,
                "loglike_sbg": self.loglike_restricted, "loglike_bdw": self.loglike_full, "c": self.c}


def lr_test(sbg: FittedModel, bdw, rows: pd.DataFrame | None = None) -> LikelihoodRatioTest:
    """Likelihood-ratio test of the sBG (c = 1) within the BdW, χ² with 1 df.

    The BdW contains the sBG, so its maximum is at least the sBG's. When the BdW fit failed because
    its maximum lies on the boundary (α, β → ∞: a discrete Weibull without heterogeneity), the
    supremum it approaches is found by BFGS on `rows` and used; without rows the statistic is 0.
    """
    if converged(bdw):
        ll_full, c = max(bdw.loglike, sbg.loglike), float(bdw.params["c"])
    elif rows is not None:
        from .value import quick_mle

        model = BetaDiscreteWeibull(rows["t"].to_numpy(), rows["churned"].to_numpy(), rows["count"].to_numpy())
        theta, _ = quick_mle(model, np.r_[sbg.theta, 1.0])
        ll = model.loglike(np.log(theta))
        ll_full, c = (max(ll, sbg.loglike), float(theta[2])) if np.isfinite(ll) else (sbg.loglike, float("nan"))
    else:
        ll_full, c = sbg.loglike, float("nan")
    stat = max(2 * (ll_full - sbg.loglike), 0.0)
    return LikelihoodRatioTest(float(stat), 1, float(sps.chi2.sf(stat, 1)), sbg.loglike, ll_full, c)


def parameter_table(fit: FittedModel, confidence: float, published: dict | None = None) -> pd.DataFrame:
    """Estimates, standard errors and intervals at `confidence` (log-scale Wald, back-transformed)."""
    from .. import stats

    z = stats.z_value(confidence)
    log_se = np.sqrt(np.diag(fit.log_cov))
    est = fit.params.to_numpy()
    out = pd.DataFrame({"parameter": fit.params.index, "estimate": est, "std_error": fit.bse.to_numpy(),
                        "ci_lower": est * np.exp(-z * log_se), "ci_upper": est * np.exp(z * log_se)})
    if published:
        out["published"] = [published.get(n, np.nan) for n in fit.params.index]
    return out
