"""Every fit and computation of the satisfaction-loyalty report, in one call: `analyse(params)`.

The report's data come from `satisfaction.data` (the ECSI mobile survey, a user's file or a
simulated market); every estimator of the sibling modules runs here, on the rows complete for
the part's own measures, and the results come back in one `SatisfactionAnalysis`, one record per
part of the report. `satisfaction.sections` turns the records into the report's sections and
fits nothing; `satisfaction.text` writes the sentences.

A part the data cannot support carries the reason (``reason``) instead of numbers; a simulated
illustration stands in for it only when the parameter file sets ``simulated_illustrations: true``.
Every random draw is seeded by ``params.seed`` and the parts run in the report's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import stats
from ..models.plssem import PLSFailure, PLSPathModel, PLSResults
from ..models.segmented import DaviesTest, SegmentedFit, bootstrap_segmented, davies_test, fit_segmented
from .attributes import attribute_response_curves, penalty_reward
from .ceiling import (CeilingAwareFit, FlatZoneTest, ModelFitError, OrderedLogitComparison, SizeCheck,
                      calibrated_flat_zone_test, expected_curve, fit_ceiling_aware, flat_zone_size_check,
                      flat_zone_verdict, is_ordinal, ordered_logit_kink)
from .curves import binned_means, compare_models, fit_linear, fit_spline
from .data import SurveyData, cutoffs_table, illustration_cutoffs, load_report_data, simulated_survey_data
from .loyalty_types import (apostle_map, competitiveness_curves, dick_basu, source_positions,
                            switching_cost_by_satisfaction, switching_cost_removal)
from .simulation import SCENARIOS, scenario, simulate_loyalty_sources, simulate_market
from .topbox import (JonesSasserRatio, TrapCounts, jones_sasser_ratio, logistic_curve, nps_by_band,
                     proportion_by_level, trap_counts)

# Below this many complete respondents a part is not computed.
MIN_ROWS = 10


@dataclass(kw_only=True)
class Part:
    """What every part records besides its numbers: where they come from and the rows used."""

    source: str = "data"                               # "data" or "simulated"
    rows_used: int | None = None
    rows_dropped: dict = field(default_factory=dict)   # reason -> rows left out
    reason: str | None = None                          # why the part is not computed (None: computed)

    @property
    def computed(self) -> bool:
        return self.reason is None


def _skip(cls, reason: str, rows_used: int | None = None, rows_dropped: dict | None = None, **fields):
    return cls(reason=reason, rows_used=rows_used, rows_dropped=rows_dropped or {}, **fields)


def _too_few(cls, keep, item: str, dropped: dict, **fields):
    return _skip(cls, f"only {int(keep.sum())} respondents answer both the satisfaction items and {item} "
                      f"(at least {MIN_ROWS} are needed).", int(keep.sum()), dropped, **fields)


def _illustration_off(params, reason: str) -> str | None:
    """None when the simulated illustration runs; else why the part is not computed."""
    if params.simulated_illustrations:
        return None
    return f"{reason} A simulated illustration is available with `simulated_illustrations: true`."


# ---------------------------------------------------------------- the data

@dataclass(kw_only=True)
class DataSummary(Part):
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
    choose_again_high: float                           # the top of the 'choose again' scale
    confidence: float
    keep: np.ndarray                                   # the rows complete on satisfaction and loyalty


def describe_data(data: SurveyData, params) -> DataSummary:
    """Mean SAT and loyalty, the share at the top of the loyalty scale and the top-box 'choose again' share."""
    keep, dropped = data.complete("satisfaction", "loyalty")
    sat = data.frame.loc[keep, "satisfaction"].to_numpy(float)
    loyalty = data.frame.loc[keep, "loyalty"].to_numpy(float)
    low, high = data.scale
    at_ceiling = stats.proportion(loyalty >= high, params.confidence)
    choose = data.frame["choose_again"].dropna().to_numpy()
    choose_top = stats.proportion(choose >= params.top_box_min, params.confidence)
    return DataSummary(label=data.label, n=data.n, complete=int(keep.sum()), satisfaction_mean=float(sat.mean()),
                       loyalty_mean=float(loyalty.mean()), satisfaction_scale=data.satisfaction_scale,
                       loyalty_scale=data.scale, loyalty_at_ceiling=at_ceiling, choose_again_top_box=choose_top,
                       top_box_min=params.top_box_min, choose_again_high=params.scale_of("choose_again").high,
                       confidence=params.confidence, keep=keep,
                       source=data.section_source, rows_used=int(keep.sum()), rows_dropped=dropped)


# ---------------------------------------------------------------- the curve

@dataclass(kw_only=True)
class CurveFits(Part):
    """Binned means, straight line, spline, broken line (with bootstrap) and Davies' test."""

    sat: np.ndarray
    loyalty: np.ndarray
    grid: np.ndarray                                   # 121 SAT values from the lowest to the highest observed
    binned: pd.DataFrame
    linear: object
    spline: object
    spline_prediction: pd.DataFrame                    # the spline and its band on ``grid``
    davies: DaviesTest
    broken: SegmentedFit | None = None
    failure: str | None = None                         # why the broken line did not fit

    @property
    def breakpoint_estimate(self) -> float | None:
        return None if self.broken is None else self.broken.breakpoint

    @property
    def x_range(self) -> tuple[float, float]:
        return float(np.min(self.sat)), float(np.max(self.sat))


