"""Proof of the CLV module: published CDNOW values, parameter recovery, interval coverage,
predictions against Monte Carlo, and Dwyer's tables checked by hand.

Every random draw comes from a seeded numpy Generator; the file runs in about 30 s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.numdiff import approx_fprime

import crmresearch as crm
from crmresearch import clv
from crmresearch.clv import predictions
from crmresearch.models import base, bgnbd, gammagamma, paretonbd
from crmresearch.models.bgnbd import BetaGeoNBD
from crmresearch.models.gammagamma import GammaGamma
from crmresearch.models.paretonbd import ParetoNBD

BGNBD_CDNOW = (0.243, 4.414, 0.793, 2.426)
PARETO_CDNOW = (0.553, 10.578, 0.606, 11.669)
GG_CDNOW = (6.25, 3.74, 15.44)


@pytest.fixture(scope="module")
def cdnow_summary():
    return clv.rfm_summary(crm.datasets.load_cdnow("sample"), "1997-09-30", "1998-06-30")


@pytest.fixture(scope="module")
def cdnow_fits(cdnow_summary):
    s = cdnow_summary
    return {"bg": BetaGeoNBD().fit(frequency=s["frequency"], recency=s["recency"], T=s["T"]),
            "pareto": ParetoNBD().fit(frequency=s["frequency"], recency=s["recency"], T=s["T"]),
            "gg": GammaGamma().fit(frequency=s["frequency"], monetary_value=s["monetary_value"])}


def cohort_T(rng, n, weeks=39.0, acquisition_days=84):
    """Observation times of a cohort acquired over 12 weeks, as in CDNOW (daily resolution)."""
    return weeks - rng.integers(0, acquisition_days, n) / 7


# ------------------------------------------------------------------ RFM summary

def test_rfm_summary_merges_same_day_and_splits_calibration_by_hand():
    log = pd.DataFrame({
        "customer_id": ["A", "A", "A", "A", "A", "B", "C", "C"],
        "date": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-01-08", "2020-01-15", "2020-02-05",
                                "2020-01-05", "2020-01-10", "2020-02-20"]),
        "amount": [10.0, 5.0, 20.0, 30.0, 7.0, 12.0, 3.0, 4.0],
    })
    s = clv.rfm_summary(log, "2020-01-29", "2020-02-26")
    a = s.loc["A"]
    assert a["frequency"] == 2                       # Jan 8 and Jan 15; the two Jan 1 rows are one trial
    assert a["recency"] == pytest.approx(14 / 7)
    assert a["T"] == pytest.approx(28 / 7)
    assert a["monetary_value"] == pytest.approx(25.0)  # mean of repeat spend 20, 30
    assert a["first_spend"] == pytest.approx(15.0)
    assert a["frequency_holdout"] == 1 and a["monetary_holdout"] == pytest.approx(7.0)
    b = s.loc["B"]
    assert b["frequency"] == 0 and b["recency"] == 0 and np.isnan(b["monetary_value"])
    assert s.loc["C", "frequency_holdout"] == 1
    assert s["duration_holdout"].iloc[0] == pytest.approx(4.0)


def test_rfm_summary_excludes_customers_who_start_after_calibration():
    log = pd.DataFrame({"customer_id": ["A", "Z"], "date": pd.to_datetime(["2020-01-01", "2020-03-01"]),
                        "amount": [1.0, 1.0]})
    assert list(clv.rfm_summary(log, "2020-01-31").index) == ["A"]


def test_cdnow_sample_summary_matches_fader_hardie_lee(cdnow_summary):
    s = cdnow_summary
    assert len(s) == 2357
    assert (s["frequency"] > 0).sum() == 946
    assert s["frequency"].sum() == 2457
    # A customer whose trial was 1997-01-01 is observed for 272 days = 38.86 weeks.
    assert s["T"].max() == pytest.approx(272 / 7)


def test_cdnow_tracking_counts_4339_repeat_transactions_in_78_weeks():
    weekly = clv.repeat_transactions_by_period(crm.datasets.load_cdnow("sample"), "1997-01-01", "1998-06-30")
    assert len(weekly) == 78
    assert weekly["cumulative"].iloc[-1] == 4339
    assert weekly["cumulative"].iloc[38] == 2457      # end of week 39 = end of calibration


# ------------------------------------------------------------------ published CDNOW values

def test_bgnbd_reproduces_published_cdnow_fit(cdnow_fits):
    fit = cdnow_fits["bg"]
    assert tuple(fit.params.round(3)) == BGNBD_CDNOW
    assert round(fit.llf, 1) == -9582.4
    assert fit.nobs == 2357
    assert fit.aic == pytest.approx(-2 * fit.llf + 8)
    assert fit.sm_results.aic == pytest.approx(fit.aic)


def test_pareto_nbd_reproduces_published_cdnow_fit(cdnow_fits):
    fit = cdnow_fits["pareto"]
    assert tuple(fit.params.round(3)) == PARETO_CDNOW
    assert round(fit.llf, 1) == -9595.0


def test_gamma_gamma_reproduces_published_cdnow_fit(cdnow_fits):
    fit = cdnow_fits["gg"]
    assert tuple(fit.params.round(2)) == GG_CDNOW
    assert fit.nobs == 946


def test_pareto_quadrature_equals_hypergeometric_closed_form(cdnow_summary):
    s = cdnow_summary
    model = paretonbd.ParetoNbdLikelihood(s["frequency"], s["recency"], s["T"])
    for theta in (PARETO_CDNOW, (1.2, 3.0, 0.4, 25.0), (0.3, 20.0, 2.0, 5.0)):
        quadrature = model.loglike(np.log(theta))
        closed = paretonbd.pareto_nbd_loglike_closed_form(theta, s["frequency"], s["recency"], s["T"]).sum()
        assert quadrature == pytest.approx(closed, rel=1e-10)


@pytest.mark.parametrize("build, theta", [
    (lambda s: bgnbd.BgNbdLikelihood(s["frequency"], s["recency"], s["T"]), (0.5, 3.0, 1.3, 0.9)),
    (lambda s: paretonbd.ParetoNbdLikelihood(s["frequency"], s["recency"], s["T"]), (0.7, 8.0, 0.9, 14.0)),
    (lambda s: gammagamma.GammaGammaLikelihood(s["frequency"], s["monetary_value"]), (4.0, 2.5, 20.0)),
])
def test_analytic_score_matches_numerical_gradient(cdnow_summary, build, theta):
    model = build(cdnow_summary)
    params = np.log(theta)
    numerical = approx_fprime(params, model.loglike, centered=True)
    np.testing.assert_allclose(model.score(params), numerical, rtol=1e-5, atol=1e-4)
    assert model.loglikeobs(params).sum() == pytest.approx(model.loglike(params))


def test_failed_fits_are_returned_with_what_was_tried_not_raised():
    from crmresearch.clv.fits import fit_all
    from crmresearch.clv.sections import model_section

    n = 300
    failed = BetaGeoNBD().fit(frequency=np.zeros(n), recency=np.zeros(n), T=np.full(n, 39.0))
    assert not failed.converged and "no customer made a repeat purchase" in failed.failure
    assert failed.params.isna().all() and list(failed.params.index) == ["r", "alpha", "a", "b"]
    failed = GammaGamma().fit(frequency=np.zeros(n), monetary_value=np.zeros(n))
    assert isinstance(failed, base.FailedFit) and "no customer made a repeat purchase" in failed.reason
    summary = pd.DataFrame({"frequency": np.zeros(n, int), "recency": np.zeros(n), "T": np.full(n, 39.0),
                            "monetary_value": np.full(n, np.nan)})
    fits = fit_all(summary)
    assert len(fits) == 0 and set(fits.failed) == {"BG/NBD", "Pareto/NBD", "Gamma-Gamma"}
    section = model_section("BG/NBD", fits, "data")
    assert section.source == "failed" and section.results["fit_bgnbd"]["failed"]


def test_pareto_nbd_at_its_boundary_fails_after_every_start_and_bgnbd_fits():
    """Nearly homogeneous dropout: s and beta run towards infinity from every starting point."""
    from crmresearch.clv.fits import fit_all

    log = clv.simulate.simulate_transaction_log((0.8, 6, 5, 20), (6.0, 4.0, 15.0), 800, "2023-01-01", 60,
                                                "2024-06-30", np.random.default_rng(1))
    summary = clv.rfm_summary(log, pd.Timestamp("2023-12-31").date(), pd.Timestamp("2024-06-30").date())
    fits = fit_all(summary)
    assert list(fits) == ["BG/NBD", "Gamma-Gamma"] and list(fits.failed) == ["Pareto/NBD"]
    failure = fits.failed["Pareto/NBD"]
    assert len(failure.starts) == len(base.START_OFFSETS) and "s and beta drifted" in failure.reason
    assert fits.purchase_model.name == "BG/NBD"


def test_start_points_begin_with_the_default_and_are_deterministic():

    points = base.start_points(np.array([1.0, 10.0, 2.0]))
    assert np.allclose(np.exp(points[0]), [1.0, 10.0, 2.0]) and len(points) == len(base.START_OFFSETS)
    assert np.allclose(np.exp(points[3]), [np.e, 10.0 / np.e, 2.0 * np.e])
    assert all(np.array_equal(a, b) for a, b in zip(points, base.start_points(np.array([1.0, 10.0, 2.0]))))


def test_large_data_start_from_a_sample_fit_and_reach_the_same_maximum(monkeypatch):
    """Above `config.SAMPLE_START_ROWS` unique rows a fit starts from its estimate on a spread sample of
    the rows; it converges from there (first start) to the maximum the default start reaches."""
    from crmresearch import config

    rng = np.random.default_rng(21)
    d = clv.simulate_bgnbd((0.8, 6.0, 1.5, 4.0), cohort_T(rng, 20_000), rng=rng)
    spend = clv.simulate_gamma_gamma(GG_CDNOW, rng.integers(1, 8, 5_000), rng)
    plain_bg = BetaGeoNBD().fit(frequency=d["frequency"], recency=d["recency"], T=d["T"])
    plain_gg = GammaGamma().fit(frequency=spend["frequency"], monetary_value=spend["monetary_value"])
    monkeypatch.setattr(config, "SAMPLE_START_ROWS", 1_000)
    monkeypatch.setattr(config, "SAMPLE_START_SIZE", 500)
    model = bgnbd.BgNbdLikelihood(d["frequency"], d["recency"], d["T"])
    start, hessian = base.sample_start(model, "BG/NBD")
    assert not np.allclose(start, plain_bg.theta, rtol=1e-3)                          # a start, not the answer
    settled = base.settle(model, start, hessian)
    np.testing.assert_allclose(settled, plain_bg.theta, rtol=1e-8)                     # reached with the guess alone
    sampled_bg = BetaGeoNBD().fit(frequency=d["frequency"], recency=d["recency"], T=d["T"])
    sampled_gg = GammaGamma().fit(frequency=spend["frequency"], monetary_value=spend["monetary_value"])
    for plain, sampled in ((plain_bg, sampled_bg), (plain_gg, sampled_gg)):
        assert sampled.converged and sampled.starts_tried == 1
        np.testing.assert_allclose(sampled.theta, plain.theta, rtol=1e-7)
        assert abs(sampled.llf - plain.llf) < 1e-6
    failed = base.FailedFit("BG/NBD", "x", [[1.0]] * 8, 10, from_sample=True)
    assert failed.tried.startswith("8 starting points (the estimate on a sample of the rows, then the default")


def test_model_table_intervals_follow_the_confidence_level(cdnow_fits):
    fit = cdnow_fits["bg"]
    wide, narrow = fit.table(confidence=0.99), fit.table(confidence=0.80)
    assert np.all(wide["ci_lower"] < narrow["ci_lower"]) and np.all(wide["ci_upper"] > narrow["ci_upper"])
    log_se = np.sqrt(np.diag(fit.log_cov))
    np.testing.assert_allclose(narrow["ci_upper"], fit.params.to_numpy() * np.exp(1.2815516 * log_se), rtol=1e-6)


# ------------------------------------------------------------------ sentences follow their numbers

def test_published_rounding_sentence_only_when_every_gap_is_within_rounding(cdnow_fits):
    from crmresearch.clv import PUBLISHED_CDNOW
    from crmresearch.clv.fits import reference_comparison
    from crmresearch.clv.text import parameter_text

    fits = {"BG/NBD": cdnow_fits["bg"]}
    close = reference_comparison(fits, PUBLISHED_CDNOW)
    assert close["all_within_rounding"]
    assert "rounding of the published figures" in parameter_text(fits, close, "published")
    shifted = {"BG/NBD": {**PUBLISHED_CDNOW["BG/NBD"], "r": 0.25}}
    far = reference_comparison(fits, shifted)
    text = parameter_text(fits, far, "published")
    assert not far["all_within_rounding"] and "are the rounding" not in text and "not every difference" in text


def _concentration(top_fraction=0.2, top_share_profit=0.8, cost_per_customer=4.0):
    return {"top_fraction": top_fraction, "top_share_revenue": 0.6, "gini_revenue": 0.6,
            "top_share_profit": top_share_profit, "peak_profit_share": max(1.02, top_share_profit),
            "peak_population_share": 0.7, "unprofitable_share": 0.3, "cost_per_order": 2.0,
            "cost_per_customer": cost_per_customer}


def test_concentration_sentence_follows_top_fraction_and_profit_share():
    from crmresearch.clv.text import concentration_text

    twenty = concentration_text(_concentration(0.2), 9.25)
    ten = concentration_text(_concentration(0.1), 9.25)
    assert "top 20%" in twenty and "top 20%" not in ten and "top 10%" in ten
    assert "does not hold" in twenty and "once the fixed cost per customer reaches **9.25**" in twenty
    holds = concentration_text(_concentration(0.2, top_share_profit=1.1, cost_per_customer=12.0), 9.25)
    assert "holds here" in holds and "does not hold" not in holds


def test_uplift_sentence_follows_the_retention_rise_and_its_result():
    from crmresearch.clv.dwyer import dwyer_tables
    from crmresearch.clv.text import uplift_text
    from crmresearch.parameters.customer_lifetime_value import DwyerScenario

    five = dwyer_tables(DwyerScenario())["uplift"]
    ten = dwyer_tables(DwyerScenario(retention_uplift=0.10))["uplift"]
    assert "by 5 points" in uplift_text(five) and "by 10 points" in uplift_text(ten)
    assert "Five" not in uplift_text(five)
    assert ("below" if five["npv_change_pct"] < 25 else "inside") in uplift_text(five)
    assert ten["npv_change_pct"] > five["npv_change_pct"]


def test_weeks_are_written_from_the_dates():
    from datetime import date

    from crmresearch.clv.data import ClvData
    from crmresearch.clv.text import weeks_text

    data = ClvData(None, None, None, None, "data", date(2023, 1, 1), date(2023, 12, 31), date(2024, 6, 30))
    assert weeks_text(data.window_weeks) == "78.1" and weeks_text(data.holdout_weeks) == "26"
    cdnow = ClvData(None, None, None, None, "data", date(1997, 1, 1), date(1997, 9, 30), date(1998, 6, 30))
    assert weeks_text(cdnow.calibration_weeks) == "39" and weeks_text(cdnow.window_weeks) == "78"


# ------------------------------------------------------------------ recovery and coverage

def test_bgnbd_recovers_parameters_and_wald_intervals_cover():
    """200 samples of 2,000 customers: the 95% log-scale Wald intervals cover the true values.

    Measured coverage (seed 11): r 0.96, α 0.95, a 0.975, b 0.975; mean z within ±0.07;
    the tolerance ±0.04 is about 2.6 binomial standard errors at n = 200.
    """
    rng = np.random.default_rng(11)
    z = []
    for _ in range(200):   # each fit is ~15 ms; a loop over replications, not over customers
        d = clv.simulate_bgnbd(BGNBD_CDNOW, cohort_T(rng, 2000), rng=rng)
        fit = BetaGeoNBD().fit(frequency=d["frequency"], recency=d["recency"], T=d["T"])
        z.append((np.log(fit.theta) - np.log(BGNBD_CDNOW)) / np.sqrt(np.diag(fit.log_cov)))
    coverage = (np.abs(np.array(z)) < 1.959964).mean(axis=0)
    assert np.all(np.abs(coverage - 0.95) < 0.04), f"coverage {coverage}"
    assert np.all(np.abs(np.mean(z, axis=0)) < 0.25), f"mean z {np.mean(z, axis=0)}"


def test_bgnbd_recovers_parameters_on_a_large_sample():
    rng = np.random.default_rng(12)
    d = clv.simulate_bgnbd((0.8, 6.0, 1.5, 4.0), cohort_T(rng, 50_000), rng=rng)
    fit = BetaGeoNBD().fit(frequency=d["frequency"], recency=d["recency"], T=d["T"])
    zscores = (np.log(fit.theta) - np.log((0.8, 6.0, 1.5, 4.0))) / np.sqrt(np.diag(fit.log_cov))
    assert np.all(np.abs(zscores) < 3.5), zscores


def test_pareto_nbd_recovers_parameters():
    """20 samples of 3,000 customers; every z-score within ±3.5 and 95% coverage ≥ 0.8 per parameter.

    Measured (seed 13): coverage 0.95 for each of r, α, s, β; largest |z| 2.25.
    """
    rng = np.random.default_rng(13)
    z = []
    for _ in range(20):
        d = clv.simulate_pareto_nbd(PARETO_CDNOW, cohort_T(rng, 3000), rng=rng)
        fit = ParetoNBD().fit(frequency=d["frequency"], recency=d["recency"], T=d["T"])
        z.append((np.log(fit.theta) - np.log(PARETO_CDNOW)) / np.sqrt(np.diag(fit.log_cov)))
    z = np.array(z)
    assert np.all(np.abs(z) < 3.5), z
    assert np.all((np.abs(z) < 1.959964).mean(axis=0) >= 0.8)


def test_gamma_gamma_recovers_parameters_and_intervals_cover():
    """200 samples of 1,000 repeat buyers; measured coverage (seed 14): p 0.96, q 0.965, γ 0.965."""
    rng = np.random.default_rng(14)
    z = []
    for _ in range(200):
        d = clv.simulate_gamma_gamma(GG_CDNOW, rng.integers(1, 8, 1000), rng)
        fit = GammaGamma().fit(frequency=d["frequency"], monetary_value=d["monetary_value"])
        z.append((np.log(fit.theta) - np.log(GG_CDNOW)) / np.sqrt(np.diag(fit.log_cov)))
    coverage = (np.abs(np.array(z)) < 1.959964).mean(axis=0)
    assert np.all(np.abs(coverage - 0.95) < 0.04), f"coverage {coverage}"


# ------------------------------------------------------------------ predictions vs Monte Carlo

def _grouped(frame, predicted, actual, max_x=4):
    groups = np.minimum(frame["frequency"].to_numpy(), max_x)
    table = pd.DataFrame({"g": groups, "pred": predicted, "act": actual})
    return table.groupby("g").agg(pred=("pred", "mean"), act=("act", "mean"), n=("act", "size"),
                                  sd=("act", "std"))


@pytest.mark.parametrize("simulate, theta, cond, alive_fn, uncond", [
    (clv.simulate_bgnbd, BGNBD_CDNOW, bgnbd.bgnbd_conditional_expected, bgnbd.bgnbd_prob_alive,
     bgnbd.bgnbd_expected_repeat),
    (clv.simulate_pareto_nbd, PARETO_CDNOW, paretonbd.pareto_conditional_expected,
     paretonbd.pareto_prob_alive, paretonbd.pareto_expected_repeat),
])
def test_predictions_agree_with_monte_carlo(simulate, theta, cond, alive_fn, uncond):
    """By iterated expectations, within each calibration-frequency group the mean predicted
    holdout count equals the mean simulated count, and mean P(alive) equals the alive share.
    200,000 simulated customers; differences are checked against 4 Monte Carlo standard errors."""
    rng = np.random.default_rng(21)
    d = simulate(theta, cohort_T(rng, 200_000), holdout=39.0, rng=rng)
    expected = cond(theta, 39.0, d["frequency"], d["recency"], d["T"])
    by_x = _grouped(d, expected, d["frequency_holdout"])
    assert np.all(np.abs(by_x["pred"] - by_x["act"]) < 4 * by_x["sd"] / np.sqrt(by_x["n"])), by_x
    alive = alive_fn(theta, d["frequency"], d["recency"], d["T"])
    by_x = _grouped(d, alive, d["alive"].astype(float))
    assert np.all(np.abs(by_x["pred"] - by_x["act"]) < 4 * by_x["sd"] / np.sqrt(by_x["n"]) + 1e-3), by_x
    mean_x = uncond(theta, d["T"]).mean()
    assert mean_x == pytest.approx(d["frequency"].mean(), abs=4 * d["frequency"].std() / np.sqrt(len(d)))


def test_gamma_gamma_expected_spend_agrees_with_monte_carlo():
    rng = np.random.default_rng(22)
    d = clv.simulate_gamma_gamma(GG_CDNOW, rng.integers(1, 6, 200_000), rng)
    predicted = gammagamma.gamma_gamma_expected_spend(GG_CDNOW, d["frequency"], d["monetary_value"])
    table = pd.DataFrame({"x": d["frequency"], "pred": predicted, "true": d["true_mean_spend"]}).groupby("x")
    means, sds, counts = table.mean(), table["true"].std(), table.size()
    assert np.all(np.abs(means["pred"] - means["true"]) < 4 * sds / np.sqrt(counts)), means
    population = gammagamma.gamma_gamma_expected_spend(GG_CDNOW, [0], [np.nan])[0]
    assert population == pytest.approx(15.44 * 6.25 / 2.74)


def test_delta_method_clv_interval_matches_parameter_draws(cdnow_summary, cdnow_fits):
    """The delta-method SE of the cohort's total CLV agrees with 300 Krinsky-Robb draws within 15%."""
    s = cdnow_summary
    bg, gg = cdnow_fits["bg"], cdnow_fits["gg"]
    horizon, step, rate = 104.0, 52 / 12, 0.15
    _, total = clv.customer_lifetime_value(bg, gg, s, horizon=horizon, step=step, annual_discount_rate=rate)
    rng = np.random.default_rng(23)
    d = total["discount_per_step"]
    totals = []
    for th_p, th_s in zip(bg.draw_parameters(300, rng), gg.draw_parameters(300, rng)):
        dert = bg.with_params(th_p).discounted_purchases(s, horizon=horizon, step=step, discount_per_step=d)
        spend = gammagamma.gamma_gamma_expected_spend(th_s, s["frequency"], s["monetary_value"])
        totals.append(np.sum(dert * spend))
    assert np.std(totals) == pytest.approx(total["se"], rel=0.15)
    assert np.median(totals) == pytest.approx(total["total"], rel=0.05)


