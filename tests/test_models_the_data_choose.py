"""The contractual report on a user's own data: every model runs on the user's data only, the model
the data choose (BdW when the duration test rejects the sBG) projects and values each segment, the
simulation checks use the user's design, and a user's discrete-time panel reaches the BG/BB.

Cohort tables and panels here are simulated with known truth and unlike the shipped sets: churn that
rises with tenure in one cohort (c > 1) and falls in another (c < 1), ten periods, ids with leading
zeros.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from crmresearch import datasets, parameters
from crmresearch.contractual import analyse, sections, simulate
from crmresearch.models.retention import derl

TRUTH = {"rising": (1.2, 4.0, 1.6), "falling": (0.8, 2.0, 0.5), "constant": (1.0, 3.0, 1.0)}
PERIODS = 10
COHORT = 6000


def _params(**values):
    base = dict(parameter_draws=400, bootstrap_resamples=20, size_check_cohorts=20, coverage_replications=20,
                projection_periods=6, discount_rate=0.05)
    return parameters.schema_for("05_contractual_retention")(**{**base, **values})


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory):
    rng = np.random.default_rng(20261207)
    table = {"period": np.arange(PERIODS + 1)}
    for name, (a, b, c) in TRUTH.items():
        table[name] = simulate.simulate_cohort(a, b, COHORT, PERIODS, rng, c=c)
    path = tmp_path_factory.mktemp("cohorts") / "my_cohorts.csv"
    pd.DataFrame(table).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def analysis(cohort_file):
    return analyse(_params(cohorts={"path": str(cohort_file)}, programme={"tier": "rising"}))


def test_the_duration_test_chooses_the_model_that_generated_each_cohort(analysis):
    choice = {k: c.model for k, c in analysis.choice.items()}
    assert choice == {"rising": "BdW", "falling": "BdW", "constant": "sBG"}
    tests = analysis.duration_tests.set_index("segment")
    assert tests.loc["rising", "c"] > 1.2 and tests.loc["falling", "c"] < 0.75


def test_projection_and_value_use_the_chosen_model_and_cover_the_truth(analysis):
    assert {k: f.name for k, f in analysis.value_fits.items()} == {"rising": "BdW", "falling": "BdW", "constant": "sBG"}
    assert set(analysis.projection.groupby("segment")["model"].first()) == {"BdW", "sBG"}
    table = analysis.tier_values.table.set_index("tier")
    for name, theta in TRUTH.items():
        row = analysis.valuation.base.set_index("tier").loc[name]
        truth = float(row["revenue"] * np.ravel(derl(np.array(theta if theta[2] != 1 else theta[:2]),
                                                     [row["renewals"]], 0.05))[0])
        assert table.loc[name, "value_lower"] <= truth <= table.loc[name, "value_upper"], (name, truth)


def test_the_sbg_alone_would_have_missed_the_truth_for_rising_churn(analysis):
    """Why the choice matters: the sBG's value for the cohort whose churn rises excludes the truth."""
    sbg = analysis.fits["rising"]
    row = analysis.valuation.base.set_index("tier").loc["rising"]
    truth = float(row["revenue"] * np.ravel(derl(np.array(TRUTH["rising"]), [row["renewals"]], 0.05))[0])
    sbg_value = float(row["revenue"] * np.ravel(derl(sbg.theta, [row["renewals"]], 0.05))[0])
    assert abs(sbg_value / truth - 1) > 0.1


def test_sentences_follow_the_test(analysis):
    projection = sections.projection(analysis)
    duration = sections.duration(analysis)
    assert "no evidence that loyalty grows" not in projection.text
    assert "**rising** is projected by the BdW" in projection.text
    assert "**constant** is projected by the sBG" in projection.text
    assert duration.text.count("so the BdW projects and values") == 2
    finding = sections.finding(projection, sections.value(analysis))
    assert "the last observed" in finding and "BdW" in finding


def test_checks_simulate_the_users_design(analysis):
    size, coverage = analysis.lr_test_size, analysis.coverage
    assert size["cohort_size"] == COHORT and size["periods"] == PERIODS
    assert coverage["cohort_size"] == COHORT and coverage["periods"] == PERIODS
    assert coverage["horizon"] == PERIODS + 6


def test_design_rows_censor_each_customer_at_their_own_window():
    rows = simulate.design_rows(1.0, 3.0, ([3, 30], [5000, 5000]), np.random.default_rng(3))
    censored = rows[rows["churned"] == 0]
    assert set(censored["t"]) == {3.0, 30.0}
    assert rows["count"].sum() == 10_000 and rows["t"].max() == 30


def test_a_users_log_is_never_mixed_with_the_published_cohorts(tmp_path):
    with pytest.raises(ValidationError, match="without the published 'cohorts'"):
        _params(cohorts={"dataset": "fader_hardie_2007"},
                subscribers={"path": str(tmp_path / "log.csv"), "observation_end": "2024-01-01"})
    params = _params(subscribers={"path": str(tmp_path / "log.csv"), "observation_end": "2024-01-01"})
    assert params.cohorts is None and params.discrete is None


# ------------------------------------------------------------------ discrete-time panels

