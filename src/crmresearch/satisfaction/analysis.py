"""The report's workflow: from a parameter set to the sections it shows.

Whatever the source (ECSI mobile survey, a user's file, a simulated market), the report works
on the same columns: ``satisfaction`` (SAT, mean of the satisfaction items), ``loyalty`` (mean
of the loyalty items), ``choose_again``, ``recommend``, optional ``repurchased`` (observed
behaviour), ``switching_cost`` and the attribute columns. A score is missing when
one of its items is (blank or a declared missing code).

Below `load_report_data`, one function per section of ``01_satisfaction_loyalty`` takes the
data and the validated parameters, runs the estimators of the sibling modules on the rows
complete for the section's own measures, and returns a `crmresearch.sections.Section`
(`ReportSection` here, which also carries the fitted objects the figures need). The sentences
come from *text functions* that take result objects, never the parameters, and state only what
their numbers say. A section the data cannot support is `sections.not_computed`; it shows a
simulated market instead only when the parameter file sets ``simulated_illustrations: true``,
and then its heading and caption say "Simulated illustration".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import config
from .. import stats
from ..parameters.sources import CUTOFF_RULES, Scale, relative_cutoff
from ..sections import Section, failed, not_computed, simulated_caption, simulated_heading, table_spec
from .attributes import attribute_response_curves, penalty_reward
from .ceiling import (CeilingAwareFit, FlatZoneTest, ModelFitError, OrderedLogitComparison, calibrated_flat_zone_test,
                      expected_curve, fit_ceiling_aware, flat_zone_size_check, flat_zone_verdict, is_ordinal,
                      ordered_logit_kink)
from .curves import binned_means, compare_models, fit_linear, fit_spline
from .loyalty_types import (apostle_map, competitiveness_curves, dick_basu, source_positions, switching_cost_by_satisfaction,
                            switching_cost_removal)
from ..models.segmented import DaviesTest, SegmentedFit, bootstrap_segmented, davies_test, fit_segmented
from .simulation import SATISFACTION_ITEMS, SCENARIOS, scenario, simulate_loyalty_sources, simulate_market
from .topbox import (JonesSasserRatio, TrapCounts, jones_sasser_ratio, logistic_curve, nps_by_band,
                     proportion_by_level, trap_counts)

# Item wording of the ECSI mobile survey's perceived-quality block (semPLS `mobi` documentation).
MOBI_QUALITY_LABELS = {
    "PERQ1": "Overall perceived quality",
    "PERQ2": "Technical quality of the network",
    "PERQ3": "Customer service and personal advice",
    "PERQ4": "Quality of the services used",
    "PERQ5": "Range of services and products",
    "PERQ6": "Reliability and accuracy of services",
    "PERQ7": "Clarity and transparency of information",
}
MEASURE_COLUMNS = {"satisfaction": "satisfaction", "loyalty": "loyalty", "repurchase": "choose_again",
                   "recommendation": "recommend", "behaviour": "repurchased", "switching_cost": "switching_cost"}
# Below this many complete respondents a section is not computed.
MIN_ROWS = 10


@dataclass
class ReportSection(Section):
    """A `Section` that also carries the objects its figures are drawn from (``section.fit`` etc.)."""

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


def _ci(confidence: float) -> str:
    return f"{100 * confidence:g}% CI"


def _pct(p: float) -> str:
    return f"{p:.1%}"


@dataclass
class SurveyData:
    """The respondent table plus what the sections need to know about it."""

    frame: pd.DataFrame
    source: str                      # "survey" or "simulation"
    label: str                       # for prose: "the ECSI mobile-phone survey", ...
    scales: dict                     # measure -> (low, high)
    attributes: list[str]
    attribute_labels: dict = field(default_factory=dict)
    has_behaviour: bool = False
    scenario: object | None = None   # the MarketScenario when simulated
    data_files: dict = field(default_factory=dict)
    items_note: str = ""             # which answers make SAT and loyalty, in words

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def scale(self) -> tuple[float, float]:
        """The loyalty scale (the ceiling the checks are about)."""
        return self.scales["loyalty"]

    @property
    def satisfaction_scale(self) -> tuple[float, float]:
        return self.scales["satisfaction"]

    @property
    def has_switching_cost(self) -> bool:
        return "switching_cost" in self.frame

    @property
    def section_source(self) -> str:
        """Where a section on this data gets its numbers: the report's data or a simulated market."""
        return "simulated" if self.source == "simulation" else "data"

    def complete(self, *measures) -> tuple[np.ndarray, dict]:
        """Rows answering every one of ``measures`` (measure names or columns), and the rows left out by reason."""
        cols = [MEASURE_COLUMNS.get(m, m) for m in measures]
        cols = [c for c in cols if c in self.frame]
        keep = self.frame[cols].notna().all(axis=1).to_numpy()
        dropped = int((~keep).sum())
        names = ", ".join(m for m in measures if MEASURE_COLUMNS.get(m, m) in self.frame)
        return keep, ({f"missing {names}": dropped} if dropped else {})


