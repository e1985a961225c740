"""Proof of the value-chain core: covariate BG/NBD, Pareto/NBD and Gamma-Gamma (equal to the
covariate-free models on CDNOW, analytic score, exact back-transformation, recovery, interval
coverage, size under the null), the satisfaction design, the joint simulation and the value of
a point of satisfaction against its exact truth.

Every random draw comes from a seeded numpy Generator; the file runs in well under a minute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.numdiff import approx_fprime

import crmresearch as crm
from crmresearch import clv
from crmresearch import value_chain as vc
from crmresearch.models import bgnbd, paretonbd
from crmresearch.models import covariate_likelihoods


@pytest.fixture(scope="module")
def cdnow():
    return clv.rfm_summary(crm.datasets.load_cdnow("sample"), "1997-09-30", "1998-06-30")


@pytest.fixture(scope="module")
def panel():
    return vc.simulate_panel(40_000, seed=7)


@pytest.fixture(scope="module")
def panel_fits(panel):
    design = panel.truth.design(panel.survey)
    Z = design.transform(panel.survey)
    s = panel.summary
    return {"design": design, "Z": Z,
            "bg": vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], Z, Z),
            "gg": vc.fit_gamma_gamma_covariates(s["frequency"], s["monetary_value"], Z)}


def _random_covariates(n, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"u": rng.integers(0, 3, n).astype(float), "v": rng.integers(0, 2, n).astype(float)})


# ------------------------------------------------------------------ equality with the covariate-free models

@pytest.mark.parametrize("ours, theirs, columns, start", [
    (vc.fit_bgnbd_covariates, crm.BetaGeoNBD, ("frequency", "recency", "T"), (1.0, 10.0, 1.0, 1.0)),
    (vc.fit_pareto_nbd_covariates, crm.ParetoNBD, ("frequency", "recency", "T"), (1.0, 10.0, 1.0, 30.0)),
    (vc.fit_gamma_gamma_covariates, crm.GammaGamma, ("frequency", "monetary_value"), (1.0, 2.0, 30.0)),
])
def test_without_covariates_the_fits_equal_the_existing_models_on_cdnow(cdnow, ours, theirs, columns, start):
    """From a start away from the optimum, the estimates, log-likelihood and standard errors agree."""
    data = [cdnow[c] for c in columns]
    fit, reference = ours(*data, start_params=start), theirs().fit(**dict(zip(columns, data)))
    assert fit.converged and fit.tried == ["the given start"]
    np.testing.assert_allclose(fit.base.to_numpy(), reference.theta, rtol=1e-7)
    assert fit.llf == pytest.approx(reference.llf, abs=1e-6)
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(reference.log_cov)), rtol=1e-4)
    assert fit.nobs == reference.nobs


def test_zero_coefficients_give_the_covariate_free_likelihood(cdnow):
    s, Z = cdnow, _random_covariates(len(cdnow))
    ours = covariate_likelihoods.BetaGeometricNbdCovariates(s["frequency"], s["recency"], s["T"], Z, Z[["v"]])
    theirs = bgnbd.BgNbdLikelihood(s["frequency"], s["recency"], s["T"])
    theta = (0.4, 5.0, 1.1, 2.0)
    params = ours.internal_start(theta)
    assert ours.loglike(params) == pytest.approx(theirs.loglike(np.log(theta)), rel=1e-12)


@pytest.mark.parametrize("build, theta", [
    (lambda s, Z: covariate_likelihoods.BetaGeometricNbdCovariates(s["frequency"], s["recency"], s["T"], Z, Z[["v"]]),
     (0.5, 3.0, 1.3, 0.9)),
    (lambda s, Z: covariate_likelihoods.ParetoNbdCovariates(s["frequency"], s["recency"], s["T"], Z, Z[["v"]]),
     (0.7, 8.0, 0.9, 14.0)),
    (lambda s, Z: covariate_likelihoods.GammaGammaCovariates(s["frequency"][s["frequency"] > 0],
                                                  s["monetary_value"][s["frequency"] > 0],
                                                  Z[(s["frequency"] > 0).to_numpy()].reset_index(drop=True)),
     (4.0, 2.5, 20.0)),
])
def test_analytic_score_matches_numerical_gradient_with_covariates(cdnow, build, theta):
    model = build(cdnow, _random_covariates(len(cdnow)))
    params = model.internal_start(theta)
    params[len(theta):] = np.random.default_rng(2).normal(0, 0.3, params.size - len(theta))
    numerical = approx_fprime(params, model.loglike, centered=True)
    np.testing.assert_allclose(model.score(params), numerical, rtol=1e-5, atol=1e-4)
    assert model.loglikeobs(params).sum() == pytest.approx(model.loglike(params))


def test_rescaled_covariates_give_rescaled_coefficients_and_the_same_fit(cdnow):
    """The internal centring and scaling is undone exactly: z -> 10 z + 3 divides β by 10, keeps ℓ."""
    s, Z = cdnow, _random_covariates(len(cdnow))
    fit = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], Z, Z[["v"]])
    shifted = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], 10 * Z + 3, 10 * Z[["v"]] + 3)
    assert fit.converged and shifted.converged
    assert shifted.llf == pytest.approx(fit.llf, abs=1e-6)
    np.testing.assert_allclose(shifted.coefficients.to_numpy() * 10, fit.coefficients.to_numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(shifted.bse.iloc[4:].to_numpy() * 10, fit.bse.iloc[4:].to_numpy(), rtol=1e-4)
    # the same customers get the same natural parameters
    a = fit.natural_parameters(Z)
    b = shifted.natural_parameters(10 * Z + 3)
    for name in ("alpha0", "a0", "b0"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5)


# ------------------------------------------------------------------ recovery, coverage, size

def test_covariate_bgnbd_and_gamma_gamma_recover_the_simulated_truth(panel, panel_fits):
    """40,000 customers: every coefficient within 3.5 standard errors of the truth; base parameters too."""
    truth = panel.truth.coefficients
    bg, gg = panel_fits["bg"], panel_fits["gg"]
    assert bg.converged and gg.converged
    for fit in (bg, gg):
        names = [n for n in truth.index if n in fit.params.index]
        z = (fit.params[names] - truth[names]) / fit.bse[names]
        assert np.all(np.abs(z) < 3.5), z
    base_z = (bg.params.iloc[:4].to_numpy() - np.log(panel.truth.purchase_base)) / bg.bse.iloc[:4].to_numpy()
    assert np.all(np.abs(base_z) < 3.5), base_z
    table = bg.table(0.9)
    assert np.all(table["ci_lower"] < table["estimate"]) and np.all(table["estimate"] < table["ci_upper"])
    width_90 = (table["ci_upper"] - table["ci_lower"]).iloc[4:]
    width_95 = (bg.table(0.95)["ci_upper"] - bg.table(0.95)["ci_lower"]).iloc[4:]
    np.testing.assert_allclose(width_95 / width_90, crm.stats.z_value(0.95) / crm.stats.z_value(0.9))
    # the satisfaction effect on purchasing is detected
    assert bg.wald_test(contains="purchase")["p_value"] < 1e-10


def test_pareto_nbd_with_covariates_recovers_the_simulated_truth():
    truth = vc.PanelTruth(model="Pareto/NBD", purchase_base=(0.6, 8.0, 0.8, 12.0),
                          dropout_a_effect=(0.0, -0.2, -0.6, -1.0))
    panel = vc.simulate_panel(10_000, truth, seed=8)
    Z = truth.design(panel.survey).transform(panel.survey)
    s = panel.summary
    fit = vc.fit_pareto_nbd_covariates(s["frequency"], s["recency"], s["T"], Z, Z)
    assert fit.converged
    names = [n for n in truth.coefficients.index if not n.startswith("spend")]
    z = (fit.params[names] - truth.coefficients[names]) / fit.bse[names]
    assert np.all(np.abs(z) < 3.5), z


def test_coverage_study_of_the_banded_covariate_model():
    """150 panels of 3,000 customers: 95% Wald intervals of the nine BG/NBD and three spend coefficients.

    Measured (seeds 1000-1149): purchase 0.953-0.973, dropout 0.973-0.980 (the dropout band
    effects are weakly identified at this size and their intervals err on the wide side), spend
    0.932-0.986; mean z within ±0.18; 2 of the 150 BG/NBD fits reported non-convergence (a
    non-negative-definite Hessian: excluded, as a report would show them as failed). Tolerance
    ±0.05 is 2.8 binomial standard errors at n = 150.
    """
    truth = vc.PanelTruth()
    names = list(truth.coefficients.index)
    z, failures = [], 0
    for rep in range(150):      # a loop over replications, not over customers
        panel = vc.simulate_panel(3000, truth, seed=1000 + rep)
        Z = truth.design(panel.survey).transform(panel.survey)
        s = panel.summary
        bg = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], Z, Z)
        gg = vc.fit_gamma_gamma_covariates(s["frequency"], s["monetary_value"], Z)
        if not (bg.converged and gg.converged):
            failures += 1
            assert bg.tried and (bg.converged or bg.error)
            continue
        est = pd.concat([bg.params, gg.params])[names]
        se = pd.concat([bg.bse, gg.bse])[names]
        z.append(((est - truth.coefficients[names]) / se).to_numpy())
    z = np.array(z)
    coverage = pd.Series((np.abs(z) < crm.stats.z_value(0.95)).mean(axis=0), index=names)
    assert failures <= 6
    assert np.all(np.abs(coverage - 0.95) <= 0.05), coverage
    assert np.all(np.abs(z.mean(axis=0)) < 0.3), z.mean(axis=0)


def test_size_of_the_satisfaction_test_under_no_effect():
    """No satisfaction effect: the LR and Wald tests of satisfaction (linear on the purchase rate,
    a and b: 3 df) reject at about 5%.

    Measured (seeds 5000-5149, 2,000 customers): LR 0.047, Wald 0.047 (seeds 5000-5299: 0.047
    and 0.043). The banded model's 9-df test is conservative at these sizes (LR 0.033 over 400
    replications of 2,000 customers, 0.027 over 150 of 5,000), because the dropout band effects
    are weakly identified; its purchase-rate part alone (3 df) rejected at 0.067 (150 of 5,000).
    """
    truth = vc.PanelTruth().without_satisfaction_effect()
    p_lr, p_wald = [], []
    for rep in range(150):      # a loop over replications, not over customers
        panel = vc.simulate_panel(2000, truth, seed=5000 + rep)
        Z = vc.satisfaction_design(panel.survey, kind="linear").transform(panel.survey)
        s = panel.summary
        full = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], Z, Z)
        null = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"])
        if full.converged and null.converged:
            p_lr.append(vc.likelihood_ratio_test(null, full).p_value)
            p_wald.append(full.wald_test()["p_value"])
    assert len(p_lr) >= 145
    size_lr, size_wald = np.mean(np.array(p_lr) < 0.05), np.mean(np.array(p_wald) < 0.05)
    assert 0.015 <= size_lr <= 0.09, size_lr
    assert 0.015 <= size_wald <= 0.09, size_wald


def test_prob_alive_equals_the_existing_functions_and_matches_the_simulated_truth(cdnow, panel, panel_fits):
    s = cdnow
    for ours, model, theirs in ((vc.fit_bgnbd_covariates, crm.BetaGeoNBD, bgnbd.bgnbd_prob_alive),
                                (vc.fit_pareto_nbd_covariates, crm.ParetoNBD, paretonbd.pareto_prob_alive)):
        reference = model().fit(s)
        alive = vc.prob_alive(ours(s["frequency"], s["recency"], s["T"]), s["frequency"], s["recency"], s["T"])
        np.testing.assert_allclose(alive, theirs(reference.theta, s["frequency"], s["recency"], s["T"]), rtol=1e-6)
    bg, Z, d = panel_fits["bg"], panel_fits["Z"], panel.summary
    alive = vc.prob_alive(bg, d["frequency"], d["recency"], d["T"], Z, Z)
    per_customer = bg.natural_parameters(Z)
    theta = (per_customer["r"], per_customer["alpha0"], per_customer["a0"], per_customer["b0"])
    np.testing.assert_allclose(alive, bgnbd.bgnbd_prob_alive(theta, d["frequency"], d["recency"], d["T"]),
                               rtol=1e-8)
    # predicted against actually alive (the simulation knows), by satisfaction band
    table = pd.DataFrame({"band": panel.survey["band"], "p": alive, "alive": panel.latent["alive"]})
    by_band = table.groupby("band").agg(p=("p", "mean"), alive=("alive", "mean"), n=("p", "size"))
    se = np.sqrt(by_band["alive"] * (1 - by_band["alive"]) / by_band["n"])
    assert np.all(np.abs(by_band["p"] - by_band["alive"]) < 4 * se + 0.01), by_band
    Z_missing = Z.copy()
    Z_missing.iloc[0, 0] = np.nan
    assert np.isnan(vc.prob_alive(bg, d["frequency"], d["recency"], d["T"], Z_missing, Z)[0])


# ------------------------------------------------------------------ value per satisfaction level

def test_true_marginal_value_of_a_point_lies_inside_its_interval(panel, panel_fits):
    value = vc.value_by_level(panel_fits["bg"], panel_fits["gg"], panel_fits["design"], horizon=104, step=1,
                              annual_discount_rate=0.1, margin=0.3, confidence=0.95, n_draws=1000,
                              truth=panel.truth)
    assert value.computed
    m = value.marginal
    assert m["true_inside"].all(), m
    steps = m[m["true_marginal"] > 0]          # the band boundaries: 6->7, 8->9, 9->10
    assert list(steps["from_level"]) == [6.0, 8.0, 9.0]
    # the largest step is the one to the top of the scale, as in the truth
    assert value.best_step["from_level"] == 9.0
    v = value.values
    assert np.all((v["value_lower"] <= v["true_value"]) & (v["true_value"] <= v["value_upper"]))
    assert np.allclose(m["break_even"], m["marginal"])
    record = value.results()
    assert record["best_step"]["to_level"] == 10.0 and len(record["marginal"]) == 9


def test_true_value_formula_agrees_with_simulated_customers():
    """Undiscounted, V(l) = margin · E[spend] · E[X(H)]; checked against simulated repeat purchases."""
    truth = vc.PanelTruth()
    levels = np.array([5.0, 10.0])
    horizon = 52.0
    exact = vc.true_value_by_level(truth, levels, horizon=horizon, step=1.0, annual_discount_rate=0.0, margin=1.0)
    params = truth.level_parameters(levels)
    rng = np.random.default_rng(9)
    for j in range(levels.size):
        theta = (params["r"][j], params["alpha"][j], params["a"][j], params["b"][j])
        draws = clv.simulate_bgnbd(theta, np.full(200_000, horizon), rng=rng)
        spend = params["p"][j] * params["gamma"][j] / (params["q"][j] - 1)
        mc = draws["frequency"].mean() * spend
        se = draws["frequency"].std() * spend / np.sqrt(draws.shape[0])
        assert abs(mc - exact[j]) < 4 * se, (mc, exact[j], se)
    # discounting can only lower the value; the horizon step does not matter undiscounted
    discounted = vc.true_value_by_level(truth, levels, horizon=horizon, step=1.0, annual_discount_rate=0.2)
    assert np.all(discounted < exact)
    coarse = vc.true_value_by_level(truth, levels, horizon=horizon, step=4.0, annual_discount_rate=0.0)
    np.testing.assert_allclose(coarse, exact, rtol=1e-10)
    theta = (params["r"][0], params["alpha"][0], params["a"][0], params["b"][0])
    assert exact[0] == pytest.approx(bgnbd.bgnbd_expected_repeat(theta, horizon)
                                     * params["p"][0] * params["gamma"][0] / (params["q"][0] - 1))


# ------------------------------------------------------------------ design, simulation, failures

def test_band_design_by_hand():
    survey = pd.DataFrame({"satisfaction": [1, 6, 7, 8, 9, 10, np.nan, 12], "region": list("nnssnsns")})
    design = vc.satisfaction_design(survey, kind="bands", categorical=["region"])
    assert design.band_names == ["1-6", "7-8", "9", "10"]
    assert design.columns == ["sat[7-8]", "sat[9]", "sat[10]", "region[s]"]
    Z = design.transform(survey)
    expected = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    np.testing.assert_array_equal(Z.iloc[:6, :3].to_numpy(), expected)
    assert Z.iloc[6:, :3].isna().all().all()            # missing and out-of-range answers are missing
    np.testing.assert_array_equal(Z["region[s]"], [0, 0, 1, 1, 0, 1, 0, 1])
    levels = design.level_frame([6, 7])
    assert levels["region[s]"].tolist() == [0.0, 0.0]   # the most frequent level is the reference
    other = vc.satisfaction_design(survey, kind="bands", band_edges=(1, 9, 11), reference="9-10")
    assert other.columns == ["sat[1-8]"]


def test_natural_spline_basis_is_linear_outside_the_boundary_knots_and_spans_lines():
    knots = (3.0, 6.0, 8.0, 9.0)
    x = np.linspace(-5, 20, 101)
    B = vc.natural_spline_basis(x, knots)
    assert B.shape == (101, 3)
    second = np.diff(B, n=2, axis=0)
    outside = (x[1:-1] < 3 - 0.25) | (x[1:-1] > 9 + 0.25)
    assert np.allclose(second[outside], 0, atol=1e-8)
    np.testing.assert_allclose(B[:, 0], x)
    survey = pd.DataFrame({"satisfaction": np.r_[np.arange(1, 11), np.full(30, 10)]})
    design = vc.satisfaction_design(survey, kind="spline")
    assert len(design.knots) >= 3 and design.columns[0] == "sat_lin"


def test_simulated_panel_has_a_ceiling_and_the_stated_truth():
    panel = vc.simulate_panel(50_000, seed=11)
    counts = panel.survey["satisfaction"].value_counts(normalize=True).sort_index()
    assert counts.index.min() >= 1 and counts.index.max() == 10
    assert counts[10.0] > counts[9.0] * 0.9 and counts[10.0] > 0.15     # pile-up at the ceiling
    assert list(panel.summary.columns[:5]) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert (panel.summary["customer_id"] == panel.survey["customer_id"]).all()
    assert np.all(panel.summary["recency"] <= panel.summary["T"])
    params = panel.truth.level_parameters(panel.survey["satisfaction"].to_numpy())
    band_mean = panel.latent.groupby(panel.survey["band"])["rate"].mean()
    expected = pd.Series(params["r"] / params["alpha"]).groupby(panel.survey["band"].to_numpy()).mean()
    np.testing.assert_allclose(band_mean[expected.index], expected, rtol=0.05)
    assert panel.truth.without_satisfaction_effect().coefficients.abs().sum() == 0


def test_failures_are_returned_not_raised():
    n = 500
    zeros = np.zeros(n)
    Z = pd.DataFrame({"z": np.random.default_rng(3).integers(0, 2, n).astype(float)})
    fit = vc.fit_bgnbd_covariates(zeros, zeros, np.full(n, 39.0), Z, Z)
    assert not fit.converged and len(fit.tried) >= 3 and fit.error
    assert fit.params.isna().all() and np.isnan(fit.wald_test()["p_value"])
    constant = vc.fit_bgnbd_covariates(np.ones(n), np.full(n, 5.0), np.full(n, 39.0), pd.DataFrame({"c": np.ones(n)}))
    assert not constant.converged and "purchase[c]" in constant.error
    gg = vc.fit_gamma_gamma_covariates(np.ones(n), np.full(n, 10.0))
    value = vc.value_by_level(fit, gg, vc.satisfaction_design(pd.DataFrame({"satisfaction": [1, 10]})))
    assert not value.computed and "BG/NBD" in value.note


def test_a_group_without_dropout_heterogeneity_fails_clearly_and_the_b_only_model_fits():
    """3,000 customers (seed 1089): in band 10, a and b run to infinity together (no heterogeneity
    of the dropout probability), so the note's specification has no maximum; the failure names the
    parameters, and dropout covariates on b only (the true specification here) fit."""
    truth = vc.PanelTruth()
    panel = vc.simulate_panel(3000, truth, seed=1089)
    Z = truth.design(panel.survey).transform(panel.survey)
    s = panel.summary
    full = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], Z, Z)
    assert not full.converged and len(full.tried) == 4
    assert "dropout_a[sat[10]]" in full.error and "dropout_b[sat[10]]" in full.error
    b_only = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], Z, Z, dropout_on=("b",))
    assert b_only.converged
    assert not any(n.startswith("dropout_a") for n in b_only.params.index)
    names = [n for n in truth.coefficients.index if n.startswith("dropout_b")]
    z = (b_only.params[names] - truth.coefficients[names]) / b_only.bse[names]
    assert np.all(np.abs(z) < 3), z
    levels = b_only.natural_parameters(truth.design().level_frame([5, 10]))
    assert levels["a0"][0] == levels["a0"][1] and levels["b0"][1] > levels["b0"][0]


def test_customers_with_missing_covariates_are_counted(cdnow):
    s = cdnow
    Z = _random_covariates(len(s))
    Z.loc[:9, "u"] = np.nan
    fit = vc.fit_bgnbd_covariates(s["frequency"], s["recency"], s["T"], Z, None)
    assert fit.converged and fit.rows_dropped == {"missing purchase covariate": 10}
    assert fit.nobs == len(s) - 10
    gg = vc.fit_gamma_gamma_covariates(s["frequency"], s["monetary_value"], Z)
    assert gg.rows_dropped["no repeat purchase"] == int((s["frequency"] == 0).sum())
    assert gg.nobs + sum(gg.rows_dropped.values()) == len(s)
