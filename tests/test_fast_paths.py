"""The faster computations give the numbers of the direct ones they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats as sps

from crmresearch import stats
from crmresearch.clv.simulate import simulate_bgnbd
from crmresearch.models.covariates import fit_bgnbd_covariates
from crmresearch.models.retention import derl_sbg, derl_series, rows_from_durations


def test_logsumexp_rows_is_scipys_logsumexp_exactly():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2000, 49)) * rng.choice([1.0, 10.0, 300.0], size=(2000, 49))
    a[0, :3] = a[0, 0]                       # ties at the maximum
    a[1, 5] = -np.inf
    assert np.array_equal(stats.logsumexp_rows(a), special.logsumexp(a, axis=1))
    b = np.full((2, 3), -np.inf)             # a row with no finite term goes to scipy
    assert np.array_equal(stats.logsumexp_rows(b), special.logsumexp(b, axis=1))


def test_normal_quantile_is_scipy_stats():
    for confidence in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999):
        assert stats.z_value(confidence) == float(sps.norm.ppf(0.5 + confidence / 2))


def test_duration_rows_are_the_groupby_counts():
    rng = np.random.default_rng(2)
    for t in (rng.integers(0, 40, 5000).astype(float), rng.integers(0, 40, 5000) + 0.5,
              np.r_[rng.integers(0, 5, 50), np.nan, 2e12]):
        c = rng.integers(0, 2, t.size).astype(float)
        direct = (pd.DataFrame({"t": t, "churned": c}).groupby(["t", "churned"], sort=True).size()
                  .rename("count").reset_index().astype(float))
        pd.testing.assert_frame_equal(rows_from_durations(t, c), direct, check_exact=True)


def test_derl_of_many_draws_by_recursion_matches_the_closed_form_and_the_series():
    rng = np.random.default_rng(3)
    thetas = np.exp(np.log([0.7, 4.0]) + 0.3 * rng.normal(size=(400, 2)))
    renewals = np.array([0.0, 1, 2, 5, 11, 23, 40])
    fast = derl_sbg(thetas, renewals, 0.01)                # the recursion (draws x renewals)
    a, b, n = thetas[:, :1], thetas[:, 1:], renewals + 1
    closed = (b + n - 1) / (a + b + n - 1) * special.hyp2f1(1, b + n, a + b + n, 1 / 1.01)
    np.testing.assert_allclose(fast, closed, rtol=1e-13)
    np.testing.assert_allclose(fast[:5], derl_series(thetas[:5], renewals, 0.01), rtol=1e-9)


def test_a_covariate_fit_started_from_a_given_covariate_free_fit_is_the_same_fit():
    rng = np.random.default_rng(4)
    n = 3000
    data = simulate_bgnbd((0.25, 4.0, 0.8, 2.5), rng.uniform(30, 52, n).round(), rng=rng)
    x, t_x, T = (data[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    z = pd.DataFrame({"z": rng.integers(0, 3, n).astype(float)})
    null = fit_bgnbd_covariates(x, t_x, T)
    given = fit_bgnbd_covariates(x, t_x, T, z, z, covariate_free=null)
    fitted = fit_bgnbd_covariates(x, t_x, T, z, z)
    assert given.converged and given.tried == fitted.tried
    pd.testing.assert_series_equal(given.params, fitted.params, check_exact=True)
    z_missing = z.copy()
    z_missing.iloc[0, 0] = np.nan                           # fewer customers: the given fit is not used
    pd.testing.assert_series_equal(fit_bgnbd_covariates(x, t_x, T, z_missing, z_missing, covariate_free=null).params,
                                   fit_bgnbd_covariates(x, t_x, T, z_missing, z_missing).params, check_exact=True)


def test_rows_already_unique_and_sorted_collapse_to_themselves_as_a_full_collapse_does():
    from crmresearch.models import base

    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, 4000).astype(float)
    t_x = np.floor(rng.uniform(0, 1, 4000) * 30) / 7
    T = t_x + rng.integers(0, 3, 4000) / 7
    full = base.collapse_rows(x=x, t_x=t_x, T=T)
    c = full.columns
    assert base._strictly_increasing([c["x"], c["t_x"], c["T"]])
    again = base.collapse_rows(x=c["x"], t_x=c["t_x"], T=c["T"])            # the fast path
    assert all(np.array_equal(again.columns[k], c[k]) for k in c)
    assert np.array_equal(again.weights, np.ones(c["x"].size))
    assert np.array_equal(again.inverse, np.arange(c["x"].size))
    counted = base.collapse_counted(full.weights, x=c["x"], t_x=c["t_x"], T=c["T"])
    assert np.array_equal(counted.weights, full.weights)
    # Not strictly increasing (a repeat, a step back, a NaN): the full collapse, which merges and sorts.
    for rows in ([np.r_[1.0, 1.0, 2.0], np.r_[0.0, 0.0, 1.0]], [np.r_[1.0, 0.0], np.r_[0.0, 0.0]],
                 [np.r_[0.0, np.nan, 2.0], np.r_[0.0, 0.0, 0.0]]):
        assert not base._strictly_increasing(rows)
    merged = base.collapse_rows(a=np.r_[2.0, 1.0, 1.0], b=np.r_[0.0, 5.0, 5.0])
    assert np.array_equal(merged.columns["a"], [1.0, 2.0]) and np.array_equal(merged.weights, [2.0, 1.0])
