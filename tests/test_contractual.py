"""Contractual retention: sBG and BdW reproduce the published fits, recover simulated truth, their
intervals cover at about the nominal rate, the BdW-vs-sBG test has its size, DERL matches its
series, users' files are validated, and the fast report runs and records its numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.numdiff import approx_fprime

from crmresearch import config, parameters
from crmresearch.contractual import analyse, data, sections, simulate, value
from crmresearch.contractual.analyse import coverage_check
from crmresearch import subscriptions
from crmresearch.datasets import DataValidationError
from crmresearch.models import retention

FIXTURES = Path(__file__).parent / "data" / "contractual"
NOTEBOOK = "05_contractual_retention"
SCHEMA = "crmresearch.parameters.contractual_retention:ContractualParameters"


@pytest.fixture
def schema_registered(monkeypatch):
    """The notebook's schema in `parameters.SCHEMAS` (until the lead adds the entry for good)."""
    monkeypatch.setitem(parameters.SCHEMAS, NOTEBOOK, SCHEMA)


def _params(**kw):
    from crmresearch.parameters.contractual_retention import ContractualParameters

    return ContractualParameters(**kw)


# ------------------------------------------------------------------ published values

@pytest.mark.parametrize("cohort", ["regular", "high end"])
def test_sbg_reproduces_fader_hardie_2007(cohort):
    pub = retention.PUBLISHED_FADER_HARDIE_2007
    fit = retention.ShiftedBetaGeometric().fit(retention.rows_from_survivors(pub["survivors"][cohort]))
    expected = pub["estimates"][cohort]
    assert round(fit.params["alpha"], 3) == expected["alpha"]
    assert round(fit.params["beta"], 3) == expected["beta"]
    assert round(fit.llf, 2) == expected["loglike"]
    assert fit.nobs == 1000 and np.all(fit.bse > 0)


def test_sbg_is_bdw_with_c_one_and_scores_are_analytic():
    rows = retention.rows_from_survivors([500, 310, 220, 170, 140, 121])
    args = (rows["t"].to_numpy(), rows["churned"].to_numpy(), rows["count"].to_numpy())
    sbg, bdw = retention.SbgLikelihood(*args), retention.BdwLikelihood(*args)
    p = np.log([0.8, 1.7])
    assert sbg.loglike(p) == pytest.approx(bdw.loglike(np.r_[p, 0.0]), rel=1e-12)
    for model, point in ((sbg, p), (bdw, np.log([0.8, 1.7, 0.6]))):
        assert model.score(point) == pytest.approx(approx_fprime(point, model.loglike, centered=True), rel=1e-6, abs=1e-6)


def test_retention_rises_by_sorting_while_mean_churn_of_survivors_falls():
    theta = np.array([0.704, 1.182])
    t = np.arange(1, 30)
    r = retention.retention_rates(theta, t)
    assert r == pytest.approx((theta[1] + t - 1) / (theta.sum() + t - 1))
    assert np.all(np.diff(r) > 0)
    churn = retention.mean_churn_among_survivors(theta, t)
    assert churn == pytest.approx(theta[0] / (theta.sum() + t))
    assert np.all(np.diff(churn) < 0)


def test_sorting_figure_names_each_segments_chosen_model():
    """The sorting figure draws each segment's chosen model's projection, so its legend names the model."""
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from crmresearch.contractual import plots

    frames = []
    for segment, model, theta in (("tier A", "BdW", [0.7, 1.2, 0.8]), ("tier B", "sBG", [1.3, 3.1])):
        part = value.projection_table(np.array(theta), 6)
        part.insert(0, "model", model)
        part.insert(0, "segment", segment)
        frames.append(part)
    fig = plots.sorting_figure(SimpleNamespace(results={"projection": pd.concat(frames, ignore_index=True)},
                                               source="data"))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert labels == ["tier A: BdW", "tier B: sBG"]


# ------------------------------------------------------------------ recovery, failures

def test_sbg_and_bdw_recover_simulated_truth():
    rng = np.random.default_rng(11)
    rows = simulate.cohort_rows(1.3, 3.1, 60_000, 10, rng)
    fit = retention.ShiftedBetaGeometric().fit(rows)
    assert np.all(np.abs(fit.theta - [1.3, 3.1]) < 3 * fit.bse.to_numpy())
    rows_dd = simulate.cohort_rows(0.9, 2.0, 60_000, 12, rng, c=0.7)
    bdw = retention.BetaDiscreteWeibull().fit(rows_dd)
    assert np.all(np.abs(bdw.theta - [0.9, 2.0, 0.7]) < 3 * bdw.bse.to_numpy())
    test = retention.duration_dependence_test(retention.ShiftedBetaGeometric().fit(rows_dd), bdw)
    assert test.p_value < 1e-6 and test.c < 1


