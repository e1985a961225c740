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
from pathlib import Path

import numpy as np
import pandas as pd

from .. import stats
from ..models import bgbb
from ..models.bgbb import PUBLISHED_DONATIONS, BetaGeoBetaBinomial
from ..models.retention import (BetaDiscreteWeibull, ShiftedBetaGeometric, duration_dependence_test, survival,
                                survivors_from_rows)
from . import simulate, value
from .data import ReportData, Segments, load_data


def converged_fits(fits: dict) -> dict:
    """The fits that converged, by segment."""
    return {k: f for k, f in fits.items() if f.converged}


def mean_churn(theta) -> float:
    """E[θ] = α / (α + β): the mean churn probability at the first renewal (sBG and BdW alike)."""
    return float(theta[0] / (theta[0] + theta[1]))


def most_churn(good: dict):
    """The segment with the highest mean churn: its simulated cohorts carry the most information per customer."""
    return max(good.items(), key=lambda kv: mean_churn(kv[1].theta))


# ------------------------------------------------------------------ fits

def fit_segments(segments: Segments) -> dict:
    """sBG per segment: name -> FittedModel or FailedFit."""
    return {name: ShiftedBetaGeometric().fit(rows) for name, rows in segments.rows.items()}


def fit_bdw_segments(segments: Segments, sbg_fits: dict) -> dict:
    """BdW per segment, started from the segment's sBG with c = 1."""
    return {name: BetaDiscreteWeibull(np.r_[sbg_fits[name].theta, 1.0] if sbg_fits[name].converged else None).fit(rows)
            for name, rows in segments.rows.items()}


# ------------------------------------------------------------------ the model the data choose

@dataclass(frozen=True)
class ModelChoice:
    """Which retention model predicts for a segment, and why: the BdW when the likelihood-ratio test
    rejects the sBG's constant individual churn (c = 1) at the report's level, else the sBG."""

    model: str                        # "sBG" or "BdW"
    reason: str                       # "test rejects c = 1", "test does not reject c = 1", "BdW did not fit"
    p_value: float
    c: float

    def as_dict(self) -> dict:
        return {"model": self.model, "reason": self.reason, "p_value": self.p_value, "c": self.c}


def choose_models(fits: dict, bdw_fits: dict, tests: pd.DataFrame | None, level: float) -> dict:
    """Segment -> `ModelChoice` for every segment with a fitted sBG."""
    out = {}
    rows = {} if tests is None else {r["segment"]: r for _, r in tests.iterrows()}
    for name in converged_fits(fits):
        row = rows.get(name)
        p, c = (float(row["p_value"]), float(row["c"])) if row is not None else (float("nan"), float("nan"))
        if not bdw_fits[name].converged:
            out[name] = ModelChoice("sBG", "BdW did not fit", p, c)
        elif p < level:
            out[name] = ModelChoice("BdW", "test rejects c = 1", p, c)
        else:
            out[name] = ModelChoice("sBG", "test does not reject c = 1", p, c)
    return out


def chosen_fits(fits: dict, bdw_fits: dict, choice: dict) -> dict:
    """Segment -> the fit that projects and values it (the model `choose_models` picked)."""
    return {name: bdw_fits[name] if c.model == "BdW" else fits[name] for name, c in choice.items()}


# ------------------------------------------------------------------ projection

