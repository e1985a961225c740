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

from ..datasets import DataValidationError, _bad_rows, _require_columns, read_table, validate_numeric, verified_path
from ..models.retention import PUBLISHED_FADER_HARDIE_2007, rows_from_durations, rows_from_survivors
from ..sections import simulated_caption, simulated_heading
from . import simulate


def donations_path():
    """The shipped donations file (`datasets.SHIPPED['donations']`), checksum verified."""
    return verified_path("donations")


def load_donations() -> pd.DataFrame:
    """The donations data collapsed to (frequency, recency, periods, donors): x, t_x, n and counts."""
    df = pd.read_csv(donations_path())
    return df.rename(columns={"weights": "donors"})


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
    """A user's cohort table (period, then one column of counts alive per cohort), validated."""
    df = read_table(path)
    _require_columns(df, path, [period_column])
    period = validate_numeric(df, path, period_column, low=0)
    if not np.array_equal(period.to_numpy(), np.arange(len(df))):
        bad = period.to_numpy() != np.arange(len(df))
        raise DataValidationError(path, period_column, "periods 0, 1, 2, ... in order, one row each", _bad_rows(bad))
    cohorts = [c for c in df.columns if c != period_column]
    if not cohorts:
        raise DataValidationError(path, None, "at least one cohort column besides the period column")
    if len(df) < 2:
        raise DataValidationError(path, period_column, "at least the periods 0 and 1")
    survivors = {}
    for col in cohorts:
        counts = validate_numeric(df, path, col, low=0, allow_missing=True)
        observed = counts.notna().to_numpy()
        last = int(np.flatnonzero(observed).max()) if observed.any() else -1
        gaps = ~observed & (np.arange(len(df)) < last)
        if not observed[0] or counts.iloc[0] <= 0:
            raise DataValidationError(path, col, "a positive cohort size at period 0", [1])
        if gaps.any():
            raise DataValidationError(path, col, "blank cells only after the cohort's last observed period",
                                      _bad_rows(gaps))
        values = counts.to_numpy()[: last + 1]
        if last < 1:
            raise DataValidationError(path, col, "counts for at least periods 0 and 1", [2])
        rising = np.r_[False, np.diff(values) > 0]
        if rising.any():
            raise DataValidationError(path, col, "counts that never increase (customers alive at each period)",
                                      _bad_rows(rising))
        if np.any(values != np.round(values)):
            raise DataValidationError(path, col, "whole numbers of customers", _bad_rows(values != np.round(values)))
        survivors[str(col)] = values.astype(float)
    return CohortTable(survivors, str(path))


@dataclass
class SubscriberLog:
    """Validated subscribers: renewals survived or the renewal at which they left, tier and revenue."""

    frame: pd.DataFrame           # customer, tier, revenue, periods, churned
    path: str | None
    observation_end: pd.Timestamp | None
    rows_dropped: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def duration_rows(self) -> dict:
        return {tier: rows_from_durations(part["periods"], part["churned"])
                for tier, part in self.frame.groupby("tier", sort=False)}

    def active_base(self) -> pd.DataFrame:
        from .value import base_by_tenure

        active = self.frame[self.frame["churned"] == 0]
        return base_by_tenure(active["periods"], active["revenue"], active["tier"])


def subscriber_periods(start, end, observation_end, period_months: int = 1):
    """Renewal periods in calendar months from start to end (churned) or to the end of observation (censored).

    Whole months are counted on the calendar (15 January to 15 March is two); a subscriber who
    left pays for every period begun, T = ceil(months / period_months) and at least 1; a censored
    subscriber has survived floor(whole months / period_months) renewals.
    """
    start = pd.to_datetime(pd.Series(start)).reset_index(drop=True)
    end = pd.to_datetime(pd.Series(end)).reset_index(drop=True)
    churned = end.notna().to_numpy()
    stop = end.where(end.notna(), pd.Timestamp(observation_end))
    whole = ((stop.dt.year - start.dt.year) * 12 + stop.dt.month - start.dt.month
             - (stop.dt.day < start.dt.day)).to_numpy(dtype=float)
    rest = (stop.dt.day != start.dt.day).to_numpy()
    out = np.where(churned, np.maximum(np.ceil((whole + 0.5 * rest) / period_months), 1),
                   np.floor(whole / period_months))
    return out.astype(float), churned.astype(float)


