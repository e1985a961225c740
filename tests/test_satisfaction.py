"""Proof that the satisfaction-loyalty estimators are right: recovery, coverage and size.

Every test is seeded; the Monte Carlo rates measured on this machine are stated in the
docstrings and asserted with a tolerance of about three Monte Carlo standard errors.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import crmresearch as crm
from crmresearch.models import segmented
from crmresearch.satisfaction import attributes, ceiling, curves, loyalty_types, simulation, topbox
from textnumbers import numbers

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def mobi_like_satisfaction(rng, n):
    """Mean of three rounded 1-10 items around 7.5, like the ECSI mobile survey's SAT score."""
    items = np.clip(np.rint(7.5 + 1.2 * rng.standard_normal((n, 1)) + 0.7 * rng.standard_normal((n, 3))), 1, 10)
    return items.mean(axis=1)


# ---------------------------------------------------------------- segmented regression

def test_segmented_matches_piecewise_regression():
    """Our Muggeo fit equals PyPI piecewise-regression (itself checked against R segmented)."""
    import piecewise_regression

    x, y = simulation.simulate_segmented(400, breakpoint=6.0, slope_before=0.2, slope_after=1.5, intercept=1.0,
                                         noise=1.0, seed=11)
    # Same start for both: with continuous x the residual sum of squares has shallow local
    # minima between data points, and piecewise-regression draws random starts.
    ours = segmented.fit_segmented(x, y, psi_start=5.0)
    ref = piecewise_regression.Fit(x, y, start_values=[5.0], n_breakpoints=1, n_boot=0).get_results()["estimates"]
    assert ours.breakpoint == pytest.approx(ref["breakpoint1"]["estimate"], abs=1e-8)
    assert ours.breakpoint_se == pytest.approx(ref["breakpoint1"]["se"], rel=1e-6)
    assert ours.slope_before == pytest.approx(ref["alpha1"]["estimate"], abs=1e-8)
    assert ours.slope_after == pytest.approx(ref["alpha2"]["estimate"], abs=1e-8)
    assert ours.breakpoint_ci[0] == pytest.approx(ref["breakpoint1"]["confidence_interval"][0], abs=1e-6)


def test_known_breakpoint_and_slopes_recovered_inside_intervals():
    """One large sample: the truth (ψ=6, β₁=0.2, β₂=1.5) lies in every 95% interval."""
    x, y = simulation.simulate_segmented(2000, 6.0, 0.2, 1.5, intercept=1.0, noise=1.0, seed=3)
    fit = segmented.fit_segmented(x, y)
    assert fit.converged
    assert fit.breakpoint_ci[0] < 6.0 < fit.breakpoint_ci[1]
    assert fit.slope_before_ci[0] < 0.2 < fit.slope_before_ci[1]
    assert fit.slope_after_ci[0] < 1.5 < fit.slope_after_ci[1]
    boot = segmented.bootstrap_segmented(x, y, fit, n_boot=200, seed=4).bootstrap
    assert boot["breakpoint_ci_lower"] < 6.0 < boot["breakpoint_ci_upper"]
    assert boot["n_valid"] >= 195


def test_breakpoint_interval_coverage_over_1000_samples():
    """Delta-method 95% intervals over 1,000 samples (n=1,000, fixed design).

    Measured: ψ 0.950, β₁ 0.939, β₂ 0.943 (Monte Carlo s.e. 0.007). At n = 300 the ψ interval
    covered 0.91: the delta-method interval is known to be liberal in small samples (Muggeo 2017,
    Aust. N.Z. J. Stat. 59(3)), which is why the report also gives a bootstrap interval.
    """
    rng = np.random.default_rng(20261123)
    x = rng.uniform(0, 10, 1000)
    truth = 1.0 + 0.2 * x + 1.3 * np.clip(x - 6.0, 0, None)
    fits = segmented.fit_segmented_many(x, truth + rng.standard_normal((1000, x.size)))
    cover = lambda ci, v: np.mean([lo < v < hi for lo, hi in ci])
    psi = cover([f.breakpoint_ci for f in fits], 6.0)
    b1 = cover([f.slope_before_ci for f in fits], 0.2)
    b2 = cover([f.slope_after_ci for f in fits], 1.5)
    assert all(f.converged for f in fits)
    assert 0.91 <= psi <= 0.97, psi
    assert 0.92 <= b1 <= 0.97 and 0.92 <= b2 <= 0.97, (b1, b2)