def test_clv_of_one_customer_by_hand_summation(cdnow_summary, cdnow_fits):
    bg, gg = cdnow_fits["bg"], cdnow_fits["gg"]
    one = cdnow_summary.iloc[[0]]
    table, _ = clv.customer_lifetime_value(bg, gg, one, horizon=12.0, step=4.0, annual_discount_rate=0.10,
                                           margin=0.3)
    d = 1.10 ** (4 / 52) - 1
    cum = [bgnbd.bgnbd_conditional_expected(bg.theta, t, one["frequency"], one["recency"], one["T"])[0]
           for t in (4.0, 8.0, 12.0)]
    dert = cum[0] / (1 + d) + (cum[1] - cum[0]) / (1 + d) ** 2 + (cum[2] - cum[1]) / (1 + d) ** 3
    spend = gammagamma.gamma_gamma_expected_spend(gg.theta, one["frequency"], one["monetary_value"])[0]
    assert table["clv"].iloc[0] == pytest.approx(0.3 * spend * dert, rel=1e-12)


# ------------------------------------------------------------------ Dwyer

def test_dwyer_retention_table_by_hand():
    table = clv.retention_table(20_000, [0.65, 0.70, 0.75, 0.80], revenue_per_customer=100.0,
                                cost_per_customer=60.0, discount_rate=0.10, acquisition_cost=30.0)
    np.testing.assert_allclose(table["customers"], [20_000, 13_000, 9_100, 6_825, 5_460])
    profit = np.array([20_000 * 40 - 20_000 * 30, 13_000 * 40, 9_100 * 40, 6_825 * 40, 5_460 * 40])
    np.testing.assert_allclose(table["profit"], profit)
    npv = profit / 1.1 ** np.arange(5)
    np.testing.assert_allclose(table["npv_profit"], npv)
    assert table["clv_per_customer"].iloc[-1] == pytest.approx(npv.sum() / 20_000)
    # (200,000 + 472,727.27 + 300,826.45 + 205,108.94 + 149,170.14) / 20,000, by hand
    assert table["clv_per_customer"].iloc[-1] == pytest.approx(66.3917, abs=1e-4)


