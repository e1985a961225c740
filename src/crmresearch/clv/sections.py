"""The CLV report's sections (see `crmresearch.sections`): each function takes the `ClvAnalysis` that
`clv.analyse` computed and returns a `Section` (numbers for results.json, a table, sentences from
`clv.text`, the source of its numbers and the rows used), or a subclass carrying what its figure
draws. Nothing here fits a model or draws a random number.

A model that did not converge becomes a "failed" section saying what failed and what was tried;
the sections that need it say they were not computed (`analyse.Skipped`), and everything else
uses only the models that did fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from .. import sections as sec
from ..sections import Lead, Section, lead_kind, table_spec
from . import text
from .analyse import ClvAnalysis, Skipped
from .fits import FitSet, fit_record, interval_columns, slug

DWYER_NOTE = ("Dwyer's (1989) worked example: the cohort and retention path of the parameter file; revenue, "
              "costs, acquisition cost and discount rate are stated assumptions, not data")
DWYER_OBSERVED_NOTE = ("Dwyer's (1989) tables measured on the report's own log: the cohort of the first {unit}, its "
                       "retention, revenue and return rates as observed; costs follow the report's margin, and the "
                       "log holds no acquisition cost")


def dwyer_source(a: ClvAnalysis) -> tuple[str, str, int]:
    """(source, note, rows) of the Dwyer sections: a stated example, or the report's own cohort."""
    tables = a.dwyer
    if tables["kind"] == "assumed":
        return "published", DWYER_NOTE, int(a.params.dwyer.cohort_size)
    return a.data.source, DWYER_OBSERVED_NOTE.format(unit=tables["unit"]), int(tables["observed"]["retained"].iloc[0])


def skipped(part: Skipped, kind=Section, **extra) -> Section:
    """The section of a part that was not computed, as a `kind` (a Section subclass)."""
    return kind(**vars(sec.not_computed(part.reason, rows_used=part.rows_used)), **extra)


# ---------------------------------------------------------------- Dwyer's worked example

def dwyer_display(table: pd.DataFrame, unit: str = "year") -> pd.DataFrame:
    names = {"year": unit, "retention_rate": "retention", "customers": "customers", "buyers": "buyers",
             "reachable": "reachable", "revenue": "revenue", "costs": "costs", "profit": "profit",
             "discount_factor": "discount factor", "npv_profit": "NPV of profit", "cumulative_npv": "cumulative NPV",
             "clv_per_customer": "cumulative NPV per acquired customer"}
    return table.rename(columns=names)


def uplift_display(uplift: dict) -> pd.DataFrame:
    rows = [("retention rise (points)", uplift["uplift_points"]),
            ("cohort NPV, retention path", uplift["npv_base"]),
            ("cohort NPV, raised retention", uplift["npv_raised"]),
            ("CLV per acquired customer, retention path", uplift["clv_base"]),
            ("CLV per acquired customer, raised retention", uplift["clv_raised"]),
            ("change in cohort NPV (%)", uplift["npv_change_pct"]),
            ("change in undiscounted profit (%)", uplift["undiscounted_profit_change_pct"]),
            ("extra customers to acquire for the same gain", uplift["equivalent_new_customers"]),
            ("cost of acquiring them", uplift["equivalent_acquisition_spend"])]
    return pd.DataFrame(rows, columns=["quantity", "value"])


@dataclass
class DwyerSection(Section):
    frames: dict = field(default_factory=dict)   # retention, raised, migration, uplift, markov_check


def dwyer_retention(a: ClvAnalysis) -> DwyerSection:
    """Dwyer's retention table: measured on the report's own log (with the fitted model's retention
    path beside the observed one), or a worked example on the parameter file's stated assumptions."""
    if isinstance(a.dwyer, Skipped):
        return skipped(a.dwyer, DwyerSection)
    tables = a.dwyer
    unit = tables["unit"]
    source, note, rows = dwyer_source(a)
    retention = tables["retention"]
    shown = dwyer_display(retention, unit)[[unit, "retention", "customers", "revenue", "costs", "profit",
                                            "NPV of profit", "cumulative NPV per acquired customer"]]
    results = {"dwyer_table": retention, "dwyer_kind": tables["kind"]}
    if tables["kind"] == "observed":
        observed = tables["observed"]
        results["dwyer_observed"] = observed
        if "model_retention" in observed:
            shown.insert(2, "BG/NBD retention", observed["model_retention"].to_numpy())
        caption = (f"Dwyer's retention table measured on the log: the customers who first bought in the first {unit}, "
                   f"{unit} by {unit}; retention counts those who bought in every {unit} so far"
                   + (", next to the same path for a cohort simulated from the fitted BG/NBD" if "model_retention" in observed
                      else "") + "; costs from the report's margin.")
    else:
        caption = ("Dwyer's retention table, a worked example on stated assumptions: the cohort year by year (money in "
                   "the currency of the revenue assumption).")
    table = table_spec(shown, caption, label="tbl-dwyer",
                       decimals={"retention": 2, "BG/NBD retention": 2, "customers": 0, "revenue": 0, "costs": 0,
                                 "profit": 0, "NPV of profit": 0, "cumulative NPV per acquired customer": 2})
    return DwyerSection(results, text.retention_text(retention, tables["uplift"], unit, tables.get("observed")), table,
                        source=source, rows_used=rows, note=note, frames=tables)


