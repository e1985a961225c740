"""Predictions that combine fitted models with a customer summary: the frequency histogram, holdout
tracking by frequency, and discounted CLV per customer with delta-method intervals.

The models' own formulas (E[X(t)], P(alive), E[Y(t) | x, t_x, T], expected spend) are methods of
their results (`crmresearch.models`); this module composes them for the CLV report.

Discounted CLV per customer (as in Fader, Hardie & Lee 2005 JMR, in discrete steps):
CLV_i = margin · E[M_i] · Σ_{k=1}^{K} (E[Y_i(kΔ)] - E[Y_i((k-1)Δ)]) / (1+d)^k, with Δ the step,
K = horizon/Δ and d the discount rate per step. Uncertainty by the delta method on the
log-parameters of both fits (taken as independent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .. import config
from ..datasets import day_number
from ..models.base import collapse_rows
from ..models.bgnbd import BetaGeoNBDResults, bgnbd_pmf
from ..models.purchases import PurchaseResults
from . import rfm


def frequency_histogram(fit, summary: pd.DataFrame, max_count: int = 7) -> pd.DataFrame:
    """Customers by repeat purchases in calibration (0..max_count-1, max_count+): actual and expected.

    Expected counts sum P(X(T_i) = x) over customers (FHL 2005, figure 1); BG/NBD only. `summary`
    may be collapsed rows with their `customers` counts (`clv.at_scale`).
    """
    if not isinstance(fit, BetaGeoNBDResults):
        raise ValueError("the frequency histogram is implemented for the BG/NBD")
    T_values, counts, actual = histogram_counts(summary, max_count)
    expected = counts @ bgnbd_pmf(fit.theta, T_values, max_count)
    labels = [str(k) for k in range(max_count)] + [f"{max_count}+"]
    return pd.DataFrame({"repeat purchases": labels, "actual": actual, "BG/NBD": expected})


def histogram_counts(summary: pd.DataFrame, max_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct T with their customers, and customers by repeat purchases (0..max_count-1, max_count+),
    of a per-customer summary or of collapsed rows with their `customers` counts."""
    capped = np.minimum(summary["frequency"].to_numpy(), max_count)
    if "customers" not in summary:
        T_values, counts = np.unique(summary["T"].to_numpy(), return_counts=True)
        return T_values, counts, np.bincount(capped, minlength=max_count + 1)
    w = row_weights(summary)
    T_values, inverse = np.unique(summary["T"].to_numpy(), return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=w, minlength=T_values.size)
    actual = np.rint(np.bincount(capped, weights=w, minlength=max_count + 1)).astype(np.int64)
    return T_values, counts, actual


def row_weights(summary: pd.DataFrame) -> np.ndarray:
    """Customers per row: the `customers` column of collapsed rows (`clv.at_scale`), else one per row."""
    if "customers" in summary:
        return summary["customers"].to_numpy(np.float64)
    return np.ones(len(summary))


# ------------------------------------------------------------------ cohort tracking

def conditional_expectation_by_frequency(summary: pd.DataFrame, fits: list, holdout: float,
                                         max_frequency: int = 7) -> pd.DataFrame:
    """Mean holdout transactions, actual vs each model, by calibration frequency (capped at `max_frequency`+).

    Reproduces Fader, Hardie & Lee (2005, figure 4).
    """
    x = summary["frequency"].to_numpy()
    group = np.minimum(x, max_frequency)
    if "customers" in summary:          # collapsed rows: customer-weighted means
        w = row_weights(summary)
        out = pd.DataFrame({"frequency": group, "customers": w, "actual": summary["frequency_holdout"].to_numpy(float)})
        for fit in fits:
            out[fit.name] = w * fit.expected_purchases(t=holdout, frequency=x, recency=summary["recency"], T=summary["T"])
        sums = out.groupby("frequency").sum()
        table = pd.DataFrame({"customers": sums["customers"].round().astype(np.int64)}, index=sums.index)
        for column in ["actual", *[f.name for f in fits]]:
            table[column] = sums[column] / sums["customers"]
        table = table.reset_index()
        table["frequency"] = [f"{v}+" if v == max_frequency else str(v) for v in table["frequency"]]
        return table
    out = pd.DataFrame({"frequency": group, "actual": summary["frequency_holdout"].to_numpy()})
    for fit in fits:
        out[fit.name] = fit.expected_purchases(t=holdout, frequency=x, recency=summary["recency"], T=summary["T"])
    table = out.groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                         **{f.name: (f.name, "mean") for f in fits}).reset_index()
    table["frequency"] = [f"{v}+" if v == max_frequency else str(v) for v in table["frequency"]]
    return table


# ------------------------------------------------------------------ discounted CLV

def log_jacobian(func, theta, epsilon: float) -> np.ndarray:
    """Central-difference Jacobian of `func(theta)` with respect to log θ (the scale of the fits'
    covariance `log_cov`), one column per parameter."""
    cols = []
    for j in range(theta.size):
        up, down = np.log(theta).copy(), np.log(theta).copy()
        up[j] += epsilon
        down[j] -= epsilon
        cols.append((func(np.exp(up)) - func(np.exp(down))) / (2 * epsilon))
    return np.column_stack(cols)