def test_dwyer_migration_reduces_to_retention_and_adds_returners():
    retained = clv.retention_table(1000, [0.6] * 3, 50.0, 20.0, 0.1)
    migration = clv.migration_table(1000, [0.6], 4, 50.0, 20.0, 0.1)
    np.testing.assert_allclose(migration["buyers"], retained["customers"])
    np.testing.assert_allclose(migration["clv_per_customer"], retained["clv_per_customer"])
    # With a 20% chance of return after a year away: year 3 buyers = 600·0.6 + 400·0.2 = 440.
    returning = clv.migration_table(1000, [0.6, 0.2], 3, 50.0, 20.0, 0.1)
    np.testing.assert_allclose(returning["buyers"], [1000, 600, 440])


def test_retention_uplift_is_positive_and_compared_with_reichheld_sasser():
    out = clv.retention_uplift(20_000, [0.65, 0.70, 0.75, 0.80], 100.0, 60.0, 0.10, uplift=0.05)
    raised = clv.retention_table(20_000, [0.70, 0.75, 0.80, 0.85], 100.0, 60.0, 0.10)
    assert out["npv_raised"] == pytest.approx(raised["cumulative_npv"].iloc[-1])
    assert out["npv_change_pct"] == pytest.approx(100 * (out["npv_raised"] / out["npv_base"] - 1))
    assert out["within_reichheld_sasser_25_85"] == (25 <= out["npv_change_pct"] <= 85)