def dwyer_uplift(a: ClvAnalysis) -> Section:
    """What a rise in retention is worth for the cohort (measured or stated)."""
    if isinstance(a.dwyer, Skipped):
        return skipped(a.dwyer)
    uplift = {**a.dwyer["uplift"], "unit": a.dwyer["unit"], "kind": a.dwyer["kind"]}
    source, note, rows = dwyer_source(a)
    table = table_spec(uplift_display(uplift), "What a rise in retention is worth for the cohort.",
                       label="tbl-uplift", decimals={"value": 2})
    return Section({"dwyer_uplift": uplift}, text.uplift_text(uplift), table, source=source, rows_used=rows, note=note)


def dwyer_migration(a: ClvAnalysis) -> Section:
    """Dwyer's migration table, checked against the Markov-chain value of the same recency chain."""
    if isinstance(a.dwyer, Skipped):
        return skipped(a.dwyer)
    unit = a.dwyer["unit"]
    migration, markov = a.dwyer["migration"], a.dwyer["markov_check"]
    source, note, rows = dwyer_source(a)
    probs = ", ".join(f"{p:.0%}" for p in a.dwyer["migration_probability"])
    table = table_spec(dwyer_display(migration, unit)[[unit, "buyers", "reachable", "revenue", "profit",
                                                       "NPV of profit", "cumulative NPV per acquired customer"]],
                       f"Dwyer's migration table: buyers per {unit} when customers who skipped a {unit} may return "
                       f"(purchase probability by {unit}s since the last purchase"
                       + (", as observed" if a.dwyer["kind"] == "observed" else "") + f": {probs}).",
                       label="tbl-migration",
                       decimals={"buyers": 0, "reachable": 0, "revenue": 0, "profit": 0, "NPV of profit": 0,
                                 "cumulative NPV per acquired customer": 2})
    return Section({"dwyer_migration_table": migration, "dwyer_migration_markov_check": markov},
                   text.migration_text(migration, a.dwyer["retention"], markov, unit), table, source=source,
                   rows_used=rows, note=note)


# ---------------------------------------------------------------- frequency, recency, T

RFM_LABELS = {"customers": "customers in the cohort", "transaction_rows": "rows in the transaction log",
              "repeat_buyers": "customers with a repeat purchase in calibration",
              "share_no_repeat": "share with no repeat purchase in calibration",
              "calibration_repeat_transactions": "repeat purchases in calibration",
              "holdout_repeat_transactions": "purchases in the holdout period",
              "mean_frequency": "mean repeat purchases per customer (x)",
              "mean_repeat_spend": "mean value of repeat purchases (repeat buyers)"}


def _shown_value(key: str, value):
    """A value of the overview table as the text states it: shares in percent."""
    if value is None:
        return "undefined (no repeat buyer)"
    return f"{100 * value:.1f}%" if key.startswith("share_") else value


def rfm_overview_display(overview: dict) -> pd.DataFrame:
    # object dtype keeps counts as integers in the displayed table
    return pd.DataFrame([(RFM_LABELS[k], _shown_value(k, v)) for k, v in overview.items() if k in RFM_LABELS],
                        columns=["quantity", "value"], dtype=object)


def rfm(a: ClvAnalysis) -> Section:
    """The calibration cohort (transaction log) or, for a discrete-time summary, its customers and periods."""
    data, overview = a.data, a.overview.values
    if data.discrete is not None:
        shown = pd.DataFrame([("customers", overview["customers"]), ("distinct (x, t_x, n) patterns", overview["unique_rows"]),
                              ("chances to buy (periods)", overview["periods"]),
                              ("share with no transaction", _shown_value("share_", overview["share_no_transaction"])),
                              ("transactions", overview["transactions"]),
                              ("mean transactions per customer (x)", overview["mean_frequency"])],
                             columns=["quantity", "value"], dtype=object)
        return Section({"discrete_overview": overview}, text.discrete_overview_text(overview),
                       table_spec(shown, "The discrete-time summary: customers and their transactions.",
                                  label="tbl-rfm", decimals={"value": 3}),
                       source=data.source, rows_used=overview["customers"])
    window, dropped = a.overview.window, a.overview.dropped
    table = table_spec(rfm_overview_display(overview), "The calibration cohort and its purchases.",
                       label="tbl-rfm", decimals={"value": 2})
    return Section({**overview, "window_weeks": {k: v for k, v in window.items() if k.endswith("weeks")},
                    "windows": data.windows.as_dict() if data.windows is not None else None, "engine": data.engine},
                   text.rfm_text(overview, window), table, source=data.source, rows_used=overview["customers"],
                   rows_dropped={k: v for k, v in dropped.items() if v})


