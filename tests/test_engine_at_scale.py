"""The CLV report of a cohort summarised by engine aggregates (`clv.at_scale`) equals the report of the
same log summarised one row per customer.

Above `config.CLV_AGGREGATE_CUSTOMERS` customers a log read in place holds no row per customer in the
kernel: the purchase models are fitted on the unique (x, t_x, T) rows with their counts as weights,
Gamma-Gamma on the unique (x, m) rows, every table is a weighted sum over those rows or an engine
query, and the per-customer predictions are written by the engine. Here the threshold is set to 0 so
that the shop log of `test_engine_inplace` (1,385 cohort customers) takes that path, and every
section's numbers and sentences, and the per-customer file, are compared with the per-customer path.
Only the values' intervals (which need every customer's row) are not computed, and say why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from crmresearch import config
from crmresearch.clv import sections as clv_sections
from crmresearch.clv.analyse import analyse
from crmresearch.engine import aggregates as A
from crmresearch.engine.execution import EngineMemoryError

from test_engine_inplace import COLUMNS, clv_parameters, make_log, write_hive

SECTIONS = ("rfm", "models", "spend_frequency", "histogram", "tracking", "holdout", "spend", "clv", "alive",
            "concentration", "tiers", "quadrant")
RTOL = 1e-9          # sums over customers taken in another order (row by row against per unique row)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """(per-customer analysis, aggregate analysis, their customer files) of one log read in place."""
    root = tmp_path_factory.mktemp("at_scale")
    write_hive(make_log(), root / "hive")
    tx = {"path": str(root / "hive"), **{k: v for k, v in COLUMNS.items() if k != "date_format"}}
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for label, limit in (("memory", 10**9), ("aggregates", 0)):
            mp.setattr(config, "CLV_AGGREGATE_CUSTOMERS", limit)
            a = analyse(clv_parameters(tx))
            sections = {name: getattr(clv_sections, name)(a) for name in SECTIONS}
            sections["values"] = clv_sections.values(a)
            sections["customer_file"] = clv_sections.customer_file(a, root / label)
            out[label] = (a, sections, root / label / clv_sections.CUSTOMER_FILE)
    return out


def _flat(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(v, f"{key}.{k}")
    elif isinstance(value, pd.DataFrame):
        for c in value.columns:
            for i, v in enumerate(value[c].tolist()):
                yield from _flat(v, f"{key}[{c}][{i}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _flat(v, f"{key}[{i}]")
    else:
        yield key, value


def test_the_aggregate_path_holds_no_customer_rows(both):
    a, _, _ = both["aggregates"]
    assert a.data.aggregated is not None and "customers" in a.data.summary
    assert len(a.data.summary) < a.data.cohort_customers == 1385
    assert a.clv.table is None and a.concentration.frame is None
    assert len(a.data.aggregated.chosen) == 3          # only the P(alive) histories' customers


@pytest.mark.parametrize("name", SECTIONS)
def test_every_section_equals_the_per_customer_report(both, name):
    memory, aggregated = both["memory"][1][name], both["aggregates"][1][name]
    assert aggregated.computed and memory.computed
    assert (aggregated.rows_used, aggregated.text) == (memory.rows_used, memory.text)
    want, got = dict(_flat(memory.results)), dict(_flat(aggregated.results))
    assert set(want) == set(got)
    for key, w in want.items():
        g = got[key]
        if isinstance(w, (int, float, np.number)) and not isinstance(w, bool):
            assert g == pytest.approx(w, rel=RTOL, abs=1e-12, nan_ok=True), key
        else:
            assert str(g) == str(w), key


def test_the_engine_writes_the_same_customer_file(both):
    want = pq.read_table(both["memory"][2]).to_pandas()
    got = pq.read_table(both["aggregates"][2]).to_pandas()
    assert list(got.columns) == list(want.columns)
    got = got.set_index("customer_id").loc[want["customer_id"]].reset_index()
    for column in want.columns:
        if want[column].dtype.kind in "fi":
            np.testing.assert_allclose(got[column].to_numpy(float), want[column].to_numpy(float), rtol=RTOL,
                                       atol=1e-12, err_msg=column)
        else:
            assert (got[column].astype(str) == want[column].astype(str)).all(), column
    assert both["aggregates"][1]["customer_file"].results["customer_file"]["customers"] == len(want)


def test_values_intervals_say_why_they_are_not_computed(both):
    section = both["aggregates"][1]["values"]
    assert not section.computed and "CRMRESEARCH_CLV_AGGREGATE_CUSTOMERS" in section.note


def test_figures_draw_the_engine_samples(both):
    from crmresearch.clv import plots

    a, sections, _ = both["aggregates"]
    for fig in (plots.probability_alive_section_figure(sections["clv"], a.data.summary),
                plots.concentration_section_figure(sections["concentration"]),
                plots.clv_distribution_section_figure(sections["clv"], sections["concentration"]),
                plots.quadrant_section_figure(sections["quadrant"])):
        assert fig.axes and any(ax.has_data() for ax in fig.axes)
    lorenz_pop, lorenz_share = a.concentration.curves["lorenz"]
    assert lorenz_pop[-1] == 1.0 and lorenz_share[-1] == pytest.approx(1.0)


def test_rows_at_top_sum_and_ranked_bounds_match_pandas_through_ties():
    import ibis

    con = ibis.duckdb.connect()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(200)], "v": rng.integers(0, 20, 200) * 1.0})
    con.con.register("values_test", frame)
    t = con.table("values_test")
    ordered = frame.sort_values(["v", "customer_id"]).reset_index(drop=True)
    got = A.rows_at(t, ["v", "customer_id"], np.array([0, 7, 199]), ["customer_id"], cumulative="v")
    assert got["customer_id"].tolist() == ordered.loc[[0, 7, 199], "customer_id"].tolist()
    np.testing.assert_allclose(got["_cumulative"], ordered["v"].cumsum().loc[[0, 7, 199]])
    # 20 distinct values among 200 rows: every rank below sits in a run of ties.
    descending = np.sort(frame["v"].to_numpy())[::-1]
    for k in (1, 10, 37, 199, 200):
        assert A.top_sum(t, "v", k) == descending[:k].sum()
    by_rank = frame.sort_values(["v", "customer_id"], ascending=[False, True]).reset_index(drop=True)
    ks = [0, 1, 10, 37, 199, 200]
    expected = [None] + [(by_rank.loc[k - 1, "v"], by_rank.loc[k - 1, "customer_id"]) for k in ks[1:]]
    assert A.ranked_bounds(t, "v", ks) == expected
    # Ordered by the value alone, the running sums at each rank are those of the ordering with ids.
    alone = A.rows_at(t, ["v"], np.array([0, 7, 199]), [], cumulative="v")
    np.testing.assert_array_equal(alone["_cumulative"], got["_cumulative"])


def test_past_the_memory_limit_one_line_names_the_setting(tmp_path):
    """A step that needs more than DuckDB's memory limit fails with one line naming `memory_limit`."""
    import ibis

    from crmresearch.engine.execution import execute

    import pyarrow as pa

    con = ibis.duckdb.connect(threads=1, memory_limit="64MB", temp_directory=str(tmp_path),
                              max_temp_directory_size="1MB")
    keys = np.char.add(np.arange(1_000_000).astype(str), "x" * 40)
    con.con.register("wide", pa.table({"s": keys}))         # Python's memory, not the engine's
    t = con.table("wide")
    big = t.group_by("s").aggregate(n=t.count())
    with pytest.raises(EngineMemoryError) as raised:
        execute(big.order_by("s"), "a grouping too large")
    message = str(raised.value)
    assert "\n" not in message and "`memory_limit`" in message and "a grouping too large" in message


