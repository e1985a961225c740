"""Shared execution helpers of the engine summaries: running, building blocks, kept tables.

`execute` runs an expression with progress lines (step, DuckDB's share done, elapsed) in the
`crmresearch.engine` log; `day_numbers`, `daily` and `with_first_day` are the customer-days every
summary starts from; a per-customer table that several summaries need is computed once and kept
in the engine (`materialize`, `materialize_parts`), written as Parquet (`write_customer_table`)
or streamed out in batches (`arrow_batches`).
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import ibis
import pandas as pd

from .. import spend_sums
from .progress import LOGGER, Progress

EPOCH = date(1970, 1, 1)
F64 = "float64"


# ------------------------------------------------------------------ execution with progress
class EngineMemoryError(MemoryError):
    """The engine ran past its memory limit: one line naming the step and the setting to change."""


def memory_error(step: str, con, exc) -> EngineMemoryError:
    limit = "its memory limit"
    db = getattr(con, "con", None) if getattr(con, "name", "") == "duckdb" else None
    if db is not None:
        try:
            limit = f"its memory limit of {db.execute('SELECT current_setting(' + repr('memory_limit') + ')').fetchall()[0][0]}"
        except Exception:  # noqa: BLE001 - the limit is named when it can be read
            pass
    return EngineMemoryError(f"the engine ran past {limit} in step '{step}': raise `memory_limit` (or lower "
                             "`threads`) in the parameter file's `engine:` block")


class Heartbeat:
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
        elif exc[0].__name__ == "OutOfMemoryException":        # DuckDB's, several lines long
            raise memory_error(self.step, self.con, exc[1]) from None


def execute(expr, step: str, rows: int | None = None, every: float = 10.0) -> pd.DataFrame:
    """`expr.to_pandas()` with progress lines in the `crmresearch.engine` log."""
    with Heartbeat(expr._find_backend(), step, rows, every):
        return expr.to_pandas()


def execute_columns(expr, step: str) -> dict:
    """The columns of a large result as numpy arrays (via Arrow, with progress lines as `execute`):
    for results of millions of rows, where the pandas conversion of `execute` costs more than the query
    (1.7 s of 3.1 s for 1.7 million unique RFM rows)."""
    with Heartbeat(expr._find_backend(), step, None, 10.0):
        table = expr.to_pyarrow()
    return {name: table.column(name).to_numpy() for name in table.column_names}


# ------------------------------------------------------------------ building blocks
def day_numbers(t):
    """Days since 1970-01-01 of each row (an integer column `day`)."""
    return t.mutate(day=t.date.delta(ibis.date(EPOCH.year, EPOCH.month, EPOCH.day), unit="day").cast("int64"))


def daily(t, spend: bool = True):
    """One row per customer and purchase day, spend summed (same-day purchases merged).

    The day's spend is its purchases' exact sum rounded once (`spend_sums`), as pandas' day totals
    are (`clv.rfm.merge_same_day`), so a day of several purchases has the same bits everywhere.
    `spend=False`: the customer-days only."""
    # Grouped by the date itself and numbered after: one day number per customer-day, not per row.
    if not spend:
        return day_numbers(t.select("customer_id", "date").distinct()).select("customer_id", "day")
    hi, lo = spend_sums.engine_limbs(t.amount)
    g = t.group_by(["customer_id", "date"]).aggregate(spend=spend_sums.engine_from_limbs(hi.sum(), lo.sum()))
    return day_numbers(g).select("customer_id", "day", "spend")


def hashed_customers(t):
    """`t` with each customer id replaced by a 64-bit hash of it (DuckDB's `hash`), for summaries that
    return aggregates only and never name a customer (the stage panel): DuckDB groups 64-bit integers
    about 15% faster than strings. Two of n distinct ids share a hash with probability about
    n² / 2^65 (3 in a million for 10 million customers), which would count them as one customer.
    On Spark, whose `hash` has 32 bits, the ids are kept."""
    if t._find_backend().name != "duckdb":
        return t
    return t.mutate(customer_id=t.customer_id.hash())


def with_first_day(daily_table):
    first = daily_table.group_by("customer_id").aggregate(first_day=daily_table.day.min())
    return daily_table.join(first, "customer_id")


# ------------------------------------------------------------------ kept tables and streamed results
def write_customer_table(expr, path, overwrite: bool = True) -> str:
    """Write a per-customer expression (e.g. `rfm_expression(...)`) as Parquet where the engine runs.

    DuckDB writes one file; Spark writes a folder of part files (replaced when `overwrite`).
    """
    import shutil

    con = expr._find_backend()
    path = str(path)
    with Heartbeat(con, f"write {Path(path).name}", None, 10.0):
        # Spark refuses to write over an existing folder; DuckDB replaces a file.
        if con.name == "pyspark" and overwrite and Path(path).exists():
            shutil.rmtree(path) if Path(path).is_dir() else Path(path).unlink()
        con.to_parquet(expr, path)
    return path


KEPT_FILES: dict = {}      # (id of the DuckDB connection, name) -> the Parquet file or glob a kept table reads


def kept_file(con, name: str) -> str | None:
    """The Parquet file (or glob of files) behind the table `materialize` kept under `name` on `con`
    (DuckDB), so that another connection can read it after this one is closed."""
    return KEPT_FILES.get((id(getattr(con, "con", con)), name))


def materialize(expr, name: str):
    """Compute an expression once and keep it in the engine (a DuckDB temporary table, which
    spills under the memory limit; a cached Spark DataFrame), so that several summaries of one
    per-customer table (unique rows, repeat spend, predictions) scan the log only once."""
    con = expr._find_backend()
    with Heartbeat(con, f"materialize {name}", None, 10.0):
        if con.name == "duckdb":
            # A Parquet file in the spill folder, streamed by DuckDB's writer: an in-memory temporary
            # table of 10 million customers does not fit a 2 GB limit beside the aggregation.
            path = Path(scratch_folder(con)) / f"{name}.parquet"
            con.con.execute(f"COPY ({con.compile(expr)}) TO '{path}' (FORMAT parquet)")
            con.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_parquet(\'{path}\')')
            KEPT_FILES[(id(con.con), name)] = str(path)
            return con.table(name)
        return expr.cache()


def materialize_parts(exprs, name: str):
    """`materialize` for an expression given in parts (see `ranges.customer_ranges`): the parts are
    computed one after another into one folder of Parquet files, read as one table."""
    exprs = list(exprs)
    if len(exprs) == 1:
        return materialize(exprs[0], name)
    kept = KeptParts(exprs[0]._find_backend(), name, len(exprs))
    for expr in exprs:
        kept.add(expr)
    return kept.table()


class KeptParts:
    """A per-customer table kept part by part (one range of customers after another), so that each
    part can be used (e.g. joined with that range's customer-days) as soon as it is written:
    `add(expr)` computes a part and returns it as a table, `table()` the whole. On DuckDB the parts
    are Parquet files in one folder of the spill folder; on Spark (one part) the cached DataFrame."""

    def __init__(self, con, name: str, parts: int):
        self.con, self.name, self.parts, self.done = con, name, parts, 0
        self.spark = getattr(con, "name", "") != "duckdb"
        if not self.spark:
            self.folder = Path(scratch_folder(con)) / name
            self.folder.mkdir()
        self.cached = None

    def add(self, expr):
        self.done += 1
        if self.spark:
            if self.parts != 1:
                raise ValueError("Spark keeps a table in one part")
            self.cached = materialize(expr, self.name)
            return self.cached
        path = self.folder / f"part-{self.done - 1:04d}.parquet"
        step = f"materialize {self.name}" + (f" part {self.done} of {self.parts}" if self.parts > 1 else "")
        with Heartbeat(self.con, step, None, 10.0):
            self.con.con.execute(f"COPY ({self.con.compile(expr)}) TO '{path}' (FORMAT parquet)")
        return self.con.read_parquet(str(path), table_name=f"{self.name}_part_{self.done}")

    def table(self):
        if self.spark:
            return self.cached
        self.con.con.execute(f'CREATE OR REPLACE TEMP VIEW "{self.name}" AS SELECT * FROM '
                             f"read_parquet('{self.folder}/*.parquet')")
        KEPT_FILES[(id(self.con.con), self.name)] = f"{self.folder}/*.parquet"
        return self.con.table(self.name)


def register_frame(con, name: str, frame: pd.DataFrame):
    """A small pandas table made known to the engine under `name` (a DuckDB view of its Arrow copy;
    a Spark temporary view), as an Ibis table."""
    if getattr(con, "name", "") == "duckdb":
        import pyarrow as pa

        con.con.register(name, pa.Table.from_pandas(frame, preserve_index=False))
        return con.table(name)
    con._session.createDataFrame(frame).createOrReplaceTempView(name)
    return con.table(name)


def keep_for_now(expr, name: str):
    """An intermediate table that a few queries read in turn (e.g. one range's customer-days),
    computed once: a DuckDB temporary table (in memory, spilled under the memory limit) or a cached
    Spark DataFrame. `drop_kept` releases it."""
    con = expr._find_backend()
    with Heartbeat(con, f"keep {name}", None, 10.0):
        if con.name == "duckdb":
            con.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {con.compile(expr)}')
            return con.table(name)
        return expr.cache()


def drop_kept(table, name: str) -> None:
    con = table._find_backend()
    if con.name == "duckdb":
        con.con.execute(f'DROP TABLE IF EXISTS "{name}"')
    else:
        table.release()


def scratch_folder(con) -> str:
    """A folder for intermediate files inside DuckDB's temp_directory, removed at exit."""
    import atexit
    import shutil
    import tempfile

    base = None
    if getattr(con, "name", "") == "duckdb":
        base = con.con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0] or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="crmresearch-", dir=base)
    atexit.register(shutil.rmtree, folder, True)
    _tell_the_runner(folder)
    return folder


def _tell_the_runner(folder: str) -> None:
    """In a report run, list a scratch folder made outside the run's scratch folder (in a `temp_directory`
    the parameter file names), so the runner removes it after the kernel: a kernel stopped at once never
    runs its clean-up at exit."""
    import os

    from ..config import SCRATCH_ELSEWHERE_FILE, SCRATCH_ENV

    scratch = os.environ.get(SCRATCH_ENV)
    if not scratch or Path(folder).resolve().is_relative_to(Path(scratch).resolve()):
        return
    with open(Path(scratch) / SCRATCH_ELSEWHERE_FILE, "a") as fh:
        fh.write(str(Path(folder).resolve()) + "\n")


def arrow_batches(expr, rows: int = 1_000_000):
    """Arrow record batches of an expression's result, streamed (bounded memory).

    On DuckDB the compiled SQL is streamed by DuckDB's own reader: Ibis 12's `to_pyarrow_batches`
    calls a cursor method that DuckDB 2.0 no longer has.
    """
    con = expr._find_backend()
    if con.name == "duckdb":
        return con.con.sql(con.compile(expr)).to_arrow_reader(rows)
    return expr.to_pyarrow_batches(chunk_size=rows)