def test_bootstrap_batch_equals_individual_refits():
    """The batched bootstrap fit of a resample equals fitting that resample on its own."""
    x, y = simulation.simulate_segmented(300, 5.0, 1.0, 0.1, noise=0.8, seed=5)
    fit = segmented.fit_segmented(x, y)
    grouped, index = segmented.group_by_x(x, y)
    rng = np.random.default_rng(9)
    chunks = list(segmented.resample_chunks(index, grouped.x.size, y, 3, rng, chunk=2))
    count, sum_y, sum_y2 = (np.concatenate(parts) for parts in zip(*chunks))
    psi, _ = segmented.muggeo_batch(segmented.GroupedData(grouped.x, count, sum_y, sum_y2), np.full(3, fit.breakpoint))
    # Replays the generator exactly as resample_chunks does (chunks of 2 rows, then 1).
    rng = np.random.default_rng(9)
    draws = list(rng.integers(0, y.size, size=(2, y.size))) + list(rng.integers(0, y.size, size=(1, y.size)))
    for b, d in enumerate(draws):
        single = segmented.fit_segmented(x[d], y[d], psi_start=fit.breakpoint)
        assert single.breakpoint == pytest.approx(psi[b], abs=1e-6)
    again = segmented.bootstrap_segmented(x, y, segmented.fit_segmented(x, y), n_boot=50, seed=1).bootstrap
    twice = segmented.bootstrap_segmented(x, y, segmented.fit_segmented(x, y), n_boot=50, seed=1).bootstrap
    assert again["breakpoint_ci_lower"] == twice["breakpoint_ci_lower"]


def test_davies_test_size_under_linear_gaussian_null():
    """Davies' bound is valid (at or under 5%) when the line is straight and unbounded.

    Measured rejection rate at 5%: 0.045 over 2,000 samples of n=250 (s.e. 0.005).
    """
    rng = np.random.default_rng(7)
    x = rng.uniform(1, 10, 250)
    ys = 2 + 0.5 * x + rng.standard_normal((2000, x.size))
    grouped, _ = segmented.group_by_x(x, ys)
    t = segmented.slope_change_t_values(grouped, segmented.davies_grid(x))
    p = segmented.davies_p_value(*segmented.davies_statistic(t))
    rate = np.mean(p < 0.05)
    assert 0.02 <= rate <= 0.06, rate
    # and it has power against a real kink
    x2, y2 = simulation.simulate_segmented(250, 6.0, 0.2, 1.5, noise=1.0, seed=2)
    assert segmented.davies_test(x2, y2).p_value < 1e-6


# ---------------------------------------------------------------- ceiling-aware tests

def _null_rejections(n, seeds, intercept=-1.2, slope=1.2, sigma=1.9, n_sim=199):
    naive, calibrated, at_ceiling = [], [], []
    for seed in range(seeds):
        x, y = simulation.simulate_linear_ceiling(n, intercept, slope, sigma, lambda r: mobi_like_satisfaction(r, n),
                                                  (1, 10), 1.0, seed=seed)
        test = ceiling.calibrated_flat_zone_test(x, y, (1, 10), n_sim=n_sim, seed=10**6 + seed)
        naive.append(test.naive_p_value < 0.05)
        calibrated.append(test.calibrated_p_value < 0.05)
        at_ceiling.append(np.mean(y >= 10))
    return np.mean(naive), np.mean(calibrated), np.mean(at_ceiling)


def test_calibrated_flat_zone_test_holds_its_size_while_naive_over_rejects():
    """Linear latent loyalty + ceiling at 10 + rounding, satisfaction as in mobi (24% at the top box).

    Measured at 5%, n=250, 400 samples: naive Davies 0.163, calibrated 0.043 (s.e. 0.011).
    """
    naive, calibrated, at_ceiling = _null_rejections(250, 400)
    assert 0.2 < at_ceiling < 0.3
    assert 0.025 <= calibrated <= 0.085, calibrated
    assert naive >= 0.11, naive