def simulated_survey_data(sc, seed) -> SurveyData:
    """Respondents of a simulated market (`simulation.MarketScenario`), with its attributes and behaviour."""
    df = simulate_market(sc, seed)
    attrs = [c for c in df.columns if c.startswith(("basic_", "potential_"))]
    frame = df[["respondent_id", "satisfaction", "choose_again", "recommend", "repurchased", "switching_cost",
                *attrs]].copy()
    frame["repurchased"] = frame["repurchased"].astype(float)
    frame["loyalty"] = df[["choose_again", "recommend"]].mean(axis=1)
    labels = {a: a.replace("_", " ") + (" (basic expectation)" if a.startswith("basic") else
                                        " (potential expectation)") for a in attrs}
    scale = (sc.scale_low, sc.scale_high)
    return SurveyData(frame, "simulation", f"a simulated {sc.name} market",
                      {m: scale for m in ("satisfaction", "loyalty", "repurchase", "recommendation", "switching_cost",
                                          "attributes")}, attrs, labels, True, sc, {},
                      items_note(SATISFACTION_ITEMS, ["would choose again", "would recommend"], None, None))


def load_report_data(params) -> SurveyData:
    """Build the respondent table from a validated `SatisfactionLoyaltyParameters`."""
    if params.simulation is not None:
        return simulated_survey_data(params.simulation.market(), params.seed)
    survey = params.survey
    raw = survey.load()
    frame = pd.DataFrame({"respondent_id": raw["respondent_id"].to_numpy()})
    # A score is missing when one of its items is (complete items, not a mean of whatever was answered).
    frame["satisfaction"] = raw[survey.satisfaction].mean(axis=1, skipna=False).to_numpy()
    frame["loyalty"] = raw[survey.loyalty].mean(axis=1, skipna=False).to_numpy()
    frame["choose_again"] = raw[survey.repurchase].to_numpy(float)
    frame["recommend"] = raw[survey.recommendation].to_numpy(float)
    has_behaviour = survey.behaviour is not None
    if has_behaviour:
        observed = raw[survey.behaviour]
        keep = observed.notna().to_numpy()
        value = observed.to_numpy(float) == 1
        frame["repurchased"] = np.where(keep, value if survey.behaviour_means == "repurchased" else ~value, np.nan)
    if survey.switching_cost:
        frame["switching_cost"] = raw[survey.switching_cost].to_numpy(float)
    for a in survey.attributes:
        frame[a] = raw[a].to_numpy(float)
    label = "the ECSI mobile-phone survey" if survey.dataset == "mobi" else f"the survey file {survey.file().name}"
    labels = MOBI_QUALITY_LABELS if survey.dataset == "mobi" else {}
    scales = {m: survey.measure_scale(m).bounds for m in survey.MEASURES}
    return SurveyData(frame, "survey", label, scales, list(survey.attributes),
                      {a: labels.get(a, a) for a in survey.attributes}, has_behaviour, None,
                      {"survey": survey.file()},
                      items_note(survey.satisfaction, survey.loyalty, survey.repurchase, survey.recommendation))


def items_note(satisfaction, loyalty, repurchase: str | None, recommendation: str | None) -> str:
    """Which answers make SAT and loyalty, in words."""
    text = f"SAT is the mean of {', '.join(satisfaction)}; loyalty is the mean of {', '.join(loyalty)}"
    if repurchase:
        text += f"; 'would choose again' is {repurchase} and the recommendation item is {recommendation}"
    return text + "."


def introduction(data: SurveyData, simulated_illustrations: bool) -> str:
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


def cutoffs_table(params) -> pd.DataFrame:
    """The cut-offs this run used, the measure and scale each belongs to and where its value comes from."""
    from ..parameters.satisfaction_loyalty import CUTOFFS

    origins = params.cutoff_origins
    return pd.DataFrame([{"cut-off": name, "measure": measure,
                          "scale": params.scale_of(measure).label(), "value": f"{getattr(params, name):g}",
                          "from": origins.get(name, "")} for name, (measure, _) in CUTOFFS.items()])


# ---------------------------------------------------------------- the data

def describe_data(data: SurveyData, params) -> ReportSection:
    """Mean SAT and loyalty, the share at the top of the loyalty scale and the top-box 'choose again' share."""
    keep, dropped = data.complete("satisfaction", "loyalty")
    sat = data.frame.loc[keep, "satisfaction"].to_numpy(float)
    loyalty = data.frame.loc[keep, "loyalty"].to_numpy(float)
    low, high = data.scale
    at_ceiling = stats.proportion(loyalty >= high, params.confidence)
    choose = data.frame["choose_again"].dropna().to_numpy()
    choose_top = stats.proportion(choose >= params.top_box_min, params.confidence)
    summary = DataSummary(data.label, data.n, int(keep.sum()), float(sat.mean()), float(loyalty.mean()),
                          data.satisfaction_scale, data.scale, at_ceiling, choose_top, params.top_box_min,
                          params.confidence)
    return _section(data.section_source, results={
        "respondents": data.n, "respondents_complete": int(keep.sum()), "satisfaction_mean": summary.satisfaction_mean,
        "loyalty_mean": summary.loyalty_mean, "loyalty_at_ceiling": at_ceiling, "choose_again_top_box": choose_top},
        text=data_text(summary) + " " + data.items_note,
        rows_used=int(keep.sum()), rows_dropped=dropped, summary=summary, keep=keep)


@dataclass(frozen=True)
class DataSummary:
    label: str
    n: int
    complete: int
    satisfaction_mean: float
    loyalty_mean: float
    satisfaction_scale: tuple
    loyalty_scale: tuple
    loyalty_at_ceiling: stats.Proportion
    choose_again_top_box: stats.Proportion
    top_box_min: float
    confidence: float


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
            f"**{s.loyalty_mean:.2f}** {scales}; **{_pct(c.estimate)}** of respondents ({_ci(s.confidence)} "
            f"{_pct(c.lower)}–{_pct(c.upper)}) are at the top of the loyalty scale"
            + (f", and **{_pct(top.estimate)}** of the {top.n:,} who answer 'would choose again' answer "
               f"{s.top_box_min:g} or more." if top.n else ", and no respondent answers 'would choose again'."))


