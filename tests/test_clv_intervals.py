"""Intervals of the CLV report's values: the parametric route (draws of the estimates) and the customer
bootstrap (re-fits) cover the true value of simulated cohorts at about the nominal rate; both routes
agree with the delta method and with the point predictions; the BG/BB's vectorised predictions equal
the row-by-row formulas; the P(alive) history equals the direct P(alive) at each customer's end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmresearch import clv
from crmresearch.clv import intervals, predictions
from crmresearch.models import base, bgbb, bgnbd, paretonbd
from crmresearch.models.bgbb import BetaGeoBetaBinomial
from crmresearch.models.bgnbd import BetaGeoNBD, BetaGeoNBDResults
from crmresearch.models.paretonbd import ParetoNBDResults
from crmresearch.models.gammagamma import GammaGamma
from crmresearch.contractual import simulate as csim

# Not CDNOW's values: a cohort that buys more often and drops out faster.
TRUE_BG = (0.8, 6.0, 1.2, 3.5)
TRUE_GG = (4.0, 5.0, 30.0)


def _cohort(rng, n=600):
    T = rng.uniform(20, 40, n)
    sim = clv.simulate_bgnbd(TRUE_BG, T, rng=rng)
    spend = clv.simulate_gamma_gamma(TRUE_GG, sim["frequency"], rng=rng)
    return pd.DataFrame({"frequency": sim["frequency"], "recency": sim["recency"], "T": T,
                         "monetary_value": spend["monetary_value"]})


def _true_totals(summary, horizon, step, rate, margin):
    m = np.nan_to_num(summary["monetary_value"].to_numpy(float), nan=0.0)
    rows = base.collapse_rows(x=summary["frequency"], t_x=summary["recency"], T=summary["T"], m=m)
    d = (1 + rate) ** (step / 52) - 1
    grid = np.arange(1, int(round(horizon / step)) + 1) * step
    values = intervals._values(BetaGeoNBDResults, np.array(TRUE_BG)[None, :], np.array(TRUE_GG)[None, :], rows.columns,
                               horizon, grid, d, margin)
    w = rows.weights
    return {"clv": float(values["clv"][0] @ w), "expected_transactions": float(values["expected_transactions"][0] @ w),
            "p_alive": float(values["p_alive"][0] @ w / w.sum())}


def _covered(result, truth, route):
    table = result.totals.set_index("quantity")
    conf = f"{result.confidence:.0%}"
    out = {}
    for q, label in intervals.TOTAL_LABELS.items():
        lo, hi = table.loc[label, f"{route} {conf} lower"], table.loc[label, f"{route} {conf} upper"]
        out[q] = lo <= truth[q] <= hi
    return out


def test_parametric_and_bootstrap_intervals_cover_the_truth_at_about_the_nominal_rate():
    """40 simulated cohorts of 1,000 customers; 90% intervals of the cohort's CLV, expected purchases and
    mean P(alive) (each a function of the true parameters given the cohort's own data)."""
    rng = np.random.default_rng(20261130)
    hits = {"parametric": [], "bootstrap": []}
    for _ in range(40):
        summary = _cohort(rng, 1000)
        bg = BetaGeoNBD().fit(frequency=summary["frequency"], recency=summary["recency"], T=summary["T"])
        gg = GammaGamma().fit(frequency=summary["frequency"], monetary_value=summary["monetary_value"])
        truth = _true_totals(summary, 26, 52 / 12, 0.1, 0.3)
        result = intervals.value_intervals(bg, gg, summary, 26, 52 / 12, 0.1, 0.3, confidence=0.90, draws=150,
                                           resamples=15, rng=rng)
        assert result.resamples_dropped <= 2
        for route in hits:
            hits[route].append(_covered(result, truth, route))
    rates = {(route, q): float(np.mean([r[q] for r in rows])) for route, rows in hits.items()
             for q in intervals.TOTAL_LABELS}
    print("coverage of 90% intervals:", rates)
    # 40 cohorts: the binomial standard error at 90% is 4.7 points, so 0.75 is three standard errors below;
    # 15 resamples make the bootstrap's percentiles coarse (it tends to run narrow), hence its wider margin.
    for (route, q), rate in rates.items():
        assert (0.7 if route == "bootstrap" else 0.75) <= rate <= 1.0, (route, q, rate)
    assert np.mean([rates["parametric", q] for q in intervals.TOTAL_LABELS]) >= 0.8


def test_parametric_interval_agrees_with_the_delta_method_and_contains_the_estimate():
    rng = np.random.default_rng(7)
    summary = _cohort(rng, 1500)
    bg = BetaGeoNBD().fit(frequency=summary["frequency"], recency=summary["recency"], T=summary["T"])
    gg = GammaGamma().fit(frequency=summary["frequency"], monetary_value=summary["monetary_value"])
    result = intervals.value_intervals(bg, gg, summary, 52, 52 / 12, 0.15, 0.3, 0.95, 1000, 0, rng)
    table, total = predictions.customer_lifetime_value(bg, gg, summary, 52, 52 / 12, 0.15, margin=0.3)
    row = result.totals.set_index("quantity").loc["cohort CLV (total)"]
    assert row["estimate"] == pytest.approx(total["total"], rel=1e-10)
    assert row["parametric 95% lower"] == pytest.approx(total["lower"], rel=0.04)
    assert row["parametric 95% upper"] == pytest.approx(total["upper"], rel=0.04)
    customers = result.customer_table(summary.index)
    np.testing.assert_allclose(customers["clv"], table["clv"], rtol=1e-10)
    np.testing.assert_allclose(customers["p_alive"], table["p_alive"], rtol=1e-12)
    assert np.all(customers["clv_parametric_lower"] <= customers["clv"] + 1e-9)
    assert np.all(customers["clv"] <= customers["clv_parametric_upper"] + 1e-9)
    assert "clv_bootstrap_lower" not in customers            # resamples = 0: no bootstrap


def test_pareto_predictions_for_draws_equal_one_theta_at_a_time():
    rng = np.random.default_rng(3)
    summary = _cohort(rng, 300)
    thetas = np.array([0.5, 8.0, 0.7, 10.0]) * rng.uniform(0.8, 1.2, (3, 4))
    got = intervals.purchase_predictions(ParetoNBDResults, thetas, summary["frequency"], summary["recency"], summary["T"], 10.0)
    for k, theta in enumerate(thetas):
        np.testing.assert_allclose(got["p_alive"][k], paretonbd.pareto_prob_alive(theta, summary["frequency"],
                                                                                    summary["recency"], summary["T"]))


def test_bgbb_predictions_for_draws_equal_the_row_formulas_and_bootstrap_covers():
    rng = np.random.default_rng(11)
    theta = (0.9, 1.4, 0.5, 4.0)                   # unlike the donations estimates
    sim = csim.simulate_bgbb(theta, 4000, 8, rng)
    rows = sim.groupby(["frequency", "recency", "periods"]).size().reset_index(name="count")
    x, t_x, n, w = (rows[c].to_numpy(float) for c in ("frequency", "recency", "periods", "count"))
    fit = BetaGeoBetaBinomial().fit(frequency=x, recency=t_x, periods=n, weights=w)
    draws = fit.draw_parameters(5, rng)
    got = bgbb.predictions_for_draws(draws, x, t_x, n, 4, 0.12)
    for k, th in enumerate(draws):
        np.testing.assert_allclose(got["p_alive"][k], bgbb.prob_alive(th, x, t_x, n), rtol=1e-10)
        np.testing.assert_allclose(got["expected"][k], bgbb.expected_transactions(th, x, t_x, n, 4), rtol=1e-10)
        np.testing.assert_allclose(got["dert"][k], bgbb.dert(th, x, t_x, n, 0.12), rtol=1e-10)
    from crmresearch.clv.intervals import discrete_value_intervals

    frame = pd.DataFrame({"frequency": x, "recency": t_x, "periods": n, "count": w})
    table, totals, summary = discrete_value_intervals(
        fit, frame, {"future_periods": 4, "discount_rate": 0.12}, fit.draw_parameters(300, rng), 0.95, 40, rng)
    truth = bgbb.predictions_for_draws(np.array(theta)[None, :], x, t_x, n, 4, 0.12)["dert"][0] @ w
    row = totals.iloc[2]
    assert summary["bootstrap_dropped"] == 0 and row["estimate"] == pytest.approx(table["dert"] @ w)
    assert row["parametric 95% lower"] < row["estimate"] < row["parametric 95% upper"]
    assert abs(row["estimate"] - truth) < 3 * (row["parametric 95% upper"] - row["parametric 95% lower"])


def test_alive_history_ends_at_each_customers_p_alive_and_choice_is_deterministic():
    rng = np.random.default_rng(5)
    log = clv.simulate.simulate_transaction_log(TRUE_BG, TRUE_GG, 400, "2021-01-01", 60, "2021-12-31", rng)
    summary = clv.rfm_summary(log, "2021-09-30", "2021-12-31")
    fit = BetaGeoNBD().fit(frequency=summary["frequency"], recency=summary["recency"], T=summary["T"])
    chosen = intervals.choose_customers(summary)
    assert chosen == intervals.choose_customers(summary.sample(frac=1, random_state=1).sort_index())
    assert summary.loc[chosen[0], "frequency"] == summary["frequency"].max()
    history = intervals.alive_history(fit, log, summary, chosen, pd.Timestamp("2021-09-30"),
                                      fit.draw_parameters(50, rng), 0.9)
    ends = history.groupby("customer", sort=False).tail(1)
    direct = bgnbd.bgnbd_prob_alive(fit.theta, summary.loc[chosen, "frequency"], summary.loc[chosen, "recency"],
                                          summary.loc[chosen, "T"])
    np.testing.assert_allclose(ends["p_alive"], direct, rtol=1e-9)
    np.testing.assert_array_equal(ends["repeat purchases"], summary.loc[chosen, "frequency"])
    assert np.all(history["lower"] <= history["p_alive"] + 1e-12) and np.all(history["p_alive"] <= history["upper"] + 1e-12)


def test_donations_variant_fits_the_bgbb_and_marks_the_log_sections_not_computed():
    from crmresearch import parameters
    from crmresearch.clv import sections
    from crmresearch.clv.analyse import analyse

    params = parameters.schema_for("03_customer_lifetime_value")(discrete={"dataset": "donations"},
                                                                 bootstrap_resamples=5, parameter_draws=60)
    analysis = analyse(params)
    fits = analysis.fits
    bb = fits["BG/BB"].params
    assert (round(bb["alpha"], 3), round(bb["beta"], 3), round(bb["gamma"], 3), round(bb["delta"], 3)) == \
        (1.204, 0.750, 0.657, 2.783)
    assert round(fits["BG/BB"].llf, 1) == -33225.6
    assert list(analysis.draws) == ["BG/BB"] and len(analysis.draws["BG/BB"]) == 60
    assert sections.tracking(analysis).source == "not_computed"
    assert sections.clv(analysis).source == "not_computed"
    values = sections.values(analysis)
    totals = values.results["bgbb_totals"]
    assert totals["customers"] == 11104 and totals["expected_transactions"] > 0
    with pytest.raises(Exception):
        parameters.schema_for("03_customer_lifetime_value")(discrete={"dataset": "donations"},
                                                            simulate={"customers": 500})


def test_expected_sums_in_chunks_and_threads_equal_the_whole_array(monkeypatch):
    """The holdout band's sums over rows (`bgnbd_expected_sums`: P(alive) in cached chunks of rows, the
    chunks side by side in threads) equal the draws × rows array times the weights, and do not depend on
    the number of threads."""
    from crmresearch import config

    rng = np.random.default_rng(7)
    n = 5_000
    T = rng.uniform(10, 60, n)
    x = rng.poisson(2.0, n).astype(float)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    thetas = np.asarray(TRUE_BG) * np.exp(rng.normal(0, 0.05, (30, 4)))
    weights = np.zeros((n, 4))
    weights[np.arange(n), np.minimum(x, 3).astype(int)] = rng.uniform(0.5, 2, n)
    whole = intervals.purchase_predictions(BetaGeoNBDResults, thetas, x, t_x, T, 39.0)["expected"] @ weights
    monkeypatch.setattr(intervals, "CHUNK_CELLS", 30 * 700)           # 8 chunks of 700 rows
    monkeypatch.setattr(config, "BLOCK_THREAD_CELLS", 0)                 # threads even for this small work
    results = {}
    for threads in (1, 2, 3):
        monkeypatch.setattr(config, "BLOCK_THREADS", threads)
        results[threads] = intervals.bgnbd_expected_sums(thetas, x, t_x, T, 39.0, weights)
    np.testing.assert_allclose(results[1], whole, rtol=1e-12)
    assert np.array_equal(results[1], results[2]) and np.array_equal(results[1], results[3])