@pytest.mark.slow
def test_naive_over_rejection_grows_with_sample_size():
    """Same null at n=1,000 (150 samples): naive 0.64, calibrated 0.047 (s.e. 0.018)."""
    naive, calibrated, _ = _null_rejections(1000, 150)
    assert naive > 0.5, naive
    assert 0.0 <= calibrated <= 0.1, calibrated


def test_calibrated_test_detects_a_real_zone_of_indifference():
    """Power: the competitive market's kink (flat, then steep) survives the ceiling calibration."""
    df = simulation.simulate_market(simulation.scenario("competitive", n=600), seed=8)
    test = ceiling.calibrated_flat_zone_test(df["satisfaction"], df["choose_again"], (1, 10), n_sim=199, seed=1)
    assert test.calibrated_p_value < 0.01
    refit = ceiling.fit_ceiling_aware(df["satisfaction"], df["choose_again"], (1, 10))
    assert refit.prefers_kink and refit.slope_after > refit.slope_before


def test_censored_regression_recovers_latent_line_and_covers():
    """Interval-censored ("Tobit") MLE on rounded, clipped answers: slope CI coverage over 200 samples.

    Measured coverage 0.96; mean slope estimate 1.198 vs truth 1.2, while OLS is attenuated to 1.00.
    """
    cover, slopes, ols = [], [], []
    for seed in range(200):
        x, y = simulation.simulate_linear_ceiling(250, -1.2, 1.2, 1.9, lambda r: mobi_like_satisfaction(r, 250),
                                                  (1, 10), 1.0, seed=seed)
        res = ceiling.fit_censored_linear(x, y, (1, 10))
        lo, hi = res.conf_int()[1]
        cover.append(lo < 1.2 < hi)
        slopes.append(res.params[1])
        ols.append(np.polyfit(x, y, 1)[0])
    assert 0.92 <= np.mean(cover) <= 0.98, np.mean(cover)
    assert np.mean(slopes) == pytest.approx(1.2, abs=0.03)
    assert np.mean(ols) < 1.05


def test_censored_regression_score_matches_numerical_gradient():
    x, y = simulation.simulate_linear_ceiling(200, 0.5, 1.0, 1.5, np.linspace(1, 10, 200), (1, 10), 1.0, seed=1)
    for step in (1.0, 0.0):
        model = ceiling.CensoredRegression(y, ceiling.kink_design(x), 1, 10, step)
        params = np.array([0.3, 0.9, np.log(1.4)])
        from statsmodels.tools.numdiff import approx_fprime

        numeric = approx_fprime(params, model.loglike, centered=True)
        assert np.allclose(model.score(params), numeric, rtol=1e-5, atol=1e-5)


def test_ordered_logit_prefers_linear_on_a_linear_world():
    x, y = simulation.simulate_linear_ceiling(500, -1.2, 1.2, 1.9, lambda r: mobi_like_satisfaction(r, 500),
                                              (1, 10), 1.0, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ceiling.ordered_logit_kink(x, y, breakpoint=8.0)
    assert out.linear_slope > 0 and out.kink_p_value > 0.05


# ---------------------------------------------------------------- proportions and the trap

def test_wilson_interval_coverage():
    """Wilson 95% intervals over n ∈ {20, 50, 250, 1000} × p ∈ {0.05 … 0.8}, 4,000 draws each.

    Measured average coverage 0.952 (min 0.927, the known dip of any interval for rare events
    in small samples).
    """
    rng = np.random.default_rng(12)
    coverages = []
    for n in (20, 50, 250, 1000):
        for p in (0.05, 0.2, 0.5, 0.8):
            k = rng.binomial(n, p, 4000)
            lo, hi = crm.stats.wilson_interval(k, np.full(k.size, n))
            coverages.append(np.mean((lo <= p) & (p <= hi)))
    coverages = np.array(coverages)
    assert 0.94 <= coverages.mean() <= 0.96, coverages.mean()
    assert coverages.min() >= 0.90, coverages.min()


def test_trap_counts_match_direct_counts_and_cover_truth():
    """Trap shares equal hand counts; their Wilson intervals cover the population share ~95% of the time.

    Measured coverage over 1,000 samples of n=250: 0.943 for P(defect | satisfied).
    """
    sat = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)
    defect = np.array([1, 0, 0, 1, 1, 1, 0, 0], bool)
    trap = topbox.trap_counts(sat, defect)
    assert trap.satisfied_who_defect.estimate == pytest.approx(2 / 5)
    assert trap.defectors_who_were_satisfied.estimate == pytest.approx(2 / 4)
    rng = np.random.default_rng(5)
    hits = []
    for _ in range(1000):
        s = rng.random(250) < 0.6
        d = rng.random(250) < np.where(s, 0.3, 0.7)
        t = topbox.trap_counts(s, d).satisfied_who_defect
        hits.append(t.lower <= 0.3 <= t.upper)
    assert 0.93 <= np.mean(hits) <= 0.97


