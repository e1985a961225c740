"""Parameters of the 02_lifecycle_transitions notebook.

Three kinds of input, exactly one per parameter file:

* `transactions`: a transaction log (CDNOW or the user's file); monthly stages are assigned by
  `stage_rules` (recency windows in months, optional purchase-count groups);
* `panel`: the user's own stage panel (customer, period, stage);
* `simulation`: a chain with known matrix (the relationship stages prospect -> formation ->
  stability -> decline -> churn of Dwyer, Schurr & Oh 1987), simulated for a check against the truth.

`engine:` (transaction logs only) builds the monthly stages in DuckDB or Spark and brings back only
their aggregates, for logs whose customer-month panel does not fit in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import config
from ..stage_rules import RECENCY_GROUP_BOUNDS, RECENCY_GROUP_LABELS
from . import ReportParameters
from .engine import EngineSettings
from .sources import TransactionSource, resolve_data_path

RELATIONSHIP_STATES = ["prospect", "formation", "stability", "decline", "churn"]

# Bounded element types: NaN, inf and absurd magnitudes are refused before any kernel starts.
Probability = Annotated[float, Field(ge=0, le=1)]
Reward = Annotated[float, Field(ge=-1e9, le=1e9)]
Months = Annotated[int, Field(ge=1, le=1200)]
PurchaseCount = Annotated[int, Field(ge=1, le=100_000)]
STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StageRuleParameters(BaseModel):
    """Recency groups (months since last purchase) and purchase-count groups."""

    model_config = STRICT

    recency_bounds_months: list[Months] = Field(default_factory=lambda: list(RECENCY_GROUP_BOUNDS), min_length=1,
                                             description="upper bounds of the recency groups (inclusive)")
    recency_labels: list[str] = Field(default_factory=lambda: list(RECENCY_GROUP_LABELS))
    purchase_count_bounds: list[PurchaseCount] | None = Field(None, description="e.g. [1, 2] for one / two / three+")
    purchase_count_labels: list[str] | None = None
    end_month: str | None = Field(None, pattern=r"^\d{4}-\d{2}$",
                                  description="last month of the panel (default: last month in the data)")

    @model_validator(mode="after")
    def _consistent(self):
        b = self.recency_bounds_months
        if b != sorted(set(b)) or b[0] < 1:
            raise ValueError("'recency_bounds_months' increasing positive month counts")
        if len(self.recency_labels) != len(b) + 1:
            raise ValueError("'recency_labels' one label more than 'recency_bounds_months'")
        if (self.purchase_count_bounds is None) != (self.purchase_count_labels is None):
            raise ValueError("'purchase_count_bounds' and 'purchase_count_labels' together")
        if self.purchase_count_bounds is not None:
            c = self.purchase_count_bounds
            if c != sorted(set(c)) or c[0] < 1 or len(self.purchase_count_labels) != len(c) + 1:
                raise ValueError("increasing 'purchase_count_bounds' and one label more in 'purchase_count_labels'")
        return self


class PanelSource(BaseModel):
    """A user's stage panel: one row per customer and period."""

    model_config = STRICT

    path: str
    customer_column: str = "customer_id"
    period_column: str = "period"
    stage_column: str = "stage"
    states: list[str] = Field(min_length=2, description="stages in lifecycle order")
    absorbing: list[str] = Field(default_factory=list)
    stage_rewards: list[Reward] | None = Field(None, description="net contribution per period by stage")
    active_stages: list[str] | None = Field(None, description="stages counted as active (default: non-absorbing)")

    @model_validator(mode="after")
    def _check(self):
        object.__setattr__(self, "path", resolve_data_path(self.path))
        if not set(self.absorbing) <= set(self.states) or not set(self.active_stages or []) <= set(self.states):
            raise ValueError("'absorbing' and 'active_stages' among 'states'")
        if self.stage_rewards is not None and len(self.stage_rewards) != len(self.states):
            raise ValueError("one reward per stage in 'stage_rewards'")
        return self

    def load(self):
        from ..datasets import load_stage_panel

        return load_stage_panel(self.path, self.customer_column, self.period_column, self.stage_column,
                                self.states)

    def file(self) -> Path:
        return Path(self.path)


def _check_matrix(name: str, matrix: list[list[float]], n: int) -> None:
    m = np.asarray(matrix, float)
    if m.shape != (n, n):
        raise ValueError(f"'{name}' a {n} x {n} matrix")
    if np.any(m < 0) or not np.allclose(m.sum(axis=1), 1, atol=1e-6):
        raise ValueError(f"'{name}' rows of non-negative probabilities summing to 1")


