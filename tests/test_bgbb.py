"""BG/BB (Fader, Hardie & Shang 2010): the published donations fit, recovery of simulated donors,
collapsed and raw data give one fit, and the predictions agree with their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.numdiff import approx_fprime

from crmresearch.contractual import data, simulate
from crmresearch.models import bgbb
from crmresearch.models.bgbb import BetaGeoBetaBinomial

TRUTH = (1.204, 0.750, 0.657, 2.783)


@pytest.fixture(scope="module")
def donations():
    return __import__('crmresearch').datasets.load_donations().rename(columns={'count': 'donors'})


@pytest.fixture(scope="module")
def donations_fit(donations):
    d = donations
    return BetaGeoBetaBinomial().fit(frequency=d["frequency"], recency=d["recency"], periods=d["periods"], weights=d["donors"])


def test_reproduces_fader_hardie_shang_2010(donations, donations_fit):
    pub = bgbb.PUBLISHED_DONATIONS
    assert donations["donors"].sum() == pub["donors"] == 11104
    fit = donations_fit
    assert [round(fit.params[k], 3) for k in ("alpha", "beta", "gamma", "delta")] == [pub[k] for k in ("alpha", "beta", "gamma", "delta")]
    assert round(fit.llf, 1) == pub["loglike"]
    assert fit.nobs == 11104 and fit.n_unique_rows == 22


def test_score_is_the_gradient(donations):
    d = donations
    model = bgbb.BgBbLikelihood(d["frequency"], d["recency"], d["periods"], d["donors"])
    for point in (np.log([0.5, 2.0, 1.5, 0.7]), np.log(TRUTH)):
        assert model.score(point) == pytest.approx(approx_fprime(point, model.loglike, centered=True), rel=1e-6, abs=1e-5)


def test_recovers_simulated_donors_and_collapsing_changes_nothing():
    sim = simulate.simulate_bgbb((0.8, 1.6, 1.3, 4.0), 200_000, 8, np.random.default_rng(4))
    raw = BetaGeoBetaBinomial().fit(frequency=sim["frequency"], recency=sim["recency"], periods=sim["periods"])
    assert np.all(np.abs(raw.theta - [0.8, 1.6, 1.3, 4.0]) < 3.5 * raw.bse.to_numpy())
    grouped = sim.groupby(["frequency", "recency", "periods"]).size().rename("n").reset_index()
    collapsed = BetaGeoBetaBinomial().fit(frequency=grouped["frequency"], recency=grouped["recency"], periods=grouped["periods"], weights=grouped["n"])
    assert collapsed.theta == pytest.approx(raw.theta, rel=1e-7)
    assert collapsed.llf == pytest.approx(raw.llf, rel=1e-12)


def test_count_distribution_matches_a_simulation_and_sums_to_one():
    theta = (0.8, 1.6, 1.3, 4.0)
    probs = bgbb.expected_count_distribution(theta, 5)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    sim = simulate.simulate_bgbb(theta, 400_000, 5, np.random.default_rng(9))
    shares = np.bincount(sim["frequency"].astype(int), minlength=6) / len(sim)
    assert shares == pytest.approx(probs, abs=0.004)


def test_predictions_follow_their_definitions(donations, donations_fit):
    theta = donations_fit.theta
    d = donations
    x, t_x, n = d["frequency"].to_numpy(), d["recency"].to_numpy(), d["periods"].to_numpy()
    alive = bgbb.prob_alive(theta, x, t_x, n)
    assert np.all((alive > 0) & (alive < 1))
    # with the same frequency, a more recent last donation means more likely alive
    six = d[(d["frequency"] == 1)]
    assert np.all(np.diff(bgbb.prob_alive(theta, six["frequency"], six["recency"], six["periods"])) > 0)
    e1 = bgbb.expected_transactions(theta, x, t_x, n, 1)
    e5 = bgbb.expected_transactions(theta, x, t_x, n, 5)
    assert np.all(e5 > e1) and np.all(e1 > 0)
    # DERT is the discounted sum of each future opportunity's expected transaction (FHS 2010, eq. 14)
    k = np.arange(0, 600)
    cumulative = np.array([bgbb.expected_transactions(theta, x, t_x, n, j) if j else np.zeros(x.size) for j in k])
    discounted = (np.diff(cumulative, axis=0) / 1.1 ** k[1:, None]).sum(axis=0)
    assert bgbb.dert(theta, x, t_x, n, 0.1) == pytest.approx(discounted, rel=1e-6)


def test_matches_lifetimes_where_installed(donations, donations_fit):
    lifetimes = pytest.importorskip("lifetimes")
    d = donations
    ref = lifetimes.BetaGeoBetaBinomFitter()
    ref.params_ = pd.Series(dict(zip(["alpha", "beta", "gamma", "delta"], donations_fit.theta)))
    ours = bgbb.prob_alive(donations_fit.theta, d["frequency"], d["recency"], d["periods"])
    theirs = ref.conditional_probability_alive(1, d["frequency"], d["recency"], d["periods"])
    assert ours == pytest.approx(np.asarray(theirs, float), rel=1e-8)
    ours_e = bgbb.expected_transactions(donations_fit.theta, d["frequency"], d["recency"], d["periods"], 5)
    theirs_e = ref.conditional_expected_number_of_purchases_up_to_time(5, d["frequency"], d["recency"], d["periods"])
    assert ours_e == pytest.approx(np.asarray(theirs_e, float), rel=1e-8)


def test_bad_rows_give_a_failed_fit_not_an_exception():
    out = BetaGeoBetaBinomial().fit(frequency=[2, 0], recency=[1, 0], periods=[3, 3])       # x > t_x is impossible
    assert not out.converged and "t_x" in out.reason
