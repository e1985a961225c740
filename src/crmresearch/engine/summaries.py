"""The summaries the CLV and lifecycle reports need, as Ibis expressions run where the log lives.

Every function takes an Ibis table with `customer_id` (string), `date` (date) and `amount`
(float64) — see `sources.open_log` — and returns small pandas objects: a per-customer RFM table
(or its unique (x, t_x, T) rows with counts), per-period repeat counts, stage-panel aggregates,
concentration figures. The definitions are those of the in-memory path and give the same numbers:

* RFM (`crmresearch.clv.rfm.rfm_summary`; Fader, Hardie & Lee 2005): same-day purchases of a
  customer are one transaction (spend summed); x = repeat transaction days up to the calibration
  end; t_x = (last - first calibration day) / period_days; T = (calibration end - first day) /
  period_days; m_x = mean spend of the repeat days; holdout count and mean spend in
  (calibration end, holdout end]; customers whose first purchase is after calibration end excluded.
* Tracking (`rfm.repeat_transactions_by_period`): repeat transaction days (trial excluded) of the
  calibration cohort in periods [start + (k-1)p, start + kp).
* Stage panel (`crmresearch.lifecycle.stages.assign_stages`): calendar months from the first month
  in the log; one row per customer and month from the first purchase month to the end; purchases =
  distinct purchase days in the month, revenue = summed amounts; recency r = t - last purchase
  month + 1; stage from `stage_rules.StageRules`; transitions are consecutive months of one customer.

Engine-neutral rules (the same expression runs on DuckDB and Spark): integer day numbers come from
`date.delta(epoch, unit="day")`, integers are cast to float64 before any division (Spark would
otherwise divide decimals), months are integers (year * 12 + month - 1; no `ibis.range` over
dates), and every result is cast to fixed pandas dtypes. A per-customer table that several
summaries need is computed once and kept in the engine (`materialize`). Long queries log their
progress (`execute`: step, DuckDB's share done, elapsed) to the `crmresearch.engine` logger.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import numpy as np
import pandas as pd

from .. import spend_sums
from ..datasets import day_number
from ..stage_rules import StageRules
from .progress import LOGGER, Progress

EPOCH = date(1970, 1, 1)
F64 = "float64"


# ------------------------------------------------------------------ execution with progress
class _Heartbeat:
    """Logs `step: n% (rows), elapsed` while a DuckDB query runs (DuckDB's own progress estimate)."""

    def __init__(self, con, step: str, rows: int | None, every: float):
        self.con, self.step, self.rows, self.every = con, step, rows, every
        self.stop = threading.Event()
        self.thread = None

    def __enter__(self):
        self.progress = Progress(self.step, total=self.rows, every=0.0)
        db = getattr(self.con, "con", None) if getattr(self.con, "name", "") == "duckdb" else None

        def beat():
            while not self.stop.wait(self.every):
                share = -1.0
                if db is not None:
                    try:
                        share = float(db.query_progress())
                    except Exception:  # noqa: BLE001 - progress is best effort
                        share = -1.0
                done = (f"{share:.0f}%" + (f" (~{int(self.rows * share / 100):,} of {self.rows:,} rows)"
                                            if self.rows else "")) if share >= 0 else "running"
                LOGGER.info("%s: %s, %.1f s elapsed", self.step, done, self.progress.elapsed)

        self.thread = threading.Thread(target=beat, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        if exc[0] is None:
            self.progress.done()


def execute(expr, step: str, rows: int | None = None, every: float = 10.0) -> pd.DataFrame:
    """`expr.to_pandas()` with progress lines in the `crmresearch.engine` log."""
    with _Heartbeat(expr._find_backend(), step, rows, every):
        return expr.to_pandas()


# ------------------------------------------------------------------ building blocks
def day_numbers(t):
    """Days since 1970-01-01 of each row (an integer column `day`)."""
    return t.mutate(day=t.date.delta(ibis.date(EPOCH.year, EPOCH.month, EPOCH.day), unit="day").cast("int64"))


def daily(t, spend: bool = True):
    """One row per customer and purchase day, spend summed (same-day purchases merged).

    The day's spend is its purchases' exact sum rounded once (`spend_sums`), as pandas' day totals
    are (`clv.rfm.merge_same_day`), so a day of several purchases has the same bits everywhere.
    `spend=False`: the customer-days only."""
    d = day_numbers(t)
    if not spend:
        return d.select("customer_id", "day").distinct()
    hi, lo = spend_sums.engine_limbs(d.amount)
    return d.group_by(["customer_id", "day"]).aggregate(spend=spend_sums.engine_from_limbs(hi.sum(), lo.sum()))


def with_first_day(daily_table):
    first = daily_table.group_by("customer_id").aggregate(first_day=daily_table.day.min())
    return daily_table.join(first, "customer_id")


def _divide(numerator, denominator):
    return numerator.cast(F64) / denominator.cast(F64) if hasattr(denominator, "cast") else \
        numerator.cast(F64) / ibis.literal(float(denominator), F64)


# ------------------------------------------------------------------ RFM
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
    """Per-customer RFM expression (columns as `clv.rfm.rfm_summary`, plus integer day numbers).

    One grouping of the customer-days (`daily(t)`), with no join: the first day's
    spend is the spend at the smallest day (`arg_min`), and the repeat spend the calibration spend
    less it, both as sums of whole-number limbs (`crmresearch.spend_sums`), so the subtraction is
    exact and every sum has the same bits on every engine, in any row order, and in pandas.
    `cohort_only=False` keeps the customers whose first purchase is after the calibration end
    (for counting the log's customers); they have frequency -1.
    """
    cal = day_number(calibration_end)
    d = daily(t)
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


def write_customer_table(expr, path, overwrite: bool = True) -> str:
    """Write a per-customer expression (e.g. `rfm_expression(...)`) as Parquet where the engine runs.

    DuckDB writes one file; Spark writes a folder of part files (replaced when `overwrite`).
    """
    import shutil

    con = expr._find_backend()
    path = str(path)
    with _Heartbeat(con, f"write {Path(path).name}", None, 10.0):
        # Spark refuses to write over an existing folder; DuckDB replaces a file.
        if con.name == "pyspark" and overwrite and Path(path).exists():
            shutil.rmtree(path) if Path(path).is_dir() else Path(path).unlink()
        con.to_parquet(expr, path)
    return path


def materialize(expr, name: str):
    """Compute an expression once and keep it in the engine (a DuckDB temporary table, which
    spills under the memory limit; a cached Spark DataFrame), so that several summaries of one
    per-customer table (unique rows, repeat spend, predictions) scan the log only once."""
    con = expr._find_backend()
    with _Heartbeat(con, f"materialize {name}", None, 10.0):
        if con.name == "duckdb":
            # A Parquet file in the spill folder, streamed by DuckDB's writer: an in-memory temporary
            # table of 10 million customers does not fit a 2 GB limit beside the aggregation.
            path = Path(_scratch_folder(con)) / f"{name}.parquet"
            con.con.execute(f"COPY ({con.compile(expr)}) TO '{path}' (FORMAT parquet)")
            con.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_parquet(\'{path}\')')
            return con.table(name)
        return expr.cache()


BYTES_PER_ROW = 75               # engine memory a transaction takes in the RFM grouping (2 GB: 25 million)
RANGE_SAMPLE_ROWS = 100_000
_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2.0 ** 10, "MIB": 2.0 ** 20,
          "GIB": 2.0 ** 30, "TIB": 2.0 ** 40}


def part_rows(con) -> int:
    """Transactions per range of customers that DuckDB's memory limit holds (25 million at 2 GB)."""
    value = con.con.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()[0][0]
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", str(value))
    limit = float(match.group(1)) * _UNITS.get(match.group(2).upper(), 1.0) if match else 2e9
    return max(1_000_000, int(limit / BYTES_PER_ROW))


def customer_ranges(t, rows_per_part: int | None = None) -> list[tuple[str | None, str | None]]:
    """The customers split into ranges of their ids, about `rows_per_part` transactions each (by
    default what the memory limit holds, see `part_rows`), for DuckDB: [(None, b1), (b1, b2),
    ..., (bk, None)], lower bound included; one range on Spark, which spills by itself.

    A grouping of 100 million transactions by customer and day does not fit a 2 GB limit at once;
    range by range it does, and since every customer is wholly in one range, per-customer results
    (and sums over customers) are those of the whole. Ranges, not hashes: DuckDB pushes a range
    of a Parquet column into the scan (0.6 s for 100 million rows against 1.8 s for a hash).
    The bounds are quantiles of a seeded sample of the ids (from a spread of the log's files when
    `sources.open_log` made an id sample for `t`, else of the whole log); they only change how the
    work is cut, never a result.
    """
    con = t._find_backend()
    if con.name != "duckdb":
        return [(None, None)]
    n = int(execute(t.aggregate(n=t.count()), "log rows")["n"].iloc[0])
    k = max(1, math.ceil(n / (rows_per_part or part_rows(con))))
    if k == 1:
        return [(None, None)]
    probs = ", ".join(f"{i / k!r}" for i in range(1, k))
    from . import sources

    opened = t.op()
    sample = sources.id_sample(con, opened.name) if isinstance(opened, ops.DatabaseTable) else None
    ids = sample if sample is not None else t
    sql = (f"SELECT quantile_disc(customer_id, [{probs}]) FROM (SELECT customer_id FROM ({con.compile(ids)}) "
           f"USING SAMPLE reservoir({RANGE_SAMPLE_ROWS} ROWS) REPEATABLE (20261130))")
    with _Heartbeat(con, "customer ranges", None, 10.0):
        bounds = sorted(set(con.con.execute(sql).fetchall()[0][0] or []))
    edges = [None, *bounds, None]
    return list(zip(edges[:-1], edges[1:]))


def in_range(t, bounds: tuple[str | None, str | None]):
    """The rows of `t` whose customer id is in `bounds` (see `customer_ranges`); a missing id goes
    to the last range, so the ranges always cover every row."""
    low, high = bounds
    keep = None
    if low is not None:
        keep = t.customer_id >= ibis.literal(low, "string")
    if high is not None:
        below = t.customer_id < ibis.literal(high, "string")
        keep = below if keep is None else keep & below
    elif low is not None:
        keep = keep | t.customer_id.isnull()
    return t if keep is None else t.filter(keep)


def materialize_parts(exprs: list, name: str):
    """`materialize` for an expression given in parts (see `customer_ranges`): the parts are
    computed one after another into one folder of Parquet files, read as one table."""
    if len(exprs) == 1:
        return materialize(exprs[0], name)
    con = exprs[0]._find_backend()
    folder = Path(_scratch_folder(con)) / name
    folder.mkdir()
    for i, expr in enumerate(exprs):
        with _Heartbeat(con, f"materialize {name} part {i + 1} of {len(exprs)}", None, 10.0):
            con.con.execute(f"COPY ({con.compile(expr)}) TO '{folder / f'part-{i:04d}.parquet'}' (FORMAT parquet)")
    con.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_parquet(\'{folder}/*.parquet\')')
    return con.table(name)


def _scratch_folder(con) -> str:
    """A folder for intermediate files inside DuckDB's temp_directory, removed at exit."""
    import atexit
    import shutil
    import tempfile

    base = con.con.execute("SELECT current_setting('temp_directory')").fetchone()[0] or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="crmresearch-", dir=base)
    atexit.register(shutil.rmtree, folder, True)
    return folder