# ---------------------------------------------------------------- the curve

def curve_section(sat, loyalty, params, source: str = "data", rows_dropped=None) -> ReportSection:
    """Binned means, straight line, spline, broken line (with bootstrap) and Davies' test on the complete rows."""
    binned = binned_means(sat, loyalty, params.satisfaction_bands, params.confidence)
    linear = fit_linear(sat, loyalty)
    spline = fit_spline(sat, loyalty, params.spline_df)
    davies = davies_test(sat, loyalty, k=params.davies_k)
    try:
        broken = fit_segmented(sat, loyalty, params.confidence)
        broken = bootstrap_segmented(sat, loyalty, broken, params.bootstrap_resamples, seed=params.seed,
                                     confidence=params.confidence)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return _as_report(failed("the broken line", "a profile grid of breakpoints and Muggeo's iterations",
                                 str(exc), rows_used=len(sat)), binned=binned, linear=linear, spline=spline,
                          broken=None, davies=davies, breakpoint_estimate=None)
    return _section(source, results={"binned_means": binned, "linear_slope": float(linear.params[1]),
                                     "segmented": broken, "davies": davies},
                    text=breakpoint_sentence(broken, davies, (float(np.min(sat)), float(np.max(sat)))),
                    rows_used=len(sat), rows_dropped=rows_dropped or {},
                    binned=binned, linear=linear, spline=spline, broken=broken, davies=davies,
                    breakpoint_estimate=broken.breakpoint)


def breakpoint_sentence(broken: SegmentedFit, davies: DaviesTest, x_range: tuple | None = None) -> str:
    """The broken line's breakpoint, its two slopes with their intervals and Davies' test, in words.

    Whether the bend is real is the ceiling section's verdict; this sentence only describes the fit.
    A breakpoint interval reaching beyond the observed SAT range is called what it is: not determined."""
    boot = broken.bootstrap or {}
    ci = _ci(broken.confidence)
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


def model_section(sat, loyalty, params, source: str = "data", rows_dropped=None) -> ReportSection:
    models = compare_models(sat, loyalty, params.spline_df, params.cv_folds, seed=params.seed)
    best = best_models(models)
    return _section(source, results={"model_comparison": models, "best_model": best},
                    text=model_choice_sentence(best), rows_used=len(sat), rows_dropped=rows_dropped or {},
                    table=table_spec(models[["model", "parameters", "aic", "bic", "cv_rmse"]],
                                     f"Model choice: AIC, BIC and {params.cv_folds}-fold cross-validated RMSE (lower "
                                     "is better). The broken line counts its breakpoint as a parameter.",
                                     "tbl-models", {"aic": 1, "bic": 1, "cv_rmse": 3}),
                    models=models, best=best)


def best_models(models: pd.DataFrame, criteria=("aic", "bic", "cv_rmse")) -> dict:
    """The model each criterion prefers (lowest value) in a `curves.compare_models` table."""
    return {c: models.loc[models[c].idxmin(), "model"] for c in criteria}


def model_choice_sentence(best: dict) -> str:
    return (f"AIC prefers the **{best['aic']}**, BIC the **{best['bic']}** and cross-validation the "
            f"**{best['cv_rmse']}** (@tbl-models). The slope curve (@fig-slopes) shows where an extra satisfaction "
            "point buys most loyalty.")


def slope_range(slopes: pd.DataFrame) -> list[float]:
    """[min, max] of a marginal-effect curve's ``slope`` column."""
    return [float(slopes["slope"].min()), float(slopes["slope"].max())]


# ---------------------------------------------------------------- is the flattening real?

@dataclass
class CeilingChecks:
    """The ceiling-aware refits, the calibrated flat-zone test and the verdict drawn from them.

    ``ordered`` is None when the loyalty score is not ordinal (``ordered_note`` says why);
    ``censored``/``flat`` are None when the censored model did not fit (``failure`` says what failed)."""

    censored: CeilingAwareFit | None
    ordered: OrderedLogitComparison | None
    flat: FlatZoneTest | None
    verdict: dict | None
    expected: pd.DataFrame | None
    ordered_note: str | None = None
    failure: str | None = None

    def table(self) -> pd.DataFrame:
        """One row per check, the result formatted for the report."""
        flat, censored, ordered = self.flat, self.censored, self.ordered
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
                     else f"not fitted: {self.ordered_note}"})
        return pd.DataFrame(rows)

    @property
    def verdict_text(self) -> str:
        if self.verdict is None:
            return f"**Verdict.** None: {self.failure}"
        return f"**Verdict.** {self.verdict['text']}"

    def as_section(self, source: str, rows_used: int, rows_dropped=None) -> ReportSection:
        if self.verdict is None:
            sec = failed("the censored (Tobit) regression", "three starting points with BFGS and Nelder-Mead",
                         self.failure or "no fit", rows_used)
            return _as_report(sec, checks=self)
        return _section(source, results=_record([
            ("censored_regression", self.censored), ("ordered_logit", self.ordered),
            ("ordered_logit_skipped", self.ordered_note), ("flat_zone_test", self.flat),
            ("flat_zone_survives", self.verdict["survives"]), ("flat_zone_verdict", self.verdict["text"])]),
            text=self.verdict_text, rows_used=rows_used, rows_dropped=rows_dropped or {}, note=self.ordered_note,
            table=table_spec(self.table(), "Ceiling-aware checks of the bend.", "tbl-ceiling"), checks=self)


