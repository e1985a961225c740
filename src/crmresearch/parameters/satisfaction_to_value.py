"""Parameters of 04_satisfaction_to_value: what a point of satisfaction is worth.

Three ways to run the report, exactly one per parameter file:

* `survey` + `transactions` (a user's survey wave and the same customers' transaction log, joined
  by the survey's `id_column` and the log's `customer_column`);
* `simulate` (a joint simulation of survey and purchases with known truth; the default, small);
* `bridge` (no joint file: the ECSI mobile survey's would-choose-again shares by satisfaction band
  as retention rates and CDNOW's fitted BG/NBD and Gamma-Gamma as the economics).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import config
from . import ReportParameters
from .sources import MissingCode, SurveySource, TransactionSource

Effect = Annotated[float, Field(ge=-5, le=5)]
Edge = Annotated[float, Field(ge=-1e6, le=1e6)]
Factor = Annotated[float, Field(ge=1, le=5)]


class PanelSimulation(BaseModel):
    """A joint simulation (`crmresearch.value_chain.simulate_panel`): satisfaction 1-10 with a ceiling and a
    known banded effect (bands 1-6, 7-8, 9, 10) on the purchase rate, the dropout and the spend."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    customers: int = Field(3_000, ge=500, le=2_000_000)
    purchase_effect: list[Effect] = Field([0.0, 0.1, 0.3, 0.7], min_length=4, max_length=4,
                                          description="log multiplier of the mean purchase rate by band")
    dropout_b_effect: list[Effect] = Field([0.0, 0.1, 0.5, 1.0], min_length=4, max_length=4,
                                           description="log multiplier of the Beta b of dropout by band (higher: fewer leave)")
    spend_effect: list[Effect] = Field([0.0, 0.05, 0.1, 0.2], min_length=4, max_length=4,
                                       description="log multiplier of the mean spend by band")
    satisfaction_mean: float = Field(7.8, ge=1, le=10)
    satisfaction_sd: float = Field(1.8, gt=0, le=10)
    intention_noise_sd: float = Field(1.5, ge=0, le=10, description="noise of the stated intentions around satisfaction")


class IntentionBridge(BaseModel):
    """The stated-intention bridge: survey shares as retention, a fitted purchase log as economics."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    survey: SurveySource = SurveySource(dataset="mobi")
    transactions: TransactionSource = TransactionSource(dataset="cdnow_sample")
    calibration_end: date = Field(date(1997, 9, 30))
    overstatement: list[Factor] = Field([1.0, 1.25, 1.5, 2.0], min_length=1, max_length=12,
                                        description="factors by which stated intention overstates retention")
    years: int = Field(5, ge=1, le=50, description="horizon of the retention-based value, in years")


class SatisfactionToValueParameters(ReportParameters):
    survey: SurveySource | None = Field(None, description="the survey wave (path, id_column, items and scale)")
    transactions: TransactionSource | None = Field(None, description="the same customers' transaction log")
    simulate: PanelSimulation | None = PanelSimulation()
    bridge: IntentionBridge | None = None
    other_measures: list[str] = Field([], max_length=5, description="other numeric survey columns entered as covariates")
    other_missing_codes: list[MissingCode] = Field([], max_length=20)
    # Windows left out come from the user's own log, or for the simulated panel and the bridge (both on
    # CDNOW's calendar) from CDNOW's published setup (`crmresearch.windows`).
    cohort_start: date | None = Field(None, description="start of the tracking clock")
    calibration_end: date | None = Field(None, description="end of the calibration period")
    holdout_end: date | None = Field(None, description="end of the holdout period")
    satisfaction_design: Literal["bands", "spline"] = "bands"
    band_edges: list[Edge] | None = Field(None, min_length=3, max_length=12,
                                          description="band j is [edge_j, edge_j+1); default: from the scale")
    dropout_covariates_on: Literal["b", "a_and_b"] = Field("b", description="BG/NBD Beta parameters the covariates move")
    fit_pareto_nbd: bool = True
    intention_cutoff: float | None = Field(None, ge=-1e6, le=1e6,
                                           description="stated intention counts as yes from this answer up")
    clv_horizon_weeks: float = Field(104, gt=0, le=1040)
    clv_step_weeks: float = Field(4.0, gt=0, le=52)
    annual_discount_rate: float = Field(0.10, ge=0, lt=1)
    margin: float = Field(0.30, gt=0, le=1)
    success_rate: float = Field(1.0, gt=0, le=1, description="share of targeted customers a programme lifts one point")
    parameter_draws: int = Field(400, ge=50, le=20_000, description="parameter draws for the value intervals")
    confidence: float = Field(config.CONFIDENCE, gt=0.5, lt=1)

    @model_validator(mode="after")
    def _one_route(self):
        routes = [self.simulate is not None, self.bridge is not None,
                  self.survey is not None or self.transactions is not None]
        if sum(routes) != 1:
            raise ValueError("exactly one of 'simulate', 'bridge' or 'survey' + 'transactions' (set the others "
                             "to null)")
        if routes[2] and (self.survey is None or self.transactions is None):
            raise ValueError("both 'survey' and 'transactions' (the two files joined by customer id)")
        if routes[2] and self.survey.path is not None and not self.survey.id_column:
            raise ValueError("'survey.id_column': the survey column holding the customer id used for the join")
        given = [d for d in (self.cohort_start, self.calibration_end, self.holdout_end) if d is not None]
        if given != sorted(given) or len(set(given[1:])) < len(given[1:]):
            raise ValueError("cohort_start <= calibration_end < holdout_end")
        if self.band_edges is not None and sorted(set(self.band_edges)) != list(self.band_edges):
            raise ValueError("'band_edges' strictly increasing")
        if self.clv_step_weeks > self.clv_horizon_weeks:
            raise ValueError("clv_step_weeks no longer than clv_horizon_weeks")
        if self.other_measures and (self.survey is None or self.survey.path is None):
            raise ValueError("'other_measures' only with a survey file given by 'survey.path' (the simulated panel "
                             "has its own switching cost)")
        return self

    def check_against_data(self, loaded: dict):
        """The user's log against the report's windows (`checks.check_data` calls this before any kernel):
        (field, expectation) of the first problem, or None."""
        from .. import checks

        log = loaded.get("transactions")
        if log is None or self.simulate is not None:
            return None
        problem = checks.windows_problem(self, log)
        if problem:
            return problem
        survey = loaded.get("survey")
        if survey is not None and self.survey is not None and self.survey.id_column:
            ids = survey["respondent_id"].astype(str).str.strip()
            matched = int(ids.isin(set(log["customer_id"].astype(str).str.strip())).sum())
            if matched < checks.MIN_DATA_ROWS:
                return ("survey.id_column", f"survey ids that match the log's customer ids in at least "
                        f"{checks.MIN_DATA_ROWS} rows (found {matched} of {len(ids):,}; ids are compared as text, so "
                        "'00223' and '223' are different customers)")
        return None
