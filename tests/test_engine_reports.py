"""The CLV report on the engine route (`engine:` in its parameter file) gives the numbers of the
pandas route: the RFM summary and the weekly tracking counts come out of DuckDB (or Spark) in the
pandas path's order and with its customer ids, and everything downstream is unchanged."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from crmresearch import config
from crmresearch.clv import data as clv_data, rfm
from crmresearch.engine import spark
from crmresearch.parameters.customer_lifetime_value import ClvParameters

FAST = config.PARAMS_DIR / "customer_lifetime_value" / "fast.yaml"
RTOL = 1e-9
# Spark adds in the order its partitions arrive, which changes from run to run; the spends are exact
# limb sums (`crmresearch.spend_sums`), so that order does not matter and Spark is held to RTOL too
# (before the limb sums it needed 1e-7: last-bit spend differences reached the numerical Hessians).
SPARK_RTOL = RTOL
# Fields that name the run rather than state a result.
RUN_FIELDS = {("variant",), ("results", "engine"), ("sections", "rfm", "results", "engine")}


SPARK_UNAVAILABLE = spark.unavailable_reason()


def _log() -> pd.DataFrame:
    """Integer customer ids in no particular order, same-day purchases, a customer first seen after
    the calibration end (not in the cohort) and one with a zero amount."""
    rng = np.random.default_rng(5)
    ids = rng.permutation(np.arange(1000, 1400))[rng.integers(0, 400, 3000)]
    days = rng.integers(0, 500, ids.size)
    late = np.full(4, 9999)
    log = pd.DataFrame({"customer_id": np.r_[ids, late],
                        "date": pd.Timestamp("2021-03-01") + pd.to_timedelta(np.r_[days, [470, 471, 480, 480]], "D"),
                        "amount": np.r_[np.round(rng.gamma(2.0, 17.3, ids.size), 2), [5.0, 0.0, 1.25, 3.1]]})
    return log


def _params(engine) -> ClvParameters:
    return ClvParameters(variant="x", cohort_start=date(2021, 3, 1), calibration_end=date(2022, 1, 15),
                         holdout_end=date(2022, 7, 10), engine=engine)


def _check_prepared(engine: dict, monkeypatch) -> None:
    log = _log()
    monkeypatch.setattr(clv_data, "load_log", lambda params, rng, own=None: (log, None, None))
    memory = clv_data.prepare(_params(None), np.random.default_rng(0))
    routed = clv_data.prepare(_params(engine), np.random.default_rng(0))
    assert memory.engine == "pandas" and memory.tracking_counts is None
    assert routed.engine == engine["backend"]
    assert 9999 not in routed.summary.index and len(routed.summary) == len(memory.summary) < log.customer_id.nunique()
    assert routed.summary.index.equals(memory.summary.index)
    assert routed.summary.index.dtype == memory.summary.index.dtype == np.int64
    pd.testing.assert_frame_equal(routed.summary, memory.summary, check_exact=False, rtol=1e-12, atol=0)
    p = _params(None)
    weekly = rfm.repeat_transactions_by_period(log, p.cohort_start, p.holdout_end, customers=memory.summary.index)
    pd.testing.assert_frame_equal(routed.tracking_counts, weekly, check_exact=True)


def test_engine_summaries_equal_pandas_with_integer_ids(monkeypatch):
    _check_prepared({"backend": "duckdb", "threads": 1}, monkeypatch)


def test_pandas_route_is_the_default():
    assert ClvParameters().engine is None


def _numbers_equal(a, b, path=(), problems=None, rtol: float = RTOL) -> list:
    """Every number in `a` equals `b` to `rtol`, every other value exactly, outside RUN_FIELDS."""
    problems = [] if problems is None else problems
    if path in RUN_FIELDS or path[:1] == ("provenance",):
        return problems
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            problems.append((path, "keys", sorted(set(a) ^ set(b))))
        for k in set(a) & set(b):
            _numbers_equal(a[k], b[k], (*path, k), problems, rtol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            problems.append((path, "length", len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            _numbers_equal(x, y, (*path, i), problems, rtol)
    elif (isinstance(a, (int, float)) and not isinstance(a, bool)
          and isinstance(b, (int, float)) and not isinstance(b, bool)):
        if not (a == b or math.isclose(a, b, rel_tol=rtol, abs_tol=0)):
            problems.append((path, a, b))
    elif a != b:
        problems.append((path, a, b))
    return problems


def _run_both(tmp_path, engine: dict, variant: str) -> tuple[dict, dict]:
    text = FAST.read_text().replace("variant: fast\n", f"variant: {variant}\n")
    assert f"variant: {variant}\n" in text
    engine_file = tmp_path / f"{variant}.yaml"
    engine_file.write_text(text.rstrip("\n") + "\n  engine: " + json.dumps(engine) + "\n")
    reports = tmp_path / "reports"
    run = run_cli("run", FAST, engine_file, "--reports-dir", reports, timeout=1800)
    assert run.returncode == 0, run.stdout + run.stderr
    topic = reports / "customer_lifetime_value"
    return (json.loads((topic / "fast" / "results.json").read_text()),
            json.loads((topic / variant / "results.json").read_text()))


def _check_reports(memory: dict, routed: dict, backend: str, rtol: float = RTOL) -> None:
    assert memory["results"]["engine"] == "pandas" and routed["results"]["engine"] == backend
    assert routed["provenance"]["parameters"]["engine"]["backend"] == backend
    assert memory["results"]["customers"] == routed["results"]["customers"] > 0
    assert _numbers_equal(memory, routed, rtol=rtol) == []


@pytest.mark.slow
def test_clv_report_on_duckdb_equals_pandas(tmp_path):
    memory, routed = _run_both(tmp_path, {"backend": "duckdb", "threads": 1}, "fast_engine")
    _check_reports(memory, routed, "duckdb")


@pytest.mark.slow   # starts a JVM and a local Spark session: make test-all
@pytest.mark.spark
@pytest.mark.skipif(SPARK_UNAVAILABLE is not None, reason=f"Spark route not testable here: {SPARK_UNAVAILABLE}")
def test_engine_summaries_on_pyspark_equal_pandas(monkeypatch):
    _check_prepared({"backend": "pyspark", "spark_master": "local[1]", "threads": 1}, monkeypatch)


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.skipif(SPARK_UNAVAILABLE is not None, reason=f"Spark route not testable here: {SPARK_UNAVAILABLE}")
def test_clv_report_on_pyspark_equals_pandas(tmp_path):
    memory, routed = _run_both(tmp_path, {"backend": "pyspark", "spark_master": "local[1]", "threads": 1},
                               "fast_spark")
    _check_reports(memory, routed, "pyspark", SPARK_RTOL)
