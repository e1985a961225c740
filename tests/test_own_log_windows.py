"""A user's transaction log gets its own windows, never a shipped dataset's: the CLV and
satisfaction-to-value reports take the dates the parameter file leaves out from the log itself (and say
so), a shipped dataset keeps its published setup, and a log the engine reads in place needs them set.
Ids stay text on both routes (leading zeros kept), so pandas and the engine summarise one file alike."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from crmresearch import parameters, windows
from crmresearch.clv import analyse as clv_analyse
from crmresearch.clv import data as clv_data
from crmresearch.clv import sections as clv_sections
from crmresearch.clv import simulate

ClvParameters = parameters.schema_for("03_customer_lifetime_value")


@pytest.fixture(scope="module")
def shop_log(tmp_path_factory):
    """1,500 customers of a shop trading from March 2023 to August 2024, ids with leading zeros."""
    rng = np.random.default_rng(77)
    log = simulate.simulate_transaction_log((0.4, 6.0, 0.6, 3.0), (5.0, 4.0, 20.0), 1500, date(2023, 3, 1), 90,
                                            date(2024, 8, 31), rng)
    log["customer_id"] = "0" + log["customer_id"].astype(str).str.zfill(5)
    path = tmp_path_factory.mktemp("shop") / "orders.csv"
    log.rename(columns={"customer_id": "cust", "date": "day", "amount": "value"}).to_csv(path, index=False)
    return path, log


def _shop_params(path, **extra):
    return ClvParameters(transactions={"path": str(path), "customer_column": "cust", "date_column": "day",
                                       "amount_column": "value"},
                         fit_pareto_nbd=False, parameter_draws=50, bootstrap_resamples=0, **extra)


def test_a_users_log_takes_its_windows_from_itself(shop_log):
    path, log = shop_log
    data = clv_data.prepare(_shop_params(path), np.random.default_rng(0))
    w = data.windows
    assert w.source == "the log's own dates"
    assert w.cohort_start == log["date"].min().date() and w.holdout_end == log["date"].max().date()
    assert w.cohort_start < w.calibration_end < w.holdout_end
    assert data.summary.index.str.startswith("0").all() and len(data.summary) > 1000


def test_the_report_on_a_users_log_runs_and_says_where_its_windows_came_from(shop_log):
    path, _ = shop_log
    analysis = clv_analyse(_shop_params(path))
    rfm = clv_sections.rfm(analysis)
    assert rfm.results["windows"]["source"] == "the log's own dates"
    assert "taken from the log itself" in rfm.text and "1997" not in rfm.text
    assert rfm.results["customers"] > 1000 and analysis.fits.purchase_model is not None


def test_a_window_set_in_the_file_is_kept_and_the_rest_come_from_the_log(shop_log):
    path, log = shop_log
    data = clv_data.prepare(_shop_params(path, calibration_end="2023-12-31"), np.random.default_rng(0))
    assert data.windows.calibration_end == date(2023, 12, 31)
    assert data.windows.holdout_end == log["date"].max().date()


def test_windows_outside_the_log_are_one_line(shop_log):
    path, _ = shop_log
    with pytest.raises(windows.WindowError, match="the log runs from 2023-03"):
        clv_data.prepare(_shop_params(path, cohort_start="2025-01-01"), np.random.default_rng(0))


def test_shipped_and_simulated_data_keep_their_published_calendars():
    assert windows.resolve(ClvParameters(), dataset="cdnow_sample").as_dict() == {
        "cohort_start": "1997-01-01", "calibration_end": "1997-09-30", "holdout_end": "1998-06-30",
        "source": "published setup of the dataset"}
    assert windows.resolve(ClvParameters(), simulated=True).cohort_start == date(2020, 1, 1)


def test_a_log_read_in_place_needs_its_windows(shop_log):
    path, _ = shop_log
    with pytest.raises(ValidationError, match="for a log the engine reads in place"):
        _shop_params(path, engine={"backend": "duckdb"})


def test_pandas_and_engine_read_leading_zero_ids_alike(shop_log):
    path, _ = shop_log
    dates = {"cohort_start": "2023-03-01", "calibration_end": "2023-11-30", "holdout_end": "2024-08-31"}
    memory = clv_data.prepare(_shop_params(path, **dates), np.random.default_rng(0))
    routed = clv_data.prepare(_shop_params(path, engine={"backend": "duckdb", "threads": 1}, **dates),
                              np.random.default_rng(0))
    assert set(routed.summary.index) == set(memory.summary.index)
    pd.testing.assert_frame_equal(routed.summary.sort_index(), memory.summary.sort_index(), check_exact=False,
                                  rtol=1e-12, atol=0, check_dtype=False, check_index_type=False)


# ------------------------------------------------------------------ logs that could not feed a report

def test_a_log_of_one_purchase_per_customer_is_refused_before_any_kernel(tmp_path):
    from crmresearch.checks import DataCheckError, check_data

    path = tmp_path / "once.csv"
    pd.DataFrame({"cust": [f"{i:04d}" for i in range(50)], "day": pd.date_range("2024-01-01", periods=50).astype(str),
                  "value": 10.0}).to_csv(path, index=False)
    with pytest.raises(DataCheckError) as err:
        check_data(_shop_params(path))
    assert str(err.value).startswith("field 'parameters.calibration_end': expected at least one customer with a repeat")


def test_windows_that_miss_the_log_are_refused_before_any_kernel(shop_log):
    from crmresearch.checks import DataCheckError, check_data

    path, _ = shop_log
    with pytest.raises(DataCheckError, match="found 0; the log runs from 2023-03"):
        check_data(_shop_params(path, cohort_start="2020-01-01", calibration_end="2020-06-30", holdout_end="2020-12-31"))


def test_survey_ids_that_match_no_customer_are_refused_before_any_kernel(tmp_path):
    from crmresearch.checks import DataCheckError, check_data

    survey = pd.read_csv("tests/data/value_chain/survey_1to7.csv", dtype={"kundennr": str})
    survey["kundennr"] = "Z" + survey["kundennr"]
    survey.to_csv(tmp_path / "survey.csv", index=False)
    pf = parameters.load_parameter_file("tests/data/value_chain/own_data.yaml")
    values = {**pf.parameters, "survey": {**pf.parameters["survey"], "path": str(tmp_path / "survey.csv")}}
    with pytest.raises(DataCheckError) as err:
        check_data(parameters.schema_for("04_satisfaction_to_value")(**values))
    assert "field 'parameters.survey.id_column': expected survey ids that match" in str(err.value)
    assert "found 0 of" in str(err.value) and "\n" not in str(err.value)


def test_the_overview_on_a_log_without_repeat_purchases_goes_on(tmp_path):
    from crmresearch.overview import analyse as overview_analyse
    from crmresearch.overview import plots as overview_plots

    path = tmp_path / "once.csv"
    pd.DataFrame({"cust": [f"{i:04d}" for i in range(50)], "day": pd.date_range("2024-01-01", periods=50).astype(str),
                  "value": 10.0}).to_csv(path, index=False)
    analysis = overview_analyse(parameters.schema_for("00_crm_overview")(
        transactions={"path": str(path), "customer_column": "cust", "date_column": "day", "amount_column": "value"}))
    figure = overview_plots.inter_purchase_figure(analysis)
    assert "no customer bought on more than one day" in figure.text, "one sentence, not a numbered figure"


def test_magnitudes_past_the_caps_are_refused_with_one_line(tmp_path):
    from crmresearch.datasets import DataValidationError
    from crmresearch.subscriptions import read_cohort_table, read_subscriber_log

    pd.DataFrame({"period": [0, 1, 2], "huge": [8e17, 5e17, 3e17]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataValidationError, match="a cohort of at most 1e"):
        read_cohort_table(tmp_path / "c.csv")
    pd.DataFrame({"customer": ["001", "002"], "start": ["2024-01-01"] * 2, "end": [None, None], "tier": ["a", "a"],
                  "monthly_revenue": [1e300, 5.0]}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(DataValidationError, match="values at most 1e"):
        read_subscriber_log(tmp_path / "s.csv", "2024-12-31")
