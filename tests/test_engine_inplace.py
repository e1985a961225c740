"""A user's transaction log read in place by the engine (README: "Company-sized logs").

The log is made here, unlike CDNOW: 1,400 customers of a shop with its own column names (`kunde`,
`datum` as dd.mm.yyyy, `betrag`), sorted by date, customers joining on every day from the cohort
start up to and including the calibration end day (so some have T = 0), a few only after it, some
same-day repeat rows and some free first orders. It is given as a CSV file, a hive-partitioned
Parquet folder (`year=…/month=…/part.parquet`), a glob of that folder and a DuckDB table, and each
must give what the in-memory (pandas) report gives. The in-place route keeps customers in id
order, the pandas route in order of first appearance; the report is compared with the pandas
report of the same rows sorted by customer and with the date-sorted rows: the numbers do not
depend on the order of the rows.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crmresearch import config, sections as sec
from crmresearch.clv import data as clv_data, fits as clv_fits, intervals, predictions, rfm
from crmresearch.clv import sections as clv_sections
from crmresearch.clv.analyse import analyse
from crmresearch.models import bgnbd
from crmresearch.models.bgnbd import BetaGeoNBD
from crmresearch.models.gammagamma import GammaGamma
from crmresearch.models.paretonbd import ParetoNBD
from crmresearch.parameters import discover, load_parameter_file
from crmresearch.parameters.customer_lifetime_value import ClvParameters

from conftest import run_cli
from textnumbers import assert_states
from test_engine_reports import _numbers_equal     # every number to RTOL outside the run's own fields

# DuckDB's CSV reader and pandas may parse a decimal amount to neighbouring doubles; the estimates
# agree to 1e-12, and the bootstrap re-fits then stop within the optimizer's tolerance (3e-9 seen).
RTOL = 1e-8

COHORT_START, CALIBRATION_END, HOLDOUT_END = date(2024, 3, 4), date(2024, 12, 20), date(2025, 6, 13)
DATE_FORMAT = "%d.%m.%Y"
COLUMNS = {"customer_column": "kunde", "date_column": "datum", "amount_column": "betrag", "date_format": DATE_FORMAT}
FAST = {"parameter_draws": 100, "bootstrap_resamples": 5, "clv_horizon_weeks": 52}
ENGINE = {"backend": "duckdb", "threads": 1, "memory_limit": "1GB"}


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
    trial = np.broadcast_to(np.arange(k)[None, :] == 0, (customers, k))[keep]
    amount[trial & (rng.random(amount.size) < 0.03)] = 0.0     # free first orders (repeat spend stays positive)
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


def memory_log(log: pd.DataFrame) -> pd.DataFrame:
    """The log as the in-memory path holds it (customer_id, date, amount)."""
    return log.rename(columns={"kunde": "customer_id", "datum": "date", "betrag": "amount"})


def clv_parameters(transactions: dict, engine: dict | None = ENGINE, **extra) -> ClvParameters:
    return ClvParameters(variant="inplace", transactions=transactions, cohort_start=COHORT_START,
                         calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END, engine=engine, **{**FAST, **extra})


def assert_same_data(got: clv_data.ClvData, want: clv_data.ClvData) -> None:
    """Two reads of one log give the same summary, weekly counts, log size and chosen customers' rows."""
    pd.testing.assert_frame_equal(got.summary, want.summary, check_exact=False, rtol=1e-12, atol=0)
    pd.testing.assert_frame_equal(got.tracking_counts, want.tracking_counts, check_exact=True)
    assert (got.transaction_rows, got.customers_in_log) == (want.transaction_rows, want.customers_in_log)
    pd.testing.assert_frame_equal(got.log, want.log, check_exact=False, rtol=1e-12, atol=0)
    assert got.in_place and got.engine == "duckdb"


# ---------------------------------------------------------------- the CLI, pandas against the engine