def collapse_customer_rows(rfm_table, period_days: float = 7.0, holdout: bool = False) -> pd.DataFrame:
    """`rfm_collapsed` from an already computed per-customer RFM table (see `materialize`)."""
    r = rfm_table
    aggs = {"customers": r.count()}
    if holdout:
        aggs["frequency_holdout"] = r.frequency_holdout.sum()
    keys = ["frequency", "recency_days", "T_days"]
    g = r.group_by(keys).aggregate(**aggs).order_by(keys)      # sorted by the engine, in parallel
    with _Heartbeat(g._find_backend(), "RFM unique rows", None, 10.0):
        df = g.to_pyarrow()
    column = lambda name: df[name].to_numpy()                  # noqa: E731
    # The same division as `rfm_expression`'s per-customer times, done once per unique row here.
    out = pd.DataFrame({"frequency": column("frequency").astype(np.int64),
                        "recency": column("recency_days").astype(np.float64) / float(period_days),
                        "T": column("T_days").astype(np.float64) / float(period_days),
                        "customers": column("customers").astype(np.int64)})
    if holdout:
        out["frequency_holdout"] = column("frequency_holdout").astype(np.int64)
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
    s, e = day_number(start), day_number(end)
    if first_days is not None:          # the first days are known: days outside the window count for nothing
        t = t.filter((t.date >= ibis.literal(pd.Timestamp(start).date(), "date"))
                     & (t.date <= ibis.literal(pd.Timestamp(end).date(), "date")))
    d = daily(t, spend=False)
    if first_days is None:
        j = with_first_day(d)
    else:
        j = d.join(first_days.select("customer_id", "first_day"), "customer_id")
    keep = (j.day > j.first_day) & (j.day >= s) & (j.day <= e)
    if calibration_end is not None:
        keep &= j.first_day <= day_number(calibration_end)
    j = j.filter(keep)
    offset = j.day - ibis.literal(s, "int64")
    if float(period_days).is_integer():
        period = offset // ibis.literal(int(period_days), "int64")
    else:
        period = (offset.cast(F64) / ibis.literal(float(period_days), F64)).floor()
    g = j.group_by(period=period.cast("int64")).aggregate(incremental=j.count())
    df = execute(g, "repeat transactions by period")
    n_periods = int(np.ceil((e - s + 1) / period_days))
    incremental = np.zeros(n_periods, np.int64)
    p = df["period"].to_numpy(np.int64)
    ok = p < n_periods
    incremental[p[ok]] = df["incremental"].to_numpy(np.int64)[ok]
    return pd.DataFrame({"period": np.arange(1, n_periods + 1), "incremental": incremental,
                         "cumulative": np.cumsum(incremental)})


