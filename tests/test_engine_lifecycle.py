"""The lifecycle report on the engine route (`engine:` in its parameter file): the monthly stage
panel is never built in pandas, only its aggregates come back (counts of moves by month and stage,
customers, entries and revenue by month and stage), and every section computed from them gives the
numbers of the in-memory panel; the sections that need customer-level rows say `not_computed`.
"""

from __future__ import annotations

import json
import logging
import re
import time

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from textnumbers import assert_states

from crmresearch import config
from crmresearch import lifecycle as lc
from crmresearch.engine import sources, spark
from crmresearch.engine import summaries as S
from crmresearch.lifecycle import sections as N
from crmresearch.parameters import load_parameter_file
from crmresearch.parameters.lifecycle_transitions import LifecycleParameters

RTOL = 1e-12          # revenue is summed in another order by the engine; counts are exact
FAST = config.PARAMS_DIR / "lifecycle_transitions" / "fast.yaml"
LOGS = config.PROJECT_DIR / "tests" / "data" / "logs"
USER_LOG = LOGS / "lifecycle_engine_log.yaml"
DUCKDB = {"backend": "duckdb", "threads": 1, "memory_limit": "1GB"}
SPARK = {"backend": "pyspark", "spark_master": "local[1]", "threads": 1}
SPARK_UNAVAILABLE = spark.unavailable_reason()
# Sections computed from the aggregates, and the ones that need each customer's own history.
AGGREGATE_SECTIONS = ("panel", "matrix", "period_rates", "homogeneity", "time_to_target", "long_run_mix",
                      "stage_values")
CUSTOMER_LEVEL_SECTIONS = ("cohort_flows", "order", "sojourn", "backtest", "covariates")
COUNT_RULES = {"recency_bounds_months": [3, 6, 9], "recency_labels": ["recent", "lapsing", "dormant", "lost"],
               "purchase_count_bounds": [1, 2], "purchase_count_labels": ["one", "two", "three+"]}


def with_engine(params: LifecycleParameters, engine, **changes) -> LifecycleParameters:
    return LifecycleParameters.model_validate({**params.model_dump(), "bootstrap_resamples": 0, "engine": engine, **changes})


def sections(params: LifecycleParameters) -> tuple[lc.LifecycleData, dict]:
    """Every section of the report, in the notebook's order, as the notebook calls them."""
    a = lc.analyse(params)
    out = {"panel": N.panel_overview(a), "matrix": N.matrix(a), "cohort_flows": N.cohort(a),
           "period_rates": N.rates(a), "homogeneity": N.homogeneity(a), "order": N.order(a), "sojourn": N.sojourn(a),
           "backtest": N.backtest(a), "time_to_target": N.time_to_target(a), "long_run_mix": N.long_run_mix(a),
           "relationship_patterns": N.patterns(a), "forecast": N.forecast(a), "covariates": N.covariates(a),
           "stage_values": N.stage_values(a), "truth": N.truth(a)}
    data = a.data
    return data, out


def assert_same(a, b, where: str = "") -> None:
    """Integers and strings equal; floats equal within RTOL (same NaNs)."""
    if isinstance(a, lc.TransitionMatrix) or isinstance(a, lc.LikelihoodRatioTest):
        a, b = a.as_dict(), b.as_dict()
    if isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b))}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, pd.DataFrame):
        assert list(a.columns) == list(b.columns) and len(a) == len(b), where
        for col in a:
            assert_same(a[col].to_numpy(), b[col].to_numpy(), f"{where}[{col}]")
    elif isinstance(a, (list, tuple)) and not isinstance(a, str):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif a is None or isinstance(a, str):
        assert a == b, where
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape, where
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            np.testing.assert_allclose(x.astype(float), y.astype(float), rtol=RTOL, atol=0, equal_nan=True,
                                       err_msg=where)
        else:
            np.testing.assert_array_equal(x, y, err_msg=where)


def assert_aggregate_sections_equal(memory: dict, routed: dict, engine: str) -> None:
    """The sections computed from aggregates: same numbers, tables and (count-based) text."""
    for name in AGGREGATE_SECTIONS:
        m, r = memory[name], routed[name]
        assert m.source == r.source == "data", name
        assert m.rows_used == r.rows_used, name
        results_m = {k: v for k, v in m.results.items() if k not in ("engine", "first_passage_max_gap")}
        results_r = {k: v for k, v in r.results.items() if k != "engine"}
        assert_same(results_m, results_r, name)
        if m.table is not None:
            assert_same(m.table["df"], r.table["df"], f"{name} table")
    assert routed["panel"].results["engine"] == engine and memory["panel"].results["engine"] == "pandas"
    for name in ("matrix", "homogeneity", "period_rates"):
        assert memory[name].text == routed[name].text, name


# ---------------------------------------------------------------- (a) the same numbers as the pandas panel

