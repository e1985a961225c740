"""Contractual customer value: DERL and residual lifetime value, by tier; a retention programme's
effect; projections and values with parametric and bootstrap intervals.

* DERL, the discounted expected residual lifetime of a customer who has made n - 1 renewals
  (Fader & Hardie 2010, "Customer-base valuation in a contractual setting: the perils of ignoring
  heterogeneity", Marketing Science 29(1), eq. 6):

      DERL(d | α, β, n - 1) = (β + n - 1)/(α + β + n - 1) · ₂F₁(1, β + n; α + β + n; 1/(1 + d)),

  i.e. Σ_{k≥1} S(n-1+k)/S(n-1) · (1+d)^-(k-1): the next renewal's payment counted at face value,
  each later one discounted one more period. For the BdW the same sum is evaluated numerically.
  A customer's residual lifetime value is the payment per period times DERL; a customer base's
  value is that sum over its active customers. Ignoring heterogeneity (one churn rate for all)
  undervalues the base, because the customers still here are the ones who rarely leave.
* A retention programme in one tier lowers its customers' mean churn probability α/(α+β) by a
  stated share, keeping α (Fader & Hardie's polarisation changes little); its effect on DERL and
  on the tier's value is compared with its cost and with acquiring customers worth as much.
* Intervals: parametric (Krinsky & Robb 1986: draws of the log-parameters from their asymptotic
  normal distribution; percentile interval of the statistic) and a customer bootstrap (Efron &
  Tibshirani 1993): customers resampled with replacement, vectorised as multinomial counts on the
  collapsed duration rows, the model re-fitted on each resample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from ..models.base import IntervalResult, percentile_interval, quick_mle
from ..models.retention import derl, derl_series, retention_rates, survival


# ------------------------------------------------------------------ values

def expected_lifetime_value_new(theta, payment: float, discount_rate: float) -> float:
    """Discounted expected lifetime payments of a customer just acquired (first payment now): m · (1 + DERL(0)/(1+d))."""
    return float(payment * (1 + np.asarray(derl(theta, [0], discount_rate)).ravel()[0] / (1 + discount_rate)))


# ------------------------------------------------------------------ tiers and the programme

def base_by_tenure(renewals, revenue, tier) -> pd.DataFrame:
    """Active customers collapsed to (tier, renewals) with their count and total revenue per period."""
    frame = pd.DataFrame({"tier": np.asarray(tier), "renewals": np.asarray(renewals, dtype=float),
                          "revenue": np.asarray(revenue, dtype=float)})
    return (frame.groupby(["tier", "renewals"], sort=True)
            .agg(customers=("revenue", "size"), revenue=("revenue", "sum")).reset_index())


def tier_values(fits: dict, base: pd.DataFrame, discount_rate: float) -> pd.DataFrame:
    """Per tier: active customers, revenue per period, mean DERL, residual value and its share.

    `fits` maps tier -> fitted θ (array); `base` comes from `base_by_tenure`.
    """
    rows = []
    for tier, part in base.groupby("tier", sort=False):
        theta = np.asarray(fits[tier], dtype=float)
        d = np.asarray(derl(theta, part["renewals"].to_numpy(), discount_rate)).ravel()
        value = float((part["revenue"].to_numpy() * d).sum())
        customers = int(part["customers"].sum())
        rows.append({"tier": tier, "customers": customers, "revenue_per_period": float(part["revenue"].sum()),
                     "mean_churn": float(theta[0] / (theta[0] + theta[1])),
                     "mean_derl": float((part["customers"].to_numpy() * d).sum() / customers),
                     "residual_value": value, "value_per_customer": value / customers})
    out = pd.DataFrame(rows)
    out["customer_share"] = out["customers"] / out["customers"].sum()
    out["revenue_share"] = out["revenue_per_period"] / out["revenue_per_period"].sum()
    out["value_share"] = out["residual_value"] / out["residual_value"].sum()
    return out


def beta_for_churn_reduction(theta, reduction: float) -> float:
    """β' with α fixed such that the mean churn α/(α+β') is (1 - reduction) times α/(α+β)."""
    alpha, beta = float(theta[0]), float(theta[1])
    return (alpha + beta) / (1 - reduction) - alpha


@dataclass
class ProgrammeEffect:
    tier: str
    churn_reduction: float
    beta_before: float
    beta_after: float
    mean_churn_before: float
    mean_churn_after: float
    customers: int
    value_before: float
    value_after: float
    cost_per_customer: float
    acquisition_cost: float
    value_new_customer: float
    value_new_customer_after: float

    @property
    def gain(self) -> float:
        return self.value_after - self.value_before

    @property
    def cost(self) -> float:
        return self.cost_per_customer * self.customers

    @property
    def new_customers_equivalent(self) -> float:
        """New customers whose net value (lifetime value minus acquisition cost) equals the gain."""
        net = self.value_new_customer - self.acquisition_cost
        return self.gain / net if net > 0 else float("nan")

    def as_dict(self) -> dict:
        return {"tier": self.tier, "churn_reduction": self.churn_reduction, "beta_before": self.beta_before,
                "beta_after": self.beta_after, "mean_churn_before": self.mean_churn_before,
                "mean_churn_after": self.mean_churn_after, "customers": self.customers,
                "value_before": self.value_before, "value_after": self.value_after, "gain": self.gain,
                "gain_per_customer": self.gain / self.customers if self.customers else float("nan"),
                "programme_cost": self.cost, "net_gain": self.gain - self.cost,
                "value_new_customer": self.value_new_customer, "value_new_customer_after": self.value_new_customer_after,
                "acquisition_cost": self.acquisition_cost,
                "new_customers_equivalent": self.new_customers_equivalent,
                "acquisition_spend_equivalent": self.new_customers_equivalent * self.acquisition_cost}


def programme_effect(theta, base: pd.DataFrame, tier: str, churn_reduction: float, discount_rate: float,
                     cost_per_customer: float, acquisition_cost: float) -> ProgrammeEffect:
    """Effect on one tier's residual value of lowering its mean churn by `churn_reduction` (share)."""
    theta = np.asarray(theta, dtype=float)
    part = base[base["tier"] == tier]
    after = theta.copy()
    after[1] = beta_for_churn_reduction(theta, churn_reduction)
    renewals, revenue = part["renewals"].to_numpy(), part["revenue"].to_numpy()
    before_value = float((revenue * np.ravel(derl(theta, renewals, discount_rate))).sum())
    after_value = float((revenue * np.ravel(derl(after, renewals, discount_rate))).sum())
    customers = int(part["customers"].sum())
    payment = float(revenue.sum() / customers) if customers else 0.0
    return ProgrammeEffect(tier, churn_reduction, float(theta[1]), float(after[1]),
                           float(theta[0] / (theta[0] + theta[1])), float(after[0] / (after[0] + after[1])), customers,
                           before_value, after_value, cost_per_customer, acquisition_cost,
                           expected_lifetime_value_new(theta, payment, discount_rate),
                           expected_lifetime_value_new(after, payment, discount_rate))


