"""The contractual report's sections (see `crmresearch.sections`): each function takes the
`ContractualAnalysis` that `contractual.analyse` computed and returns a `Section` (numbers for
results.json, a table, sentences from `contractual.text`, the source of its numbers and the rows
used). Nothing here fits a model or draws a random number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sections import Lead, Section, failed, lead_kind, not_computed, simulated_heading, table_spec
from . import text
from .analyse import ContractualAnalysis, converged_fits, mean_churn, sorting_summary
from .data import PUBLISHED_FADER_HARDIE_2007


def failed_note(fits: dict) -> str | None:
    """Which segments' models did not fit, what failed and what was tried."""
    bad = {k: f for k, f in fits.items() if not f.converged}
    if not bad:
        return None
    return "; ".join(f"{k}: the {f.name} did not fit ({f.reason.split(' Estimates reached')[0].rstrip('.')}); tried "
                     f"{f.tried if f.starts else 'nothing, the data cannot identify it'}" for k, f in bad.items())


# ------------------------------------------------------------------ the sBG

def sbg(a: ContractualAnalysis) -> Section:
    """sBG estimates per segment with SEs and intervals, next to the published values when published."""
    segments, fits, confidence = a.retention, a.fits, a.params.confidence
    good = converged_fits(fits)
    if not good:
        bad = next(iter(fits.values()))
        return failed("the sBG", bad.tried, bad.reason, rows_used=segments.customers)
    published = PUBLISHED_FADER_HARDIE_2007["estimates"] if segments.source == "published" else {}
    tables = []
    for name, fit in good.items():
        table = fit.table(confidence, published.get(name))
        if segments.truth and name in segments.truth:
            table["true_value"] = list(segments.truth[name])
        table.insert(0, "segment", name)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    fit_stats = pd.DataFrame([{"segment": k, "customers": f.nobs, "loglike": f.llf,
                               "published_loglike": published.get(k, {}).get("loglike", np.nan),
                               "mean_churn": mean_churn(f.theta)} for k, f in good.items()])
    section = Section(results={"sbg_parameters": table, "sbg_fit": fit_stats},
                      text=text.sbg_text(table, fit_stats, confidence), source=segments.source,
                      rows_used=segments.customers, note=failed_note(fits),
                      heading=segments.heading("the sBG fitted to each tier"))
    shown = table.rename(columns={"std_error": "std. error", "ci_lower": "lower", "ci_upper": "upper"})
    section.table = table_spec(shown, segments.caption(
        f"sBG estimates by {segments.kind} with standard errors and {confidence:.0%} intervals (log scale, back-transformed)"
        + (", next to Fader & Hardie's (2007) published values." if published else
           ", next to the values the simulation used." if segments.truth else ".")),
        label="tbl-sbg", decimals=3)
    return section


# ------------------------------------------------------------------ projection and sorting

def projection(a: ContractualAnalysis) -> Section:
    """Observed and projected survival and retention with parametric intervals, and the mean churn
    probability among survivors (heterogeneity sorting)."""
    segments, confidence = a.retention, a.params.confidence
    if a.projection is None:
        return not_computed("no segment's sBG fitted, so nothing can be projected.", rows_used=segments.customers)
    sorting = sorting_summary(a.projection)
    choice = {k: c.as_dict() for k, c in a.choice.items()}
    return Section(results={"projection": a.projection, "heterogeneity_sorting": sorting, "model_choice": choice},
                   text=text.projection_text(sorting, confidence, choice), source=segments.source,
                   rows_used=segments.customers, note=failed_note(a.fits),
                   heading=segments.heading("survival and retention projected"),
                   table=table_spec(sorting, segments.caption(
                       "Retention at the first renewal, the last observed one and the end of the projection (past the "
                       f"data), by each {segments.kind}'s chosen model, with {confidence:.0%} intervals, and the mean "
                       "churn probability of those still there."),
                       label="tbl-sorting", decimals={"retention": 3, "retention_lower": 3, "retention_upper": 3,
                                                      "mean_churn_survivors": 3, "survival": 3}))