def sum_periods(tables: list) -> pd.DataFrame:
    """Per-period counts (period, incremental, cumulative) summed over parts of the customers."""
    out = tables[0].copy()
    out["incremental"] = np.sum([t["incremental"].to_numpy() for t in tables], axis=0)
    out["cumulative"] = np.cumsum(out["incremental"].to_numpy())
    return out


# ------------------------------------------------------------------ stage panel
@dataclass
class StageSummary:
    """Aggregates of the monthly stage panel.

    transitions: (n_periods - 1) x S x S counts by origin month; occupancy and entries:
    n_periods x S customers per stage (entries: in their first month); revenue: n_periods x S
    summed revenue; rows / customers: panel size.
    """

    states: tuple[str, ...]
    periods: pd.PeriodIndex
    transitions: np.ndarray
    occupancy: np.ndarray
    entries: np.ndarray
    revenue: np.ndarray
    rows: int
    customers: int

    @property
    def transition_counts(self) -> np.ndarray:
        """S x S counts over all months (`lifecycle.transition_counts(panel)`)."""
        return self.transitions.sum(axis=0)

    def grouped_transitions(self, groups, n_groups: int | None = None) -> np.ndarray:
        """G x S x S counts when `groups` maps each origin period to a group (as `transition_counts`)."""
        groups = np.asarray(groups)[: self.transitions.shape[0]]
        n_groups = int(np.max(groups)) + 1 if n_groups is None else n_groups
        out = np.zeros((n_groups,) + self.transitions.shape[1:], np.int64)
        np.add.at(out, groups, self.transitions)
        return out

    @property
    def stage_revenue(self) -> np.ndarray:
        """Mean revenue per customer-month in each stage (`lifecycle.stage_revenue`)."""
        n = self.occupancy.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.revenue.sum(axis=0) / n, np.nan)