def fit_curves(sat, loyalty, grid, params, source: str = "data", rows_dropped=None) -> CurveFits:
    binned = binned_means(sat, loyalty, params.satisfaction_bands, params.confidence)
    linear = fit_linear(sat, loyalty)
    spline = fit_spline(sat, loyalty, params.spline_df)
    davies = davies_test(sat, loyalty, k=params.davies_k)
    broken, failure = None, None
    try:
        broken = fit_segmented(sat, loyalty, params.confidence)
        broken = bootstrap_segmented(sat, loyalty, broken, params.bootstrap_resamples, seed=params.seed,
                                     confidence=params.confidence)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        broken, failure = None, str(exc)
    return CurveFits(sat=sat, loyalty=loyalty, grid=grid, binned=binned, linear=linear, spline=spline,
                     spline_prediction=spline.predict(grid), davies=davies, broken=broken, failure=failure,
                     source=source, rows_used=len(sat), rows_dropped=rows_dropped or {})


@dataclass(kw_only=True)
class ModelChoice(Part):
    table: pd.DataFrame                                # `curves.compare_models`
    best: dict                                         # criterion -> preferred model
    spline_slopes: pd.DataFrame                        # the spline's marginal effect on the grid, with its band
    slope_range: list


def best_models(models: pd.DataFrame, criteria=("aic", "bic", "cv_rmse")) -> dict:
    """The model each criterion prefers (lowest value) in a `curves.compare_models` table."""
    return {c: models.loc[models[c].idxmin(), "model"] for c in criteria}


def slope_range(slopes: pd.DataFrame) -> list[float]:
    """[min, max] of a marginal-effect curve's ``slope`` column."""
    return [float(slopes["slope"].min()), float(slopes["slope"].max())]


def compare_curve_models(curve: CurveFits, params) -> ModelChoice:
    """AIC, BIC and cross-validated RMSE of the three curves, and the spline's slope at every SAT level."""
    models = compare_models(curve.sat, curve.loyalty, params.spline_df, params.cv_folds, seed=params.seed)
    slopes = curve.spline.marginal_effect(curve.grid, params.confidence)
    return ModelChoice(table=models, best=best_models(models), spline_slopes=slopes, slope_range=slope_range(slopes),
                       source=curve.source, rows_used=curve.rows_used, rows_dropped=curve.rows_dropped)


# ---------------------------------------------------------------- is the flattening real?

@dataclass
class CeilingChecks(Part):
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


