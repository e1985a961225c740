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

Nothing is touched before every argument is checked, and nothing a user made is ever deleted: the
log is written into a new sibling (`.<name>.writing-…`) and swapped in only when complete, so a
full disk or a killed run leaves the previous log as it was. A log this module wrote carries a
marker (the file `.crmresearch-generated-log` in a folder, a key in a single file's Parquet
metadata); `overwrite=True` replaces only such a log and refuses anything else.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
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
MARKER = ".crmresearch-generated-log"          # in a folder log; the same key in a single file's metadata


class LogPathError(ValueError):
    """The output path cannot take a log (it holds something this module did not write, or is not writable)."""


def is_generated_log(path: Path) -> bool:
    """Whether `path` is a log `write_log` wrote (its marker), so that replacing it loses nothing of the user's."""
    if path.is_dir():
        return (path / MARKER).is_file()
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError, pa.ArrowException):
        return False
    return MARKER.encode() in metadata


def check_arguments(path, transactions: int, customers: int | None, seed: int, days: int,
                    partition: str | None, overwrite: bool) -> tuple[Path, int, int]:
    """Every argument checked before anything is written or removed: (path, transactions, customers)."""
    transactions = int(transactions)
    customers = max(1, transactions // 10) if customers is None else int(customers)
    if not 1 <= customers <= transactions <= MAX_TRANSACTIONS:
        raise ValueError("need 1 <= customers <= transactions <= 1e10")
    if days < 2:
        raise ValueError("days: at least 2")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed: a whole number from 0 to 2^63 - 1 (got {seed})")
    if partition not in ("month", None):
        raise ValueError("partition: 'month' or None")
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
        if path.is_symlink() or not is_generated_log(path):
            raise LogPathError("exists and is not a log that generate-log wrote; --overwrite replaces only "
                               "such a log, so choose a new path")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise LogPathError(f"{parent} is not a folder")
    return path, transactions, customers


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
    cannot hold one purchase per customer, FileExistsError for an existing path without
    `overwrite`, LogPathError for a path that holds anything but a log this function wrote, and
    OSError (the previous log untouched) when the disk is full or the folder is not writable.
    """
    path, transactions, customers = check_arguments(path, transactions, customers, seed, days, partition, overwrite)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.writing-", dir=parent))
    target = staging / path.name
    try:
        _write(target, transactions, customers, seed, start, days, partition)
        _swap_in(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _swap_in(new: Path, path: Path) -> None:
    """Replace `path` by the complete log `new` (same folder): the old log is moved aside first and
    removed only once the new one is in place."""
    old = None
    if path.exists():
        old = new.parent / f"{path.name}.previous"
        os.replace(path, old)
    try:
        os.replace(new, path)
    except OSError:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def _write(path: Path, transactions: int, customers: int, seed: int, start, days: int, partition) -> None:
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
                    schema = table.schema.with_metadata({MARKER: "1"})
                    writer = pq.ParquetWriter(path, schema, compression="zstd")
                table = table.replace_schema_metadata({MARKER: "1"})
                writer.write_table(table, row_group_size=1 << 20)
            progress.update(table.num_rows)
    finally:
        if writer is not None:
            writer.close()
    if partition == "month":
        (path / MARKER).write_text("written by crmresearch generate-log; --overwrite may replace this folder\n")
    progress.done()
