"""Parameters of 05_contractual_retention: sBG and BdW retention, DERL by tier, a retention programme, BG/BB.

Every block forbids unknown keys, every number is bounded and finite. Data come from the
published Fader & Hardie (2007) cohorts, a user's cohort table or subscriber log (`path:`), or a
simulation of telecom subscribers in value tiers (`simulate:`, reported as a simulated
illustration).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import config
from . import ReportParameters
from .sources import DataSource, DiscreteSource, resolve_data_path

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CohortSource(DataSource):
    """Survivor counts per cohort: `dataset: fader_hardie_2007` (the published tables) or `path:` to a
    CSV/Parquet with a period column (0, 1, 2, ...) and one column of customers still active per cohort."""

    model_config = _STRICT

    dataset: Literal["fader_hardie_2007"] | None = None
    path: str | None = None
    period_column: str = Field("period", min_length=1, max_length=200, description="column holding 0, 1, 2, ...")

    def file(self):
        """The user's file; None for the published tables, which live in the code (`models.retention`)."""
        return Path(self.path) if self.path else None

    def load(self) -> dict:
        """Cohort name -> customers alive at t = 0, 1, ... (validated; `subscriptions`)."""
        from .. import subscriptions

        if self.dataset:
            return {k: list(v) for k, v in subscriptions.FADER_HARDIE_2007_SURVIVORS.items()}
        return subscriptions.read_cohort_table(self.path, self.period_column)


class SubscriberSource(BaseModel):
    """A subscriber log (`path:`): one row per subscriber with start date, end date (blank = still a
    customer), tier and revenue per period; `observation_end` is the date the log was extracted."""

    model_config = _STRICT

    path: str
    observation_end: date = Field(description="last day of observation: blank end dates are censored here")
    customer_column: str = Field("customer", min_length=1, max_length=200)
    start_column: str = Field("start", min_length=1, max_length=200)
    end_column: str = Field("end", min_length=1, max_length=200)
    tier_column: str = Field("tier", min_length=1, max_length=200)
    revenue_column: str = Field("monthly_revenue", min_length=1, max_length=200, description="revenue per period")
    period_months: int = Field(1, ge=1, le=24, description="length of one renewal period in months")
    date_format: str | None = Field(None, max_length=50, description="strftime format of the dates (default: ISO)")

    _check_path = field_validator("path")(classmethod(lambda cls, v: resolve_data_path(v)))

    def file(self) -> Path:
        return Path(self.path)

    def load(self):
        """One validated row per subscriber (`subscriptions.read_subscriber_log`)."""
        from .. import subscriptions

        return subscriptions.read_subscriber_log(self.path, self.observation_end, self.customer_column, self.start_column,
                                        self.end_column, self.tier_column, self.revenue_column, self.period_months,
                                        self.date_format)


class TierSpec(BaseModel):
    """One value tier of the simulated subscribers: share of subscribers, sBG churn (monthly), revenue."""

    model_config = _STRICT

    share: float = Field(gt=0, le=1, description="share of subscribers in the tier")
    alpha: float = Field(gt=0, le=1000, description="sBG α of the tier's monthly churn probabilities")
    beta: float = Field(gt=0, le=10000, description="sBG β (mean churn α/(α+β))")
    monthly_revenue: float = Field(gt=0, le=1e7, description="mean revenue per subscriber and month")
    revenue_spread: float = Field(0.3, ge=0, le=3, description="log-normal spread of revenue within the tier")


DEFAULT_TIERS = {
    # Telecom value tiers: large accounts, small and medium business, mass market. Revenue is set so
    # that the top 20% of subscribers bring about 80% of revenue; churn falls with value.
    "top": TierSpec(share=0.05, alpha=0.6, beta=25.0, monthly_revenue=400.0),
    "sme": TierSpec(share=0.15, alpha=0.8, beta=14.0, monthly_revenue=120.0),
    "mass": TierSpec(share=0.80, alpha=1.0, beta=6.0, monthly_revenue=12.0),
}


