"""The CLV report's key figures, as written to results.json by the notebook on its fast
parameters, equal a direct computation with the package (the notebook adds no logic).

The report is not executed here: the tests read the fast report of the session's shared run
(`published_overview` in conftest.py, every fast variant run once). The donations variant is a
run of its own and goes to `make test-all`; its published values are also checked without a
kernel in tests/test_clv_intervals.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import crmresearch as crm
from crmresearch import clv, config, parameters
from crmresearch.clv.fits import fit_all, slug
from crmresearch.clv.predictions import tracking_table

NOTEBOOK = "03_customer_lifetime_value"


@pytest.fixture(scope="module")
def fast_run(published_overview):
    """The fast report's results.json from the shared run, with the parameters it was run with."""
    pf = parameters.load_parameter_file(config.PARAMS_DIR / "customer_lifetime_value" / "fast.yaml")
    doc = json.loads((published_overview / "customer_lifetime_value" / "fast" / "results.json").read_text())
    return pf.validated, doc["results"], doc


@pytest.fixture(scope="module")
def direct(fast_run):
    params, _ = clv.data.with_windows(fast_run[0])       # the published 39 + 39 weeks the report resolved
    log = params.transactions.load()
    summary = clv.rfm_summary(log, params.calibration_end, params.holdout_end)
    fits = fit_all(summary, params.fit_pareto_nbd)
    return params, log, summary, fits


def test_results_file_is_complete(fast_run):
    _, results, doc = fast_run
    assert doc["notebook"] == NOTEBOOK and doc["variant"] == "fast" and doc["finding"]
    for key in ("dwyer_table", "dwyer_uplift", "parameters", "tracking_errors", "clv_total", "concentration", "tiers",
                "value_intervals", "frequency_histogram_band", "conditional_band", "p_alive_history",
                "heterogeneity_r_alpha", "heterogeneity_a_b"):
        assert key in results


def test_every_section_names_the_source_of_its_numbers(fast_run):
    _, _, doc = fast_run
    sections = doc["sections"]
    for name in ("dwyer_retention", "dwyer_uplift", "dwyer_migration"):
        assert sections[name]["source"] == "data"           # measured on the log (the worked example: dwyer_example)
    for name in ("rfm", "fit_bgnbd", "fit_paretonbd", "fit_gamma_gamma", "models", "tracking", "holdout",
                 "spend_check", "clv", "concentration", "tiers", "quadrant", "heterogeneity", "p_alive_history",
                 "value_intervals"):
        assert sections[name]["source"] == "data", name
    assert sections["fit_bgbb"]["source"] == "not_computed" and "discrete" in sections["fit_bgbb"]["note"]
    assert sections["rfm"]["rows_used"] == 2357 and sections["fit_gamma_gamma"]["rows_used"] == 946
    assert doc["results"]["reference_comparison"]["all_within_rounding"]


def test_cohort_and_fits_match_direct_computation(fast_run, direct):
    _, results, _ = fast_run
    _, _, summary, fits = direct
    assert results["customers"] == len(summary) == 2357
    assert results["repeat_buyers"] == 946
    for name, fit in fits.items():
        stored = results[f"fit_{slug(name)}"]
        for p, v in fit.params.items():
            assert stored["params"][p] == pytest.approx(v, rel=1e-9)
        assert stored["loglike"] == pytest.approx(fit.llf, rel=1e-12)
    bg = results["fit_bgnbd"]["params"]
    assert (round(bg["r"], 3), round(bg["alpha"], 3), round(bg["a"], 3), round(bg["b"], 3)) == (0.243, 4.414, 0.793, 2.426)


def test_tracking_forecast_matches_direct_computation(fast_run, direct):
    _, results, _ = fast_run
    params, log, summary, fits = direct
    tracking = tracking_table(log, summary, fits, params.cohort_start, params.holdout_end)
    errors = {row["model"]: row for row in results["tracking_errors"]}
    assert errors["BG/NBD"]["actual"] == 4339
    assert errors["BG/NBD"]["forecast"] == pytest.approx(tracking["BG/NBD cumulative"].iloc[-1], rel=1e-9)
    trial = clv.rfm.first_purchase_periods(summary, params.cohort_start)
    direct_78 = fits["BG/NBD"].expected_cumulative_repeat(trial, [(7 * 78 - 1) / 7])[0]
    assert errors["BG/NBD"]["forecast"] == pytest.approx(direct_78, rel=1e-9)


