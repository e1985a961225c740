"""A user's transaction log read in place by the engine (issue "company-sized logs").

The log is made here, unlike CDNOW: 1,400 customers of a shop with its own column names (`kunde`,
`datum` as dd.mm.yyyy, `betrag`), sorted by date, customers joining on every day from the cohort
start up to and including the calibration end day (so some have T = 0), a few only after it, some
same-day repeat rows and some zero amounts. It is given as a CSV file, a hive-partitioned Parquet
folder (`year=…/month=…/part.parquet`), a glob of that folder and a DuckDB table, and each must
give what the in-memory (pandas) report gives.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date

import nbformat
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crmresearch import config, sections as sec
from crmresearch.clv import analysis, intervals, models, predictions, rfm
from crmresearch.parameters import discover, load_parameter_file
from crmresearch.parameters.customer_lifetime_value import ClvParameters

from conftest import run_cli

COHORT_START, CALIBRATION_END, HOLDOUT_END = date(2024, 3, 4), date(2024, 12, 20), date(2025, 6, 13)
DATE_FORMAT = "%d.%m.%Y"
COLUMNS = {"customer_column": "kunde", "date_column": "datum", "amount_column": "betrag", "date_format": DATE_FORMAT}
FAST = {"interval_draws": 100, "bootstrap_resamples": 5, "clv_horizon_weeks": 52}
ENGINE = {"backend": "duckdb", "threads": 1, "memory_limit": "1GB"}
RTOL = 1e-9
# Fields that name the run rather than state a result (as in tests/test_engine_reports.py).
RUN_FIELDS = {("variant",), ("results", "engine"), ("sections", "rfm", "results", "engine")}


# ---------------------------------------------------------------- the log

def make_log(seed: int = 20261130, customers: int = 1400) -> pd.DataFrame:
    """BG/NBD-like purchasing (gamma rates, beta dropout after each purchase), gamma spend; sorted by date."""
    rng = np.random.default_rng(seed)
    cal_days = (CALIBRATION_END - COHORT_START).days
    end_days = (HOLDOUT_END - COHORT_START).days
    join = rng.integers(0, cal_days + 1, customers)
    join[:40] = cal_days                                   # first purchase on the calibration end day: T = 0
    join[40:55] = rng.integers(cal_days + 1, end_days + 1, 15)   # first seen after calibration: not in the cohort
    rate = rng.gamma(0.7, 1 / 4.0, customers) / 7          # purchases a day while active
    drop = rng.beta(1.2, 5.0, customers)
    k = 30
    gaps = rng.exponential(1.0, (customers, k)) / rate[:, None]
    days = join[:, None] + np.concatenate([np.zeros((customers, 1)), np.cumsum(gaps, axis=1)[:, :-1]], axis=1)
    alive = np.arange(k)[None, :] < rng.geometric(drop)[:, None]       # the trial and the repeats before dropout
    keep = alive & (days <= end_days)
    cust = np.broadcast_to(np.arange(customers)[:, None], (customers, k))[keep]
    day = np.floor(days[keep]).astype(int)
    scale = rng.gamma(3.0, 9.0, customers)
    amount = np.round(rng.gamma(2.5, scale[cust] / 2.5), 2)
    amount[rng.random(amount.size) < 0.01] = 0.0
    twice = rng.random(cust.size) < 0.04                   # a second row on the same day (one transaction)
    cust, day = np.r_[cust, cust[twice]], np.r_[day, day[twice]]
    amount = np.r_[amount, np.round(rng.gamma(2.0, 5.0, twice.sum()), 2)]
    ids = np.array([f"K{c * 7919 % 100003:06d}" for c in range(customers)])    # ids unrelated to join order
    log = pd.DataFrame({"kunde": ids[cust], "datum": pd.Timestamp(COHORT_START) + pd.to_timedelta(day, "D"),
                        "betrag": amount})
    return log.sort_values(["datum", "kunde"], kind="stable").reset_index(drop=True)


def write_csv(log: pd.DataFrame, path) -> None:
    log.assign(datum=log["datum"].dt.strftime(DATE_FORMAT)).to_csv(path, index=False)


def write_hive(log: pd.DataFrame, folder) -> None:
    """year=YYYY/month=M/part.parquet with a real date column."""
    for (y, m), part in log.groupby([log["datum"].dt.year, log["datum"].dt.month]):
        out = folder / f"year={y}" / f"month={m}"
        out.mkdir(parents=True)
        table = pa.table({"kunde": pa.array(part["kunde"].to_numpy()),
                          "datum": pa.array(part["datum"].dt.date.to_numpy(), pa.date32()),
                          "betrag": pa.array(part["betrag"].to_numpy(), pa.float64())})
        pq.write_table(table, out / "part.parquet")


def parameter_file(path, variant: str, transactions: dict, engine: dict | None = None, **extra) -> None:
    doc = {"notebook": "03_customer_lifetime_value", "variant": variant,
           "description": "Test: a user's log read in place", "parameters": {
               "transactions": transactions, "cohort_start": str(COHORT_START),
               "calibration_end": str(CALIBRATION_END), "holdout_end": str(HOLDOUT_END), **FAST, **extra}}
    if engine is not None:
        doc["parameters"]["engine"] = engine
    path.write_text(json.dumps(doc, indent=1))            # JSON is YAML


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    log = make_log()
    write_csv(log, root / "kassenbuch.csv")
    write_hive(log, root / "hive")
    return {"root": root, "log": log, "csv": root / "kassenbuch.csv", "hive": root / "hive"}