@pytest.mark.parametrize("rules", [None, COUNT_RULES, {**COUNT_RULES, "end_month": "1997-12"}],
                         ids=["fast_recency", "recency_by_count", "ending_early"])
def test_aggregate_sections_equal_the_pandas_panel(rules):
    fast = load_parameter_file(FAST).validated
    changes = {"stage_rules": rules} if rules else {}
    memory_data, memory = sections(with_engine(fast, None, **changes))
    routed_data, routed = sections(with_engine(fast, DUCKDB, **changes))
    assert isinstance(memory_data.panel, lc.StagePanel)
    assert isinstance(routed_data.panel, lc.StageAggregates) and routed_data.aggregated
    assert_aggregate_sections_equal(memory, routed, "duckdb")
    # the aggregates themselves: customers per month and stage, entries, the finer stages' moves by month
    np.testing.assert_array_equal(routed_data.panel.occupancy(), memory_data.panel.occupancy())
    assert routed_data.panel.period_labels.equals(memory_data.panel.period_labels)
    np.testing.assert_array_equal(lc.entry_distribution(routed_data.fine), lc.entry_distribution(memory_data.fine))
    np.testing.assert_array_equal(lc.transition_counts(routed_data.fine), lc.transition_counts(memory_data.fine))
    np.testing.assert_allclose(routed_data.rewards, memory_data.rewards, rtol=RTOL)
    # without a bootstrap in either run, both say why the forecast bands are missing
    assert memory["forecast"].source == routed["forecast"].source == "not_computed"
    for name in CUSTOMER_LEVEL_SECTIONS:
        assert memory[name].source == "data", name
        assert routed[name].source == "not_computed", name
        assert "customer-level stage panel" in routed[name].note and "DuckDB" in routed[name].note, name
    assert routed["time_to_target"].observed is None and "Kaplan-Meier" in routed["time_to_target"].text
    finding = N.finding(routed["matrix"], routed["homogeneity"].test, routed["order"].test,
                        routed["time_to_target"], routed_data.panel.states)
    # the finding states the homogeneity test the aggregates allow, and no order test (which needs customers)
    test = routed["homogeneity"].test
    assert_states(finding, test.statistic, places=0) and assert_states(finding, test.df)
    assert "order" not in finding


def test_bootstrap_asked_for_with_an_engine_is_named_as_not_computed():
    params = with_engine(load_parameter_file(FAST).validated, DUCKDB, bootstrap_resamples=50)
    a = lc.analyse(params)
    matrix = N.matrix(a)
    assert matrix.source == "data" and matrix.matrix.boot_lower is None
    assert_states(matrix.note, 50) and "Wilson" in matrix.note          # the resamples asked for, not drawn
    assert "*Not computed:*" in matrix.text
    forecast = N.forecast(a)
    assert forecast.source == "not_computed" and "customer-level stage panel" in forecast.note


def test_finer_aggregates_sum_to_the_report_stages():
    """One engine pass serves both state spaces: the report's stages are the finer ones summed."""
    params = load_parameter_file(USER_LOG).validated
    rules = lc.stage_rules_from(params)
    coarse, fine = lc.engine_aggregates(params)
    con = spark.connect(params.engine)
    table = sources.open_log(con, sources.LogSource.from_transactions(params.transactions))
    direct = S.stage_summary(table, rules)
    np.testing.assert_array_equal(coarse.transitions, direct.transitions)
    np.testing.assert_array_equal(coarse.occupancy(), direct.occupancy)
    np.testing.assert_array_equal(coarse.entry_counts, direct.entries)
    np.testing.assert_allclose(coarse.revenue, direct.revenue, rtol=RTOL)
    assert coarse.states == rules.states and fine.states == lc.finer_rules(rules).states
    memory = lc.prepare(with_engine(params, None), np.random.default_rng(0))
    np.testing.assert_array_equal(lc.refinement_map(lc.finer_rules(rules), rules), memory.fine_map)


def test_engine_needs_a_transaction_log():
    with pytest.raises(ValueError, match="'engine' only with a transaction log"):
        LifecycleParameters(simulation={}, engine=DUCKDB)
    assert LifecycleParameters().engine is None


# ---------------------------------------------------------------- (b) a user's log end to end through the CLI

@pytest.fixture(scope="module")
def user_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("engine_lifecycle")
    run = run_cli("run", USER_LOG, "--reports-dir", out)
    assert run.returncode == 0, run.stdout + run.stderr
    folder = out / "lifecycle_transitions" / "engine_log"
    return json.loads((folder / "results.json").read_text()), json.loads((folder / "report.ipynb").read_text())


