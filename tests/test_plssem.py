"""PLS path modelling (models.plssem): SmartPLS's ECSI results on mobi for all three inner schemes,
recovery of known paths from a simulated composite population (bias and interval coverage), HTMT on
constructs built to be the same, the batched bootstrap against one-at-a-time re-fits, and one-line
errors for declarations that are not a recursive PLS model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crmresearch as crm
from crmresearch import datasets
from crmresearch.models import plssem
from crmresearch.models.plssem import (ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS, ModelSpecError, PLSFailure,
                                       PLSPathModel, simulate_survey)

REFERENCE = Path(__file__).parent / "data" / "plssem" / "ecsi_mobi_smartpls.csv"


@pytest.fixture(scope="module")
def mobi():
    return datasets.load_mobi()


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(REFERENCE)


def published_vs_fitted(fit, rows: pd.DataFrame) -> pd.Series:
    """|fitted - published| for every row of one scheme in the SmartPLS file."""
    getters = {
        "path_coefficient": lambda r: fit.path_coefficients.loc[r["from"], r["to"]],
        "r_squared": lambda r: fit.r_squared[r["to"]],
        "outer_loading": lambda r: fit.loadings[(r["from"], r["to"])],
        "outer_weight": lambda r: fit.outer_weights[(r["from"], r["to"])],
        "cross_loading": lambda r: fit.cross_loadings.loc[r["to"], r["from"]],
        "total_effect": lambda r: fit.total_effects.loc[r["from"], r["to"]],
    }
    return rows.apply(lambda r: abs(getters[r["quantity"]](r) - r["value"]), axis=1)


@pytest.mark.parametrize("scheme", ["centroid", "factorial", "path"])
def test_every_smartpls_number_is_matched(mobi, reference, scheme):
    """Every path coefficient, R², loading, weight, cross-loading and total effect of SmartPLS 2.0.M3 on
    the ECSI model to 1e-6 (achieved: 2.1e-8, the size of SmartPLS's own stop rule)."""
    fit = PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS, scheme=scheme).fit(mobi, resamples=0)
    rows = reference[reference["scheme"] == scheme]
    assert rows["quantity"].value_counts().to_dict() == {"cross_loading": 168, "outer_loading": 24, "outer_weight": 24,
                                                         "total_effect": 21, "path_coefficient": 12, "r_squared": 6}
    diff = published_vs_fitted(fit, rows)
    assert diff.max() < 1e-6, rows.assign(diff=diff).sort_values("diff").tail(3)
    assert diff.max() < 1e-7                    # tight enough to catch stopping one iteration early
    assert fit.converged and fit.failure is None and fit.nobs == 250 and fit.rows_dropped == 0
    # The other schemes' numbers are 1e-3 to 1e-2 away, so the test tells the schemes apart.
    other = reference[(reference["scheme"] != scheme) & (reference["quantity"] == "outer_weight")]
    assert published_vs_fitted(fit, other).max() > 1e-3


def test_the_bootstrap_batch_equals_one_refit_per_resample(mobi):
    """The batched resamples (count-weighted correlation matrices) equal fitting each resampled data set."""
    model = PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS)
    fit = model.fit(mobi, resamples=4, seed=3)
    counts = plssem.resample_counts(np.random.default_rng(3), 250, 4)
    for b in range(4):
        resampled = mobi.loc[mobi.index.repeat(counts[b].astype(int))]
        refit = model.fit(resampled, resamples=0)
        np.testing.assert_allclose(fit.bootstrap.draws["path"][b], refit.params.to_numpy(), atol=1e-10)
        np.testing.assert_allclose(fit.bootstrap.draws["loading"][b], refit.estimates["loading"].to_numpy(), atol=1e-10)
    again = model.fit(mobi, resamples=4, seed=3)
    np.testing.assert_array_equal(again.bootstrap.draws["path"], fit.bootstrap.draws["path"])


