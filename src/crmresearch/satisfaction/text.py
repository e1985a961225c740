"""Sentences of the satisfaction-loyalty report, from numbers only.

Each text function takes computed records (`analyse` results, estimator results), never the
parameter object, and every clause is conditional on the numbers it states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..config import HTMT_THRESHOLD, SATISFIED_LOSS_SHARE
from ..stats import at_least, at_most, ci_label, net_sign

if TYPE_CHECKING:
    from ..models.segmented import DaviesTest, SegmentedFit
    from .analyse import CeilingChecks, DataSummary, NetScore, Trap
    from .ceiling import SizeCheck
    from .data import SurveyData
    from .topbox import JonesSasserRatio, TrapCounts


def _pct(p: float) -> str:
    return f"{p:.1%}"


def introduction_text(data: SurveyData, simulated_illustrations: bool) -> str:
    """The closing paragraph of the introduction: which analyses use the data and which, if any, a simulated market."""
    parts = (("attribute analysis", "attribute items", bool(data.attributes)),
             ("loyalty types", "observed behaviour", data.has_behaviour),
             ("switching-cost comparison", "switching-cost item", data.has_switching_cost))
    own = [name for name, _, ok in parts if ok]
    lacking = [what for _, what, ok in parts if not ok]
    text = f"The analyses use **{data.label}**" + (f", including the {_and(own)}." if own else ".")
    if data.source == "simulation":
        text += (" The data are simulated: the market's equations are documented in "
                 "`crmresearch.satisfaction.simulation`, so every estimate can be compared with the truth put in.")
    if lacking:
        text += (f" The data have no {' and no '.join(lacking)}; "
                 + ("a section that needs them shows a simulated market instead, headed *Simulated illustration*, "
                    "or says that it cannot be computed." if simulated_illustrations else
                    "the sections that need them say so where they would be."))
    if simulated_illustrations:
        text += (" The six loyalty sources, the removal of a switching cost and the market comparison are simulated "
                 "illustrations (package `crmresearch.satisfaction.simulation`).")
    else:
        text += (" Simulated illustrations (loyalty sources, switching-cost removal, market comparison) are "
                 "switched off (`simulated_illustrations: false`).")
    return text


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def data_text(s: DataSummary) -> str:
    left_out = s.n - s.complete
    rows = (f"**{s.n:,} respondents**" if not left_out else
            f"**{s.n:,} respondents**, of whom **{s.complete:,}** answer every satisfaction and loyalty item "
            f"({left_out:,} left out of the curve and ceiling analyses)")
    c = s.loyalty_at_ceiling
    same = tuple(s.satisfaction_scale) == tuple(s.loyalty_scale)
    scales = (f"on a {s.satisfaction_scale[0]:g}–{s.satisfaction_scale[1]:g} scale" if same else
              f"(SAT on {s.satisfaction_scale[0]:g}–{s.satisfaction_scale[1]:g}, loyalty on "
              f"{s.loyalty_scale[0]:g}–{s.loyalty_scale[1]:g})")
    top = s.choose_again_top_box
    return (f"The report uses **{s.label}** with {rows}. Mean SAT is **{s.satisfaction_mean:.2f}** and mean loyalty "
            f"**{s.loyalty_mean:.2f}** {scales}; **{_pct(c.estimate)}** of respondents ({ci_label(s.confidence)} "
            f"{_pct(c.lower)}–{_pct(c.upper)}) are at the top of the loyalty scale"
            + (f", and **{_pct(top.estimate)}** of the {top.n:,} who answer 'would choose again' answer "
               f"{at_least(s.top_box_min, s.choose_again_high)}." if top.n else ", and no respondent answers 'would choose again'."))


def breakpoint_text(broken: SegmentedFit, davies: DaviesTest, x_range: tuple | None = None) -> str:
    """The broken line's breakpoint, its two slopes with their intervals and Davies' test, in words.

    Whether the bend is real is the ceiling section's verdict; this sentence only describes the fit.
    A breakpoint interval reaching beyond the observed SAT range is called what it is: not determined."""
    boot = broken.bootstrap or {}
    ci = ci_label(broken.confidence)
    lower_after = broken.slope_after_ci[1] < broken.slope_before_ci[0]
    higher_after = broken.slope_after_ci[0] > broken.slope_before_ci[1]
    compare = ("clearly less than below it" if lower_after else "clearly more than below it" if higher_after else
               "with intervals that overlap those of the slope below it")
    boot_text = (f"; bootstrap {boot['breakpoint_ci_lower']:.2f}–{boot['breakpoint_ci_upper']:.2f} from "
                 f"{boot['n_valid']} of {boot['n_boot']} resamples" if boot.get("n_valid") else "")
    lo, hi = broken.breakpoint_ci
    loose = x_range is not None and (lo < x_range[0] or hi > x_range[1] or not np.isfinite(lo + hi))
    where = (f"The broken line places the breakpoint at SAT **{broken.breakpoint:.2f}**, but the data hardly "
             f"determine it: its {ci} ({lo:.2f}–{hi:.2f}) reaches beyond the observed SAT range "
             f"({x_range[0]:g}–{x_range[1]:g}){boot_text}." if loose else
             f"The broken line places the breakpoint at SAT **{broken.breakpoint:.2f}** ({ci} {lo:.2f}–{hi:.2f}"
             f"{boot_text}).")
    return (f"{where} Below it loyalty rises "
            f"**{broken.slope_before:.2f}** points per satisfaction point ({ci} {broken.slope_before_ci[0]:.2f} to "
            f"{broken.slope_before_ci[1]:.2f}); above it **{broken.slope_after:.2f}** ({broken.slope_after_ci[0]:.2f} "
            f"to {broken.slope_after_ci[1]:.2f}), {compare}. Davies' test of a change in slope gives "
            f"p = **{davies.p_value:.3f}** (M = {davies.statistic:.2f} over {davies.grid.size} candidate "
            "breakpoints); whether a bend survives the ceiling of the scale is checked below.")


def model_choice_text(best: dict) -> str:
    choices = {best["aic"], best["bic"], best["cv_rmse"]}
    agree = (f"AIC, BIC and cross-validation all prefer the **{best['aic']}** (@tbl-models)." if len(choices) == 1 else
             f"AIC prefers the **{best['aic']}**, BIC the **{best['bic']}** and cross-validation the "
             f"**{best['cv_rmse']}** (@tbl-models).")
    return (f"{agree} The slope curve (@fig-slopes) shows where an extra satisfaction "
            "point buys most loyalty.")


def verdict_text(checks: CeilingChecks) -> str:
    """The ceiling checks' verdict, or what failed."""
    if checks.verdict is None:
        return f"**Verdict.** None: {checks.failure}"
    return f"**Verdict.** {checks.verdict['text']}"


