"""Parameters of 01_satisfaction_loyalty: satisfaction-loyalty curves and the satisfaction trap.

The report runs on exactly one data source:

* ``survey``: the shipped ECSI mobile survey (``dataset: mobi``) or a user's file (``path:``)
  with the column mapping below; or
* ``simulation``: a simulated market (``crmresearch.satisfaction.simulation``), named by its
  scenario (competitive, intermediate, monopoly: the presets ``SCENARIOS`` of ``MarketScenario``
  knobs, defined here as plain data) with optional knob overrides.

Each measure has a scale: ``scale`` (default 1-10) serves every measure unless ``scales`` gives
one its own, and ``missing_codes`` (global, or per measure under ``scales``) are read as missing,
as are blank cells. Measures: satisfaction, loyalty, repurchase ("would choose again"),
recommendation, switching_cost, attributes. A score that is the mean of several items (SAT,
loyalty) is missing when one of its items is; every section then uses the respondents complete
on its own measures and reports how many it left out (``Section.rows_dropped``).

Cut-offs (all optional) belong to a measure and default to a rule relative to its scale
L..H (R = H - L), resolved after validation into whole answer points that the report prints;
an explicit value must lie on its measure's scale:

=============================  ==============  ===============================  ======  =====  =====
cut-off                        measure         default rule                     1-10    1-5    0-10
=============================  ==============  ===============================  ======  =====  =====
satisfied_min                  satisfaction    L + ceil(2R/3)                   7       4      7
completely_satisfied_min       satisfaction    L + ceil(8R/9) (top two of 1-10) 9       5      9
would_not_choose_again_max     repurchase      one below L + ceil(2R/3)         6       3      6
top_box_min                    repurchase      H                                10      5      10
attitude_high_min              repurchase      L + ceil(7R/9)                   8       5      8
attribute_low_max              attributes      one below L + ceil(2R/3)         6       3      6
attribute_high_min             attributes      L + ceil(8R/9)                   9       5      9
promoter_min                   recommendation  L + ceil(8R/9)                   9       5      9
detractor_max                  recommendation  one below L + ceil(2R/3)         6       3      6
switching_cost_high_min        switching_cost  L + ceil(R/2)                    6       3      5
=============================  ==============  ===============================  ======  =====  =====

On 1-5 the rules give Jones & Sasser's own definitions (satisfied 4, completely satisfied 5), on
0-10 and 1-10 Reichheld's NPS bands. NPS is reported only for a 0-10 or 1-10 recommendation item;
on any other scale the report shows the net top-box score (share at or above ``promoter_min``
minus share at or below ``detractor_max``) and says why. ``satisfaction_bands`` defaults to the
whole points of the top five units of a short SAT scale (1, 5, 6, ..., 10 on 1-10) or six equal
bands on a wide one.

Sections the data cannot support (no attribute items, no observed behaviour, no switching-cost
item) say so where they would be; they show a simulated market instead only with
``simulated_illustrations: true`` (headed and captioned "Simulated illustration").

A user's survey, e.g. ``params/satisfaction_loyalty/my_survey.yaml``::

    notebook: 01_satisfaction_loyalty
    variant: my_survey
    parameters:
      survey:
        path: data/my_survey.csv          # CSV or Parquet, relative to the project root
        id_column: respondent
        satisfaction: [sat_overall, sat_expectations]
        loyalty: [choose_again, recommend]
        repurchase: choose_again          # the "would choose again" item
        recommendation: recommend         # the NPS item
        behaviour: churned                # optional 0/1 column ...
        behaviour_means: churned          # ... where 1 means churned (or: repurchased)
        switching_cost: lock_in           # optional, on the survey scale
        attributes: [price, network, service]
        scale: {low: 1, high: 7}          # every measure ...
        scales:                           # ... except those with their own scale
          recommendation: {low: 0, high: 10}
          switching_cost: {low: 1, high: 5, missing_codes: [9]}
        missing_codes: [-99]              # read as missing (blanks are missing too)
        structural_model:                 # optional: the "what drives satisfaction" section (PLS-SEM)
          constructs:                     # construct -> its items (on the survey's scale, or
            Price: [price1, price2]       # `scales: {constructs: ...}` with their own missing codes)
            Service: [service1, service2, service3]
            Satisfaction: [sat_overall, sat_expectations]
            Loyalty: [choose_again, recommend]
          paths: [[Price, Satisfaction], [Service, Satisfaction], [Satisfaction, Loyalty]]
          modes: {Price: B}               # formative (Mode B); default reflective (Mode A)
          bootstrap_resamples: 5000
      satisfied_min: 5                    # optional: defaults follow each measure's scale

The structural model is checked before any kernel starts: an unknown item, a construct without
items, an item in two constructs, a path to an undeclared construct, a cycle among the paths, and
(on the survey file) fewer than 30 respondents complete on its items each stop the run with one line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from .. import config
from . import ReportParameters
from .sources import MIN_RESPONDENTS, Scale, SurveyCutoffs, SurveySource, default_bands, resolve_cutoffs

MOBI_QUALITY_ITEMS = [f"PERQ{i}" for i in range(1, 8)]
MOBI_COLUMNS = ("CUEX1", "CUEX2", "CUEX3", "CUSA1", "CUSA2", "CUSA3", "CUSCO", "CUSL1", "CUSL2", "CUSL3", "IMAG1",
                "IMAG2", "IMAG3", "IMAG4", "IMAG5", *MOBI_QUALITY_ITEMS, "PERV1", "PERV2")
ConstructName = Annotated[str, Field(min_length=1, max_length=40)]


class StructuralModel(BaseModel):
    """A PLS path model of the survey (`models.plssem`): constructs -> their items, paths [from, to].

    Items are answers on the survey's scale (``scales: {constructs: ...}`` gives them their own,
    with missing codes); a respondent enters the model when complete on every item. ``modes``
    marks formative constructs (``B``; default ``A``, reflective). ``satisfaction`` and ``loyalty``
    name the constructs the report's section is about. Checked here, before any kernel: a
    construct without items, an item in two constructs, a path to an undeclared construct, a cycle.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    constructs: dict[ConstructName, list[Annotated[str, Field(min_length=1, max_length=200)]]] = Field(
        ..., min_length=2, max_length=30)
    paths: list[tuple[ConstructName, ConstructName]] = Field(..., min_length=1, max_length=200,
                                                             description="[from, to] per path")
    modes: dict[str, Literal["A", "B"]] = Field(default_factory=dict)
    scheme: Literal["centroid", "factorial", "path"] = "path"
    satisfaction: str = "Satisfaction"
    loyalty: str = "Loyalty"
    bootstrap_resamples: int = Field(config.PLS_BOOTSTRAP_RESAMPLES, ge=100, le=50_000)
    predict_folds: int = Field(config.PLS_PREDICT_FOLDS, ge=2, le=20)

    @property
    def path_pairs(self) -> list[tuple[str, str]]:
        return [tuple(p) for p in self.paths]

    @property
    def items(self) -> list[str]:
        return [i for items in self.constructs.values() for i in items]

    @model_validator(mode="after")
    def _recursive_model(self):
        from ..models.plssem import check_specification
        from . import MARKUP, MARKUP_CHARACTERS

        marked = [name for name in self.constructs if MARKUP.search(name)]
        if marked:     # construct names are keys, which the plain-text check of values does not see
            raise ValueError(f"construct names in plain text without any of {MARKUP_CHARACTERS} "
                             f"(got {marked[0][:40]!r})")
        reason = check_specification(self.constructs, self.path_pairs, self.modes)
        if reason:
            raise ValueError(f"a recursive path model, but {reason}")
        for role in ("satisfaction", "loyalty"):
            if getattr(self, role) not in self.constructs:
                raise ValueError(f"'{role}' naming one of the constructs ({getattr(self, role)!r} is not one)")
        return self


