"""A deterministic synthetic transaction log of any size, written as Parquet in bounded memory.

`write_log(path, transactions=..., customers=..., seed=...)` writes `customer_id` (text),
`date` (date) and `amount` (float, cents) for `customers` customers who join over the first two
thirds of `days` days from `start`, buy at gamma-distributed rates and drop out after an
exponential lifetime (a BG/NBD-like population; Fader, Hardie & Lee 2005), so the log has repeat
buyers, lapsed customers and same-day repeat lines. Customers are generated in fixed blocks of
`CHUNK_CUSTOMERS`, each from its own random stream `(seed, block)`, so the file is the same
whatever the machine, and memory stays near one block (about 2.5 million rows) however large the
log. `partition="month"` writes a hive-partitioned folder (`year=2024/month=3/part-….parquet`);
`partition=None` one Parquet file with a row group per block.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from .progress import Progress

log = logging.getLogger("crmresearch.engine")

CHUNK_CUSTOMERS = 250_000
MAX_TRANSACTIONS = 10**10


def _block(index: int, n_customers: int, n_transactions: int, first_id: int, seed: int, days: int,
           start_day: int) -> pa.Table:
    rng = np.random.default_rng([seed, index])
    entry = rng.integers(0, max(1, (2 * days) // 3), n_customers)
    # Lifetime after entry: exponential with mean one year, cut at the end of the window.
    alive_until = np.minimum(entry + rng.exponential(365.0, n_customers).astype(np.int64), days - 1)
    span = alive_until - entry + 1
    # Each customer buys once on entry; the other purchases go to customers by rate x active time.
    rate = rng.gamma(0.6, 1.0, n_customers) * span
    extra = rng.multinomial(n_transactions - n_customers, rate / rate.sum())
    counts = 1 + extra
    cust = np.repeat(np.arange(n_customers), counts)
    offset = (rng.random(cust.size) * span[cust]).astype(np.int64)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    offset[first] = 0                                    # the trial purchase on the entry day
    day = entry[cust] + offset
    level = rng.lognormal(3.0, 0.6, n_customers)
    amount = np.round(level[cust] * rng.gamma(4.0, 0.25, cust.size), 2)
    order = np.argsort(day, kind="stable")               # logs arrive in time order
    ids = pd.Series(first_id + cust[order]).map("c{:09d}".format)
    dates = (start_day + day[order]).astype("datetime64[D]")
    return pa.table({"customer_id": pa.array(ids.to_numpy(), pa.string()),
                     "date": pa.array(dates, pa.date32()),
                     "amount": pa.array(amount[order], pa.float64())})


def write_log(path, transactions: int = 1_000_000, customers: int | None = None, seed: int = 20261123,
              start=date(2022, 1, 1), days: int = 1096, partition: str | None = "month",
              overwrite: bool = False) -> Path:
    """Write a synthetic log of exactly `transactions` rows; returns the path written.

    `customers` defaults to one customer per 10 transactions. Raises ValueError for sizes that
    cannot hold one purchase per customer.
    """
    transactions = int(transactions)
    customers = max(1, transactions // 10) if customers is None else int(customers)
    if not 1 <= customers <= transactions <= MAX_TRANSACTIONS:
        raise ValueError("need 1 <= customers <= transactions <= 1e10")
    if days < 2:
        raise ValueError("days: at least 2")
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    start_day = int(np.datetime64(pd.Timestamp(start).date(), "D").astype(np.int64))
    n_blocks = -(-customers // CHUNK_CUSTOMERS)
    block_customers = np.full(n_blocks, CHUNK_CUSTOMERS)
    block_customers[-1] = customers - CHUNK_CUSTOMERS * (n_blocks - 1)
    # Transactions shared out in proportion to customers (largest remainders), at least one each.
    share = transactions * block_customers / customers
    block_tx = np.floor(share).astype(np.int64)
    block_tx[np.argsort(block_tx - share)[: transactions - block_tx.sum()]] += 1
    block_tx = np.maximum(block_tx, block_customers)
    block_tx[-1] += transactions - block_tx.sum()
    writer = None
    progress = Progress("generate log", total=transactions, logger=log)
    try:
        first_id = 0
        for b in range(n_blocks):
            table = _block(b, int(block_customers[b]), int(block_tx[b]), first_id, seed, days, start_day)
            first_id += int(block_customers[b])
            if partition == "month":
                d = pd.DatetimeIndex(table.column("date").to_numpy(zero_copy_only=False))
                table = table.append_column("year", pa.array(d.year, pa.int16())).append_column(
                    "month", pa.array(d.month, pa.int8()))
                pads.write_dataset(table, path, format="parquet", partitioning=["year", "month"],
                                   partitioning_flavor="hive", basename_template=f"part-{b:05d}-{{i}}.parquet",
                                   existing_data_behavior="overwrite_or_ignore")
            elif partition is None:
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=1 << 20)
            else:
                raise ValueError("partition: 'month' or None")
            progress.update(table.num_rows)
    finally:
        if writer is not None:
            writer.close()
    progress.done()
    return path