def size_text(size: SizeCheck, confidence: float, alpha: float) -> str:
    """Rejection rates of the naive and calibrated tests in surveys simulated without a bend."""
    return (f"Over **{size.n_samples}** simulated surveys without any real bend, the naive test rejects "
            f"**{_pct(size.naive.estimate)}** of the time ({ci_label(confidence)} {_pct(size.naive.lower)}–"
            f"{_pct(size.naive.upper)}) and the calibrated test **{_pct(size.calibrated.estimate)}** "
            f"({_pct(size.calibrated.lower)}–{_pct(size.calibrated.upper)}), at a nominal {alpha:.0%}.")


def jones_sasser_text(js: JonesSasserRatio, behaviour: JonesSasserRatio | None, complete: float, satisfied: float,
                      top_box: float, confidence: float, top_of_scale: float | None = None) -> str:
    ci = ci_label(confidence)
    cs, ms = js.completely_satisfied, js.merely_satisfied
    groups = (f"Of the **{cs.n}** completely satisfied respondents (SAT ≥ {complete:g}), "
              + (f"**{_pct(cs.estimate)}** answer {at_least(top_box, top_of_scale)} to 'would choose again'" if cs.n else "none is left")
              + ", against " + (f"**{_pct(ms.estimate)}**" if ms.n else "no one") +
              f" of the **{ms.n}** merely satisfied ({satisfied:g} ≤ SAT < {complete:g})")
    if js.undefined_reason:
        text = f"{groups}. The Jones–Sasser ratio is **undefined** here: {js.undefined_reason}."
    else:
        text = (f"{groups}: a Jones–Sasser ratio of **{js.ratio:.1f}** ({ci} {js.lower:.1f}–{js.upper:.1f}; Jones "
                "and Sasser reported about 6 at Xerox).")
    if behaviour is not None:
        text += (f" For observed repurchase the ratio is undefined: {behaviour.undefined_reason}."
                 if behaviour.undefined_reason else
                 f" For observed repurchase the ratio is **{behaviour.ratio:.2f}** ({ci} {behaviour.lower:.2f}–"
                 f"{behaviour.upper:.2f}).")
    return text


