"""Data of the contractual report: the shipped donations data, the published survivor tables, and
users' cohort tables and subscriber logs, validated with the project's `DataValidationError`
(file, column, expectation and the offending rows) before any analysis.

* A cohort table (CSV or Parquet) has a period column (0, 1, 2, ... in order) and one column per
  cohort with the number of its customers still active at each period; a younger cohort may end
  early (blank cells after its last observed period).
* A subscriber log has one row per subscriber: id, start date, end date (blank = still a
  customer when observation stopped, i.e. censored), tier and revenue per period.

`load_data(params, rng)` gives the report's segments. Two kinds feed the report: *cohorts*
(survivor tables: the published Fader & Hardie 2007 cohorts or a user's table) and *tiers*
(subscribers in value tiers: a user's log or a simulation). Retention sections use the cohorts
when there are any, else the tiers; the value sections use the tiers when there are any, else the
cohorts with `revenue_per_period`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..models.retention import PUBLISHED_FADER_HARDIE_2007, rows_from_durations, rows_from_survivors
from ..subscriptions import read_cohort_table, read_subscriber_log
from ..sections import simulated_caption, simulated_heading
from . import simulate


@dataclass
class CohortTable:
    """Validated survivor counts: cohort name -> counts alive at t = 0, 1, ... (its own length)."""

    survivors: dict
    path: str | None = None
    rows_dropped: dict = field(default_factory=dict)

    def duration_rows(self) -> dict:
        return {name: rows_from_survivors(counts) for name, counts in self.survivors.items()}

    @property
    def customers(self) -> int:
        return int(sum(counts[0] for counts in self.survivors.values()))


def published_cohorts() -> CohortTable:
    return CohortTable({k: np.asarray(v, dtype=float) for k, v in PUBLISHED_FADER_HARDIE_2007["survivors"].items()})


def load_cohort_table(path, period_column: str = "period") -> CohortTable:
    """A user's cohort table, validated (`subscriptions.read_cohort_table`)."""
    return CohortTable(read_cohort_table(path, period_column), str(path))


@dataclass
class SubscriberLog:
    """Validated subscribers: renewals survived or the renewal at which they left, tier and revenue."""

    frame: pd.DataFrame           # customer, tier, revenue, periods, churned, window
    path: str | None
    observation_end: pd.Timestamp | None
    rows_dropped: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def duration_rows(self) -> dict:
        return {tier: rows_from_durations(part["periods"], part["churned"])
                for tier, part in self.frame.groupby("tier", sort=False)}

    def windows(self) -> dict:
        """Tier -> (distinct observation windows, subscribers with each): the renewals each subscriber
        could have been observed for, from their start to the end of observation (the log's design)."""
        return {tier: tuple(np.unique(part["window"].to_numpy(float), return_counts=True))
                for tier, part in self.frame.groupby("tier", sort=False)}

    def active_base(self) -> pd.DataFrame:
        from .value import base_by_tenure

        active = self.frame[self.frame["churned"] == 0]
        return base_by_tenure(active["periods"], active["revenue"], active["tier"])


def load_subscriber_log(path, observation_end, customer: str = "customer", start: str = "start", end: str = "end",
                        tier: str = "tier", revenue: str = "monthly_revenue", period_months: int = 1,
                        date_format: str | None = None, frame: pd.DataFrame | None = None) -> SubscriberLog:
    """A user's subscriber log, validated (`subscriptions.read_subscriber_log`)."""
    out = read_subscriber_log(path, observation_end, customer, start, end, tier, revenue, period_months, date_format,
                              frame)
    return SubscriberLog(out, str(path) if path is not None else None, pd.Timestamp(observation_end))


# ------------------------------------------------------------------ the report's segments

SOURCE_LABEL = {"published": "the published cohorts of Fader & Hardie (2007)", "data": "the report's data",
                "simulated": "simulated subscribers"}