def ceiling_checks(sat, loyalty, scale, breakpoint: float | None, grid, params) -> CeilingChecks:
    """Censored regression, ordered logit with a kink at ``breakpoint``, the calibrated test and the verdict.

    A loyalty score with many distinct values (a continuous index) is treated as continuous: the
    censored model has no rounding (classic two-limit Tobit) and the ordered logit is skipped."""
    ordinal, reason = is_ordinal(loyalty)
    step = None if ordinal else 0.0
    breakpoint = float(np.median(sat)) if breakpoint is None else breakpoint   # the broken line did not fit
    try:
        censored = fit_ceiling_aware(sat, loyalty, scale, step=step, confidence=params.confidence)
        flat = calibrated_flat_zone_test(sat, loyalty, scale, n_sim=params.n_null_simulations, seed=params.seed,
                                         k=params.davies_k, step=step)
    except ModelFitError as exc:
        return CeilingChecks(None, None, None, None, None, reason if not ordinal else None, str(exc))
    ordered, note = None, (None if ordinal else reason)
    if ordinal:
        try:
            ordered = ordered_logit_kink(sat, loyalty, breakpoint)
        except ModelFitError as exc:
            note = f"the ordered logit did not converge ({exc})"
    verdict = flat_zone_verdict(flat, censored, ordered, params.alpha)
    return CeilingChecks(censored, ordered, flat, verdict, expected_curve(censored, grid, scale), note)


def size_check_section(sat, flat: FlatZoneTest | None, scale, params, source: str = "data",
                       rows_dropped=None) -> ReportSection:
    """Rejection rates of the naive and calibrated tests under the fitted straight line (if switched on)."""
    if not params.size_check_samples:
        return _as_report(not_computed("the size check was switched off for this run (`size_check_samples: 0`)."),
                          size=None)
    if flat is None:
        return _as_report(not_computed("the size check needs the censored fit, which did not converge."), size=None)
    size = flat_zone_size_check(sat, flat, scale, n_samples=params.size_check_samples, n_sim=99, seed=params.seed,
                                alpha=params.alpha, k=params.davies_k)
    text = (f"Over **{size.n_samples}** simulated surveys without any real bend, the naive test rejects "
            f"**{_pct(size.naive.estimate)}** of the time ({_ci(params.confidence)} {_pct(size.naive.lower)}–"
            f"{_pct(size.naive.upper)}) and the calibrated test **{_pct(size.calibrated.estimate)}** "
            f"({_pct(size.calibrated.lower)}–{_pct(size.calibrated.upper)}), at a nominal {params.alpha:.0%}.")
    return _section(source, results={"flat_zone_size_check": size}, text=text, rows_used=len(sat),
                    rows_dropped=rows_dropped or {}, size=size)


def _record(pairs) -> dict:
    """The results a section records, leaving out those the data did not allow (value None)."""
    return {key: value for key, value in pairs if value is not None}


# ---------------------------------------------------------------- the top-box view

@dataclass
class TopBoxShares:
    """Top-box 'choose again' and top recommendation flags, and their shares per SAT level."""

    choose_sat: np.ndarray
    choose_top: np.ndarray
    promoter_sat: np.ndarray
    promoter: np.ndarray
    top_levels: pd.DataFrame
    promoter_levels: pd.DataFrame
    promoter_label: str

    @property
    def satisfaction(self):
        return self.choose_sat

    def series(self, grid, confidence: float = config.CONFIDENCE) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
        """(label, shares by level, logistic curve on ``grid``) per outcome, for `plots.plot_top_box`."""
        return [("top-box 'choose again'", self.top_levels,
                 logistic_curve(self.choose_sat, self.choose_top, grid, confidence)),
                (self.promoter_label, self.promoter_levels,
                 logistic_curve(self.promoter_sat, self.promoter, grid, confidence))]


def top_box_shares(data: SurveyData, params) -> ReportSection:
    """Share giving the top 'choose again' answer and share of promoters at each rounded SAT level."""
    frame = data.frame
    keep_c, dropped_c = data.complete("satisfaction", "repurchase")
    keep_p, dropped_p = data.complete("satisfaction", "recommendation")
    choose_sat = frame.loc[keep_c, "satisfaction"].to_numpy(float)
    choose_top = frame.loc[keep_c, "choose_again"].to_numpy() >= params.top_box_min
    promoter_sat = frame.loc[keep_p, "satisfaction"].to_numpy(float)
    promoter = frame.loc[keep_p, "recommend"].to_numpy() >= params.promoter_min
    label = "promoter" if params.nps_defined else f"recommendation ≥ {params.promoter_min:g}"
    shares = TopBoxShares(choose_sat, choose_top, promoter_sat, promoter, proportion_by_level(np.rint(choose_sat),
                          choose_top), proportion_by_level(np.rint(promoter_sat), promoter), label)
    return _section(data.section_source, results={"top_box_by_level": shares.top_levels,
                                                  "promoter_by_level": shares.promoter_levels},
                    rows_used=int(keep_c.sum()), rows_dropped={**dropped_c, **dropped_p}, shares=shares)


def _too_few(keep, item: str, dropped: dict) -> Section:
    return not_computed(f"only {int(keep.sum())} respondents answer both the satisfaction items and {item} "
                        f"(at least {MIN_ROWS} are needed).", int(keep.sum()), dropped)