def test_fits_that_cannot_work_are_reported_not_raised():
    no_churn = pd.DataFrame({"t": [5.0], "churned": [0.0], "count": [100.0]})
    out = retention.ShiftedBetaGeometric().fit(no_churn)
    assert not out.converged and "no customer left" in out.reason
    # a small, nearly homogeneous tier: α and β run to infinity together
    rng = np.random.default_rng(3)
    rows = simulate.cohort_rows(2000.0, 40_000.0, 150, 24, rng)
    out = retention.ShiftedBetaGeometric().fit(rows)
    assert not out.converged and out.reason


def test_subscriber_tiers_are_recovered_from_the_simulated_log():
    tiers = {"top": {"share": 0.2, "alpha": 0.7, "beta": 12.0, "monthly_revenue": 300.0},
             "mass": {"share": 0.8, "alpha": 1.1, "beta": 5.0, "monthly_revenue": 20.0}}
    frame = simulate.simulate_subscribers(tiers, 60_000, 24, 48, np.random.default_rng(5), start="2018-07-01")
    log = data.load_subscriber_log(None, simulate.observation_end("2018-07-01", 48), frame=frame)
    for tier, rows in log.duration_rows().items():
        fit = retention.ShiftedBetaGeometric().fit(rows)
        truth = np.array([tiers[tier]["alpha"], tiers[tier]["beta"]])
        assert np.all(np.abs(fit.theta - truth) < 3.5 * fit.bse.to_numpy()), tier


# ------------------------------------------------------------------ value

def test_derl_closed_form_equals_its_series_and_bdw_series():
    for theta in ([0.704, 1.182], [0.668, 3.806], [2.0, 9.0]):
        renewals = np.array([0, 1, 4, 15])
        closed = retention.derl_sbg(theta, renewals, 0.1)
        assert closed == pytest.approx(retention.derl_series(theta, renewals, 0.1), rel=1e-9)
        assert retention.derl_series(np.r_[theta, 1.0], renewals, 0.1) == pytest.approx(closed, rel=1e-9)
    # DERL rises with tenure under heterogeneity; a homogeneous base has a constant DERL
    assert np.all(np.diff(retention.derl_sbg([0.704, 1.182], np.arange(10), 0.1)) > 0)
    flat = retention.derl_sbg([3e4, 7e4], np.arange(5), 0.1)          # mean churn 0.3, almost no spread
    assert flat == pytest.approx(0.7 * 1.1 / 0.4, rel=1e-3)


def test_programme_lowers_mean_churn_and_raises_value():
    theta = np.array([0.8, 4.0])
    base = value.base_by_tenure([0, 3, 3, 10], [10, 10, 20, 10], ["mass"] * 4)
    effect = value.programme_effect(theta, base, "mass", 0.25, 0.01, 1.0, 40.0)
    assert effect.mean_churn_after == pytest.approx(0.75 * effect.mean_churn_before)
    assert effect.gain > 0 and effect.customers == 4
    d = effect.as_dict()
    assert d["net_gain"] == pytest.approx(effect.gain - 4.0)
    assert d["new_customers_equivalent"] == pytest.approx(effect.gain / (effect.value_new_customer - 40.0))


def test_parametric_and_bootstrap_intervals_agree_roughly():
    rows = retention.rows_from_survivors(retention.PUBLISHED_FADER_HARDIE_2007["survivors"]["regular"])
    fit = retention.ShiftedBetaGeometric().fit(rows)
    rng = np.random.default_rng(8)
    stat = value.survival_statistic([7, 15])
    par = value.parametric_interval(fit, stat, 0.9, 4000, rng)
    boot = value.bootstrap_interval(fit, rows, stat, 0.9, 200, rng)
    assert boot.failed == 0
    assert np.all(par.lower < par.estimate) and np.all(par.estimate < par.upper)
    assert np.all(boot.lower < boot.estimate) and np.all(boot.estimate < boot.upper)
    width_ratio = (boot.upper - boot.lower) / (par.upper - par.lower)
    assert np.all((width_ratio > 0.7) & (width_ratio < 1.4))


def test_parametric_interval_covers_the_truth_at_about_the_nominal_rate():
    result = coverage_check(np.array([0.9, 2.4]), ([6], [800]), 15, 200, 0.9, 400, np.random.default_rng(21))
    assert result["replications"] == 200
    assert 0.83 <= result["coverage"] <= 0.96


def test_lr_test_of_bdw_against_sbg_has_its_size():
    size = simulate.lr_test_size(np.array([0.704, 1.182]), ([7], [1000]), 300, np.random.default_rng(12))
    assert size["failed_fits"] <= 3
    assert 0.02 <= size["rejection_rate"] <= 0.09


