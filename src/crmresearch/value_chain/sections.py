"""The sections of 04_satisfaction_to_value: each function takes the `Analysis` that
`value_chain.analyse` computed and returns a `crmresearch.sections.Section` for one part of the
report (numbers for results.json, tables, sentences from `value_chain.text`, the source of its
numbers); nothing here fits a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import sections as sec
from ..models.lr_test import likelihood_ratio_test
from ..models.covariates import CovariateFit
from ..sections import Lead, Section, lead_kind, table_spec
from . import bridge as bridge_module
from .analyse import LIFECYCLE_BRIDGE, RECONSTRUCTED_NOTE, Analysis
from .design import CovariateDesign
from .text import (bridge_value_text, coefficient_label, decision_text, finding_text, join_text, lead_sentences,
                   lifecycle_text, models_text, plural, stated_actual_text, value_text)



@dataclass
class MultiSection(Section):
    tables: list = field(default_factory=list)


STATED_NAMES = {"stated_again": "stated again", "stated_recommend": "stated recommend",
                "bought_in_holdout": "bought in holdout", "p_alive": "P(alive)", "actually_alive": "truly alive",
                "response_bias": "bias"}


DECISION_NAMES = {"from_level": "from", "to_level": "to", "from_band": "from", "to_band": "to", "per_point": "per point",
                  "break_even": "break-even", "break_even_lower": "lower", "break_even_upper": "upper",
                  "true_break_even": "true break-even", "true_inside": "true inside"}


LIFECYCLE_NAMES = {"customer_months": "customer months", "mean_satisfaction": "mean satisfaction",
                   "markov_value": "Markov value", "repeat_buying_value": "repeat-buying value"}


JOIN_NAMES = {"mean_satisfaction": "mean satisfaction", "repeat_buyers": "share repeat", "mean_repeat_purchases":
              "mean x", "mean_spend": "mean spend"}


# ---------------------------------------------------------------- 1. the data


def satisfaction_table(frame: pd.DataFrame, design: CovariateDesign) -> pd.DataFrame:
    band = pd.Series(design.band_of(frame["satisfaction"].to_numpy()) if design.kind == "bands"
                     else np.full(len(frame), "all"), index=frame.index)
    g = frame.assign(band=band).groupby("band", sort=False)
    out = g.agg(customers=("satisfaction", "size"), mean_satisfaction=("satisfaction", "mean"),
                repeat_buyers=("frequency", lambda x: float((x > 0).mean())),
                mean_repeat_purchases=("frequency", "mean"), mean_spend=("monetary_value", "mean"))
    order = design.band_names if design.kind == "bands" else ["all"]
    return out.reindex([b for b in order if b in out.index]).reset_index()


def data_section(a: Analysis) -> Section:
    if a.route == "bridge":
        b = a.bridge
        text = (f"No file joins these survey answers to purchases, so the report *bridges* two data sets: the "
                f"survey's **{plural(b.settings['respondents'], 'respondent')}** give the share that would choose "
                f"the provider again by satisfaction band, and the purchase log's "
                f"**{plural(b.economics['customers'], 'customer')}** give the money. Every assumption is listed "
                "below.")
        assumptions = "\n".join(f"{i}. {s}" for i, s in enumerate(bridge_module.assumptions(b), 1)) if b.computed else ""
        return Section({"join": {"route": "bridge", "respondents": b.settings["respondents"],
                                 "log_customers": b.economics["customers"]}},
                       text + ("\n\n" + assumptions if assumptions else ""), source="data",
                       rows_used=b.settings["respondents"], note="stated-intention bridge: survey and log not joined")
    d = a.data
    table = table_spec(satisfaction_table(d.frame, a.bands).rename(columns=JOIN_NAMES),
                       a.caption("Matched customers by satisfaction band: how many, their mean satisfaction, the "
                                 "share with a repeat purchase in calibration, mean repeat purchases and mean "
                                 "repeat spend."), label="tbl-join",
                       decimals={"customers": 0, "mean satisfaction": 2, "share repeat": 2, "mean x": 2,
                                 "mean spend": 2})
    dropped = {k: v for k, v in (("survey id without purchases in the cohort", d.join["survey_unmatched"]),
                                 ("satisfaction missing", d.join["missing_satisfaction"])) if v}
    return Section({"join": d.join, "scale": {"low": d.scale.low, "high": d.scale.high}},
                   join_text(d.join, d.scale.label(), d.source), table, source=d.source,
                   rows_used=int(len(d.frame)), rows_dropped=dropped, heading=a.heading("the joined panel"))


# ---------------------------------------------------------------- 2. the covariate models


def coefficient_frame(fit: CovariateFit, confidence: float, truth: pd.Series | None = None) -> pd.DataFrame:
    t = fit.table(confidence)
    t = t[~t["parameter"].isin(fit.base_names)]
    out = pd.DataFrame({"parameter": t["parameter"], "estimate": t["estimate"],
                        "lower": t["ci_lower"], "upper": t["ci_upper"], "p_value": t["p_value"],
                        "multiplier": t["multiplier"]})
    if truth is not None:
        out["truth"] = truth.reindex(out["parameter"]).to_numpy()
    return out.reset_index(drop=True)


WHAT = {"BG/NBD": "purchasing and dropout", "Pareto/NBD": "purchasing and dropout", "Gamma-Gamma": "spend"}


def models_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        return MultiSection(**vars(sec.not_computed(
            "the stated-intention bridge has no file joining survey answers to purchases, so satisfaction cannot "
            "enter the purchase models as a covariate")))
    truth = a.data.truth.coefficients if a.data.truth is not None and a.design.kind == "bands" else None
    tests, failed, tables, results = {}, {}, [], {}
    for name, fit in a.fits.items():
        if not fit.converged:
            failed[name] = f"did not converge ({fit.error}); tried {len(fit.tried)} starts"
            results[f"model_{name}"] = {"converged": False, "error": fit.error, "tried": len(fit.tried)}
            continue
        test = likelihood_ratio_test(a.nulls[name], fit)
        test = test.as_dict()
        tests[name] = {**test, "what": WHAT[name]}
        frame = coefficient_frame(fit, a.confidence, truth)
        results[f"model_{name}"] = {"converged": True, "n_customers": fit.nobs, "loglike": fit.llf,
                                    "base": fit.base.to_dict(), "coefficients": frame.to_dict("records"),
                                    "lr_test": test, "rows_dropped": fit.rows_dropped}
        tables.append(table_spec(frame.assign(parameter=frame["parameter"].map(coefficient_label)), a.caption(
            f"{name} with satisfaction as covariates: coefficients ("
            + (f"log multipliers against the reference band {a.design.reference}" if a.design.kind == "bands" else
               "natural cubic spline of satisfaction: the value curve, not a single coefficient, carries the meaning")
            + f"), {a.confidence:.0%} intervals, p-values and multipliers"
            + ("; the simulation's true values in the last column." if truth is not None else ".")),
            label=f"tbl-coef-{name.lower().replace('/', '').replace('-', '')}",
            decimals={"estimate": 3, "lower": 3, "upper": 3, "p_value": 4, "multiplier": 3, "truth": 3}))
    source = a.source if tests else "failed"
    text = models_text(tests, failed, a.confidence)
    note = "; ".join(f"{k}: {v}" for k, v in failed.items()) or None
    return MultiSection({"models": results}, text, source=source, rows_used=int(len(a.data.frame)), note=note,
                        heading=a.heading("satisfaction in the purchase and spend models"), tables=tables)


# ---------------------------------------------------------------- 3. stated versus actual


def stated_actual_table(frame: pd.DataFrame, design: CovariateDesign, cutoff: float, p_alive: np.ndarray,
                        alive: np.ndarray | None) -> pd.DataFrame:
    band = design.band_of(frame["satisfaction"].to_numpy())
    # Floats with NaN for a missing answer (a bool column with NaN would be dropped as non-numeric by the mean)
    d = pd.DataFrame({"band": band,
                      "stated_again": (frame["repurchase"] >= cutoff).astype(float).where(frame["repurchase"].notna()),
                      "stated_recommend": (frame["recommendation"] >= cutoff).astype(float).where(
                          frame["recommendation"].notna()),
                      "bought_in_holdout": (frame["frequency_holdout"] > 0).astype(float), "p_alive": p_alive})
    if alive is not None:
        d["actually_alive"] = alive.astype(float)
    g = d[d["band"].notna()].groupby("band", sort=False)
    out = g.mean(numeric_only=True)
    out.insert(0, "customers", g.size())
    out = out.reindex([b for b in design.band_names if b in out.index]).reset_index()
    out["response_bias"] = out["stated_again"] - out["p_alive"]
    return out


def trap_survival(table: pd.DataFrame) -> dict:
    """How much of the rise of stated intention from the lowest to the top band shows in behaviour."""
    first, last = table.iloc[0], table.iloc[-1]
    stated_rise = float(last["stated_again"] - first["stated_again"])
    alive_rise = float(last["p_alive"] - first["p_alive"])
    bought_rise = float(last["bought_in_holdout"] - first["bought_in_holdout"])
    ratio = alive_rise / stated_rise if abs(stated_rise) > 1e-9 else float("nan")
    return {"lowest_band": first["band"], "top_band": last["band"], "stated_rise": stated_rise,
            "p_alive_rise": alive_rise, "holdout_buying_rise": bought_rise, "share_surviving": ratio,
            "mean_response_bias": float(np.average(table["response_bias"], weights=table["customers"]))}


def segment_table(frame: pd.DataFrame, design: CovariateDesign, measure: str) -> pd.DataFrame:
    """Mittal & Kamakura (2001): holdout buying by satisfaction band in the low and high halves of a measure."""
    median = frame[measure].median()
    seg = np.where(frame[measure] > median, f"{measure} above {median:g}", f"{measure} at most {median:g}")
    d = pd.DataFrame({"band": design.band_of(frame["satisfaction"].to_numpy()), "segment": seg,
                      "bought": (frame["frequency_holdout"] > 0).astype(float)})
    out = d[d["band"].notna()].pivot_table(index="band", columns="segment", values="bought", aggfunc="mean")
    return out.reindex([b for b in design.band_names if b in out.index]).reset_index()


def segment_gap(frame: pd.DataFrame, design: CovariateDesign, measure: str) -> dict | None:
    """Holdout buying at the top band in the two halves of `measure`, with a two-proportion z-test."""
    top = design.band_of(frame["satisfaction"].to_numpy()) == design.band_names[-1]
    values = frame[measure].to_numpy(dtype=float)
    median = float(np.nanmedian(values))
    high = values > median
    bought = (frame["frequency_holdout"] > 0).to_numpy()
    n1, n2 = int((top & high).sum()), int((top & ~high & np.isfinite(values)).sum())
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = bought[top & high].mean(), bought[top & ~high & np.isfinite(values)].mean()
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = float(2 * sps.norm.sf(abs(p1 - p2) / se)) if se > 0 else float("nan")
    return {"measure": measure, "median": median, "band": design.band_names[-1], "high": f"{measure} above {median:g}",
            "low": f"{measure} at most {median:g}", "high_top": float(p1), "low_top": float(p2), "n_high": n1,
            "n_low": n2, "p_value": p_value}


def stated_actual_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        b = a.bridge
        table = b.bands[["band", "respondents", "mean_satisfaction", "stated", "lower", "upper"]]
        top, low = table.iloc[-1], table.iloc[0]
        text = (f"The share stating they would choose the provider again (answer ≥ {a.cutoff:g}) is "
                f"{low['stated']:.0%} in the {low['band']} band and {top['stated']:.0%} in the {top['band']} band. "
                "No purchases of these respondents are observed, so how much of this survives in behaviour cannot "
                "be measured here: the value section treats it as retention with an overstatement factor.")
        spec = table_spec(table, f"Stated intention by satisfaction band with {a.confidence:.0%} Wilson intervals.",
                          label="tbl-stated", decimals={"respondents": 0, "mean_satisfaction": 2, "stated": 2,
                                                        "lower": 2, "upper": 2})
        return MultiSection({"stated_by_band": table}, text, source="data", rows_used=int(table["respondents"].sum()),
                            note="stated intention only: behaviour of these respondents not observed", tables=[spec])
    if not a.fits[a.purchase_model].converged:
        return MultiSection(**vars(sec.not_computed("no purchase model converged, so P(alive) is unknown")))
    d = a.data
    table = stated_actual_table(d.frame, a.bands, a.cutoff, a.p_alive, d.alive)
    survival = trap_survival(table)
    segments, tables = None, []
    tables.append(table_spec(table.rename(columns=STATED_NAMES), a.caption(
        f"Stated against actual by satisfaction band: share stating they would choose again and would recommend "
        f"(answer ≥ {a.cutoff:g}), share buying in the {d.holdout_weeks:.0f}-week holdout, mean P(alive) at the end of "
        "calibration (covariate model)" + (", share actually alive (the simulation knows)" if d.alive is not None
                                            else "") + " and the response bias (stated − P(alive))."),
        label="tbl-stated", decimals=2))
    if d.others:
        seg = segment_table(d.frame, a.bands, d.others[0])
        segments = segment_gap(d.frame, a.bands, d.others[0])
        tables.append(table_spec(seg, a.caption(f"Share buying in the holdout by satisfaction band, in the two halves "
                                                f"of {d.others[0]} (Mittal & Kamakura 2001: same rating, different "
                                                "behaviour)."), label="tbl-segments", decimals=2))
    return MultiSection({"stated_vs_actual": table, "trap_survival": survival, "segments": segments},
                        stated_actual_text(survival, segments, a.confidence), source=a.source, rows_used=int(table["customers"].sum()),
                        heading=a.heading("stated versus actual"), tables=tables)


# ---------------------------------------------------------------- 4. value per level


def trap_in_currency(a: Analysis) -> dict:
    """Expected value of the satisfied customers predicted to have left: Σ (1 − P(alive)) · V(satisfaction)."""
    f = a.data.frame
    v = a.value.values
    worth = np.interp(f["satisfaction"].to_numpy(), v["level"].to_numpy(), v["value"].to_numpy())
    satisfied = (f["satisfaction"] >= a.satisfied_from).to_numpy() & np.isfinite(a.p_alive)
    gone = 1 - a.p_alive[satisfied]
    return {"satisfied_from": a.satisfied_from, "satisfied_customers": int(satisfied.sum()),
            "expected_gone": float(gone.sum()), "share_gone": float(gone.mean()) if gone.size else float("nan"),
            "value_lost": float((gone * worth[satisfied]).sum()),
            "value_lost_per_customer": float((gone * worth[satisfied]).mean()) if gone.size else float("nan")}


def value_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        b = a.bridge
        if not b.computed:
            return MultiSection(**vars(sec.failed("the purchase log's BG/NBD or Gamma-Gamma", "the covariate-free "
                                                  "estimates and three other starts", b.note)))
        tables = [table_spec(b.bands[["band", "stated", "value", "value_lower", "value_upper"]],
                             f"Value per customer by satisfaction band (stated intention as retention, "
                             f"{b.settings['years']} years) with {b.settings['confidence']:.0%} intervals.",
                             label="tbl-value", decimals=2),
                  table_spec(b.sensitivity, "Sensitivity: value per customer by band when stated intention overstates "
                             "retention by the factor in the first column.", label="tbl-sensitivity", decimals=2)]
        return MultiSection({"bridge": b.results()}, bridge_value_text(b), source="data",
                            rows_used=b.settings["respondents"], note="stated-intention bridge; assumptions in the "
                            "data section", tables=tables)
    if not a.value.computed:
        return MultiSection(**vars(sec.failed("value by satisfaction level", "the purchase and spend fits",
                                              a.value.note)))
    v = a.value.values.copy()
    truth = None
    if "true_inside" in a.value.marginal:
        m = a.value.marginal
        # A step whose interval and truth are both zero (a level no customer moves from) cannot miss: the
        # recovery claim counts only the steps where it could fail.
        informative = ((m["upper"] - m["lower"]).abs() > 1e-9) | (m["true_marginal"].abs() > 1e-9)
        truth = {"steps": int(len(m)), "informative_steps": int(informative.sum()),
                 "inside": int(m.loc[informative, "true_inside"].sum()),
                 "all_inside": bool(m.loc[informative, "true_inside"].all())}
    trap = trap_in_currency(a)
    spec = table_spec(v, a.caption(f"Expected discounted value of a customer starting at each satisfaction level "
                                   f"({a.purchase_model} and Gamma-Gamma with covariates) and its "
                                   f"{a.confidence:.0%} interval" + ("; the simulation's true value last."
                                                                     if truth else ".")),
                      label="tbl-value", decimals={"level": 0, "value": 2, "value_lower": 2, "value_upper": 2,
                                                   "true_value": 2})
    return MultiSection({"value_by_level": a.value.results(), "truth_recovery": truth, "trap_in_currency": trap},
                        value_text(a.value, trap, truth), source=a.source, rows_used=int(len(a.data.frame)),
                        heading=a.heading("value per satisfaction level"), tables=[spec])


# ---------------------------------------------------------------- 5. the lifecycle route


def lifecycle_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        return MultiSection(**vars(sec.not_computed(LIFECYCLE_BRIDGE)))
    if isinstance(a.lifecycle, str) or a.lifecycle is None:
        return MultiSection(**vars(sec.failed("the stage-transition route", "monthly recency stages with "
                                              "satisfaction bands as covariates", a.lifecycle or "not run")))
    route = a.lifecycle
    tables = []
    if len(route.effects):
        shown = route.effects[["origin", "destination", "term", "coef", "se", "p_value", "odds_ratio"]]
        tables.append(table_spec(shown, a.caption(
            "Satisfaction bands in the stage-transition model: multinomial logit per origin stage (base: staying), "
            "coefficients with customer-clustered standard errors, p-values and odds ratios."), label="tbl-lifecycle-mnl",
            decimals={"coef": 3, "se": 3, "p_value": 4, "odds_ratio": 3}))
    tables.append(table_spec(route.values.rename(columns=LIFECYCLE_NAMES), a.caption(
        f"Markov-chain value of a customer who has just bought (stage '{route.settings['start_stage']}', future "
        f"{route.settings['horizon_months']} months) per satisfaction band, beside the repeat-buying route's value at "
        "the band's mean satisfaction."), label="tbl-lifecycle-value",
        decimals={"customers": 0, "customer months": 0, "mean satisfaction": 2, "Markov value": 2,
                  "repeat-buying value": 2}))
    return MultiSection({"lifecycle_route": route.results()}, lifecycle_text(route, a.confidence), source=a.source,
                        rows_used=int(route.values["customers"].sum()),
                        note=RECONSTRUCTED_NOTE if route.reconstructed else None,
                        heading=a.heading("the lifecycle route"), tables=tables)


# ---------------------------------------------------------------- 6. the decision


def decision_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        b = a.bridge
        if not b.computed:
            return MultiSection(**vars(sec.not_computed(f"the value per band was not computed ({b.note})")))
        steps = b.steps.copy()
        shown = steps[["from_band", "to_band", "points", "per_point", "break_even", "break_even_lower",
                       "break_even_upper"]]
        text = decision_text(steps.astype({"from_band": str, "to_band": str}), "from_band", "to_band", "band", "bridge")
        spec = table_spec(shown.rename(columns=DECISION_NAMES), f"Break-even spend per customer for one more point of satisfaction between adjacent "
                          f"bands (stated intention at face value; success rate {b.settings['success_rate']:.0%}).",
                          label="tbl-decision", decimals=2)
        return MultiSection({"decision": shown}, text, source="data", rows_used=b.settings["respondents"],
                            note="stated-intention bridge", tables=[spec])
    if not a.value.computed:
        return MultiSection(**vars(sec.not_computed(f"the value per level was not computed ({a.value.note})")))
    m = a.value.marginal.copy()
    cols = ["from_level", "to_level", "marginal", "break_even", "break_even_lower", "break_even_upper"]
    if "true_marginal" in m:
        m["true_break_even"] = a.value.settings["success_rate"] * m["true_marginal"]
        cols += ["true_break_even", "true_inside"]
    shown = m[cols].copy()
    labels = m.assign(from_level=m["from_level"].map("{:g}".format), to_level=m["to_level"].map("{:g}".format))
    spec = table_spec(shown.rename(columns=DECISION_NAMES), a.caption(f"Break-even spend per customer for raising satisfaction by one point from each "
                                       f"level, with {a.confidence:.0%} intervals (success rate "
                                       f"{a.value.settings['success_rate']:.0%})"
                                       + ("; the true break-even spend and whether the true marginal value lies "
                                          "inside its interval." if "true_inside" in m else ".")),
                      label="tbl-decision", decimals={"from": 0, "to": 0, "marginal": 2, "break-even": 2, "lower": 2,
                                                      "upper": 2, "true break-even": 2})
    design = "simulated" if a.source == "simulated" else "joined"
    return MultiSection({"decision": shown}, decision_text(labels, "from_level", "to_level", "level", design), source=a.source,
                        rows_used=int(len(a.data.frame)), heading=a.heading("the decision"), tables=[spec])


# ---------------------------------------------------------------- the finding


def finding(decision: Section) -> str:
    if not decision.computed:
        return "The value of a point of satisfaction could not be computed: " + (decision.note or "see the report")
    steps = decision.results["decision"]
    if "from_level" in steps:
        steps = steps.assign(from_level=steps["from_level"].map("{:g}".format),
                             to_level=steps["to_level"].map("{:g}".format))
        return finding_text(steps, decision.source, "from_level", "to_level", "level")
    return finding_text(steps.astype({"from_band": str, "to_band": str}), decision.source, "from_band", "to_band",
                        "band")


def lead(a: Analysis) -> Lead:
    """The report's findings first (`crmresearch.sections.Lead`), from the computed sections."""
    decision, stated = decision_section(a), stated_actual_section(a)
    steps, cols, design = None, ("from_level", "to_level", "level"), "simulated" if a.source == "simulated" else "joined"
    if decision.computed:
        steps = decision.results["decision"]
        if "from_level" in steps:
            steps = steps.assign(from_level=steps["from_level"].map("{:g}".format),
                                 to_level=steps["to_level"].map("{:g}".format))
        else:
            steps, cols, design = steps.astype({"from_band": str, "to_band": str}), ("from_band", "to_band", "band"), "bridge"
    survival = stated.results.get("trap_survival") if stated.computed else None
    bands = stated.results.get("stated_by_band") if stated.computed else None
    trap = trap_in_currency(a) if a.route != "bridge" and a.value.computed else None
    return Lead(lead_sentences(steps, *cols, design, survival, bands, trap), lead_kind(decision, stated))
