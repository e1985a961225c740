"""Parameters of 06_relationship_states: hidden relationship states of customers (a hidden Markov model).

Exactly one data block: `transactions` (CDNOW or a user's transaction log, turned into a monthly panel
of purchase yes/no and spend when bought), `panel` (a user's panel file: one row per customer and
period, responses and covariates declared here with their types), or `simulate` (a panel with known
truth, reported as a simulated illustration). Every block forbids unknown keys; every number is bounded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .. import config
from . import ReportParameters
from .lifecycle_transitions import StageRuleParameters
from .sources import MissingCode, SCALE_BOUND, TransactionSource, resolve_data_path

STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
Column = Annotated[str, Field(min_length=1, max_length=200)]
States = Annotated[int, Field(ge=1, le=config.HMM_MAX_STATES)]
ScalePoint = Annotated[float, Field(ge=-SCALE_BOUND, le=SCALE_BOUND)]
RESPONSE_TYPES = ("binary", "poisson", "gaussian", "lognormal", "gamma", "categorical", "ordinal")


class ResponseSpec(BaseModel):
    """One response column: its type; an ordinal item's scale (whole answer points `low`..`high`);
    codes that mean "no answer" (e.g. 0 or 99 on a 1–5 item)."""

    model_config = STRICT

    type: Literal[RESPONSE_TYPES]
    scale: tuple[ScalePoint, ScalePoint] | None = Field(None, description="low and high answer of an ordinal item")
    missing_codes: list[MissingCode] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _scale(self):
        if self.type == "ordinal":
            if self.scale is None:
                raise ValueError("'scale: [low, high]' for an ordinal response")
            low, high = self.scale
            if low != int(low) or high != int(high) or not low < high:
                raise ValueError("an ordinal 'scale' of whole answer points, low below high")
            if high - low > 20:
                raise ValueError("an ordinal 'scale' of at most 21 answer points")
            inside = [c for c in self.missing_codes if low <= c <= high and c == int(c)]
            if inside:
                raise ValueError(f"'missing_codes' outside the scale (code {inside[0]:g} is an answer)")
        elif self.scale is not None:
            raise ValueError("'scale' only for an ordinal response")
        return self

    @property
    def levels(self) -> list[float] | None:
        if self.type != "ordinal":
            return None
        return [float(v) for v in range(int(self.scale[0]), int(self.scale[1]) + 1)]


class UserPanelSource(BaseModel):
    """A user's panel (`path:` to CSV or Parquet): one row per customer and period (whole numbers,
    consecutive periods one apart; a missing period is a gap), the responses with their types and
    the covariates of the initial and transition probabilities. Customer ids are read as text."""

    model_config = STRICT

    path: str
    id_column: Column = "customer_id"
    period_column: Column = "period"
    responses: dict[Column, ResponseSpec] = Field(min_length=1, max_length=12)
    initial_covariates: list[Column] = Field(default_factory=list, max_length=10)
    transition_covariates: list[Column] = Field(default_factory=list, max_length=10)
    purchase_response: Column | None = Field(None, description="the binary response that is a purchase (for value)")
    spend_response: Column | None = Field(None, description="the spend response (lognormal or gamma) for value")

    _max_states: int = PrivateAttr(2)
    _check_path = field_validator("path")(classmethod(lambda cls, v: resolve_data_path(v)))

    @model_validator(mode="after")
    def _consistent(self):
        named = [self.id_column, self.period_column, *self.responses, *self.initial_covariates,
                 *self.transition_covariates]
        repeated = sorted({c for c in named if named.count(c) > 1})
        if repeated:
            raise ValueError(f"each column in one role only ('{repeated[0]}' is named twice)")
        if self.purchase_response is not None and self.responses.get(self.purchase_response, None) is None:
            raise ValueError(f"'purchase_response' one of the responses (got '{self.purchase_response}')")
        if self.purchase_response is not None and self.responses[self.purchase_response].type != "binary":
            raise ValueError("'purchase_response' a binary response")
        if self.spend_response is not None:
            spec = self.responses.get(self.spend_response)
            if spec is None or spec.type not in ("lognormal", "gamma"):
                raise ValueError("'spend_response' a lognormal or gamma response")
            if self.purchase_response is None:
                raise ValueError("'purchase_response' together with 'spend_response'")
        return self

    def file(self) -> Path:
        return Path(self.path)

    def load(self):
        """The validated long panel (`relationship_states.data.load_user_panel`)."""
        from ..relationship_states.data import load_user_panel

        return load_user_panel(self, self._max_states)


class SimulatedPanel(BaseModel):
    """Customers drawn from a three-state model with known parameters in which marketing contacts
    move customers up (a simulated illustration)."""

    model_config = STRICT

    customers: int = Field(4000, ge=100, le=2_000_000)
    months: int = Field(18, ge=3, le=240)
    contact_rate: float = Field(0.3, gt=0, lt=1, description="share of customers contacted in a month")


class RelationshipStatesParameters(ReportParameters):
    transactions: TransactionSource | None = Field(TransactionSource(dataset="cdnow_sample"),
                                                   description="a transaction log (CDNOW): a monthly panel "
                                                               "(null: use `panel` or `simulate`)")
    panel: UserPanelSource | None = Field(None, description="a user's panel file")
    simulate: SimulatedPanel | None = Field(None, description="a simulated panel with known truth")
    states: list[States] = Field(default_factory=lambda: [1, 2, 3, 4], min_length=1, max_length=config.HMM_MAX_STATES,
                                 description="numbers of states compared (BIC chooses)")
    absorbing: bool = Field(False, description="the last state is never left (churn)")
    ordered: bool = Field(False, description="states move only to neighbouring states")
    stage_rules: StageRuleParameters = Field(StageRuleParameters(),
                                             description="recency stages the states are compared with (transactions)")
    holdout_share: float = Field(0.2, ge=0, le=0.5, description="customers held out for the holdout log-likelihood")
    max_customers: int = Field(50_000, ge=100, le=5_000_000, description="customers fitted at most (a seeded sample)")
    starts: int = Field(config.HMM_STARTS, ge=1, le=50, description="deterministic EM starting points per fit")
    discount_rate: float = Field(0.01, ge=0, le=1, description="discount rate per period for value by state")
    value_horizon: int = Field(24, ge=1, le=600, description="periods ahead counted in value by state")
    confidence: float = Field(config.CONFIDENCE, gt=0.5, lt=1, description="level of every interval")
    parameter_draws: int = Field(config.PARAMETER_DRAWS, ge=100, le=100_000,
                                 description="parameter draws for the intervals of the transition matrix")

    @field_validator("states")
    @classmethod
    def _states(cls, v):
        if v != sorted(set(v)):
            raise ValueError("increasing numbers of states without repeats")
        return v

    @model_validator(mode="after")
    def _one_source(self):
        given = [n for n in ("transactions", "panel", "simulate") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("exactly one of 'transactions', 'panel' or 'simulate'")
        if self.panel is not None:
            self.panel._max_states = max(self.states)
        if self.absorbing and min(self.states) < 2:
            raise ValueError("at least 2 states with 'absorbing' (one to leave from)")
        return self