def ceiling_checks(sat, loyalty, scale, breakpoint: float | None, grid, params, source: str = "data",
                   rows_dropped=None) -> CeilingChecks:
    """Censored regression, ordered logit with a kink at ``breakpoint``, the calibrated test and the verdict.

    A loyalty score with many distinct values (a continuous index) is treated as continuous: the
    censored model has no rounding (classic two-limit Tobit) and the ordered logit is skipped."""
    rows = {"source": source, "rows_used": len(sat), "rows_dropped": rows_dropped or {}}
    ordinal, reason = is_ordinal(loyalty)
    step = None if ordinal else 0.0
    breakpoint = float(np.median(sat)) if breakpoint is None else breakpoint   # the broken line did not fit
    try:
        censored = fit_ceiling_aware(sat, loyalty, scale, step=step, confidence=params.confidence)
        flat = calibrated_flat_zone_test(sat, loyalty, scale, n_sim=params.n_null_simulations, seed=params.seed,
                                         k=params.davies_k, step=step)
    except ModelFitError as exc:
        return CeilingChecks(None, None, None, None, None, reason if not ordinal else None, str(exc), **rows)
    ordered, note = None, (None if ordinal else reason)
    if ordinal:
        try:
            ordered = ordered_logit_kink(sat, loyalty, breakpoint)
        except ModelFitError as exc:
            note = f"the ordered logit did not converge ({exc})"
    verdict = flat_zone_verdict(flat, censored, ordered, params.alpha)
    return CeilingChecks(censored, ordered, flat, verdict, expected_curve(censored, grid, scale), note, **rows)


@dataclass(kw_only=True)
class SizeCheckPart(Part):
    size: SizeCheck | None = None
    confidence: float
    alpha: float


def check_size(sat, flat: FlatZoneTest | None, scale, params, source: str = "data",
               rows_dropped=None) -> SizeCheckPart:
    """Rejection rates of the naive and calibrated tests under the fitted straight line (if switched on)."""
    levels = {"confidence": params.confidence, "alpha": params.alpha}
    if not params.size_check_samples:
        return _skip(SizeCheckPart, "the size check was switched off for this run (`size_check_samples: 0`).",
                     **levels)
    if flat is None:
        return _skip(SizeCheckPart, "the size check needs the censored fit, which did not converge.", **levels)
    size = flat_zone_size_check(sat, flat, scale, n_samples=params.size_check_samples, n_sim=99, seed=params.seed,
                                alpha=params.alpha, k=params.davies_k)
    return SizeCheckPart(size=size, source=source, rows_used=len(sat), rows_dropped=rows_dropped or {}, **levels)


# ---------------------------------------------------------------- the top-box view

@dataclass(kw_only=True)
class TopBoxShares(Part):
    """Top-box 'choose again' and top recommendation flags, their shares per SAT level and logistic curves."""

    choose_sat: np.ndarray
    choose_top: np.ndarray
    promoter_sat: np.ndarray
    promoter: np.ndarray
    top_levels: pd.DataFrame
    promoter_levels: pd.DataFrame
    promoter_label: str
    series: list                   # (label, shares by level, logistic curve on the grid) per outcome


def top_box_shares(data: SurveyData, grid, params) -> TopBoxShares:
    """Share giving the top 'choose again' answer and share of promoters at each rounded SAT level."""
    frame = data.frame
    keep_c, dropped_c = data.complete("satisfaction", "repurchase")
    keep_p, dropped_p = data.complete("satisfaction", "recommendation")
    choose_sat = frame.loc[keep_c, "satisfaction"].to_numpy(float)
    choose_top = frame.loc[keep_c, "choose_again"].to_numpy() >= params.top_box_min
    promoter_sat = frame.loc[keep_p, "satisfaction"].to_numpy(float)
    promoter = frame.loc[keep_p, "recommend"].to_numpy() >= params.promoter_min
    label = "promoter" if params.nps_defined else f"recommendation ≥ {params.promoter_min:g}"
    top_levels = proportion_by_level(np.rint(choose_sat), choose_top)
    promoter_levels = proportion_by_level(np.rint(promoter_sat), promoter)
    series = [("top-box 'choose again'", top_levels, logistic_curve(choose_sat, choose_top, grid, params.confidence)),
              (label, promoter_levels, logistic_curve(promoter_sat, promoter, grid, params.confidence))]
    return TopBoxShares(choose_sat=choose_sat, choose_top=choose_top, promoter_sat=promoter_sat, promoter=promoter,
                        top_levels=top_levels, promoter_levels=promoter_levels, promoter_label=label, series=series,
                        source=data.section_source, rows_used=int(keep_c.sum()),
                        rows_dropped={**dropped_c, **dropped_p})