@pytest.fixture(scope="module")
def cli_runs(shop):
    """One `crmresearch run` of three parameter files (two at a time): the date-sorted CSV in memory,
    the same rows sorted by customer in memory, and the date-sorted CSV read in place by DuckDB."""
    root = shop["root"]
    by_customer = root / "kassenbuch_by_customer.csv"
    write_csv(shop["log"].sort_values(["kunde", "datum"], kind="stable"), by_customer)
    files = [root / "memory.yaml", root / "memory_by_customer.yaml", root / "engine.yaml"]
    parameter_file(files[0], "inplace_memory", {"path": str(shop["csv"]), **COLUMNS})
    parameter_file(files[1], "inplace_memory_by_customer", {"path": str(by_customer), **COLUMNS})
    parameter_file(files[2], "inplace_engine", {"path": str(shop["csv"]), **COLUMNS}, ENGINE)
    reports = root / "reports"
    scratch = root / "system_tmp"          # the run's temporary space, to see what it leaves there
    scratch.mkdir()
    run = run_cli("run", *files, "-j", "2", "--reports-dir", reports, timeout=900, env_extra={"TMPDIR": str(scratch)})
    assert run.returncode == 0, run.stdout + run.stderr
    topic = reports / "customer_lifetime_value"
    docs = {v: json.loads((topic / v / "results.json").read_text())
            for v in ("inplace_memory", "inplace_memory_by_customer", "inplace_engine")}
    return {"stdout": run.stdout, "topic": topic, "docs": docs, "scratch": scratch}


def test_an_engine_run_leaves_no_spill_folder_behind(cli_runs):
    """The kernel is stopped at once after its last cell, so its own clean-up never runs: the runner
    removes the run's scratch folder, in which the engine spilled."""
    assert cli_runs["docs"]["inplace_engine"]["results"]["engine"] == "duckdb"
    assert [p.name for p in cli_runs["scratch"].iterdir() if p.name.startswith("crmresearch-")] == []


def _check_engine_report(memory: dict, routed: dict) -> None:
    assert memory["results"]["engine"] == "pandas" and routed["results"]["engine"] == "duckdb"
    assert routed["provenance"]["parameters"]["engine"]["backend"] == "duckdb"
    assert all(s["source"] in sec.SOURCES for s in routed["sections"].values())
    for name in ("fit_bgnbd", "fit_paretonbd", "fit_gamma_gamma", "clv", "value_intervals", "tiers", "customer_file"):
        assert routed["sections"][name]["source"] == "data", name
    problems = _numbers_equal(memory, routed, rtol=RTOL)
    assert problems == [], f"{len(problems)} differences, first: {problems[:5]}"


@pytest.mark.slow
def test_engine_report_equals_the_pandas_report(shop, cli_runs):
    """Read in place (rows in customer-id order), the report gives every number of the pandas report
    of the same rows in that order."""
    docs = cli_runs["docs"]
    _check_engine_report(docs["inplace_memory_by_customer"], docs["inplace_engine"])
    results = docs["inplace_engine"]["results"]
    cohort = rfm.rfm_summary(memory_log(shop["log"]), CALIBRATION_END, HOLDOUT_END)
    assert results["customers"] == len(cohort) and results["transaction_rows"] == len(shop["log"])
    assert docs["inplace_engine"]["sections"]["rfm"]["rows_dropped"] == {
        "first purchase after the calibration period": shop["log"]["kunde"].nunique() - len(cohort)}
    assert (cohort["T"] == 0).sum() >= 40                  # customers first seen on the calibration end day


@pytest.mark.slow
def test_engine_report_equals_the_pandas_report_of_a_date_sorted_log(cli_runs):
    docs = cli_runs["docs"]
    _check_engine_report(docs["inplace_memory"], docs["inplace_engine"])