# ------------------------------------------------------------------ projections

def projection_table(theta, periods: int, observed: pd.DataFrame | None = None) -> pd.DataFrame:
    """t, projected survival S(t), retention r_t and the mean churn of the survivors at t: the chance that a
    customer still there leaves at the next renewal, 1 − r_(t+1). Under the sBG that is E[θ | alive after t]
    (`mean_churn_among_survivors`); under the BdW it also holds each customer's own change of churn with tenure."""

    t = np.arange(periods + 1, dtype=float)
    out = pd.DataFrame({"t": t.astype(int), "survival": survival(theta, t)})
    out["retention"] = np.r_[np.nan, retention_rates(theta, t[1:])]
    out["mean_churn_survivors"] = 1 - retention_rates(theta, t + 1)
    if observed is not None:
        out = out.merge(observed, on="t", how="left")
    return out


# ------------------------------------------------------------------ intervals

def parametric_interval(fit, statistic, confidence: float, draws: int, rng: np.random.Generator) -> IntervalResult:
    """Percentile interval of `statistic(theta_draws)` (vectorised: (k, p) -> (k, ...)) over draws of the
    log-parameters from N(log θ̂, Σ̂) (Krinsky & Robb 1986)."""
    thetas = fit.draw_parameters(draws, rng)
    values = np.asarray(statistic(thetas), dtype=float)
    lower, upper = percentile_interval(values, confidence)
    estimate = np.asarray(statistic(fit.theta[None, :]), dtype=float)[0]
    return IntervalResult("parametric", confidence, estimate, lower, upper, draws, 0)


def bootstrap_interval(fit, rows: pd.DataFrame, statistic, confidence: float, draws: int,
                       rng: np.random.Generator) -> IntervalResult:
    """Customer bootstrap: resample the customers (multinomial counts on the collapsed duration rows),
    re-fit, and take the percentile interval of `statistic` over the re-fits that converged."""
    counts = rows["count"].to_numpy(dtype=float)
    n = int(counts.sum())
    resampled = rng.multinomial(n, counts / n, size=draws)
    likelihood = type(fit.sm_results.model)
    t, churned = rows["t"].to_numpy(), rows["churned"].to_numpy()
    thetas, ok = [], []
    for sample in resampled:                       # one re-fit per bootstrap sample (not per customer)
        model = likelihood(t, churned, weights=sample)
        theta, good = (quick_mle(model, fit.theta) if model.weights[model.churned].sum() > 0
                       else (np.full(fit.theta.size, np.nan), False))
        thetas.append(theta)
        ok.append(good)
    thetas = np.array(thetas)[np.array(ok)]
    values = np.asarray(statistic(thetas), dtype=float) if len(thetas) else np.full((1,), np.nan)
    lower, upper = percentile_interval(values, confidence)
    estimate = np.asarray(statistic(fit.theta[None, :]), dtype=float)[0]
    return IntervalResult("bootstrap", confidence, estimate, lower, upper, draws, int(draws - len(thetas)))


def survival_statistic(t):
    """Vectorised statistic: S(t) for each parameter draw (rows of θ)."""
    t = np.asarray(t, dtype=float)

    def stat(thetas):
        thetas = np.atleast_2d(thetas)
        c = thetas[:, 2:3] if thetas.shape[1] > 2 else 1.0
        a, b = thetas[:, 0:1], thetas[:, 1:2]
        with np.errstate(over="ignore"):
            return np.exp(special.betaln(a, b + np.power(t[None, :], c)) - special.betaln(a, b))
    return stat


def retention_statistic(t):
    t = np.asarray(t, dtype=float)
    surv = survival_statistic(np.r_[t - 1, t])

    def stat(thetas):
        s = surv(thetas)
        return s[:, t.size:] / s[:, : t.size]
    return stat


def value_statistic(part: pd.DataFrame, discount_rate: float):
    """Vectorised statistic: a tier's residual value Σ revenue · DERL for each parameter draw."""
    renewals, revenue = part["renewals"].to_numpy(), part["revenue"].to_numpy()

    def stat(thetas):
        thetas = np.atleast_2d(thetas)
        d = derl(thetas, renewals, discount_rate) if thetas.shape[1] == 2 else derl_series(thetas, renewals, discount_rate)
        return (np.atleast_2d(d) * revenue[None, :]).sum(axis=1)
    return stat
