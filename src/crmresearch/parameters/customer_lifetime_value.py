"""Parameters of 03_customer_lifetime_value: Dwyer's tables, BTYD models, CLV and value concentration."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import config
from . import ReportParameters
from .engine import EngineSettings
from .sources import DiscreteSource, TransactionSource

# Bounded element types: NaN, inf and absurd magnitudes are refused before any kernel starts.
Share = Annotated[float, Field(ge=0, le=1)]
Money = Annotated[float, Field(ge=-1e9, le=1e9)]
ModelParameter = Annotated[float, Field(gt=0, le=1e6)]


class DwyerScenario(BaseModel):
    """Dwyer's (1989) cohort table on stated assumptions. Defaults: a worked example (20,000 customers,
    retention 65% -> 80%). Without a `dwyer:` block the report measures the table on its own log.

    The example states only the cohort and the retention path; revenue, costs, acquisition cost and
    the discount rate are stated assumptions of the report.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    cohort_size: int = Field(20_000, ge=1, le=1_000_000_000)
    retention_rates: list[Share] = Field([0.65, 0.70, 0.75, 0.80], min_length=1,
                                         description="share kept into year 2, 3, ...")
    revenue_per_customer: Money | list[Money] = Field(150.0, description="yearly revenue per active customer")
    cost_per_customer: Money | list[Money] = Field(90.0, description="yearly cost to serve an active customer")
    acquisition_cost: float = Field(40.0, ge=0, le=1e9, description="one-off cost per acquired customer, year 1")
    discount_rate: float = Field(0.15, ge=0, lt=1, description="yearly discount rate")
    retention_uplift: float = Field(config.RETENTION_UPLIFT, gt=0, lt=0.5, description="rise in every retention rate (Reichheld & Sasser: 5 points)")
    acquisition_to_retention_cost: float = Field(config.ACQUISITION_TO_RETENTION_COST, gt=0, le=1000, description="acquisition cost / retention cost (often quoted as 5-6)")
    migration_purchase_probability: list[Share] = Field(
        [0.65, 0.30, 0.15], min_length=1,
        description="chance of buying this year given the last purchase was 1, 2, 3... years ago (migration case)")

    @model_validator(mode="after")
    def _shares(self):
        for name in ("retention_rates", "migration_purchase_probability"):
            if any(not 0 <= v <= 1 for v in getattr(self, name)):
                raise ValueError(f"'{name}' as shares between 0 and 1")
        years = len(self.retention_rates) + 1
        for name in ("revenue_per_customer", "cost_per_customer"):
            value = getattr(self, name)
            if isinstance(value, list) and len(value) != years:
                raise ValueError(f"'{name}' as one number or one value per year ({years})")
        return self


class SimulatedLog(BaseModel):
    """A transaction log drawn from known BG/NBD and Gamma-Gamma parameters (replaces `transactions`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    customers: int = Field(5_000, ge=100, le=2_000_000)
    bgnbd: dict[str, ModelParameter] = Field({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    gamma_gamma: dict[str, ModelParameter] = Field({"p": 6.25, "q": 3.74, "gamma": 15.44})
    acquisition_days: int = Field(84, ge=1, le=3650)

    @model_validator(mode="after")
    def _names(self):
        if set(self.bgnbd) != {"r", "alpha", "a", "b"} or set(self.gamma_gamma) != {"p", "q", "gamma"}:
            raise ValueError("bgnbd with keys r, alpha, a, b and gamma_gamma with keys p, q, gamma")
        if any(v <= 0 for v in [*self.bgnbd.values(), *self.gamma_gamma.values()]):
            raise ValueError("positive model parameters")
        return self


class ClvParameters(ReportParameters):
    transactions: TransactionSource = TransactionSource(dataset="cdnow_sample")
    simulate: SimulatedLog | None = Field(None, description="draw the log from known parameters instead")
    # Windows left out come from the dataset's published setup, the simulation's calendar or the user's own
    # log (`crmresearch.windows`): never a shipped dataset's dates on a user's log.
    cohort_start: date | None = Field(None, description="start of the tracking clock (week 1); default: see windows.py")
    calibration_end: date | None = Field(None, description="last day of the calibration period")
    holdout_end: date | None = Field(None, description="last day of the holdout period")
    fit_pareto_nbd: bool = Field(True, description="also fit the Pareto/NBD (slower on large logs)")
    clv_horizon_weeks: float = Field(156, gt=0, le=1040)
    clv_step_weeks: float = Field(52 / 12, gt=0, le=52, description="discounting step (default: a month)")
    annual_discount_rate: float = Field(0.15, ge=0, lt=1)
    margin: float = Field(0.30, gt=0, le=1, description="contribution margin on revenue")
    cost_per_order: float = Field(2.0, ge=0, le=1e9, description="cost to serve one transaction (whale curve)")
    cost_per_customer: float = Field(4.0, ge=0, le=1e9, description="fixed cost per customer over the observation (whale curve)")
    tier_shares: list[Share] = Field([0.05, 0.20], min_length=1, description="cumulative customer shares cutting the tiers")
    tier_names: list[str] = Field(["top", "middle", "mass"], min_length=2)
    top_fraction: float = Field(0.2, gt=0, lt=1)
    max_frequency: int = Field(7, ge=1, le=50, description="frequency groups 0..max-1 and max+ in the holdout check")
    confidence: float = Field(config.CONFIDENCE, gt=0.5, lt=1)
    parameter_draws: int = Field(500, ge=50, le=20_000, description="parameter draws for the parametric intervals and bands")
    bootstrap_resamples: int = Field(30, ge=0, le=2_000, description="customer bootstrap re-fits (0: no bootstrap)")
    discrete: DiscreteSource | None = Field(None, description="a discrete-time summary (BG/BB) instead of the transaction log")
    dwyer: DwyerScenario | None = Field(None, description="Dwyer's tables on stated assumptions (the worked example of "
                                        "the dwyer_example variant); null: measured on the report's own log")
    engine: EngineSettings | None = Field(None, description="summarise the log (RFM, weekly tracking) in DuckDB or "
                                          "Spark instead of pandas (None: pandas)")

    @model_validator(mode="after")
    def _consistent(self):
        given = [d for d in (self.cohort_start, self.calibration_end, self.holdout_end) if d is not None]
        if given != sorted(given) or len(set(given[1:])) < len(given[1:]):
            raise ValueError("cohort_start <= calibration_end < holdout_end")
        in_place = (self.engine is not None and self.simulate is None and self.discrete is None
                    and self.transactions.dataset is None)
        if in_place and len(given) < 3:
            raise ValueError("cohort_start, calibration_end and holdout_end for a log the engine reads in place "
                             "(the in-memory route takes missing windows from the log itself)")
        if len(self.tier_names) != len(self.tier_shares) + 1:
            raise ValueError("one more tier name than tier shares")
        if sorted(self.tier_shares) != list(self.tier_shares) or not all(0 < s < 1 for s in self.tier_shares):
            raise ValueError("tier_shares increasing, between 0 and 1")
        if self.discrete is not None and self.simulate is not None:
            raise ValueError("either 'discrete' or 'simulate', not both")
        if self.clv_step_weeks > self.clv_horizon_weeks:
            raise ValueError("clv_step_weeks no longer than clv_horizon_weeks")
        return self

    def check_against_data(self, loaded: dict):
        """The user's log against the report's windows (`checks.check_data` calls this before any kernel):
        (field, expectation) of the first problem, or None."""
        from .. import checks

        log = loaded.get("transactions")
        if log is None or self.simulate is not None or self.discrete is not None:
            return None
        return checks.windows_problem(self, log)