# ------------------------------------------------------------------ users' files

def test_cohort_table_loads_cohorts_of_different_lengths():
    table = data.load_cohort_table(FIXTURES / "cohorts.csv")
    assert list(table.survivors) == ["2019", "2020", "2021"]
    assert [len(v) for v in table.survivors.values()] == [10, 7, 4]
    fits = {k: retention.ShiftedBetaGeometric().fit(r) for k, r in table.duration_rows().items()}
    assert all(f.converged for f in fits.values())


@pytest.mark.parametrize("edit, column, expected", [
    (lambda df: df.assign(period=[0, 1, 2, 4, 5, 6, 7, 8, 9, 10]), "period", "periods 0, 1, 2"),
    (lambda df: df.assign(**{"2019": df["2019"].where(df["period"] != 3, 999)}), "2019", "never increase"),
    (lambda df: df.assign(**{"2020": df["2020"].where(df["period"] != 2)}), "2020", "blank cells only after"),
    (lambda df: df.assign(**{"2021": df["2021"].astype(object).where(df["period"] != 1, "many")}), "2021", "numeric"),
    (lambda df: df.rename(columns={"period": "year"}), "period", "a column named 'period'"),
])
def test_cohort_table_errors_name_file_column_and_rows(tmp_path, edit, column, expected):
    df = pd.read_csv(FIXTURES / "cohorts.csv")
    bad = tmp_path / "bad_cohorts.csv"
    edit(df).to_csv(bad, index=False)
    with pytest.raises(DataValidationError) as err:
        data.load_cohort_table(bad)
    assert err.value.column == column and expected in str(err.value) and str(bad) in str(err.value)


SUBSCRIBER_COLUMNS = dict(customer="subscriber_id", start="signup", end="cancelled", tier="segment", revenue="arpu")


def test_subscriber_log_loads_and_counts_calendar_months():
    log = data.load_subscriber_log(FIXTURES / "subscribers.csv", "2024-09-30", **SUBSCRIBER_COLUMNS)
    assert len(log) == 400 and set(log.frame["tier"]) == {"business", "consumer"}
    assert log.frame["periods"].min() >= 0 and (log.frame.loc[log.frame["churned"] == 1, "periods"] >= 1).all()
    assert log.active_base()["customers"].sum() == int((log.frame["churned"] == 0).sum())
    periods, churned = subscriptions.subscriber_periods(["2020-01-15", "2020-01-15", "2020-01-31"], ["2020-03-15", "2020-03-20", None],
                                               "2020-03-01")
    assert periods.tolist() == [2, 3, 1] and churned.tolist() == [1, 1, 0]


@pytest.mark.parametrize("edit, column, expected", [
    (lambda df: df.assign(cancelled=df["cancelled"].where(df.index != 0, "2021-01-01")), "cancelled", "on or after"),
    (lambda df: df.assign(signup=df["signup"].where(df.index != 2, "someday")), "signup", "a start date"),
    (lambda df: df.assign(subscriber_id=df["subscriber_id"].where(df.index != 5, "S0001")), "subscriber_id", "unique"),
    (lambda df: df.assign(arpu=df["arpu"].where(df.index != 3, -5)), "arpu", "at least 0"),
    (lambda df: df.assign(cancelled=df["cancelled"].where(df.index != 1, "2030-01-01")), "cancelled", "end of observation"),
    (lambda df: df.drop(columns="segment"), "segment", "a column named"),
])
def test_subscriber_log_errors_name_file_column_and_rows(tmp_path, edit, column, expected):
    df = pd.read_csv(FIXTURES / "subscribers.csv")
    bad = tmp_path / "bad_subscribers.csv"
    edit(df).to_csv(bad, index=False)
    with pytest.raises(DataValidationError) as err:
        data.load_subscriber_log(bad, "2024-09-30", **SUBSCRIBER_COLUMNS)
    assert err.value.column == column and expected in str(err.value) and str(bad) in str(err.value)


def test_donations_file_is_verified():
    from crmresearch import datasets

    assert datasets.verified_path("donations").name == "donations.csv"
    assert datasets.load_donations()["count"].sum() == 11104


# ------------------------------------------------------------------ parameters and sections on users' data

def test_schema_forbids_unknown_keys_and_unbounded_numbers():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        _params(discount=0.1)
    with pytest.raises(ValidationError):
        _params(discount_rate=float("inf"))
    with pytest.raises(ValidationError):
        _params(simulate={"customers": 1000, "tiers": {"a": {"share": 0.5, "alpha": 1, "beta": 2, "monthly_revenue": 3}}})
    with pytest.raises(ValidationError):
        _params(cohorts=None)