class SatisfactionSurvey(SurveySource):
    """A survey for the satisfaction-loyalty report (extends the shared survey block).

    ``satisfaction`` items are averaged into SAT and ``loyalty`` items into the loyalty score;
    ``repurchase`` is the "would choose again" item and ``recommendation`` the NPS item.
    Optional columns: ``behaviour`` (observed 0/1: 1 = ``behaviour_means``), ``switching_cost``
    (on the survey scale) and ``attributes`` (attribute-performance items on the survey scale).
    """

    MEASURES: ClassVar[tuple] = ("satisfaction", "loyalty", "repurchase", "recommendation", "switching_cost",
                                 "attributes", "constructs")

    loyalty: list[str] = Field(default_factory=lambda: ["CUSL1", "CUSL3"], min_length=1)
    behaviour: str | None = None
    behaviour_means: Literal["repurchased", "churned"] = "repurchased"
    switching_cost: str | None = None
    attributes: list[str] = Field(default_factory=lambda: list(MOBI_QUALITY_ITEMS))
    structural_model: StructuralModel | None = Field(
        None, description="constructs, items and paths of a PLS path model (the 'what drives' section)")

    @model_validator(mode="after")
    def _own_file_has_no_mobi_attributes(self):
        # The PERQ defaults describe the shipped survey; a user's file names its own (or none).
        if self.path and "attributes" not in self.model_fields_set:
            object.__setattr__(self, "attributes", [])
        if self.dataset == "mobi" and self.structural_model is not None:
            unknown = [(c, i) for c, items in self.structural_model.constructs.items() for i in items
                       if i not in MOBI_COLUMNS]
            if unknown:
                raise ValueError(f"structural_model items among the ECSI mobile survey's columns (item "
                                 f"'{unknown[0][1]}' of construct '{unknown[0][0]}' is not one of them)")
        return self

    def measure_columns(self) -> dict[str, list[str]]:
        return {**super().measure_columns(), "attributes": list(self.attributes),
                "switching_cost": [self.switching_cost] if self.switching_cost else [],
                "constructs": self.structural_model.items if self.structural_model else []}

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([*super().columns, *self.attributes,
                                   *([self.switching_cost] if self.switching_cost else []),
                                   *(self.structural_model.items if self.structural_model else [])]))

    def load(self):
        """Validated answers (and behaviour) with the shared loaders; missing codes and blanks are NaN."""
        from .. import datasets

        if self.dataset:
            df = datasets.load_mobi()
            return df[["respondent_id", *self.columns]]
        optional = {self.behaviour: self.missing_codes} if self.behaviour else {}
        df = datasets.load_survey_columns(self.path, self.column_specs(), self.id_column, optional=optional)
        if self.behaviour:
            values = df[self.behaviour]
            bad = values.notna() & ~values.isin([0, 1])
            if bad.any():
                raise datasets.DataValidationError(self.path, self.behaviour, "0/1 values (1 = "
                                                   f"{self.behaviour_means}) or blanks", datasets._bad_rows(bad))
        datasets.require_respondents(self.path, df, [self.satisfaction, self.loyalty], MIN_RESPONDENTS,
                                     "satisfaction and loyalty")
        if self.structural_model is not None:
            from ..models.plssem import MIN_COMPLETE_RESPONDENTS

            datasets.require_respondents(self.path, df, [self.structural_model.items], MIN_COMPLETE_RESPONDENTS,
                                         "every item of the structural model (for its bootstrap)", distinct=False)
        return df


