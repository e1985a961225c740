"""The sections of 01_satisfaction_loyalty: each function takes the `SatisfactionAnalysis` that
`satisfaction.analyse` computed and returns a `crmresearch.sections.Section` for one part of the
report (numbers for results.json, a table, sentences from `satisfaction.text`, the source of its
numbers and the rows it used); nothing here fits a model or draws a random number.

A part the data cannot support becomes a not-computed section that says why; a simulated
illustration is headed and captioned "Simulated illustration".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..sections import (Lead, Section, failed, lead_kind, not_computed, simulated_caption, simulated_heading,
                        table_spec)
from . import text
from .analyse import SatisfactionAnalysis
from .attributes import kano_summary
from ..stats import ci_label

TRAP_COLUMNS = ["basis", "share", "count", "of", "estimate", "ci_lower", "ci_upper"]
LOYALTY_TYPE_COLUMNS = ["framework", "type", "count", "share", "ci_lower", "ci_upper"]


@dataclass
class ReportSection(Section):
    """A `Section` that also carries the objects its figures are drawn from (``section.pr`` etc.)."""

    objects: dict = field(default_factory=dict)

    def __getattr__(self, name):
        objects = self.__dict__.get("objects", {})
        if name in objects:
            return objects[name]
        raise AttributeError(name)


def _section(source="data", **kwargs) -> ReportSection:
    fields = {k: kwargs.pop(k) for k in ("results", "text", "table", "rows_used", "rows_dropped", "note", "heading")
              if k in kwargs}
    return ReportSection(source=source, objects=kwargs, **fields)


def _as_report(section: Section, **objects) -> ReportSection:
    return ReportSection(results=section.results, text=section.text, table=section.table, source=section.source,
                         rows_used=section.rows_used, rows_dropped=section.rows_dropped, note=section.note,
                         heading=section.heading, objects=objects)


def _not_computed(part, **objects) -> ReportSection:
    """The section of a part the data (or the parameters) did not allow: it says why."""
    return _as_report(not_computed(part.reason, part.rows_used, part.rows_dropped), **objects)


def _record(pairs) -> dict:
    """The results a section records, leaving out those the data did not allow (value None)."""
    return {key: value for key, value in pairs if value is not None}


# ---------------------------------------------------------------- the data

def introduction(a: SatisfactionAnalysis) -> str:
    """The closing paragraph of the introduction."""
    return text.introduction_text(a.data, a.params.simulated_illustrations)


def data(a: SatisfactionAnalysis) -> ReportSection:
    """Mean SAT and loyalty, the share at the top of the loyalty scale and the top-box 'choose again' share."""
    s = a.summary
    return _section(s.source, results={
        "respondents": s.n, "respondents_complete": s.complete, "satisfaction_mean": s.satisfaction_mean,
        "loyalty_mean": s.loyalty_mean, "loyalty_at_ceiling": s.loyalty_at_ceiling,
        "choose_again_top_box": s.choose_again_top_box},
        text=text.data_text(s) + " " + a.data.items_note,
        rows_used=s.rows_used, rows_dropped=s.rows_dropped)


def cutoffs(a: SatisfactionAnalysis) -> dict:
    """The table of this run's cut-offs (keyword arguments of `crm.report.show_table`)."""
    return table_spec(a.cutoffs, "Cut-offs of this run, the measure and scale each belongs to, and where its value "
                                 "comes from.", "tbl-cutoffs")


# ---------------------------------------------------------------- the curve

def curve(a: SatisfactionAnalysis) -> ReportSection:
    """Binned means, straight line, spline, broken line (with bootstrap) and Davies' test."""
    c = a.curve
    if c.broken is None:
        return _as_report(failed("the broken line", "a profile grid of breakpoints and Muggeo's iterations",
                                 c.failure, rows_used=c.rows_used))
    return _section(c.source, results={"binned_means": c.binned, "linear_slope": float(c.linear.params[1]),
                                       "segmented": c.broken, "davies": c.davies},
                    text=text.breakpoint_text(c.broken, c.davies, c.x_range),
                    rows_used=c.rows_used, rows_dropped=c.rows_dropped)


def models(a: SatisfactionAnalysis) -> ReportSection:
    """AIC, BIC and cross-validated RMSE of the three curves, and the range of the spline's slope."""
    m = a.models
    return _section(m.source, results={"model_comparison": m.table, "best_model": m.best,
                                       "spline_slope_range": m.slope_range},
                    text=text.model_choice_text(m.best), rows_used=m.rows_used, rows_dropped=m.rows_dropped,
                    table=table_spec(m.table[["model", "parameters", "aic", "bic", "cv_rmse"]],
                                     f"Model choice: AIC, BIC and {a.params.cv_folds}-fold cross-validated RMSE "
                                     "(lower is better). The broken line counts its breakpoint as a parameter.",
                                     "tbl-models", {"aic": 1, "bic": 1, "cv_rmse": 3}))