def test_sections_run_on_a_users_subscriber_log():
    params = _params(cohorts={"path": str(FIXTURES / "cohorts.csv")},
                     subscribers={"path": str(FIXTURES / "subscribers.csv"), "observation_end": "2024-09-30",
                                  "customer_column": "subscriber_id", "start_column": "signup",
                                  "end_column": "cancelled", "tier_column": "segment", "revenue_column": "arpu"},
                     discount_rate=0.01, parameter_draws=200, programme={"tier": "consumer"},
                     size_check_cohorts=20, coverage_replications=20, bootstrap_resamples=20)
    analysis = analyse(params)
    assert analysis.retention.source == "data" and analysis.valuation.kind == "tier"
    val = sections.value(analysis)
    assert val.source == "data" and val.heading is None
    table = val.results["tier_values"]
    assert set(table["tier"]) == {"business", "consumer"}
    assert np.all((table["value_lower"] < table["residual_value"]) & (table["residual_value"] < table["value_upper"]))
    prog = sections.programme(analysis)
    assert prog.results["retention_programme"]["tier"] == "consumer"


# ------------------------------------------------------------------ the report

@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("contractual_fast")
    run = run_cli("run", config.PARAMS_DIR / "contractual_retention" / "fast.yaml", "--reports-dir", out)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads((out / "contractual_retention" / "fast" / "results.json").read_text())


@pytest.mark.slow
def test_a_users_cohort_table_and_subscriber_log_run_end_to_end(tmp_path):
    """tests/data/contractual/own_data.yaml through the command line, as a user would run it."""
    import re

    import nbformat
    from conftest import run_cli

    run = run_cli("run", FIXTURES / "own_data.yaml", "--reports-dir", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    folder = tmp_path / "contractual_retention" / "own_data"
    doc = json.loads((folder / "results.json").read_text())
    src = doc["sections"]
    for name in ("sbg", "projection", "intervals", "value", "retention_programme"):
        assert src[name]["source"] == "data", (name, src[name])
    assert src["lr_test_size"]["source"] == "simulated" and src["bgbb"]["source"] == "data"
    assert {r["tier"] for r in doc["results"]["tier_values"]} == {"business", "consumer"}
    nb = nbformat.read(folder / "report.ipynb", as_version=4)
    shown = "\n".join("".join(o.get("data", {}).get(kind, "")) for c in nb.cells for o in c.get("outputs", [])
                      for kind in ("text/markdown", "text/plain"))
    assert not re.search(r"\bnan\b", shown, re.I)
    assert run_cli("publish", "--reports-dir", tmp_path).returncode == 0
    assert (tmp_path / "_site" / "contractual_retention" / "own_data" / "report.pdf").exists()


def test_a_bad_cohort_file_is_refused_before_any_kernel(tmp_path):
    from conftest import run_cli

    bad = pd.read_csv(FIXTURES / "cohorts.csv")
    bad.loc[3, "2020"] = 999            # more customers alive than a period before
    bad.to_csv(tmp_path / "cohorts.csv", index=False)
    params = tmp_path / "bad.yaml"
    params.write_text(f"notebook: 05_contractual_retention\nvariant: bad\nparameters:\n"
                      f"  cohorts: {{path: {tmp_path / 'cohorts.csv'}}}\n")
    run = run_cli("run", params, "--reports-dir", tmp_path / "reports")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "parameters.cohorts.path" in run.stderr and "2020" in run.stderr
    assert not (tmp_path / "reports" / "contractual_retention").exists()


@pytest.mark.slow
def test_fast_report_records_its_numbers_and_sources(fast_run):
    doc = fast_run
    assert doc["notebook"] == NOTEBOOK and doc["variant"] == "fast" and doc["finding"]
    res, src = doc["results"], doc["sections"]
    fit = {(r["segment"], r["parameter"]): r["estimate"] for r in res["sbg_parameters"]}
    assert round(fit[("regular", "alpha")], 3) == 0.704 and round(fit[("high end", "beta")], 3) == 3.806
    assert src["sbg"]["source"] == "published" and src["bgbb"]["source"] == "published"
    for name in ("value", "retention_programme", "lr_test_size", "coverage"):
        assert src[name]["source"] == "simulated"
    assert round(res["bgbb_fit"]["params"]["delta"], 3) == 2.783
    assert res["revenue_concentration"]["top_share"] > 0.7
    # every figure's numbers are in results.json
    for key in ("projection", "tier_values", "programme_derl", "bgbb_histogram"):
        assert res[key]
    proj = pd.DataFrame(res["projection"])
    regular = proj[proj["segment"] == "regular"]
    assert np.all(np.diff(regular["retention"].dropna()) > 0)