def test_jones_sasser_ratio_and_katz_interval():
    """Ratio of 0.6 vs 0.1 repurchase (true 6, as at Xerox): Katz interval covers 0.948 of 1,000 samples."""
    rng = np.random.default_rng(6)
    hits = []
    for _ in range(1000):
        x = np.r_[np.full(150, 10.0), np.full(300, 8.0), np.full(100, 3.0)]
        y = rng.random(x.size) < np.select([x == 10, x == 8], [0.6, 0.1], 0.05)
        js = topbox.jones_sasser_ratio(x, y, top_level=10, satisfied_min=7)
        hits.append(js.lower <= 6 <= js.upper)
    assert js.completely_satisfied.n == 150 and js.merely_satisfied.n == 300
    assert 0.93 <= np.mean(hits) <= 0.975, np.mean(hits)


def test_nps_by_band_matches_stats_module():
    rng = np.random.default_rng(2)
    sat = rng.integers(1, 11, 500).astype(float)
    rec = np.clip(sat + rng.integers(-2, 3, 500), 1, 10)
    table = topbox.nps_by_band(sat, rec, [0, 6, 8, 10])
    top = crm.stats.net_promoter_score(rec[sat > 8])
    assert table.iloc[-1]["nps"] == pytest.approx(top.nps)
    assert table["n"].sum() == 500


# ---------------------------------------------------------------- curves

def test_spline_marginal_effect_recovers_a_known_derivative():
    """y = 0.1 x² + ε: the slope curve 0.2 x lies inside the 95% band at the grid points."""
    rng = np.random.default_rng(4)
    x = rng.uniform(1, 10, 3000)
    y = 0.1 * x**2 + rng.standard_normal(x.size)
    me = curves.fit_spline(x, y, df=5).marginal_effect(np.linspace(2, 9, 8))
    assert np.all((me["lower"] < 0.2 * me["x"]) & (0.2 * me["x"] < me["upper"]))


def test_model_comparison_picks_the_broken_line_for_kinked_data():
    x, y = simulation.simulate_segmented(600, 6.0, 0.1, 1.5, noise=0.8, seed=6)
    table = curves.compare_models(x, y, spline_df=4, folds=5, seed=1)
    best = table.set_index("model")
    assert best.loc["broken line", "aic"] < best.loc["linear", "aic"]
    assert best.loc["broken line", "cv_rmse"] < best.loc["linear", "cv_rmse"]


def test_binned_means_match_groupby():
    x = np.array([1, 2, 3, 6, 7, 8, 9, 10], float)
    y = np.array([1, 3, 2, 5, 6, 6, 9, 10], float)
    out = curves.binned_means(x, y, [0, 5, 8, 10])
    assert out["n"].tolist() == [3, 3, 2]
    assert out["mean"].tolist() == pytest.approx([2.0, 17 / 3, 9.5])


# ---------------------------------------------------------------- the simulated world