def net_score_text(s: NetScore) -> str:
    o = s.overall
    ci = ci_label(s.confidence)
    if s.is_nps:
        head = (f"The Net Promoter Score is **{o.nps:+.1f}** points ({ci} {o.lower:+.1f} to {o.upper:+.1f}): "
                f"{o.promoters:.1f}% promoters ({at_least(s.top_min, s.high)}) and {o.detractors:.1f}% detractors "
                f"({at_most(s.bottom_max, s.low)}).")
    else:
        head = (f"NPS is not defined on the {s.scale} recommendation scale (it needs a 0–10 or 1–10 item), so the "
                f"report shows the **net top-box score** instead: the share answering {at_least(s.top_min, s.high)} minus "
                f"the share answering {at_most(s.bottom_max, s.low)}, **{o.nps:+.1f}** points ({ci} {o.lower:+.1f} to "
                f"{o.upper:+.1f}).")
    if s.empty_bands:
        head += f" {s.empty_bands} satisfaction band{'s' if s.empty_bands > 1 else ''} without respondents {'are' if s.empty_bands > 1 else 'is'} left out of the table."
    return head


def trap_text(intention: TrapCounts, behaviour: TrapCounts | None, confidence: float) -> str:
    s1, s2 = intention.satisfied_who_defect, intention.defectors_who_were_satisfied
    ci = ci_label(confidence)
    first = (f"**{_pct(s1.estimate)}** of satisfied respondents ({ci} {_pct(s1.lower)}–{_pct(s1.upper)}) would not "
             "choose the provider again" if s1.n else "No respondent counts as satisfied, so the share of satisfied "
             "respondents who would not choose again is undefined")
    second = (f"**{_pct(s2.estimate)}** of would-be defectors ({ci} {_pct(s2.lower)}–{_pct(s2.upper)}) are satisfied"
              if s2.n else "no respondent would refuse to choose the provider again, so the share of would-be "
              "defectors who are satisfied is undefined")
    text = f"{first}, and {second}."
    if behaviour is not None:
        d = behaviour.defectors_who_were_satisfied
        text += (f" Among actual defectors, **{_pct(d.estimate)}** were satisfied." if d.n else
                 " No respondent with observed behaviour defected.")
    return text


def loyalty_types_text(db: pd.DataFrame, apostles: pd.DataFrame, label: str) -> str:
    d = db.set_index("type")["share"]
    a = apostles.set_index("type")["share"]
    return (f"In {label}, **{_pct(d['true loyalty'])}** are truly loyal (positive attitude and repeat purchase) and "
            f"**{_pct(d['spurious loyalty'])}** spuriously loyal (repeat purchase without the attitude); "
            f"**{_pct(a['hostage'])}** are hostages (dissatisfied, yet they stay) and **{_pct(a['mercenary'])}** "
            "mercenaries (satisfied, yet they leave).")