def _month_number(t):
    return t.date.year().cast("int64") * 12 + t.date.month().cast("int64") - 1


def month_range(t, end=None) -> tuple[int, int]:
    """(first, last) month numbers (year * 12 + month - 1) of the panel."""
    df = execute(t.aggregate(lo=_month_number(t).min(), hi=_month_number(t).max()), "month range")
    lo = int(df["lo"].iloc[0])
    hi = int(df["hi"].iloc[0])
    if end is not None:
        e = pd.Period(end, freq="M")
        hi = e.year * 12 + e.month - 1
    return lo, hi


def stage_panel_expression(t, rules: StageRules = StageRules(), end=None, months: tuple[int, int] | None = None):
    """(panel expression, first month, number of months): one row per customer and month from entry."""
    lo, hi = months or month_range(t, end)
    n_months = hi - lo + 1
    d = day_numbers(t)
    d = d.mutate(p=_month_number(d) - lo)
    d = d.filter(d.p < n_months)
    monthly = d.group_by(["customer_id", "p"]).aggregate(purchases=d.day.nunique(), revenue=d.amount.sum())
    entry = monthly.group_by("customer_id").aggregate(entry=monthly.p.min())
    calendar = ibis.memtable({"month": np.arange(n_months, dtype=np.int64)})
    grid = entry.cross_join(calendar)
    grid = grid.filter(grid.month >= grid.entry)
    panel = grid.left_join(monthly, [grid.customer_id == monthly.customer_id, grid.month == monthly.p])
    panel = panel.select(customer_id=grid.customer_id, period=grid.month, entry=grid.entry,
                         purchases=monthly.purchases.cast("int64").fill_null(0),
                         revenue=monthly.revenue.cast(F64).fill_null(0.0))
    w = ibis.cumulative_window(group_by="customer_id", order_by="period")
    panel = panel.mutate(
        last_purchase=(panel.purchases > 0).ifelse(panel.period, -1).max().over(w),
        cum_purchases=panel.purchases.sum().over(w),
        cum_revenue=panel.revenue.sum().over(w),
    )
    panel = panel.mutate(recency=panel.period - panel.last_purchase + 1)
    r_group = sum((panel.recency > b).cast("int64") for b in rules.recency_bounds)
    stage = r_group
    if rules.count_bounds is not None:
        c_group = sum((panel.cum_purchases > b).cast("int64") for b in rules.count_bounds)
        stage = r_group * len(rules.count_labels) + c_group
    panel = panel.mutate(stage=stage.cast("int64"), tenure=panel.period - panel.entry)
    lag = ibis.window(group_by="customer_id", order_by="period")
    panel = panel.mutate(previous=panel.stage.lag().over(lag))
    return panel, lo, n_months