@pytest.mark.slow
def test_customer_file_beside_the_report(shop, cli_runs):
    topic, doc = cli_runs["topic"], cli_runs["docs"]["inplace_engine"]
    path = topic / "inplace_engine" / clv_sections.CUSTOMER_FILE
    assert path.is_file() and doc["results"]["customer_file"]["file"] == clv_sections.CUSTOMER_FILE
    customers = pd.read_parquet(path)
    cohort = rfm.rfm_summary(memory_log(shop["log"]), CALIBRATION_END, HOLDOUT_END)
    assert len(customers) == doc["results"]["customers"] == doc["results"]["customer_file"]["customers"]
    assert customers["customer_id"].is_unique and set(customers["customer_id"]) == set(cohort.index)
    assert list(customers.columns) == doc["results"]["customer_file"]["columns"]
    assert customers.notna()[["clv", "clv_lower", "clv_upper", "p_alive", "revenue", "profit"]].all().all()
    assert math.isclose(customers["clv"].sum(), doc["results"]["clv_total"]["total"], rel_tol=1e-9)
    tiers = {row["tier"]: row["customers"] for row in doc["results"]["tiers"]}
    assert customers["tier"].value_counts().to_dict() == tiers
    for row in doc["results"]["tiers"]:
        assert math.isclose(customers.loc[customers["tier"] == row["tier"], "clv"].sum(), row["total_clv"],
                            rel_tol=1e-9)
    # Revenue and purchase days to the end of the holdout, counted here from the raw rows.
    log = memory_log(shop["log"])
    log = log[log["date"] <= pd.Timestamp(HOLDOUT_END)]
    by = customers.set_index("customer_id")
    revenue = log.groupby("customer_id")["amount"].sum().reindex(by.index)
    orders = log.groupby("customer_id")["date"].nunique().reindex(by.index)
    np.testing.assert_allclose(by["revenue"], revenue, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(by["orders"], orders)
    # The pandas route writes the same table (its rows in its own order).
    memory = pd.read_parquet(topic / "inplace_memory_by_customer" / clv_sections.CUSTOMER_FILE)
    pd.testing.assert_frame_equal(memory.set_index("customer_id").loc[by.index], by, check_exact=False,
                                  rtol=1e-9, check_dtype=False)


PROGRESS_LINE = re.compile(r"^  customer_lifetime_value/inplace_engine: (?!cell )(.+?): (started|done)\b", re.M)


@pytest.mark.slow
def test_progress_in_the_run_log_not_in_the_notebook(cli_runs):
    log = cli_runs["stdout"]
    steps = {m.group(1) for m in PROGRESS_LINE.finditer(log)}
    for step in ("materialize crm_clv_rfm", "RFM summary", "fit BG/NBD", "fit Pareto/NBD", "fit Gamma-Gamma"):
        assert f"customer_lifetime_value/inplace_engine: {step}: done" in log, step
        assert step in steps
    for variant in ("inplace_engine", "inplace_memory"):
        nb = nbformat.read(cli_runs["topic"] / variant / "report.ipynb", as_version=4)
        outputs = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])],
                             ensure_ascii=False)
        assert "▕" not in outputs and "█" not in outputs and "crmresearch.engine" not in outputs
        for step in steps:
            assert f"{step}: started" not in outputs and f"{step}: done" not in outputs, (variant, step)


# ---------------------------------------------------------------- folder, glob and DuckDB table

@pytest.fixture(scope="module")
def csv_in_place(shop):
    return clv_data.prepare(clv_parameters({"path": str(shop["csv"]), **COLUMNS}), np.random.default_rng(0))


def test_csv_in_place_equals_the_pandas_summary(shop, csv_in_place):
    data = csv_in_place
    memory = rfm.rfm_summary(memory_log(shop["log"]), CALIBRATION_END, HOLDOUT_END).sort_index()
    assert data.summary.index.equals(memory.index)
    pd.testing.assert_frame_equal(data.summary[memory.columns], memory, check_exact=False, rtol=1e-12, atol=0,
                                  check_index_type=False)
    assert data.transaction_rows == len(shop["log"]) and data.customers_in_log == shop["log"]["kunde"].nunique()
    assert set(data.log["customer_id"]) == set(intervals.choose_customers(data.summary))   # only 3 customers' rows
    # Revenue and purchase days from the summary's own columns equal those counted in the log.
    full = clv_data.ClvData(memory_log(shop["log"]), memory, None, None, "data", COHORT_START, CALIBRATION_END,
                            HOLDOUT_END)
    pd.testing.assert_frame_equal(data.revenue_and_orders(), full.revenue_and_orders(), check_exact=False,
                                  rtol=1e-12, check_dtype=False, check_index_type=False)