def switching_cost_text(r) -> str:
    """Slopes of loyalty on SAT for low and high switching cost, their difference, and the dissatisfied's outcome."""
    ci = ci_label(r.confidence)
    diff = r.slope_difference
    if diff.ci_upper < 0:
        verdict = "so with a high switching cost loyalty depends **less** on satisfaction"
    elif diff.ci_lower > 0:
        verdict = "so with a high switching cost loyalty depends **more** on satisfaction"
    else:
        verdict = "and the data cannot tell the two slopes apart"
    text = (f"Loyalty rises **{r.slope_low.estimate:.2f}** points per satisfaction point ({ci} "
            f"{r.slope_low.ci_lower:.2f} to {r.slope_low.ci_upper:.2f}) among the **{r.n_low}** respondents with a "
            f"low switching cost and **{r.slope_high.estimate:.2f}** ({r.slope_high.ci_lower:.2f} to "
            f"{r.slope_high.ci_upper:.2f}) among the **{r.n_high}** with a high one: a difference (interaction) of "
            f"**{diff.estimate:+.2f}** ({ci} {diff.ci_lower:+.2f} to {diff.ci_upper:+.2f}), {verdict}.")
    lo, hi = r.dissatisfied_low, r.dissatisfied_high
    fmt = (lambda v: _pct(v)) if r.outcome_is_share else (lambda v: f"{v:.2f}")
    if lo is not None and hi is not None:
        text += (f" Among the dissatisfied, {r.outcome_label} is **{fmt(hi)}** with a high switching cost against "
                 f"**{fmt(lo)}** with a low one.")
    return text


def switching_cost_removal_text(table: pd.DataFrame, satisfied_min: float) -> str:
    """Retention of the dissatisfied with and without the switching cost (`loyalty_types.switching_cost_removal`)."""
    rt = table.set_index(["market", "customers"])["retention"]
    kept, freed = rt[("with switching cost", "dissatisfied")], rt[("switching cost removed", "dissatisfied")]
    if kept > freed:
        tail = (f"remove it and only **{_pct(freed)}** do. The difference is retention without loyalty: hostages, "
                "not apostles.")
    else:
        tail = f"remove it and **{_pct(freed)}** do: here the barrier holds no one who wanted to leave."
    return f"With the switching cost, **{_pct(kept)}** of dissatisfied customers (SAT < {satisfied_min:g}) stay; {tail}"


# ---------------------------------------------------------------- market competitiveness


def competitiveness_text(curves: pd.DataFrame, satisfied_min: float, completely_satisfied_min: float,
                         top: float) -> str:
    """Retention of each simulated market midway through the satisfied range and at the top of the scale."""
    ret = curves.pivot_table(index="level", columns="scenario", values="share")
    mid = float(np.floor((satisfied_min + completely_satisfied_min) / 2))
    parts = []
    for level in (mid, top):
        if level not in ret.index:
            continue
        r = ret.loc[level]
        parts.append(f"at SAT {level:g}, retention is **{r['competitive']:.0%}** in the competitive market, "
                     f"**{r['intermediate']:.0%}** in the intermediate one and **{r['monopoly']:.0%}** in the monopoly")
    if not parts:
        return "No simulated respondent reaches the satisfaction levels compared."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


# ---------------------------------------------------------------- the one-line finding

def finding_text(broken: SegmentedFit | None, checks: CeilingChecks, trap: Trap, satisfied_min: float) -> str:
    """The bend as the verdict reads it, then the satisfied who would not choose again.

    The breakpoint is named only when the calibrated test says the bend survives the ceiling; a
    model that failed is not used."""
    s = trap.intention.satisfied_who_defect if trap.intention is not None else None
    if s is None:
        tail = "too few respondents answer 'would choose again' to count the satisfaction trap"
    elif s.n:
        tail = f"{s.estimate:.0%} of satisfied respondents (SAT ≥ {satisfied_min:g}) would not choose again"
    else:
        tail = f"no respondent reaches SAT {satisfied_min:g}, so the satisfaction trap cannot be counted"
    return f"{bend_text(broken, checks)}; {tail}."


def bend_text(broken: SegmentedFit | None, checks: CeilingChecks) -> str:
    """The shape of the satisfaction-loyalty curve as the calibrated ceiling test reads it (no stronger)."""
    flat, verdict = checks.flat, checks.verdict
    if verdict is None or flat is None:
        bend = "The ceiling checks did not fit, so the report draws no conclusion on the shape of the curve"
    elif verdict["survives"] and broken is not None:
        bend = (f"Loyalty bends at SAT {broken.breakpoint:.1f} ({ci_label(broken.confidence)} "
                f"{broken.breakpoint_ci[0]:.1f}–{broken.breakpoint_ci[1]:.1f}) and the bend survives the ceiling "
                f"(calibrated p {flat.calibrated_p_value:.3f})")
    elif verdict["naive_rejects"]:
        bend = (f"The apparent bend in loyalty is consistent with the ceiling of the scale alone (naive p "
                f"{flat.naive_p_value:.3f}, calibrated p {flat.calibrated_p_value:.3f}); a zone of indifference is "
                "not shown, though not ruled out either")
    else:
        bend = (f"No change in the slope of loyalty on satisfaction is detected (naive p {flat.naive_p_value:.3f}, "
                f"calibrated p {flat.calibrated_p_value:.3f}): a straight line is consistent with these answers, "
                "which does not prove that there is no zone of indifference")
    return bend