def jones_sasser_section(data: SurveyData, choose_top, params) -> ReportSection:
    """Jones-Sasser ratio for top-box 'choose again' and, when behaviour is observed, for repurchase.

    ``choose_top`` is the top-box flag of the rows complete on satisfaction and 'choose again'."""
    keep, dropped = data.complete("satisfaction", "repurchase")
    if keep.sum() < MIN_ROWS:
        return _as_report(_too_few(keep, "'would choose again'", dropped), top_box=None, repurchase=None)
    sat = data.frame.loc[keep, "satisfaction"].to_numpy(float)
    complete, satisfied = params.completely_satisfied_min, params.satisfied_min
    js = jones_sasser_ratio(sat, choose_top, complete, satisfied, params.confidence)
    behaviour = None
    if data.has_behaviour:
        kb, _ = data.complete("satisfaction", "behaviour")
        behaviour = jones_sasser_ratio(data.frame.loc[kb, "satisfaction"].to_numpy(float),
                                       data.frame.loc[kb, "repurchased"].to_numpy(bool), complete, satisfied,
                                       params.confidence)
    text = jones_sasser_text(js, behaviour, complete, satisfied, params.top_box_min, params.confidence)
    return _section(data.section_source, results=_record([("jones_sasser_top_box", js),
                                                          ("jones_sasser_repurchase", behaviour)]),
                    text=text, rows_used=int(keep.sum()), rows_dropped=dropped, top_box=js, repurchase=behaviour)


def jones_sasser_text(js: JonesSasserRatio, behaviour: JonesSasserRatio | None, complete: float, satisfied: float,
                      top_box: float, confidence: float) -> str:
    ci = _ci(confidence)
    cs, ms = js.completely_satisfied, js.merely_satisfied
    groups = (f"Of the **{cs.n}** completely satisfied respondents (SAT ≥ {complete:g}), "
              + (f"**{_pct(cs.estimate)}** answer {top_box:g} or more to 'would choose again'" if cs.n else "none is left")
              + f", against " + (f"**{_pct(ms.estimate)}**" if ms.n else "no one") +
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


def nps_section(data: SurveyData, params) -> ReportSection:
    """NPS by satisfaction band on a 0-10 / 1-10 recommendation item; a net top-box score on any other scale."""
    keep, dropped = data.complete("satisfaction", "recommendation")
    sat = data.frame.loc[keep, "satisfaction"].to_numpy(float)
    rec = data.frame.loc[keep, "recommend"].to_numpy(float)
    if keep.sum() < MIN_ROWS:
        return _as_report(_too_few(keep, "the recommendation item", dropped), bands=None, score=None)
    table = nps_by_band(sat, rec, params.satisfaction_bands, params.promoter_min, params.detractor_max,
                        params.confidence)
    shown = table[table["n"] > 0].reset_index(drop=True)
    overall = stats.net_promoter_score(rec, params.confidence, params.promoter_min, params.detractor_max)
    score = NetScore(overall, params.nps_defined, params.promoter_min, params.detractor_max,
                     params.scale_of("recommendation").label(), int((table["n"] == 0).sum()), params.confidence)
    name = "NPS" if score.is_nps else "net top-box score"
    key = "nps" if score.is_nps else "net_top_box"
    display = shown[["band", "n", "promoters", "passives", "detractors", "nps", "ci_lower", "ci_upper"]].rename(
        columns={"nps": "NPS" if score.is_nps else "net score"})
    caption = (f"{name[0].upper() + name[1:]} by satisfaction band: top answers ≥ {params.promoter_min:g} minus "
               f"bottom answers ≤ {params.detractor_max:g} on the {score.scale} recommendation item (percent and "
               f"points, {_ci(params.confidence)}).")
    return _section(data.section_source, results={f"{key}_overall": overall, f"{key}_by_band": table},
                    text=net_score_text(score), rows_used=int(keep.sum()), rows_dropped=dropped,
                    table=table_spec(display, caption, "tbl-nps", 1), bands=shown, score=score)


@dataclass(frozen=True)
class NetScore:
    overall: stats.NetPromoterScore
    is_nps: bool
    top_min: float
    bottom_max: float
    scale: str
    empty_bands: int
    confidence: float


def net_score_text(s: NetScore) -> str:
    o = s.overall
    ci = _ci(s.confidence)
    if s.is_nps:
        head = (f"The Net Promoter Score is **{o.nps:+.1f}** points ({ci} {o.lower:+.1f} to {o.upper:+.1f}): "
                f"{o.promoters:.1f}% promoters ({s.top_min:g} or more) and {o.detractors:.1f}% detractors "
                f"({s.bottom_max:g} or less).")
    else:
        head = (f"NPS is not defined on the {s.scale} recommendation scale (it needs a 0–10 or 1–10 item), so the "
                f"report shows the **net top-box score** instead: the share answering {s.top_min:g} or more minus the "
                f"share answering {s.bottom_max:g} or less, **{o.nps:+.1f}** points ({ci} {o.lower:+.1f} to "
                f"{o.upper:+.1f}).")
    if s.empty_bands:
        head += f" {s.empty_bands} satisfaction band{'s' if s.empty_bands > 1 else ''} without respondents {'are' if s.empty_bands > 1 else 'is'} left out of the table."
    return head


# ---------------------------------------------------------------- the trap in counts

TRAP_COLUMNS = ["basis", "share", "count", "of", "estimate", "ci_lower", "ci_upper"]


def trap_section(data: SurveyData, params) -> ReportSection:
    """Satisfied = SAT ≥ satisfied_min; would-be defector = 'choose again' ≤ would_not_choose_again_max;
    defector = did not repurchase (respondents whose behaviour is observed)."""
    frame = data.frame
    keep, dropped = data.complete("satisfaction", "repurchase")
    if keep.sum() < MIN_ROWS:
        return _as_report(_too_few(keep, "'would choose again'", dropped), intention=None, behaviour=None)
    satisfied = frame.loc[keep, "satisfaction"].to_numpy(float) >= params.satisfied_min
    would_defect = frame.loc[keep, "choose_again"].to_numpy() <= params.would_not_choose_again_max
    intention = trap_counts(satisfied, would_defect, params.confidence)
    tables = [intention.table().assign(basis="would not choose again")]
    behaviour = None
    if data.has_behaviour:
        kb, _ = data.complete("satisfaction", "behaviour")
        behaviour = trap_counts(frame.loc[kb, "satisfaction"].to_numpy(float) >= params.satisfied_min,
                                ~frame.loc[kb, "repurchased"].to_numpy(bool), params.confidence)
        tables.append(behaviour.table().assign(basis="defected"))
    table = (tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True))[TRAP_COLUMNS]
    caption = (f"Trap counts: satisfied means SAT ≥ {params.satisfied_min:g}; a would-be defector answers "
               f"{params.would_not_choose_again_max:g} or less to 'would choose again' ({_ci(params.confidence)}, "
               "Wilson). A share of no one is shown as –.")
    return _section(data.section_source, results=_record([("trap_intention", intention),
                                                          ("trap_behaviour", behaviour)]),
                    text=trap_text(intention, behaviour, params.confidence), rows_used=int(keep.sum()),
                    rows_dropped=dropped, table=table_spec(table, caption, "tbl-trap",
                                                           {"estimate": 3, "ci_lower": 3, "ci_upper": 3}),
                    intention=intention, behaviour=behaviour)


