"""Value figures in the engine: revenue concentration over customers, per-customer predictions.

`concentration` gives the top share, Gini and Lorenz curve of a per-customer column;
`write_customer_predictions` streams a per-customer RFM table out in batches, adds the columns a
prediction function returns and writes them as one Parquet file.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd

from ..datasets import day_number
from .execution import F64, arrow_batches, daily, execute, with_first_day
from .progress import Progress


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