# ------------------------------------------------------------------ value concentration

def test_tiers_quadrant_and_profit():
    clv_values = np.arange(100, 0, -1.0)
    tiers = clv.value_tiers(clv_values, (0.05, 0.20))
    assert (tiers["tier"] == "top").sum() == 5 and (tiers["tier"] == "middle").sum() == 15
    table = clv.tier_table(clv_values, tiers["tier"])
    assert table["share_of_clv"].sum() == pytest.approx(1.0)
    assert table.loc[table["tier"] == "top", "total_clv"].iloc[0] == pytest.approx(100 + 99 + 98 + 97 + 96)
    quadrant = clv.value_quadrant([10, 10, 0, 0], [1, 0, 1, 0], 5, 0.5)
    assert list(quadrant["quadrant"]) == ["win-win", "customer trapped", "firm losing", "lose-lose"]
    profit = clv.customer_profit([100, 10], [2, 1], margin=0.3, cost_per_order=2, cost_per_customer=5)
    np.testing.assert_allclose(profit, [30 - 4 - 5, 3 - 2 - 5])
    summary = clv.concentration_summary([100, 10, 10, 10, 10], [30, -1, -1, -1, -1])
    assert summary["top_share_profit"] == pytest.approx(30 / 26)
    assert summary["unprofitable_share"] == pytest.approx(0.8)


