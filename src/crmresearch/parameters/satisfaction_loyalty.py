"""Parameters of 01_satisfaction_loyalty: satisfaction-loyalty curves and the satisfaction trap.

The report runs on exactly one data source:

* ``survey``: the shipped ECSI mobile survey (``dataset: mobi``) or a user's file (``path:``)
  with the column mapping below; or
* ``simulation``: a simulated market (``crmresearch.satisfaction.simulation``), named by its
  scenario (competitive, intermediate, monopoly) with optional knob overrides.

The sections on loyalty types and market competitiveness always add the simulated scenarios.
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
        segment: region                   # optional labels
        scale: {low: 1, high: 10}
      satisfied_min: 7
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import ReportParameters
from .sources import SurveySource

MOBI_QUALITY_ITEMS = [f"PERQ{i}" for i in range(1, 8)]


class SatisfactionSurvey(SurveySource):
    """A survey for the satisfaction-loyalty report (extends the shared survey block).

    ``satisfaction`` items are averaged into SAT and ``loyalty`` items into the loyalty score;
    ``repurchase`` is the "would choose again" item and ``recommendation`` the NPS item.
    Optional columns: ``behaviour`` (observed 0/1: 1 = ``behaviour_means``), ``switching_cost``
    (on the survey scale), ``attributes`` (attribute-performance items on the survey scale) and
    ``segment`` (any labels).
    """

    loyalty: list[str] = Field(default_factory=lambda: ["CUSL1", "CUSL3"], min_length=1)
    behaviour: str | None = None
    behaviour_means: Literal["repurchased", "churned"] = "repurchased"
    switching_cost: str | None = None
    attributes: list[str] = Field(default_factory=lambda: list(MOBI_QUALITY_ITEMS))
    segment: str | None = None

    @model_validator(mode="after")
    def _own_file_has_no_mobi_attributes(self):
        # The PERQ defaults describe the shipped survey; a user's file names its own (or none).
        if self.path and "attributes" not in self.model_fields_set:
            object.__setattr__(self, "attributes", [])
        return self

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([*super().columns, *self.attributes,
                                   *([self.switching_cost] if self.switching_cost else [])]))

    def load(self):
        """Validated answers (and behaviour, segment) with the shared loaders."""
        from .. import datasets

        if self.dataset:
            df = datasets.load_mobi()
            return df[["respondent_id", *self.columns]]
        optional = [self.behaviour] if self.behaviour else []
        df = datasets.load_survey(self.path, self.columns, (self.scale.low, self.scale.high), self.id_column,
                                  optional=optional)
        if self.behaviour:
            values = df[self.behaviour]
            if not values.dropna().isin([0, 1]).all():
                raise datasets.DataValidationError(self.path, self.behaviour, "0/1 values (1 = "
                                                   f"{self.behaviour_means})", values.index[~values.isin([0, 1])] + 1)
        if self.segment:
            raw = datasets.read_table(self.path)
            if self.segment not in raw.columns:
                raise datasets.DataValidationError(self.path, self.segment, f"a column named '{self.segment}'")
            df[self.segment] = raw[self.segment].astype(str).to_numpy()
        return df


class SimulationSettings(BaseModel):
    """A simulated market: a preset scenario and optional overrides of its knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: Literal["competitive", "intermediate", "monopoly"] = "competitive"
    n: int = Field(2000, ge=100, le=1_000_000, description="respondents")
    competitiveness: float | None = Field(None, ge=0, le=1)
    switching_cost: float | None = Field(None, ge=0, le=1)

    def market(self):
        from ..satisfaction import simulation

        overrides = {k: v for k, v in (("competitiveness", self.competitiveness),
                                       ("switching_cost", self.switching_cost)) if v is not None}
        return simulation.scenario(self.scenario, n=self.n, **overrides)


class SatisfactionLoyaltyParameters(ReportParameters):
    survey: SatisfactionSurvey | None = None
    simulation: SimulationSettings | None = None

    satisfaction_bands: list[float] = Field(
        default_factory=lambda: [1, 5, 6, 7, 8, 9, 10], min_length=3,
        description="band edges on the satisfaction scale (first band includes its lower edge)")
    satisfied_min: float = Field(7, description="SAT from which a respondent counts as satisfied")
    completely_satisfied_min: float = Field(
        9, description="SAT from which a respondent counts as completely satisfied (Jones & Sasser)")
    would_not_choose_again_max: float = Field(
        6, description="'choose again' answer at or below which a respondent is a would-be defector")
    top_box_min: float = Field(10, description="loyalty answer counted as top box")
    attitude_high_min: float = Field(8, description="'choose again' answer from which relative attitude is high")
    attribute_low_max: float = Field(6, description="attribute score at or below which performance is poor")
    attribute_high_min: float = Field(9, description="attribute score from which performance is excellent")
    attribute_outcome: Literal["loyalty", "satisfaction"] = "loyalty"
    spline_df: int = Field(4, ge=3, le=10)
    cv_folds: int = Field(5, ge=2, le=20)
    n_boot: int = Field(200, ge=10, le=20_000, description="bootstrap resamples of the broken line")
    n_null_simulations: int = Field(999, ge=99, le=100_000, description="data sets of the calibrated null")
    davies_k: int = Field(10, ge=5, le=50)
    size_check_samples: int = Field(
        100, ge=0, le=10_000, description="surveys simulated from the fitted null to measure both tests' size (0: skip)")
    scenario_n: int = Field(2000, ge=200, le=1_000_000, description="respondents per simulated scenario")
    loyalty_source_n: int = Field(400, ge=50, le=100_000, description="respondents per loyalty source")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    confidence: float = Field(0.95, gt=0.5, lt=1)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.survey is None) == (self.simulation is None):
            raise ValueError("exactly one of 'survey' or 'simulation'")
        if sorted(self.satisfaction_bands) != list(self.satisfaction_bands):
            raise ValueError("increasing 'satisfaction_bands' edges")
        if self.completely_satisfied_min <= self.satisfied_min:
            raise ValueError("'completely_satisfied_min' above 'satisfied_min'")
        if self.attribute_high_min <= self.attribute_low_max:
            raise ValueError("'attribute_high_min' above 'attribute_low_max'")
        return self