@pytest.mark.parametrize("how", ["folder", "glob"])
def test_hive_parquet_folder_and_glob_equal_the_csv(shop, csv_in_place, how):
    path = shop["hive"] if how == "folder" else shop["hive"] / "**" / "*.parquet"
    params = clv_parameters({"path": str(path), **COLUMNS})
    assert params.transactions.in_place
    assert_same_data(clv_data.prepare(params, np.random.default_rng(0)), csv_in_place)


def test_duckdb_table_equals_the_csv(shop, csv_in_place, tmp_path):
    import duckdb

    database = tmp_path / "kasse.duckdb"
    frame = shop["log"].assign(datum=shop["log"]["datum"].dt.date)
    with duckdb.connect(str(database)) as con:
        con.register("frame", frame)
        con.execute("CREATE TABLE sales AS SELECT kunde, datum::DATE AS datum, betrag FROM frame")
    yaml = tmp_path / "table.yaml"
    parameter_file(yaml, "inplace_table", {"table": "sales", "database": str(database), **COLUMNS}, ENGINE)
    params = load_parameter_file(yaml).validated
    assert params.transactions.in_place and params.transactions.table == "sales"
    data = clv_data.read_in_place(params)
    assert_same_data(data, csv_in_place)


# ---------------------------------------------------------------- bad input, before any kernel

def _one_error_line(run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert run.returncode == 2 and len(lines) == 1, run.stdout + run.stderr
    return lines[0]


@pytest.mark.parametrize("how", ["folder", "glob", "table"])
def test_log_in_place_without_engine_is_refused(shop, tmp_path, how):
    import duckdb

    if how == "table":
        database = tmp_path / "kasse.duckdb"
        duckdb.connect(str(database)).close()
        source = {"table": "sales", "database": str(database)}
    else:
        source = {"path": str(shop["hive"] if how == "folder" else shop["hive"] / "**" / "*.parquet")}
    yaml = tmp_path / "no_engine.yaml"
    parameter_file(yaml, "inplace_no_engine", {**source, **COLUMNS})
    line = _one_error_line(run_cli("validate", yaml))
    assert "transactions" in line and "engine" in line


def test_folder_and_glob_fingerprints_follow_their_files(shop, tmp_path):
    from crmresearch import datasets

    folder = tmp_path / "hive"
    write_hive(shop["log"], folder)
    glob = folder / "**" / "*.parquet"
    before = (datasets.sha256_file(folder), datasets.sha256_file(glob))
    assert before == (datasets.sha256_file(folder), datasets.sha256_file(glob))
    (folder / "_SUCCESS").write_text("")                  # writer markers and hidden files are not data
    (folder / "year=2024" / ".part.parquet.crc").write_bytes(b"x")
    assert datasets.sha256_file(folder) == before[0]
    part = folder / "year=2025" / "month=2" / "part.parquet"
    table = pq.read_table(part).to_pandas()
    table.loc[0, "betrag"] += 0.01
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), part)
    after = (datasets.sha256_file(folder), datasets.sha256_file(glob))
    assert after[0] != before[0] and after[1] != before[1]


def test_folder_without_data_files_is_refused(tmp_path):
    folder = tmp_path / "exports"
    (folder / "2024").mkdir(parents=True)
    (folder / "2024" / "notes.md").write_text("no data here\n")
    yaml = tmp_path / "empty.yaml"
    parameter_file(yaml, "inplace_empty", {"path": str(folder), **COLUMNS}, ENGINE)
    line = _one_error_line(run_cli("validate", yaml))
    assert "parameters.transactions.path" in line and str(folder) in line


def test_bad_value_in_one_parquet_file_is_named_before_any_kernel(shop, tmp_path):
    folder = tmp_path / "hive_bad"
    write_hive(shop["log"], folder)
    bad = folder / "year=2024" / "month=7" / "part.parquet"
    table = pq.read_table(bad).to_pandas()
    table.loc[5, "betrag"] = -3.5                          # the 6th data row of that file
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), bad)
    yaml = tmp_path / "bad.yaml"
    parameter_file(yaml, "inplace_bad", {"path": str(folder), **COLUMNS}, ENGINE)
    line = _one_error_line(run_cli("validate", yaml))
    assert str(bad) in line and "betrag" in line and "at least 0" in line and "rows 6" in line
    reports = tmp_path / "reports"
    run = run_cli("run", yaml, "--reports-dir", reports)
    assert _one_error_line(run) == line
    assert not (reports / "_tmp").exists() or not any((reports / "_tmp").iterdir())
    assert not re.search(r"\bcell \d+/", run.stdout + run.stderr)