@dataclass
class Segments:
    """Duration rows per segment, the active customers to value, and where they come from."""

    kind: str                          # "cohort" or "tier"
    rows: dict                         # name -> duration rows (t, churned, count)
    base: pd.DataFrame                 # active customers: tier, renewals, customers, revenue
    source: str                        # "published" | "data" | "simulated"
    customers: int
    revenue: np.ndarray | None = None  # per-subscriber revenue (concentration), tiers only
    tier_of: np.ndarray | None = None
    truth: dict | None = None          # simulated: segment -> (α, β)
    path: str | None = None
    rows_dropped: dict = field(default_factory=dict)
    windows: dict = field(default_factory=dict)   # segment -> (windows, customers): renewals each could be observed

    @property
    def names(self) -> list:
        return list(self.rows)

    def heading(self, title: str) -> str | None:
        return simulated_heading(title) if self.source == "simulated" else None

    def caption(self, text: str) -> str:
        return simulated_caption(text) if self.source == "simulated" else text


@dataclass
class ReportData:
    cohorts: Segments | None
    tiers: Segments | None
    observation_end: str | None = None

    @property
    def retention(self) -> Segments:
        return self.cohorts if self.cohorts is not None else self.tiers

    @property
    def valuation(self) -> Segments:
        return self.tiers if self.tiers is not None else self.cohorts


def _cohort_segments(table: CohortTable, source: str, revenue_per_period: float) -> Segments:
    rows = table.duration_rows()
    base = pd.DataFrame([{"tier": name, "renewals": float(len(counts) - 1), "customers": int(counts[-1]),
                          "revenue": float(counts[-1] * revenue_per_period)} for name, counts in table.survivors.items()])
    windows = {name: (np.array([len(counts) - 1.0]), np.array([counts[0]])) for name, counts in table.survivors.items()}
    return Segments("cohort", rows, base[base["customers"] > 0].reset_index(drop=True), source, table.customers,
                    path=table.path, windows=windows)


def _tier_segments(log: SubscriberLog, source: str, truth=None) -> Segments:
    frame = log.frame
    return Segments("tier", log.duration_rows(), log.active_base(), source, len(frame),
                    revenue=frame["revenue"].to_numpy(), tier_of=frame["tier"].to_numpy(), truth=truth, path=log.path,
                    windows=log.windows())


def load_data(params, rng: np.random.Generator) -> ReportData:
    """The report's segments from the parameters: cohorts (published or a user's table) and tiers
    (a user's subscriber log or simulated subscribers)."""
    cohorts = tiers = None
    obs_end = None
    if params.cohorts is not None:
        table = CohortTable({k: np.asarray(v, dtype=float) for k, v in params.cohorts.load().items()},
                            params.cohorts.path)
        cohorts = _cohort_segments(table, "published" if params.cohorts.dataset else "data", params.revenue_per_period)
    if params.subscribers is not None:
        log = SubscriberLog(params.subscribers.load(), params.subscribers.path,
                            pd.Timestamp(params.subscribers.observation_end))
        tiers = _tier_segments(log, "data")
        obs_end = str(params.subscribers.observation_end)
    elif params.simulate is not None:
        sim = params.simulate
        tiers_spec = {k: v.model_dump() for k, v in sim.tiers.items()}
        frame = simulate.simulate_subscribers(tiers_spec, sim.customers, sim.acquisition_months,
                                              sim.observation_months, rng)
        end = simulate.observation_end("2020-01-01", sim.observation_months)
        log = load_subscriber_log(None, end, frame=frame)
        tiers = _tier_segments(log, "simulated", {k: (v.alpha, v.beta) for k, v in sim.tiers.items()})
        obs_end = str(end.date())
    return ReportData(cohorts, tiers, obs_end)


def data_files(params) -> dict:
    out = {}
    if params.cohorts is not None and params.cohorts.path:
        out["cohorts"] = params.cohorts.path
    if params.subscribers is not None:
        out["subscribers"] = params.subscribers.path
    if params.discrete is not None:
        out[params.discrete.dataset or "discrete"] = str(params.discrete.file())
    return out