@dataclass(kw_only=True)
class JonesSasser(Part):
    top_box: JonesSasserRatio | None = None
    repurchase: JonesSasserRatio | None = None         # when behaviour is observed


def jones_sasser_ratios(data: SurveyData, choose_top, params) -> JonesSasser:
    """Jones-Sasser ratio for top-box 'choose again' and, when behaviour is observed, for repurchase.

    ``choose_top`` is the top-box flag of the rows complete on satisfaction and 'choose again'."""
    keep, dropped = data.complete("satisfaction", "repurchase")
    if keep.sum() < MIN_ROWS:
        return _too_few(JonesSasser, keep, "'would choose again'", dropped)
    sat = data.frame.loc[keep, "satisfaction"].to_numpy(float)
    complete, satisfied = params.completely_satisfied_min, params.satisfied_min
    js = jones_sasser_ratio(sat, choose_top, complete, satisfied, params.confidence)
    behaviour = None
    if data.has_behaviour:
        kb, _ = data.complete("satisfaction", "behaviour")
        behaviour = jones_sasser_ratio(data.frame.loc[kb, "satisfaction"].to_numpy(float),
                                       data.frame.loc[kb, "repurchased"].to_numpy(bool), complete, satisfied,
                                       params.confidence)
    return JonesSasser(top_box=js, repurchase=behaviour, source=data.section_source, rows_used=int(keep.sum()),
                       rows_dropped=dropped)


@dataclass(frozen=True)
class NetScore:
    overall: stats.NetPromoterScore
    is_nps: bool
    top_min: float
    bottom_max: float
    scale: str
    empty_bands: int
    confidence: float
    low: float | None = None                           # the recommendation scale's ends
    high: float | None = None


@dataclass(kw_only=True)
class NetScores(Part):
    table: pd.DataFrame | None = None                  # every band
    shown: pd.DataFrame | None = None                  # the bands with respondents
    score: NetScore | None = None


def net_scores(data: SurveyData, params) -> NetScores:
    """NPS by satisfaction band on a 0-10 / 1-10 recommendation item; a net top-box score on any other scale."""
    keep, dropped = data.complete("satisfaction", "recommendation")
    sat = data.frame.loc[keep, "satisfaction"].to_numpy(float)
    rec = data.frame.loc[keep, "recommend"].to_numpy(float)
    if keep.sum() < MIN_ROWS:
        return _too_few(NetScores, keep, "the recommendation item", dropped)
    table = nps_by_band(sat, rec, params.satisfaction_bands, params.promoter_min, params.detractor_max,
                        params.confidence)
    shown = table[table["n"] > 0].reset_index(drop=True)
    overall = stats.net_promoter_score(rec, params.confidence, params.promoter_min, params.detractor_max)
    score = NetScore(overall, params.nps_defined, params.promoter_min, params.detractor_max,
                     params.scale_of("recommendation").label(), int((table["n"] == 0).sum()), params.confidence,
                     *params.scale_of("recommendation").bounds)
    return NetScores(table=table, shown=shown, score=score, source=data.section_source, rows_used=int(keep.sum()),
                     rows_dropped=dropped)


# ---------------------------------------------------------------- the trap in counts

@dataclass(kw_only=True)
class Trap(Part):
    intention: TrapCounts | None = None                # satisfied x would not choose again
    behaviour: TrapCounts | None = None                # satisfied x defected (observed behaviour)


def count_trap(data: SurveyData, params) -> Trap:
    """Satisfied = SAT ≥ satisfied_min; would-be defector = 'choose again' ≤ would_not_choose_again_max;
    defector = did not repurchase (respondents whose behaviour is observed)."""
    frame = data.frame
    keep, dropped = data.complete("satisfaction", "repurchase")
    if keep.sum() < MIN_ROWS:
        return _too_few(Trap, keep, "'would choose again'", dropped)
    satisfied = frame.loc[keep, "satisfaction"].to_numpy(float) >= params.satisfied_min
    would_defect = frame.loc[keep, "choose_again"].to_numpy() <= params.would_not_choose_again_max
    intention = trap_counts(satisfied, would_defect, params.confidence)
    behaviour = None
    if data.has_behaviour:
        kb, _ = data.complete("satisfaction", "behaviour")
        behaviour = trap_counts(frame.loc[kb, "satisfaction"].to_numpy(float) >= params.satisfied_min,
                                ~frame.loc[kb, "repurchased"].to_numpy(bool), params.confidence)
    return Trap(intention=intention, behaviour=behaviour, source=data.section_source, rows_used=int(keep.sum()),
                rows_dropped=dropped)