SPARK_UNAVAILABLE = __import__("crmresearch.engine.spark", fromlist=["x"]).unavailable_reason()


@pytest.mark.slow   # starts a JVM and a local Spark session: make test-all
@pytest.mark.spark
@pytest.mark.skipif(SPARK_UNAVAILABLE is not None, reason=f"Spark route not testable here: {SPARK_UNAVAILABLE}")
def test_the_aggregate_path_on_pyspark_equals_duckdb(both, tmp_path, monkeypatch):
    """The same aggregate expressions on PySpark (local[1]) give the report DuckDB gives."""
    monkeypatch.chdir(tmp_path)                 # Spark's spark-warehouse folder goes there
    root = tmp_path / "log"
    write_hive(make_log(), root)
    tx = {"path": str(root), **{k: v for k, v in COLUMNS.items() if k != "date_format"}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "CLV_AGGREGATE_CUSTOMERS", 0)
        a = analyse(clv_parameters(tx, engine={"backend": "pyspark", "spark_master": "local[1]", "threads": 1}))
        sections = {name: getattr(clv_sections, name)(a) for name in SECTIONS}
    for name in SECTIONS:
        want, got = dict(_flat(both["aggregates"][1][name].results)), dict(_flat(sections[name].results))
        assert set(want) == set(got), name
        for key, w in want.items():
            g = got[key]
            if key == ".engine":
                assert (w, g) == ("duckdb", "pyspark")
            elif isinstance(w, (int, float, np.number)) and not isinstance(w, bool):
                assert g == pytest.approx(w, rel=RTOL, abs=1e-12, nan_ok=True), (name, key)
            else:
                assert str(g) == str(w), (name, key)


def test_profile_lines_only_when_a_file_is_named(tmp_path, monkeypatch):
    """`bench_scale.py` reads each part's and each engine step's time, peak memory and CPU from the
    profile file the kernel writes; without the variable nothing is written."""
    import json

    from crmresearch.engine import progress

    monkeypatch.delenv(progress.PROFILE_ENV, raising=False)
    with progress.profiled("nothing"):
        pass
    path = tmp_path / "profile.jsonl"
    monkeypatch.setenv(progress.PROFILE_ENV, str(path))
    with progress.profiled("a part"):
        with progress.step("an engine step"):
            pass
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["step"], r["kind"]) for r in lines] == [("an engine step", "engine"), ("a part", "part")]
    assert all(r["seconds"] >= 0 and r["peak_rss_mib"] > 0 and r["cpu_seconds"] >= 0 for r in lines)