def test_the_results_api_intervals_quality_prediction_and_ipma(mobi):
    fit = crm.PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS).fit(mobi, resamples=300, seed=1)
    ci, bca = fit.conf_int(), fit.conf_int(method="bca")
    assert list(ci.index) == list(fit.params.index) and (fit.bse > 0).all()
    assert ((ci["lower"] < fit.params) & (fit.params < ci["upper"])).all()
    assert ((bca["lower"] < fit.params) & (fit.params < bca["upper"])).all()
    assert "Satisfaction -> Loyalty" in str(fit.summary())
    quality = fit.reliability()
    assert quality.loc["Complaints", ["cronbach_alpha", "rho_a", "rho_c", "ave"]].tolist() == [1, 1, 1, 1]
    assert (quality["cronbach_alpha"] <= quality["rho_c"] + 1e-12).all()       # α is a lower bound for ρ_C here
    lam = fit.loadings["Satisfaction"].to_numpy()
    assert quality.loc["Satisfaction", "ave"] == pytest.approx(np.mean(lam ** 2))
    fl = fit.fornell_larcker()
    assert fl.loc["Value", "Value"] == pytest.approx(np.sqrt(quality.loc["Value", "ave"]))
    f2 = fit.f_squared()
    r2 = fit.r_squared["Complaints"]                      # one predictor: f² = R² / (1 - R²)
    assert f2["Satisfaction -> Complaints"] == pytest.approx(r2 / (1 - r2))
    assert fit.indirect_effects.loc["Image", "Loyalty"] == pytest.approx(
        fit.total_effects.loc["Image", "Loyalty"] - fit.path_coefficients.loc["Image", "Loyalty"])
    pred = fit.predict(folds=5, seed=2)
    assert (pred.loc[["CUSA1", "CUSA2", "CUSA3"], "q2_predict"] > 0.1).all()
    assert pred.equals(fit.predict(folds=5, seed=2))
    ipma = fit.ipma("Loyalty", 1, 10)
    assert ipma.loc["Complaints", "performance"] == pytest.approx((mobi["CUSCO"].mean() - 1) / 9 * 100)
    assert ((ipma["performance"] > 0) & (ipma["performance"] < 100)).all()
    assert set(ipma.index) == {"Image", "Expectation", "Quality", "Value", "Satisfaction", "Complaints"}


# ------------------------------------------------------------------ recovery from a known model

SIM_CONSTRUCTS = {"X1": ["a1", "a2", "a3"], "X2": ["b1", "b2", "b3"], "Y1": ["c1", "c2", "c3", "c4"],
                  "Y2": ["d1", "d2", "d3"]}
SIM_PATHS = [("X1", "Y1"), ("X2", "Y1"), ("Y1", "Y2"), ("X1", "Y2")]
TRUE_PATHS = {("X1", "Y1"): 0.4, ("X2", "Y1"): 0.3, ("Y1", "Y2"): 0.5, ("X1", "Y2"): 0.2}
FORMATIVE_WEIGHTS = {"X2": [0.6, 0.3, 0.1]}


def recovery_study(replications: int, n: int, resamples: int, seed: int, method: str = "percentile"):
    """Path estimates and 95% bootstrap intervals (percentile or BCa) over data sets drawn from the composite
    model (X2 formative with unequal weights, Mode B; the rest reflective with equal weights, Mode A)."""
    model = PLSPathModel(SIM_CONSTRUCTS, SIM_PATHS, modes={"X2": "B"})
    rng = np.random.default_rng(seed)
    truth = pd.Series({f"{a} -> {b}": v for (a, b), v in TRUE_PATHS.items()})
    est, covered = [], []
    for r in range(replications):
        data = simulate_survey(model, TRUE_PATHS, n, rng, weights=FORMATIVE_WEIGHTS)
        fit = model.fit(data, resamples=resamples, seed=r)
        assert fit.converged
        ci = fit.conf_int(method=method).loc[truth.index]
        est.append(fit.params[truth.index])
        covered.append((ci["lower"] < truth) & (truth < ci["upper"]))
    return truth, pd.DataFrame(est), pd.DataFrame(covered)


def test_population_model_gives_the_true_paths_exactly():
    """PLS on the population correlation matrix returns the true paths and weights (consistency)."""
    model = PLSPathModel(SIM_CONSTRUCTS, SIM_PATHS, modes={"X2": "B"})
    Sigma, true_w = plssem.population_correlations(model, TRUE_PATHS, weights=FORMATIVE_WEIGHTS)
    W, _, conv = plssem.pls_weights(Sigma[None], model.layout, "path")
    st = plssem.structural_batch(Sigma[None], W, model.layout)
    assert conv[0]
    pos = {n: k for k, n in enumerate(model.layout.constructs)}
    np.testing.assert_allclose([st["B"][0][pos[a], pos[b]] for a, b in TRUE_PATHS], list(TRUE_PATHS.values()),
                               atol=1e-9)
    np.testing.assert_allclose(W[0][model.layout.blocks[1], 1], true_w["X2"], atol=1e-8)


