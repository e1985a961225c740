"""Customers cut into ranges of their ids, so a summary of a large log fits DuckDB's memory limit.

Every customer is wholly in one range, so per-customer results (and sums over customers) taken
range by range are those of the whole (`customer_ranges`, `in_range`).
"""

from __future__ import annotations

import math
import re

import ibis
import ibis.expr.operations as ops

from .execution import Heartbeat, execute


BYTES_PER_ROW = 75               # engine memory a transaction takes in the RFM grouping (2 GB: 25 million)
# ... when a range's customer-days are kept beside it (`rfm.rfm_and_tracking`; 2 GB: 9 million). More than
# memory needs: a range's grouping runs faster per row when its hash table is smaller, and every range
# scans the log's ids once, so 100 million rows took 35.4 s in ranges of 9 million, 38.3 s in ranges of
# 12 million and 36.8 s in ranges of 7 million.
DAYS_BYTES_PER_ROW = 215
STAGE_BYTES_PER_ROW = 48         # ... in the stage panel's one grouping into customer-months (`stage_panel.stage_summary`; 2 GB: 41 million)
RANGE_SAMPLE_ROWS = 100_000
_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2.0 ** 10, "MIB": 2.0 ** 20,
          "GIB": 2.0 ** 30, "TIB": 2.0 ** 40}


def part_rows(con, bytes_per_row: int = BYTES_PER_ROW) -> int:
    """Transactions per range of customers that DuckDB's memory limit holds (25 million at 2 GB for
    the RFM grouping)."""
    value = con.con.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()[0][0]
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", str(value))
    limit = float(match.group(1)) * _UNITS.get(match.group(2).upper(), 1.0) if match else 2e9
    return max(1_000_000, int(limit / bytes_per_row))


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
    with Heartbeat(con, "customer ranges", None, 10.0):
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