def _other_report(path, notebook: str, variant: str, parameters: dict) -> None:
    path.write_text(json.dumps({"notebook": notebook, "variant": variant, "parameters": parameters}))


@pytest.mark.parametrize("notebook", ["00_crm_overview", "04_satisfaction_to_value"])
def test_reports_that_read_logs_into_memory_refuse_a_folder(shop, tmp_path, notebook):
    yaml = tmp_path / "other.yaml"
    extra = {"simulate": None} if notebook.startswith("04") else {}
    _other_report(yaml, notebook, "inplace_other", {**extra, "survey": {"dataset": "mobi"},
                                                    "transactions": {"path": str(shop["hive"]), **COLUMNS}})
    line = _one_error_line(run_cli("validate", yaml))
    assert "transactions" in line


@pytest.mark.parametrize("notebook", ["00_crm_overview", "04_satisfaction_to_value"])
def test_refusal_of_a_folder_gives_advice_the_report_accepts(shop, tmp_path, notebook):
    extra = {"simulate": None} if notebook.startswith("04") else {}
    base = {**extra, "survey": {"dataset": "mobi"}, "transactions": {"path": str(shop["hive"]), **COLUMNS}}
    _other_report(tmp_path / "a.yaml", notebook, "inplace_a", base)
    refused = _one_error_line(run_cli("validate", tmp_path / "a.yaml"))
    # The advice is a data file (which this report accepts), not an `engine:` block (which it has not).
    assert "one .csv or .parquet file" in refused and "reads its log into memory" in refused
    _other_report(tmp_path / "b.yaml", notebook, "inplace_b", {**base, "engine": {"backend": "duckdb"}})
    assert "unknown key" in _one_error_line(run_cli("validate", tmp_path / "b.yaml"))


def test_value_chain_bridge_refuses_a_folder_before_any_kernel(shop, tmp_path):
    yaml = tmp_path / "bridge.yaml"
    _other_report(yaml, "04_satisfaction_to_value", "inplace_bridge", {
        "simulate": None, "bridge": {"survey": {"dataset": "mobi"},
                                     "transactions": {"path": str(shop["hive"]), **COLUMNS}}})
    assert "transactions" in _one_error_line(run_cli("validate", yaml))


# ---------------------------------------------------------------- weighted fits on unique rows

@pytest.fixture(scope="module")
def summary(shop):
    return rfm.rfm_summary(memory_log(shop["log"]), CALIBRATION_END, HOLDOUT_END)


def _unique_rows(summary, rng):
    rows = summary[["frequency", "recency", "T"]].drop_duplicates()
    w = rng.integers(0, 5, len(rows))
    w[np.flatnonzero(rows["frequency"].to_numpy() > 0)[:3]] = 1      # repeat buyers in every sample
    assert (w == 0).any() and (w > 1).any()
    return rows, w


@pytest.mark.parametrize("model", [BetaGeoNBD, ParetoNBD])
def test_weighted_purchase_fit_equals_the_expanded_fit(summary, model):
    rows, w = _unique_rows(summary, np.random.default_rng(3))
    x, t_x, T = (rows[c].to_numpy() for c in ("frequency", "recency", "T"))
    weighted = model().fit(frequency=x, recency=t_x, T=T, weights=w)
    expanded = model().fit(frequency=np.repeat(x, w), recency=np.repeat(t_x, w), T=np.repeat(T, w))
    np.testing.assert_allclose(weighted.theta, expanded.theta, rtol=1e-8)
    assert weighted.llf == pytest.approx(expanded.llf, rel=1e-8)
    assert weighted.nobs == expanded.nobs == int(w.sum())