def trap_text(intention: TrapCounts, behaviour: TrapCounts | None, confidence: float) -> str:
    s1, s2 = intention.satisfied_who_defect, intention.defectors_who_were_satisfied
    ci = _ci(confidence)
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


# ---------------------------------------------------------------- illustrations' cut-offs

def illustration_cutoffs(params) -> dict:
    """Cut-offs for a simulated 1-10 market: the report's own where its measures are on 1-10, else the
    default rules on 1-10 (a 1-7 cut-off never labels a 1-10 market)."""
    from ..parameters.satisfaction_loyalty import CUTOFFS

    sim = Scale(low=SCENARIOS["competitive"].scale_low, high=SCENARIOS["competitive"].scale_high)
    out = {}
    for name, (measure, rule) in CUTOFFS.items():
        own = params.scale_of(measure)
        out[name] = getattr(params, name) if own.bounds == sim.bounds else relative_cutoff(sim, rule)
    return out


def _simulated_or_not(params, reason: str) -> Section | None:
    """None when the illustration runs; else the not-computed section saying why."""
    if params.simulated_illustrations:
        return None
    return not_computed(f"{reason} A simulated illustration is available with `simulated_illustrations: true`.")


# ---------------------------------------------------------------- basic versus potential expectations

def attribute_section(data: SurveyData, params) -> ReportSection:
    """Penalty-reward analysis of ``params.attribute_outcome`` (loyalty or satisfaction) on the attributes.

    Runs on the survey's attribute items; a survey without them gets a not-computed section, or
    the simulated competitive market when the parameters ask for simulated illustrations."""
    label = params.attribute_outcome
    low_max, high_min = params.attribute_low_max, params.attribute_high_min
    source, heading = data.section_source, None
    if not data.attributes:
        skip = _simulated_or_not(params, "the survey has no attribute items, so penalty–reward and Kano classes "
                                         "cannot be estimated.")
        if skip is not None:
            return _as_report(skip)
        cut = illustration_cutoffs(params)
        low_max, high_min = cut["attribute_low_max"], cut["attribute_high_min"]
        data = simulated_survey_data(scenario("competitive", n=params.scenario_n), params.seed)
        source, heading = "simulated", simulated_heading("basic and potential expectations in a simulated market")
    keep, dropped = data.complete(label, *data.attributes)
    if keep.sum() < max(MIN_ROWS, 2 * len(data.attributes) + 2):
        return _as_report(not_computed(f"only {int(keep.sum())} respondents answer {label} and every attribute item; "
                                       "penalty–reward needs more than twice as many as there are attributes.",
                                       int(keep.sum()), dropped))
    outcome = data.frame.loc[keep, label].to_numpy(float)
    attributes = data.frame.loc[keep, data.attributes]
    try:
        pr = penalty_reward(attributes, outcome, low_max, high_min, params.alpha, params.confidence)
    except ValueError as exc:
        return _as_report(not_computed(f"{exc}.", int(keep.sum()), dropped))
    pr.insert(1, "label", pr["attribute"].map(data.attribute_labels).fillna(pr["attribute"]))
    caption = (f"Penalty-reward analysis of {label} in {data.label}: poor = score ≤ {low_max:g}, "
               f"excellent = score ≥ {high_min:g}; asymmetry = reward + penalty with its two-sided p-value.")
    if source == "simulated":
        caption = simulated_caption(caption)
    low, high = data.scales["attributes"]
    curves = attribute_response_curves(attributes, outcome, np.arange(low - 0.5, high + 1.0, 1.0)
                                       if high - low <= 20 else np.linspace(low, high, 11))
    from .attributes import kano_summary

    shown = pr[["label", "penalty", "reward", "asymmetry", "asymmetry_p", "kano_class"]]
    return _section(source, results={"penalty_reward": pr, "kano_classes": pr["kano_class"].value_counts().to_dict(),
                                     "attribute_cutoffs": {"low_max": low_max, "high_min": high_min}},
                    text=kano_summary(pr, params.alpha, label), heading=heading,
                    table=table_spec(shown, caption, "tbl-penalty-reward", {"asymmetry_p": 3}),
                    rows_used=int(keep.sum()), rows_dropped=dropped, outcome_label=label, pr=pr, curves=curves,
                    kano=dict(zip(pr["attribute"], pr["kano_class"])), labels=data.attribute_labels)