# ---------------------------------------------------------------- what drives satisfaction and loyalty

def _interval(row, ci: str) -> str:
    return f"{ci} {row['lower']:.2f} to {row['upper']:.2f}"


def _excludes_zero(row) -> bool:
    return bool(row["lower"] > 0 or row["upper"] < 0)


def drivers_text(d, broken=None, verdict: dict | None = None) -> str:
    """The structural model in words: fit and R², the paths into satisfaction, the driver to improve first
    and what one point of it is worth in satisfaction and loyalty, the satisfaction → loyalty path next to
    the curve's breakpoint, measurement quality and out-of-sample prediction. `d`: `analyse.Drivers`;
    `broken`: the broken line of the curve section (None when it did not fit); `verdict`: the ceiling
    section's `flat_zone_verdict` (None when not computed)."""
    fit, sat, loy = d.fit, d.satisfaction, d.loyalty
    ci = ci_label(d.confidence)
    r2 = d.r_squared
    lay = fit.layout
    out = [f"PLS path modelling ({fit.scheme} weighting scheme) of the **{fit.nobs:,}** respondents who answer all "
           f"{len(lay.items)} items, with {ci}s from **{d.resamples:,}** bootstrap resamples of respondents "
           f"(percentile; bias-corrected and accelerated in the table). The model explains "
           f"**{r2.loc[sat, 'estimate']:.0%}** of the variance of {sat} ({ci} {r2.loc[sat, 'lower']:.0%} to "
           f"{r2.loc[sat, 'upper']:.0%}) and **{r2.loc[loy, 'estimate']:.0%}** of {loy} ({ci} "
           f"{r2.loc[loy, 'lower']:.0%} to {r2.loc[loy, 'upper']:.0%})."]
    into_sat = d.paths[[name.endswith(f" -> {sat}") for name in d.paths.index]]
    if len(into_sat):
        parts = [f"{name.split(' -> ')[0]} {row['estimate']:.2f} ({_interval(row, ci)})" for name, row in
                 into_sat.sort_values("estimate", ascending=False).iterrows()]
        clear = [name.split(" -> ")[0] for name, row in into_sat.iterrows() if _excludes_zero(row)]
        unclear = [name.split(" -> ")[0] for name, row in into_sat.iterrows() if not _excludes_zero(row)]
        out.append(f"Standardised paths into {sat}: {'; '.join(parts)}." +
                   (f" The intervals of {_and(clear)} exclude zero" if clear else " No interval excludes zero") +
                   (f"; those of {_and(unclear)} do not, so the data cannot tell their direct path from none."
                    if unclear else "."))
    target = d.priority.get(sat)
    if target is not None:
        m_sat = d.ipma[sat]
        row = m_sat.loc[target]
        loy_map = d.ipma.get(loy)
        worth_loy = (f" and **{loy_map.loc[target, 'importance']:.2f}** points of {loy}"
                     if loy_map is not None and target in loy_map.index else "")
        gain = m_sat["importance"] * (100 - m_sat["performance"])
        runner = gain.drop(index=target).idxmax() if len(gain) > 1 else None
        total = d.totals.loc[f"{target} => {sat}"] if f"{target} => {sat}" in d.totals.index else None
        certainty = ("" if total is None else
                     f" Its standardised total effect on {sat} is {total['estimate']:.2f} ({_interval(total, ci)})"
                     + ("." if _excludes_zero(total) else ", an interval that includes zero, so this ranking is "
                                                          "weak evidence."))
        out.append(f"**{target}** is the driver to improve first on the importance–performance map (@fig-ipma): "
                   f"one point more of {target} on its 0–100 performance scale goes with **{row['importance']:.2f}** "
                   f"points of {sat}{worth_loy} (unstandardised total effects), and at performance "
                   f"{row['performance']:.0f} of 100 it has the most to gain: importance × room to improve is "
                   f"{gain[target]:.1f} points of {sat}"
                   + (f", against {gain[runner]:.1f} for {runner}, the next." if runner is not None else ".")
                   + certainty)
        other = d.priority.get(loy)
        if other is not None and other != target:
            out.append(f"For {loy} the map ranks **{other}** first (importance "
                       f"{d.ipma[loy].loc[other, 'importance']:.2f}, performance "
                       f"{d.ipma[loy].loc[other, 'performance']:.0f}).")
    out.append("These are associations within the model's assumed directions, estimated from one cross-sectional "
               "survey: they say which respondents who rate a driver higher are also more satisfied and loyal, not "
               "that raising the driver would cause the gain; a change over time or an experiment would test that.")
    link = f"{sat} -> {loy}"
    if link in d.paths.index:
        p = d.paths.loc[link]
        text = (f"The {sat} → {loy} path is **{p['estimate']:.2f}** ({_interval(p, ci)}): one standard deviation of "
                f"satisfaction goes with {p['estimate']:.2f} standard deviations of loyalty, one average over the "
                "whole scale.")
        if broken is not None and broken.converged:
            bend = (f"loyalty rises {broken.slope_before:.2f} points per point of SAT below the breakpoint at "
                    f"{broken.breakpoint:.2f} and {broken.slope_after:.2f} above it")
            if broken.slope_after >= broken.slope_before:
                text += (f" The curve above does not flatten ({bend}), so a point of satisfaction is worth at least "
                         "as much loyalty near the top.")
            elif verdict is not None and verdict.get("survives"):
                text += (f" The curve above says where that average comes from: {bend}, and the flattening "
                         "survives the ceiling checks, so a point of satisfaction is worth less loyalty above the "
                         "breakpoint than this average says, and more below it.")
            elif verdict is not None and verdict.get("naive_rejects"):
                text += (f" The curve above bends ({bend}), but the ceiling checks trace the bend to the top of the "
                         "scale rather than to a zone of indifference, so the data give no reason to read this single "
                         "linear path as hiding one.")
            else:
                text += (f" The broken line gives {bend}, but the tests find no change in slope, so the data give no "
                         "reason to read this single linear path as hiding a zone of indifference.")
        out.append(text)
    q = d.quality
    weak = []
    reflective = q[q["mode"] == "A"]
    low_ave = list(reflective.index[reflective["ave"] < 0.5])
    low_rel = list(reflective.index[(reflective["rho_c"] < 0.7) | (reflective["items"] > 1)
                                    & (reflective["cronbach_alpha"] < 0.7)])
    if low_rel:
        weak.append(f"reliability below 0.7 (α or ρ_C) for {_and(low_rel)}")
    if low_ave:
        weak.append(f"AVE below 0.5 for {_and(low_ave)}")
    loads = fit.loadings
    low_items = [f"{item} ({value:.2f} on {construct})" for (construct, item), value in loads.items()
                 if construct not in [lay.constructs[j] for j in lay.mode_b] and value < 0.4]
    if low_items:
        weak.append(f"loadings below 0.4 for {_and(low_items)}")
    flagged = [name.replace(" ~ ", " and ") for name, row in d.htmt.iterrows() if row["flag"]]
    if flagged:
        weak.append(f"HTMT above {HTMT_THRESHOLD} (or an interval reaching 1) for {len(flagged)} pair{'s' if len(flagged) != 1 else ''} "
                    f"({_and(flagged)}), which this survey does not clearly tell apart")
    out.append("Measurement quality (@tbl-measurement): " + ("; ".join(weak) + "." if weak else
                                                             "every reflective construct has α and ρ_C of at least "
                                                             f"0.7, AVE of at least 0.5, and no HTMT above "
                                                             f"{HTMT_THRESHOLD}."))
    pred = d.prediction
    if pred is not None and len(pred):
        positive = int((pred["q2_predict"] > 0).sum())
        beats = int(pred["pls_beats_lm"].sum())
        out.append(f"Out of sample ({pred.attrs.get('folds', '')}-fold PLSpredict), the model predicts "
                   f"{positive} of {len(pred)} endogenous items better than their training mean (Q²_predict > 0) and "
                   f"{beats} of {len(pred)} with a lower RMSE than a linear regression on the exogenous items.")
    return " ".join(out)