def projection(segments: Segments, fits: dict, params, rng: np.random.Generator) -> pd.DataFrame | None:
    """Observed and projected survival and retention with parametric intervals, and the mean churn
    probability among survivors, per segment, each by its chosen model (`fits`: `chosen_fits`; None
    when no model fitted)."""
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
        proj.insert(0, "model", fit.name)
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
            rows.append({"segment": name, "model": part["model"].iloc[0], "point": label, "t": t, "survival": r["survival"], "retention": r["retention"],
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


def lr_test_size(segments: Segments, fits: dict, params, rng: np.random.Generator) -> dict | None:
    """Size of the LR test: data sets simulated under the sBG of the segment with the most churn, on
    that segment's own design (its customers and how long each could be observed)."""
    good = converged_fits(fits)
    if not good:
        return None
    name, fit = most_churn(good)
    size = simulate.lr_test_size(fit.theta, segments.windows[name], params.size_check_cohorts, rng,
                                 level=1 - params.confidence)
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
            rows.append({"segment": name, "model": fit.name, "quantity": f"S({horizon})", "method": iv.method, "estimate": float(iv.estimate[0]),
                         "lower": float(iv.lower[0]), "upper": float(iv.upper[0]), "draws": iv.draws,
                         "failed_refits": iv.failed})
    return pd.DataFrame(rows) if rows else None


def coverage_check(theta, windows, horizon: int, replications: int, confidence: float,
                   draws: int, rng: np.random.Generator) -> dict:
    """Share of simulated data sets whose parametric interval for S(horizon) holds the true S(horizon).

    `theta` is (α, β) for the sBG or (α, β, c) for the BdW (the model simulated is the model fitted);
    `windows` gives each customer's observation window (`simulate.design_windows`), as in the data."""
    theta = np.asarray(theta, dtype=float)
    windows = tuple(np.asarray(w, dtype=float) for w in windows)
    truth = float(survival(theta, [horizon])[0])
    stat = value.survival_statistic([horizon])
    model = ShiftedBetaGeometric if theta.size == 2 else BetaDiscreteWeibull
    c = float(theta[2]) if theta.size > 2 else 1.0
    hits, used = 0, 0
    for _ in range(replications):                 # one simulated data set per replication, customers vectorised
        t, churned, count = simulate.design_counts(theta[0], theta[1], windows, rng, c)
        fit = model(start_params=theta).fit(t=t, churned=churned, weights=count)
        if not fit.converged:
            continue
        iv = value.parametric_interval(fit, stat, confidence, draws, rng)
        hits += int(iv.lower[0] <= truth <= iv.upper[0])
        used += 1
    lo, hi = stats.wilson_interval(hits, used, confidence)
    return {"true_value": truth, "horizon": horizon, "replications": used, "covered": hits,
            "coverage": hits / used if used else float("nan"), "ci_lower": lo, "ci_upper": hi,
            "nominal": confidence, "cohort_size": int(windows[1].sum()), "periods": int(windows[0].max()),
            "model": model.name, "alpha": float(theta[0]), "beta": float(theta[1]), "c": c}


def coverage(segments: Segments, fits: dict, params, rng: np.random.Generator) -> dict | None:
    """The coverage check, simulated from the chosen model of the segment with the most churn, on
    that segment's design; the horizon is the report's projection horizon."""
    good = converged_fits(fits)
    if not good:
        return None
    name, fit = most_churn(good)
    windows = segments.windows[name]
    result = coverage_check(fit.theta, windows, int(windows[0].max()) + params.projection_periods,
                            params.coverage_replications, params.confidence, 500, rng)
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
        churn = mean_churn(good[tier].theta)
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


def fit_and_choose(segments: Segments, level: float):
    """sBG and BdW per segment, the LR test, the model each segment's data choose, and its fits."""
    fits = fit_segments(segments)
    bdw_fits = fit_bdw_segments(segments, fits)
    tests = duration_tests(segments, fits, bdw_fits)
    choice = choose_models(fits, bdw_fits, tests, level)
    return fits, bdw_fits, tests, choice, chosen_fits(fits, bdw_fits, choice)


# ------------------------------------------------------------------ BG/BB on the donations data

@dataclass
class Donations:
    fit: object                       # BG/BB results (or a FailedFit)
    frequency: np.ndarray
    recency: np.ndarray
    periods: np.ndarray
    donors: np.ndarray                # customers per (x, t_x, n) pattern
    published: bool = False           # the shipped donations (compared with the published fit)
    name: str = "donations"
    per_pattern: pd.DataFrame | None = None
    histogram: pd.DataFrame | None = None
    totals: dict | None = None


def donations(params) -> Donations | None:
    """The BG/BB on the report's discrete-time data (`discrete:`: the shipped donations or a user's
    panel), its per-pattern predictions and the histogram of repeat transactions, actual and expected
    (None without a `discrete:` block)."""
    source = params.discrete
    if source is None:
        return None
    don = source.load()
    x, t_x, n, w = (don[c].to_numpy(dtype=float) for c in ("frequency", "recency", "periods", "count"))
    fit = BetaGeoBetaBinomial().fit(frequency=x, recency=t_x, periods=n, weights=w)
    out = Donations(fit, x, t_x, n, w, published=source.published,
                    name=source.dataset or Path(source.path).name)
    if not fit.converged:
        return out
    out.per_pattern = bgbb.summary_table(fit.theta, x, t_x, n, w, source.future_periods, source.discount_rate)
    n_max = int(n.max())
    expected = fit.expected_histogram(periods=n, weights=w)
    actual = np.bincount(x.astype(int), weights=w, minlength=n_max + 1)
    out.histogram = pd.DataFrame({"transactions": np.arange(n_max + 1), "actual": actual, "expected": expected})
    out.totals = {"expected_next": float((out.per_pattern["expected_next"] * w).sum()),
                  "mean_p_alive": float((out.per_pattern["p_alive"] * w).sum() / w.sum()),
                  "future_periods": source.future_periods}
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
    value_fits: dict                  # the chosen model (sBG or BdW) per valuation segment
    tier_values: TierValues | None
    programme: Programme
    donations: Donations | None
    published_donations: dict = None
    choice: dict = None               # segment -> ModelChoice (retention segments)
    value_choice: dict = None         # segment -> ModelChoice (valuation segments)

    @property
    def retention(self) -> Segments:
        return self.data.retention

    @property
    def valuation(self) -> Segments:
        return self.data.valuation


def analyse(params) -> ContractualAnalysis:
    """Load the report's data and compute every section's numbers, in the report's order. Each
    segment is projected, put in intervals and valued by the model its own data choose (the BdW
    when the likelihood-ratio test rejects the sBG at level 1 − confidence)."""
    rng = np.random.default_rng(params.seed)
    data = load_data(params, rng)
    retention, valuation = data.retention, data.valuation
    level = 1 - params.confidence
    fits, bdw_fits, tests, choice, chosen = fit_and_choose(retention, level)
    projected = projection(retention, chosen, params, rng)
    size = lr_test_size(retention, fits, params, rng)
    intervals = survival_intervals(retention, chosen, params, rng)
    covered = coverage(retention, chosen, params, rng)
    if valuation is retention:
        value_choice, value_fits = choice, chosen
    else:
        *_, value_choice, value_fits = fit_and_choose(valuation, level)
    values = tier_values(valuation, value_fits, params, rng)
    return ContractualAnalysis(params, data, fits, projected, bdw_fits, tests, size, intervals, covered, value_fits,
                               values, programme(valuation, value_fits, params), donations(params),
                               PUBLISHED_DONATIONS, choice, value_choice)