def _panel(tmp_path, rng, customers=400):
    n = rng.integers(4, 9, customers)
    ids = np.char.zfill(np.arange(customers).astype(str), 5)
    t = np.arange(1, 9)
    mask = t[None, :] <= n[:, None]
    bought = (rng.random((customers, 8)) < 0.4) & mask
    df = pd.DataFrame({"id": np.repeat(ids, mask.sum(1)), "t": np.tile(t, (customers, 1))[mask],
                       "bought": bought[mask].astype(int)})
    path = tmp_path / "panel.csv"
    df.sample(frac=1, random_state=1).to_csv(path, index=False)        # rows in any order
    return path, df


def test_panel_and_summary_layouts_give_the_same_rows(tmp_path):
    path, df = _panel(tmp_path, np.random.default_rng(8))
    rows = datasets.read_discrete_panel(path, "panel", "id", period="t", purchase="bought")
    per = df.groupby("id").agg(frequency=("bought", "sum"), periods=("t", "max"))
    per["recency"] = df[df["bought"] == 1].groupby("id")["t"].max().reindex(per.index).fillna(0)
    per.reset_index().to_csv(tmp_path / "summary.csv", index=False)
    summary = datasets.read_discrete_panel(tmp_path / "summary.csv", "summary", "id")
    pd.testing.assert_frame_equal(rows, summary)
    assert rows["count"].sum() == 400                       # ids 00001 and 1 would have merged as numbers


@pytest.mark.parametrize("edit, column, expected", [
    (lambda d: d.assign(bought=d["bought"].replace(1, 2)), "bought", "between 0 and 1"),
    (lambda d: pd.concat([d, d.iloc[:1]]), "t", "one row per id and t"),
    (lambda d: d[d["t"] != 2], "t", "without gaps"),
    (lambda d: d.assign(bought=0), "bought", "at least one customer with a transaction"),
])
def test_a_bad_panel_is_refused_with_one_line(tmp_path, edit, column, expected):
    path, df = _panel(tmp_path, np.random.default_rng(9))
    edit(df).to_csv(path, index=False)
    with pytest.raises(datasets.DataValidationError) as err:
        datasets.read_discrete_panel(path, "panel", "id", period="t", purchase="bought")
    assert err.value.column == column and expected in str(err.value) and "\n" not in str(err.value)


def test_a_bad_summary_is_refused_with_one_line(tmp_path):
    pd.DataFrame({"customer": ["a", "b"] * 6, "frequency": [3, 1] * 6, "recency": [2, 1] * 6,
                  "periods": [6, 6] * 6}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(datasets.DataValidationError, match="at most 'recency' transactions"):
        datasets.read_discrete_panel(tmp_path / "s.csv")


def test_the_bgbb_runs_on_a_users_panel_in_the_contractual_report():
    """tests/data/contractual/discrete_panel.csv: 1,500 customers (ids 000001...) with 5 to 8 yearly
    chances, drawn from a BG/BB with α = 0.9, β = 1.6, γ = 0.6, δ = 3.5."""
    params = _params(cohorts={"dataset": "fader_hardie_2007"},
                     discrete={"path": "tests/data/contractual/discrete_panel.csv", "layout": "panel",
                               "customer_column": "donor", "period_column": "year", "purchase_column": "gave"})
    section = sections.donations(analyse(params))
    assert section.source == "data" and section.results["bgbb_fit"]["published"] is None
    assert section.results["bgbb_fit"]["donors"] == 1500 and "donors" not in section.text
    table = section.results["bgbb_parameters"].set_index("parameter")
    truth = {"alpha": 0.9, "beta": 1.6, "gamma": 0.6, "delta": 3.5}
    assert all(table.loc[k, "ci_lower"] <= v <= table.loc[k, "ci_upper"] for k, v in truth.items())


def test_a_panel_without_dropout_is_reported_as_a_failed_fit_not_raised(tmp_path):
    path, _ = _panel(tmp_path, np.random.default_rng(10), customers=1200)
    params = _params(cohorts={"dataset": "fader_hardie_2007"},
                     discrete={"path": str(path), "layout": "panel", "customer_column": "id", "period_column": "t",
                               "purchase_column": "bought"})
    section = sections.donations(analyse(params))
    assert section.source in ("failed", "data")


# ------------------------------------------------------------------ ids are text

def test_ids_keep_their_leading_zeros_and_every_digit(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"customer_id": ["007", "7", "0007", "12345678901234567890", "12345678901234567891"],
                  "date": ["2024-01-01"] * 5, "amount": [1.0] * 5}).to_csv(path, index=False)
    log = datasets.load_transactions(path, "customer_id", "date", "amount")
    assert log["customer_id"].nunique() == 5
    assert set(log["customer_id"]) >= {"007", "7", "0007", "12345678901234567890"}


def test_the_bgbb_runs_on_a_users_panel_in_the_clv_report():
    from crmresearch.clv import analyse as clv_analyse
    from crmresearch.clv import sections as clv_sections

    params = parameters.schema_for("03_customer_lifetime_value")(
        discrete={"path": "tests/data/contractual/discrete_panel.csv", "layout": "panel", "customer_column": "donor",
                  "period_column": "year", "purchase_column": "gave"}, bootstrap_resamples=20, parameter_draws=100)
    analysis = clv_analyse(params)
    fit = clv_sections.fit_bgbb(analysis)
    assert fit.source == "data" and fit.computed
    assert analysis.fits["BG/BB"].params["alpha"] == pytest.approx(0.9, rel=0.5)
    assert clv_sections.dwyer_retention(analysis).source == "not_computed"
    assert "discrete_panel.csv" in clv_sections.rfm(analysis).text or clv_sections.rfm(analysis).computed