# ---------------------------------------------------------------- is the flattening real?

def ceiling_table(checks) -> pd.DataFrame:
    """One row per ceiling check, the result formatted for the report."""
    flat, censored, ordered = checks.flat, checks.censored, checks.ordered
    rows = []
    if flat is not None:
        rows += [{"check": "Davies test, naive", "result": f"p = {flat.naive_p_value:.3f}"},
                 {"check": f"Davies test, calibrated ({flat.n_simulations} simulated surveys)",
                  "result": f"p = {flat.calibrated_p_value:.3f}"}]
    if censored is not None:
        rows += [{"check": "Censored regression, straight latent slope",
                  "result": f"{censored.linear_slope:.2f} ({censored.confidence_label} "
                            f"{censored.linear_slope_ci[0]:.2f} to {censored.linear_slope_ci[1]:.2f})"},
                 {"check": f"Censored regression, slope change at {censored.breakpoint:.2f}",
                  "result": f"{censored.slope_change:.2f} ({censored.confidence_label} "
                            f"{censored.slope_change_ci[0]:.2f} to {censored.slope_change_ci[1]:.2f})"},
                 {"check": "Censored regression, AIC straight / kinked",
                  "result": f"{censored.linear_aic:.1f} / {censored.kinked_aic:.1f}"}]
    rows.append({"check": "Ordered logit, AIC straight / kinked",
                 "result": f"{ordered.linear_aic:.1f} / {ordered.kinked_aic:.1f}" if ordered is not None
                 else f"not fitted: {checks.ordered_note}"})
    return pd.DataFrame(rows)


def ceiling(a: SatisfactionAnalysis) -> ReportSection:
    """Censored regression, ordered logit, the calibrated flat-zone test and the verdict."""
    ch = a.checks
    if ch.verdict is None:
        return _as_report(failed("the censored (Tobit) regression", "three starting points with BFGS and Nelder-Mead",
                                 ch.failure or "no fit", ch.rows_used), checks=ch)
    return _section(ch.source, results=_record([
        ("censored_regression", ch.censored), ("ordered_logit", ch.ordered),
        ("ordered_logit_skipped", ch.ordered_note), ("flat_zone_test", ch.flat),
        ("flat_zone_survives", ch.verdict["survives"]), ("flat_zone_verdict", ch.verdict["text"])]),
        text=text.verdict_text(ch), rows_used=ch.rows_used, rows_dropped=ch.rows_dropped, note=ch.ordered_note,
        table=table_spec(ceiling_table(ch), "Ceiling-aware checks of the bend.", "tbl-ceiling"), checks=ch)


def size_check(a: SatisfactionAnalysis) -> ReportSection:
    """Rejection rates of the naive and calibrated tests under the fitted straight line."""
    s = a.size
    if not s.computed:
        return _not_computed(s, size=None)
    return _section(s.source, results={"flat_zone_size_check": s.size},
                    text=text.size_text(s.size, s.confidence, s.alpha), rows_used=s.rows_used,
                    rows_dropped=s.rows_dropped, size=s.size)


# ---------------------------------------------------------------- the top-box view

def top_box(a: SatisfactionAnalysis) -> ReportSection:
    """Share giving the top 'choose again' answer and share of promoters at each rounded SAT level."""
    t = a.top_box
    return _section(t.source, results={"top_box_by_level": t.top_levels, "promoter_by_level": t.promoter_levels},
                    rows_used=t.rows_used, rows_dropped=t.rows_dropped, shares=t)


def jones_sasser(a: SatisfactionAnalysis) -> ReportSection:
    """Jones-Sasser ratio for top-box 'choose again' and, when behaviour is observed, for repurchase."""
    j, p = a.jones_sasser, a.params
    if not j.computed:
        return _not_computed(j, top_box=None, repurchase=None)
    return _section(j.source, results=_record([("jones_sasser_top_box", j.top_box),
                                               ("jones_sasser_repurchase", j.repurchase)]),
                    text=text.jones_sasser_text(j.top_box, j.repurchase, p.completely_satisfied_min, p.satisfied_min,
                                                p.top_box_min, p.confidence, p.scale_of("choose_again").high),
                    rows_used=j.rows_used, rows_dropped=j.rows_dropped, top_box=j.top_box, repurchase=j.repurchase)