# ---------------------------------------------------------------- the models

def model_section(name: str, fits: FitSet, source: str) -> Section:
    """One model's own section: fitted (its numbers), failed (what failed, what was tried) or not asked for."""
    key = f"fit_{slug(name)}"
    if name in fits:
        fit = fits[name]
        return Section({key: fit_record(fit)}, source=source, rows_used=fit.nobs)
    if name in fits.failed:
        failure = fits.failed[name]
        section = sec.failed(name, failure.tried if failure.starts else "no fit (the data cannot support the model)",
                             failure.reason, rows_used=failure.nobs)
        section.results = {key: failure.as_dict()}
        return section
    return sec.not_computed(fits.skipped.get(name, f"{name} was not fitted"))


def fit_bgnbd(a: ClvAnalysis) -> Section:
    return model_section("BG/NBD", a.fits, a.data.source)


def fit_paretonbd(a: ClvAnalysis) -> Section:
    return model_section("Pareto/NBD", a.fits, a.data.source)


def fit_gamma_gamma(a: ClvAnalysis) -> Section:
    return model_section("Gamma-Gamma", a.fits, a.data.source)


def fit_bgbb(a: ClvAnalysis) -> Section:
    return model_section("BG/BB", a.fits, a.data.source)


@dataclass
class ModelsSection(Section):
    tables: list = field(default_factory=list)


def models(a: ClvAnalysis) -> ModelsSection:
    """Estimates with intervals at the report's confidence and fit statistics of the models that converged."""
    fits, data, confidence = a.fits, a.data, a.params.confidence
    if a.estimates is None:
        what = ", ".join(fits.failed)
        return ModelsSection(text=f"*Model failed:* none of the models converged ({what}); see each model's note.",
                             source="failed", rows_used=data.cohort_customers,
                             note=f"no model converged ({what})")
    reference, label = data.reference, data.reference_label
    table, statistics, comparison = a.estimates.table, a.estimates.statistics, a.estimates.comparison
    lower, upper = interval_columns(confidence)
    shown = table if reference else table.drop(columns="published")
    ref_col = f"{label or 'reference'} value"
    specs = [table_spec(shown.rename(columns={"published": ref_col}),
                        f"Maximum-likelihood estimates with standard errors and {confidence:.0%} intervals"
                        + (f", next to the {label} values." if reference else "."),
                        label="tbl-parameters", decimals={"estimate": 3, "std. error": 3, lower: 3, upper: 3,
                                                          ref_col: 3})]
    specs.append(table_spec(statistics, "Fit statistics (AIC and BIC use the number of customers).",
                            label="tbl-fit", decimals={"log-likelihood": 1, "AIC": 1, "BIC": 1}))
    words = text.parameter_text(fits, comparison, label)
    if fits.failed:
        words += (" " if words else "") + ("Not fitted: " + "; ".join(
            f"{n} ({'no start converged' if f.starts else f.reason})" for n, f in fits.failed.items())
            + ". The tables, forecasts and values below use only the models that converged.")
    results = {"parameters": table, "fit_statistics": statistics}
    if comparison:
        results["reference_comparison"] = comparison
    return ModelsSection(results, words, source=data.source, rows_used=data.cohort_customers, tables=specs)


def spend_frequency(a: ClvAnalysis) -> Section:
    """Gamma-Gamma's assumption: spend per purchase does not depend on how often a customer buys."""
    if isinstance(a.independence, Skipped):
        return skipped(a.independence)
    independence = a.independence
    shown = {**independence, "confidence": a.params.confidence}
    return Section({"spend_frequency_correlation": independence}, text.spend_frequency_text(shown),
                   source=a.data.source, rows_used=independence["n"],
                   rows_dropped={"no repeat purchase in calibration": int(a.data.cohort_customers - independence["n"])})


# ---------------------------------------------------------------- evaluation with uncertainty bands

@dataclass
class BandSection(Section):
    frames: list = field(default_factory=list)     # what the figure draws
    kind: str = ""                                 # "history" | "patterns" | "densities"


def heterogeneity(a: ClvAnalysis) -> BandSection:
    """Densities of the purchase model's mixing distributions, with bands from parameter draws."""
    if isinstance(a.heterogeneity, Skipped):
        return skipped(a.heterogeneity, BandSection)
    model, frames, confidence = a.heterogeneity.model, a.heterogeneity.frames, a.params.confidence
    results = {f"heterogeneity_{'_'.join(f.attrs['parameters'])}": f for f in frames}
    results["heterogeneity_model"] = model.name
    results["heterogeneity_means"] = {f.attrs["label"]: f.attrs["mean"] for f in frames}
    return BandSection(results, text.heterogeneity_text(frames, model.name, confidence), source=a.data.source,
                       rows_used=model.nobs, frames=frames, kind="densities")


