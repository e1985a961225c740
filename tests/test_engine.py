"""The engine data layer (crmresearch.engine): summaries computed in DuckDB (and Spark) equal the
in-memory pandas path exactly; sources validate users' columns with file, column and row numbers;
out-of-core runs equal unlimited ones; the generator is deterministic.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pytest

from crmresearch import datasets, stats
from crmresearch.clv import rfm
from crmresearch.models import base
from crmresearch.models.bgnbd import BetaGeoNBD
from crmresearch.models.gammagamma import GammaGamma
from crmresearch.datasets import DataValidationError
from crmresearch.engine import generate, sources, spark
from crmresearch.engine import summaries as S
from crmresearch.lifecycle import panel as P
from crmresearch.lifecycle import stages
from crmresearch.parameters.engine import EngineSettings
from crmresearch.stage_rules import StageRules

RTOL = 1e-12
COUNT_RULES = StageRules(count_bounds=(1, 2), count_labels=("one", "two", "three+"))
CDNOW = {"calibration_end": "1997-09-30", "holdout_end": "1998-06-30", "start": "1997-01-01"}
GEN = {"calibration_end": "2023-06-30", "holdout_end": "2024-06-30", "start": "2022-01-01"}


def assert_frames_equal(engine: pd.DataFrame, memory: pd.DataFrame) -> None:
    """Integers and dates equal, floats within 1e-12 relative (sums in another order), same NaNs."""
    assert list(engine.columns) == list(memory.columns)
    assert engine.index.equals(memory.index)
    for col in memory:
        a, b = engine[col].to_numpy(), memory[col].to_numpy()
        assert a.dtype == b.dtype, col
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=0, equal_nan=True, err_msg=col)
        else:
            np.testing.assert_array_equal(a, b, err_msg=col)


@pytest.fixture(scope="module")
def duck():
    return spark.duckdb_connection(EngineSettings(threads=1))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """~100,000 transactions of 8,000 customers as a hive-partitioned folder and as one file."""
    root = tmp_path_factory.mktemp("engine")
    folder = generate.write_log(root / "hive", transactions=100_000, customers=8_000, seed=7,
                                start=GEN["start"], days=900)
    single = generate.write_log(root / "log.parquet", transactions=100_000, customers=8_000, seed=7,
                                start=GEN["start"], days=900, partition=None)
    log = pd.read_parquet(single)
    log["date"] = pd.to_datetime(log["date"])
    return {"folder": folder, "file": single, "log": log}


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    log = datasets.load_cdnow("sample")
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.parquet"
    log.to_parquet(path)
    return {"file": path, "log": log}


def _memory_stage_panel(log, rules):
    return stages.assign_stages(log, rules)


def check_all_summaries(table, log, setup) -> None:
    memory = rfm.rfm_summary(log, setup["calibration_end"], setup["holdout_end"]).sort_index()
    engine = S.rfm_summary(table, setup["calibration_end"], setup["holdout_end"])
    assert_frames_equal(engine, memory)

    collapsed = S.rfm_collapsed(table, setup["calibration_end"])
    rows = base.collapse_rows(x=memory["frequency"], t_x=memory["recency"], T=memory["T"])
    mem_rows = pd.DataFrame({"frequency": rows.columns["x"].astype(np.int64), "recency": rows.columns["t_x"],
                             "T": rows.columns["T"], "customers": rows.weights.astype(np.int64)})
    mem_rows = mem_rows.sort_values(["frequency", "recency", "T"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(collapsed, mem_rows, check_exact=True)

    tracking = S.repeat_transactions_by_period(table, setup["start"], setup["holdout_end"], setup["calibration_end"])
    expected = rfm.repeat_transactions_by_period(log, setup["start"], setup["holdout_end"], customers=memory.index)
    pd.testing.assert_frame_equal(tracking, expected, check_exact=True)

    for rules in (StageRules(), COUNT_RULES):
        panel = _memory_stage_panel(log, rules)
        summary = S.stage_summary(table, rules)
        np.testing.assert_array_equal(summary.transition_counts, P.transition_counts(panel))
        halves = (np.arange(panel.n_periods) >= panel.n_periods // 2).astype(int)
        np.testing.assert_array_equal(summary.grouped_transitions(halves, 2), P.transition_counts(panel, halves, 2))
        np.testing.assert_array_equal(summary.occupancy, panel.occupancy())
        np.testing.assert_allclose(summary.stage_revenue, stages.stage_revenue(panel), rtol=RTOL, atol=0)
        assert summary.periods.equals(panel.period_labels)
        assert summary.rows == panel.n_rows and summary.customers == panel.n_customers

    revenue = S.customer_revenue_expression(table, setup["holdout_end"], setup["calibration_end"])
    conc = S.concentration(revenue, top_fraction=0.2)
    daily = rfm.merge_same_day(log)
    keep = daily.days <= datasets.day_number(setup["holdout_end"])
    per_customer = pd.Series(np.bincount(daily.customer_codes[keep], weights=daily.amounts[keep],
                                         minlength=daily.customer_ids.size), index=daily.customer_ids)
    values = per_customer.reindex(memory.index).to_numpy()
    assert conc["customers"] == values.size
    assert conc["top_share"] == pytest.approx(stats.top_share(values, 0.2), rel=RTOL)
    assert conc["gini"] == pytest.approx(stats.gini(values), rel=RTOL)
    _, share = stats.lorenz_curve(values)
    np.testing.assert_allclose(conc["lorenz"]["value_share"], share[conc["lorenz"]["customer_rank"]],
                               rtol=RTOL, atol=1e-15)


def test_cdnow_summaries_equal_pandas(duck, cdnow):
    table = sources.open_log(duck, sources.LogSource(path=str(cdnow["file"])))
    check_all_summaries(table, cdnow["log"], CDNOW)


def test_generated_summaries_equal_pandas(duck, generated):
    table = sources.open_log(duck, sources.LogSource(path=str(generated["folder"])))
    assert table.count().execute() == 100_000
    check_all_summaries(table, generated["log"], GEN)


def test_frame_in_memory_as_engine_table(duck, cdnow):
    """A log already in pandas (the shipped CDNOW sample) goes through the same expressions."""
    table = sources.open_frame(duck, cdnow["log"], name="cdnow_frame")
    memory = rfm.rfm_summary(cdnow["log"], CDNOW["calibration_end"], CDNOW["holdout_end"]).sort_index()
    assert_frames_equal(S.rfm_summary(table, CDNOW["calibration_end"], CDNOW["holdout_end"]), memory)


def test_panel_rows_equal_assign_stages(duck, cdnow):
    table = sources.open_log(duck, sources.LogSource(path=str(cdnow["file"])))
    frame = S.stage_panel_frame(table, COUNT_RULES)
    panel = stages.assign_stages(cdnow["log"], COUNT_RULES)
    memory = pd.DataFrame({"customer_id": np.asarray(panel.customer_ids)[panel.customer], "period": panel.period,
                           "stage": panel.stage.astype(np.int64), **panel.extra})
    memory = memory.sort_values(["customer_id", "period"], kind="stable").reset_index(drop=True)
    for col in ("period", "stage", "purchases", "recency", "cum_purchases", "tenure"):
        np.testing.assert_array_equal(frame[col].to_numpy(), memory[col].to_numpy(np.int64), err_msg=col)
    for col in ("revenue", "cum_revenue"):
        np.testing.assert_allclose(frame[col], memory[col], rtol=RTOL, atol=1e-12, err_msg=col)


def test_memory_limit_spills_to_same_result(generated, tmp_path):
    unlimited = spark.duckdb_connection(EngineSettings(threads=1))
    small = spark.duckdb_connection(EngineSettings(threads=1, memory_limit="100MB",
                                                   temp_directory=str(tmp_path / "spill")))
    assert small.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("95.3 MiB", "100.0 MB")
    src = sources.LogSource(path=str(generated["folder"]))
    a = S.rfm_summary(sources.open_log(unlimited, src), GEN["calibration_end"], GEN["holdout_end"])
    b = S.rfm_summary(sources.open_log(small, src), GEN["calibration_end"], GEN["holdout_end"])
    assert_frames_equal(b, a)


def test_materialized_customer_table_gives_same_rows(duck, generated):
    table = sources.open_log(duck, sources.LogSource(path=str(generated["file"])))
    kept = S.materialize(S.rfm_expression(table, GEN["calibration_end"], GEN["holdout_end"]), "rfm_kept")
    pd.testing.assert_frame_equal(S.collapse_customer_rows(kept, holdout=True),
                                  S.rfm_collapsed(table, GEN["calibration_end"], holdout_end=GEN["holdout_end"]),
                                  check_exact=True)
    spend = S.repeat_spend_rows(kept)
    memory = rfm.rfm_summary(generated["log"], GEN["calibration_end"]).sort_index()
    repeat = memory[memory["frequency"] > 0]
    np.testing.assert_array_equal(spend["frequency"], repeat["frequency"])
    np.testing.assert_allclose(spend["monetary_value"], repeat["monetary_value"], rtol=RTOL, atol=0)


def test_customer_ranges_give_the_whole(duck, generated):
    """The RFM table and the weekly counts computed range by range of customer ids (as a
    100-million-row log is within a 2 GB limit) equal the whole, bit for bit: every customer once."""
    table = sources.open_log(duck, sources.LogSource(path=str(generated["folder"])))
    ranges = S.customer_ranges(table, rows_per_part=20_000)
    assert len(ranges) >= 4 and ranges[0][0] is None and ranges[-1][1] is None
    parts = [S.in_range(table, r) for r in ranges]
    whole = S.customer_rfm(S.materialize(S.rfm_expression(table, GEN["calibration_end"], GEN["holdout_end"]),
                                         "rfm_whole"))
    kept = S.materialize_parts([S.rfm_expression(p, GEN["calibration_end"], GEN["holdout_end"], cohort_only=False)
                                for p in parts], "rfm_split")
    split = S.customer_rfm(S.cohort(kept, GEN["calibration_end"]))
    pd.testing.assert_frame_equal(whole, split, check_exact=True)
    memory = rfm.rfm_summary(generated["log"], GEN["calibration_end"], GEN["holdout_end"]).sort_index()
    assert list(split.index) == list(memory.index.astype(str))
    assert S.log_size(table, customers=kept) == S.log_size(table)
    counts = S.sum_periods([S.repeat_transactions_by_period(p, GEN["start"], GEN["holdout_end"], GEN["calibration_end"],
                                                            first_days=S.in_range(S.cohort(kept, GEN["calibration_end"]), r))
                            for p, r in zip(parts, ranges)])
    expected = S.repeat_transactions_by_period(table, GEN["start"], GEN["holdout_end"], GEN["calibration_end"])
    pd.testing.assert_frame_equal(counts, expected, check_exact=True, check_dtype=False)
    # One grouping per range for both (the range's customer-days kept while its RFM rows and counts are made).
    tracked, both = S.rfm_and_tracking(table, GEN["calibration_end"], GEN["holdout_end"], GEN["start"],
                                       name="rfm_tracked", rows_per_part=20_000)
    pd.testing.assert_frame_equal(S.customer_rfm(S.cohort(tracked, GEN["calibration_end"])), whole, check_exact=True)
    assert S.log_size(table, customers=tracked) == S.log_size(table)
    pd.testing.assert_frame_equal(both, expected, check_exact=True, check_dtype=False)
    # Counted from a later start (customers who began before it) in periods of 10.5 days, the same.
    later = (pd.Timestamp(GEN["start"]) + pd.Timedelta(days=45)).date()
    _, shifted = S.rfm_and_tracking(table, GEN["calibration_end"], GEN["holdout_end"], later, period_days=10.5,
                                    name="rfm_shifted", rows_per_part=20_000)
    expected = S.repeat_transactions_by_period(table, later, GEN["holdout_end"], GEN["calibration_end"], period_days=10.5)
    assert shifted["incremental"].sum() > 0
    pd.testing.assert_frame_equal(shifted, expected, check_exact=True, check_dtype=False)


def test_stage_summary_by_ranges_gives_the_whole(duck, generated):
    """The stage panel's aggregates computed range by range of customer ids equal the whole."""
    table = sources.open_log(duck, sources.LogSource(path=str(generated["folder"])))
    whole = S.stage_summary(table, COUNT_RULES)
    split = S.stage_summary(table, COUNT_RULES, rows_per_part=20_000)
    assert len(S.customer_ranges(table, rows_per_part=20_000)) >= 4
    for name in ("transitions", "occupancy", "entries"):
        np.testing.assert_array_equal(getattr(split, name), getattr(whole, name), err_msg=name)
    np.testing.assert_allclose(split.revenue, whole.revenue, rtol=1e-12)
    assert (split.rows, split.customers) == (whole.rows, whole.customers)