# ---------------------------------------------------------------- loyalty types

LOYALTY_TYPE_COLUMNS = ["framework", "type", "count", "share", "ci_lower", "ci_upper"]


def loyalty_types_section(data: SurveyData, params) -> ReportSection:
    """Dick & Basu (attitude = 'choose again' ≥ attitude_high_min × repeat = observed repurchase) and the
    apostle map (satisfied × repeat), on the respondents whose behaviour is observed; without observed
    behaviour, not computed or (if asked) the simulated competitive market."""
    attitude_min, satisfied_min = params.attitude_high_min, params.satisfied_min
    heading, source = None, data.section_source
    if data.has_behaviour:
        keep, dropped = data.complete("satisfaction", "repurchase", "behaviour")
        frame, label = data.frame.loc[keep], data.label
    else:
        skip = _simulated_or_not(params, "the survey has no observed behaviour (`behaviour:` column), so attitude "
                                         "cannot be crossed with repeat purchase.")
        if skip is not None:
            return _as_report(skip)
        cut = illustration_cutoffs(params)
        attitude_min, satisfied_min = cut["attitude_high_min"], cut["satisfied_min"]
        frame = simulate_market(scenario("competitive", n=params.scenario_n), params.seed)
        keep, dropped, label = np.ones(len(frame), bool), {}, "the simulated competitive market"
        source, heading = "simulated", simulated_heading("loyalty types in a simulated market")
    if len(frame) < MIN_ROWS:
        return _as_report(not_computed(f"only {len(frame)} respondents answer 'choose again', satisfaction and the "
                                       "behaviour item.", len(frame), dropped))
    repeat = frame["repurchased"].to_numpy(bool)
    db = dick_basu(frame["choose_again"].to_numpy() >= attitude_min, repeat, params.confidence)
    apostles = apostle_map(frame["satisfaction"].to_numpy() >= satisfied_min, repeat, params.confidence)
    table = pd.concat([db.assign(framework="Dick & Basu"), apostles.assign(framework="Jones & Sasser")])
    caption = (f"Loyalty types in {label}: high attitude = 'would choose again' ≥ {attitude_min:g}, "
               f"satisfied = SAT ≥ {satisfied_min:g}, repeat = repurchased ({_ci(params.confidence)}, Wilson).")
    if source == "simulated" and heading:
        caption = simulated_caption(caption)
    return _section(source, results={"dick_basu": db, "apostle_map": apostles}, heading=heading,
                    text=loyalty_types_text(db, apostles, label),
                    table=table_spec(table[LOYALTY_TYPE_COLUMNS], caption, "tbl-loyalty-types",
                                     {"share": 3, "ci_lower": 3, "ci_upper": 3}),
                    rows_used=len(frame), rows_dropped=dropped, dick_basu=db, apostles=apostles, source_label=label)


def loyalty_types_text(db: pd.DataFrame, apostles: pd.DataFrame, label: str) -> str:
    d = db.set_index("type")["share"]
    a = apostles.set_index("type")["share"]
    return (f"In {label}, **{_pct(d['true loyalty'])}** are truly loyal (positive attitude and repeat purchase) and "
            f"**{_pct(d['spurious loyalty'])}** spuriously loyal (repeat purchase without the attitude); "
            f"**{_pct(a['hostage'])}** are hostages (dissatisfied, yet they stay) and **{_pct(a['mercenary'])}** "
            "mercenaries (satisfied, yet they leave).")


def loyalty_sources_section(params) -> ReportSection:
    """The six simulated loyalty sources on the apostle map (a simulated illustration only)."""
    skip = _simulated_or_not(params, "the six sources of loyalty are a simulated illustration, not estimated from "
                                     "a survey.")
    if skip is not None:
        return _as_report(skip, positions=None)
    sources = simulate_loyalty_sources(params.loyalty_source_n, params.seed)
    positions = source_positions(sources, confidence=params.confidence)
    return _section("simulated", results={"loyalty_source_positions": positions},
                    heading=simulated_heading("six sources of loyalty on the satisfaction-retention map"),
                    rows_used=len(sources), positions=positions, overall_retention=float(sources["repurchased"].mean()),
                    satisfied_min=illustration_cutoffs(params)["satisfied_min"])


# ---------------------------------------------------------------- switching cost