class SimulatedSubscribers(BaseModel):
    """Telecom subscribers in value tiers drawn from known sBG parameters (a simulated illustration)."""

    model_config = _STRICT

    customers: int = Field(20_000, ge=200, le=2_000_000)
    acquisition_months: int = Field(24, ge=1, le=240, description="subscribers join uniformly over these months")
    observation_months: int = Field(36, ge=2, le=360, description="months from the first join to the log's extraction")
    tiers: dict[str, TierSpec] = Field(DEFAULT_TIERS, min_length=1, max_length=10)

    @model_validator(mode="after")
    def _consistent(self):
        if self.acquisition_months >= self.observation_months:
            raise ValueError("acquisition_months shorter than observation_months")
        if abs(sum(t.share for t in self.tiers.values()) - 1) > 1e-6:
            raise ValueError("tier shares that add up to 1")
        return self


class RetentionProgramme(BaseModel):
    """A retention programme that lowers one tier's (or cohort's) mean churn probability by a share."""

    model_config = _STRICT

    tier: str | None = Field(None, max_length=200, description="tier or cohort it targets (default: the largest)")
    churn_reduction: float = Field(0.2, gt=0, lt=1, description="share by which the mean churn probability falls")
    cost_per_customer: float = Field(5.0, ge=0, le=1e7, description="programme cost per targeted active customer")
    acquisition_cost: float = Field(100.0, ge=0, le=1e8, description="cost of acquiring one new customer")


class ContractualParameters(ReportParameters):
    cohorts: CohortSource | None = Field(None, description="survivor tables per cohort: the published "
                                         "`dataset: fader_hardie_2007` or a user's `path:`")
    subscribers: SubscriberSource | None = Field(None, description="a user's subscriber log")
    simulate: SimulatedSubscribers | None = Field(None, description="simulated telecom subscribers in tiers")
    revenue_per_period: float = Field(1.0, gt=0, le=1e7,
                                      description="payment per period of a cohort-table customer (1: values in payments)")
    projection_periods: int = Field(12, ge=1, le=600, description="periods ahead the survival curve is projected")
    discount_rate: float = Field(0.10, gt=0, le=1, description="discount rate per period (DERL)")
    confidence: float = Field(config.CONFIDENCE, gt=0.5, lt=1, description="confidence level of every interval in the report")
    parameter_draws: int = Field(2000, ge=100, le=200_000, description="parameter draws for parametric intervals")
    bootstrap_resamples: int = Field(100, ge=20, le=10_000, description="customer-bootstrap re-fits")
    size_check_cohorts: int = Field(100, ge=20, le=10_000, description="cohorts simulated under the sBG for the LR test's size")
    coverage_replications: int = Field(100, ge=20, le=10_000, description="simulated cohorts in the coverage check")
    programme: RetentionProgramme = RetentionProgramme()
    discrete: DiscreteSource | None = Field(None, description="discrete-time buying for the BG/BB: the shipped "
                                            "`dataset: donations` or a user's `path:` (summary or 0/1 panel)")

    @model_validator(mode="before")
    @classmethod
    def _example_without_data(cls, values):
        """With no data block at all (a notebook on its defaults) the report runs on the published cohorts,
        an example it labels as such; any data block of the user's replaces them."""
        if isinstance(values, dict) and not any(k in values for k in ("cohorts", "subscribers", "simulate")):
            values = {**values, "cohorts": {"dataset": "fader_hardie_2007"}}
        return values

    @model_validator(mode="after")
    def _one_base(self):
        if self.subscribers is not None and self.simulate is not None:
            raise ValueError("either 'subscribers' (a user's log) or 'simulate', not both")
        if self.cohorts is None and self.subscribers is None and self.simulate is None:
            raise ValueError("at least one of 'cohorts', 'subscribers' or 'simulate'")
        if self.subscribers is not None and self.cohorts is not None and self.cohorts.dataset:
            raise ValueError("a user's 'subscribers' log without the published 'cohorts' (a report on your own data "
                             "shows only your data: drop 'cohorts', or run the fader_hardie_2007 variant)")
        return self