def _group_code(values, bounds):
    """Number of `bounds` below each value (`np.searchsorted(bounds, v, side="left")`), in the engine."""
    return sum((values > b).cast("int64") for b in bounds)


def _stage_groups(t, rules: StageRules, lo: int, n_months: int, n_count: int):
    """The (month, previous stage, count group, next purchase month) counts and revenue of `t`."""
    d = day_numbers(t)
    d = d.mutate(p=_month_number(d) - lo)
    d = d.filter(d.p < n_months)
    # Purchase days per month in two plain aggregations (a COUNT DISTINCT cannot spill to disk).
    days = d.group_by(["customer_id", "p", "day"]).aggregate(spend=d.amount.sum())
    a = days.group_by(["customer_id", "p"]).aggregate(purchases=days.count().cast("int64"),
                                                      revenue=days.spend.sum().cast(F64))
    w = ibis.window(group_by="customer_id", order_by="p")
    a = a.mutate(next_p=a.p.lead().over(w), prev_p=a.p.lag().over(w),
                 cum=a.purchases.sum().over(ibis.cumulative_window(group_by="customer_id", order_by="p")))
    a = a.mutate(prev_cum=a.cum - a.purchases)

    def count_group(values):
        return _group_code(values, rules.count_bounds) if rules.count_bounds is not None else ibis.literal(0, "int64")

    previous = ibis.ifelse(a.prev_p.isnull(), ibis.null("int64"),
                           _group_code(a.p - a.prev_p, rules.recency_bounds) * n_count
                           + count_group(a.prev_cum))
    return a.group_by(p=a.p, previous=previous, count_group=count_group(a.cum),
                      next_p=a.next_p.fill_null(n_months)).aggregate(n=a.count(), revenue=a.revenue.sum())