def customer_lifetime_value(purchase_fit, spend_fit, summary: pd.DataFrame, horizon: float, step: float,
                            annual_discount_rate: float, periods_per_year: float = 52.0, margin: float = 1.0,
                            confidence: float = config.CONFIDENCE, epsilon: float = 1e-5) -> tuple[pd.DataFrame, dict]:
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
    rows = collapse_rows(x=x, t_x=summary["recency"].to_numpy(float), T=summary["T"].to_numpy(float))
    ux, ut_x, uT = rows.columns["x"], rows.columns["t_x"], rows.columns["T"]

    def discounted(theta):
        return purchase_fit.with_params(theta).discounted_purchases(frequency=ux, recency=ut_x, T=uT, horizon=horizon,
                                                                    step=step, discount_per_step=d)

    base_theta = purchase_fit.theta
    dert_unique = discounted(base_theta)
    dert = dert_unique[rows.inverse]
    spend = spend_fit.expected_spend(frequency=x, monetary_value=m)
    clv = margin * spend * dert

    jac_purchase = margin * spend[:, None] * log_jacobian(discounted, base_theta, epsilon)[rows.inverse]
    jac_spend = margin * dert[:, None] * log_jacobian(
        lambda th: spend_fit.with_params(th).expected_spend(frequency=x, monetary_value=m), spend_fit.theta, epsilon)
    variance = (np.einsum("ij,jk,ik->i", jac_purchase, purchase_fit.log_cov, jac_purchase)
                + np.einsum("ij,jk,ik->i", jac_spend, spend_fit.log_cov, jac_spend))
    z = special.ndtri(0.5 + confidence / 2)
    se = np.sqrt(variance)
    table = pd.DataFrame({
        "p_alive": purchase_fit.probability_alive(frequency=ux, recency=ut_x, T=uT)[rows.inverse],
        "expected_transactions": purchase_fit.expected_purchases(t=horizon, frequency=ux, recency=ut_x,
                                                                  T=uT)[rows.inverse],
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


def spend_frequency_correlation(frequency, monetary_value, confidence: float = config.CONFIDENCE) -> dict:
    """Pearson correlation of repeat purchases and average spend among repeat buyers, with a Fisher-z interval.

    Gamma-Gamma assumes spend per purchase is independent of the purchase process; Fader,
    Hardie & Lee (2005, JMR) check it this way on CDNOW (r = 0.11) and call it weak enough.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    keep = (x > 0) & np.isfinite(m)
    return correlation_interval(float(np.corrcoef(x[keep], m[keep])[0, 1]), int(keep.sum()), confidence)


def correlation_interval(r: float, n: int, confidence: float = config.CONFIDENCE) -> dict:
    """A correlation of n pairs with its Fisher-z interval (`spend_frequency_correlation`'s record)."""
    r = float(r)
    z = special.ndtri(0.5 + confidence / 2)
    half = z / np.sqrt(n - 3)
    return {"n": n, "correlation": r, "lower": float(np.tanh(np.arctanh(r) - half)),
            "upper": float(np.tanh(np.arctanh(r) + half))}


# ------------------------------------------------------------------ tracking and holdout checks

def tracking_table(log: pd.DataFrame, summary: pd.DataFrame, fits, cohort_start, holdout_end,
                   actual: pd.DataFrame | None = None, trial=None) -> pd.DataFrame:
    """Weekly actual vs expected repeat transactions of the calibration cohort (FHL 2005, figure 2).

    The count at the end of week k includes days up to cohort_start + 7k - 1, so the model's
    clock for a customer who tried on day d is (7k - 1 - d)/7 weeks, matching T; a last, partial
    week ends at `holdout_end`, as the actual count does. `actual`: the weekly counts
    (period, incremental, cumulative) when already computed (by the engine), else from `log`.
    `trial`: each row's trial time when `summary` is collapsed rows with their `customers` counts.
    """
    if actual is None:
        actual = rfm.repeat_transactions_by_period(log, cohort_start, holdout_end, customers=summary.index)
    weights = None
    if trial is None:
        trial = rfm.first_purchase_periods(summary, cohort_start)
    else:
        weights = row_weights(summary)
    last_day = (day_number(holdout_end) - day_number(cohort_start)) / 7
    period_ends = np.minimum((7 * actual["period"].to_numpy() - 1) / 7, last_day)
    out = pd.DataFrame({"period": actual["period"], "actual cumulative": actual["cumulative"],
                        "actual incremental": actual["incremental"]})
    for name, fit in fits.items():
        if isinstance(fit, PurchaseResults):
            cumulative = fit.expected_cumulative_repeat(trial, period_ends, weights)
            out[f"{name} cumulative"] = cumulative
            out[f"{name} incremental"] = np.diff(np.concatenate([[0.0], cumulative]))
    return out


def tracking_errors(tracking: pd.DataFrame, calibration_weeks: float, window_weeks: float | None = None) -> pd.DataFrame:
    """Forecast vs actual cumulative repeat transactions at the end, and the holdout-period error figures."""
    rows = []
    holdout = tracking["period"] > calibration_weeks
    end = tracking.iloc[-1]
    weeks = float(end["period"]) if window_weeks is None else float(window_weeks)
    for name in [c.removesuffix(" cumulative") for c in tracking if c.endswith(" cumulative") and c != "actual cumulative"]:
        cum_err = tracking.loc[holdout, f"{name} cumulative"] - tracking.loc[holdout, "actual cumulative"]
        inc_err = tracking.loc[holdout, f"{name} incremental"] - tracking.loc[holdout, "actual incremental"]
        actual_end = float(end["actual cumulative"])
        with np.errstate(divide="ignore", invalid="ignore"):
            mape = np.abs(cum_err) / tracking.loc[holdout, "actual cumulative"]
        mape = mape[np.isfinite(mape)]
        rows.append({"model": name, "weeks": weeks, "actual": actual_end,
                     "forecast": float(end[f"{name} cumulative"]),
                     "error (%)": float(100 * (end[f"{name} cumulative"] / actual_end - 1)) if actual_end else None,
                     "holdout MAPE, cumulative (%)": float(100 * np.mean(mape)) if mape.size else None,
                     "holdout MAE, weekly": float(np.mean(np.abs(inc_err)))})
    return pd.DataFrame(rows)


def holdout_check(summary: pd.DataFrame, fits, horizon: float | None = None) -> pd.DataFrame:
    """Per-customer holdout predictions: totals, correlation and RMSE against the actual counts."""
    if "customers" in summary:
        return _collapsed_holdout_check(summary, fits, horizon)
    horizon = float(summary["duration_holdout"].iloc[0])
    actual = summary["frequency_holdout"].to_numpy()
    rows = []
    for name, fit in fits.items():
        if not isinstance(fit, PurchaseResults):
            continue
        predicted = fit.expected_purchases(summary, t=horizon)
        corr = float(np.corrcoef(predicted, actual)[0, 1]) if np.std(actual) > 0 and np.std(predicted) > 0 else None
        rows.append({"model": name, "actual total": float(actual.sum()), "predicted total": float(predicted.sum()),
                     "correlation": corr, "RMSE": float(np.sqrt(np.mean((predicted - actual) ** 2)))})
    return pd.DataFrame(rows)


def _collapsed_holdout_check(rows: pd.DataFrame, fits, horizon: float) -> pd.DataFrame:
    """`holdout_check` on collapsed rows: a row's customers share one prediction p, so the sums over
    customers are Σ n·p, Σ S (S: the row's holdout purchases), Σ p·S and Σ Q (Q: their squares)."""
    n = rows["customers"].to_numpy(float)
    S, Q = rows["frequency_holdout"].to_numpy(float), rows["holdout_squares"].to_numpy(float)
    N = n.sum()
    mean_a = S.sum() / N
    var_a = Q.sum() / N - mean_a ** 2
    out = []
    for name, fit in fits.items():
        if not isinstance(fit, PurchaseResults):
            continue
        p = fit.expected_purchases(rows, t=horizon)
        mean_p = (n @ p) / N
        var_p = (n @ (p - mean_p) ** 2) / N
        cov = (p - mean_p) @ (S - n * mean_a) / N
        corr = float(cov / np.sqrt(var_p * var_a)) if var_a > 0 and var_p > 0 else None
        sq = n @ p ** 2 - 2 * (p @ S) + Q.sum()
        out.append({"model": name, "actual total": float(S.sum()), "predicted total": float(n @ p),
                    "correlation": corr, "RMSE": float(np.sqrt(max(sq, 0.0) / N))})
    return pd.DataFrame(out)


def spend_check(summary: pd.DataFrame, spend_fit, max_frequency: int = 7) -> pd.DataFrame:
    """Expected spend per purchase (Gamma-Gamma, from calibration) against the actual holdout average,
    for customers who bought in the holdout period, by calibration frequency."""
    bought = summary["frequency_holdout"] > 0
    frame = summary.loc[bought]
    expected = spend_fit.expected_spend(frame)
    group = np.minimum(frame["frequency"].to_numpy(), max_frequency)
    table = (pd.DataFrame({"frequency": group, "actual": frame["monetary_holdout"].to_numpy(), "expected": expected})
             .groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                       expected=("expected", "mean")).reset_index())
    table["frequency"] = [f"{v}+" if v == max_frequency else str(v) for v in table["frequency"]]
    total = pd.DataFrame([{"frequency": "all", "customers": int(bought.sum()),
                           "actual": float(frame["monetary_holdout"].mean()), "expected": float(expected.mean())}])
    return pd.concat([table, total], ignore_index=True)