def lead_sentences(bend: str, trap: Trap, satisfied_min: float, confidence: float, drivers: dict | None,
                   more: list | None = None) -> list:
    """The satisfaction report's findings in plain words: the satisfied who would still leave, the shape of
    the curve as the ceiling test reads it, how much the top of the scale matters, and (with a structural
    model) the driver to improve first."""
    out = []
    s = trap.intention.satisfied_who_defect if trap.intention is not None else None
    if s is not None and s.n:
        out.append(f"{s.estimate:.0%} of satisfied respondents (SAT ≥ {satisfied_min:g}) would not choose the "
                   f"provider again ({ci_label(confidence)} {s.lower:.0%}–{s.upper:.0%})"
                   + (": satisfaction alone does not keep customers." if s.estimate >= SATISFIED_LOSS_SHARE else
                      ": here satisfied customers mostly intend to stay."))
    out.append(bend + ".")
    out += [sentence for sentence in (more or []) if sentence]
    if drivers:
        out.append(drivers)
    return out


def top_box_lead(js: JonesSasserRatio, complete: float, satisfied: float, confidence: float, top_box: float,
                 top_of_scale: float | None = None) -> str | None:
    """The Jones-Sasser ratio in words, when it is defined: it compares two groups only (the completely and the
    merely satisfied), on answering `top_box` or more to 'would choose again' ("the top answer" only when
    `top_box` is the top of that item's scale)."""
    if js is None or js.undefined_reason or not np.isfinite(js.ratio):
        return None
    ci = f"{ci_label(confidence)} {js.lower:.1f}–{js.upper:.1f}"
    if js.lower > 1:
        meaning = "the completely satisfied do so clearly more often than the merely satisfied"
    elif js.upper < 1:
        meaning = "the completely satisfied do so clearly less often than the merely satisfied"
    else:
        meaning = "the data cannot tell which of the two groups does so more often"
    answer = ("give the top answer" if top_of_scale is not None and top_box >= top_of_scale
              else f"answer {top_box:g} or more")
    return (f"The completely satisfied (SAT ≥ {complete:g}) are {js.ratio:.1f} times as likely as the merely satisfied "
            f"({satisfied:g} ≤ SAT < {complete:g}) to {answer} to 'would choose again' ({ci}): {meaning}.")