# ---------------------------------------------------------------- basic versus potential expectations

@dataclass(kw_only=True)
class PenaltyReward(Part):
    outcome_label: str = ""                            # the outcome regressed: loyalty or satisfaction
    table: pd.DataFrame | None = None                  # `attributes.penalty_reward` with the attribute labels
    curves: pd.DataFrame | None = None                 # mean outcome by attribute score
    low_max: float | None = None
    high_min: float | None = None
    data_label: str = ""
    labels: dict = field(default_factory=dict)
    illustration: bool = False                         # a simulated market stands in for the survey

    @property
    def kano(self) -> dict:
        return dict(zip(self.table["attribute"], self.table["kano_class"]))


def analyse_attributes(data: SurveyData, params) -> PenaltyReward:
    """Penalty-reward analysis of ``params.attribute_outcome`` (loyalty or satisfaction) on the attributes.

    Runs on the survey's attribute items; a survey without them is not computed, or the simulated
    competitive market stands in when the parameters ask for simulated illustrations."""
    label = params.attribute_outcome
    low_max, high_min = params.attribute_low_max, params.attribute_high_min
    source, illustration = data.section_source, False
    if not data.attributes:
        skip = _illustration_off(params, "the survey has no attribute items, so penalty–reward and Kano classes "
                                         "cannot be estimated.")
        if skip is not None:
            return _skip(PenaltyReward, skip)
        cut = illustration_cutoffs(params)
        low_max, high_min = cut["attribute_low_max"], cut["attribute_high_min"]
        data = simulated_survey_data(scenario("competitive", n=params.scenario_n), params.seed)
        source, illustration = "simulated", True
    keep, dropped = data.complete(label, *data.attributes)
    if keep.sum() < max(MIN_ROWS, 2 * len(data.attributes) + 2):
        return _skip(PenaltyReward, f"only {int(keep.sum())} respondents answer {label} and every attribute item; "
                                    "penalty–reward needs more than twice as many as there are attributes.",
                     int(keep.sum()), dropped)
    outcome = data.frame.loc[keep, label].to_numpy(float)
    attributes = data.frame.loc[keep, data.attributes]
    try:
        pr = penalty_reward(attributes, outcome, low_max, high_min, params.alpha, params.confidence)
    except ValueError as exc:
        return _skip(PenaltyReward, f"{exc}.", int(keep.sum()), dropped)
    pr.insert(1, "label", pr["attribute"].map(data.attribute_labels).fillna(pr["attribute"]))
    low, high = data.scales["attributes"]
    curves = attribute_response_curves(attributes, outcome, np.arange(low - 0.5, high + 1.0, 1.0)
                                       if high - low <= 20 else np.linspace(low, high, 11))
    return PenaltyReward(outcome_label=label, table=pr, curves=curves, low_max=low_max, high_min=high_min,
                         data_label=data.label, labels=data.attribute_labels, illustration=illustration,
                         source=source, rows_used=int(keep.sum()), rows_dropped=dropped)


# ---------------------------------------------------------------- loyalty types

@dataclass(kw_only=True)
class LoyaltyTypes(Part):
    dick_basu: pd.DataFrame | None = None
    apostles: pd.DataFrame | None = None
    label: str = ""                                    # whose respondents
    attitude_min: float | None = None
    satisfied_min: float | None = None
    illustration: bool = False                         # the simulated competitive market stands in