def test_id_sample_reads_a_spread_of_many_files(duck, tmp_path):
    """A log of many Parquet files gets a sample of ids from 64 files spread over it (for range
    bounds); a log of few files, or the same name reopened on one, has none."""
    many, few = tmp_path / "many", tmp_path / "few"
    for folder, n in ((many, 130), (few, 10)):
        folder.mkdir()
        for i in range(n):
            pd.DataFrame({"customer_id": [f"k{i:03d}", f"k{i:03d}x"], "date": pd.to_datetime(["2024-01-02"] * 2),
                          "amount": [1.0, 2.0]}).to_parquet(folder / f"part-{i:03d}.parquet")
    sources.open_log(duck, sources.LogSource(path=str(many)), name="spread")
    sample = sources.id_sample(duck, "spread").to_pandas()["customer_id"]
    assert len(sample) == 2 * 64 and sample.str.match(r"k\d{3}x?$").all() and sample.nunique() == 128
    sources.open_log(duck, sources.LogSource(path=str(few)), name="spread")
    assert sources.id_sample(duck, "spread") is None


def test_ranges_follow_the_memory_limit():
    """A range holds what the engine's memory limit holds: 25 million transactions at 2 GB (four
    ranges for 100 million, as benchmarked), a quarter of that at 512 MB."""
    from crmresearch.parameters.engine import EngineSettings

    at = {m: S.part_rows(spark.connect(EngineSettings(memory_limit=m))) for m in ("2GB", "512MB")}
    assert 25_000_000 <= at["2GB"] < 100_000_000 / 3
    assert at["512MB"] == pytest.approx(at["2GB"] / 4, rel=0.1)        # DuckDB shows 2 GB as 1.8 GiB