def net_score_lead(s: NetScore) -> str | None:
    """The NPS (or the net top-box score) in one plain sentence; an interval that includes 0 is read as
    undecided, not as a balance (that would need an equivalence test)."""
    o = s.overall
    if o is None or not np.isfinite(o.nps):
        return None
    name = "The Net Promoter Score" if s.is_nps else "The net top-box score of the recommendation item"
    return (f"{name} is {o.nps:+.0f} points ({ci_label(s.confidence)} {o.lower:+.0f} to {o.upper:+.0f}): "
            f"{net_sign(o.lower, o.upper)}.")


def driver_lead(d) -> str | None:
    """One sentence on the driver with the most to gain on the importance-performance map, worded as
    the association a cross-sectional survey shows."""
    sat, loy = d.satisfaction, d.loyalty
    target = d.priority.get(sat) if d.priority else None
    if target is None:
        return None
    row = d.ipma[sat].loc[target]
    loy_map = d.ipma.get(loy)
    worth_loy = (f" and {loy_map.loc[target, 'importance']:.2f} points higher on {loy}" if loy_map is not None and
                 target in loy_map.index else "")
    return (f"{target} is the driver with the most to gain (performance {row['performance']:.0f} of 100): respondents "
            f"rating it one point higher score {row['importance']:.2f} points higher on {sat}{worth_loy} (all on "
            "0–100 scales), an association in one survey rather than a tested effect of improving it.")