@dataclass(frozen=True)
class MarketScenario:
    """Knobs of the simulated market (`satisfaction.simulation`, whose docstring gives the equations)."""

    name: str = "competitive"
    n: int = 2000
    competitiveness: float = 1.0        # c
    switching_cost: float = 0.1         # mean barrier k
    breakpoint: float = 0.75            # ψ, end of the zone of indifference (unit scale)
    flat_zone_height: float = 0.25      # h_min, attitude reached at ψ when c = 1 (unit of the rise)
    loyalty_low: float = 0.15           # ℓ_0
    loyalty_high: float = 1.0           # ℓ_1
    basic_attributes: int = 3
    potential_attributes: int = 2
    basic_weight: float = 0.6           # w_b
    basic_level: float = 1.3            # μ for basic attributes (usually delivered)
    potential_level: float = 0.2        # μ for potential attributes (seldom delighted)
    curvature: float = 3.0              # κ
    halo: float = 0.5                   # ρ
    satisfaction_noise: float = 0.08    # σ_s
    attitude_noise: float = 0.08        # σ_a
    defection_threshold: float = 0.5    # τ
    defection_spread: float = 0.12      # δ
    item_noise: float = 0.5             # σ_item, in scale points
    scale_low: int = 1
    scale_high: int = 10

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def flat_height(self) -> float:
        """h_c: the attitude (as a share of the rise) reached at the breakpoint."""
        c = self.competitiveness
        return (1 - c) * self.breakpoint + c * self.flat_zone_height

    def true_curve(self) -> dict:
        """Breakpoint and slopes of attitudinal loyalty on satisfaction, on the response scale."""
        width = self.scale_high - self.scale_low
        rise = self.loyalty_high - self.loyalty_low
        h, psi = self.flat_height, self.breakpoint
        return {"breakpoint": self.scale_low + width * psi,
                "slope_before": rise * h / psi,
                "slope_after": rise * (1 - h) / (1 - psi)}