def test_spends_are_the_same_bits_in_pandas_and_the_engine(duck, generated):
    """Spends are exact sums of whole-number limbs rounded once (`crmresearch.spend_sums`), day
    totals included: the engine's RFM spends equal pandas' bit for bit, whatever the order of the
    rows, also for the customers with a day of three or more purchases (where a plain sum depends
    on the order of its terms)."""
    table = sources.open_log(duck, sources.LogSource(path=str(generated["folder"])))
    engine = S.rfm_summary(table, GEN["calibration_end"], GEN["holdout_end"])
    log = generated["log"]
    per_day = log.groupby(["customer_id", log["date"].dt.floor("D")]).size()
    crowded = set(per_day[per_day >= 3].index.get_level_values(0).astype(str))
    assert len(crowded) > 100                                   # 189 of 7,298 customers
    for rows in (log, log.sample(frac=1.0, random_state=7), log.iloc[::-1]):
        memory = rfm.rfm_summary(rows, GEN["calibration_end"], GEN["holdout_end"]).sort_index()
        memory.index = memory.index.astype(str)
        for column in ("monetary_value", "first_spend", "calibration_spend", "monetary_holdout"):
            np.testing.assert_array_equal(engine[column].to_numpy(), memory.loc[engine.index, column].to_numpy(),
                                          err_msg=column)


