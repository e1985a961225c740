"""The RFM summaries the CLV report needs, and the repeat purchases per period, in the engine.

* RFM (`crmresearch.clv.rfm.rfm_summary`; Fader, Hardie & Lee 2005): same-day purchases of a
  customer are one transaction (spend summed); x = repeat transaction days up to the calibration
  end; t_x = (last - first calibration day) / period_days; T = (calibration end - first day) /
  period_days; m_x = mean spend of the repeat days; holdout count and mean spend in
  (calibration end, holdout end]; customers whose first purchase is after calibration end excluded.
* Tracking (`rfm.repeat_transactions_by_period`): repeat transaction days (trial excluded) of the
  calibration cohort in periods [start + (k-1)p, start + kp).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from .. import spend_sums
from ..datasets import day_number
from .execution import F64, KeptParts, daily, drop_kept, execute, execute_columns, keep_for_now, with_first_day
from .ranges import DAYS_BYTES_PER_ROW, customer_ranges, in_range, part_rows


def _divide(numerator, denominator):
    return numerator.cast(F64) / denominator.cast(F64) if hasattr(denominator, "cast") else \
        numerator.cast(F64) / ibis.literal(float(denominator), F64)


@ibis.udf.agg.builtin(name="arg_min")
def _duckdb_arg_min(arg: dt.float64, key: dt.int64) -> dt.float64:
    """DuckDB's arg_min: `arg` of the row with the smallest `key`."""


@ibis.udf.agg.builtin(name="min_by")
def _spark_min_by(arg: dt.float64, key: dt.int64) -> dt.float64:
    """Spark's min_by: `arg` of the row with the smallest `key`."""


# Ibis's own `argmin` becomes an ordered aggregate on DuckDB (`FIRST(arg ORDER BY key)`), which
# sorts every group; the engines' arg_min / min_by do not. The key is unique within a group here.
_ARG_MIN = {"duckdb": _duckdb_arg_min, "pyspark": _spark_min_by}


def rfm_expression(t, calibration_end, holdout_end=None, period_days: float = 7.0, cohort_only=True):
    """Per-customer RFM expression of a log (columns as `clv.rfm.rfm_summary`, plus integer day numbers):
    `rfm_from_days` of its customer-days (`daily(t)`)."""
    return rfm_from_days(daily(t), calibration_end, holdout_end, period_days, cohort_only)


def rfm_from_days(d, calibration_end, holdout_end=None, period_days: float = 7.0, cohort_only=True):
    """Per-customer RFM expression of customer-days (customer_id, day, spend: `daily`).

    One grouping of the customer-days, with no join: the first day's
    spend is the spend at the smallest day (`arg_min`), and the repeat spend the calibration spend
    less it, both as sums of whole-number limbs (`crmresearch.spend_sums`), so the subtraction is
    exact and every sum has the same bits on every engine, in any row order, and in pandas.
    `cohort_only=False` keeps the customers whose first purchase is after the calibration end
    (for counting the log's customers); they have frequency -1.
    """
    cal = day_number(calibration_end)
    hi, lo = spend_sums.engine_limbs(d.spend)
    d = d.mutate(spend=d.spend.cast(F64), spend_hi=hi, spend_lo=lo)
    arg_min = _ARG_MIN[d._find_backend().name]
    in_cal = d.day <= cal
    aggs = dict(
        first_day=d.day.min(),
        calibration_days=d.count(where=in_cal),
        last_day=d.day.max(where=in_cal),
        calibration_hi=d.spend_hi.sum(where=in_cal),
        calibration_lo=d.spend_lo.sum(where=in_cal),
        first_spend=arg_min(d.spend, d.day),
    )
    if holdout_end is not None:
        hold = day_number(holdout_end)
        in_hold = (d.day > cal) & (d.day <= hold)
        aggs.update(frequency_holdout=d.count(where=in_hold), holdout_hi=d.spend_hi.sum(where=in_hold),
                    holdout_lo=d.spend_lo.sum(where=in_hold))
    out = d.group_by("customer_id").aggregate(**aggs)
    if cohort_only:
        out = out.filter(out.first_day <= cal)
    frequency = out.calibration_days - 1
    recency_days = out.last_day - out.first_day
    T_days = ibis.literal(cal, "int64") - out.first_day
    first_hi, first_lo = spend_sums.engine_limbs(out.first_spend)
    repeat_spend = spend_sums.engine_from_limbs(out.calibration_hi - first_hi, out.calibration_lo - first_lo)
    cols = dict(
        frequency=frequency,
        recency=_divide(recency_days, period_days),
        T=_divide(T_days, period_days),
        monetary_value=ibis.ifelse(frequency > 0, repeat_spend / frequency.cast(F64), ibis.null(F64)),
        first_day=out.first_day,
        first_spend=spend_sums.engine_from_limbs(first_hi, first_lo),
        calibration_spend=spend_sums.engine_from_limbs(out.calibration_hi, out.calibration_lo),
        recency_days=recency_days,
        T_days=T_days,
    )
    if holdout_end is not None:
        holdout_spend = spend_sums.engine_from_limbs(out.holdout_hi, out.holdout_lo)
        cols.update(
            frequency_holdout=out.frequency_holdout,
            monetary_holdout=ibis.ifelse(out.frequency_holdout > 0,
                                         holdout_spend / out.frequency_holdout.cast(F64), ibis.null(F64)),
            duration_holdout=_divide(ibis.literal(day_number(holdout_end) - cal, "int64"), period_days),
        )
    return out.select(customer_id=out.customer_id, **cols)


