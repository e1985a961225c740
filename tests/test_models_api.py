"""The researcher's model API: every model fits in one line from `crmresearch`, and every result has the
same core (params, bse, cov_params, conf_int, llf, aic, bic, nobs, converged, failure, summary) and the
same prediction names across models that share a meaning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import crmresearch as crm
from crmresearch.contractual import data as cdata
from crmresearch.models import retention


@pytest.fixture(scope="module")
def rfm():
    log = crm.datasets.load_cdnow("sample")
    return crm.rfm_summary(log, calibration_end="1997-09-30", holdout_end="1998-06-30")


@pytest.fixture(scope="module")
def fits(rfm):
    cohort = retention.rows_from_survivors(retention.PUBLISHED_FADER_HARDIE_2007["survivors"]["regular"])
    donations = __import__('crmresearch').datasets.load_donations().rename(columns={'count': 'donors'})
    return {
        "BG/NBD": (crm.BetaGeoNBD().fit(rfm), rfm),
        "Pareto/NBD": (crm.ParetoNBD().fit(rfm), rfm),
        "Gamma-Gamma": (crm.GammaGamma().fit(rfm), rfm),
        "sBG": (crm.ShiftedBetaGeometric().fit(cohort), cohort),
        "BdW": (crm.BetaDiscreteWeibull().fit(cohort), cohort),
        "BG/BB": (crm.BetaGeoBetaBinomial().fit(donations, weights=donations["donors"]), donations),
    }


@pytest.mark.parametrize("name", ["BG/NBD", "Pareto/NBD", "Gamma-Gamma", "sBG", "BdW", "BG/BB"])
def test_every_fit_has_the_one_results_core(fits, name):
    fit, _ = fits[name]
    assert fit.converged and fit.failure is None and fit.name == name
    k = fit.params.size
    assert fit.df_model == k and fit.nobs > 0 and np.isfinite(fit.llf)
    assert fit.aic == pytest.approx(-2 * fit.llf + 2 * k)
    assert fit.bic == pytest.approx(-2 * fit.llf + np.log(fit.nobs) * k)
    cov = fit.cov_params()
    assert list(cov.index) == list(fit.params.index)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), fit.bse, rtol=1e-12)
    ci90, ci95 = fit.conf_int(0.10), fit.conf_int()
    assert np.all(ci95["lower"] < ci90["lower"]) and np.all(ci90["lower"] < fit.params)
    assert np.all(fit.params < ci90["upper"]) and np.all(ci90["upper"] < ci95["upper"])
    text, html = str(fit.summary()), fit._repr_html_()
    for param, value in fit.params.items():
        assert param in text and f"{value:.4f}" in text and param in html
    assert f"{fit.llf:,.4f}" in text and "<table" in html


def test_published_cdnow_values_through_the_public_api(fits):
    """Fader, Hardie & Lee (2005): BG/NBD r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = -9582.4."""
    bg, _ = fits["BG/NBD"]
    assert bg.params.round(3).tolist() == [0.243, 4.414, 0.793, 2.426] and round(bg.llf, 1) == -9582.4


def test_purchase_models_share_their_prediction_names(fits):
    for name in ("BG/NBD", "Pareto/NBD"):
        fit, rfm = fits[name]
        alive = fit.probability_alive(rfm)
        assert alive.shape == (len(rfm),) and np.all((alive > 0) & (alive <= 1))
        assert np.all(alive[rfm["frequency"].to_numpy() == 0] == 1) if name == "BG/NBD" else True
        expected = fit.expected_purchases(rfm, t=39)
        # The models' holdout forecast of the cohort's total is within 15% of what the customers bought (FHL 2005: 1,653 forecast).
        assert expected.sum() == pytest.approx(rfm["frequency_holdout"].sum(), rel=0.15)
        assert fit.expected_purchases_new(52) > fit.expected_purchases_new(26) > 0
        assert np.all(fit.discounted_purchases(rfm, horizon=52, discount_per_step=0.01)
                      <= fit.expected_purchases(rfm, t=52) + 1e-12)
    gg, rfm = fits["Gamma-Gamma"]
    spend = gg.expected_spend(rfm)
    assert np.all(spend[rfm["frequency"].to_numpy() == 0] == pytest.approx(gg.population_mean))


def test_contractual_models_share_survival_retention_and_value(fits):
    sbg, _ = fits["sBG"]
    bdw, _ = fits["BdW"]
    t = np.arange(1, 8)
    for fit in (sbg, bdw):
        s = fit.survival(t)
        assert np.all(np.diff(s) < 0) and np.all(fit.retention(t) == pytest.approx(s / fit.survival(t - 1)))
        assert np.all(fit.customer_value([0, 5], 10.0, 0.1) > 0)
    # The sBG's closed-form DERL equals the BdW series at c = 1.
    np.testing.assert_allclose(sbg.expected_residual_lifetime([0, 3], 0.1),
                               retention.derl_series(np.r_[sbg.theta, 1.0], [0, 3], 0.1), rtol=1e-6)
    test = retention.duration_dependence_test(sbg, bdw)
    assert test.df == 1 and 0 <= test.p_value <= 1


def test_intervals_of_any_prediction_by_draws_and_bootstrap_are_seeded(fits):
    bg, rfm = fits["BG/NBD"]
    head = rfm.head(4)
    draws = bg.interval(bg.expected_purchases, head, t=52, draws=100, seed=1)
    again = bg.interval(bg.expected_purchases, head, t=52, draws=100, seed=1)
    np.testing.assert_array_equal(draws.lower, again.lower)
    assert np.all(draws.lower < draws.estimate) and np.all(draws.estimate < draws.upper)
    boot = bg.interval(bg.probability_alive, head, method="bootstrap", resamples=10, seed=2)
    assert boot.method == "bootstrap" and boot.draws == 10 and np.all(boot.lower <= boot.upper)
    with pytest.raises(ValueError, match="method"):
        bg.interval(bg.probability_alive, head, method="jackknife")


def test_a_failed_fit_is_a_result_that_says_what_failed_and_what_was_tried():
    n = 200
    failed = crm.ParetoNBD().fit(frequency=np.zeros(n), recency=np.zeros(n), T=np.full(n, 30.0))
    assert not failed.converged and failed.params.isna().all() and np.isnan(failed.llf)
    assert "no customer made a repeat purchase" in failed.failure and "Failed" in str(failed.summary())
    rows = pd.DataFrame({"t": [3.0], "churned": [0.0], "count": [50.0]})
    nobody_left = crm.ShiftedBetaGeometric().fit(rows)
    assert not nobody_left.converged and "churn is not identified" in nobody_left.failure


def test_covariates_are_an_option_of_the_same_model(rfm):
    data = rfm.assign(group=(np.arange(len(rfm)) % 2).astype(float))
    fit = crm.BetaGeoNBD(purchase_covariates=["group"]).fit(data)
    assert fit.converged and "purchase[group]" in fit.params.index
    assert "purchase[group]" in fit.conf_int().index and "purchase[group]" in str(fit.summary())
    # A covariate unrelated to buying: its interval covers 0.
    lower, upper = fit.conf_int().loc["purchase[group]"]
    assert lower < 0 < upper
    with pytest.raises(ValueError, match="not in the data"):
        crm.BetaGeoNBD(dropout_covariates=["nope"]).fit(data)


def test_the_segmented_and_transition_matrix_models_share_the_core():
    """The broken line recovers a known breakpoint inside its interval; the transition matrix recovers known
    probabilities inside their Wilson intervals; both print the same summary."""
    from crmresearch import lifecycle as lc

    rng = np.random.default_rng(7)
    x = rng.integers(1, 11, 2000).astype(float)
    y = 1.0 + 0.8 * np.minimum(x, 6.0) + rng.normal(0, 1, x.size)
    broken = crm.SegmentedRegression().fit(x, y)
    lower, upper = broken.conf_int().loc["breakpoint"]
    assert broken.converged and lower < 6.0 < upper and broken.nobs == 2000
    assert broken.aic == pytest.approx(-2 * broken.llf + 2 * 5) and "breakpoint" in str(broken.summary())
    P = np.array([[0.7, 0.3, 0.0], [0.2, 0.6, 0.2], [0.0, 0.0, 1.0]])
    panel = lc.simulate_panel(P, [1, 0, 0], 3000, 8, rng, absorbing=[2])
    matrix = crm.TransitionMatrixModel(allowed=P > 0, absorbing=[2]).fit(panel)
    ci = matrix.conf_int(0.01)
    truth = pd.Series({"0 -> 0": 0.7, "0 -> 1": 0.3, "1 -> 0": 0.2, "1 -> 1": 0.6, "1 -> 2": 0.2})
    assert list(matrix.params.index) == list(truth.index) and matrix.df_model == 3
    assert ((ci["lower"] < truth) & (truth < ci["upper"])).all()
    assert matrix.nobs == int(matrix.counts.sum()) and "0 -> 1" in str(matrix.summary())


def test_the_ceiling_model_recovers_a_latent_slope_that_rounding_and_the_ceiling_hide():
    """Answers rounded to 1-10 and clipped at the top: the censored regression recovers the latent slope
    inside its interval, where least squares on the answers is biased towards zero."""
    rng = np.random.default_rng(11)
    x = rng.integers(1, 11, 3000).astype(float)
    y = np.clip(np.round(1.0 + 1.1 * x + rng.normal(0, 1.5, x.size)), 1, 10)
    fit = crm.CeilingModel(scale=(1, 10)).fit(x, y)
    lower, upper = fit.conf_int()[1]
    assert fit.converged and fit.failure is None and lower < 1.1 < upper
    assert np.polyfit(x, y, 1)[0] < lower                      # the naive slope is flattened by the ceiling
    assert fit.nobs == 3000 and np.isfinite(fit.llf) and "slope" in str(fit.summary())
