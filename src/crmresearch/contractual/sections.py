"""The contractual report's sections (see `crmresearch.sections`): section functions take data and
the validated parameters and return a `Section`; text functions take result objects only and
every sentence is conditional on the numbers it states.

Two kinds of segments feed the report: *cohorts* (survivor tables: the published Fader & Hardie
2007 cohorts or a user's table) and *tiers* (subscribers in value tiers: a user's log or a
simulation). Retention sections use the cohorts when there are any, else the tiers; the value
sections use the tiers when there are any, else the cohorts with `revenue_per_period`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import stats
from ..sections import Section, failed, not_computed, simulated_caption, simulated_heading, table_spec
from . import bgbb, data as cdata, models, simulate, value

SOURCE_LABEL = {"published": "the published cohorts of Fader & Hardie (2007)", "data": "the report's data",
                "simulated": "simulated subscribers"}


@dataclass
class Segments:
    """Duration rows per segment, the active customers to value, and where they come from."""

    kind: str                          # "cohort" or "tier"
    rows: dict                         # name -> duration rows (t, churned, count)
    base: pd.DataFrame                 # active customers: tier, renewals, customers, revenue
    source: str                        # "published" | "data" | "simulated"
    customers: int
    revenue: np.ndarray | None = None  # per-subscriber revenue (concentration), tiers only
    tier_of: np.ndarray | None = None
    truth: dict | None = None          # simulated: segment -> (α, β)
    path: str | None = None
    rows_dropped: dict = field(default_factory=dict)

    @property
    def names(self) -> list:
        return list(self.rows)

    def heading(self, title: str) -> str | None:
        return simulated_heading(title) if self.source == "simulated" else None

    def caption(self, text: str) -> str:
        return simulated_caption(text) if self.source == "simulated" else text


@dataclass
class ReportData:
    cohorts: Segments | None
    tiers: Segments | None
    observation_end: str | None = None

    @property
    def retention(self) -> Segments:
        return self.cohorts if self.cohorts is not None else self.tiers

    @property
    def valuation(self) -> Segments:
        return self.tiers if self.tiers is not None else self.cohorts


def _cohort_segments(table: cdata.CohortTable, source: str, revenue_per_period: float) -> Segments:
    rows = table.duration_rows()
    base = pd.DataFrame([{"tier": name, "renewals": float(len(counts) - 1), "customers": int(counts[-1]),
                          "revenue": float(counts[-1] * revenue_per_period)} for name, counts in table.survivors.items()])
    return Segments("cohort", rows, base[base["customers"] > 0].reset_index(drop=True), source, table.customers,
                    path=table.path)


def _tier_segments(log: cdata.SubscriberLog, source: str, truth=None) -> Segments:
    frame = log.frame
    return Segments("tier", log.duration_rows(), log.active_base(), source, len(frame),
                    revenue=frame["revenue"].to_numpy(), tier_of=frame["tier"].to_numpy(), truth=truth, path=log.path)


def load_data(params, rng: np.random.Generator) -> ReportData:
    """The report's segments from the parameters: cohorts (published or a user's table) and tiers
    (a user's subscriber log or simulated subscribers)."""
    cohorts = tiers = None
    obs_end = None
    if params.cohorts is not None:
        table = params.cohorts.load()
        cohorts = _cohort_segments(table, "published" if params.cohorts.dataset else "data", params.revenue_per_period)
    if params.subscribers is not None:
        log = params.subscribers.load()
        tiers = _tier_segments(log, "data")
        obs_end = str(params.subscribers.observation_end)
    elif params.simulate is not None:
        sim = params.simulate
        tiers_spec = {k: v.model_dump() for k, v in sim.tiers.items()}
        frame = simulate.simulate_subscribers(tiers_spec, sim.customers, sim.acquisition_months,
                                              sim.observation_months, rng)
        end = simulate.observation_end("2020-01-01", sim.observation_months)
        log = cdata.load_subscriber_log(None, end, frame=frame)
        tiers = _tier_segments(log, "simulated", {k: (v.alpha, v.beta) for k, v in sim.tiers.items()})
        obs_end = str(end.date())
    return ReportData(cohorts, tiers, obs_end)


def data_files(params) -> dict:
    out = {}
    if params.cohorts is not None and params.cohorts.path:
        out["cohorts"] = params.cohorts.path
    if params.subscribers is not None:
        out["subscribers"] = params.subscribers.path
    if params.donations:
        out["donations"] = str(cdata.donations_path())
    return out


# ------------------------------------------------------------------ fits

def fit_segments(segments: Segments) -> dict:
    """sBG per segment: name -> FittedModel or FailedFit."""
    return {name: models.fit_sbg(rows) for name, rows in segments.rows.items()}


def fit_bdw_segments(segments: Segments, sbg_fits: dict) -> dict:
    return {name: models.fit_bdw(rows, np.r_[sbg_fits[name].theta, 1.0] if models.converged(sbg_fits[name]) else None)
            for name, rows in segments.rows.items()}


def _good(fits: dict) -> dict:
    return {k: f for k, f in fits.items() if models.converged(f)}


def _failed_note(fits: dict) -> str | None:
    bad = {k: f for k, f in fits.items() if not models.converged(f)}
    if not bad:
        return None
    return "; ".join(f"{k}: the {f.name} did not fit ({f.reason.split(' Estimates reached')[0].rstrip('.')}); tried "
                     f"{f.tried if f.starts else 'nothing, the data cannot identify it'}" for k, f in bad.items())


def sbg_section(segments: Segments, fits: dict, confidence: float) -> Section:
    """sBG estimates per segment with SEs and intervals, next to the published values when published."""
    good = _good(fits)
    if not good:
        bad = next(iter(fits.values()))
        return failed("the sBG", bad.tried, bad.reason, rows_used=segments.customers)
    published = models.PUBLISHED_FADER_HARDIE_2007["estimates"] if segments.source == "published" else {}
    tables = []
    for name, fit in good.items():
        table = models.parameter_table(fit, confidence, published.get(name))
        if segments.truth and name in segments.truth:
            table["true_value"] = list(segments.truth[name])
        table.insert(0, "segment", name)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    fit_stats = pd.DataFrame([{"segment": k, "customers": f.n_customers, "loglike": f.loglike,
                               "published_loglike": published.get(k, {}).get("loglike", np.nan),
                               "mean_churn": f.theta[0] / f.theta.sum()} for k, f in good.items()])
    section = Section(results={"sbg_parameters": table, "sbg_fit": fit_stats},
                      text=sbg_text(table, fit_stats, confidence), source=segments.source,
                      rows_used=segments.customers, note=_failed_note(fits),
                      heading=segments.heading("the sBG fitted to each tier"))
    shown = table.rename(columns={"std_error": "std. error", "ci_lower": "lower", "ci_upper": "upper"})
    section.table = table_spec(shown, segments.caption(
        f"sBG estimates by {segments.kind} with standard errors and {confidence:.0%} intervals (log scale, back-transformed)"
        + (", next to Fader & Hardie's (2007) published values." if published else
           ", next to the values the simulation used." if segments.truth else ".")),
        label="tbl-sbg", decimals=3)
    return section


def sbg_text(table: pd.DataFrame, fit_stats: pd.DataFrame, confidence: float) -> str:
    parts = []
    for _, row in fit_stats.iterrows():
        est = table[table["segment"] == row["segment"]].set_index("parameter")
        a, b = est.loc["alpha", "estimate"], est.loc["beta", "estimate"]
        sentence = (f"**{row['segment']}** ({row['customers']:,.0f} customers): α = {a:.3f}, β = {b:.3f}, "
                    f"log-likelihood {row['loglike']:,.2f}; the average customer leaves at a renewal with probability "
                    f"{row['mean_churn']:.1%}")
        if "published" in est and np.isfinite(est.loc["alpha", "published"]):
            same = (round(a, 3) == est.loc["alpha", "published"] and round(b, 3) == est.loc["beta", "published"]
                    and round(row["loglike"], 2) == row["published_loglike"])
            sentence += (". These are the published values at their rounding" if same else
                         f". The published values are α = {est.loc['alpha', 'published']:.3f}, "
                         f"β = {est.loc['beta', 'published']:.3f}, log-likelihood {row['published_loglike']:,.2f}")
        if "true_value" in est and np.isfinite(est.loc["alpha", "true_value"]):
            inside = bool(((est["ci_lower"] <= est["true_value"]) & (est["true_value"] <= est["ci_upper"])).all())
            sentence += (f". The simulation used α = {est.loc['alpha', 'true_value']:g}, β = {est.loc['beta', 'true_value']:g}, "
                         + ("both inside" if inside else "not both inside") + f" the {confidence:.0%} intervals")
        if a < 1:
            sentence += ". α below 1 means many customers are very likely to leave while others almost never do"
        parts.append(sentence + ".")
    return " ".join(parts)


# ------------------------------------------------------------------ projection and sorting

def projection_section(segments: Segments, fits: dict, params, rng: np.random.Generator) -> Section:
    """Observed and projected survival and retention with parametric intervals, and the mean churn
    probability among survivors (heterogeneity sorting)."""
    good = _good(fits)
    if not good:
        return not_computed("no segment's sBG fitted, so nothing can be projected.", rows_used=segments.customers)
    frames = []
    for name, fit in good.items():
        observed = models.survivors_from_rows(segments.rows[name])
        horizon = int(observed["t"].max()) + params.projection_periods
        t = np.arange(horizon + 1)
        proj = value.projection_table(fit.theta, horizon)
        surv_iv = value.parametric_interval(fit, value.survival_statistic(t), params.confidence,
                                            params.parametric_draws, rng)
        ret_iv = value.parametric_interval(fit, value.retention_statistic(t[1:]), params.confidence,
                                           params.parametric_draws, rng)
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
    table = pd.concat(frames, ignore_index=True)
    sorting = sorting_summary(table)
    return Section(results={"projection": table, "heterogeneity_sorting": sorting},
                   text=projection_text(sorting, params.confidence), source=segments.source,
                   rows_used=segments.customers, note=_failed_note(fits),
                   heading=segments.heading("survival and retention projected"),
                   table=table_spec(sorting, segments.caption(
                       "Retention at the first renewal, the last observed one and the end of the projection, "
                       f"with {params.confidence:.0%} intervals, and the mean churn probability of those still there."),
                       label="tbl-sorting", decimals={"retention": 3, "retention_lower": 3, "retention_upper": 3,
                                                      "mean_churn_survivors": 3, "survival": 3}))


def sorting_summary(projection: pd.DataFrame) -> pd.DataFrame:
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


def projection_text(sorting: pd.DataFrame, confidence: float) -> str:
    parts = []
    for name, part in sorting.groupby("segment", sort=False):
        first, last = part.iloc[0], part.iloc[-1]
        direction = "rises" if last["retention"] > first["retention"] else "does not rise"
        parts.append(
            f"For **{name}** the projected retention rate {direction} from {first['retention']:.1%} at the first renewal "
            f"to {last['retention']:.1%} at renewal {last['t']:.0f} ({confidence:.0%} interval "
            f"{last['retention_lower']:.1%}–{last['retention_upper']:.1%}); {last['survival']:.1%} of the cohort is "
            f"projected to remain. The mean churn probability of the customers still there falls from "
            f"{first['mean_churn_survivors']:.1%} to {last['mean_churn_survivors']:.1%}.")
    rising = bool((sorting.groupby("segment")["retention"].agg(lambda s: s.iloc[-1] > s.iloc[0])).all())
    if rising:
        parts.append("No customer's churn probability changes in the sBG: the aggregate rate rises only because the "
                     "customers most likely to leave leave first (heterogeneity sorting), so a rising retention curve "
                     "is no evidence that loyalty grows with tenure.")
    return " ".join(parts)


# ------------------------------------------------------------------ duration dependence

def duration_section(segments: Segments, fits: dict, bdw_fits: dict) -> Section:
    """BdW estimates and the likelihood-ratio test of c = 1 per segment."""
    rows = []
    for name, fit in _good(fits).items():
        bdw = bdw_fits[name]
        test = models.lr_test(fit, bdw, segments.rows[name])
        row = {"segment": name, **test.as_dict()}
        if models.converged(bdw):
            row.update({"alpha_bdw": bdw.params["alpha"], "beta_bdw": bdw.params["beta"],
                        "c_se": bdw.bse["c"]})
        rows.append(row)
    if not rows:
        return not_computed("no segment's sBG fitted, so the BdW comparison has no baseline.")
    table = pd.DataFrame(rows)
    return Section(results={"bdw_tests": table}, text=duration_text(table), source=segments.source,
                   rows_used=segments.customers, note=_failed_note(bdw_fits),
                   heading=segments.heading("duration dependence (BdW against sBG)"),
                   table=table_spec(table[["segment", "c", "loglike_sbg", "loglike_bdw", "statistic", "p_value"]],
                                    segments.caption("Beta-discrete-Weibull against the sBG: estimated c, log-likelihoods "
                                                     "and the likelihood-ratio test of c = 1 (χ², 1 df)."),
                                    label="tbl-bdw", decimals={"c": 3, "loglike_sbg": 2, "loglike_bdw": 2,
                                                               "statistic": 2, "p_value": 4}))


def duration_text(table: pd.DataFrame, level: float = 0.05) -> str:
    parts = []
    for _, r in table.iterrows():
        if not np.isfinite(r["c"]):
            parts.append(f"For **{r['segment']}** the BdW did not fit, so the sBG stands untested.")
            continue
        trend = ("falls" if r["c"] < 1 else "rises") + " with tenure for each customer"
        verdict = (f"the test rejects c = 1 at the {level:.0%} level (p = {r['p_value']:.3g}): individual churn {trend}"
                   if r["p_value"] < level else
                   f"the test does not reject c = 1 (p = {r['p_value']:.3g}): the sBG's constant individual churn is "
                   "consistent with these data")
        parts.append(f"For **{r['segment']}** the BdW gives c = {r['c']:.2f} and raises the log-likelihood from "
                     f"{r['loglike_sbg']:,.2f} to {r['loglike_bdw']:,.2f} (statistic {r['statistic']:.2f}); {verdict}.")
    return " ".join(parts)


def _most_churn(good: dict):
    """The segment with the highest mean churn: its simulated cohorts carry the most information per customer."""
    return max(good.items(), key=lambda kv: kv[1].theta[0] / kv[1].theta.sum())


def size_check_section(fits: dict, params, rng: np.random.Generator) -> Section:
    """Size of the LR test: cohorts simulated under the first fitted sBG (a simulated check)."""
    good = _good(fits)
    if not good:
        return not_computed("no sBG fitted, so there is no null model to simulate from.")
    name, fit = _most_churn(good)
    size = simulate.lr_test_size(fit.theta, 1000, 7, params.size_check_cohorts, rng)
    size["null_segment"] = name
    size["null_alpha"], size["null_beta"] = float(fit.theta[0]), float(fit.theta[1])
    return Section(results={"lr_test_size": size}, text=size_text(size, params.confidence), source="simulated",
                   rows_used=size["cohorts"] * size["cohort_size"], heading=simulated_heading("size of the BdW-vs-sBG test"),
                   note=f"{size['failed_fits']} simulated cohorts dropped because a fit failed" if size["failed_fits"] else None)


def size_text(size: dict, confidence: float) -> str:
    lo, hi = stats.wilson_interval(size["rejections"], size["cohorts"], confidence)
    inside = lo <= size["level"] <= hi
    return (f"Under the sBG fitted to {size['null_segment']} (α = {size['null_alpha']:.3f}, β = {size['null_beta']:.3f}), "
            f"{size['cohorts']} simulated cohorts of {size['cohort_size']:,} customers over {size['periods']} periods were "
            f"tested; the test rejected c = 1 in {size['rejection_rate']:.1%} of them ({confidence:.0%} interval "
            f"{lo:.1%}–{hi:.1%}), " + ("consistent with" if inside else "not consistent with")
            + f" its nominal size of {size['level']:.0%}.")


# ------------------------------------------------------------------ intervals and coverage

def interval_section(segments: Segments, fits: dict, params, rng: np.random.Generator) -> Section:
    """Parametric and bootstrap intervals for the projected survival at the end of the projection."""
    rows = []
    for name, fit in _good(fits).items():
        horizon = int(segments.rows[name]["t"].max()) + params.projection_periods
        stat = value.survival_statistic([horizon])
        for iv in (value.parametric_interval(fit, stat, params.confidence, params.parametric_draws, rng),
                   value.bootstrap_interval(fit, segments.rows[name], stat, params.confidence, params.bootstrap_draws, rng)):
            rows.append({"segment": name, "quantity": f"S({horizon})", "method": iv.method, "estimate": float(iv.estimate[0]),
                         "lower": float(iv.lower[0]), "upper": float(iv.upper[0]), "draws": iv.draws,
                         "failed_refits": iv.failed})
    if not rows:
        return not_computed("no sBG fitted, so there is nothing to put an interval on.")
    table = pd.DataFrame(rows)
    return Section(results={"survival_intervals": table}, text=interval_text(table, params.confidence),
                   source=segments.source, rows_used=segments.customers,
                   heading=segments.heading("parametric and bootstrap intervals"),
                   table=table_spec(table, segments.caption(
                       f"Projected survival at the end of the projection with {params.confidence:.0%} intervals: "
                       "parametric (parameter draws) and customer bootstrap (re-fits)."), label="tbl-intervals",
                       decimals={"estimate": 3, "lower": 3, "upper": 3}))


def interval_text(table: pd.DataFrame, confidence: float) -> str:
    parts = []
    for name, part in table.groupby("segment", sort=False):
        p, b = part[part["method"] == "parametric"].iloc[0], part[part["method"] == "bootstrap"].iloc[0]
        ratio = (b["upper"] - b["lower"]) / (p["upper"] - p["lower"])
        parts.append(f"For **{name}**, {p['quantity']} = {p['estimate']:.3f}: parametric {confidence:.0%} interval "
                     f"{p['lower']:.3f}–{p['upper']:.3f}, bootstrap {b['lower']:.3f}–{b['upper']:.3f} "
                     f"({b['draws'] - b['failed_refits']:.0f} re-fits); the bootstrap interval is "
                     f"{ratio:.2f} times as wide.")
    return " ".join(parts)


def coverage_check(theta, cohort_size: int, periods: int, horizon: int, replications: int, confidence: float,
                   draws: int, rng: np.random.Generator) -> dict:
    """Share of simulated cohorts whose parametric interval for S(horizon) holds the true S(horizon)."""
    truth = float(models.survival(np.asarray(theta), [horizon])[0])
    stat = value.survival_statistic([horizon])
    hits, used = 0, 0
    for _ in range(replications):                 # one simulated cohort per replication
        rows = simulate.cohort_rows(theta[0], theta[1], cohort_size, periods, rng)
        fit = models.fit_sbg(rows, start_params=theta)
        if not models.converged(fit):
            continue
        iv = value.parametric_interval(fit, stat, confidence, draws, rng)
        hits += int(iv.lower[0] <= truth <= iv.upper[0])
        used += 1
    lo, hi = stats.wilson_interval(hits, used, confidence)
    return {"true_value": truth, "horizon": horizon, "replications": used, "covered": hits,
            "coverage": hits / used if used else float("nan"), "ci_lower": lo, "ci_upper": hi,
            "nominal": confidence, "cohort_size": cohort_size, "periods": periods,
            "alpha": float(theta[0]), "beta": float(theta[1])}


def coverage_section(fits: dict, params, rng: np.random.Generator) -> Section:
    good = _good(fits)
    if not good:
        return not_computed("no sBG fitted, so there is no truth to simulate from.")
    name, fit = _most_churn(good)
    result = coverage_check(fit.theta, 1000, 7, 7 + params.projection_periods, params.coverage_replications,
                            params.confidence, 500, rng)
    result["truth_from"] = name
    return Section(results={"coverage_check": result}, text=coverage_text(result), source="simulated",
                   rows_used=result["replications"] * result["cohort_size"],
                   heading=simulated_heading("do the intervals cover the truth?"))


def coverage_text(c: dict) -> str:
    inside = c["ci_lower"] <= c["nominal"] <= c["ci_upper"]
    return (f"{c['replications']} cohorts of {c['cohort_size']:,} customers were simulated from the sBG fitted to "
            f"{c['truth_from']} and observed for {c['periods']} periods; the parametric {c['nominal']:.0%} interval of "
            f"the survival at period {c['horizon']} held the true value {c['true_value']:.3f} in "
            f"{c['coverage']:.1%} of them (interval {c['ci_lower']:.1%}–{c['ci_upper']:.1%}), "
            + ("consistent with" if inside else "not consistent with") + " the nominal rate.")


# ------------------------------------------------------------------ value by tier and the programme

def value_section(segments: Segments, fits: dict, params, rng: np.random.Generator) -> Section:
    """DERL and residual value per tier (Fader & Hardie 2010) with parametric intervals, and the
    revenue concentration of the subscribers."""
    good = _good(fits)
    base = segments.base[segments.base["tier"].isin(list(good))]
    if base.empty:
        return not_computed("no tier with a fitted sBG has active customers to value.", rows_used=segments.customers)
    table = value.tier_values({k: f.theta for k, f in good.items()}, base, params.discount_rate)
    lower, upper = [], []
    draws_total = np.zeros(params.parametric_draws)
    for tier in table["tier"]:
        part = base[base["tier"] == tier]
        thetas = good[tier].draw_parameters(params.parametric_draws, rng)
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
    ignoring = _homogeneous_value(segments, good, params.discount_rate)
    total.update(ignoring)
    results = {"tier_values": table, "total_value": total,
               "valuation_sbg": {k: {"params": f.params.to_dict(), "bse": f.bse.to_dict(), "loglike": f.loglike,
                                     "customers": f.n_customers} for k, f in good.items()}}
    if segments.revenue is not None:
        results["revenue_concentration"] = {"top_share": stats.top_share(segments.revenue, 0.2),
                                            "gini": stats.gini(segments.revenue), "subscribers": int(segments.revenue.size)}
    shown = table[["tier", "customers", "customer_share", "revenue_share", "mean_churn", "mean_derl",
                   "value_per_customer", "residual_value", "value_lower", "value_upper", "value_share"]]
    note = _failed_note(fits)
    text = value_text(table, total, results.get("revenue_concentration"), segments.kind)
    return Section(results=results, text=text + (f" *Not valued:* {note}." if note else ""),
                   source=segments.source, rows_used=segments.customers, note=note,
                   heading=segments.heading("what the active customers are worth, by tier"),
                   table=table_spec(shown, segments.caption(
                       f"Active customers by {segments.kind}: mean churn per period, mean DERL (discounted expected "
                       f"residual lifetime, discount rate {params.discount_rate:.0%} per period), residual value with "
                       f"{params.confidence:.0%} parametric intervals and shares."), label="tbl-value",
                       decimals={"customer_share": 3, "revenue_share": 3, "mean_churn": 3, "mean_derl": 2,
                                 "value_per_customer": 1, "residual_value": 0, "value_lower": 0, "value_upper": 0,
                                 "value_share": 3}))


def _homogeneous_value(segments: Segments, good: dict, d: float) -> dict:
    """The base valued as if everyone in a tier had the tier's mean churn (Fader & Hardie 2010's 'perils')."""
    total = 0.0
    for tier, part in segments.base.groupby("tier"):
        if tier not in good:
            continue
        churn = good[tier].theta[0] / good[tier].theta.sum()
        total += float(part["revenue"].sum()) * (1 - churn) * (1 + d) / (churn + d)   # Σ_{k≥1} (1-q)^k (1+d)^-(k-1)
    return {"value_ignoring_heterogeneity": total}


def value_text(table: pd.DataFrame, total: dict, concentration: dict | None, kind: str = "tier") -> str:
    top = table.sort_values("value_per_customer", ascending=False).iloc[0]
    low = table.sort_values("value_per_customer").iloc[0]
    text = (f"The {total['active_customers']:,} active customers are worth **{total['residual_value']:,.0f}** in discounted "
            f"future payments ({total['confidence']:.0%} interval {total['lower']:,.0f}–{total['upper']:,.0f}). "
            f"A {top['tier']} customer is worth {top['value_per_customer']:,.1f} on average "
            f"(mean DERL {top['mean_derl']:.1f} periods)")
    if len(table) > 1:
        text += (f", a {low['tier']} customer {low['value_per_customer']:,.1f} (DERL {low['mean_derl']:.1f}); "
                 f"the {top['tier']} {kind} is {top['customer_share']:.1%} of the active customers and "
                 f"{top['value_share']:.1%} of their value")
    text += "."
    if concentration:
        text += (f" Among all subscribers the top 20% bring {concentration['top_share']:.1%} of revenue "
                 + ("(the 80/20 rule holds here)" if concentration["top_share"] >= 0.75 else "(less concentrated than 80/20)")
                 + ".")
    gap = 1 - total["value_ignoring_heterogeneity"] / total["residual_value"]
    text += (f" Valuing each {kind} as if every customer had its mean churn gives "
             f"{total['value_ignoring_heterogeneity']:,.0f}, "
             + (f"{gap:.1%} less: the customers still active are the ones who rarely leave, and ignoring that "
                "undervalues the base (Fader & Hardie 2010)." if gap >= 0.001 else
                f"{-gap:.1%} more." if gap <= -0.001 else "about the same."))
    return text


def programme_section(segments: Segments, fits: dict, params) -> Section:
    """The effect of a retention programme that lowers one tier's mean churn, against its cost and
    against acquiring new customers worth as much."""
    good = _good(fits)
    base = segments.base[segments.base["tier"].isin(list(good))]
    if base.empty:
        return not_computed("no tier with a fitted sBG has active customers.")
    prog = params.programme
    tier = prog.tier if prog.tier is not None else base.groupby("tier")["customers"].sum().idxmax()
    if tier not in good:
        return not_computed(f"the programme targets '{tier}', which is not a {segments.kind} with a fitted sBG "
                            f"(have: {', '.join(good)}).")
    effect = value.programme_effect(good[tier].theta, base, tier, prog.churn_reduction, params.discount_rate,
                                    prog.cost_per_customer, prog.acquisition_cost)
    derl_curve = pd.DataFrame({"renewals": np.arange(0, 37)})
    after = good[tier].theta.copy()
    after[1] = effect.beta_after
    derl_curve["derl_before"] = value.derl(good[tier].theta, derl_curve["renewals"], params.discount_rate)
    derl_curve["derl_after"] = value.derl(after, derl_curve["renewals"], params.discount_rate)
    result = effect.as_dict()
    return Section(results={"retention_programme": result, "programme_derl": derl_curve},
                   text=programme_text(result), source=segments.source, rows_used=segments.customers,
                   note=_failed_note(fits),
                   heading=segments.heading(f"a retention programme for the {tier} {segments.kind}"))


def programme_text(p: dict) -> str:
    text = (f"Lowering the mean churn probability of the **{p['tier']}** customers by {p['churn_reduction']:.0%} "
            f"(from {p['mean_churn_before']:.1%} to {p['mean_churn_after']:.1%} per period; β from {p['beta_before']:.2f} "
            f"to {p['beta_after']:.2f}) raises the residual value of its {p['customers']:,} active customers from "
            f"{p['value_before']:,.0f} to {p['value_after']:,.0f}, a gain of {p['gain']:,.0f} "
            f"({p['gain_per_customer']:,.2f} per customer). ")
    if p["programme_cost"] > 0:
        text += (f"At {p['programme_cost'] / p['customers']:,.2f} per customer the programme costs {p['programme_cost']:,.0f}, "
                 + ("so it pays for itself" if p["net_gain"] > 0 else "more than it brings")
                 + f" (net {p['net_gain']:,.0f}). ")
    if p["value_new_customer"] > 0:
        lift = p["value_new_customer_after"] / p["value_new_customer"] - 1
        text += (f"For a newly acquired customer, whose churn is not yet sorted, the programme raises lifetime value "
                 f"from {p['value_new_customer']:,.1f} to {p['value_new_customer_after']:,.1f} ({lift:+.1%}), against "
                 f"{p['gain_per_customer'] / (p['value_before'] / p['customers']):+.1%} for the customers already there. ")
    if np.isfinite(p["new_customers_equivalent"]):
        text += (f"A new customer of this kind is worth {p['value_new_customer']:,.1f} over their lifetime; after an "
                 f"acquisition cost of {p['acquisition_cost']:,.0f} the same gain would take "
                 f"{p['new_customers_equivalent']:,.0f} new customers and {p['acquisition_spend_equivalent']:,.0f} of "
                 "acquisition spending.")
    else:
        text += (f"A new customer of this kind is worth {p['value_new_customer']:,.1f}, less than the acquisition cost of "
                 f"{p['acquisition_cost']:,.0f}: acquiring more of them would destroy value, keeping them does not.")
    return text


# ------------------------------------------------------------------ BG/BB

def bgbb_section(params) -> Section:
    """BG/BB on the shipped donations data against Fader, Hardie & Shang's (2010) published fit."""
    if not params.donations:
        return not_computed("the parameters turned the donations section off (donations: false).")
    don = cdata.load_donations()
    x, t_x, n, w = (don[c].to_numpy(dtype=float) for c in ("frequency", "recency", "periods", "donors"))
    fit = bgbb.fit_bgbb(x, t_x, n, w)
    if not models.converged(fit):
        return failed("the BG/BB", fit.tried, fit.reason, rows_used=int(w.sum()))
    pub = bgbb.PUBLISHED_DONATIONS
    table = models.parameter_table(fit, params.confidence, pub)
    per_row = bgbb.summary_table(fit.theta, x, t_x, n, w, params.bgbb_future_periods, params.discount_rate)
    n_max = int(n.max())
    expected = bgbb.expected_count_distribution(fit.theta, n_max) * w.sum()
    actual = np.bincount(x.astype(int), weights=w, minlength=n_max + 1)
    histogram = pd.DataFrame({"transactions": np.arange(n_max + 1), "actual": actual, "expected": expected})
    fit_info = {"params": fit.params.to_dict(), "bse": fit.bse.to_dict(), "loglike": fit.loglike,
                "donors": int(w.sum()), "periods": n_max, "published": pub}
    totals = {"expected_next": float((per_row["expected_next"] * w).sum()),
              "mean_p_alive": float((per_row["p_alive"] * w).sum() / w.sum()),
              "future_periods": params.bgbb_future_periods}
    return Section(results={"bgbb_fit": fit_info, "bgbb_parameters": table, "bgbb_customers": per_row,
                            "bgbb_histogram": histogram, "bgbb_totals": totals},
                   text=bgbb_text(fit_info, totals), source="published", rows_used=int(w.sum()),
                   table=table_spec(table.rename(columns={"std_error": "std. error", "ci_lower": "lower", "ci_upper": "upper"}),
                                    f"BG/BB estimates on the donations data with {params.confidence:.0%} intervals, next to "
                                    "Fader, Hardie & Shang's (2010) published values.", label="tbl-bgbb", decimals=3))


def bgbb_text(fit: dict, totals: dict) -> str:
    p, pub = fit["params"], fit["published"]
    same = all(round(p[k], 3) == pub[k] for k in ("alpha", "beta", "gamma", "delta")) and round(fit["loglike"], 1) == pub["loglike"]
    text = (f"On the {fit['donors']:,} donors and {fit['periods']} yearly opportunities the BG/BB gives α = {p['alpha']:.3f}, "
            f"β = {p['beta']:.3f}, γ = {p['gamma']:.3f}, δ = {p['delta']:.3f} (log-likelihood {fit['loglike']:,.1f}); "
            + ("these are the published values at their rounding. " if same else
               f"the published values are α = {pub['alpha']}, β = {pub['beta']}, γ = {pub['gamma']}, δ = {pub['delta']} "
               f"(LL {pub['loglike']:,}). "))
    text += (f"The average donor is still alive with probability {totals['mean_p_alive']:.1%}; together the donors are "
             f"expected to give {totals['expected_next']:,.0f} times in the next {totals['future_periods']} years.")
    return text


# ------------------------------------------------------------------ finding

def finding(retention_sections: dict, value_result: dict | None) -> str:
    """One line for the index page, from the computed results."""
    sorting = retention_sections.get("heterogeneity_sorting")
    parts = []
    if sorting is not None and len(sorting):
        seg = sorting["segment"].iloc[0]
        part = sorting[sorting["segment"] == seg]
        parts.append(f"{seg}: retention rises from {part['retention'].iloc[0]:.0%} to {part['retention'].iloc[-1]:.0%} "
                     "by heterogeneity sorting alone")
    if value_result:
        parts.append(f"active customers worth {value_result['residual_value']:,.0f} "
                     f"({value_result['confidence']:.0%} interval {value_result['lower']:,.0f}–{value_result['upper']:,.0f})")
    return "; ".join(parts) + "." if parts else "No model could be fitted to these data."