RFM_INT = ("frequency", "frequency_holdout")


def _rfm_frame(df: pd.DataFrame, presorted: bool = False) -> pd.DataFrame:
    if not presorted:
        df = df.sort_values("customer_id", kind="stable")
    for c in df.columns:
        if c in RFM_INT:
            df[c] = df[c].astype(np.int64)
        elif c not in ("customer_id", "first_day", "recency_days", "T_days"):
            df[c] = df[c].astype(float)
    df["first_purchase"] = df["first_day"].to_numpy(np.int64).astype("datetime64[D]").astype("datetime64[ns]")
    order = ["frequency", "recency", "T", "monetary_value", "first_purchase", "first_spend", "calibration_spend"]
    order += [c for c in ("frequency_holdout", "monetary_holdout", "duration_holdout") if c in df]
    return df.set_index(pd.Index(df["customer_id"].astype(str).to_numpy(), name="customer_id"))[order]


def rfm_summary(t, calibration_end, holdout_end=None, period_days: float = 7.0) -> pd.DataFrame:
    """`clv.rfm.rfm_summary` computed in the engine, rows sorted by customer id."""
    return _rfm_frame(execute(rfm_expression(t, calibration_end, holdout_end, period_days), "RFM summary"))


def rfm_collapsed(t, calibration_end, period_days: float = 7.0, holdout_end=None) -> pd.DataFrame:
    """Unique (frequency, recency, T) rows with their customer counts (`customers`), for fitting.

    Grouped on integer day counts and divided after, so the times equal the per-customer ones.
    With `holdout_end` the holdout purchases are summed per row too (`frequency_holdout`).
    """
    return collapse_customer_rows(rfm_expression(t, calibration_end, holdout_end, period_days), period_days,
                                  holdout=holdout_end is not None)


def customer_rfm(rfm_table) -> pd.DataFrame:
    """A per-customer RFM table of the engine (`rfm_expression`, e.g. materialized) as the pandas
    summary `clv.rfm.rfm_summary` gives, rows in customer-id order (sorted by the engine)."""
    return _rfm_frame(execute(rfm_table.order_by("customer_id"), "RFM summary"), presorted=True)


def log_size(t, customers=None) -> dict:
    """Rows and distinct customers of a log. `customers`: a kept table with one row per customer of
    the log (`rfm_expression(..., cohort_only=False)`), counted instead of the log's distinct ids."""
    df = execute(t.aggregate(rows=t.count()), "log rows")
    if customers is None:
        customers = t.select("customer_id").distinct()
    n = execute(customers.aggregate(customers=customers.count()), "log customers")
    return {"rows": int(df["rows"].iloc[0]), "customers": int(n["customers"].iloc[0])}


def cohort(customers, calibration_end):
    """The calibration cohort of a kept `rfm_expression(..., cohort_only=False)` table."""
    return customers.filter(customers.first_day <= day_number(calibration_end))


def first_bought_between(customers, start, days: float) -> list:
    """Ids of the customers of a kept `rfm_expression(..., cohort_only=False)` table whose first purchase
    falls in the `days` from `start` (Dwyer's cohort: those acquired in the first period)."""
    first = day_number(start)
    chosen = customers.filter((customers.first_day >= first) & (customers.first_day < first + days))
    return execute(chosen.select("customer_id"), "the first period's new customers")["customer_id"].astype(str).tolist()