def test_market_dgp_latent_breakpoint_and_slopes_recovered():
    """Competitive market: ψ = 7.75, slopes 0.27 and 1.92 (response scale) recovered from the latents."""
    sc = simulation.scenario("competitive", n=4000)
    df = simulation.simulate_market(sc, seed=1)
    truth = sc.true_curve()
    width = sc.scale_high - sc.scale_low
    fit = segmented.fit_segmented(sc.scale_low + width * df["satisfaction_latent"],
                                  sc.scale_low + width * df["attitude_latent"])
    assert fit.breakpoint_ci[0] < truth["breakpoint"] < fit.breakpoint_ci[1]
    assert fit.slope_before_ci[0] < truth["slope_before"] < fit.slope_before_ci[1]
    assert fit.slope_after_ci[0] < truth["slope_after"] < fit.slope_after_ci[1]


def test_market_dgp_is_seeded_and_knobs_act_as_documented():
    sc = simulation.scenario("competitive", n=3000)
    a, b = simulation.simulate_market(sc, 5), simulation.simulate_market(sc, 5)
    pd.testing.assert_frame_equal(a, b)
    monopoly = simulation.simulate_market(simulation.scenario("monopoly", n=3000), 5)
    low = lambda df: df.loc[df["satisfaction"] < 6, "repurchased"].mean()
    assert low(monopoly) > 0.85 > 0.4 > low(a)        # monopoly retains the dissatisfied
    removal = loyalty_types.switching_cost_removal(simulation.scenario("monopoly", n=3000), 5, satisfied_min=6)
    t = removal["table"].set_index(["market", "customers"])["retention"]
    assert t[("switching cost removed", "dissatisfied")] < t[("with switching cost", "dissatisfied")] - 0.3
    # identical answers with and without the barrier: only behaviour changes
    assert (removal["with"]["satisfaction"] == removal["without"]["satisfaction"]).all()


def test_penalty_reward_recovers_basic_and_potential_attributes():
    """Basic attributes (concave part-worths) come out 'basic', potential ones (convex) 'attractive'."""
    df = simulation.simulate_market(simulation.scenario("competitive", n=4000), seed=1)
    table = attributes.penalty_reward(df.filter(regex=r"^(basic|potential)_"), df["satisfaction"], 4, 8)
    kano = dict(zip(table["attribute"], table["kano_class"]))
    assert all(v == "basic" for k, v in kano.items() if k.startswith("basic"))
    assert all(v == "attractive" for k, v in kano.items() if k.startswith("potential"))


def test_dick_basu_and_apostle_shares_sum_to_one():
    rng = np.random.default_rng(1)
    a, b = rng.random(100) < 0.5, rng.random(100) < 0.3
    db = loyalty_types.dick_basu(a, b)
    assert db["count"].sum() == 100 and db["share"].sum() == pytest.approx(1)
    assert db.set_index("type").loc["spurious loyalty", "count"] == int((~a & b).sum())
    ap = loyalty_types.apostle_map(a, b)
    assert ap.set_index("type").loc["mercenary", "count"] == int((a & ~b).sum())


# ---------------------------------------------------------------- a user's own survey

def test_user_survey_with_column_mapping(tmp_path):
    """A user's CSV runs through the parameter schema: items averaged, churn flipped to repurchase."""
    from crmresearch.parameters.satisfaction_loyalty import SatisfactionLoyaltyParameters
    from crmresearch.satisfaction.data import load_report_data

    df = simulation.simulate_market(simulation.scenario("competitive", n=300), seed=2)
    user = pd.DataFrame({"id": np.arange(300) + 1000, "s1": df["sat1"], "s2": df["sat2"], "again": df["choose_again"],
                         "nps": df["recommend"], "churned": (~df["repurchased"]).astype(int),
                         "lock_in": df["switching_cost"], "price": df["basic_1"], "delight": df["potential_1"],
                         "region": np.where(np.arange(300) % 2, "north", "south")})
    path = tmp_path / "survey.csv"
    user.to_csv(path, index=False)
    params = SatisfactionLoyaltyParameters(survey={
        "path": str(path), "id_column": "id", "satisfaction": ["s1", "s2"], "loyalty": ["again", "nps"],
        "repurchase": "again", "recommendation": "nps", "behaviour": "churned", "behaviour_means": "churned",
        "switching_cost": "lock_in", "attributes": ["price", "delight"]})
    data = load_report_data(params)
    assert data.has_behaviour and data.n == 300
    assert data.frame["satisfaction"].to_numpy() == pytest.approx(df[["sat1", "sat2"]].mean(axis=1).to_numpy())
    assert (data.frame["repurchased"].astype(bool) == df["repurchased"]).all()
    assert data.attributes == ["price", "delight"] and "region" not in data.frame

    user.loc[5, "churned"] = 2
    user.to_csv(path, index=False)
    with pytest.raises(crm.datasets.DataValidationError, match="churned"):
        load_report_data(params)