def switching_cost_section(data: SurveyData, params) -> ReportSection:
    """Loyalty on satisfaction for respondents with a low and a high switching cost (the survey's item)."""
    if not data.has_switching_cost:
        return _as_report(not_computed("the survey has no switching-cost item (`switching_cost:`), so retention "
                                       "held by a barrier cannot be separated from loyalty."), result=None)
    outcome = "repurchased" if data.has_behaviour else "choose_again"
    keep, dropped = data.complete("satisfaction", "loyalty", "switching_cost", outcome)
    frame = data.frame.loc[keep]
    try:
        result = switching_cost_by_satisfaction(
            frame["satisfaction"].to_numpy(float), frame["loyalty"].to_numpy(float),
            frame["switching_cost"].to_numpy(float), frame[outcome].to_numpy(float), params.switching_cost_high_min,
            params.satisfied_min, "retention" if data.has_behaviour else "'would choose again'", params.confidence,
            min_group=MIN_ROWS // 2)
    except ValueError as exc:
        return _as_report(not_computed(f"{exc}.", int(keep.sum()), dropped), result=None)
    caption = (f"{result.outcome_label.capitalize()} by switching cost (high = {params.switching_cost_high_min:g} or "
               f"more on the switching-cost item) and satisfaction (satisfied = SAT ≥ {params.satisfied_min:g}), "
               f"{_ci(params.confidence)}.")
    return _section(data.section_source, results={"switching_cost_by_satisfaction": result},
                    text=switching_cost_text(result), rows_used=int(keep.sum()), rows_dropped=dropped,
                    table=table_spec(result.table, caption, "tbl-switching-data",
                                     {"outcome": 3, "ci_lower": 3, "ci_upper": 3}), result=result)


def switching_cost_text(r) -> str:
    """Slopes of loyalty on SAT for low and high switching cost, their difference, and the dissatisfied's outcome."""
    ci = _ci(r.confidence)
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


def switching_cost_removal_section(params) -> ReportSection:
    """The simulated monopoly with and without its switching cost (a simulated illustration only)."""
    skip = _simulated_or_not(params, "removing a switching cost from the same customers is a simulated "
                                     "experiment, not something a survey observes.")
    if skip is not None:
        return _as_report(skip, removal=None)
    satisfied_min = illustration_cutoffs(params)["satisfied_min"]
    monopoly = scenario("monopoly", n=params.scenario_n)
    removal = switching_cost_removal(monopoly, params.seed, satisfied_min, params.confidence)
    caption = simulated_caption("Retention in the simulated monopoly market with its switching cost and with the "
                                "switching cost removed (the same customers and answers; "
                                f"{_ci(params.confidence)}, Wilson).")
    return _section("simulated", results={"switching_cost_removal": removal["table"]},
                    heading=simulated_heading("removing the switching cost of a monopoly"),
                    text=switching_cost_sentence(removal["table"], satisfied_min), rows_used=params.scenario_n,
                    table=table_spec(removal["table"], caption, "tbl-switching",
                                     {"retention": 3, "ci_lower": 3, "ci_upper": 3}), removal=removal)


def switching_cost_sentence(table: pd.DataFrame, satisfied_min: float) -> str:
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

def competitiveness_section(params) -> ReportSection:
    skip = _simulated_or_not(params, "comparing competitive, intermediate and monopoly markets needs markets "
                                     "that differ only in competition: a simulated experiment.")
    if skip is not None:
        return _as_report(skip, curves=None, stated=None)
    curves, stated = competitiveness_curves({name: scenario(name, n=params.scenario_n) for name in SCENARIOS},
                                            params.seed, params.confidence)
    truth = {name: scenario(name).true_curve() for name in SCENARIOS}
    cut = illustration_cutoffs(params)
    top = float(SCENARIOS["competitive"].scale_high)
    return _section("simulated", results={"competitiveness_retention": curves, "scenario_true_curves": truth},
                    heading=simulated_heading("market competitiveness"),
                    text=competitiveness_sentence(curves, cut["satisfied_min"], cut["completely_satisfied_min"], top),
                    rows_used=params.scenario_n * len(SCENARIOS), curves=curves, stated=stated)


def competitiveness_sentence(curves: pd.DataFrame, satisfied_min: float, completely_satisfied_min: float,
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

def one_line_finding(broken: SegmentedFit | None, checks: CeilingChecks, trap: ReportSection,
                     satisfied_min: float) -> str:
    """The bend as the verdict reads it, then the satisfied who would not choose again.

    The breakpoint is named only when the calibrated test says the bend survives the ceiling; a
    model that failed is not used."""
    flat, verdict = checks.flat, checks.verdict
    if verdict is None or flat is None:
        bend = "The ceiling checks did not fit, so the report draws no conclusion on the shape of the curve"
    elif verdict["survives"] and broken is not None:
        bend = (f"Loyalty bends at SAT {broken.breakpoint:.1f} ({_ci(broken.confidence)} {broken.breakpoint_ci[0]:.1f}–"
                f"{broken.breakpoint_ci[1]:.1f}) and the bend survives the ceiling (calibrated p "
                f"{flat.calibrated_p_value:.3f})")
    elif verdict["naive_rejects"]:
        bend = (f"The apparent bend in loyalty is the ceiling of the scale, not a zone of indifference (naive p "
                f"{flat.naive_p_value:.3f}, calibrated p {flat.calibrated_p_value:.3f})")
    else:
        bend = (f"Loyalty shows no change in slope with satisfaction (naive p {flat.naive_p_value:.3f}, calibrated "
                f"p {flat.calibrated_p_value:.3f})")
    s = trap.intention.satisfied_who_defect if trap.intention is not None else None
    if s is None:
        tail = "too few respondents answer 'would choose again' to count the satisfaction trap"
    elif s.n:
        tail = f"{s.estimate:.0%} of satisfied respondents (SAT ≥ {satisfied_min:g}) would not choose again"
    else:
        tail = f"no respondent reaches SAT {satisfied_min:g}, so the satisfaction trap cannot be counted"
    return f"{bend}; {tail}."
