"""The report's workflow: from a parameter set to the tables, numbers and sentences it shows.

Whatever the source (ECSI mobile survey, a user's file, a simulated market), the report works
on the same columns: ``satisfaction`` (SAT, mean of the satisfaction items), ``loyalty`` (mean
of the loyalty items), ``choose_again``, ``recommend``, optional ``repurchased`` (observed
behaviour), ``switching_cost``, the attribute columns and ``segment``.

Below `load_report_data`, one function (or result class) per section of
``01_satisfaction_loyalty`` combines the estimators of the sibling modules, decides what the
data allow (observed behaviour or not, size check switched on or off) and writes the prose
with computed numbers, so that the notebook only calls, shows and records. Sections whose
recorded results depend on the data expose them as ``.results`` (key -> value, in the order
they are recorded in results.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import stats
from .attributes import attribute_response_curves, penalty_reward
from .ceiling import (CeilingAwareFit, FlatZoneTest, OrderedLogitComparison, SizeCheck, calibrated_flat_zone_test,
                      expected_curve, fit_ceiling_aware, flat_zone_size_check, flat_zone_verdict,
                      ordered_logit_kink)
from .loyalty_types import apostle_map, dick_basu
from .segmented import DaviesTest, SegmentedFit
from .simulation import SATISFACTION_ITEMS, scenario, simulate_market
from .topbox import (JonesSasserRatio, TrapCounts, jones_sasser_ratio, logistic_curve, proportion_by_level,
                     trap_counts)

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


@dataclass
class SurveyData:
    """The respondent table plus what the sections need to know about it."""

    frame: pd.DataFrame
    source: str                      # "survey" or "simulation"
    label: str                       # for prose: "the ECSI mobile-phone survey", ...
    scale: tuple[float, float]
    attributes: list[str]
    attribute_labels: dict = field(default_factory=dict)
    has_behaviour: bool = False
    scenario: object | None = None   # the MarketScenario when simulated
    data_files: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.frame)


def simulated_survey_data(sc, seed) -> SurveyData:
    """Respondents of a simulated market (`simulation.MarketScenario`), with its attributes and behaviour."""
    df = simulate_market(sc, seed)
    attrs = [c for c in df.columns if c.startswith(("basic_", "potential_"))]
    frame = df[["respondent_id", "satisfaction", "choose_again", "recommend", "repurchased", "switching_cost",
                *attrs]].copy()
    frame["loyalty"] = df[["choose_again", "recommend"]].mean(axis=1)
    labels = {a: a.replace("_", " ") + (" (basic expectation)" if a.startswith("basic") else
                                        " (potential expectation)") for a in attrs}
    return SurveyData(frame, "simulation", f"a simulated {sc.name} market", (sc.scale_low, sc.scale_high),
                      attrs, labels, True, sc, {})


def load_report_data(params) -> SurveyData:
    """Build the respondent table from a validated `SatisfactionLoyaltyParameters`."""
    if params.simulation is not None:
        return simulated_survey_data(params.simulation.market(), params.seed)
    survey = params.survey
    raw = survey.load()
    frame = pd.DataFrame({"respondent_id": raw["respondent_id"].to_numpy()})
    frame["satisfaction"] = raw[survey.satisfaction].mean(axis=1).to_numpy()
    frame["loyalty"] = raw[survey.loyalty].mean(axis=1).to_numpy()
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
    if survey.segment:
        frame["segment"] = raw[survey.segment].to_numpy()
    label = "the ECSI mobile-phone survey" if survey.dataset == "mobi" else f"the survey file {survey.file().name}"
    labels = MOBI_QUALITY_LABELS if survey.dataset == "mobi" else {}
    return SurveyData(frame, "survey", label, (survey.scale.low, survey.scale.high), list(survey.attributes),
                      {a: labels.get(a, a) for a in survey.attributes}, has_behaviour, None,
                      {"survey": survey.file()})


def satisfaction_items_note(params) -> str:
    """Which answers make SAT and loyalty, in words."""
    if params.simulation is not None:
        return (f"SAT is the mean of the three simulated satisfaction items ({', '.join(SATISFACTION_ITEMS)}); "
                "loyalty is the mean of 'would choose again' and 'would recommend'.")
    s = params.survey
    return (f"SAT is the mean of {', '.join(s.satisfaction)}; loyalty is the mean of {', '.join(s.loyalty)}; "
            f"'would choose again' is {s.repurchase} and the recommendation item is {s.recommendation}.")


def _record(pairs) -> dict:
    """The results a section records, leaving out those the data did not allow (value None)."""
    return {key: value for key, value in pairs if value is not None}


# ---------------------------------------------------------------- the data

@dataclass(frozen=True)
class DataSummary:
    """Descriptives of the respondent table and the sentence that states them."""

    satisfaction_mean: float
    loyalty_mean: float
    loyalty_at_ceiling: stats.Proportion
    choose_again_top_box: stats.Proportion
    text: str


def describe_data(data: SurveyData, params) -> DataSummary:
    """Mean SAT and loyalty, the share at the top of the loyalty scale and the top-box 'choose again' share."""
    sat = data.frame["satisfaction"].to_numpy(float)
    loyalty = data.frame["loyalty"].to_numpy(float)
    low, high = data.scale
    at_ceiling = stats.proportion(loyalty >= high, params.confidence)
    choose_top = stats.proportion(data.frame["choose_again"].to_numpy() >= params.top_box_min, params.confidence)
    text = (f"The report uses **{data.label}** with **{data.n:,} respondents**. {satisfaction_items_note(params)} "
            f"Mean SAT is **{sat.mean():.2f}** and mean loyalty **{loyalty.mean():.2f}** on a {low:g}-{high:g} scale; "
            f"**{at_ceiling.estimate:.1%}** of respondents (95% CI {at_ceiling.lower:.1%}-{at_ceiling.upper:.1%}) are "
            f"at the top of the loyalty scale, and **{choose_top.estimate:.1%}** give the top answer to 'would choose "
            "again'.")
    return DataSummary(float(sat.mean()), float(loyalty.mean()), at_ceiling, choose_top, text)


# ---------------------------------------------------------------- the curve

def breakpoint_sentence(broken: SegmentedFit, davies: DaviesTest) -> str:
    """The broken line's breakpoint, its two slopes with their intervals and Davies' test, in words."""
    direction = "flattens" if broken.slope_change < 0 else "steepens"
    boot = broken.bootstrap
    return (f"The broken line places the breakpoint at SAT **{broken.breakpoint:.2f}** (95% CI "
            f"{broken.breakpoint_ci[0]:.2f}-{broken.breakpoint_ci[1]:.2f}; bootstrap "
            f"{boot['breakpoint_ci_lower']:.2f}-{boot['breakpoint_ci_upper']:.2f} from "
            f"{boot['n_valid']} of {boot['n_boot']} resamples). Below it loyalty rises "
            f"**{broken.slope_before:.2f}** points per satisfaction point (95% CI {broken.slope_before_ci[0]:.2f} to "
            f"{broken.slope_before_ci[1]:.2f}); above it **{broken.slope_after:.2f}** ({broken.slope_after_ci[0]:.2f} "
            f"to {broken.slope_after_ci[1]:.2f}), so the curve **{direction}**. Davies' test of a change in slope "
            f"gives p = **{davies.p_value:.3f}** (M = {davies.statistic:.2f} over {davies.grid.size} candidate "
            "breakpoints).")


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
    """The ceiling-aware refits, the calibrated flat-zone test and the verdict drawn from them."""

    censored: CeilingAwareFit
    ordered: OrderedLogitComparison
    flat: FlatZoneTest
    verdict: dict                 # `ceiling.flat_zone_verdict`: survives, naive_rejects, ..., text
    expected: pd.DataFrame        # `ceiling.expected_curve` on the report's grid

    def table(self) -> pd.DataFrame:
        """One row per check, the result formatted for the report."""
        flat, censored, ordered = self.flat, self.censored, self.ordered
        return pd.DataFrame([
            {"check": "Davies test, naive", "result": f"p = {flat.naive_p_value:.3f}"},
            {"check": f"Davies test, calibrated ({flat.n_simulations} simulated surveys)",
             "result": f"p = {flat.calibrated_p_value:.3f}"},
            {"check": "Censored regression, straight latent slope",
             "result": f"{censored.linear_slope:.2f} (95% CI {censored.linear_slope_ci[0]:.2f} to "
                       f"{censored.linear_slope_ci[1]:.2f})"},
            {"check": f"Censored regression, slope change at {censored.breakpoint:.2f}",
             "result": f"{censored.slope_change:.2f} (95% CI {censored.slope_change_ci[0]:.2f} to "
                       f"{censored.slope_change_ci[1]:.2f})"},
            {"check": "Censored regression, AIC straight / kinked",
             "result": f"{censored.linear_aic:.1f} / {censored.kinked_aic:.1f}"},
            {"check": "Ordered logit, AIC straight / kinked",
             "result": f"{ordered.linear_aic:.1f} / {ordered.kinked_aic:.1f}"},
        ])

    @property
    def verdict_text(self) -> str:
        return f"**Verdict.** {self.verdict['text']}"


def ceiling_checks(sat, loyalty, scale, breakpoint: float, grid, params) -> CeilingChecks:
    """Censored regression, ordered logit with a kink at ``breakpoint``, the calibrated test and the verdict."""
    censored = fit_ceiling_aware(sat, loyalty, scale, confidence=params.confidence)
    ordered = ordered_logit_kink(sat, loyalty, breakpoint)
    flat = calibrated_flat_zone_test(sat, loyalty, scale, n_sim=params.n_null_simulations, seed=params.seed,
                                     k=params.davies_k)
    verdict = flat_zone_verdict(flat, censored, ordered, params.alpha)
    return CeilingChecks(censored, ordered, flat, verdict, expected_curve(censored, grid, scale))


@dataclass(frozen=True)
class SizeCheckSection:
    """The size check of both tests, or None when ``size_check_samples`` is 0, and its sentence."""

    size: SizeCheck | None
    text: str

    @property
    def results(self) -> dict:
        return _record([("flat_zone_size_check", self.size)])


def size_check_section(sat, flat: FlatZoneTest, scale, params) -> SizeCheckSection:
    """Rejection rates of the naive and calibrated tests under the fitted straight line (if switched on)."""
    if not params.size_check_samples:
        return SizeCheckSection(None, "The size check was switched off for this run (`size_check_samples: 0`).")
    size = flat_zone_size_check(sat, flat, scale, n_samples=params.size_check_samples, n_sim=99, seed=params.seed,
                                alpha=params.alpha, k=params.davies_k)
    text = (f"Over **{size.n_samples}** simulated surveys without any real bend, the naive test rejects "
            f"**{size.naive.estimate:.1%}** of the time (95% CI {size.naive.lower:.1%}-{size.naive.upper:.1%}) and "
            f"the calibrated test **{size.calibrated.estimate:.1%}** ({size.calibrated.lower:.1%}-"
            f"{size.calibrated.upper:.1%}), at a nominal {params.alpha:.0%}.")
    return SizeCheckSection(size, text)


# ---------------------------------------------------------------- the top-box view

@dataclass
class TopBoxShares:
    """Top-box 'choose again' and promoter flags per respondent, and their shares per SAT level."""

    satisfaction: np.ndarray
    choose_top: np.ndarray
    promoter: np.ndarray
    top_levels: pd.DataFrame
    promoter_levels: pd.DataFrame

    def series(self, grid, confidence: float = 0.95) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
        """(label, shares by level, logistic curve on ``grid``) per outcome, for `plots.plot_top_box`."""
        return [("top-box 'choose again'", self.top_levels,
                 logistic_curve(self.satisfaction, self.choose_top, grid, confidence)),
                ("promoter", self.promoter_levels, logistic_curve(self.satisfaction, self.promoter, grid, confidence))]


def top_box_shares(data: SurveyData, params) -> TopBoxShares:
    """Share giving the top 'choose again' answer and share of promoters at each rounded SAT level."""
    sat = data.frame["satisfaction"].to_numpy(float)
    choose_top = data.frame["choose_again"].to_numpy() >= params.top_box_min
    promoter = data.frame["recommend"].to_numpy() >= stats.PROMOTER_MIN
    level = np.rint(sat)
    return TopBoxShares(sat, choose_top, promoter, proportion_by_level(level, choose_top),
                        proportion_by_level(level, promoter))


@dataclass(frozen=True)
class JonesSasserSection:
    """Jones-Sasser ratio for top-box 'choose again' and, when behaviour is observed, for repurchase."""

    top_box: JonesSasserRatio
    repurchase: JonesSasserRatio | None
    text: str

    @property
    def results(self) -> dict:
        return _record([("jones_sasser_top_box", self.top_box), ("jones_sasser_repurchase", self.repurchase)])


def jones_sasser_section(data: SurveyData, choose_top, params) -> JonesSasserSection:
    sat = data.frame["satisfaction"].to_numpy(float)
    complete, satisfied = params.completely_satisfied_min, params.satisfied_min
    js = jones_sasser_ratio(sat, choose_top, complete, satisfied, params.confidence)
    text = (f"Of the **{js.completely_satisfied.n}** completely satisfied respondents (SAT ≥ {complete:g}), "
            f"**{js.completely_satisfied.estimate:.1%}** give the top 'choose again' answer, against "
            f"**{js.merely_satisfied.estimate:.1%}** of the **{js.merely_satisfied.n}** merely satisfied "
            f"({satisfied:g} ≤ SAT < {complete:g}): a Jones-Sasser ratio of "
            f"**{js.ratio:.1f}** (95% CI {js.lower:.1f}-{js.upper:.1f}; Jones and Sasser reported about 6 at Xerox).")
    behaviour = None
    if data.has_behaviour:
        behaviour = jones_sasser_ratio(sat, data.frame["repurchased"].to_numpy(bool), complete, satisfied,
                                       params.confidence)
        text += (f" For observed repurchase the ratio is **{behaviour.ratio:.2f}** (95% CI {behaviour.lower:.2f}-"
                 f"{behaviour.upper:.2f}).")
    return JonesSasserSection(js, behaviour, text)


# ---------------------------------------------------------------- the trap in counts

TRAP_COLUMNS = ["basis", "share", "count", "of", "estimate", "ci_lower", "ci_upper"]


@dataclass
class TrapSection:
    """Trap counts for stated intention and, when behaviour is observed, for actual defection."""

    intention: TrapCounts
    behaviour: TrapCounts | None
    table: pd.DataFrame
    caption: str
    text: str

    @property
    def results(self) -> dict:
        return _record([("trap_intention", self.intention), ("trap_behaviour", self.behaviour)])


def trap_section(data: SurveyData, params) -> TrapSection:
    """Satisfied = SAT ≥ satisfied_min; would-be defector = 'choose again' ≤ would_not_choose_again_max;
    defector = did not repurchase (respondents whose behaviour is observed)."""
    frame = data.frame
    satisfied = frame["satisfaction"].to_numpy(float) >= params.satisfied_min
    would_defect = frame["choose_again"].to_numpy() <= params.would_not_choose_again_max
    intention = trap_counts(satisfied, would_defect, params.confidence)
    tables = [intention.table().assign(basis="would not choose again")]
    behaviour = None
    if data.has_behaviour:
        observed = frame["repurchased"].notna().to_numpy()
        behaviour = trap_counts(satisfied[observed], ~frame.loc[observed, "repurchased"].to_numpy(bool),
                                params.confidence)
        tables.append(behaviour.table().assign(basis="defected"))
    table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
    caption = (f"Trap counts: satisfied means SAT ≥ {params.satisfied_min:g}; a would-be defector answers "
               f"{params.would_not_choose_again_max:g} or less to 'would choose again'.")
    s1, s2 = intention.satisfied_who_defect, intention.defectors_who_were_satisfied
    text = (f"**{s1.estimate:.1%}** of satisfied respondents (95% CI {s1.lower:.1%}-{s1.upper:.1%}) would not "
            f"choose the provider again, and **{s2.estimate:.1%}** of would-be defectors (95% CI "
            f"{s2.lower:.1%}-{s2.upper:.1%}) are satisfied.")
    if behaviour is not None:
        text += (f" Among actual defectors, **{behaviour.defectors_who_were_satisfied.estimate:.1%}** were "
                 "satisfied.")
    return TrapSection(intention, behaviour, table[TRAP_COLUMNS], caption, text)


# ---------------------------------------------------------------- basic versus potential expectations

@dataclass
class AttributeSection:
    """Penalty-reward table (with item labels), attribute response curves and Kano classes."""

    outcome_label: str
    table: pd.DataFrame
    caption: str
    curves: pd.DataFrame
    kano: dict                    # attribute -> Kano-style class
    kano_counts: dict             # class -> number of attributes
    labels: dict = field(default_factory=dict)   # attribute -> readable name


def attribute_section(data: SurveyData, params) -> AttributeSection:
    """Penalty-reward analysis of ``params.attribute_outcome`` (loyalty or satisfaction) on the attributes.

    A survey without attribute items is answered from the simulated competitive market instead,
    as the loyalty-types section does for a survey without observed behaviour.
    """
    if not data.attributes:
        data = simulated_survey_data(scenario("competitive", n=params.scenario_n), params.seed)
    label = params.attribute_outcome
    outcome = data.frame["loyalty" if label == "loyalty" else "satisfaction"].to_numpy(float)
    attributes = data.frame[data.attributes]
    pr = penalty_reward(attributes, outcome, params.attribute_low_max, params.attribute_high_min, params.alpha)
    pr.insert(1, "label", pr["attribute"].map(data.attribute_labels))
    caption = (f"Penalty-reward analysis of {label} in {data.label}: poor = score ≤ {params.attribute_low_max:g}, "
               f"excellent = score ≥ {params.attribute_high_min:g}; asymmetry = reward + penalty with its "
               "two-sided p-value.")
    low, high = data.scale
    curves = attribute_response_curves(attributes, outcome, np.arange(low - 0.5, high + 1.0, 1.0))
    return AttributeSection(label, pr, caption, curves, dict(zip(pr["attribute"], pr["kano_class"])),
                            pr["kano_class"].value_counts().to_dict(), data.attribute_labels)


# ---------------------------------------------------------------- loyalty types

LOYALTY_TYPE_COLUMNS = ["framework", "type", "count", "share", "ci_lower", "ci_upper"]


@dataclass
class LoyaltyTypes:
    """Dick & Basu types and the Jones & Sasser map, on observed behaviour or the simulated market."""

    dick_basu: pd.DataFrame
    apostles: pd.DataFrame
    source_label: str
    table: pd.DataFrame
    caption: str


def loyalty_types_section(data: SurveyData, params) -> LoyaltyTypes:
    """Uses the respondents when their behaviour is observed, else the simulated competitive market;
    high attitude = 'choose again' ≥ attitude_high_min, satisfied = SAT ≥ satisfied_min, repeat = repurchased."""
    if data.has_behaviour:
        source, label = data.frame, data.label
    else:
        source = simulate_market(scenario("competitive", n=params.scenario_n), params.seed)
        label = "the simulated competitive market"
    source = source[source["repurchased"].notna()]
    repeat = source["repurchased"].to_numpy(bool)
    db = dick_basu(source["choose_again"].to_numpy() >= params.attitude_high_min, repeat)
    apostles = apostle_map(source["satisfaction"].to_numpy() >= params.satisfied_min, repeat)
    table = pd.concat([db.assign(framework="Dick & Basu"), apostles.assign(framework="Jones & Sasser")])
    caption = (f"Loyalty types in {label}: high attitude = 'would choose again' ≥ {params.attitude_high_min:g}, "
               f"satisfied = SAT ≥ {params.satisfied_min:g}, repeat = repurchased (95% Wilson intervals).")
    return LoyaltyTypes(db, apostles, label, table[LOYALTY_TYPE_COLUMNS], caption)


def switching_cost_sentence(table: pd.DataFrame, satisfied_min: float) -> str:
    """Retention of the dissatisfied with and without the switching cost (`loyalty_types.switching_cost_removal`)."""
    rt = table.set_index(["market", "customers"])["retention"]
    kept, freed = rt[("with switching cost", "dissatisfied")], rt[("switching cost removed", "dissatisfied")]
    return (f"With the switching cost, **{kept:.1%}** of dissatisfied customers (SAT < {satisfied_min:g}) stay; "
            f"remove it and only **{freed:.1%}** do. The difference is retention without loyalty: hostages, not "
            "apostles.")


# ---------------------------------------------------------------- market competitiveness

def competitiveness_sentence(curves: pd.DataFrame, params, scale) -> str:
    """Retention of each simulated market midway through the satisfied range and at the top of the scale."""
    ret = curves.pivot_table(index="level", columns="scenario", values="share")
    mid = float(np.floor((params.satisfied_min + params.completely_satisfied_min) / 2))
    top = scale[1]
    return (f"At SAT {mid:g}, retention is **{ret.loc[mid, 'competitive']:.0%}** in the competitive market, "
            f"**{ret.loc[mid, 'intermediate']:.0%}** in the intermediate one and **{ret.loc[mid, 'monopoly']:.0%}** "
            f"in the monopoly; at SAT {top:g} it is **{ret.loc[top, 'competitive']:.0%}**, "
            f"**{ret.loc[top, 'intermediate']:.0%}** and **{ret.loc[top, 'monopoly']:.0%}**.")


# ---------------------------------------------------------------- the one-line finding

def one_line_finding(broken: SegmentedFit, checks: CeilingChecks, trap: TrapSection) -> str:
    """Breakpoint, whether the bend survives the ceiling, and the satisfied who would not choose again."""
    flat = checks.flat
    return (f"Breakpoint at SAT {broken.breakpoint:.1f} (95% CI {broken.breakpoint_ci[0]:.1f}-"
            f"{broken.breakpoint_ci[1]:.1f}); bend {'survives' if checks.verdict['survives'] else 'does not survive'} "
            f"the ceiling (naive p {flat.naive_p_value:.3f}, calibrated p {flat.calibrated_p_value:.3f}); "
            f"{trap.intention.satisfied_who_defect.estimate:.0%} of satisfied respondents would not choose again.")