def customer_log(t, customers) -> pd.DataFrame:
    """The rows (customer_id, date, amount) of a few named customers, as a pandas log."""
    ids = [str(c) for c in customers]
    if not ids:
        return pd.DataFrame({"customer_id": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]"),
                             "amount": pd.Series(dtype=float)})
    df = execute(t.filter(t.customer_id.isin(ids)), "chosen customers' purchases")
    df = df.sort_values(["customer_id", "date"], kind="stable").reset_index(drop=True)
    return pd.DataFrame({"customer_id": df["customer_id"].astype(str), "date": pd.to_datetime(df["date"]),
                         "amount": df["amount"].astype(float)})


def repeat_spend(t, calibration_end) -> pd.DataFrame:
    """(frequency, monetary_value) of the repeat buyers: the Gamma-Gamma model's input."""
    return repeat_spend_rows(rfm_expression(t, calibration_end))


def collapse_customer_rows(rfm_table, period_days: float = 7.0, holdout: bool = False) -> pd.DataFrame:
    """`rfm_collapsed` from an already computed per-customer RFM table (see `materialize`)."""
    r = rfm_table
    aggs = {"customers": r.count()}
    if holdout:
        aggs["frequency_holdout"] = r.frequency_holdout.sum()
    keys = ["frequency", "recency_days", "T_days"]
    df = execute_columns(r.group_by(keys).aggregate(**aggs).order_by(keys), "RFM unique rows")   # sorted by the engine
    # The same division as `rfm_expression`'s per-customer times, done once per unique row here.
    out = pd.DataFrame({"frequency": df["frequency"].astype(np.int64),
                        "recency": df["recency_days"].astype(np.float64) / float(period_days),
                        "T": df["T_days"].astype(np.float64) / float(period_days),
                        "customers": df["customers"].astype(np.int64)})
    if holdout:
        out["frequency_holdout"] = df["frequency_holdout"].astype(np.int64)
    return out


def repeat_spend_rows(rfm_table) -> pd.DataFrame:
    """(frequency, monetary_value) of the repeat buyers of a per-customer RFM table."""
    r = rfm_table.filter(rfm_table.frequency > 0).select("customer_id", "frequency", "monetary_value")
    df = execute(r, "repeat spend").sort_values("customer_id", kind="stable")
    return pd.DataFrame({"frequency": df["frequency"].astype(np.int64).to_numpy(),
                         "monetary_value": df["monetary_value"].astype(float).to_numpy()},
                        index=pd.Index(df["customer_id"].astype(str).to_numpy(), name="customer_id"))


# ------------------------------------------------------------------ tracking
def repeat_transactions_by_period(t, start, end, calibration_end=None, period_days: float = 7.0,
                                  first_days=None) -> pd.DataFrame:
    """`rfm.repeat_transactions_by_period` for the cohort of customers whose first purchase is on
    or before `calibration_end` (all customers when None): period, incremental, cumulative.
    `first_days`: a table of (customer_id, first_day) already computed (e.g. the kept RFM table of
    the same customers), which saves the engine a grouping of the log."""
    if first_days is not None:          # the first days are known: days outside the window count for nothing
        t = t.filter((t.date >= ibis.literal(pd.Timestamp(start).date(), "date"))
                     & (t.date <= ibis.literal(pd.Timestamp(end).date(), "date")))
    return repeat_from_days(daily(t, spend=False), start, end, calibration_end, period_days, first_days)


def repeat_from_days(d, start, end, calibration_end=None, period_days: float = 7.0, first_days=None) -> pd.DataFrame:
    """`repeat_transactions_by_period` of customer-days (customer_id, day: `daily`)."""
    s, e = day_number(start), day_number(end)
    if first_days is None:
        j = with_first_day(d)
    else:
        j = d.join(first_days.select("customer_id", "first_day"), "customer_id")
    keep = (j.day > j.first_day) & (j.day >= s) & (j.day <= e)
    if calibration_end is not None:
        keep &= j.first_day <= day_number(calibration_end)
    j = j.filter(keep)
    n = _period_count(s, e, period_days)
    return _counts_frame(_incremental(_per_period(j, j.day, s, period_days), n))


