"""Every fit and computation of the contractual report, in one call: `analyse(params)`.

The report's data are loaded through `contractual.data`, every model is fitted through
`crmresearch.models`, and the results (fits, projections, tests, simulation checks, values, the
BG/BB on the donations data) are returned in one `ContractualAnalysis`. `contractual.sections`
turns it into the report's sections and fits nothing; `contractual.text` writes the sentences.
All random draws come from one generator seeded by `params.seed`, in a fixed order, so a second
run gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import stats
from ..models import bgbb
from ..models.bgbb import PUBLISHED_DONATIONS, BetaGeoBetaBinomial
from ..models.retention import (BetaDiscreteWeibull, ShiftedBetaGeometric, duration_dependence_test, survival,
                                survivors_from_rows)
from . import simulate, value
from .data import ReportData, Segments, load_data, load_donations


def converged_fits(fits: dict) -> dict:
    """The fits that converged, by segment."""
    return {k: f for k, f in fits.items() if f.converged}


def most_churn(good: dict):
    """The segment with the highest mean churn: its simulated cohorts carry the most information per customer."""
    return max(good.items(), key=lambda kv: kv[1].theta[0] / kv[1].theta.sum())


# ------------------------------------------------------------------ fits

def fit_segments(segments: Segments) -> dict:
    """sBG per segment: name -> FittedModel or FailedFit."""
    return {name: ShiftedBetaGeometric().fit(rows) for name, rows in segments.rows.items()}


def fit_bdw_segments(segments: Segments, sbg_fits: dict) -> dict:
    """BdW per segment, started from the segment's sBG with c = 1."""
    return {name: BetaDiscreteWeibull(np.r_[sbg_fits[name].theta, 1.0] if sbg_fits[name].converged else None).fit(rows)
            for name, rows in segments.rows.items()}


# ------------------------------------------------------------------ projection

def projection(segments: Segments, fits: dict, params, rng: np.random.Generator) -> pd.DataFrame | None:
    """Observed and projected survival and retention with parametric intervals, and the mean churn
    probability among survivors, per segment (None when no sBG fitted)."""
    frames = []
    for name, fit in converged_fits(fits).items():
        observed = survivors_from_rows(segments.rows[name])
        horizon = int(observed["t"].max()) + params.projection_periods
        t = np.arange(horizon + 1)
        proj = value.projection_table(fit.theta, horizon)
        surv_iv = value.parametric_interval(fit, value.survival_statistic(t), params.confidence,
                                            params.parameter_draws, rng)
        ret_iv = value.parametric_interval(fit, value.retention_statistic(t[1:]), params.confidence,
                                           params.parameter_draws, rng)
        proj["survival_lower"], proj["survival_upper"] = surv_iv.lower, surv_iv.upper
        proj["retention_lower"] = np.r_[np.nan, ret_iv.lower]
        proj["retention_upper"] = np.r_[np.nan, ret_iv.upper]
        at_risk = observed["at_risk"].to_numpy()
        # observed survival (Kaplan-Meier with the renewal grid) and observed retention r_t
        retained = 1 - observed["churned"].to_numpy()[1:] / np.where(at_risk[1:] > 0, at_risk[1:], np.nan)
        km = np.r_[1.0, np.cumprod(retained)]
        proj["observed_survival"] = np.r_[km, np.full(horizon + 1 - km.size, np.nan)]
        proj["observed_retention"] = np.r_[np.nan, retained, np.full(horizon + 1 - km.size, np.nan)]
        proj["observed"] = proj["t"] <= observed["t"].max()
        proj.insert(0, "segment", name)
        frames.append(proj)
    return pd.concat(frames, ignore_index=True) if frames else None