def nps(a: SatisfactionAnalysis) -> ReportSection:
    """NPS by satisfaction band on a 0-10 / 1-10 recommendation item; a net top-box score on any other scale."""
    n, p = a.nps, a.params
    if not n.computed:
        return _not_computed(n, bands=None, score=None)
    score = n.score
    name = "NPS" if score.is_nps else "net top-box score"
    key = "nps" if score.is_nps else "net_top_box"
    display = n.shown[["band", "n", "promoters", "passives", "detractors", "nps", "ci_lower", "ci_upper"]].rename(
        columns={"nps": "NPS" if score.is_nps else "net score"})
    caption = (f"{name[0].upper() + name[1:]} by satisfaction band: top answers ≥ {p.promoter_min:g} minus "
               f"bottom answers ≤ {p.detractor_max:g} on the {score.scale} recommendation item (percent and "
               f"points, {ci_label(p.confidence)}).")
    return _section(n.source, results={f"{key}_overall": score.overall, f"{key}_by_band": n.table},
                    text=text.net_score_text(score), rows_used=n.rows_used, rows_dropped=n.rows_dropped,
                    table=table_spec(display, caption, "tbl-nps", 1), bands=n.shown, score=score)


# ---------------------------------------------------------------- the trap in counts

def trap(a: SatisfactionAnalysis) -> ReportSection:
    """The satisfied who would not choose again, the would-be defectors who are satisfied, and (with
    observed behaviour) the actual defectors who were satisfied."""
    t, p = a.trap, a.params
    if not t.computed:
        return _not_computed(t, intention=None, behaviour=None)
    tables = [t.intention.table().assign(basis="would not choose again")]
    if t.behaviour is not None:
        tables.append(t.behaviour.table().assign(basis="defected"))
    table = (tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True))[TRAP_COLUMNS]
    caption = (f"Trap counts: satisfied means SAT ≥ {p.satisfied_min:g}; a would-be defector answers "
               f"{p.would_not_choose_again_max:g} or less to 'would choose again' ({ci_label(p.confidence)}, "
               "Wilson). A share of no one is shown as –.")
    return _section(t.source, results=_record([("trap_intention", t.intention), ("trap_behaviour", t.behaviour)]),
                    text=text.trap_text(t.intention, t.behaviour, p.confidence), rows_used=t.rows_used,
                    rows_dropped=t.rows_dropped, table=table_spec(table, caption, "tbl-trap",
                                                                  {"estimate": 3, "ci_lower": 3, "ci_upper": 3},
                                                                  percent=("estimate", "ci_lower", "ci_upper")),
                    intention=t.intention, behaviour=t.behaviour)


# ---------------------------------------------------------------- basic versus potential expectations

def attributes(a: SatisfactionAnalysis) -> ReportSection:
    """Penalty-reward analysis and Kano classes of the attributes (or of a simulated market's)."""
    r, p = a.attributes, a.params
    if not r.computed:
        return _not_computed(r)
    pr = r.table
    caption = (f"Penalty-reward analysis of {r.outcome_label} in {r.data_label}: poor = score ≤ {r.low_max:g}, "
               f"excellent = score ≥ {r.high_min:g}; asymmetry = reward + penalty with its two-sided p-value.")
    if r.source == "simulated":
        caption = simulated_caption(caption)
    heading = simulated_heading("basic and potential expectations in a simulated market") if r.illustration else None
    shown = pr[["label", "penalty", "reward", "asymmetry", "asymmetry_p", "kano_class"]]
    return _section(r.source, results={"penalty_reward": pr, "kano_classes": pr["kano_class"].value_counts().to_dict(),
                                       "attribute_cutoffs": {"low_max": r.low_max, "high_min": r.high_min}},
                    text=kano_summary(pr, p.alpha, r.outcome_label), heading=heading,
                    table=table_spec(shown, caption, "tbl-penalty-reward", {"asymmetry_p": 3}),
                    rows_used=r.rows_used, rows_dropped=r.rows_dropped, outcome_label=r.outcome_label, pr=pr,
                    curves=r.curves, kano=r.kano, labels=r.labels)


# ---------------------------------------------------------------- loyalty types