# ------------------------------------------------------------------ duration dependence

def duration(a: ContractualAnalysis) -> Section:
    """BdW estimates and the likelihood-ratio test of c = 1 per segment."""
    segments, table = a.retention, a.duration_tests
    if table is None:
        return not_computed("no segment's sBG fitted, so the BdW comparison has no baseline.")
    return Section(results={"bdw_tests": table},
                   text=text.duration_text(table, 1 - a.params.confidence, segments.kind), source=segments.source,
                   rows_used=segments.customers, note=failed_note(a.bdw_fits),
                   heading=segments.heading("duration dependence (BdW against sBG)"),
                   table=table_spec(table[["segment", "c", "loglike_sbg", "loglike_bdw", "statistic", "p_value"]],
                                    segments.caption("Beta-discrete-Weibull against the sBG: estimated c, log-likelihoods "
                                                     "and the likelihood-ratio test of c = 1 (χ², 1 df)."),
                                    label="tbl-bdw", decimals={"c": 3, "loglike_sbg": 2, "loglike_bdw": 2,
                                                               "statistic": 2, "p_value": 4}))


def size_check(a: ContractualAnalysis) -> Section:
    """Size of the LR test: cohorts simulated under a fitted sBG (a simulated check)."""
    size = a.lr_test_size
    if size is None:
        return not_computed("no sBG fitted, so there is no null model to simulate from.")
    return Section(results={"lr_test_size": size}, text=text.size_text(size, a.params.confidence), source="simulated",
                   rows_used=size["cohorts"] * size["cohort_size"], heading=simulated_heading("size of the BdW-vs-sBG test"),
                   note=f"{size['failed_fits']} simulated cohorts dropped because a fit failed" if size["failed_fits"] else None)


# ------------------------------------------------------------------ intervals and coverage

def intervals(a: ContractualAnalysis) -> Section:
    """Parametric and bootstrap intervals for the projected survival at the end of the projection."""
    segments, table, confidence = a.retention, a.survival_intervals, a.params.confidence
    if table is None:
        return not_computed("no sBG fitted, so there is nothing to put an interval on.")
    return Section(results={"survival_intervals": table}, text=text.interval_text(table, confidence),
                   source=segments.source, rows_used=segments.customers,
                   heading=segments.heading("parametric and bootstrap intervals"),
                   table=table_spec(table, segments.caption(
                       f"Projected survival at the end of the projection with {confidence:.0%} intervals: "
                       "parametric (parameter draws) and customer bootstrap (re-fits)."), label="tbl-intervals",
                       decimals={"estimate": 3, "lower": 3, "upper": 3}))


def coverage(a: ContractualAnalysis) -> Section:
    result = a.coverage
    if result is None:
        return not_computed("no sBG fitted, so there is no truth to simulate from.")
    return Section(results={"coverage_check": result}, text=text.coverage_text(result), source="simulated",
                   rows_used=result["replications"] * result["cohort_size"],
                   heading=simulated_heading("do the intervals cover the truth?"))


# ------------------------------------------------------------------ value by tier and the programme