def test_recovery_of_known_paths_small_study():
    """40 surveys of 300: mean estimates within 3 Monte-Carlo standard errors of the true paths (a path
    off by 0.05 would fail) and 95% intervals cover 85-100% of the 160 true paths."""
    truth, est, covered = recovery_study(40, 300, 200, seed=5)
    mc_se = est.std() / np.sqrt(len(est))
    assert ((est.mean() - truth).abs() < 3 * mc_se + 0.005).all(), est.mean() - truth
    assert (mc_se < 0.05 / 3).all()
    assert 0.85 <= covered.to_numpy().mean() <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_recovery_of_known_paths_bias_and_coverage(method):
    """200 surveys of 400 with 1,000 resamples each: |bias| < 0.01 for every path; the 800 intervals cover
    91-98% of the true paths together and at least 87% for each path (one path's coverage over 200 surveys
    has a Monte-Carlo SE of 1.5 points). Measured: percentile 91-93.5% per path (92.5% together), BCa 90-94%
    (92.4%): slightly under 95% at this sample size; bias 0.003 or less (Monte-Carlo SE 0.003)."""
    truth, est, covered = recovery_study(200, 400, 1000, seed=6, method=method)
    assert ((est.mean() - truth).abs() < 0.01).all(), est.mean() - truth
    assert 0.91 <= covered.to_numpy().mean() <= 0.98, covered.mean()
    assert (covered.mean() >= 0.87).all(), covered.mean()


def test_htmt_flags_two_constructs_built_to_be_the_same():
    """Items of A and B all measure one factor (HTMT near 1, flagged); C is a different construct
    correlated 0.4 with it (HTMT near 0.4, not flagged)."""
    rng = np.random.default_rng(4)
    n = 500
    f = rng.standard_normal(n)
    g = 0.4 * f + np.sqrt(1 - 0.4 ** 2) * rng.standard_normal(n)
    items = {f"a{i}": 0.8 * f for i in range(3)} | {f"b{i}": 0.8 * f for i in range(3)} | \
        {f"c{i}": 0.8 * g for i in range(3)}
    data = pd.DataFrame({k: v + 0.6 * rng.standard_normal(n) for k, v in items.items()})
    fit = PLSPathModel({"A": ["a0", "a1", "a2"], "B": ["b0", "b1", "b2"], "C": ["c0", "c1", "c2"]},
                       [("A", "C"), ("B", "C")]).fit(data, resamples=300, seed=1)
    htmt = fit.htmt()
    flags = fit.htmt_flags()
    assert htmt.loc["A", "B"] > 0.95 and flags.loc["A ~ B", "flag"]
    assert htmt.loc["A", "C"] < 0.6 and not flags.loc["A ~ C", "flag"] and not flags.loc["B ~ C", "flag"]


# ------------------------------------------------------------------ declarations and failures

@pytest.mark.parametrize("constructs, paths, modes, message", [
    ({"A": ["x1"], "B": []}, [("A", "B")], None, "construct 'B' has no items"),
    ({"A": ["x1", "x2"], "B": ["x2"]}, [("A", "B")], None, "item 'x2' is in two constructs"),
    ({"A": ["x1"], "B": ["x2"]}, [("A", "Z")], None, "'Z' is not a declared construct"),
    ({"A": ["x1"], "B": ["x2"], "C": ["x3"]}, [("A", "B"), ("B", "C"), ("C", "A")], None,
     "the paths A -> B -> C -> A form a cycle"),
    ({"A": ["x1"], "B": ["x2"]}, [("A", "A")], None, "cannot be its own cause"),
    ({"A": ["x1"], "B": ["x2"], "C": ["x3"]}, [("A", "B")], None, "construct 'C' is in no path"),
    ({"A": ["x1"], "B": ["x2"]}, [("A", "B")], {"A": "C"}, "expected 'A' (reflective) or 'B' (formative)"),
    ({"A": ["x1"], "B": ["x2"]}, [], None, "no paths declared"),
])
def test_bad_declarations_give_one_line_errors(constructs, paths, modes, message):
    with pytest.raises(ModelSpecError) as err:
        PLSPathModel(constructs, paths, modes)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_data_problems_are_one_line_or_a_failure_never_a_traceback(mobi):
    with pytest.raises(ModelSpecError, match="item 'NOPE' is not a column"):
        PLSPathModel({"A": ["NOPE"], "B": ["CUSA1"]}, [("A", "B")]).fit(mobi)
    with pytest.raises(ModelSpecError, match="scheme 'mode'"):
        PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS, scheme="mode")
    few = mobi.head(40).copy()
    few.loc[few.index[:20], "CUSA1"] = np.nan
    failed = PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS).fit(few)
    assert isinstance(failed, PLSFailure) and not failed.converged and "20 respondents complete" in failed.failure
    assert failed.params.isna().all() and "Failed" in str(failed.summary())
    stopped = PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS, max_iter=2).fit(mobi, resamples=0)
    assert isinstance(stopped, PLSFailure) and "did not converge in 2 iterations" in stopped.failure


