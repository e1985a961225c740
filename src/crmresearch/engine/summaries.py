"""The summaries the CLV and lifecycle reports need, as Ibis expressions run where the log lives.

Every function takes an Ibis table with `customer_id` (string), `date` (date) and `amount`
(float64) — see `sources.open_log` — and returns small pandas objects: a per-customer RFM table
(or its unique (x, t_x, T) rows with counts), per-period repeat counts, stage-panel aggregates,
concentration figures. The definitions are those of the in-memory path and give the same numbers
(each module states its own): `rfm` (the RFM summaries and the repeat purchases per period),
`stage_panel` (the monthly stage panel and its aggregates), `value` (concentration, per-customer
predictions written in batches), on the shared helpers of `execution` (running with progress,
customer-days, kept tables) and `ranges` (customers cut into ranges of their ids).

Engine-neutral rules (the same expression runs on DuckDB and Spark): integer day numbers come from
`date.delta(epoch, unit="day")`, integers are cast to float64 before any division (Spark would
otherwise divide decimals), months are integers (year * 12 + month - 1; no `ibis.range` over
dates), and every result is cast to fixed pandas dtypes. A per-customer table that several
summaries need is computed once and kept in the engine (`materialize`). Long queries log their
progress (`execute`: step, DuckDB's share done, elapsed) to the `crmresearch.engine` logger.

This module gathers the names the reports, tests and benchmarks use (`summaries.<name>`).
"""

from __future__ import annotations

from .execution import execute, kept_file, materialize, materialize_parts, scratch_folder, write_customer_table
from .ranges import customer_ranges, in_range, part_rows
from .rfm import (
    cohort,
    collapse_customer_rows,
    customer_log,
    customer_rfm,
    first_bought_between,
    log_size,
    repeat_spend_rows,
    repeat_transactions_by_period,
    rfm_and_tracking,
    rfm_collapsed,
    rfm_expression,
    rfm_summary,
    sum_periods,
)
from .stage_panel import StageSummary, stage_panel_frame, stage_summary
from .value import concentration, customer_revenue_expression, write_customer_predictions

__all__ = [
    "StageSummary", "cohort", "collapse_customer_rows", "concentration", "customer_log", "customer_ranges", "first_bought_between",
    "customer_revenue_expression", "customer_rfm", "execute", "kept_file", "in_range", "log_size", "materialize",
    "materialize_parts", "part_rows", "scratch_folder", "repeat_spend_rows", "repeat_transactions_by_period", "rfm_and_tracking", "rfm_collapsed",
    "rfm_expression", "rfm_summary", "stage_panel_frame", "stage_summary", "sum_periods",
    "write_customer_predictions", "write_customer_table",
]