def test_weighted_gamma_gamma_equals_the_expanded_fit(summary):
    repeat = summary[summary["frequency"] > 0]
    x, m = repeat["frequency"].to_numpy(), np.round(repeat["monetary_value"].to_numpy(), 0) + 1
    rows = pd.DataFrame({"x": x, "m": m}).drop_duplicates()
    w = np.random.default_rng(4).integers(0, 4, len(rows))
    weighted = GammaGamma().fit(frequency=rows["x"].to_numpy(), monetary_value=rows["m"].to_numpy(), weights=w)
    expanded = GammaGamma().fit(frequency=np.repeat(rows["x"].to_numpy(), w), monetary_value=np.repeat(rows["m"].to_numpy(), w))
    np.testing.assert_allclose(weighted.theta, expanded.theta, rtol=1e-8)
    assert weighted.llf == pytest.approx(expanded.llf, rel=1e-8)


@pytest.mark.parametrize("weights", [lambda n: -np.ones(n), lambda n: np.ones(n - 1), lambda n: np.full(n, np.nan)],
                         ids=["negative", "wrong-length", "nan"])
def test_bad_weights_are_refused(summary, weights):
    x, t_x, T, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    w = weights(x.size)
    with pytest.raises(ValueError, match="weights"):
        BetaGeoNBD().fit(frequency=x, recency=t_x, T=T, weights=w)
    with pytest.raises(ValueError, match="weights"):
        ParetoNBD().fit(frequency=x, recency=t_x, T=T, weights=w)
    with pytest.raises(ValueError, match="weights"):
        GammaGamma().fit(frequency=x, monetary_value=m, weights=w)


# ---------------------------------------------------------------- T = 0 and duplicated rows

@pytest.fixture(scope="module")
def fits(summary):
    return clv_fits.fit_all(summary)