def test_parameters_need_exactly_one_source():
    from crmresearch.parameters.satisfaction_loyalty import SatisfactionLoyaltyParameters

    with pytest.raises(Exception, match="exactly one"):
        SatisfactionLoyaltyParameters(survey={"dataset": "mobi"}, simulation={"scenario": "monopoly"})
    simulated = SatisfactionLoyaltyParameters(survey=None, simulation={"scenario": "monopoly"})
    assert simulated.simulation.market().name == "monopoly"


# ---------------------------------------------------------------- the report workflow (analysis)

def _simulated_report_data(**overrides):
    from crmresearch.parameters.satisfaction_loyalty import SatisfactionLoyaltyParameters
    from crmresearch.satisfaction.data import load_report_data

    params = SatisfactionLoyaltyParameters(survey=None, simulation={"scenario": "competitive", "n": 400},
                                           scenario_n=300, **overrides)
    return params, load_report_data(params)


def test_expected_curve_is_the_straight_latent_line_seen_through_the_ceiling():
    from types import SimpleNamespace

    fit = SimpleNamespace(linear_intercept=1.0, linear_slope=1.0, sigma=1.0, step=1.0)
    grid = np.linspace(1, 10, 19)
    curve = ceiling.expected_curve(fit, grid, (1, 10))
    assert curve["latent"].to_numpy() == pytest.approx(1.0 + grid)
    expected = ceiling.expected_answer(grid, 1.0, 1.0, 1.0, (1, 10), 1.0)
    assert curve["expected_answer"].to_numpy() == pytest.approx(expected)
    middle = (grid >= 3) & (grid <= 6)                    # far from floor and ceiling: rounding is unbiased
    assert curve.loc[middle, "expected_answer"].to_numpy() == pytest.approx(1.0 + grid[middle], abs=0.01)
    top = curve.iloc[-1]                                  # latent 11, but no answer exceeds 10
    assert (curve["expected_answer"] <= 10).all() and top["expected_answer"] < top["latent"] - 1