def loyalty_types(a: SatisfactionAnalysis) -> ReportSection:
    """Dick & Basu's loyalty types and Jones & Sasser's apostle map."""
    t, p = a.loyalty_types, a.params
    if not t.computed:
        return _not_computed(t)
    table = pd.concat([t.dick_basu.assign(framework="Dick & Basu"), t.apostles.assign(framework="Jones & Sasser")])
    caption = (f"Loyalty types in {t.label}: high attitude = 'would choose again' ≥ {t.attitude_min:g}, "
               f"satisfied = SAT ≥ {t.satisfied_min:g}, repeat = repurchased ({ci_label(p.confidence)}, Wilson).")
    heading = simulated_heading("loyalty types in a simulated market") if t.illustration else None
    if t.illustration:
        caption = simulated_caption(caption)
    return _section(t.source, results={"dick_basu": t.dick_basu, "apostle_map": t.apostles}, heading=heading,
                    text=text.loyalty_types_text(t.dick_basu, t.apostles, t.label),
                    table=table_spec(table[LOYALTY_TYPE_COLUMNS], caption, "tbl-loyalty-types",
                                     {"share": 3, "ci_lower": 3, "ci_upper": 3}),
                    rows_used=t.rows_used, rows_dropped=t.rows_dropped, dick_basu=t.dick_basu, apostles=t.apostles,
                    source_label=t.label)


def loyalty_sources(a: SatisfactionAnalysis) -> ReportSection:
    """The six simulated loyalty sources on the apostle map (a simulated illustration only)."""
    s = a.loyalty_sources
    if not s.computed:
        return _not_computed(s, positions=None)
    return _section(s.source, results={"loyalty_source_positions": s.positions},
                    heading=simulated_heading("six sources of loyalty on the satisfaction-retention map"),
                    rows_used=s.rows_used, positions=s.positions, overall_retention=s.overall_retention,
                    satisfied_min=s.satisfied_min)


# ---------------------------------------------------------------- switching cost

def switching_cost(a: SatisfactionAnalysis) -> ReportSection:
    """Loyalty on satisfaction for respondents with a low and a high switching cost (the survey's item)."""
    s, p = a.switching_cost, a.params
    if not s.computed:
        return _not_computed(s, result=None)
    result = s.result
    caption = (f"{result.outcome_label.capitalize()} by switching cost (high = {p.switching_cost_high_min:g} or "
               f"more on the switching-cost item) and satisfaction (satisfied = SAT ≥ {p.satisfied_min:g}), "
               f"{ci_label(p.confidence)}.")
    return _section(s.source, results={"switching_cost_by_satisfaction": result},
                    text=text.switching_cost_text(result), rows_used=s.rows_used, rows_dropped=s.rows_dropped,
                    table=table_spec(result.table, caption, "tbl-switching-data",
                                     {"outcome": 3, "ci_lower": 3, "ci_upper": 3}), result=result)


def switching_cost_removed(a: SatisfactionAnalysis) -> ReportSection:
    """The simulated monopoly with and without its switching cost (a simulated illustration only)."""
    r = a.switching_cost_removal
    if not r.computed:
        return _not_computed(r, removal=None)
    caption = simulated_caption("Retention in the simulated monopoly market with its switching cost and with the "
                                "switching cost removed (the same customers and answers; "
                                f"{ci_label(a.params.confidence)}, Wilson).")
    return _section(r.source, results={"switching_cost_removal": r.removal["table"]},
                    heading=simulated_heading("removing the switching cost of a monopoly"),
                    text=text.switching_cost_removal_text(r.removal["table"], r.satisfied_min), rows_used=r.rows_used,
                    table=table_spec(r.removal["table"], caption, "tbl-switching",
                                     {"retention": 3, "ci_lower": 3, "ci_upper": 3}), removal=r.removal)


# ---------------------------------------------------------------- market competitiveness

def competitiveness(a: SatisfactionAnalysis) -> ReportSection:
    """Retention and stated intention by satisfaction in simulated competitive, intermediate and monopoly markets."""
    m = a.markets
    if not m.computed:
        return _not_computed(m, curves=None, stated=None)
    return _section(m.source, results={"competitiveness_retention": m.curves, "scenario_true_curves": m.truth},
                    heading=simulated_heading("market competitiveness"),
                    text=text.competitiveness_text(m.curves, m.satisfied_min, m.completely_satisfied_min, m.top),
                    rows_used=m.rows_used, curves=m.curves, stated=m.stated)


# ---------------------------------------------------------------- the one-line finding

def finding(a: SatisfactionAnalysis) -> str:
    """One line for the index page: the bend as the ceiling verdict reads it, then the satisfaction trap."""
    return text.finding_text(a.curve.broken, a.checks, a.trap, a.params.satisfied_min)


# ---------------------------------------------------------------- what drives satisfaction and loyalty

