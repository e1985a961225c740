"""The lifecycle report's key figures equal a direct computation with the package.

Reads the results.json of notebooks/02_lifecycle_transitions.ipynb run with the `fast` parameter
file (CDNOW sample) in the session's shared run (`published_overview` in conftest.py: each fast
variant is executed once per session) and recomputes the matrix, the tests, the expected time to
the lost stage and the stage values without the notebook.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from crmresearch import config, lifecycle as lc
from crmresearch.parameters import load_parameter_file

FAST = config.PARAMS_DIR / "lifecycle_transitions" / "fast.yaml"


@pytest.fixture(scope="module")
def executed(published_overview):
    pf = load_parameter_file(FAST)
    doc = json.loads((published_overview / "lifecycle_transitions" / "fast" / "results.json").read_text())
    return pf.validated, doc["results"], doc


@pytest.fixture(scope="module")
def direct(executed):
    params, _, _ = executed
    data = lc.prepare(params, np.random.default_rng(params.seed))
    matrix = lc.estimate_transition_matrix(data.panel, allowed=data.allowed, absorbing=data.absorbing)
    return params, data, matrix


def test_results_document_is_complete(executed):
    _, results, doc = executed
    assert doc["notebook"] == "02_lifecycle_transitions" and doc["variant"] == "fast"
    assert doc["finding"] and "The chances of moving between stages" in doc["finding"]
    for key in ("transition_matrix", "homogeneity_test", "order_test", "time_to_target_from_entry",
                "backtest_summary", "stage_values", "period_rates", "covariate_effects"):
        assert key in results, key
    assert doc["provenance"]["data"]["data"]["sha256"]


def test_every_section_names_the_source_of_its_numbers(executed):
    _, results, doc = executed
    sections = doc["sections"]
    computed = ("panel", "matrix", "cohort_flows", "period_rates", "homogeneity", "order", "backtest",
                "time_to_target", "long_run_mix", "forecast", "covariates", "stage_values")
    assert all(sections[name]["source"] == "data" for name in computed)
    assert sections["relationship_patterns"]["source"] == "not_computed"   # a transaction log has no such stages
    assert sections["truth"]["source"] == "not_computed"
    assert sections["panel"]["rows_used"] == results["customer_periods"]


def test_panel_size_and_matrix_match_direct_computation(executed, direct):
    _, results, _ = executed
    _, data, matrix = direct
    assert results["customers"] == data.panel.n_customers == 2357
    assert results["transitions"] == int(matrix.counts.sum())
    reported = results["transition_matrix"]
    assert np.array_equal(np.array(reported["counts"]), matrix.counts)
    assert np.allclose(np.array(reported["probabilities"], float), matrix.probabilities)
    assert np.allclose(np.array(reported["wilson_lower"], float), matrix.wilson_lower)
    lower = np.array(reported["boot_lower"], float)
    upper = np.array(reported["boot_upper"], float)
    inside = matrix.allowed
    assert np.all((lower[inside] <= matrix.probabilities[inside] + 1e-9)
                  & (matrix.probabilities[inside] <= upper[inside] + 1e-9))


def test_tests_match_direct_computation(executed, direct):
    _, results, _ = executed
    params, data, _ = direct
    groups = lc.split_periods(data.panel, params.homogeneity_groups)
    homogeneity = lc.homogeneity_test(data.panel, groups)
    assert np.isclose(results["homogeneity_test"]["statistic"], homogeneity.statistic)
    assert results["homogeneity_test"]["df"] == homogeneity.df
    order = lc.order_test(data.panel)
    assert np.isclose(results["order_test"]["statistic"], order.statistic)
    assert results["order_test"]["df"] == order.df


def test_time_to_lost_and_values_match_direct_computation(executed, direct):
    _, results, _ = executed
    params, data, matrix = direct
    P = np.nan_to_num(matrix.probabilities)
    entry = lc.entry_distribution(data.panel)
    expected = lc.absorption_analysis(P, data.target).from_distribution(entry)
    assert np.isclose(results["time_to_target_from_entry"]["mean"], expected["mean"])
    assert np.isclose(results["time_to_target_from_entry"]["sd"], expected["sd"])
    values = lc.markov_chain_value(P, np.nan_to_num(data.rewards), params.discount_rate, params.value_horizon - 1)
    assert np.isclose(results["entry_value"]["horizon"], entry @ values)


def test_backtest_matches_direct_computation(executed, direct):
    _, results, _ = executed
    params, data, _ = direct
    origin = results["backtest_origin"]
    chain = lc.backtest(data.panel, origin, params.forecast_horizon, data.allowed, absorbing=data.absorbing)
    reported = results["backtest"]["stage chain"]
    assert np.allclose([r["chain_error"] for r in reported], chain["chain_error"])
    assert np.allclose([r["naive_error"] for r in reported], chain["naive_error"])


def test_section_figures_match_direct_computation(executed, direct):
    _, results, _ = executed
    _, data, matrix = direct
    P = np.nan_to_num(matrix.probabilities)
    assert np.allclose(list(results["stay_probability"].values()), np.diag(P))
    width = results["bootstrap_to_wilson_width"]
    assert width["min"] <= width["median"] <= width["max"]
    fine_P = np.nan_to_num(lc.estimate_transition_matrix(data.fine, allowed=data.fine_allowed).probabilities)
    fine = lc.absorption_analysis(fine_P, data.fine_target).from_distribution(lc.entry_distribution(data.fine))
    assert np.isclose(results["time_to_target_from_entry_finer"]["mean"], fine["mean"])
    assert np.isclose(results["order_test_finer"]["statistic"], lc.order_test(data.fine).statistic)
    assert set(results["first_passage_max_gap"]) == {"stage chain", "finer chain"}
    assert results["long_run_mix"] == pytest.approx(dict(zip(data.panel.states, lc.stationary_distribution(P))))