def test_sections_record_behaviour_results_only_when_behaviour_is_observed():
    import dataclasses

    from crmresearch.satisfaction import sections
    from crmresearch.satisfaction.analyse import SatisfactionAnalysis, classify_loyalty, count_trap, jones_sasser_ratios

    params, data = _simulated_report_data(simulated_illustrations=True)
    assert data.has_behaviour
    frame = data.frame
    satisfied = frame["satisfaction"].to_numpy() >= params.satisfied_min
    trap = sections.trap(SatisfactionAnalysis(params, data, trap=count_trap(data, params)))
    assert list(trap.results) == ["trap_intention", "trap_behaviour"]
    assert list(trap.table["df"]["basis"]) == ["would not choose again"] * 3 + ["defected"] * 3
    defected = ~frame["repurchased"].to_numpy(bool)
    assert trap.behaviour.satisfied_who_defect.successes == int((satisfied & defected).sum())
    # the stated trap (two shares with their 95% CIs), then the share of actual defectors who were satisfied
    def pct(p):
        return [round(100 * p.estimate, 1), 95, round(100 * p.lower, 1), round(100 * p.upper, 1)]
    stated_numbers = pct(trap.intention.satisfied_who_defect) + pct(trap.intention.defectors_who_were_satisfied)
    assert numbers(trap.text) == stated_numbers + [round(100 * trap.behaviour.defectors_who_were_satisfied.estimate, 1)]
    js = sections.jones_sasser(SatisfactionAnalysis(params, data, jones_sasser=jones_sasser_ratios(
        data, frame["choose_again"].to_numpy() >= params.top_box_min, params)))
    assert list(js.results) == ["jones_sasser_top_box", "jones_sasser_repurchase"]
    types = sections.loyalty_types(SatisfactionAnalysis(params, data, loyalty_types=classify_loyalty(data, params)))
    assert types.source_label == data.label and types.dick_basu["count"].sum() == data.n
    assert types.source == "simulated" and types.heading is None      # a simulation variant's own data

    stated_only = dataclasses.replace(data, has_behaviour=False, source="survey")
    trap = sections.trap(SatisfactionAnalysis(params, stated_only, trap=count_trap(stated_only, params)))
    assert list(trap.results) == ["trap_intention"] and set(trap.table["df"]["basis"]) == {"would not choose again"}
    assert numbers(trap.text) == stated_numbers            # no behavioural figure without behaviour
    assert list(sections.jones_sasser(SatisfactionAnalysis(params, stated_only, jones_sasser=jones_sasser_ratios(
        stated_only, np.zeros(data.n, bool), params))).results) == ["jones_sasser_top_box"]
    types = sections.loyalty_types(SatisfactionAnalysis(params, stated_only,
                                                        loyalty_types=classify_loyalty(stated_only, params)))
    assert types.source_label == "the simulated competitive market" and types.source == "simulated"
    assert "Simulated illustration" in types.heading and "Simulated illustration" in types.table["caption"]
    assert types.dick_basu["count"].sum() == params.scenario_n
    assert list(types.table["df"]["framework"].unique()) == ["Dick & Basu", "Jones & Sasser"]

    # Without `simulated_illustrations` nothing simulated stands in for the survey: the section says why.
    params_off = params.model_copy(update={"simulated_illustrations": False})
    off = sections.loyalty_types(SatisfactionAnalysis(params_off, stated_only,
                                                      loyalty_types=classify_loyalty(stated_only, params_off)))
    assert off.source == "not_computed" and "behaviour" in off.note and off.results == {}


def test_size_check_switched_off_records_nothing():
    from crmresearch.satisfaction import sections
    from crmresearch.satisfaction.analyse import SatisfactionAnalysis, check_size

    params, _ = _simulated_report_data(size_check_samples=0)
    section = sections.size_check(SatisfactionAnalysis(params, size=check_size(None, None, (1, 10), params)))
    assert section.size is None and section.results == {} and "switched off" in section.text
    assert section.source == "not_computed"


def test_model_choice_and_retention_sentences_state_the_computed_values():
    from crmresearch.satisfaction import text as sat_text
    from crmresearch.satisfaction.analyse import best_models, slope_range

    models = pd.DataFrame({"model": ["linear", "spline", "broken line"], "aic": [3.0, 1.0, 2.0],
                           "bic": [1.0, 3.0, 2.0], "cv_rmse": [0.3, 0.2, 0.1]})
    best = best_models(models)
    assert best == {"aic": "spline", "bic": "linear", "cv_rmse": "broken line"}
    # the models each criterion prefers, in the order AIC, BIC, cross-validation (bold values, not wording)
    assert re.findall(r"\*\*(.+?)\*\*", sat_text.model_choice_text(best)) == ["spline", "linear", "broken line"]
    assert slope_range(pd.DataFrame({"slope": [0.4, -0.1, 0.9]})) == [-0.1, 0.9]

    table = pd.DataFrame({"market": ["with switching cost", "switching cost removed"],
                          "customers": ["dissatisfied", "dissatisfied"], "retention": [0.9, 0.25]})
    text = sat_text.switching_cost_removal_text(table, 7)
    assert numbers(text) == [90.0, 7, 25.0]       # retention with the cost, the SAT cut-off, retention without

    curves = pd.DataFrame([{"scenario": s, "level": float(level), "share": share}
                           for s, shares in (("competitive", (0.2, 0.8)), ("intermediate", (0.5, 0.9)),
                                             ("monopoly", (0.95, 0.97)))
                           for level, share in zip((8, 10), shares)])
    text = sat_text.competitiveness_text(curves, 7, 9, 10)
    # per SAT level, retention in the competitive, intermediate and monopoly markets
    assert numbers(text) == [8, 20, 50, 95, 10, 80, 90, 97]