# Scenario presets: the two ends of Jones & Sasser's figure and a middle market.
SCENARIOS = {
    "competitive": MarketScenario("competitive", competitiveness=1.0, switching_cost=0.1),
    "intermediate": MarketScenario("intermediate", competitiveness=0.5, switching_cost=0.4),
    "monopoly": MarketScenario("monopoly", competitiveness=0.0, switching_cost=0.85, loyalty_low=0.0),
}


def scenario(name: str, **overrides) -> MarketScenario:
    """A preset scenario with some knobs changed (e.g. ``scenario("monopoly", n=500)``)."""
    return replace(SCENARIOS[name], **overrides)


class SimulationSettings(BaseModel):
    """A simulated market: a preset scenario and optional overrides of its knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    scenario: Literal["competitive", "intermediate", "monopoly"] = "competitive"
    n: int = Field(2000, ge=100, le=1_000_000, description="respondents")
    competitiveness: float | None = Field(None, ge=0, le=1)
    switching_cost: float | None = Field(None, ge=0, le=1)

    @property
    def scale(self) -> Scale:
        sc = SCENARIOS[self.scenario]
        return Scale(low=sc.scale_low, high=sc.scale_high)

    def market(self) -> MarketScenario:
        overrides = {k: v for k, v in (("competitiveness", self.competitiveness),
                                       ("switching_cost", self.switching_cost)) if v is not None}
        return scenario(self.scenario, n=self.n, **overrides)


# cut-off field -> (measure, rule of `sources.CUTOFF_RULES`); see the module docstring's table.
CUTOFFS = {
    "satisfied_min": ("satisfaction", "satisfied"),
    "completely_satisfied_min": ("satisfaction", "top_two"),
    "would_not_choose_again_max": ("repurchase", "below_satisfied"),
    "top_box_min": ("repurchase", "top_box"),
    "attitude_high_min": ("repurchase", "attitude_high"),
    "attribute_low_max": ("attributes", "below_satisfied"),
    "attribute_high_min": ("attributes", "top_two"),
    "promoter_min": ("recommendation", "top_two"),
    "detractor_max": ("recommendation", "below_satisfied"),
    "switching_cost_high_min": ("switching_cost", "midpoint"),
}


def _cutoff(description: str):
    return Field(None, ge=-1e6, le=1e6, allow_inf_nan=False, description=description)


class SatisfactionLoyaltyParameters(SurveyCutoffs, ReportParameters):
    survey: SatisfactionSurvey | None = Field(
        default_factory=lambda: SatisfactionSurvey(dataset="mobi"),
        description="the survey (default: the shipped ECSI mobile survey); null when `simulation` is given")
    simulation: SimulationSettings | None = None

    satisfaction_bands: list[Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]] | None = Field(
        None, min_length=3, max_length=50,
        description="band edges on the satisfaction scale (first band includes its lower edge); None: from the scale")
    satisfied_min: float | None = _cutoff("SAT from which a respondent counts as satisfied")
    completely_satisfied_min: float | None = _cutoff(
        "SAT from which a respondent counts as completely satisfied (Jones & Sasser)")
    would_not_choose_again_max: float | None = _cutoff(
        "'choose again' answer at or below which a respondent is a would-be defector")
    top_box_min: float | None = _cutoff("'choose again' answer counted as top box")
    attitude_high_min: float | None = _cutoff("'choose again' answer from which relative attitude is high")
    attribute_low_max: float | None = _cutoff("attribute score at or below which performance is poor")
    attribute_high_min: float | None = _cutoff("attribute score from which performance is excellent")
    promoter_min: float | None = _cutoff("recommendation answer from which a respondent is a promoter")
    detractor_max: float | None = _cutoff("recommendation answer at or below which a respondent is a detractor")
    switching_cost_high_min: float | None = _cutoff("switching-cost answer from which the cost counts as high")
    attribute_outcome: Literal["loyalty", "satisfaction"] = "loyalty"
    simulated_illustrations: bool = Field(
        False, description="show a simulated market where the data cannot support a section (headed as such)")
    spline_df: int = Field(4, ge=3, le=10)
    cv_folds: int = Field(5, ge=2, le=20)
    bootstrap_resamples: int = Field(200, ge=10, le=20_000, description="bootstrap resamples of the broken line")
    n_null_simulations: int = Field(999, ge=99, le=100_000, description="data sets of the calibrated null")
    davies_k: int = Field(10, ge=5, le=50)
    size_check_samples: int = Field(
        100, ge=0, le=10_000, description="surveys simulated from the fitted null to measure both tests' size (0: skip)")
    scenario_n: int = Field(2000, ge=200, le=1_000_000, description="respondents per simulated scenario")
    loyalty_source_n: int = Field(400, ge=50, le=100_000, description="respondents per loyalty source")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    confidence: float = Field(config.CONFIDENCE, gt=0.5, lt=1)
    _origins: dict = PrivateAttr(default_factory=dict)

    def scale_of(self, measure: str):
        """The declared scale of a measure (the simulated market's scale for a simulation)."""
        return self.survey.measure_scale(measure) if self.survey is not None else self.simulation.scale

    @model_validator(mode="after")
    def _one_source(self):
        if (self.survey is None) == (self.simulation is None):
            raise ValueError("exactly one of 'survey' or 'simulation' (the survey defaults to the shipped ECSI "
                             "mobile survey, so a simulation sets `survey: null`)")
        origins = resolve_cutoffs(self, CUTOFFS, self.scale_of)
        sat = self.scale_of("satisfaction")
        if self.satisfaction_bands is None:
            object.__setattr__(self, "satisfaction_bands", default_bands(sat))
        elif sorted(self.satisfaction_bands) != list(self.satisfaction_bands) or \
                len(set(self.satisfaction_bands)) != len(self.satisfaction_bands):
            raise ValueError("increasing 'satisfaction_bands' edges")
        elif not (sat.low <= self.satisfaction_bands[0] and self.satisfaction_bands[-1] <= sat.high):
            raise ValueError(f"'satisfaction_bands' within the satisfaction scale {sat.label()} "
                             f"(got {self.satisfaction_bands[0]:g} to {self.satisfaction_bands[-1]:g})")
        for high, low, measure in (("completely_satisfied_min", "satisfied_min", "satisfaction"),
                                   ("attribute_high_min", "attribute_low_max", "attributes"),
                                   ("promoter_min", "detractor_max", "recommendation")):
            if getattr(self, high) <= getattr(self, low):
                raise ValueError(f"'{high}' above '{low}' on the {measure} scale {self.scale_of(measure).label()} "
                                 f"(got {getattr(self, high):g} and {getattr(self, low):g}); the scale is too short "
                                 "for the default rules, so set both")
        self._origins = origins
        return self