def test_spend_sums_are_exact_and_order_free():
    """The limbs of `spend_sums` rebuild every amount of at least 2**-8 exactly and add to the exact
    sum rounded once (checked against `math.fsum`), in any order."""
    import math

    from crmresearch import spend_sums

    rng = np.random.default_rng(20261130)
    amounts = np.concatenate([rng.gamma(2.0, 30.0, 3000).round(2), rng.gamma(0.5, 1e6, 1000),
                              rng.uniform(2.0 ** -8, 1.0, 1000), [0.0, 0.01, 0.1, 0.2, 0.3, 1e12]])
    assert np.array_equal(spend_sums.from_limbs(*spend_sums.limbs(amounts)), amounts)
    groups = rng.integers(0, 400, amounts.size)
    got = spend_sums.grouped_sum(groups, amounts, 400)
    order = rng.permutation(amounts.size)
    assert np.array_equal(spend_sums.grouped_sum(groups[order], amounts[order], 400), got)
    small = amounts < 1e9                           # a group's total must stay below 2**33 to be exact
    exact = spend_sums.grouped_sum(groups[small], amounts[small], 400)
    want = [math.fsum(amounts[small][groups[small] == g]) for g in range(400)]
    assert np.array_equal(exact, np.array(want))


def test_customer_predictions_streamed_to_parquet(duck, generated, tmp_path):
    from crmresearch.clv import predictions

    table = sources.open_log(duck, sources.LogSource(path=str(generated["file"])))
    memory = rfm.rfm_summary(generated["log"], GEN["calibration_end"]).sort_index()
    bg = BetaGeoNBD().fit(frequency=memory["frequency"], recency=memory["recency"], T=memory["T"])
    gg = GammaGamma().fit(frequency=memory["frequency"], monetary_value=memory["monetary_value"])
    args = dict(horizon=52.0, step=4.0, annual_discount_rate=0.1)
    out = S.write_customer_predictions(
        S.rfm_expression(table, GEN["calibration_end"]), tmp_path / "clv.parquet",
        lambda frame: predictions.customer_lifetime_value(bg, gg, frame, margin=0.3, **args)[0], batch_rows=1_500)
    expected, total = predictions.customer_lifetime_value(bg, gg, memory, margin=0.3, **args)
    written = pd.read_parquet(out["path"]).set_index("customer_id").sort_index()
    assert out["customers"] == len(memory) and out["total_clv"] == pytest.approx(total["total"], rel=1e-9)
    for col in ("p_alive", "expected_transactions", "clv", "clv_lower", "clv_upper"):
        np.testing.assert_allclose(written[col], expected[col], rtol=1e-9, atol=1e-12, err_msg=col)