def test_the_top_box_and_net_score_leads_say_no_more_than_their_intervals():
    """The Jones-Sasser lead compares the two groups it divides (completely vs merely satisfied), names the
    answer counted ("the top answer" only when the top box is the scale's top), and an NPS interval that
    includes 0 leaves the sign open rather than claiming a balance."""
    from crmresearch import stats
    from crmresearch.satisfaction import text as sat_text
    from crmresearch.satisfaction.analyse import NetScore
    from crmresearch.satisfaction.topbox import JonesSasserRatio

    cs, ms = stats.Proportion(40, 50, 0.8, 0.67, 0.89), stats.Proportion(20, 100, 0.2, 0.13, 0.29)

    def lead(ratio, lower, upper, top_box=9.0, top=10.0):
        return sat_text.top_box_lead(JonesSasserRatio(cs, ms, ratio, lower, upper), 10, 7, 0.95, top_box, top)

    more, less, open_ = lead(4.0, 2.7, 5.9), lead(0.6, 0.4, 0.9), lead(1.2, 0.8, 1.8)
    assert "the completely satisfied do so clearly more often than the merely satisfied" in more
    assert "the completely satisfied do so clearly less often than the merely satisfied" in less
    assert "cannot tell which of the two groups does so more often" in open_
    assert not any("top of the scale" in s for s in (more, less, open_))
    assert "to answer 9 or more to 'would choose again'" in more and "top answer" not in more
    assert "to give the top answer to 'would choose again'" in lead(4.0, 2.7, 5.9, top_box=10.0)
    assert "to answer 10 or more" in lead(4.0, 2.7, 5.9, top_box=10.0, top=None)      # scale unknown: say the cut

    def score(lower, upper):
        overall = stats.NetPromoterScore(200, 40.0, 30.0, 30.0, (lower + upper) / 2, lower, upper)
        return sat_text.net_score_lead(NetScore(overall, True, 9, 6, "0–10", 0, 0.95, 0, 10))

    assert score(2.0, 18.0).endswith("more promoters than detractors.")
    assert score(-18.0, -2.0).endswith("more detractors than promoters.")
    straddles = score(-6.0, 10.0)
    assert "cannot tell whether promoters or detractors are more numerous" in straddles
    assert "balance" not in straddles


def test_the_drivers_sentences_follow_the_numbers():
    """The 'what drives' text: the driver named first is the largest importance × room to improve on the
    satisfaction map, the numbers it states are the map's, the words on the curve follow the ceiling
    verdict, and no causal claim is made."""
    import importlib
    from types import SimpleNamespace

    from crmresearch import parameters
    from crmresearch.satisfaction import text

    analysis_module = importlib.import_module("crmresearch.satisfaction.analyse")  # the package exports analyse()

    params = parameters.load_parameter_file(crm.config.PARAMS_DIR / "satisfaction_loyalty" / "fast.yaml").validated
    params = params.model_copy(update={"survey": params.survey.model_copy(update={
        "structural_model": params.survey.structural_model.model_copy(update={"bootstrap_resamples": 200})})})
    d = analysis_module.analyse_drivers(analysis_module.load_report_data(params), params)
    sat_map = d.ipma["Satisfaction"]
    first = (sat_map["importance"] * (100 - sat_map["performance"])).idxmax()
    broken = SimpleNamespace(converged=True, slope_before=1.2, slope_after=0.5, breakpoint=7.8)
    survives = text.drivers_text(d, broken, {"survives": True, "naive_rejects": True})
    artefact = text.drivers_text(d, broken, {"survives": False, "naive_rejects": True})
    assert f"**{first}** is the driver to improve first" in survives
    assert f"**{sat_map.loc[first, 'importance']:.2f}** points of Satisfaction" in survives
    assert "survives the ceiling checks" in survives and "survives the ceiling checks" not in artefact
    assert "trace the bend to the top of the scale" in artefact
    assert "not that raising the driver would cause the gain" in survives
    steeper = text.drivers_text(d, SimpleNamespace(converged=True, slope_before=0.5, slope_after=1.2, breakpoint=7.8))
    assert "does not flatten" in steeper