def test_break_even_cost_makes_the_top_fifth_earn_all_profit():
    rng = np.random.default_rng(31)
    revenue = rng.gamma(0.5, 100, 1000)
    orders = rng.integers(1, 10, 1000)
    cost = clv.break_even_cost_per_customer(revenue, orders, 0.3, 2.0, 0.2)
    profit = clv.customer_profit(revenue, orders, 0.3, 2.0, cost)
    assert clv.concentration_summary(revenue, profit)["top_share_profit"] == pytest.approx(1.0)
    tiers = clv.value_tiers(revenue, (0.05, 0.2))
    assert list(clv.tier_table(revenue, tiers["tier"])["tier"]) == ["top", "middle", "mass"]


def test_migration_clv_equals_markov_chain_value_of_the_lifecycle_module():
    """Dwyer's migration table and Pfeifer & Carraway's Markov-chain value agree on the same chain."""
    from crmresearch.clv.dwyer import dwyer_tables
    from crmresearch.parameters.customer_lifetime_value import DwyerScenario

    check = dwyer_tables(DwyerScenario())["markov_check"]
    assert check["applicable"]
    assert check["table_value"] == pytest.approx(check["markov_value"], rel=1e-12)


def test_a_users_transaction_file_works_through_the_parameter_schema(tmp_path):
    """A CSV with its own column names and date format goes through ClvParameters to fitted models."""
    from crmresearch.parameters.customer_lifetime_value import ClvParameters

    rng = np.random.default_rng(41)
    log = clv.simulate.simulate_transaction_log(BGNBD_CDNOW, GG_CDNOW, 3000, "2022-01-01", 84, "2023-06-30", rng)
    path = tmp_path / "orders.csv"
    log.rename(columns={"customer_id": "client", "date": "order_date", "amount": "total"}).assign(
        order_date=lambda d: d["order_date"].dt.strftime("%d/%m/%Y")).to_csv(path, index=False)
    params = ClvParameters(transactions={"path": str(path), "customer_column": "client", "date_column": "order_date",
                                         "amount_column": "total", "date_format": "%d/%m/%Y"},
                           cohort_start="2022-01-01", calibration_end="2022-09-30", holdout_end="2023-06-30")
    loaded = params.transactions.load()
    summary = clv.rfm_summary(loaded, params.calibration_end, params.holdout_end)
    assert len(summary) == 3000
    direct = clv.rfm_summary(log, params.calibration_end, params.holdout_end)
    np.testing.assert_allclose(summary["frequency"].to_numpy(), direct["frequency"].to_numpy())
    fit = BetaGeoNBD().fit(frequency=summary["frequency"], recency=summary["recency"], T=summary["T"])
    assert np.all(np.isfinite(fit.bse))