def load_subscriber_log(path, observation_end, customer: str = "customer", start: str = "start", end: str = "end",
                        tier: str = "tier", revenue: str = "monthly_revenue", period_months: int = 1,
                        date_format: str | None = None, frame: pd.DataFrame | None = None) -> SubscriberLog:
    """A user's subscriber log, validated: unique ids, dates that parse, end after start and not after
    the end of observation, a tier and a non-negative revenue on every row."""
    df = read_table(path) if frame is None else frame.reset_index(drop=True)
    _require_columns(df, path, [customer, start, end, tier, revenue])
    if df[customer].isna().any():
        raise DataValidationError(path, customer, "a subscriber id on every row", _bad_rows(df[customer].isna()))
    dup = df[customer].duplicated(keep="first")
    if dup.any():
        raise DataValidationError(path, customer, "one row per subscriber (unique ids)", _bad_rows(dup))
    starts = pd.to_datetime(df[start].astype(str), format=date_format, errors="coerce")
    if starts.isna().any():
        raise DataValidationError(path, start, "a start date on every row" + (f" in format {date_format}" if date_format else ""),
                                  _bad_rows(starts.isna()))
    blank = df[end].isna() | (df[end].astype(str).str.strip() == "")
    ends = pd.to_datetime(df[end].where(~blank).astype("string"), format=date_format, errors="coerce")
    if (ends.isna() & ~blank).any():
        raise DataValidationError(path, end, "end dates or blank cells (still a customer)", _bad_rows(ends.isna() & ~blank))
    obs_end = pd.Timestamp(observation_end)
    if (ends < starts).any():
        raise DataValidationError(path, end, f"end dates on or after the '{start}' date", _bad_rows(ends < starts))
    late = (ends > obs_end) | (starts > obs_end)
    if late.any():
        raise DataValidationError(path, end if (ends > obs_end).any() else start,
                                  f"dates no later than the end of observation {obs_end:%Y-%m-%d}", _bad_rows(late))
    if df[tier].isna().any():
        raise DataValidationError(path, tier, "a tier on every row", _bad_rows(df[tier].isna()))
    money = validate_numeric(df, path, revenue, low=0)
    periods, churned = subscriber_periods(starts, ends, obs_end, period_months)
    out = pd.DataFrame({"customer": df[customer].astype(str), "tier": df[tier].astype(str), "revenue": money,
                        "periods": periods, "churned": churned})
    return SubscriberLog(out, str(path) if path is not None else None, obs_end)


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
    return Segments("cohort", rows, base[base["customers"] > 0].reset_index(drop=True), source, table.customers,
                    path=table.path)


def _tier_segments(log: SubscriberLog, source: str, truth=None) -> Segments:
    frame = log.frame
    return Segments("tier", log.duration_rows(), log.active_base(), source, len(frame),
                    revenue=frame["revenue"].to_numpy(), tier_of=frame["tier"].to_numpy(), truth=truth, path=log.path)


def load_data(params, rng: np.random.Generator) -> ReportData:
    """The report's segments from the parameters: cohorts (published or a user's table) and tiers
    (a user's subscriber log or simulated subscribers)."""
    cohorts = tiers = None
    obs_end = None
    if params.cohorts is not None:
        table = params.cohorts.load()
        cohorts = _cohort_segments(table, "published" if params.cohorts.dataset else "data", params.revenue_per_period)
    if params.subscribers is not None:
        log = params.subscribers.load()
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
    if params.donations:
        out["donations"] = str(donations_path())
    return out