def test_pmf_and_histogram_with_t_zero(summary, fits):
    bg = fits["BG/NBD"]
    with np.errstate(all="raise"):
        pmf = bgnbd.bgnbd_pmf(bg.theta, np.array([0.0, 0.0, 1.5, 30.0]), 8)
    assert np.all(np.isfinite(pmf)) and np.allclose(pmf.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(pmf[:2, 0], 1.0)
    np.testing.assert_array_equal(pmf[:2, 1:], 0.0)
    assert 0 < pmf[2, 0] < 1 and pmf[3, 0] < pmf[2, 0]
    at_zero = summary[summary["T"] == 0]
    assert len(at_zero) >= 40 and (at_zero["frequency"] == 0).all()
    histogram = predictions.frequency_histogram(bg, summary, 7)
    assert histogram["BG/NBD"].notna().all() and histogram["BG/NBD"].sum() == pytest.approx(len(summary), rel=1e-12)
    only_zero = predictions.frequency_histogram(bg, at_zero, 7)
    assert only_zero["BG/NBD"].iloc[0] == len(at_zero) and (only_zero["BG/NBD"].iloc[1:] == 0).all()
    # P(alive) and the conditional expectation of a customer seen only on the calibration end day.
    alive = bg.probability_alive(at_zero)
    np.testing.assert_allclose(alive, 1.0)


@pytest.mark.parametrize("model", ["BG/NBD", "Pareto/NBD"])
def test_clv_of_duplicated_rows_equals_row_by_row(summary, fits, model):
    rng = np.random.default_rng(9)
    repeat = summary[summary["frequency"] > 0]
    base = pd.concat([repeat.iloc[rng.choice(len(repeat), 8, replace=False)],
                      summary[summary["T"] == 0].iloc[:2]])
    dup = base.iloc[rng.integers(0, len(base), 20)]           # 20 rows, many (x, t_x, T) repeated
    assert dup[["frequency", "recency", "T"]].duplicated().sum() >= 8
    args = dict(horizon=52, step=4.333333333333333, annual_discount_rate=0.15, margin=0.3, confidence=0.9)
    table, total = predictions.customer_lifetime_value(fits[model], fits["Gamma-Gamma"], dup, **args)
    rows = pd.concat([predictions.customer_lifetime_value(fits[model], fits["Gamma-Gamma"], dup.iloc[[i]],
                                                          **args)[0] for i in range(len(dup))])
    pd.testing.assert_frame_equal(table.reset_index(drop=True), rows.reset_index(drop=True), check_exact=False,
                                  rtol=1e-9, atol=1e-12)
    assert total["total"] == pytest.approx(rows["clv"].sum(), rel=1e-12)


def test_p_alive_figure_draws_t_zero_customers_without_warning(summary, fits):
    import warnings

    from crmresearch.clv import plots

    p_alive = fits["BG/NBD"].probability_alive(summary)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.probability_alive_figure(summary["frequency"], summary["recency"], summary["T"], p_alive)
    drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert len(drawn) == len(summary) and np.isfinite(drawn).all()


# ---------------------------------------------------------------- on-demand parameter files

def test_on_demand_files_run_only_when_named():
    import argparse

    from crmresearch import cli

    on_demand = sorted((config.PARAMS_DIR / "on_demand").glob("*.yaml"))
    assert on_demand
    regular = discover()
    assert regular and not set(on_demand) & set(regular)
    assert all(p.parent.name != "on_demand" for p in regular)
    assert discover(on_demand=True) == on_demand
    assert cli._select_files(argparse.Namespace(all=True, params=[])) == regular
    named = cli._select_files(argparse.Namespace(all=False, params=[str(on_demand[0])]))
    assert [p.resolve() for p in named] == [on_demand[0].resolve()]


# ---------------------------------------------------------------- too many draws for the intervals

def test_value_intervals_not_computed_above_the_limit_and_the_report_goes_on(shop, summary, fits, monkeypatch):
    params = clv_parameters({"path": str(shop["csv"]), **COLUMNS}, engine=None)
    data = clv_data.ClvData(memory_log(shop["log"]), summary, None, None, "data", COHORT_START, CALIBRATION_END,
                            HOLDOUT_END)
    assert list(clv_fits.parameter_draws(fits, params)) == list(fits)     # draws of every fitted model
    work = intervals.draw_work(summary, params.parameter_draws, params.bootstrap_resamples)
    assert work["draws"] == 105 and work["cells"] == work["rows"] * 105
    monkeypatch.setattr(intervals, "MAX_DRAW_CELLS", work["cells"] - 1)
    analysis = analyse(params, data)
    values = clv_sections.values(analysis)
    assert values.source == "not_computed" and not values.computed
    assert_states(values.note, work["cells"] - 1, work["cells"])     # the limit and the work asked for
    assert values.rows_used == len(summary) and "parameter_draws" in values.note
    tracking = clv_sections.tracking(analysis)
    clv = clv_sections.clv(analysis)
    concentration = clv_sections.concentration(analysis)
    uplift = clv_sections.dwyer_uplift(analysis)
    line = clv_sections.finding(tracking, clv, concentration, uplift, values)
    assert_states(line, clv.total["mean_per_customer"], places=2)   # the finding still states the mean CLV
    monkeypatch.setattr(intervals, "MAX_DRAW_CELLS", work["cells"])
    assert clv_sections.values(analyse(params, data)).source == "data"


def test_scratch_folders_in_a_named_temp_directory_go_with_the_run(tmp_path, monkeypatch):
    """With `temp_directory` named in the parameter file the kernel's scratch folders are made there; they
    are listed in the run's scratch folder and removed with it (the kernel's own clean-up never runs)."""
    from crmresearch.engine import spark
    from crmresearch.engine.execution import scratch_folder
    from crmresearch.parameters.engine import EngineSettings
    from crmresearch.runner.execute import remove_scratch

    run_scratch, named = tmp_path / "run", tmp_path / "named_spill"
    run_scratch.mkdir()
    monkeypatch.setenv(config.SCRATCH_ENV, str(run_scratch))
    con = spark.duckdb_connection(EngineSettings(threads=1, temp_directory=str(named)))
    made = Path(scratch_folder(con))
    assert made.parent == named.resolve() and made.is_dir()
    (made / "part-0000.parquet").write_bytes(b"x")
    inside = Path(scratch_folder(spark.duckdb_connection(EngineSettings(threads=1))))   # the default: in the run's folder
    assert inside.is_relative_to(run_scratch.resolve())
    assert (run_scratch / config.SCRATCH_ELSEWHERE_FILE).read_text().splitlines() == [str(made)]
    con.disconnect()
    remove_scratch(run_scratch)
    assert not made.exists() and not run_scratch.exists() and named.is_dir()       # the named folder itself stays