def sorting_summary(projection: pd.DataFrame) -> pd.DataFrame:
    """Retention and mean churn of the survivors at the first renewal, the last observed one and the
    end of the projection, per segment."""
    rows = []
    for name, part in projection.groupby("segment", sort=False):
        last_obs = int(part.loc[part["observed"], "t"].max())
        for label, t in (("first renewal", 1), ("last observed", last_obs), ("end of projection", int(part["t"].max()))):
            r = part[part["t"] == t].iloc[0]
            rows.append({"segment": name, "point": label, "t": t, "survival": r["survival"], "retention": r["retention"],
                         "retention_lower": r["retention_lower"], "retention_upper": r["retention_upper"],
                         "observed_retention": r["observed_retention"],
                         "mean_churn_survivors": part[part["t"] == t - 1]["mean_churn_survivors"].iloc[0]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ duration dependence

def duration_tests(segments: Segments, fits: dict, bdw_fits: dict) -> pd.DataFrame | None:
    """The BdW's c and the likelihood-ratio test of c = 1 per segment with a fitted sBG."""
    rows = []
    for name, fit in converged_fits(fits).items():
        bdw = bdw_fits[name]
        test = duration_dependence_test(fit, bdw, segments.rows[name])
        row = {"segment": name, **test.as_dict()}
        if bdw.converged:
            row.update({"alpha_bdw": bdw.params["alpha"], "beta_bdw": bdw.params["beta"], "c_se": bdw.bse["c"]})
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def lr_test_size(fits: dict, params, rng: np.random.Generator) -> dict | None:
    """Size of the LR test: cohorts simulated under the sBG of the segment with the most churn."""
    good = converged_fits(fits)
    if not good:
        return None
    name, fit = most_churn(good)
    size = simulate.lr_test_size(fit.theta, 1000, 7, params.size_check_cohorts, rng)
    size["null_segment"] = name
    size["null_alpha"], size["null_beta"] = float(fit.theta[0]), float(fit.theta[1])
    return size


# ------------------------------------------------------------------ intervals and coverage

def survival_intervals(segments: Segments, fits: dict, params, rng: np.random.Generator) -> pd.DataFrame | None:
    """Parametric and bootstrap intervals for the projected survival at the end of the projection."""
    rows = []
    for name, fit in converged_fits(fits).items():
        horizon = int(segments.rows[name]["t"].max()) + params.projection_periods
        stat = value.survival_statistic([horizon])
        for iv in (value.parametric_interval(fit, stat, params.confidence, params.parameter_draws, rng),
                   value.bootstrap_interval(fit, segments.rows[name], stat, params.confidence, params.bootstrap_resamples, rng)):
            rows.append({"segment": name, "quantity": f"S({horizon})", "method": iv.method, "estimate": float(iv.estimate[0]),
                         "lower": float(iv.lower[0]), "upper": float(iv.upper[0]), "draws": iv.draws,
                         "failed_refits": iv.failed})
    return pd.DataFrame(rows) if rows else None


def coverage_check(theta, cohort_size: int, periods: int, horizon: int, replications: int, confidence: float,
                   draws: int, rng: np.random.Generator) -> dict:
    """Share of simulated cohorts whose parametric interval for S(horizon) holds the true S(horizon)."""
    truth = float(survival(np.asarray(theta), [horizon])[0])
    stat = value.survival_statistic([horizon])
    hits, used = 0, 0
    for _ in range(replications):                 # one simulated cohort per replication
        rows = simulate.cohort_rows(theta[0], theta[1], cohort_size, periods, rng)
        fit = ShiftedBetaGeometric(start_params=theta).fit(rows)
        if not fit.converged:
            continue
        iv = value.parametric_interval(fit, stat, confidence, draws, rng)
        hits += int(iv.lower[0] <= truth <= iv.upper[0])
        used += 1
    lo, hi = stats.wilson_interval(hits, used, confidence)
    return {"true_value": truth, "horizon": horizon, "replications": used, "covered": hits,
            "coverage": hits / used if used else float("nan"), "ci_lower": lo, "ci_upper": hi,
            "nominal": confidence, "cohort_size": cohort_size, "periods": periods,
            "alpha": float(theta[0]), "beta": float(theta[1])}


def coverage(fits: dict, params, rng: np.random.Generator) -> dict | None:
    """The coverage check, simulated from the sBG of the segment with the most churn."""
    good = converged_fits(fits)
    if not good:
        return None
    name, fit = most_churn(good)
    result = coverage_check(fit.theta, 1000, 7, 7 + params.projection_periods, params.coverage_replications,
                            params.confidence, 500, rng)
    result["truth_from"] = name
    return result


# ------------------------------------------------------------------ value by tier and the programme

@dataclass
class TierValues:
    table: pd.DataFrame               # per tier: customers, shares, mean churn, DERL, value and its interval
    total: dict                       # the base's residual value with its interval, and ignoring heterogeneity
    concentration: dict | None        # revenue concentration of the subscribers (tiers only)


def homogeneous_value(segments: Segments, good: dict, d: float) -> dict:
    """The base valued as if everyone in a tier had the tier's mean churn (Fader & Hardie 2010's 'perils')."""
    total = 0.0
    for tier, part in segments.base.groupby("tier"):
        if tier not in good:
            continue
        churn = good[tier].theta[0] / good[tier].theta.sum()
        total += float(part["revenue"].sum()) * (1 - churn) * (1 + d) / (churn + d)   # Σ_{k≥1} (1-q)^k (1+d)^-(k-1)
    return {"value_ignoring_heterogeneity": total}


def tier_values(segments: Segments, fits: dict, params, rng: np.random.Generator) -> TierValues | None:
    """DERL and residual value per tier (Fader & Hardie 2010) with parametric intervals, and the
    revenue concentration of the subscribers (None when no fitted tier has active customers)."""
    good = converged_fits(fits)
    base = segments.base[segments.base["tier"].isin(list(good))]
    if base.empty:
        return None
    table = value.tier_values({k: f.theta for k, f in good.items()}, base, params.discount_rate)
    lower, upper = [], []
    draws_total = np.zeros(params.parameter_draws)
    for tier in table["tier"]:
        part = base[base["tier"] == tier]
        thetas = good[tier].draw_parameters(params.parameter_draws, rng)
        values = value.value_statistic(part, params.discount_rate)(thetas)
        draws_total += values
        tail = (1 - params.confidence) / 2 * 100
        lower.append(float(np.percentile(values, tail)))
        upper.append(float(np.percentile(values, 100 - tail)))
    table["value_lower"], table["value_upper"] = lower, upper
    tail = (1 - params.confidence) / 2 * 100
    total = {"residual_value": float(table["residual_value"].sum()), "lower": float(np.percentile(draws_total, tail)),
             "upper": float(np.percentile(draws_total, 100 - tail)), "confidence": params.confidence,
             "discount_rate": params.discount_rate, "active_customers": int(table["customers"].sum())}
    total.update(homogeneous_value(segments, good, params.discount_rate))
    concentration = None
    if segments.revenue is not None:
        concentration = {"top_share": stats.top_share(segments.revenue, 0.2), "gini": stats.gini(segments.revenue),
                         "subscribers": int(segments.revenue.size)}
    return TierValues(table, total, concentration)


@dataclass
class Programme:
    tier: str | None
    effect: dict | None               # `value.ProgrammeEffect.as_dict()`
    derl_curve: pd.DataFrame | None   # DERL by renewals made, before and after
    reason: str | None = None         # why it was not computed


def programme(segments: Segments, fits: dict, params) -> Programme:
    """The effect of a retention programme that lowers one tier's mean churn, against its cost and
    against acquiring new customers worth as much."""
    good = converged_fits(fits)
    base = segments.base[segments.base["tier"].isin(list(good))]
    if base.empty:
        return Programme(None, None, None, "no tier with a fitted sBG has active customers.")
    prog = params.programme
    tier = prog.tier if prog.tier is not None else base.groupby("tier")["customers"].sum().idxmax()
    if tier not in good:
        return Programme(tier, None, None, f"the programme targets '{tier}', which is not a {segments.kind} with a "
                                           f"fitted sBG (have: {', '.join(good)}).")
    effect = value.programme_effect(good[tier].theta, base, tier, prog.churn_reduction, params.discount_rate,
                                    prog.cost_per_customer, prog.acquisition_cost)
    derl_curve = pd.DataFrame({"renewals": np.arange(0, 37)})
    after = good[tier].theta.copy()
    after[1] = effect.beta_after
    derl_curve["derl_before"] = value.derl(good[tier].theta, derl_curve["renewals"], params.discount_rate)
    derl_curve["derl_after"] = value.derl(after, derl_curve["renewals"], params.discount_rate)
    return Programme(tier, effect.as_dict(), derl_curve)


# ------------------------------------------------------------------ BG/BB on the donations data

@dataclass
class Donations:
    fit: object                       # BG/BB results (or a FailedFit)
    frequency: np.ndarray
    recency: np.ndarray
    periods: np.ndarray
    donors: np.ndarray                # donors per (x, t_x, n) pattern
    per_pattern: pd.DataFrame | None = None
    histogram: pd.DataFrame | None = None
    totals: dict | None = None


def donations(params) -> Donations | None:
    """The BG/BB on the shipped donations data, its per-pattern predictions and the histogram of
    repeat donations, actual and expected (None when the parameters turn it off)."""
    if not params.donations:
        return None
    don = load_donations()
    x, t_x, n, w = (don[c].to_numpy(dtype=float) for c in ("frequency", "recency", "periods", "donors"))
    fit = BetaGeoBetaBinomial().fit(frequency=x, recency=t_x, periods=n, weights=w)
    out = Donations(fit, x, t_x, n, w)
    if not fit.converged:
        return out
    out.per_pattern = bgbb.summary_table(fit.theta, x, t_x, n, w, params.bgbb_future_periods, params.discount_rate)
    n_max = int(n.max())
    expected = fit.expected_histogram(periods=n, weights=w)
    actual = np.bincount(x.astype(int), weights=w, minlength=n_max + 1)
    out.histogram = pd.DataFrame({"transactions": np.arange(n_max + 1), "actual": actual, "expected": expected})
    out.totals = {"expected_next": float((out.per_pattern["expected_next"] * w).sum()),
                  "mean_p_alive": float((out.per_pattern["p_alive"] * w).sum() / w.sum()),
                  "future_periods": params.bgbb_future_periods}
    return out


# ------------------------------------------------------------------ the whole report

@dataclass
class ContractualAnalysis:
    """Everything the contractual report shows, computed once."""

    params: object
    data: ReportData
    fits: dict                        # sBG per retention segment
    projection: pd.DataFrame | None
    bdw_fits: dict
    duration_tests: pd.DataFrame | None
    lr_test_size: dict | None
    survival_intervals: pd.DataFrame | None
    coverage: dict | None
    value_fits: dict                  # sBG per valuation segment
    tier_values: TierValues | None
    programme: Programme
    donations: Donations | None
    published_donations: dict = None

    @property
    def retention(self) -> Segments:
        return self.data.retention

    @property
    def valuation(self) -> Segments:
        return self.data.valuation


def analyse(params) -> ContractualAnalysis:
    """Load the report's data and compute every section's numbers, in the report's order."""
    rng = np.random.default_rng(params.seed)
    data = load_data(params, rng)
    retention, valuation = data.retention, data.valuation
    fits = fit_segments(retention)
    projected = projection(retention, fits, params, rng)
    bdw_fits = fit_bdw_segments(retention, fits)
    tests = duration_tests(retention, fits, bdw_fits)
    size = lr_test_size(fits, params, rng)
    intervals = survival_intervals(retention, fits, params, rng)
    covered = coverage(fits, params, rng)
    value_fits = fit_segments(valuation)
    values = tier_values(valuation, value_fits, params, rng)
    return ContractualAnalysis(params, data, fits, projected, bdw_fits, tests, size, intervals, covered, value_fits,
                               values, programme(valuation, value_fits, params), donations(params),
                               PUBLISHED_DONATIONS)