def test_customer_table_written_as_parquet(duck, generated, tmp_path):
    table = sources.open_log(duck, sources.LogSource(path=str(generated["file"])))
    out = S.write_customer_table(S.rfm_expression(table, GEN["calibration_end"]), tmp_path / "customers.parquet")
    written = pd.read_parquet(out)
    assert len(written) == len(S.rfm_summary(table, GEN["calibration_end"]))
    assert {"customer_id", "frequency", "recency", "T", "monetary_value"} <= set(written.columns)


# ------------------------------------------------------------------ sources and validation
def _csv(tmp_path, text, name="log.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_with_mapping_and_date_format(duck, tmp_path):
    path = _csv(tmp_path, "who,when,paid,other\nA,20240102,3.5,x\nB,20240103,1,y\nA,20240102,2,z\n")
    src = sources.LogSource(path=path, customer_column="who", date_column="when", amount_column="paid",
                            date_format="%Y%m%d")
    table = sources.open_log(duck, src, name="csv_log")
    df = table.to_pandas().sort_values(["customer_id", "amount"]).reset_index(drop=True)
    assert df["customer_id"].tolist() == ["A", "A", "B"]
    assert df["amount"].tolist() == [2.0, 3.5, 1.0]
    assert pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d").tolist() == ["2024-01-02"] * 2 + ["2024-01-03"]
    memory = datasets.load_transactions(path, "who", "when", "paid", "%Y%m%d")
    engine = S.rfm_summary(table, "2024-01-02", "2024-01-03", period_days=1.0)
    assert_frames_equal(engine, rfm.rfm_summary(memory, "2024-01-02", "2024-01-03", period_days=1.0).sort_index())


@pytest.mark.parametrize("text, column, expected, rows", [
    ("c,d,a\nx,2024-01-02,1\ny,2024-02-30,2\nz,2024-01-03,3\nw,yesterday,4\n", "d", "dates", [2, 4]),
    ("c,d,a\nx,2024-01-02,1\ny,2024-01-02,abc\n", "a", "numeric values", [2]),
    ("c,d,a\nx,2024-01-02,1\n,2024-01-02,2\n", "c", "a customer id on every row", []),
    ("c,d,a\nx,2024-01-02,-1\n", "a", "values at least 0", []),
    ("c,d,a\nx,2024-01-02,\n", "a", "no missing values", []),
    ("c,d,a\nx,2024-01-02,1\ny,2024-01-02,2e12\n", "a", "values at most 1e+12", []),
    ("c,d,a\nx,2024-01-02,1\ny,2024-01-02,inf\n", "a", "values at most 1e+12", []),
])
def test_csv_errors_name_column_and_rows(duck, tmp_path, text, column, expected, rows):
    path = _csv(tmp_path, text)
    with pytest.raises(DataValidationError) as err:
        sources.open_log(duck, sources.LogSource(path=path, customer_column="c", date_column="d", amount_column="a"),
                         name="bad_log")
    assert err.value.column == column
    assert expected in err.value.expected
    assert err.value.rows == rows
    assert path in str(err.value)


def test_missing_column_lists_the_file_columns(duck, tmp_path):
    path = _csv(tmp_path, "cust,date,amount\nx,2024-01-02,1\n")
    with pytest.raises(DataValidationError, match=r"column 'customer_id': expected a column named 'customer_id' "
                                                  r"\(file has: cust, date, amount\)"):
        sources.open_log(duck, sources.LogSource(path=path), name="bad_log")


def test_parquet_errors_name_file_and_row(duck, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    pd.DataFrame({"customer_id": ["a", "b"], "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "amount": [1.0, 2.0]}).to_parquet(folder / "p1.parquet")
    pd.DataFrame({"customer_id": ["c", "d", "e"], "date": pd.to_datetime(["2024-01-01"] * 3),
                  "amount": [1.0, -5.0, 2.0]}).to_parquet(folder / "p2.parquet")
    with pytest.raises(DataValidationError) as err:
        sources.open_log(duck, sources.LogSource(path=str(folder)), name="bad_pq")
    assert err.value.path.endswith("p2.parquet") and err.value.column == "amount" and err.value.rows == [2]
    # A glob over the good file alone reads.
    good = sources.open_log(duck, sources.LogSource(path=str(folder / "p1*.parquet")), name="good_pq")
    assert good.count().execute() == 2


def test_a_missing_id_in_one_parquet_file_is_named_with_its_row(duck, tmp_path):
    """The ids of Parquet files are checked from the files' statistics; a file whose statistics count
    a missing id is scanned, and the error names it and the row."""
    folder = tmp_path / "ids"
    folder.mkdir()
    pd.DataFrame({"customer_id": ["a", "b"], "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "amount": [1.0, 2.0]}).to_parquet(folder / "p1.parquet")
    assert sources._no_null_ids(duck.con, str(folder / "*.parquet"), sources.LogSource(path=str(folder)))
    pd.DataFrame({"customer_id": ["c", "d", None], "date": pd.to_datetime(["2024-01-01"] * 3),
                  "amount": [1.0, 5.0, 2.0]}).to_parquet(folder / "p2.parquet")
    assert not sources._no_null_ids(duck.con, str(folder / "*.parquet"), sources.LogSource(path=str(folder)))
    with pytest.raises(DataValidationError) as err:
        sources.open_log(duck, sources.LogSource(path=str(folder)), name="no_id_pq")
    assert err.value.path.endswith("p2.parquet") and err.value.column == "customer_id" and err.value.rows == [3]


def test_duckdb_table_source(tmp_path, cdnow):
    import duckdb

    db = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(db) as w:
        w.execute("CREATE TABLE sales AS SELECT customer_id AS buyer, date AS day, amount AS value "
                  f"FROM read_parquet('{cdnow['file']}')")
    con = spark.duckdb_connection(EngineSettings(threads=1))
    table = sources.open_log(con, sources.LogSource(table="sales", database=db, customer_column="buyer",
                                                    date_column="day", amount_column="value"))
    memory = rfm.rfm_summary(cdnow["log"], CDNOW["calibration_end"]).sort_index()
    assert_frames_equal(S.rfm_summary(table, CDNOW["calibration_end"]), memory)


def test_log_without_amount_counts_one_per_row(duck, tmp_path):
    path = _csv(tmp_path, "customer_id,date\nx,2024-01-02\nx,2024-01-09\ny,2024-01-03\n")
    table = sources.open_log(duck, sources.LogSource(path=path, amount_column=None), name="no_amount")
    summary = S.rfm_summary(table, "2024-01-31")
    assert summary["frequency"].tolist() == [1, 0]
    assert summary["monetary_value"].iloc[0] == 1.0


# ------------------------------------------------------------------ settings
def test_engine_settings_bounds():
    s = EngineSettings()
    assert s.backend == "duckdb" and s.memory_limit_bytes >= 64 * 2**20
    assert EngineSettings(memory_limit="2GB", threads=2).memory_limit_bytes == 2 * 10**9
    for bad in ({"memory_limit": "2 bananas"}, {"memory_limit": "1MB"}, {"threads": 0}, {"threads": 10**6},
                {"backend": "polars"}, {"unknown": 1}, {"spark_master": "http://x"},
                {"spark_config": {"executor.memory": "4g"}}, {"temp_directory": ""}):
        with pytest.raises(ValueError):
            EngineSettings(**bad)


def _pyspark_file(tmp_path):
    from crmresearch.parameters import load_parameter_file

    path = tmp_path / "spark.yaml"
    path.write_text("notebook: 03_customer_lifetime_value\nvariant: spark\nparameters:\n  engine: {backend: pyspark}\n")
    return load_parameter_file(path)     # the schema is data only: the machine is checked by the pre-flight


def test_pyspark_backend_rejected_without_java(monkeypatch, tmp_path):
    from crmresearch.parameters import ParameterFileError
    from crmresearch.runner import check_environment

    monkeypatch.setattr(spark, "java_executable", lambda: None)
    with pytest.raises(ParameterFileError, match="'parameters.engine': backend 'pyspark' needs Java and PySpark on "
                                                 "this machine: no Java runtime found"):
        check_environment(_pyspark_file(tmp_path))


def test_pyspark_backend_rejected_without_pyspark(monkeypatch, tmp_path):
    from crmresearch.parameters import ParameterFileError
    from crmresearch.runner import check_environment

    real = spark.importlib.util.find_spec
    monkeypatch.setattr(spark.importlib.util, "find_spec", lambda name: None if name == "pyspark" else real(name))
    with pytest.raises(ParameterFileError, match="PySpark is not installed"):
        check_environment(_pyspark_file(tmp_path))


# ------------------------------------------------------------------ generator and progress
def test_generator_is_deterministic_and_exact(tmp_path):
    a = generate.write_log(tmp_path / "a.parquet", transactions=30_000, customers=600_000 // 100, seed=3,
                           partition=None)
    b = generate.write_log(tmp_path / "b", transactions=30_000, customers=6_000, seed=3)
    c = generate.write_log(tmp_path / "c.parquet", transactions=30_000, customers=6_000, seed=4, partition=None)
    da = pd.read_parquet(a)
    db = pd.read_parquet(b)[["customer_id", "date", "amount"]]
    key = ["customer_id", "date", "amount"]
    assert len(da) == 30_000 and da["customer_id"].nunique() == 6_000
    pd.testing.assert_frame_equal(da.sort_values(key).reset_index(drop=True),
                                  db.sort_values(key).reset_index(drop=True), check_dtype=False)
    assert not pd.read_parquet(c).equals(da)
    with pytest.raises(FileExistsError):
        generate.write_log(a, transactions=10, customers=1)
    with pytest.raises(ValueError):
        generate.write_log(tmp_path / "d.parquet", transactions=5, customers=10)


def test_generator_blocks_span_customers(tmp_path, monkeypatch):
    """More customers than one block: every customer buys, the total is exact."""
    monkeypatch.setattr(generate, "CHUNK_CUSTOMERS", 1_000)
    path = generate.write_log(tmp_path / "x.parquet", transactions=12_345, customers=2_500, seed=1, partition=None)
    df = pd.read_parquet(path)
    assert len(df) == 12_345 and df["customer_id"].nunique() == 2_500


def test_progress_logs_step_and_elapsed(duck, generated, caplog):
    table = sources.open_log(duck, sources.LogSource(path=str(generated["file"])))
    with caplog.at_level(logging.INFO, logger="crmresearch.engine"):
        S.rfm_summary(table, GEN["calibration_end"])
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("RFM summary: started") for m in messages)
    assert any(m.startswith("RFM summary: done") and m.endswith(" s") for m in messages)


def test_heartbeat_reports_a_running_query(duck, caplog):
    """While a query runs, the step, DuckDB's share done and the elapsed time are logged."""
    duck.con.execute("CREATE OR REPLACE TEMP TABLE numbers AS SELECT range AS i FROM range(40000)")
    a = duck.table("numbers")
    b = a.view().rename(j="i")
    pairs = a.cross_join(b)
    slow = pairs.aggregate(s=(pairs.i * pairs.j).sum())
    with caplog.at_level(logging.INFO, logger="crmresearch.engine"):
        S.execute(slow, "slow step", every=0.05)
    beats = [r.getMessage() for r in caplog.records if r.getMessage().startswith("slow step: ")]
    assert beats[0] == "slow step: started" and beats[-1].startswith("slow step: done")
    # DuckDB's estimate ("n%") when it has one, else "running".
    assert len(beats) >= 3 and all(m.endswith(" s elapsed") for m in beats[1:-1])


# ------------------------------------------------------------------ the cluster route
SPARK_UNAVAILABLE = spark.unavailable_reason()


@pytest.mark.slow   # starts a JVM and a local Spark session: make test-all
@pytest.mark.spark
@pytest.mark.skipif(SPARK_UNAVAILABLE is not None, reason=f"Spark route not testable here: {SPARK_UNAVAILABLE}")
def test_duckdb_and_pyspark_summaries_equal(generated):
    """The same expressions on PySpark (local[1]) and DuckDB give the same summaries."""
    start = time.perf_counter()
    settings = EngineSettings(backend="pyspark", spark_master="local[1]", threads=1)
    sp = spark.connect(settings)
    src = sources.LogSource(path=str(generated["file"]))
    ts, td = sources.open_log(sp, src), sources.open_log(spark.duckdb_connection(EngineSettings(threads=1)), src)
    assert_frames_equal(S.rfm_summary(ts, GEN["calibration_end"], GEN["holdout_end"]),
                        S.rfm_summary(td, GEN["calibration_end"], GEN["holdout_end"]))
    pd.testing.assert_frame_equal(S.rfm_collapsed(ts, GEN["calibration_end"]),
                                  S.rfm_collapsed(td, GEN["calibration_end"]), check_exact=True)
    pd.testing.assert_frame_equal(
        S.repeat_transactions_by_period(ts, GEN["start"], GEN["holdout_end"], GEN["calibration_end"]),
        S.repeat_transactions_by_period(td, GEN["start"], GEN["holdout_end"], GEN["calibration_end"]),
        check_exact=True)
    a, b = S.stage_summary(ts, COUNT_RULES), S.stage_summary(td, COUNT_RULES)
    np.testing.assert_array_equal(a.transitions, b.transitions)
    np.testing.assert_array_equal(a.occupancy, b.occupancy)
    np.testing.assert_allclose(a.revenue, b.revenue, rtol=RTOL, atol=0)
    ca = S.concentration(S.customer_revenue_expression(ts, GEN["holdout_end"], GEN["calibration_end"]))
    cb = S.concentration(S.customer_revenue_expression(td, GEN["holdout_end"], GEN["calibration_end"]))
    assert ca["gini"] == pytest.approx(cb["gini"], rel=RTOL)
    assert ca["top_share"] == pytest.approx(cb["top_share"], rel=RTOL)
    logging.getLogger("crmresearch.engine").info("DuckDB vs PySpark test: %.1f s", time.perf_counter() - start)


@pytest.mark.slow   # starts a JVM and a local Spark session: make test-all
@pytest.mark.spark
@pytest.mark.skipif(SPARK_UNAVAILABLE is not None, reason=f"Spark route not testable here: {SPARK_UNAVAILABLE}")
def test_pyspark_reads_csv_with_date_format_and_frames(tmp_path, cdnow):
    sp = spark.connect(EngineSettings(backend="pyspark", spark_master="local[1]", threads=1))
    path = _csv(tmp_path, "who,when,paid\nA,20240102,3.5\nB,20240103,1\nA,20240102,2\nA,20240110,4\n")
    src = sources.LogSource(path=path, customer_column="who", date_column="when", amount_column="paid",
                            date_format="%Y%m%d")
    duck = spark.duckdb_connection(EngineSettings(threads=1))
    assert_frames_equal(S.rfm_summary(sources.open_log(sp, src), "2024-01-31"),
                        S.rfm_summary(sources.open_log(duck, src, name="csv_spark_check"), "2024-01-31"))
    bad = _csv(tmp_path, "who,when,paid\nA,2024-01-02,3.5\n", name="bad.csv")
    with pytest.raises(DataValidationError, match="'when': expected dates in format %Y%m%d"):
        sources.open_log(sp, sources.LogSource(path=bad, customer_column="who", date_column="when",
                                               amount_column="paid", date_format="%Y%m%d"))
    memory = rfm.rfm_summary(cdnow["log"], CDNOW["calibration_end"]).sort_index()
    assert_frames_equal(S.rfm_summary(sources.open_frame(sp, cdnow["log"]), CDNOW["calibration_end"]), memory)


def test_generate_log_command_writes_a_deterministic_log_and_refuses_to_overwrite(tmp_path):
    import duckdb
    from conftest import run_cli

    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (first, second):
        run = run_cli("generate-log", path, "--transactions", "5e4", "--customers", "5000", "--plain")
        assert run.returncode == 0, run.stderr
    count = duckdb.connect().execute(f"select count(*), count(distinct customer_id) from '{first}'").fetchone()
    assert count == (50_000, 5_000)
    assert first.read_bytes() == second.read_bytes()
    again = run_cli("generate-log", first, "--transactions", "5e4", "--plain")
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
