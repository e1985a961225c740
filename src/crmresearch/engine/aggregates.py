"""Aggregates of a kept per-customer RFM table (`rfm.rfm_expression`, materialized) for a report that
holds no row per customer: unique (x, t_x, T) rows with their counts and sums, unique (x, m) rows of
the repeat buyers, cohort totals, holdout spend by frequency, a deterministic choice of customers,
and, over a per-customer table of predictions, ranks, cumulative sums at chosen positions, quantiles,
medians and group counts.

Each function returns a small pandas object; the per-customer work stays in the engine. The
definitions are those of the in-memory path (`clv.rfm`, `clv.predictions`, `clv.value`,
`clv.intervals.choose_customers`): the tests compare the two on the same log.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from .execution import F64, execute, execute_columns, register_frame


def unique_rows(rfm_table, period_days: float = 7.0) -> pd.DataFrame:
    """Unique (frequency, recency, T) rows: customers, sum of average repeat spend (repeat buyers; 0
    for x = 0), holdout purchases and their squares summed; sorted by (x, t_x, T) in days, which are
    kept (`recency_days`, `T_days`) to join predictions back."""
    r = rfm_table
    spend = ibis.ifelse(r.frequency > 0, r.monetary_value.cast(F64), ibis.literal(0.0, F64))
    aggs = dict(customers=r.count(), monetary_sum=spend.sum())
    if "frequency_holdout" in r.columns:
        aggs.update(frequency_holdout=r.frequency_holdout.sum(),
                    holdout_squares=(r.frequency_holdout * r.frequency_holdout).sum())
    keys = ["frequency", "recency_days", "T_days"]
    df = execute_columns(r.group_by(keys).aggregate(**aggs).order_by(keys), "RFM unique rows")
    out = pd.DataFrame({"frequency": df["frequency"].astype(np.int64),
                        "recency": df["recency_days"].astype(np.float64) / float(period_days),
                        "T": df["T_days"].astype(np.float64) / float(period_days),
                        "customers": df["customers"].astype(np.int64),
                        "monetary_sum": df["monetary_sum"].astype(np.float64),
                        "recency_days": df["recency_days"].astype(np.int64),
                        "T_days": df["T_days"].astype(np.int64)})
    if "frequency_holdout" in df:
        out["frequency_holdout"] = df["frequency_holdout"].astype(np.int64)
        out["holdout_squares"] = df["holdout_squares"].astype(np.int64)
    return out


def spend_rows(rfm_table) -> pd.DataFrame:
    """Unique (frequency, monetary_value) rows of the repeat buyers with their counts (Gamma-Gamma's input)."""
    r = rfm_table.filter(rfm_table.frequency > 0)
    df = execute_columns(r.group_by(["frequency", "monetary_value"]).aggregate(customers=r.count())
                         .order_by(["frequency", "monetary_value"]), "repeat spend rows")
    return pd.DataFrame({"frequency": df["frequency"].astype(np.int64),
                         "monetary_value": df["monetary_value"].astype(np.float64),
                         "customers": df["customers"].astype(np.int64)})


def cohort_totals(rfm_table) -> dict:
    """Customers, repeat buyers, repeat and holdout purchases, mean repeat spend, and the correlation of
    x and average spend among repeat buyers (with its n), in one pass."""
    r = rfm_table
    repeat = r.frequency > 0
    aggs = dict(customers=r.count(), repeat_buyers=r.count(where=repeat), frequency_sum=r.frequency.sum(),
                mean_repeat_spend=r.monetary_value.mean(where=repeat),
                correlation=r.frequency.cast(F64).corr(r.monetary_value.cast(F64), where=repeat, how="pop"),
                correlation_n=r.count(where=repeat & r.monetary_value.notnull()))
    if "frequency_holdout" in r.columns:
        aggs.update(holdout_sum=r.frequency_holdout.sum(), holdout_buyers=r.count(where=r.frequency_holdout > 0))
    row = execute(r.aggregate(**aggs), "cohort totals").iloc[0]
    out = {k: (None if pd.isna(v) else float(v) if k in ("mean_repeat_spend", "correlation") else int(v))
           for k, v in row.items()}
    return out


def holdout_spend_by_frequency(rfm_table) -> pd.DataFrame:
    """By calibration frequency, for customers who bought in the holdout period: how many, the sum of
    their average holdout spend and of their average repeat spend (0 for x = 0)."""
    r = rfm_table.filter(rfm_table.frequency_holdout > 0)
    spend = ibis.ifelse(r.frequency > 0, r.monetary_value.cast(F64), ibis.literal(0.0, F64))
    df = execute(r.group_by("frequency").aggregate(bought=r.count(), holdout_spend_sum=r.monetary_holdout.sum(),
                                                   monetary_sum=spend.sum()).order_by("frequency"),
                 "holdout spend by frequency")
    return pd.DataFrame({"frequency": df["frequency"].to_numpy(np.int64), "bought": df["bought"].to_numpy(np.int64),
                         "holdout_spend_sum": df["holdout_spend_sum"].to_numpy(np.float64),
                         "monetary_sum": df["monetary_sum"].to_numpy(np.float64)})


def _first_id(expr) -> str | None:
    df = execute(expr.limit(1), "chosen customer")
    return None if df.empty else df["customer_id"].iloc[0]


def choose_customers(rfm_table, k: int = 3) -> list:
    """`clv.intervals.choose_customers` in the engine: the most frequent repeat buyer, the repeat buyer
    (x >= 2) silent longest relative to T, and the repeat buyer at the median frequency with the most
    recent purchase; ties go to the smallest customer id."""
    r = rfm_table.filter(rfm_table.frequency > 0)
    first = _first_id(r.order_by([ibis.desc("frequency"), "customer_id"]).select("customer_id"))
    if first is None:
        return []
    picks = [first]
    quiet = r.filter(r.frequency >= 2)
    quiet = quiet.mutate(silent=(quiet["T"] - quiet.recency) / quiet["T"])
    q = _first_id(quiet.order_by([ibis.desc("silent"), "customer_id"]).select("customer_id"))
    if q is not None:
        picks.append(q)
    median = float(execute(r.aggregate(m=r.frequency.cast(F64).median()), "median frequency")["m"].iloc[0])
    near = r.mutate(gap=(r.frequency.cast(F64) - ibis.literal(median, F64)).abs())
    nearest = execute(near.order_by(["gap", "customer_id"]).select("frequency").limit(1), "median buyer")
    middle = r.filter(r.frequency == int(nearest["frequency"].iloc[0]))
    picks.append(_first_id(middle.order_by([ibis.desc("recency"), "customer_id"]).select("customer_id")))
    return list(dict.fromkeys(picks))[:k]


# ------------------------------------------------------------------ over a per-customer table of values
def rows_at(table, order_by, positions: np.ndarray, columns: list[str], cumulative: str | None = None) -> pd.DataFrame:
    """The rows at 0-based `positions` of `table` ordered by `order_by` (a systematic sample of a
    ranked or id-ordered table, for a figure), with the running sum of `cumulative` up to and
    including each row when given."""
    t = table.mutate(_position=ibis.row_number().over(order_by=order_by))
    if cumulative is not None:
        t = t.mutate(_cumulative=t[cumulative].cast(F64).sum().over(
            ibis.window(order_by=order_by, rows=(None, 0))))
    wanted = pd.DataFrame({"_position": np.asarray(positions, np.int64)})
    name = f"crm_positions_{abs(hash(tuple(map(str, order_by)))) % 10**8}_{len(wanted)}"
    wanted_t = register_frame(table._find_backend(), name, wanted)
    j = t.join(wanted_t, "_position")
    cols = ["_position", *columns] + (["_cumulative"] if cumulative is not None else [])
    return execute(j.select(*cols).order_by("_position"), "ranked sample").reset_index(drop=True)


def _kth_largest_values(table, column: str, ks: list[int]) -> list[float]:
    """The k-th largest value of `column` for each k (1-based, 1 <= k <= n), exactly: DuckDB's
    `quantile_disc` at q = (n - k + 1/2) / n is the element at ascending position n - k (DuckDB takes
    position ceil(n q) - 1, and the half keeps it clear of rounding), found without a sort; elsewhere
    the row at that position of one ordered window."""
    con = table._find_backend()
    n = int(execute(table.aggregate(n=table.count()), "rows")["n"].iloc[0])
    if con.name == "duckdb":
        qs = ", ".join(repr((n - k + 0.5) / n) for k in ks)
        sql = f'SELECT quantile_disc("{column}", [{qs}]) FROM ({con.compile(table.select(column))})'
        return [float(v) for v in con.con.execute(sql).fetchall()[0][0]]
    w = table.mutate(_rank=ibis.row_number().over(order_by=ibis.desc(column)))
    rows = execute(w.filter(w._rank.isin([k - 1 for k in ks])).select("_rank", column), f"{column} ranks")
    by_rank = dict(zip(rows["_rank"].astype(int), rows[column].astype(float)))
    return [by_rank[k - 1] for k in ks]


def ranked_bounds(table, column: str, ks: list[int], tie_key: str = "customer_id") -> list:
    """For each k, the (value, tie_key) of the k-th row of `table` ordered by `column` descending, ties
    by `tie_key` ascending (None for k <= 0): the rows at or above it are those with a larger value,
    or the same value and a tie key at most its own. The value comes from `_kth_largest_values`; only
    the rows tied at it are ordered, to find the key."""
    wanted = [k for k in ks if k > 0]
    values = dict(zip(wanted, _kth_largest_values(table, column, wanted))) if wanted else {}
    out = []
    for k in ks:
        if k <= 0:
            out.append(None)
            continue
        v = ibis.literal(values[k], F64)
        above = int(execute(table.aggregate(c=table.count(where=table[column] > v)), "rows above a bound")["c"].iloc[0])
        tied = table.filter(table[column] == v)
        tied = tied.mutate(_place=ibis.row_number().over(order_by=tie_key))
        tied = tied.filter(tied._place == k - above - 1).select(tie_key)
        out.append((values[k], execute(tied, "tie at a bound")[tie_key].iloc[0]))
    return out


def top_sum(table, column: str, k: int) -> float:
    """Sum of `column` over its k largest values: those above the k-th largest value v, plus v for each
    of the k places the rows tied at v fill (no sort)."""
    if k <= 0:
        return 0.0
    v = _kth_largest_values(table, column, [k])[0]
    lit = ibis.literal(v, F64)
    row = execute(table.aggregate(s=table[column].cast(F64).sum(where=table[column] > lit),
                                  c=table.count(where=table[column] > lit)), f"top {k:,} {column}").iloc[0]
    above = 0.0 if pd.isna(row["s"]) else float(row["s"])           # no row above v: an empty sum
    return above + (k - int(row["c"])) * v