@dataclass
class HistogramSection(Section):
    histogram: pd.DataFrame | None = None
    band: pd.DataFrame | None = None          # label, actual, expected, lower, upper (parameter draws)
    unit: str = "repeat purchases in calibration"
    model: str = "BG/NBD"


def histogram(a: ClvAnalysis) -> HistogramSection:
    """Customers by repeat purchases (or transactions) against the model's expectation, with its band."""
    part, data, confidence = a.histogram, a.data, a.params.confidence
    if isinstance(part, Skipped):
        return skipped(part, HistogramSection)
    if data.discrete is not None:
        return HistogramSection({"frequency_histogram_band": part.band, "histogram_draws": part.draws},
                                text.histogram_band_text(part.band, confidence, "BG/BB", part.unit), source=data.source,
                                rows_used=int(data.discrete["count"].sum()), band=part.band, unit=part.unit,
                                model="BG/BB")
    results = {"frequency_histogram": part.histogram, "share_no_repeat_expected": part.expected_share}
    words = text.histogram_text(part.histogram, part.actual_share)
    if part.band is not None:
        results.update(frequency_histogram_band=part.band, histogram_draws=part.draws)
        words += " " + text.histogram_band_text(part.band, confidence, "BG/NBD", "repeat purchases")
    return HistogramSection(results, words, source=data.source, rows_used=data.cohort_customers,
                            histogram=part.histogram, band=part.band)


# ---------------------------------------------------------------- tracking and holdout

@dataclass
class TrackingSection(Section):
    tracking: pd.DataFrame | None = None
    errors: pd.DataFrame | None = None
    calibration_weeks: float = 0.0


def tracking(a: ClvAnalysis) -> TrackingSection:
    """Weekly tracking of repeat purchases, calibration and holdout, against each converged purchase model."""
    if isinstance(a.tracking, Skipped):
        return skipped(a.tracking, TrackingSection)
    table, errors = a.tracking.table, a.tracking.errors
    spec = table_spec(errors, "Forecast against actual cumulative repeat transactions at the last week, and "
                      "holdout-period errors (mean absolute percentage error of the cumulative curve, mean absolute "
                      "error of weekly counts).", label="tbl-tracking-errors",
                      decimals={"weeks": 1, "actual": 0, "forecast": 1, "error (%)": 2,
                                "holdout MAPE, cumulative (%)": 2, "holdout MAE, weekly": 2})
    return TrackingSection({"tracking": table, "tracking_errors": errors}, text.tracking_text(errors), spec,
                           source=a.data.source, rows_used=a.data.cohort_customers, tracking=table, errors=errors,
                           calibration_weeks=a.data.calibration_weeks)


@dataclass
class HoldoutSection(Section):
    by_frequency: pd.DataFrame | None = None
    tables: list = field(default_factory=list)
    band: pd.DataFrame | None = None
    band_model: str | None = None


def holdout(a: ClvAnalysis) -> HoldoutSection:
    """Holdout purchases by calibration frequency (FHL 2005, figure 4) and per-customer errors, with a band."""
    part = a.holdout
    if isinstance(part, Skipped):
        return skipped(part, HoldoutSection)
    check = part.check.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        check["error (%)"] = 100 * (check["predicted total"] - check["actual total"]) / check["actual total"]
    tables = [table_spec(part.by_frequency, "Holdout purchases per customer by calibration frequency.",
                         label="tbl-conditional", decimals=3),
              table_spec(check, "Per-customer holdout forecasts: totals (and the error of the predicted total), "
                         "correlation with the actual counts, and root mean squared error.", label="tbl-holdout",
                         decimals={"actual total": 0, "predicted total": 0, "error (%)": 1, "correlation": 3,
                                   "RMSE": 3})]
    results, words = {"conditional_by_frequency": part.by_frequency, "holdout_check": check}, None
    if part.band is not None:
        results.update(conditional_band=part.band, conditional_band_model=part.band_model)
        words = text.holdout_band_text(part.band, part.band_model, a.params.confidence)
    return HoldoutSection(results, words, source=a.data.source, rows_used=a.data.cohort_customers,
                          by_frequency=part.by_frequency, tables=tables, band=part.band, band_model=part.band_model)


def spend(a: ClvAnalysis) -> Section:
    """Average value of holdout purchases: actual and Gamma-Gamma's expectation."""
    if isinstance(a.spend, Skipped):
        return skipped(a.spend)
    check, bought = a.spend.table, a.spend.bought
    table = table_spec(check, "Average value of holdout purchases: actual and expected, by calibration frequency.",
                       label="tbl-spend", decimals={"actual": 2, "expected": 2})
    return Section({"spend_check": check}, table=table, source=a.data.source, rows_used=bought,
                   rows_dropped={"no purchase in the holdout period": int(a.data.cohort_customers - bought)})