def classify_loyalty(data: SurveyData, params) -> LoyaltyTypes:
    """Dick & Basu (attitude = 'choose again' ≥ attitude_high_min × repeat = observed repurchase) and the
    apostle map (satisfied × repeat), on the respondents whose behaviour is observed; without observed
    behaviour, not computed or (if asked) the simulated competitive market."""
    attitude_min, satisfied_min = params.attitude_high_min, params.satisfied_min
    source, illustration = data.section_source, False
    if data.has_behaviour:
        keep, dropped = data.complete("satisfaction", "repurchase", "behaviour")
        frame, label = data.frame.loc[keep], data.label
    else:
        skip = _illustration_off(params, "the survey has no observed behaviour (`behaviour:` column), so attitude "
                                         "cannot be crossed with repeat purchase.")
        if skip is not None:
            return _skip(LoyaltyTypes, skip)
        cut = illustration_cutoffs(params)
        attitude_min, satisfied_min = cut["attitude_high_min"], cut["satisfied_min"]
        frame = simulate_market(scenario("competitive", n=params.scenario_n), params.seed)
        dropped, label = {}, "the simulated competitive market"
        source, illustration = "simulated", True
    if len(frame) < MIN_ROWS:
        return _skip(LoyaltyTypes, f"only {len(frame)} respondents answer 'choose again', satisfaction and the "
                                   "behaviour item.", len(frame), dropped)
    repeat = frame["repurchased"].to_numpy(bool)
    db = dick_basu(frame["choose_again"].to_numpy() >= attitude_min, repeat, params.confidence)
    apostles = apostle_map(frame["satisfaction"].to_numpy() >= satisfied_min, repeat, params.confidence)
    return LoyaltyTypes(dick_basu=db, apostles=apostles, label=label, attitude_min=attitude_min,
                        satisfied_min=satisfied_min, illustration=illustration, source=source, rows_used=len(frame),
                        rows_dropped=dropped)


@dataclass(kw_only=True)
class LoyaltySources(Part):
    positions: pd.DataFrame | None = None
    overall_retention: float | None = None
    satisfied_min: float | None = None


def place_loyalty_sources(params) -> LoyaltySources:
    """The six simulated loyalty sources on the apostle map (a simulated illustration only)."""
    skip = _illustration_off(params, "the six sources of loyalty are a simulated illustration, not estimated from "
                                     "a survey.")
    if skip is not None:
        return _skip(LoyaltySources, skip)
    sources = simulate_loyalty_sources(params.loyalty_source_n, params.seed)
    positions = source_positions(sources, confidence=params.confidence)
    return LoyaltySources(positions=positions, overall_retention=float(sources["repurchased"].mean()),
                          satisfied_min=illustration_cutoffs(params)["satisfied_min"], source="simulated",
                          rows_used=len(sources))


# ---------------------------------------------------------------- switching cost

@dataclass(kw_only=True)
class SwitchingCost(Part):
    result: object = None                              # `loyalty_types.SwitchingCostEffect`


def compare_switching_cost(data: SurveyData, params) -> SwitchingCost:
    """Loyalty on satisfaction for respondents with a low and a high switching cost (the survey's item)."""
    if not data.has_switching_cost:
        return _skip(SwitchingCost, "the survey has no switching-cost item (`switching_cost:`), so retention held by "
                                    "a barrier cannot be separated from loyalty.")
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
        return _skip(SwitchingCost, f"{exc}.", int(keep.sum()), dropped)
    return SwitchingCost(result=result, source=data.section_source, rows_used=int(keep.sum()), rows_dropped=dropped)


@dataclass(kw_only=True)
class SwitchingCostRemoval(Part):
    removal: dict | None = None                        # `loyalty_types.switching_cost_removal`
    satisfied_min: float | None = None


def remove_switching_cost(params) -> SwitchingCostRemoval:
    """The simulated monopoly with and without its switching cost (a simulated illustration only)."""
    skip = _illustration_off(params, "removing a switching cost from the same customers is a simulated "
                                     "experiment, not something a survey observes.")
    if skip is not None:
        return _skip(SwitchingCostRemoval, skip)
    satisfied_min = illustration_cutoffs(params)["satisfied_min"]
    monopoly = scenario("monopoly", n=params.scenario_n)
    removal = switching_cost_removal(monopoly, params.seed, satisfied_min, params.confidence)
    return SwitchingCostRemoval(removal=removal, satisfied_min=satisfied_min, source="simulated",
                                rows_used=params.scenario_n)