def _per_period(t, day, start_day: int, period_days: float) -> pd.DataFrame:
    """Rows of `t` per period [start + (k-1)p, start + kp) of `day` (k - 1 in column `period`)."""
    offset = day - ibis.literal(start_day, "int64")
    if float(period_days).is_integer():
        period = offset // ibis.literal(int(period_days), "int64")
    else:
        period = (offset.cast(F64) / ibis.literal(float(period_days), F64)).floor()
    return execute(t.group_by(period=period.cast("int64")).aggregate(incremental=t.count()),
                   "repeat transactions by period")


def _period_count(start_day: int, end_day: int, period_days: float) -> int:
    return int(np.ceil((end_day - start_day + 1) / period_days))


def _incremental(df: pd.DataFrame, n_periods: int) -> np.ndarray:
    """Counts per period 1..n_periods from `_per_period` rows (periods past the end left out)."""
    incremental = np.zeros(n_periods, np.int64)
    p = df["period"].to_numpy(np.int64)
    ok = p < n_periods
    incremental[p[ok]] = df["incremental"].to_numpy(np.int64)[ok]
    return incremental


def _counts_frame(incremental: np.ndarray) -> pd.DataFrame:
    """Per-period counts (period, incremental, cumulative)."""
    return pd.DataFrame({"period": np.arange(1, incremental.size + 1), "incremental": incremental,
                         "cumulative": np.cumsum(incremental)})


def repeat_from_range(days, part, start, end, calibration_end, period_days: float = 7.0) -> pd.DataFrame:
    """`repeat_from_days` for the cohort of `calibration_end`, from one range's customer-days and its
    RFM rows (`part`, every customer of the range), joining only the days after the calibration end.

    A day up to the calibration end belongs to a cohort customer (whose first day is no later), and is
    a repeat day unless it is that customer's first: those days are counted without a join, less the
    cohort's first days (counted from `part`). A day after it is a repeat day of a cohort customer
    exactly when its customer is in the cohort: those days are joined with the cohort's ids."""
    s, e, cal = day_number(start), day_number(end), day_number(calibration_end)
    early = days.filter((days.day >= s) & (days.day <= min(e, cal)))
    firsts = part.filter((part.first_day <= cal) & (part.first_day >= s) & (part.first_day <= e))
    late = days.filter((days.day > cal) & (days.day >= s) & (days.day <= e))
    late = late.join(part.filter(part.first_day <= cal).select("customer_id"), "customer_id")
    n = _period_count(s, e, period_days)
    return _counts_frame(_incremental(_per_period(early, early.day, s, period_days), n)
                         - _incremental(_per_period(firsts, firsts.first_day, s, period_days), n)
                         + _incremental(_per_period(late, late.day, s, period_days), n))


def rfm_and_tracking(t, calibration_end, holdout_end, start, period_days: float = 7.0, name: str = "crm_clv_rfm",
                     rows_per_part: int | None = None):
    """The per-customer RFM table of every customer of the log (`rfm_expression(..., cohort_only=False)`,
    kept in the engine under `name`) and the cohort's repeat transactions per period from `start` to
    `holdout_end` (`repeat_transactions_by_period`), in one grouping of the log.

    Range by range of customer ids (`customer_ranges`; by default what the memory limit holds beside the
    kept customer-days, see `DAYS_BYTES_PER_ROW`), the range's customer-days are computed once and kept
    for now; its RFM rows are grouped from them and kept, and its weekly counts come from both
    (`repeat_from_range`). Returns (kept table, counts)."""
    con = t._find_backend()
    if rows_per_part is None and con.name == "duckdb":
        rows_per_part = part_rows(con, DAYS_BYTES_PER_ROW)
    ranges = customer_ranges(t, rows_per_part)
    kept = KeptParts(con, name, len(ranges))
    counts, days_name = [], f"{name}_days"
    for r in ranges:
        days = keep_for_now(daily(in_range(t, r)), days_name)
        part = kept.add(rfm_from_days(days, calibration_end, holdout_end, period_days, cohort_only=False))
        counts.append(repeat_from_range(days, part, start, holdout_end, calibration_end, period_days))
        drop_kept(days, days_name)
    return kept.table(), sum_periods(counts)


def sum_periods(tables: list) -> pd.DataFrame:
    """Per-period counts (period, incremental, cumulative) summed over parts of the customers."""
    return _counts_frame(np.sum([t["incremental"].to_numpy(np.int64) for t in tables], axis=0))
