"""The monthly stage panel the lifecycle report needs, and its aggregates, in the engine.

Stage panel (`crmresearch.lifecycle.stages.assign_stages`): calendar months from the first month
in the log; one row per customer and month from the first purchase month to the end; purchases =
distinct purchase days in the month, revenue = summed amounts; recency r = t - last purchase
month + 1; stage from `stage_rules.StageRules`; transitions are consecutive months of one customer.
Months are integers (year * 12 + month - 1; no `ibis.range` over dates).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from ..stage_rules import StageRules
from .execution import F64, day_numbers, execute, hashed_customers
from .ranges import STAGE_BYTES_PER_ROW, customer_ranges, in_range, part_rows


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


def _period_number(end) -> int | None:
    """The month number (year * 12 + month - 1) of a date or month, None for None."""
    if end is None:
        return None
    e = pd.Period(end, freq="M")
    return e.year * 12 + e.month - 1


def month_range(t, end=None) -> tuple[int, int]:
    """(first, last) month numbers (year * 12 + month - 1) of the panel."""
    df = execute(t.aggregate(lo=_month_number(t).min(), hi=_month_number(t).max()), "month range")
    lo = int(df["lo"].iloc[0])
    hi = int(df["hi"].iloc[0]) if end is None else _period_number(end)
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


@ibis.udf.scalar.builtin(name="bit_count")
def _bit_count(bits: dt.int64) -> dt.int64:
    """The engines' bit_count (DuckDB and Spark alike): the number of bits set."""


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(bits: dt.int64) -> dt.int64:
    """The engines' bit_or aggregate (DuckDB and Spark alike; Ibis compiles its own for DuckDB only)."""


def _group_code(values, bounds):
    """Number of `bounds` below each value (`np.searchsorted(bounds, v, side="left")`), in the engine."""
    return sum((values > b).cast("int64") for b in bounds)


def _stage_groups(t, rules: StageRules, last_month: int | None, n_count: int):
    """The (month, previous stage, count group, next purchase month) counts and revenue of `t`, months
    as absolute numbers (year * 12 + month - 1) up to `last_month` (all when None); a missing next
    purchase month is null."""
    d = t.mutate(p=_month_number(t))
    if last_month is not None:
        d = d.filter(d.p <= last_month)
    # Purchase days per month in one plain aggregation (a COUNT DISTINCT cannot spill to disk, and a
    # grouping by day first costs a second pass): the days of a month as bits of one integer, OR-ed
    # together, counted.
    day_bit = ibis.literal(1, "int64") << (d.date.day().cast("int64") - 1)
    a = d.group_by(["customer_id", "p"]).aggregate(purchases=_bit_count(_bit_or(day_bit)).cast("int64"),
                                                   revenue=d.amount.sum().cast(F64))
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
                      next_p=a.next_p).aggregate(n=a.count(), revenue=a.revenue.sum())


def stage_summary(t, rules: StageRules = StageRules(), end=None, rows_per_part: int | None = None) -> StageSummary:
    """Transition counts by month, occupancy, entries and revenue of the monthly stage panel.

    Computed without expanding the panel in the engine: between two purchase months a customer's
    stage follows from (months since the purchase, cumulative purchases), so one aggregation of the
    customer-month *activity* rows by (month, previous stage, count group, next purchase month)
    holds everything; the months without purchase are expanded here from that small table
    (at most months^2 x stages rows). The result equals the panel of `stage_panel_expression`.

    On DuckDB the customers are taken range by range of their ids (`customer_ranges`, `rows_per_part`
    as there), each range's groupings and windows within the memory limit, and grouped by a hash of
    their id (`hashed_customers`); the small tables add up.
    """
    end_month = _period_number(end)
    s = len(rules.states)
    n_count = len(rules.count_labels) if rules.count_bounds is not None else 1
    if rows_per_part is None and t._find_backend().name == "duckdb":
        rows_per_part = part_rows(t._find_backend(), STAGE_BYTES_PER_ROW)
    ranges = customer_ranges(t, rows_per_part)
    parts = []
    for i, r in enumerate(ranges):
        step = "stage panel and transitions" + (f", part {i + 1} of {len(ranges)}" if len(ranges) > 1 else "")
        parts.append(execute(_stage_groups(hashed_customers(in_range(t, r)), rules, end_month, n_count), step))
    df = pd.concat(parts, ignore_index=True)
    # The panel's months (`month_range`) from the groups themselves: the log's first purchase month is
    # some customer's entry, its last the latest purchase month (or the given end), so no scan of the
    # log's dates is needed.
    lo = int(df["p"].min()) if len(df) else (end_month or 0)
    hi = end_month if end_month is not None else (int(df["p"].max()) if len(df) else lo)
    n_months = hi - lo + 1
    df["p"] = df["p"].astype(np.int64) - lo
    df["next_p"] = df["next_p"].astype("Float64").fillna(hi + 1).astype(np.int64) - lo
    # Rows in key order, so the sums below add in the same order whatever order the engine returned.
    df = df.sort_values(["p", "previous", "count_group", "next_p", "n", "revenue"], kind="stable", na_position="first")

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