def test_clv_dwyer_and_concentration_match_direct_computation(fast_run, direct):
    _, results, _ = fast_run
    params, log, summary, fits = direct
    _, total = clv.customer_lifetime_value(fits["BG/NBD"], fits["Gamma-Gamma"], summary, params.clv_horizon_weeks,
                                           params.clv_step_weeks, params.annual_discount_rate, margin=params.margin)
    assert results["clv_total"]["total"] == pytest.approx(total["total"], rel=1e-9)
    assert results["clv_total"]["se"] == pytest.approx(total["se"], rel=1e-6)
    d = clv.dwyer.observed_scenario(log, "1997-01-01", "1998-06-30", params.margin, params.annual_discount_rate,
                                    0.05, 5.0)
    uplift = clv.retention_uplift(d.cohort_size, d.retention_rates, d.revenue_per_customer, d.cost_per_customer,
                                  d.discount_rate, d.acquisition_cost, d.retention_uplift)
    assert results["dwyer_uplift"]["npv_change_pct"] == pytest.approx(uplift["npv_change_pct"], rel=1e-12)
    # CDNOW's 2,357 first-quarter buyers, and those who bought in every quarter since (counted directly)
    quarter = ((log["date"] - pd.Timestamp("1997-01-01")).dt.days // (365.25 / 4)).astype(int)
    active = pd.crosstab(log["customer_id"], quarter).loc[:, :4] > 0
    chain = active.cumprod(axis=1).sum().to_numpy()
    assert [row["customers"] for row in results["dwyer_table"]] == pytest.approx(chain.tolist())
    assert chain[0] == 2357
    revenue = log[log["date"] <= np.datetime64(params.holdout_end)].groupby("customer_id")["amount"].sum()
    assert results["concentration"]["top_share_revenue"] == pytest.approx(crm.stats.top_share(revenue, 0.2), rel=1e-9)


def test_value_intervals_bracket_the_clv_estimates(fast_run):
    _, results, _ = fast_run
    totals = {row["quantity"]: row for row in results["value_intervals"]["totals"]}
    clv_row = totals["cohort CLV (total)"]
    assert clv_row["estimate"] == pytest.approx(results["clv_total"]["total"], rel=1e-10)
    for route in ("parametric", "bootstrap"):
        assert clv_row[f"{route} 95% lower"] < clv_row["estimate"] < clv_row[f"{route} 95% upper"]
    assert results["value_intervals"]["bootstrap_dropped"] == 0
    band = results["frequency_histogram_band"]
    assert [row["expected"] for row in band] == pytest.approx([row["BG/NBD"] for row in results["frequency_histogram"]])


@pytest.mark.slow
def test_donations_variant_reproduces_fader_hardie_shang(tmp_path):
    """End to end, a variant of its own (make test-all)."""
    import papermill as pm

    pf = parameters.load_parameter_file(config.PARAMS_DIR / "customer_lifetime_value" / "donations.yaml")
    pm.execute_notebook(str(pf.notebook_path), str(tmp_path / "report.ipynb"), parameters=pf.papermill_parameters(tmp_path),
                        kernel_name=config.KERNEL_NAME, cwd=str(tmp_path), progress_bar=False)
    doc = json.loads((tmp_path / "results.json").read_text())
    results, sections = doc["results"], doc["sections"]
    bb = results["fit_bgbb"]["params"]
    assert [round(bb[k], 3) for k in ("alpha", "beta", "gamma", "delta")] == [1.204, 0.750, 0.657, 2.783]
    assert round(results["fit_bgbb"]["loglike"], 1) == -33225.6
    assert results["reference_comparison"]["all_within_rounding"]
    for name in ("fit_bgnbd", "fit_paretonbd", "fit_gamma_gamma", "tracking", "holdout", "spend_check", "clv",
                 "concentration", "tiers", "quadrant"):
        assert sections[name]["source"] == "not_computed", name
    for name in ("rfm", "fit_bgbb", "models", "heterogeneity", "frequency_histogram", "p_alive_history", "value_intervals"):
        assert sections[name]["source"] == "data", name
    assert results["bgbb_totals"]["customers"] == 11104 and "BG/BB" in doc["finding"]