def test_bca_interval_agrees_with_scipy():
    """The BCa formula (bias correction from the share of draws below the estimate, acceleration from the
    jackknife) on the mean of a skewed sample gives scipy.stats.bootstrap's BCa interval (different resamples,
    so within Monte-Carlo error), and moves well away from the percentile interval."""
    from scipy import stats

    x = np.random.default_rng(3).lognormal(0, 1, 60)
    counts = plssem.resample_counts(np.random.default_rng(5), x.size, 20_000)
    draws = (counts @ x / x.size)[:, None]
    jack = (x.sum() - x) / (x.size - 1)
    d = jack.mean() - jack
    acceleration = np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5)
    lower, upper = plssem.bca_interval(draws, np.array([x.mean()]), np.array([acceleration]), 0.95)
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="BCa", random_state=7).confidence_interval
    width = ref.high - ref.low
    assert abs(lower[0] - ref.low) < 0.03 * width and abs(upper[0] - ref.high) < 0.05 * width
    assert upper[0] - np.quantile(draws, 0.975) > 0.2 * width          # not the percentile interval


def test_plspredict_equals_the_linear_benchmark_when_both_are_one_regression():
    """With one item per construct, PLS's out-of-fold prediction of y from x is the training regression of y
    on x, which is also the LM benchmark: the two RMSEs and MAEs are equal, and Q²_predict is 1 − SSE/SST
    against the training means."""
    rng = np.random.default_rng(9)
    x = rng.normal(5, 2, 300)
    data = pd.DataFrame({"x": x, "y": 1 + 0.6 * x + rng.normal(0, 1.5, x.size)})
    fit = PLSPathModel({"X": ["x"], "Y": ["y"]}, [("X", "Y")]).fit(data, resamples=0)
    pred = fit.predict(folds=5, seed=1)
    assert pred.loc["y", "pls_rmse"] == pytest.approx(pred.loc["y", "lm_rmse"], rel=1e-10)
    assert pred.loc["y", "pls_mae"] == pytest.approx(pred.loc["y", "lm_mae"], rel=1e-10)
    assert 0.3 < pred.loc["y", "q2_predict"] < 0.8


def test_ipma_importance_is_the_unstandardised_total_effect_on_the_0_100_scale():
    """Single items on 1-10: performance is the item mean rescaled to 0-100 and importance the slope of the
    target on the driver (the same rescaling on both sides cancels); through a mediator it is the product."""
    rng = np.random.default_rng(10)
    x = np.clip(np.rint(rng.normal(6, 2, 500)), 1, 10)
    m = np.clip(np.rint(1 + 0.7 * x + rng.normal(0, 1.2, x.size)), 1, 10)
    y = np.clip(np.rint(2 + 0.5 * m + rng.normal(0, 1.2, x.size)), 1, 10)
    data = pd.DataFrame({"x": x, "m": m, "y": y})
    fit = PLSPathModel({"X": ["x"], "M": ["m"], "Y": ["y"]}, [("X", "M"), ("M", "Y")]).fit(data, resamples=0)
    ipma = fit.ipma("Y", 1, 10)
    slope_m = np.polyfit(m, y, 1)[0]
    assert ipma.loc["M", "importance"] == pytest.approx(slope_m)
    assert ipma.loc["X", "importance"] == pytest.approx(np.polyfit(x, m, 1)[0] * slope_m)
    assert ipma.loc["X", "performance"] == pytest.approx((x.mean() - 1) / 9 * 100)