class SimulationParameters(BaseModel):
    """A known chain to simulate; defaults are the relationship stages (Dwyer, Schurr & Oh 1987)."""

    model_config = STRICT

    states: list[str] = Field(default_factory=lambda: list(RELATIONSHIP_STATES))
    matrix: list[list[Probability]] = Field(default_factory=lambda: [
        [0.50, 0.30, 0.00, 0.00, 0.20],
        [0.05, 0.50, 0.30, 0.05, 0.10],
        [0.00, 0.02, 0.80, 0.13, 0.05],
        [0.00, 0.05, 0.20, 0.45, 0.30],
        [0.00, 0.00, 0.00, 0.00, 1.00],
    ])
    initial: list[Probability] = Field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0, 0.0])
    absorbing: list[str] = Field(default_factory=lambda: ["churn"])
    n_customers: int = Field(2000, ge=50, le=2_000_000)
    n_periods: int = Field(12, ge=3, le=240)
    entry_periods: int = Field(4, ge=1, le=239, description="customers enter evenly over the first k periods")
    covariate_share: float = Field(0.5, ge=0, le=1, description="share of customers with x = 1")
    covariate_matrix: list[list[Probability]] | None = Field(default_factory=lambda: [
        [0.45, 0.40, 0.00, 0.00, 0.15],
        [0.05, 0.45, 0.40, 0.03, 0.07],
        [0.00, 0.02, 0.80, 0.13, 0.05],
        [0.00, 0.05, 0.20, 0.45, 0.30],
        [0.00, 0.00, 0.00, 0.00, 1.00],
    ], description="matrix of customers with x = 1 (e.g. an onboarding programme); null: no effect")
    stage_rewards: list[Reward] = Field(default_factory=lambda: [-5.0, 10.0, 40.0, 15.0, 0.0],
                                       description="net contribution per period by stage")
    stable_periods_for_long_lasting: int = Field(6, ge=1, le=240)

    @model_validator(mode="after")
    def _check(self):
        n = len(self.states)
        _check_matrix("matrix", self.matrix, n)
        if self.covariate_matrix is not None:
            _check_matrix("covariate_matrix", self.covariate_matrix, n)
        if len(self.initial) != n or not np.isclose(sum(self.initial), 1):
            raise ValueError("'initial' one probability per stage, summing to 1")
        if len(self.stage_rewards) != n:
            raise ValueError("one reward per stage in 'stage_rewards'")
        if not set(self.absorbing) <= set(self.states):
            raise ValueError("'absorbing' stages among 'states'")
        if self.entry_periods >= self.n_periods:
            raise ValueError("'entry_periods' fewer than 'n_periods'")
        return self

    @property
    def has_relationship_stages(self) -> bool:
        return set(RELATIONSHIP_STATES) <= set(self.states)


class LifecycleParameters(ReportParameters):
    """Parameters of the lifecycle-transitions report."""

    transactions: TransactionSource | None = Field(default_factory=lambda: TransactionSource(dataset="cdnow_sample"))
    stage_rules: StageRuleParameters = Field(default_factory=StageRuleParameters)
    panel: PanelSource | None = None
    simulation: SimulationParameters | None = None
    compare_finer_states: bool = Field(True, description="also fit months-since-purchase x purchase-count stages")
    bootstrap_resamples: int = Field(200, ge=0, le=5000, description="customer-cluster bootstrap resamples")
    confidence: float = Field(config.CONFIDENCE, gt=0.5, lt=1)
    homogeneity_groups: int = Field(2, ge=2, le=24, description="equal runs of periods compared")
    backtest_origin: int | None = Field(None, ge=1, le=1200, description="period index of the forecast origin")
    forecast_horizon: int = Field(6, ge=1, le=60)
    cohort_steps: int = Field(9, ge=1, le=36, description="periods shown in the entry-cohort flows")
    discount_rate: float = Field(0.01, gt=-1, lt=1, description="per period, for the stage values")
    value_horizon: int = Field(36, ge=1, le=600, description="periods summed in the finite-horizon stage value")
    margin: float = Field(1.0, gt=0, le=1, description="contribution share of revenue (transactions only)")
    covariate_model: bool = True
    sojourn_max: int = Field(12, ge=2, le=60)
    engine: EngineSettings | None = Field(None, description="build the monthly stages of a transaction log in DuckDB "
                                          "or Spark and bring back only their aggregates (None: pandas)")

    @model_validator(mode="after")
    def _one_source(self):
        if self.panel is not None and self.simulation is not None:
            raise ValueError("at most one of 'panel' or 'simulation' (without them 'transactions' is used)")
        if self.panel is None and self.simulation is None and self.transactions is None:
            raise ValueError("a data source: 'transactions', 'panel' or 'simulation'")
        if self.engine is not None and (self.panel is not None or self.simulation is not None):
            raise ValueError("'engine' only with a transaction log ('transactions'), not with 'panel' or 'simulation'")
        return self

    @property
    def source_kind(self) -> Literal["transactions", "panel", "simulation"]:
        """A panel or a simulation replaces the default transaction source."""
        if self.simulation is not None:
            return "simulation"
        if self.panel is not None:
            return "panel"
        return "transactions"