def test_spend_frequency_correlation_interval_has_its_size_under_independence():
    """Under Gamma-Gamma spend is independent of frequency: the 95% Fisher interval covers 0.

    The mean spend of x purchases is not normal, so the size is checked by simulation: 1,000
    samples of 500 repeat buyers, measured rejection rate 0.063 (seed 51), allowed 0.03-0.07.
    """
    rng = np.random.default_rng(51)
    rejections = 0
    for _ in range(1000):
        d = clv.simulate_gamma_gamma(GG_CDNOW, rng.integers(1, 10, 500), rng)
        out = predictions.spend_frequency_correlation(d["frequency"], d["monetary_value"])
        rejections += not (out["lower"] <= 0 <= out["upper"])
    assert 0.03 <= rejections / 1000 <= 0.07, rejections / 1000


def test_cdnow_spend_frequency_correlation_is_weak(cdnow_summary):
    out = predictions.spend_frequency_correlation(cdnow_summary["frequency"], cdnow_summary["monetary_value"])
    assert out["n"] == 946
    assert abs(out["correlation"]) < 0.2


def test_bgnbd_count_distribution_agrees_with_monte_carlo_and_its_own_mean():
    """P(X(t) = x) against 200,000 simulated customers observed for 39 weeks (4 binomial SEs),
    and Σ x·P(X = x) equals the closed-form E[X(t)]."""
    rng = np.random.default_rng(61)
    d = clv.simulate_bgnbd(BGNBD_CDNOW, np.full(200_000, 39.0), rng=rng)
    probs = bgnbd.bgnbd_pmf(BGNBD_CDNOW, [39.0], 6)[0]
    share = np.bincount(np.minimum(d["frequency"], 6), minlength=7) / len(d)
    assert np.all(np.abs(share - probs) < 4 * np.sqrt(probs * (1 - probs) / len(d))), (share, probs)
    long = bgnbd.bgnbd_pmf(BGNBD_CDNOW, [39.0], 400)[0, :400]
    assert long @ np.arange(400) == pytest.approx(bgnbd.bgnbd_expected_repeat(BGNBD_CDNOW, 39.0), rel=1e-6)


def test_cdnow_frequency_histogram_matches_fader_hardie_lee_figure_1(cdnow_summary, cdnow_fits):
    table = predictions.frequency_histogram(cdnow_fits["bg"], cdnow_summary)
    assert table["actual"].sum() == 2357
    assert table["BG/NBD"].sum() == pytest.approx(2357)
    assert table.loc[0, "BG/NBD"] == pytest.approx(1411, rel=0.01)   # FHL: 1,411 actual, model close
