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

from .execution import F64, execute, register_frame


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
    df = execute(r.group_by(keys).aggregate(**aggs).order_by(keys), "RFM unique rows")
    out = pd.DataFrame({"frequency": df["frequency"].to_numpy(np.int64),
                        "recency": df["recency_days"].to_numpy(np.float64) / float(period_days),
                        "T": df["T_days"].to_numpy(np.float64) / float(period_days),
                        "customers": df["customers"].to_numpy(np.int64),
                        "monetary_sum": df["monetary_sum"].to_numpy(np.float64),
                        "recency_days": df["recency_days"].to_numpy(np.int64),
                        "T_days": df["T_days"].to_numpy(np.int64)})
    if "frequency_holdout" in df:
        out["frequency_holdout"] = df["frequency_holdout"].to_numpy(np.int64)
        out["holdout_squares"] = df["holdout_squares"].to_numpy(np.int64)
    return out


def spend_rows(rfm_table) -> pd.DataFrame:
    """Unique (frequency, monetary_value) rows of the repeat buyers with their counts (Gamma-Gamma's input)."""
    r = rfm_table.filter(rfm_table.frequency > 0)
    df = execute(r.group_by(["frequency", "monetary_value"]).aggregate(customers=r.count())
                 .order_by(["frequency", "monetary_value"]), "repeat spend rows")
    return pd.DataFrame({"frequency": df["frequency"].to_numpy(np.int64),
                         "monetary_value": df["monetary_value"].to_numpy(np.float64),
                         "customers": df["customers"].to_numpy(np.int64)})


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


def top_sum(table, column: str, k: int) -> float:
    """Sum of `column` over its k largest values."""
    if k <= 0:
        return 0.0
    top = table.order_by(ibis.desc(column)).limit(k)
    return float(execute(top.aggregate(s=top[column].cast(F64).sum()), f"top {k:,} {column}")["s"].iloc[0] or 0.0)