@pytest.mark.slow   # a run of its own (a user's log on DuckDB): make test-all
def test_user_log_runs_end_to_end_with_the_engine(user_report):
    doc, notebook = user_report
    results, sections_ = doc["results"], doc["sections"]
    assert results["engine"] == "duckdb"
    for name in ("panel", "matrix", "period_rates", "homogeneity", "time_to_target", "long_run_mix", "stage_values"):
        assert sections_[name]["source"] == "data", name
    for name in ("cohort_flows", "order", "backtest", "covariates", "forecast"):
        assert sections_[name]["source"] == "not_computed", name
        assert "customer-level stage panel" in sections_[name]["note"] or name == "forecast", name
    assert "order_test" not in results and "backtest" not in results and "first_passage_max_gap" not in results
    assert "order G²" not in doc["finding"]
    # The same counts as the in-memory panel of the same log (read with the user's column mapping).
    params = load_parameter_file(USER_LOG).validated
    memory = lc.prepare(with_engine(params, None), np.random.default_rng(0))
    assert results["customers"] == memory.panel.n_customers == 650
    assert results["customer_periods"] == memory.panel.n_rows
    assert results["transitions"] == int(lc.transition_counts(memory.panel).sum())
    matrix = lc.estimate_transition_matrix(memory.panel, allowed=memory.allowed, confidence=params.confidence)
    np.testing.assert_array_equal(np.array(results["transition_matrix"]["counts"]), matrix.counts)
    np.testing.assert_allclose(np.array(results["transition_matrix"]["wilson_lower"], float), matrix.wilson_lower,
                               rtol=RTOL)
    # The report says what computed the panel; a labelled figure cell draws its figure, or nothing when
    # its section was not computed (the section's text says why; no figure number is taken), never an error.
    text = "\n".join("".join(o.get("data", {}).get("text/markdown", "")) for c in notebook["cells"]
                     for o in c.get("outputs", []))
    assert "**DuckDB**" in text and "`engine:`" in text      # names the engine and the setting to drop it
    tables = [line for line in text.splitlines() if line.startswith("|")]
    assert tables and not any(re.search(r"\bnan\b", line, re.I) for line in tables)
    figures = [c for c in notebook["cells"] if c["cell_type"] == "code" and "#| label: fig-" in "".join(c["source"])]
    drawn = [c for c in figures if any("image/png" in o.get("data", {}) for o in c["outputs"])]
    assert len(drawn) >= 4 and not any(o.get("output_type") == "error" for c in figures for o in c["outputs"])
    assert all(not c["outputs"] for c in figures if c not in drawn)


# ---------------------------------------------------------------- (c) Spark and DuckDB agree

@pytest.mark.slow   # starts a JVM and a local Spark session: make test-all
@pytest.mark.spark
@pytest.mark.skipif(SPARK_UNAVAILABLE is not None, reason=f"Spark route not testable here: {SPARK_UNAVAILABLE}")
def test_pyspark_and_duckdb_give_the_same_sections():
    start = time.perf_counter()
    params = load_parameter_file(USER_LOG).validated
    duck_data, duck = sections(with_engine(params, DUCKDB))
    spark_data, on_spark = sections(with_engine(params, SPARK))
    for a, b in ((duck_data.panel, spark_data.panel), (duck_data.fine, spark_data.fine)):
        np.testing.assert_array_equal(a.transitions, b.transitions)
        np.testing.assert_array_equal(a.occupancy(), b.occupancy())
        np.testing.assert_array_equal(a.entry_counts, b.entry_counts)
        np.testing.assert_allclose(a.revenue, b.revenue, rtol=RTOL)
    for name in AGGREGATE_SECTIONS:
        results_d = {k: v for k, v in duck[name].results.items() if k != "engine"}
        results_s = {k: v for k, v in on_spark[name].results.items() if k != "engine"}
        assert_same(results_d, results_s, name)
    assert on_spark["panel"].results["engine"] == "pyspark" and "Spark" in on_spark["panel"].text
    assert all(on_spark[name].source == "not_computed" for name in CUSTOMER_LEVEL_SECTIONS)
    logging.getLogger("crmresearch.engine").info("lifecycle DuckDB vs PySpark test: %.1f s", time.perf_counter() - start)


# ---------------------------------------------------------------- (d) engine with a simulation: one line, exit 2

@pytest.mark.parametrize("source", ["simulation: {n_customers: 200}", "panel: {path: tests/data/logs/stage_panel_gaps.csv, "
                                    "customer_column: member, period_column: month, stage_column: status, "
                                    "states: [prospect, formation, stability, decline, churn]}"],
                         ids=["simulation", "panel"])
def test_engine_with_a_simulation_or_panel_is_refused(tmp_path, source):
    path = tmp_path / "engine_source.yaml"
    path.write_text(f"notebook: 02_lifecycle_transitions\nvariant: x\nparameters:\n  {source}\n"
                    "  engine: {backend: duckdb}\n")
    run = run_cli("validate", path)
    assert run.returncode == 2
    problems = [ln for ln in (run.stdout + run.stderr).splitlines() if str(path) in ln]
    assert len(problems) == 1 and "'engine' only with a transaction log" in problems[0], run.stdout + run.stderr
    assert "Traceback" not in run.stderr