def stage_summary(t, rules: StageRules = StageRules(), end=None, rows_per_part: int | None = None) -> StageSummary:
    """Transition counts by month, occupancy, entries and revenue of the monthly stage panel.

    Computed without expanding the panel in the engine: between two purchase months a customer's
    stage follows from (months since the purchase, cumulative purchases), so one aggregation of the
    customer-month *activity* rows by (month, previous stage, count group, next purchase month)
    holds everything; the months without purchase are expanded here from that small table
    (at most months^2 x stages rows). The result equals the panel of `stage_panel_expression`.

    On DuckDB the customers are taken range by range of their ids (`customer_ranges`, `rows_per_part`
    as there), each range's groupings and windows within the memory limit; the small
    tables add up.
    """
    lo, hi = month_range(t, end)
    n_months = hi - lo + 1
    s = len(rules.states)
    n_count = len(rules.count_labels) if rules.count_bounds is not None else 1
    ranges = customer_ranges(t, rows_per_part)
    parts = []
    for i, r in enumerate(ranges):
        step = "stage panel and transitions" + (f", part {i + 1} of {len(ranges)}" if len(ranges) > 1 else "")
        parts.append(execute(_stage_groups(in_range(t, r), rules, lo, n_months, n_count), step))
    # Rows in key order, so the sums below add in the same order whatever order the engine returned.
    df = pd.concat(parts, ignore_index=True).sort_values(["p", "previous", "count_group", "next_p", "n", "revenue"],
                                                         kind="stable", na_position="first")

    p = df["p"].to_numpy(np.int64)
    n = df["n"].to_numpy(np.int64)
    cg = df["count_group"].to_numpy(np.int64)
    nxt = df["next_p"].to_numpy(np.int64)
    previous = df["previous"].astype("Float64").to_numpy(float, na_value=np.nan)
    entry = np.isnan(previous)
    stage = cg                                    # recency 1 in a purchase month: group 0
    transitions = np.zeros((max(n_months - 1, 0), s, s), np.int64)
    occupancy = np.zeros((n_months, s), np.int64)
    entries = np.zeros((n_months, s), np.int64)
    revenue = np.zeros((n_months, s))
    np.add.at(occupancy, (p, stage), n)
    np.add.at(revenue, (p, stage), df["revenue"].to_numpy(float))
    np.add.at(entries, (p[entry], stage[entry]), n[entry])
    np.add.at(transitions, (p[~entry] - 1, previous[~entry].astype(np.int64), stage[~entry]), n[~entry])
    # Months without purchase after each purchase month: t = p + 1 .. next_p - 1, recency t - p + 1.
    gap = np.maximum(nxt - p - 1, 0)
    row = np.repeat(np.arange(p.size), gap)
    step = np.arange(row.size) - np.repeat(np.cumsum(gap) - gap, gap) + 1      # 1 .. gap
    month = p[row] + step
    bounds = np.asarray(rules.recency_bounds)
    to_stage = np.searchsorted(bounds, step + 1, side="left") * n_count + cg[row]
    from_stage = np.searchsorted(bounds, step, side="left") * n_count + cg[row]
    np.add.at(occupancy, (month, to_stage), n[row])
    np.add.at(transitions, (month - 1, from_stage, to_stage), n[row])
    first = pd.Period(year=lo // 12, month=lo % 12 + 1, freq="M")
    return StageSummary(tuple(rules.states), pd.period_range(first, periods=n_months, freq="M"), transitions,
                        occupancy, entries, revenue, int(occupancy.sum()), int(entries.sum()))


def stage_panel_frame(t, rules: StageRules = StageRules(), end=None) -> pd.DataFrame:
    """The whole panel as pandas, sorted by customer and period (for small logs and tests only)."""
    panel, lo, _ = stage_panel_expression(t, rules, end)
    df = execute(panel.drop("previous", "last_purchase"), "stage panel")
    df = df.sort_values(["customer_id", "period"], kind="stable").reset_index(drop=True)
    ints = ("period", "entry", "purchases", "cum_purchases", "recency", "stage", "tenure")
    for c in ints:
        df[c] = df[c].astype(np.int64)
    for c in ("revenue", "cum_revenue"):
        df[c] = df[c].astype(float)
    df["customer_id"] = df["customer_id"].astype(str)
    return df


# ------------------------------------------------------------------ value concentration
def customer_revenue_expression(t, end=None, calibration_end=None):
    """Revenue and purchase days per customer up to `end`, for the calibration cohort when given."""
    j = with_first_day(daily(t))
    if end is not None:
        j = j.filter(j.day <= day_number(end))
    if calibration_end is not None:
        j = j.filter(j.first_day <= day_number(calibration_end))
    return j.group_by("customer_id").aggregate(revenue=j.spend.sum().cast(F64), orders=j.count())


def concentration(values_expr, column: str = "revenue", top_fraction: float = 0.2, points: int = 100) -> dict:
    """Top share, Gini and Lorenz curve points of one non-negative per-customer column, in the engine.

    Ranks come from one ordered window (ties carry equal values, so every figure is independent
    of how ties are broken); the Lorenz curve is evaluated at population shares j / points, i.e.
    at the floor(j n / points)-th smallest customer, as `stats.lorenz_curve` would give there.
    """
    v = values_expr.select(value=values_expr[column].cast(F64))
    totals = execute(v.aggregate(n=v.count(), total=v.value.sum(), negative=v.count(where=v.value < 0)),
                     "concentration totals")
    n, total = int(totals["n"].iloc[0]), float(totals["total"].iloc[0] or 0.0)
    if int(totals["negative"].iloc[0]):
        raise ValueError(f"concentration needs non-negative {column} values")
    k = int(math.ceil(top_fraction * n))
    ranked = v.mutate(rank=ibis.row_number().over(order_by=v.value) + 1)
    nn = ibis.literal(n, "int64")
    bucket = (ranked.rank * points + nn - 1) // nn
    agg = execute(ranked.group_by(bucket=bucket).aggregate(value=ranked.value.sum(),
                                                            weighted=(ranked.rank.cast(F64) * ranked.value).sum(),
                                                            top=ranked.value.sum(where=ranked.rank > n - k)),
                  "concentration ranks")
    agg = agg.sort_values("bucket")
    by_bucket = np.zeros(points + 1)
    by_bucket[agg["bucket"].to_numpy(np.int64)] = agg["value"].to_numpy(float)
    cum = np.cumsum(by_bucket)
    weighted = float(agg["weighted"].sum())
    top = float(agg["top"].fillna(0.0).sum())
    return {
        "customers": n,
        "total": total,
        "top_fraction": top_fraction,
        "top_share": top / total if total else float("nan"),
        "gini": (2 * weighted / (n * total)) - (n + 1) / n if n and total else float("nan"),
        "lorenz": pd.DataFrame({"population_share": np.arange(points + 1) / points,
                                "customer_rank": (np.arange(points + 1) * n) // points,
                                "value_share": cum / total if total else cum}),
    }


# ------------------------------------------------------------------ per-customer predictions at scale
def arrow_batches(expr, rows: int = 1_000_000):
    """Arrow record batches of an expression's result, streamed (bounded memory).

    On DuckDB the compiled SQL is streamed by DuckDB's own reader: Ibis 12's `to_pyarrow_batches`
    calls a cursor method that DuckDB 2.0 no longer has.
    """
    con = expr._find_backend()
    if con.name == "duckdb":
        return con.con.sql(con.compile(expr)).to_arrow_reader(rows)
    return expr.to_pyarrow_batches(chunk_size=rows)


def write_customer_predictions(rfm_expr, path, predict, batch_rows: int = 1_000_000) -> dict:
    """Stream the per-customer RFM table out of the engine in batches, add the columns that
    `predict(frame)` returns for a batch (a frame indexed by customer_id, with frequency, recency,
    T and monetary_value; the CLV report passes `clv.predictions.customer_lifetime_value` with its
    fitted models, returning P(alive), expected purchases and CLV with its interval) and write them
    as one Parquet file; memory stays near one batch. Returns customers and the total of the `clv`
    column (its standard error needs the Jacobians summed over all customers, which a batch does not
    return, so it is not computed here). The engine computes no prediction itself: it imports no topic.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    reader = arrow_batches(rfm_expr.select(*cols), batch_rows)
    progress = Progress("customer predictions")
    writer, customers, total = None, 0, 0.0
    try:
        for batch in reader:
            frame = batch.to_pandas().set_index("customer_id")
            if frame.empty:
                continue
            frame["frequency"] = frame["frequency"].astype(np.int64)
            table = predict(frame)
            out = pd.concat([frame, table], axis=1).reset_index()
            arrow = pa.Table.from_pandas(out, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(path), arrow.schema, compression="zstd")
            writer.write_table(arrow)
            customers += len(out)
            total += float(table["clv"].sum())
            progress.update(len(out))
    finally:
        if writer is not None:
            writer.close()
    progress.done()
    return {"customers": customers, "total_clv": total, "path": str(path)}
