"""Contract data files: survivor tables of cohorts and subscriber logs, read and validated with the
project's `DataValidationError` (file, column, expectation and the offending rows) before any
analysis. The contractual report's loading (`contractual.data`) builds its segments from these.

* A cohort table (CSV or Parquet) has a period column (0, 1, 2, ... in order) and one column per
  cohort with the number of its customers still active at each period; a younger cohort may end
  early (blank cells after its last observed period).
* A subscriber log has one row per subscriber: id, start date, end date (blank = still a
  customer when observation stopped, i.e. censored), tier and revenue per period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .datasets import DataValidationError, _bad_rows, parse_dates, read_table, require_columns, validate_numeric

# Fader & Hardie (2007), "How to project customer retention", J. Interactive Marketing 21(1), table 1:
# customers of two cohorts of 1,000 still active at the start of years 0-7.
FADER_HARDIE_2007_SURVIVORS = {
    "regular": [1000, 631, 468, 382, 326, 289, 262, 241],
    "high end": [1000, 869, 743, 653, 593, 551, 517, 491],
}


# The largest revenue per period a subscriber log may hold (as `spend_sums.MAX_AMOUNT` for transactions):
# beyond it sums lose precision and the report would print numbers with dozens of digits.
MAX_REVENUE = 1e12

# The largest cohort a table may hold: beyond it counts are no longer exact in floating point.
MAX_COHORT_SIZE = 1e12


def read_cohort_table(path, period_column: str = "period") -> dict:
    """A user's cohort table (period, then one column of counts alive per cohort), validated: cohort name ->
    customers alive at t = 0, 1, ... (its own length)."""
    df = read_table(path)
    require_columns(path, df.columns, [period_column])
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
        if counts.iloc[0] > MAX_COHORT_SIZE:
            raise DataValidationError(path, col, f"a cohort of at most {MAX_COHORT_SIZE:.0e} customers", [1])
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
    return survivors


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


def read_subscriber_log(path, observation_end, customer: str = "customer", start: str = "start", end: str = "end",
                        tier: str = "tier", revenue: str = "monthly_revenue", period_months: int = 1,
                        date_format: str | None = None, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """A user's subscriber log, validated: unique ids, dates that parse, end after start and not after
    the end of observation, a tier and a non-negative revenue on every row. One row per subscriber:
    customer, tier, revenue, periods (renewals survived, or the renewal at which they left), churned."""
    df = read_table(path, text_columns=[customer]) if frame is None else frame.reset_index(drop=True)
    require_columns(path, df.columns, [customer, start, end, tier, revenue])
    if df[customer].isna().any():
        raise DataValidationError(path, customer, "a subscriber id on every row", _bad_rows(df[customer].isna()))
    dup = df[customer].duplicated(keep="first")
    if dup.any():
        raise DataValidationError(path, customer, "one row per subscriber (unique ids)", _bad_rows(dup))
    starts = parse_dates(df[start].astype(str), date_format)
    if starts.isna().any():
        raise DataValidationError(path, start, "a start date on every row" + (f" in format {date_format}" if date_format else ""),
                                  _bad_rows(starts.isna()))
    blank = df[end].isna() | (df[end].astype(str).str.strip() == "")
    ends = parse_dates(df[end].where(~blank).astype("string"), date_format)
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
    if (money > MAX_REVENUE).any():
        raise DataValidationError(path, revenue, f"values at most {MAX_REVENUE:.0e} per period", _bad_rows(money > MAX_REVENUE))
    periods, churned = subscriber_periods(starts, ends, obs_end, period_months)
    window, _ = subscriber_periods(starts, pd.Series(pd.NaT, index=starts.index), obs_end, period_months)
    out = pd.DataFrame({"customer": df[customer].astype(str), "tier": df[tier].astype(str), "revenue": money,
                        "periods": periods, "churned": churned, "window": np.maximum(window, periods)})
    return out