# ---------------------------------------------------------------- market competitiveness

@dataclass(kw_only=True)
class MarketComparison(Part):
    curves: pd.DataFrame | None = None                 # retention by SAT level per simulated market
    stated: pd.DataFrame | None = None                 # stated 'choose again' by SAT level per market
    truth: dict | None = None                          # each scenario's true curve
    satisfied_min: float | None = None
    completely_satisfied_min: float | None = None
    top: float | None = None                           # the top of the simulated scale


def compare_markets(params) -> MarketComparison:
    """Competitive, intermediate and monopoly markets simulated side by side (a simulated illustration only)."""
    skip = _illustration_off(params, "comparing competitive, intermediate and monopoly markets needs markets "
                                     "that differ only in competition: a simulated experiment.")
    if skip is not None:
        return _skip(MarketComparison, skip)
    curves, stated = competitiveness_curves({name: scenario(name, n=params.scenario_n) for name in SCENARIOS},
                                            params.seed, params.confidence)
    truth = {name: scenario(name).true_curve() for name in SCENARIOS}
    cut = illustration_cutoffs(params)
    return MarketComparison(curves=curves, stated=stated, truth=truth, satisfied_min=cut["satisfied_min"],
                            completely_satisfied_min=cut["completely_satisfied_min"],
                            top=float(SCENARIOS["competitive"].scale_high), source="simulated",
                            rows_used=params.scenario_n * len(SCENARIOS))


# ---------------------------------------------------------------- what drives satisfaction and loyalty

@dataclass(kw_only=True)
class Drivers(Part):
    """The survey's structural model by PLS path modelling (`models.plssem`) and what it implies.

    ``ipma``: target construct -> importance-performance table; ``priority``: target -> the driver
    to improve first (among the constructs before satisfaction, the largest importance × room to
    improve, `priority_driver`); ``paths``/``totals``: estimates with bootstrap
    percentile and BCa intervals."""

    fit: PLSResults | None = None
    failure: str | None = None
    satisfaction: str = ""
    loyalty: str = ""
    paths: pd.DataFrame | None = None
    totals: pd.DataFrame | None = None
    r_squared: pd.DataFrame | None = None
    quality: pd.DataFrame | None = None
    htmt: pd.DataFrame | None = None
    ipma: dict = field(default_factory=dict)
    priority: dict = field(default_factory=dict)
    prediction: pd.DataFrame | None = None
    scale: tuple = ()
    resamples: int = 0
    confidence: float = 0.95


def priority_driver(ipma: pd.DataFrame, exclude=()) -> str | None:
    """The driver to improve first on an importance-performance map: the largest attainable gain,
    importance × (100 − performance), i.e. the points of the target the driver would add if it
    reached the top of its scale (high importance and room to improve)."""
    table = ipma.drop(index=[e for e in exclude if e in ipma.index])
    if table.empty:
        return None
    return str((table["importance"] * (100 - table["performance"])).idxmax())