def measurement_table(d) -> pd.DataFrame:
    """Per construct: mode, items, α, ρ_A, ρ_C, AVE and its largest HTMT with another construct."""
    q = d.quality.reset_index()
    htmt = d.fit.htmt()
    largest = [htmt[c].drop(index=c).max() for c in q["construct"]]
    partner = [htmt[c].drop(index=c).idxmax() if htmt[c].drop(index=c).notna().any() else "" for c in q["construct"]]
    return q.assign(htmt_max=largest, htmt_with=partner)[
        ["construct", "mode", "items", "cronbach_alpha", "rho_a", "rho_c", "ave", "htmt_max", "htmt_with"]]


def drivers(a: SatisfactionAnalysis) -> ReportSection:
    """The structural model (PLS-SEM) of the survey: paths, R², measurement quality, IPMA and prediction."""
    d = a.drivers
    if d.failure is not None:
        return _as_report(failed("the PLS path model", "Wold's iterations from unit weights", d.failure,
                                 rows_used=d.rows_used))
    if not d.computed:
        return _not_computed(d)
    fit, ci = d.fit, ci_label(d.confidence)
    measurement = measurement_table(d)
    paths = d.paths.reset_index(names="path")
    paths = paths[["path", "estimate", "std_error", "lower", "upper", "bca_lower", "bca_upper", "f_squared"]]
    ipma = {t: m.reset_index() for t, m in d.ipma.items()}
    broken = a.curve.broken if a.curve is not None else None
    results = {
        "scheme": fit.scheme, "respondents": fit.nobs, "bootstrap_resamples": d.resamples,
        "bootstrap_failed": fit.bootstrap.failed, "iterations": fit.iterations,
        "satisfaction_construct": d.satisfaction, "loyalty_construct": d.loyalty,
        "paths": {r["path"]: {k: r[k] for k in paths.columns if k != "path"} for _, r in paths.iterrows()},
        "r_squared": {k: {"estimate": r["estimate"], "lower": r["lower"], "upper": r["upper"]}
                      for k, r in d.r_squared.iterrows()},
        "total_effects": {k: {"estimate": r["estimate"], "lower": r["lower"], "upper": r["upper"]}
                          for k, r in d.totals.iterrows()},
        "outer_weights": {f"{c}: {i}": v for (c, i), v in fit.outer_weights.items()},
        "loadings": {f"{c}: {i}": v for (c, i), v in fit.loadings.items()},
        "measurement": measurement, "htmt": d.htmt.reset_index(names="pair"),
        "ipma": {t: m for t, m in ipma.items()}, "priority_driver": d.priority,
        "plspredict": d.prediction.reset_index(),
        "satisfaction_loyalty_path": d.paths.loc[f"{d.satisfaction} -> {d.loyalty}"].to_dict()
        if f"{d.satisfaction} -> {d.loyalty}" in d.paths.index else None,
        "curve_breakpoint": None if broken is None else broken.breakpoint,
    }
    shown = paths.assign(path=paths["path"].str.replace(" -> ", " → ", regex=False))
    tables = [
        table_spec(shown, f"Path coefficients (standardised) with bootstrap standard errors, percentile and BCa "
                          f"{ci}s from {d.resamples:,} resamples, and effect sizes f².", "tbl-paths", 3),
        table_spec(measurement, "Measurement quality: Cronbach's α, ρ_A, composite reliability ρ_C and AVE per "
                                "construct (reflective constructs; a single item is its own measure), and the "
                                "largest heterotrait–monotrait ratio (HTMT) with another construct (a single item's "
                                "monotrait mean taken as 1).", "tbl-measurement", 3),
    ]
    verdict = a.checks.verdict if a.checks is not None else None
    return _section(d.source, results={"structural_model": _record(results.items())},
                    text=text.drivers_text(d, broken, verdict),
                    rows_used=d.rows_used, rows_dropped=d.rows_dropped, drivers=d, tables=tables)


def lead(a: SatisfactionAnalysis) -> Lead:
    """The report's findings first (`crmresearch.sections.Lead`), from the computed analysis."""
    shown = [s for s in (curve(a), trap(a)) if s is not None]
    d = a.drivers
    driver = text.driver_lead(d) if d is not None and d.failure is None and d.computed else None
    p = a.params
    top = (text.top_box_lead(a.jones_sasser.top_box, p.completely_satisfied_min, p.satisfied_min, p.confidence,
                             p.top_box_min, p.scale_of("choose_again").high)
           if a.jones_sasser is not None and a.jones_sasser.computed else None)
    score = text.net_score_lead(a.nps.score) if a.nps is not None and a.nps.computed else None
    sentences = text.lead_sentences(text.bend_text(a.curve.broken if a.curve is not None else None, a.checks),
                                    a.trap, p.satisfied_min, p.confidence, driver, [top, score])
    return Lead(sentences, lead_kind(*shown))