# ---------------------------------------------------------------- what each customer is worth

def top_customers(summary: pd.DataFrame, clv_table: pd.DataFrame, n: int = 10,
                  confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """The n customers with the highest CLV, with short column names that fit a printed page."""
    top = clv_table.sort_index(kind="stable").nlargest(n, "clv")      # ties: smallest customer id
    rfm_part = summary.loc[top.index]
    return pd.DataFrame({
        "customer": top.index.astype(str), "x": rfm_part["frequency"].to_numpy(),
        "t_x": rfm_part["recency"].to_numpy(), "T": rfm_part["T"].to_numpy(),
        "P(alive)": top["p_alive"].to_numpy(), "purchases": top["expected_transactions"].to_numpy(),
        "spend": top["expected_spend"].to_numpy(), "CLV": top["clv"].to_numpy(),
        f"{confidence:.0%} interval": [f"{lo:,.0f}–{hi:,.0f}" for lo, hi in zip(top["clv_lower"], top["clv_upper"])]})


@dataclass
class ClvSection(Section):
    clv_table: pd.DataFrame | None = None
    total: dict | None = None


def clv(a: ClvAnalysis) -> ClvSection:
    """Discounted CLV per customer with delta-method intervals, and the cohort's total."""
    if isinstance(a.clv, Skipped):
        return skipped(a.clv, ClvSection)
    params, table, total = a.params, a.clv.table, a.clv.total
    shown_total = {**total, "confidence": params.confidence, "purchase_model": a.clv.purchase_model}
    interval = f"{params.confidence:.0%} interval"
    scale = a.clv.values                 # a cohort summarised by the engine: figures of the per-customer file
    spec = table_spec(top_customers(a.data.summary, table, 10, params.confidence) if scale is None else scale.top,
                      f"The ten customers with the highest predicted CLV ({params.clv_horizon_weeks / 52:g} years, "
                      f"{params.annual_discount_rate:.0%} a year, margin {params.margin:.0%}): repeat purchases x, "
                      "recency t_x and time observed T in weeks, probability of being active, expected purchases "
                      f"over the horizon, expected spend per purchase, CLV and its {interval}.",
                      label="tbl-top-clv", decimals={"x": 0, "t_x": 1, "T": 1, "P(alive)": 3, "purchases": 2,
                                                     "spend": 2, "CLV": 2})
    if scale is not None:
        results = {"clv_total": total, "clv_purchase_model": a.clv.purchase_model, "mean_p_alive": scale.mean_p_alive,
                   "clv_quantiles": scale.quantiles}
        shares = scale.share_no_repeat
        return ClvSection(results, text.clv_text(shown_total, pd.DataFrame({"clv": [scale.median_clv],
                                                                            "p_alive": [scale.mean_p_alive]}),
                                                 _shares(shares)), spec, source=a.data.source,
                          rows_used=scale.customers, clv_table=scale.sample, total=total)
    results = {"clv_total": total, "clv_purchase_model": a.clv.purchase_model,
               "mean_p_alive": float(table["p_alive"].mean()),
               "clv_quantiles": table["clv"].quantile([0.1, 0.5, 0.9, 0.99]).to_dict()}
    return ClvSection(results, text.clv_text(shown_total, table, a.data.summary["frequency"].reindex(table.index)
                                             if "frequency" in a.data.summary else None), spec, source=a.data.source, rows_used=len(table),
                      clv_table=table, total=total)


def _shares(share_zero: float, resolution: int = 1_000_000) -> np.ndarray:
    """Frequencies whose share of zeros is `share_zero` (to 1e-6), for the sentence that states it."""
    zeros = int(round(share_zero * resolution))
    return np.repeat(np.array([0, 1], np.int8), [zeros, resolution - zeros])


def alive(a: ClvAnalysis) -> BandSection:
    """P(alive) with bands: three chosen customers' histories, or every discrete-time pattern."""
    part, confidence = a.alive, a.params.confidence
    if isinstance(part, Skipped):
        return skipped(part, BandSection)
    if part.kind == "patterns":
        return BandSection({"p_alive_patterns": part.frame}, text.alive_patterns_text(part.frame, confidence),
                           source=a.data.source, rows_used=int(a.data.discrete["count"].sum()), frames=[part.frame],
                           kind="patterns")
    return BandSection({"p_alive_history": part.frame, "p_alive_history_customers": [str(c) for c in part.chosen],
                        "p_alive_history_model": part.model},
                       text.alive_history_text(part.frame, confidence, part.model), source=a.data.source,
                       rows_used=len(part.chosen), frames=[part.frame], kind="history")


# ---------------------------------------------------------------- values with both kinds of interval

@dataclass
class ValueIntervalSection(Section):
    intervals: object = None
    tables: list = field(default_factory=list)


def _customer_rows(table: pd.DataFrame, confidence: float, top: int = 10) -> pd.DataFrame:
    table = table.sort_index(kind="stable")                              # ties: smallest customer id
    pick = table.nlargest(top, "clv") if "clv" in table else table.nlargest(top, "expected_transactions")
    out = pd.DataFrame({"customer": pick.index.astype(str)})
    for q, label in (("p_alive", "P(alive)"), ("expected_transactions", "purchases"), ("clv", "CLV")):
        if q not in pick:
            continue
        digits = 2 if q == "p_alive" else 1 if q == "expected_transactions" else 0
        out[label] = pick[q].to_numpy()
        out[f"{label} param."] = [f"{lo:,.{digits}f}–{hi:,.{digits}f}" for lo, hi in
                                  zip(pick[f"{q}_parametric_lower"], pick[f"{q}_parametric_upper"])]
        if f"{q}_bootstrap_lower" in pick:
            out[f"{label} boot."] = [f"{lo:,.{digits}f}–{hi:,.{digits}f}" for lo, hi in
                                     zip(pick[f"{q}_bootstrap_lower"], pick[f"{q}_bootstrap_upper"])]
    return out


def _discrete_value_intervals(a: ClvAnalysis) -> ValueIntervalSection:
    conf, data = a.params.confidence, a.data
    table, totals, summary = a.values.table, a.values.totals, a.values.summary
    shown = table[["x", "t_x", "n", "customers"]].copy()
    for q, label in (("p_alive", "P(alive)"), ("dert", "DERT")):
        shown[label] = table[q]
        shown[f"{label} param."] = [f"{lo:.2f}–{hi:.2f}" for lo, hi in
                                    zip(table[f"{q}_parametric_lower"], table[f"{q}_parametric_upper"])]
        if f"{q}_bootstrap_lower" in table:
            shown[f"{label} boot."] = [f"{lo:.2f}–{hi:.2f}" for lo, hi in
                                       zip(table[f"{q}_bootstrap_lower"], table[f"{q}_bootstrap_upper"])]
    totals_dec = {c: 3 for c in totals.columns if c != "quantity"}
    tables = [table_spec(totals, f"BG/BB totals over all customers with {conf:.0%} parametric and bootstrap "
                         "intervals.", label="tbl-value-intervals", decimals=totals_dec),
              table_spec(shown,
                         f"Each pattern of transactions (x in n periods, the last in period t_x): P(alive) and DERT "
                         f"(discounted at {data.discrete_settings['discount_rate']:.0%} a period), each with its "
                         f"{conf:.0%} parametric (param.) and bootstrap (boot.) interval; the expected transactions "
                         "of each pattern, with both intervals, are in results.json (bgbb_patterns).",
                         label="tbl-bgbb-patterns",
                         decimals={"x": 0, "t_x": 0, "n": 0, "customers": 0, "P(alive)": 3, "DERT": 3})]
    level = f"parametric {conf:.0%}"

    def row(i):        # estimate and parametric interval of one totals row
        r = totals.iloc[i]
        return float(r["estimate"]), float(r[f"{level} lower"]), float(r[f"{level} upper"])

    customers = summary["customers"]
    grand = {"customers": customers, "future_periods": data.discrete_settings["future_periods"],
             "discount_rate": data.discrete_settings["discount_rate"], "confidence": conf,
             "expected_transactions": row(1)[0], "expected_transactions_interval": row(1)[1:],
             "expected_transactions_per_customer": row(1)[0] / customers if customers else None,
             "dert": row(2)[0], "dert_interval": row(2)[1:],
             "dert_per_customer": row(2)[0] / customers if customers else None,
             "mean_p_alive": row(0)[0], "mean_p_alive_interval": row(0)[1:]}
    section = ValueIntervalSection({"value_intervals": {**summary, "totals": totals}, "bgbb_totals": grand,
                                    "bgbb_patterns": table},
                                   text.value_intervals_text(totals, summary), source=data.source,
                                   rows_used=summary["customers"])
    section.tables = tables
    return section


def values(a: ClvAnalysis) -> ValueIntervalSection:
    """Customer-level and cohort-total values with parametric and bootstrap intervals: CLV, P(alive) and
    expected purchases for a transaction log; P(alive), expected transactions and DERT under the BG/BB."""
    if isinstance(a.values, Skipped):
        return skipped(a.values, ValueIntervalSection)
    if a.data.discrete is not None:
        return _discrete_value_intervals(a)
    conf, summary, customers = a.params.confidence, a.values.summary, a.values.customers
    with_clv = "Gamma-Gamma" in a.fits
    top = _customer_rows(customers, conf)
    shown_top = top.drop(columns=[c for c in top.columns if c.startswith("purchases ")])
    dec = {c: 3 for c in summary["totals"].columns if c != "quantity"}
    tables = [table_spec(summary["totals"], f"Cohort totals over the horizon with {conf:.0%} parametric and bootstrap "
                         "intervals" + ("" if with_clv else " (no CLV: Gamma-Gamma did not fit)") + ". Parametric: "
                         "the estimates' uncertainty, by draws from their sampling distribution (the interval the "
                         "findings quote); bootstrap: customers resampled and the models re-fitted, so it also "
                         "reflects which customers happen to be in the cohort; the delta-method interval of the CLV "
                         "section approximates the parametric one from standard errors.",
                         label="tbl-value-intervals", decimals=dec),
              table_spec(shown_top, f"The ten customers with the highest value: P(alive), expected purchases over the "
                         f"horizon{' and CLV' if with_clv else ''}; P(alive){' and CLV' if with_clv else ''} "
                         f"with {conf:.0%} parametric (param.) and bootstrap (boot.) intervals (those of the purchases are "
                         "in results.json, value_interval_top_customers).",
                         label="tbl-customer-intervals", decimals={"P(alive)": 3, "purchases": 2, "CLV": 2})]
    widths = {q: float(np.median(customers[f"{q}_parametric_upper"] - customers[f"{q}_parametric_lower"]))
              for q in a.values.result.estimate}
    section = ValueIntervalSection({"value_intervals": summary, "value_interval_top_customers": top,
                                    "value_interval_median_width": widths},
                                   text.value_intervals_text(summary["totals"], summary), source=a.data.source,
                                   rows_used=a.data.cohort_customers, intervals=a.values.result)
    section.tables = tables
    return section


# ---------------------------------------------------------------- how unevenly value is spread

@dataclass
class ConcentrationSection(Section):
    customer_value: pd.DataFrame | None = None
    top_fraction: float = 0.2


def concentration(a: ClvAnalysis) -> ConcentrationSection:
    """Lorenz curve of revenue and whale curve of profit after the assumed costs to serve (data, no model)."""
    part = a.concentration
    if isinstance(part, Skipped):
        return skipped(part, ConcentrationSection, top_fraction=a.params.top_fraction)
    return ConcentrationSection({"concentration": part.summary, "break_even_cost_per_customer": part.break_even},
                                text.concentration_text(part.summary, part.break_even), source=a.data.source,
                                rows_used=part.customers,
                                customer_value=part.frame if part.frame is not None else part.curves,
                                top_fraction=part.top_fraction)


CUSTOMER_FILE = "customers.parquet"
CUSTOMER_COLUMNS = ("frequency", "recency", "T", "monetary_value", "frequency_holdout", "monetary_holdout")


def customer_file(a: ClvAnalysis, output_dir) -> Section:
    """Write one Parquet row per cohort customer beside the report (never into the notebook):
    the RFM summary, the value frame of the concentration section and the CLV table's columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(a.concentration, Skipped):
        return sec.not_computed(f"no per-customer table ({a.concentration.reason})")
    if a.concentration.frame is None:        # written by the engine (`clv.at_scale`): moved here
        import shutil

        path = Path(output_dir) / CUSTOMER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(a.clv.values.path, path)
        written = {"file": CUSTOMER_FILE, "customers": a.clv.values.customers, "columns": a.clv.values.columns,
                   "predictions": True}
        return Section({"customer_file": written}, text.customer_file_text(written), source=a.data.source,
                       rows_used=a.clv.values.customers)
    summary = a.data.summary
    clv_table = None if isinstance(a.clv, Skipped) else a.clv.table
    columns = {"customer_id": pa.array(summary.index.astype(str))}
    columns.update({c: pa.array(summary[c].to_numpy()) for c in CUSTOMER_COLUMNS if c in summary})
    frame = a.concentration.frame
    columns.update({c: pa.array(frame[c].to_numpy()) for c in frame.columns if c != "tier"})
    table_cols = ["p_alive", "expected_transactions", "expected_spend", "discounted_transactions", "clv_se",
                  "clv_lower", "clv_upper"]
    if clv_table is not None:
        columns.update({c: pa.array(clv_table[c].to_numpy()) for c in table_cols})
        columns["tier"] = pa.array(frame["tier"].astype(str).to_numpy())
    path = Path(output_dir) / CUSTOMER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, compression="zstd")
    written = {"file": CUSTOMER_FILE, "customers": int(len(summary)), "columns": list(columns),
               "predictions": clv_table is not None}
    return Section({"customer_file": written}, text.customer_file_text(written), source=a.data.source,
                   rows_used=len(summary))


TIER_COLUMNS = {"tier": "tier", "customers": "customers", "mean_clv": "mean CLV", "total_clv": "total CLV",
                "share_of_customers": "share of customers", "share_of_clv": "share of CLV"}


def tiers(a: ClvAnalysis) -> Section:
    """Customer tiers by predicted CLV."""
    if isinstance(a.tiers, Skipped):
        return skipped(a.tiers)
    table = table_spec(a.tiers.rename(columns=TIER_COLUMNS), "Customer tiers by predicted CLV.", label="tbl-tiers",
                       decimals={"mean CLV": 2, "total CLV": 0, "share of customers": 3, "share of CLV": 3})
    return Section({"tiers": a.tiers}, text.tiers_text(a.tiers.iloc[0]), table, source=a.data.source,
                   rows_used=a.concentration.customers)


@dataclass
class QuadrantSection(Section):
    quadrant: pd.DataFrame | None = None


def quadrant(a: ClvAnalysis) -> QuadrantSection:
    """Customers by value to the firm and (a behavioural proxy of) value to the customer."""
    if isinstance(a.quadrant, Skipped):
        return skipped(a.quadrant, QuadrantSection)
    if "counts" in a.quadrant.attrs:            # a sample of a cohort summarised by the engine, with every count
        counts = (pd.Series(a.quadrant.attrs["counts"]).sort_values(ascending=False, kind="stable")
                  .rename_axis("quadrant").reset_index(name="customers"))
    else:
        counts = a.quadrant["quadrant"].value_counts().rename_axis("quadrant").reset_index(name="customers")
    return QuadrantSection({"quadrant_counts": counts}, source=a.data.source, rows_used=a.concentration.customers,
                           quadrant=a.quadrant)


# ---------------------------------------------------------------- the one-line finding

def finding(tracking: TrackingSection, clv: ClvSection, concentration: Section, uplift: Section,
            values: Section | None = None) -> str:
    """The report's one line, from the sections that were computed (never from a model that failed)."""
    parts = []
    if values is not None and values.computed and "bgbb_totals" in values.results:
        totals = values.results["bgbb_totals"]
        parts.append(f"BG/BB expects {totals['expected_transactions']:,.0f} transactions from the "
                     f"{totals['customers']:,} customers in the next {totals['future_periods']} periods")
    elif tracking.computed:
        row = tracking.errors.iloc[0]
        error = f" ({row['error (%)']:+.1f}%)" if row["error (%)"] is not None and np.isfinite(row["error (%)"]) else ""
        parts.append(f"{row['model']} forecasts {row['forecast']:,.0f} repeat purchases in "
                     f"{text.weeks_text(row['weeks'])} weeks against {row['actual']:,.0f} actual{error}")
    elif values is None or not values.computed:
        parts.append("no purchase model converged")
    if clv.computed:
        parts.append(f"mean CLV {clv.total['mean_per_customer']:,.2f}")
    if concentration.computed:
        share = concentration.results["concentration"]
        parts.append(f"the top {share['top_fraction']:.0%} bring {share['top_share_revenue']:.0%} of revenue")
    change = uplift.results.get("dwyer_uplift")
    if change is not None and np.isfinite(change["npv_change_pct"]):
        verb = "raise" if change["npv_change_pct"] >= 0 else "change"
        parts.append(f"+{change['uplift_points']:g} points on the observed retention would {verb} the cohort's NPV by "
                     f"{change['npv_change_pct']:.0f}%" if change.get("kind") == "observed" else
                     f"in Dwyer's worked example (stated assumptions) +{change['uplift_points']:g} points of retention "
                     f"{verb} the cohort's NPV by {change['npv_change_pct']:.0f}%")
    return "; ".join(parts) + "."


def lead(a: ClvAnalysis) -> Lead:
    """The report's findings first (`crmresearch.sections.Lead`), from the computed sections. One interval
    per quantity: the cohort value's parametric interval (the other intervals are in their sections)."""
    track, worth, spread, uplift, vals = tracking(a), clv(a), concentration(a), dwyer_uplift(a), values(a)
    interval = None
    if vals.computed and "bgbb_totals" not in vals.results:
        totals = vals.results["value_intervals"]["totals"].set_index("quantity")
        if "cohort CLV (total)" in totals.index:
            row = totals.loc["cohort CLV (total)"]
            level = f"{a.params.confidence:.0%}"
            interval = (float(row[f"parametric {level} lower"]), float(row[f"parametric {level} upper"]))
    held = holdout(a)
    check = held.results.get("holdout_check") if held.computed else None
    holdout_row = check.iloc[0] if isinstance(check, pd.DataFrame) and len(check) else None
    sentences = text.lead_sentences(
        track.errors.iloc[0] if track.computed else None, worth.total if worth.computed else None, interval,
        spread.results["concentration"] if spread.computed else None,
        uplift.results.get("dwyer_uplift") if uplift.computed else None,
        vals.results.get("bgbb_totals") if vals.computed else None, a.params.confidence, holdout_row)
    return Lead(sentences, lead_kind(fit_bgbb(a), vals) if a.data.discrete is not None
                else lead_kind(track, worth, spread))