def value(a: ContractualAnalysis) -> Section:
    """DERL and residual value per tier (Fader & Hardie 2010) with parametric intervals, and the
    revenue concentration of the subscribers."""
    segments, params, values = a.valuation, a.params, a.tier_values
    if values is None:
        return not_computed("no tier with a fitted model has active customers to value.", rows_used=segments.customers)
    good = converged_fits(a.value_fits)
    table, total = values.table.copy(), values.total          # a section never changes the analysis
    table.insert(1, "model", [good[t].name for t in table["tier"]])
    results = {"tier_values": table, "total_value": total,
               "valuation_models": {k: {"model": f.name, "params": f.params.to_dict(), "bse": f.bse.to_dict(),
                                        "loglike": f.llf, "customers": f.nobs,
                                        "why": a.value_choice[k].reason} for k, f in good.items()}}
    if values.concentration is not None:
        results["revenue_concentration"] = values.concentration
    shown = table[["tier", "model", "customers", "customer_share", "revenue_share", "mean_churn", "mean_derl",
                   "value_per_customer", "residual_value", "value_lower", "value_upper", "value_share"]]
    note = failed_note(a.value_fits)
    sentences = text.value_text(table, total, results.get("revenue_concentration"), segments.kind)
    return Section(results=results, text=sentences + (f" *Not valued:* {note}." if note else ""),
                   source=segments.source, rows_used=segments.customers, note=note,
                   heading=segments.heading("what the active customers are worth, by tier"),
                   table=table_spec(shown, segments.caption(
                       f"Active customers by {segments.kind}: mean churn per period, mean DERL (discounted expected "
                       f"residual lifetime, discount rate {params.discount_rate:.0%} per period), residual value with "
                       f"{params.confidence:.0%} parametric intervals and shares."), label="tbl-value",
                       decimals={"customer_share": 3, "revenue_share": 3, "mean_churn": 3, "mean_derl": 2,
                                 "value_per_customer": 1, "residual_value": 0, "value_lower": 0, "value_upper": 0,
                                 "value_share": 3}))


def programme(a: ContractualAnalysis) -> Section:
    """The effect of a retention programme that lowers one tier's mean churn, against its cost and
    against acquiring new customers worth as much."""
    segments, prog = a.valuation, a.programme
    if prog.effect is None:
        return not_computed(prog.reason)
    return Section(results={"retention_programme": prog.effect, "programme_derl": prog.derl_curve},
                   text=text.programme_text(prog.effect), source=segments.source, rows_used=segments.customers,
                   note=failed_note(a.value_fits),
                   heading=segments.heading(f"a retention programme for the {prog.tier} {segments.kind}"))


# ------------------------------------------------------------------ BG/BB

def donations(a: ContractualAnalysis) -> Section:
    """BG/BB on the shipped donations data against Fader, Hardie & Shang's (2010) published fit."""
    d, params = a.donations, a.params
    if d is None:
        return not_computed("the parameters give no discrete-time data (a `discrete:` block).")
    fit, w = d.fit, d.donors
    if not fit.converged:
        return failed("the BG/BB", fit.tried, fit.reason, rows_used=int(w.sum()))
    pub = a.published_donations if d.published else None
    table = fit.table(params.confidence, pub)
    fit_info = {"params": fit.params.to_dict(), "bse": fit.bse.to_dict(), "loglike": fit.llf, "data": d.name,
                "donors": int(w.sum()), "periods": int(d.periods.max()), "published": pub}
    what = "the donations data" if d.published else f"the discrete-time data ({d.name})"
    return Section(results={"bgbb_fit": fit_info, "bgbb_parameters": table, "bgbb_customers": d.per_pattern,
                            "bgbb_histogram": d.histogram, "bgbb_totals": d.totals},
                   text=text.bgbb_text(fit_info, d.totals), source="published" if d.published else "data",
                   rows_used=int(w.sum()),
                   table=table_spec(table.rename(columns={"std_error": "std. error", "ci_lower": "lower", "ci_upper": "upper"}),
                                    f"BG/BB estimates on {what} with {params.confidence:.0%} intervals"
                                    + (", next to Fader, Hardie & Shang's (2010) published values." if pub else "."),
                                    label="tbl-bgbb", decimals=3))


def finding(projection_section: Section, value_section: Section) -> str:
    """One line for the index page, from the computed results."""
    return text.finding(projection_section.results, value_section.results.get("total_value"))


def lead(a: ContractualAnalysis) -> Lead:
    """The report's findings first (`crmresearch.sections.Lead`), from the computed sections."""
    proj, val, prog = projection(a), value(a), programme(a)
    sorting = proj.results.get("heterogeneity_sorting") if proj.computed else None
    choice = proj.results.get("model_choice", {}) if proj.computed else {}
    sentences = text.lead_sentences(sorting, choice, val.results.get("total_value") if val.computed else None,
                                    prog.results.get("retention_programme") if prog.computed else None,
                                    a.retention.kind)
    return Lead(sentences, lead_kind(proj, val))