def analyse_drivers(data: SurveyData, params) -> Drivers:
    """The declared PLS path model on the respondents complete on its items: bootstrap intervals,
    measurement quality, HTMT, PLSpredict and the importance-performance maps of loyalty and satisfaction."""
    survey = params.survey
    model_spec = survey.structural_model if survey is not None else None
    if survey is None:
        return _skip(Drivers, "a simulated market has no construct items, so the drivers of satisfaction are not "
                              "estimated; a survey that declares a structural model (`structural_model:`) gets them.")
    if model_spec is None or data.items is None:
        return _skip(Drivers, "the survey declares no structural model (`structural_model:` under `survey`, with "
                              "its constructs, items and paths), so the drivers of satisfaction are not estimated.")
    items = data.items
    complete = items.notna().all(axis=1).to_numpy()
    dropped = {"missing an item of the structural model": int((~complete).sum())} if (~complete).any() else {}
    model = PLSPathModel(model_spec.constructs, model_spec.path_pairs, model_spec.modes, model_spec.scheme)
    fit = model.fit(items, resamples=model_spec.bootstrap_resamples, seed=params.seed, confidence=params.confidence)
    roles = {"satisfaction": model_spec.satisfaction, "loyalty": model_spec.loyalty}
    if isinstance(fit, PLSFailure):
        return Drivers(failure=fit.failure, rows_used=fit.nobs, rows_dropped=dropped, **roles)
    scale = survey.measure_scale("constructs").bounds
    paths = fit.intervals("path")
    bca = fit.intervals("path", method="bca")
    paths = paths.assign(bca_lower=bca["lower"], bca_upper=bca["upper"], f_squared=fit.f_squared())
    totals = fit.intervals("total")
    bca_t = fit.intervals("total", method="bca")
    totals = totals.assign(bca_lower=bca_t["lower"], bca_upper=bca_t["upper"])
    quality = fit.reliability()
    htmt = fit.htmt_flags()
    ipma = {target: fit.ipma(target, *scale) for target in dict.fromkeys(roles.values())}
    # Drivers are what comes before satisfaction; satisfaction and what it leads to are outcomes.
    lay = fit.layout
    k = lay.constructs.index(roles["satisfaction"])
    outcomes = [roles["satisfaction"], *(lay.constructs[j] for j in range(len(lay.constructs)) if lay.reach[k, j])]
    priority = {target: priority_driver(table, exclude=outcomes) for target, table in ipma.items()}
    return Drivers(fit=fit, paths=paths, totals=totals, r_squared=fit.intervals("r2"), quality=quality, htmt=htmt,
                   ipma=ipma, priority=priority, prediction=fit.predict(model_spec.predict_folds, params.seed),
                   scale=scale, resamples=model_spec.bootstrap_resamples, confidence=params.confidence,
                   source=data.section_source, rows_used=fit.nobs, rows_dropped=dropped, **roles)


# ---------------------------------------------------------------- the whole report

@dataclass
class SatisfactionAnalysis:
    """Everything the satisfaction-loyalty report shows, computed once (a part left None was not asked for)."""

    params: object
    data: SurveyData | None = None
    cutoffs: pd.DataFrame | None = None                # the cut-offs of this run and where each comes from
    summary: DataSummary | None = None
    curve: CurveFits | None = None
    models: ModelChoice | None = None
    checks: CeilingChecks | None = None
    size: SizeCheckPart | None = None
    top_box: TopBoxShares | None = None
    jones_sasser: JonesSasser | None = None
    nps: NetScores | None = None
    trap: Trap | None = None
    attributes: PenaltyReward | None = None
    loyalty_types: LoyaltyTypes | None = None
    loyalty_sources: LoyaltySources | None = None
    switching_cost: SwitchingCost | None = None
    switching_cost_removal: SwitchingCostRemoval | None = None
    markets: MarketComparison | None = None
    drivers: Drivers | None = None


def analyse(params) -> SatisfactionAnalysis:
    """Load the report's data and compute every part's numbers, in the report's order."""
    data = load_report_data(params)
    summary = describe_data(data, params)
    source, dropped = data.section_source, summary.rows_dropped
    sat = data.frame.loc[summary.keep, "satisfaction"].to_numpy(float)
    loyalty = data.frame.loc[summary.keep, "loyalty"].to_numpy(float)
    grid = np.linspace(sat.min(), sat.max(), 121)
    curve = fit_curves(sat, loyalty, grid, params, source, dropped)
    models = compare_curve_models(curve, params)
    checks = ceiling_checks(sat, loyalty, data.scale, curve.breakpoint_estimate, grid, params, source, dropped)
    size = check_size(sat, checks.flat, data.scale, params, source, dropped)
    top_box = top_box_shares(data, grid, params)
    return SatisfactionAnalysis(
        params, data, cutoffs_table(params), summary, curve, models, checks, size, top_box,
        jones_sasser_ratios(data, top_box.choose_top, params), net_scores(data, params), count_trap(data, params),
        analyse_attributes(data, params), classify_loyalty(data, params), place_loyalty_sources(params),
        compare_switching_cost(data, params), remove_switching_cost(params), compare_markets(params),
        analyse_drivers(data, params))
