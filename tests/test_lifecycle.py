"""Proof that the lifecycle-transition statistics are right.

Simulated panels with a known matrix: counts equal consecutive pairs, recovery within intervals,
interval coverage, size of the homogeneity and order tests, absorption quantities and pattern
probabilities against Monte Carlo, Markov-chain value against the closed form. Stage rules are
checked on hand-made transaction logs and on CDNOW.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import crmresearch as crm
from crmresearch import lifecycle as lc
from textnumbers import assert_states, without_numbers

# A 4-stage chain with a structural zero (0 -> 3 impossible) and an absorbing stage 3.
P_ABSORBING = np.array([
    [0.60, 0.30, 0.10, 0.00],
    [0.15, 0.55, 0.20, 0.10],
    [0.05, 0.15, 0.50, 0.30],
    [0.00, 0.00, 0.00, 1.00],
])
# An ergodic 3-stage chain for tests that need every row visited often.
P_ERGODIC = np.array([
    [0.70, 0.20, 0.10],
    [0.25, 0.50, 0.25],
    [0.10, 0.30, 0.60],
])
# The relationship chain of the Background page (#lifecycle): prospect, formation, stability, decline, churn.
RELATIONSHIP_STATES = ("prospect", "formation", "stability", "decline", "churn")
P_RELATIONSHIP = np.array([
    [0.50, 0.30, 0.00, 0.00, 0.20],
    [0.05, 0.50, 0.30, 0.05, 0.10],
    [0.00, 0.02, 0.80, 0.13, 0.05],
    [0.00, 0.05, 0.20, 0.45, 0.30],
    [0.00, 0.00, 0.00, 0.00, 1.00],
])


def rng(seed=0):
    return np.random.default_rng(seed)


def brute_force_counts(df: pd.DataFrame, n_states: int) -> np.ndarray:
    """Reference count: loop over customers, pairs of consecutive periods only."""
    counts = np.zeros((n_states, n_states), np.int64)
    for _, g in df.sort_values(["customer_id", "period"]).groupby("customer_id"):
        per, st = g["period"].to_numpy(), g["stage"].to_numpy()
        for k in range(len(g) - 1):
            if per[k + 1] == per[k] + 1:
                counts[st[k], st[k + 1]] += 1
    return counts


def random_gappy_frame(seed=1, n_customers=300, n_periods=9, n_states=4) -> pd.DataFrame:
    g = rng(seed)
    cust = np.repeat(np.arange(n_customers), n_periods)
    per = np.tile(np.arange(n_periods), n_customers)
    keep = g.random(cust.size) < 0.7          # gaps in histories, staggered entry and exit
    df = pd.DataFrame({"customer_id": cust[keep].astype(str), "period": per[keep] + 3,
                       "stage": g.integers(0, n_states, keep.sum())})
    return df.sample(frac=1, random_state=seed).reset_index(drop=True)   # any row order


# ---------------------------------------------------------------- counting

def test_counts_equal_consecutive_pairs_in_any_row_order():
    df = random_gappy_frame()
    expected = brute_force_counts(df, 4)
    panel = lc.StagePanel.from_frame(df, states=[0, 1, 2, 3])
    assert np.array_equal(lc.transition_counts(panel), expected)
    assert lc.transition_counts(panel).sum() == len(panel.pairs()[0])
    fast = lc.count_transitions(panel.customer, panel.period, panel.stage, 4)
    assert np.array_equal(fast, expected)
    shuffled = df.sample(frac=1, random_state=7)
    assert np.array_equal(lc.transition_counts(lc.StagePanel.from_frame(shuffled, states=[0, 1, 2, 3])), expected)


def test_sort_path_equals_grid_path_and_ignores_ids_adjacent_in_row_order(monkeypatch):
    df = random_gappy_frame(seed=2)
    expected = brute_force_counts(df, 4)
    import crmresearch.lifecycle.panel as panel_module

    monkeypatch.setattr(panel_module, "_GRID_DENSITY_LIMIT", -10**9)   # force the lexsort path
    panel = lc.StagePanel.from_frame(df, states=[0, 1, 2, 3])
    assert not panel.uses_grid
    assert np.array_equal(lc.transition_counts(panel), expected)
    assert np.array_equal(lc.count_transitions(panel.customer, panel.period, panel.stage, 4), expected)
    # Customer A ends in period 1, customer B starts in period 2: no transition between them.
    two = lc.StagePanel(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3]), np.array([0, 1, 2, 2]), ("a", "b", "c"))
    assert lc.transition_counts(two).tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_duplicate_customer_period_rows_are_rejected():
    df = pd.DataFrame({"customer_id": ["a", "a"], "period": [1, 1], "stage": [0, 1]})
    panel = lc.StagePanel.from_frame(df, states=[0, 1])
    with pytest.raises(lc.PanelError, match="duplicate"):
        lc.transition_counts(panel)
    with pytest.raises(lc.PanelError, match="duplicate"):
        lc.count_transitions(panel.customer, panel.period, panel.stage, 2)


def test_entries_and_per_customer_counts_add_up():
    df = random_gappy_frame(seed=3)
    panel = lc.StagePanel.from_frame(df, states=[0, 1, 2, 3])
    per_customer = lc.customer_transition_counts(panel)
    assert np.array_equal(per_customer.sum(axis=0).reshape(4, 4), lc.transition_counts(panel))
    cust, per, stage = panel.entries()
    first = df.sort_values("period").groupby("customer_id").first()
    assert cust.size == df["customer_id"].nunique()
    got = pd.Series(stage, index=panel.customer_ids[cust])
    assert np.array_equal(got.loc[first.index].to_numpy(), first["stage"].to_numpy())


# ---------------------------------------------------------------- estimation

def test_recovery_within_intervals_rows_sum_to_one_structural_zeros_kept():
    panel = lc.simulate_panel(P_ABSORBING, [0.7, 0.3, 0, 0], 6000, 12, rng(4), absorbing=[3],
                              entry_period=rng(5).integers(0, 6, 6000))
    allowed = P_ABSORBING > 0
    m = lc.estimate_transition_matrix(panel, allowed=allowed, absorbing=[3], n_boot=400, rng=rng(6))
    assert np.allclose(m.probabilities.sum(axis=1), 1)
    assert np.all(m.probabilities[~allowed] == 0) and np.all(m.wilson_upper[~allowed] == 0)
    inside_wilson = (m.wilson_lower <= P_ABSORBING) & (P_ABSORBING <= m.wilson_upper)
    inside_boot = (m.boot_lower - 1e-12 <= P_ABSORBING) & (P_ABSORBING <= m.boot_upper + 1e-12)
    assert inside_wilson[allowed].mean() >= 0.8 and inside_boot[allowed].mean() >= 0.8
    # With ~25k transitions every estimate is within 0.03 of the truth.
    assert np.abs(m.probabilities - P_ABSORBING).max() < 0.03


def _simulate_many(P, n_reps, n_customers, n_periods, seed, initial=None, entry=None, covariate_P=None):
    """n_reps independent panels stacked as one (customer code = rep * n_customers + i)."""
    s = P.shape[0]
    initial = np.full(s, 1 / s) if initial is None else initial
    panel = lc.simulate_panel(P, initial, n_reps * n_customers, n_periods, rng(seed), entry_period=entry,
                              covariate_P=covariate_P)
    rep = panel.customer // n_customers
    return panel, rep


def _counts_by_rep(panel, rep, n_reps):
    s = panel.n_states
    cust, per, a, b = panel.pairs()
    r = cust // (panel.n_customers // n_reps)
    return np.bincount((r * s + a) * s + b, minlength=n_reps * s * s).reshape(n_reps, s, s)


def test_wilson_interval_coverage_near_95_percent():
    """600 simulated panels of 150 customers x 6 periods; measured coverage 0.952 (cells 0.938-0.960)."""
    n_reps = 600
    panel, rep = _simulate_many(P_ERGODIC, n_reps, 150, 6, seed=8)
    counts = _counts_by_rep(panel, rep, n_reps)
    n_i = np.broadcast_to(counts.sum(axis=2, keepdims=True), counts.shape)
    lo, hi = crm.stats.wilson_interval(counts, n_i)
    covered = (lo <= P_ERGODIC) & (P_ERGODIC <= hi)
    assert 0.935 <= covered.mean() <= 0.965, f"Wilson coverage {covered.mean():.3f}"
    assert covered.mean(axis=0).min() >= 0.91, covered.mean(axis=0)


def test_cluster_bootstrap_interval_coverage_near_95_percent():
    """200 panels of 200 customers x 6 periods, 300 resamples each; measured coverage 0.941."""
    n_reps, n_customers = 200, 200
    panel, rep = _simulate_many(P_ERGODIC, n_reps, n_customers, 6, seed=9)
    per_customer = lc.customer_transition_counts(panel).reshape(n_reps, n_customers, -1)
    g = rng(10)
    covered = []
    for r in range(n_reps):    # each rep is vectorized over resamples; 200 reps take < 2 s
        tables = lc.bootstrap_count_tables(per_customer[r], 300, g).reshape(300, 3, 3)
        samples = lc.ml_probabilities(tables)
        lo, hi = np.quantile(samples, [0.025, 0.975], axis=0)
        covered.append((lo <= P_ERGODIC) & (P_ERGODIC <= hi))
    rate = np.mean(covered)
    assert 0.92 <= rate <= 0.97, f"bootstrap coverage {rate:.3f}"


def test_bootstrap_is_exact_multinomial_over_count_patterns():
    """Resampling patterns reproduces the mean and variance of naive customer resampling."""
    panel = lc.simulate_panel(P_ERGODIC, [1, 0, 0], 400, 5, rng(11))
    per_customer = lc.customer_transition_counts(panel)
    fast = lc.bootstrap_count_tables(per_customer, 4000, rng(12))
    idx = rng(13).integers(0, per_customer.shape[0], (4000, per_customer.shape[0]))
    naive = per_customer[idx].sum(axis=1)
    assert np.allclose(fast.mean(axis=0), naive.mean(axis=0), rtol=0.02, atol=0.5)
    assert np.allclose(fast.std(axis=0), naive.std(axis=0), rtol=0.08, atol=0.5)


# ---------------------------------------------------------------- tests of the model

def test_homogeneity_test_size_when_only_the_stage_mix_changes():
    """Homogeneous chain, cohorts entering in different stages so the mix drifts.

    400 panels: Anderson-Goodman rejects at 5% in 6.0% of them (bounds 2.5-8%); the joint-cell
    chi-square rejects in 99.5% (bound > 90%).
    """
    n_reps, n_customers, n_periods = 400, 120, 8
    g = rng(14)
    entry = g.integers(0, 4, n_reps * n_customers)
    # Early entrants start in stage 0, late ones in stage 2: the stage mix changes over time.
    initial = np.where((entry < 2)[:, None], [[1.0, 0, 0]], [[0, 0, 1.0]])
    panel, _ = _simulate_many(P_ERGODIC, n_reps, n_customers, n_periods, seed=15, initial=initial, entry=entry)
    cust, per, a, b = panel.pairs()
    rep = cust // n_customers
    half = (per >= 4).astype(np.int64)
    counts = np.bincount(((rep * 2 + half) * 3 + a) * 3 + b, minlength=n_reps * 2 * 9).reshape(n_reps, 2, 3, 3)
    from crmresearch.lifecycle.inference import _row_conditional_lr

    p_ag = np.array([_row_conditional_lr(c, panel.states, "ag").p_value for c in counts])
    from scipy import stats as sps

    p_joint = np.array([sps.chi2_contingency(c.reshape(2, -1), correction=False)[1] for c in counts])
    size = np.mean(p_ag < 0.05)
    assert 0.025 <= size <= 0.08, f"AG size {size:.3f}"
    assert np.mean(p_joint < 0.05) > 0.9, f"joint-cell rejection {np.mean(p_joint < 0.05):.3f}"


def test_homogeneity_test_detects_a_changed_row_and_locates_it():
    n = 3000
    first = lc.simulate_panel(P_ERGODIC, [1 / 3] * 3, n, 5, rng(16))
    changed = P_ERGODIC.copy()
    changed[1] = [0.45, 0.30, 0.25]
    second = lc.simulate_panel(changed, [1 / 3] * 3, n, 5, rng(17))
    panel = lc.StagePanel(np.r_[first.customer, second.customer + n], np.r_[first.period, second.period + 5],
                          np.r_[first.stage, second.stage], first.states)
    groups = np.r_[np.zeros(5, int), np.ones(5, int)]
    test = lc.homogeneity_test(panel, groups)
    assert test.p_value < 1e-6
    assert test.rows["statistic"].idxmax() == 1
    assert test.df == 2 * 3


def test_order_test_size_for_a_first_order_chain_and_power_for_second_order():
    """300 first-order panels: size at 5% measured 6.7% (bounds 2-9%)."""
    n_reps, n_customers = 300, 150
    panel, _ = _simulate_many(P_ERGODIC, n_reps, n_customers, 6, seed=18)
    cust, _, h, i, j = panel.triples()
    rep = cust // n_customers
    counts = np.bincount(((rep * 3 + h) * 3 + i) * 3 + j, minlength=n_reps * 27).reshape(n_reps, 3, 3, 3)
    from crmresearch.lifecycle.inference import _row_conditional_lr

    p = np.array([_row_conditional_lr(c, panel.states, "order").p_value for c in counts])
    assert 0.02 <= np.mean(p < 0.05) <= 0.09, f"order-test size {np.mean(p < 0.05):.3f}"
    # A second-order chain: after two periods in stage 0 the customer leaves it for sure.
    g = rng(19)
    n = 3000
    states = np.zeros((n, 8), np.int64)
    states[:, 0] = g.integers(0, 3, n)
    cum = np.cumsum(P_ERGODIC, axis=1)
    for t in range(1, 8):
        nxt = (g.random(n)[:, None] > cum[states[:, t - 1]]).sum(axis=1)
        stuck = (t >= 2) & (states[:, t - 1] == 0) & (states[:, t - 2] == 0)
        nxt[stuck] = 1
        states[:, t] = nxt
    second = lc.StagePanel(np.repeat(np.arange(n), 8), np.tile(np.arange(8), n), states.ravel(), ("a", "b", "c"))
    assert lc.order_test(second).p_value < 1e-10


def test_sojourn_survival_matches_geometric_for_a_markov_chain():
    panel = lc.simulate_panel(P_ERGODIC, [1 / 3] * 3, 20000, 10, rng(20))
    m = lc.estimate_transition_matrix(panel)
    table = lc.sojourn_survival(panel, m.probabilities, max_duration=5)
    gap = (table["km_survival"] - table["geometric_survival"]).abs().max()
    assert gap < 0.01, f"KM vs geometric max gap {gap:.4f}"


# ---------------------------------------------------------------- lifecycle quantities

def test_absorption_time_sd_and_probabilities_agree_with_monte_carlo():
    """200,000 paths: mean 9.688 exact vs 9.681 simulated, SD 7.220 vs 7.225; probabilities within 0.005."""
    analysis = lc.absorption_analysis(P_ABSORBING, [3])
    steps, end = lc.simulate_absorption(P_ABSORBING, 0, 200_000, rng(21), [3])
    se = steps.std() / np.sqrt(steps.size)
    assert abs(steps.mean() - analysis.expected_periods[0]) < 4 * se
    assert abs(steps.std() - analysis.sd_periods[0]) < 0.02 * analysis.sd_periods[0]
    assert np.all(end == 3) and np.allclose(analysis.absorption_probabilities.sum(axis=1), 1)
    # First passage to stage 2 in the same chain: make 2 absorbing as well.
    two = lc.absorption_analysis(P_ABSORBING, [2, 3])
    steps, end = lc.simulate_absorption(P_ABSORBING, 0, 200_000, rng(22), [2, 3])
    assert abs(np.mean(end == 2) - two.absorption_probabilities[0, 0]) < 0.005


def _classify_patterns(P, n_paths, stable_periods, seed):
    """Independent Monte Carlo of the four patterns on the 5-state chain (loop over periods only)."""
    g = rng(seed)
    cum = np.cumsum(P, axis=1)
    state = np.zeros(n_paths, np.int64)
    top = np.zeros(n_paths, np.int64)
    run = np.zeros(n_paths, np.int64)
    pattern = np.full(n_paths, -1)
    for _ in range(2000):
        live = np.flatnonzero(pattern < 0)
        if live.size == 0:
            break
        nxt = (g.random(live.size)[:, None] > cum[state[live]]).sum(axis=1)
        state[live] = nxt
        top[live] = np.maximum(top[live], np.where(nxt <= 2, nxt, 0))
        run[live] = np.where(nxt == 2, run[live] + 1, 0)
        pattern[live[nxt == 4]] = top[live[nxt == 4]]
        pattern[live[run[live] >= stable_periods]] = 3
    return np.bincount(pattern, minlength=4) / n_paths


def test_relationship_pattern_probabilities_agree_with_monte_carlo():
    """Exact (0.400, 0.190, 0.235, 0.175) vs 200,000 simulated paths (0.401, 0.189, 0.236, 0.175)."""
    chain = lc.relationship_pattern_chain(P_RELATIONSHIP, RELATIONSHIP_STATES, stable_periods=6)
    assert np.allclose(chain.P.sum(axis=1), 1)
    analysis = lc.absorption_analysis(chain.P, chain.absorbing, chain.states)
    exact = analysis.absorption_probabilities[analysis.transient.index(chain.start)]
    mc = _classify_patterns(P_RELATIONSHIP, 200_000, 6, seed=23)
    assert np.abs(exact - mc).max() < 0.006, (exact, mc)
    assert np.all(exact > 0.02)


def test_stationary_and_quasi_stationary_distributions():
    pi = lc.stationary_distribution(P_ERGODIC)
    assert np.allclose(pi @ P_ERGODIC, pi) and np.isclose(pi.sum(), 1)
    q = lc.quasi_stationary_distribution(P_ABSORBING, [3])
    Q = P_ABSORBING[:3, :3]
    survival = (q[:3] @ Q).sum()
    assert np.allclose(q[:3] @ Q / survival, q[:3]) and q[3] == 0


def test_markov_chain_value_matches_retention_closed_form_and_finite_sum():
    """Two states (active, lost): V_active = m (1 + d) / (1 + d - r) (Pfeifer & Carraway 2000, eq. 8)."""
    r, margin, d = 0.8, 100.0, 0.1
    P = np.array([[r, 1 - r], [0, 1]])
    value = lc.markov_chain_value(P, [margin, 0], d)
    assert np.isclose(value[0], margin * (1 + d) / (1 + d - r))
    assert np.allclose(lc.markov_chain_value(P, [margin, 0], d, horizon=400), value)
    assert np.isclose(lc.markov_chain_value(P, [margin, 0], d, horizon=0)[0], margin)


def test_forecast_matches_matrix_power_and_bands_cover_the_point():
    panel = lc.simulate_panel(P_ERGODIC, [1, 0, 0], 2000, 6, rng(24))
    m = lc.estimate_transition_matrix(panel, n_boot=200, rng=rng(25))
    fc = lc.forecast_with_bands([1, 0, 0], m, 4)
    step4 = fc[fc["step"] == 4]["share"].to_numpy()
    assert np.allclose(step4, np.array([1, 0, 0]) @ np.linalg.matrix_power(m.probabilities, 4))
    assert np.all((fc["lower"] <= fc["share"] + 1e-12) & (fc["share"] <= fc["upper"] + 1e-12))


def test_backtest_beats_naive_on_a_homogeneous_chain():
    """Origin in period 2 (every row already visited), while the mix still moves."""
    panel = lc.simulate_panel(P_ERGODIC, [1, 0, 0], 20000, 8, rng(26))
    result = lc.backtest(panel, origin=2, horizon=5)
    assert (result["chain_error"] < result["naive_error"]).all(), result
    assert result["chain_error"].max() < 0.015, result   # sampling noise of the observed mix


def test_mnlogit_recovers_covariate_effect_with_cluster_robust_errors():
    effect = P_ERGODIC.copy()
    effect[0] = [0.50, 0.40, 0.10]
    panel = lc.simulate_panel(P_ERGODIC, [1, 0, 0], 4000, 6, rng(27), covariate_P=effect, covariate_share=0.5)
    table = lc.mnlogit_by_origin(panel, pd.DataFrame({"x": panel.extra["x"]}))
    row = table[(table["origin"] == "0") & (table["destination"] == "1") & (table["term"] == "x")].iloc[0]
    truth = np.log(0.40 / 0.50) - np.log(0.20 / 0.70)
    assert abs(row["coef"] - truth) < 3 * row["se"], (row["coef"], truth, row["se"])
    null = table[(table["origin"] == "1") & (table["term"] == "x")]
    assert (null["p_value"] > 0.001).all()


# ---------------------------------------------------------------- stages from transactions

def test_stage_rules_on_a_hand_made_log():
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b"],
        "date": pd.to_datetime(["2020-01-05", "2020-01-05", "2020-05-10", "2020-03-01", "2020-03-20"]),
        "amount": [10.0, 5.0, 20.0, 7.0, 8.0],
    })
    panel = lc.assign_stages(tx, lc.StageRules(count_bounds=(1, 2), count_labels=("one", "two", "three+")),
                             end="2021-03")
    df = panel.to_frame()
    a = df[df["customer_id"] == "a"]
    # Two lines on one day are one purchase; recency 1..4 then a purchase in May, then 10+ by Feb 2021.
    assert a["stage"].astype(str).tolist()[:6] == ["recent/one", "recent/one", "recent/one", "lapsing/one",
                                                   "recent/two", "recent/two"]
    assert a["stage"].astype(str).iloc[-1] == "lost/two" and len(a) == 15
    b = df[df["customer_id"] == "b"]
    assert b["stage"].astype(str).iloc[0] == "recent/two" and len(b) == 13
    assert np.isclose(panel.extra["revenue"][panel.customer_ids.get_loc("a") == panel.customer].sum(), 35)


def test_cdnow_panel_rules_and_structural_zeros():
    tx = crm.datasets.load_cdnow("master")
    rules = lc.StageRules()
    panel = lc.assign_stages(tx)
    assert panel.n_customers == 23_570 and panel.n_periods == 18
    first_month = tx.groupby("customer_id")["date"].min().dt.month
    assert panel.n_rows == int((18 - (first_month - 1)).sum())   # entry Jan-Mar 1997, censored June 1998
    m = lc.estimate_transition_matrix(panel, allowed=rules.allowed_transitions())   # raises on a forbidden move
    assert np.allclose(m.probabilities.sum(axis=1), 1)
    fine = lc.assign_stages(tx, lc.StageRules(tuple(range(1, 10)), tuple(map(str, range(1, 10))) + ("10+",),
                                              (1,), ("new", "repeat")))
    assert lc.state_map(fine, panel).tolist() == [0] * 6 + [1] * 6 + [2] * 6 + [3] * 2


def test_first_passage_curve_matches_observed_first_passage_of_a_markov_panel():
    """50,000 simulated customers with staggered entry: KM and chain curve within 0.01 at every step."""
    entry = rng(28).integers(0, 8, 50_000)
    panel = lc.simulate_panel(P_ABSORBING, [1, 0, 0, 0], 50_000, 15, rng(29), entry_period=entry, absorbing=[3])
    observed = lc.empirical_first_passage(panel, [3], 10)["reached"].to_numpy()
    implied = lc.first_passage_curve(P_ABSORBING, [1, 0, 0, 0], [3], 10)
    assert np.abs(observed - implied).max() < 0.01
    analysis = lc.absorption_analysis(P_ABSORBING, [3])
    tail = lc.first_passage_curve(P_ABSORBING, [1, 0, 0, 0], [3], 400)
    assert np.isclose(np.sum(1 - tail), analysis.expected_periods[0], rtol=1e-6)   # E[T] = sum P(T > k)


def test_backtest_keeps_customers_who_left_in_an_absorbing_stage():
    """Churned customers leave the simulated panel; the backtest carries them forward in churn."""
    panel = lc.simulate_panel(P_ABSORBING, [1, 0, 0, 0], 20000, 10, rng(30), absorbing=[3])
    result = lc.backtest(panel, origin=3, horizon=5, allowed=P_ABSORBING > 0, absorbing=[3])
    assert (result["customers"] == 20000).all()
    assert (result["chain_error"] < result["naive_error"]).all() and result["chain_error"].max() < 0.015


# ---------------------------------------------------------------- parameters and inputs

def test_user_stage_panel_file_goes_through_the_report_workflow(tmp_path):
    from crmresearch.parameters.lifecycle_transitions import LifecycleParameters

    truth = lc.simulate_panel(P_ABSORBING, [1, 0, 0, 0], 3000, 8, rng(31), absorbing=[3],
                              states=("trial", "regular", "fading", "gone"))
    frame = truth.to_frame().rename(columns={"customer_id": "account", "period": "month", "stage": "status"})
    frame["month"] = pd.period_range("2024-01", periods=8, freq="M").to_timestamp()[frame["month"]]  # dates
    path = tmp_path / "panel.csv"
    frame.sample(frac=1, random_state=3).to_csv(path, index=False)
    params = LifecycleParameters(panel={"path": str(path), "customer_column": "account", "period_column": "month",
                                        "stage_column": "status", "states": ["trial", "regular", "fading", "gone"],
                                        "absorbing": ["gone"]})
    assert params.source_kind == "panel"
    data = lc.prepare(params, rng(32))
    assert data.panel.n_rows == truth.n_rows and data.target == (3,)
    assert np.array_equal(lc.transition_counts(data.panel), lc.transition_counts(truth))


def test_parameter_schema_rejects_inconsistent_inputs():
    from pydantic import ValidationError

    from crmresearch.parameters.lifecycle_transitions import LifecycleParameters

    with pytest.raises(ValidationError, match="one label more"):
        LifecycleParameters(stage_rules={"recency_bounds_months": [3, 6], "recency_labels": ["a", "b"]})
    with pytest.raises(ValidationError, match="summing to 1"):
        LifecycleParameters(simulation={"matrix": [[0.5] * 5] * 5})
    with pytest.raises(ValidationError, match="at most one"):
        LifecycleParameters(simulation={}, panel={"path": "src/crmresearch/data/mobi.csv", "states": ["a", "b"]})
    assert LifecycleParameters().source_kind == "transactions"


def test_stage_assignment_matches_a_per_customer_loop_on_the_cdnow_sample():
    tx = crm.datasets.load_cdnow("sample")
    rules = lc.StageRules(count_bounds=(1, 2), count_labels=("one", "two", "three+"))
    panel = lc.assign_stages(tx, rules).to_frame()
    last_month = tx["date"].max().to_period("M")
    chosen = sorted(tx["customer_id"].unique())[:150]
    for cid in chosen:
        days = np.sort(tx.loc[tx["customer_id"] == cid, "date"].unique())
        months = pd.PeriodIndex(pd.to_datetime(days), freq="M")
        expected = []
        for month in pd.period_range(months.min(), last_month, freq="M"):
            bought = months[months <= month]
            recency = (month - bought.max()).n + 1
            r_label = rules.recency_labels[int(np.searchsorted(rules.recency_bounds, recency))]
            c_label = rules.count_labels[int(np.searchsorted(rules.count_bounds, len(bought)))]
            expected.append(f"{r_label}/{c_label}")
        got = panel.loc[panel["customer_id"] == cid, "stage"].astype(str).tolist()
        assert got == expected, cid


def test_report_summaries_agree_with_the_chain_formulas():
    stack = np.stack([P_ABSORBING, 0.5 * (P_ABSORBING + np.eye(4))])
    batched = lc.batched_expected_time(stack, [3], [0.5, 0.5, 0, 0])
    for k in range(2):
        single = lc.absorption_analysis(stack[k], [3]).from_distribution([0.5, 0.5, 0, 0])["mean"]
        assert np.isclose(batched[k], single)
    panel = lc.simulate_panel(P_ERGODIC, [1, 0, 0], 500, 6, rng(33))
    occupancy, flows = lc.plots.cohort_flows(panel, np.ones(panel.n_customers, bool), 5)
    assert np.array_equal(flows.sum(axis=2), occupancy[:-1]) and np.array_equal(flows.sum(axis=1), occupancy[1:])
    assert np.array_equal(flows.sum(axis=0), lc.transition_counts(panel))
    rates = lc.period_rates(panel, active=[0], lost=[2])
    retention = rates[rates["measure"] == "retention"].set_index("period")
    by_period = lc.transitions_by_period(panel)
    assert np.allclose(retention["rate"], by_period[retention.index, 0, 0] / by_period[retention.index, 0].sum(axis=1))


# ---------------------------------------------------------------- report sections

def test_width_ratio_reading_and_ratios_skip_rows_with_one_possible_move():
    # three readings (narrower, about as wide, wider), each for its side of 1, whatever their wording
    reading = lc.text.width_ratio_reading
    assert len({reading(0.5), reading(1.0), reading(1.5)}) == 3
    assert reading(0.5) == reading(0.6) and reading(1.5) == reading(1.7)
    panel = lc.simulate_panel(P_ABSORBING, [1, 0, 0, 0], 600, 6, rng(40), absorbing=[3])
    plain = lc.estimate_transition_matrix(panel, allowed=P_ABSORBING > 0, absorbing=[3])
    assert np.isnan(lc.sections.bootstrap_to_wilson_ratios(plain)).all()
    boot = lc.estimate_transition_matrix(panel, allowed=P_ABSORBING > 0, absorbing=[3], n_boot=50, rng=rng(41))
    ratios = lc.sections.bootstrap_to_wilson_ratios(boot)
    assert ratios.shape == (int((P_ABSORBING[:3] > 0).sum()),)   # the absorbing row has a single move
    cell = (boot.boot_upper[0, 1] - boot.boot_lower[0, 1]) / (boot.wilson_upper[0, 1] - boot.wilson_lower[0, 1])
    assert np.isclose(ratios[1], cell)
    summary = lc.sections.matrix_summary(boot, "period")
    assert summary.results["bootstrap_to_wilson_width"]["median"] == pytest.approx(float(np.nanmedian(ratios)))
    assert np.array_equal(summary.stay, np.diag(summary.P))
    assert_states(summary.text, summary.stay[0], places=3)


def test_report_sections_on_a_simulated_relationship_panel():
    from crmresearch.parameters.lifecycle_transitions import LifecycleParameters

    params = LifecycleParameters(simulation={"n_customers": 800, "n_periods": 10}, bootstrap_resamples=40, backtest_origin=5,
                                 forecast_horizon=3)
    a = lc.analyse(params)
    data, matrix = a.data, a.matrix
    assert matrix.boot_samples.shape[0] == params.bootstrap_resamples
    overview = lc.sections.panel_overview(a)
    assert overview.results["transitions"] == int(matrix.counts.sum()) and "**simulated**" in overview.text
    assert overview.table["label"] == "tbl-stages"
    parts = lc.sections.matrix_tables(matrix, rows_per_page=5)
    assert pd.concat([t["df"] for t in parts]).shape[0] == int(matrix.allowed.sum())
    assert [t["label"] for t in parts] == [f"tbl-matrix-{k}" for k in range(1, len(parts) + 1)]
    assert f"(part 2 of {len(parts)})" in parts[1]["caption"] and overview.source == "simulated"
    homogeneity = lc.sections.homogeneity(a)
    assert list(homogeneity.results) == ["homogeneity_test", "joint_cell_chi_square"] and homogeneity.reading
    order = lc.sections.order(a)
    assert list(order.results) == ["order_test"] and order.finer is None   # no finer stages for a simulation
    holdout = lc.sections.backtest(a)
    assert holdout.origin == 5 and list(holdout.backtests) == ["stage chain"]
    assert holdout.summary["mean error"].iloc[0] == pytest.approx(holdout.backtests["stage chain"]["chain_error"].mean())
    time = lc.sections.time_to_target(a)
    assert time.target_names == "churn" and set(time.results["first_passage_max_gap"]) == {"stage chain"}
    expected = lc.absorption_analysis(np.nan_to_num(matrix.probabilities), data.target).from_distribution(time.entry_mix)
    assert time.summary["mean"] == pytest.approx(expected["mean"])
    mix = lc.sections.long_run_mix(a)
    assert "quasi-stationary mix (customers not yet churned)" in mix.table["df"]
    patterns = lc.sections.patterns(a)
    assert patterns.frame is not None and patterns.frame["probability"].sum() == pytest.approx(1)
    forecast = lc.sections.forecast(a)
    assert forecast.results["forecast_final_step"]["share"].sum() == pytest.approx(1)
    values = lc.sections.stage_values(a)
    assert values.results["entry_value"]["horizon"] == pytest.approx(
        float(time.entry_mix @ values.results["stage_values"].iloc[:, 2]))
    truth = lc.sections.truth(a)
    check = truth.results["truth_check"]
    assert check["cells"] == int(matrix.allowed.sum())
    assert_states(truth.text, check["cells"], 100 * check["wilson_coverage"], 100 * check["bootstrap_coverage"],
                  places=0)
    assert_states(truth.text, check["max_abs_error"], places=3)
    finding = lc.sections.finding(lc.sections.matrix_summary(matrix, "period"), homogeneity.test, order.test, time,
                                   data.panel.states, "period")
    # the first stage's stay rate, both tests (statistic, df, p) and the mean time from entry to churn
    stay = lc.sections.matrix_summary(matrix, "period").stay[0]
    assert finding.startswith(data.panel.states[0])
    assert_states(finding, 100 * stay, homogeneity.test.statistic, order.test.statistic, places=0)
    assert_states(finding, homogeneity.test.df, order.test.df)
    assert_states(finding, homogeneity.test.p_value, order.test.p_value, places=3)
    assert_states(finding, time.summary["mean"], places=1)


def test_report_sections_say_what_is_missing_without_covariates_rewards_truth_or_bootstrap(tmp_path):
    from crmresearch.parameters.lifecycle_transitions import LifecycleParameters

    panel = lc.simulate_panel(P_ABSORBING, [1, 0, 0, 0], 500, 6, rng(44), absorbing=[3],
                              states=("trial", "regular", "fading", "gone"))
    path = tmp_path / "panel.csv"
    panel.to_frame().to_csv(path, index=False)
    params = LifecycleParameters(panel={"path": str(path), "states": ["trial", "regular", "fading", "gone"],
                                        "absorbing": ["gone"]}, bootstrap_resamples=0)
    a = lc.analyse(params)
    matrix = a.matrix
    covariates = lc.sections.covariates(a)
    assert covariates.source == "not_computed" and covariates.text.startswith("*Not computed:*")
    values = lc.sections.stage_values(a)
    assert values.table is None and values.source == "not_computed"
    truth = lc.sections.truth(a)
    assert truth.results == {} and truth.source == "not_computed"
    forecast = lc.sections.forecast(a)
    assert forecast.forecast is None and forecast.source == "not_computed" and "bootstrap" in forecast.note
    patterns = lc.sections.patterns(a)
    assert patterns.frame is None and patterns.source == "not_computed"
    summary = lc.sections.matrix_summary(matrix, "period")      # no bootstrap: Wilson only, no nan in the text
    assert "Wilson 95% interval" in summary.text and "nan" not in summary.text
    assert lc.sections.rates(a).text is None
    assert "user's own file" in lc.sections.panel_overview(a).text


# ---------------------------------------------------------------- sentences follow their numbers

def _lr(statistic, df, p):
    from crmresearch.lifecycle.inference import LikelihoodRatioTest

    return LikelihoodRatioTest(name="order", statistic=statistic, df=df, p_value=p, rows=pd.DataFrame())


def test_finer_order_sentence_follows_the_statistics():
    coarse = _lr(5000.0, 8, 0.0)
    """Each sentence states the finer test (G², df, p) and the statistic per df before and after (5000 / 8 =
    625); the four cases (falls by most, by less than half, to no evidence, rises) read differently."""
    most = lc.text.finer_order_text(coarse, _lr(200.0, 20, 1e-30), True)
    assert_states(most, 200.0, 20, 625.0, 10.0)
    part = lc.text.finer_order_text(coarse, _lr(8000.0, 20, 1e-30), True)    # 400 per df: falls by less than half
    assert_states(part, 8000.0, 20, 625.0, 400.0)
    gone = lc.text.finer_order_text(coarse, _lr(20.0, 20, 0.46), False)
    assert_states(gone, 20.0, 20, 0.460, 625.0, 1.0)
    none = lc.text.finer_order_text(coarse, _lr(20000.0, 20, 0.0), True)      # 1000 per df: rises
    assert_states(none, 20000.0, 20, 625.0, 1000.0)
    assert len({without_numbers(t) for t in (most, part, gone, none)}) == 4


def test_returns_clause_only_when_the_lost_stage_can_be_left():
    absorbing = np.array([[0.6, 0.4], [0.0, 1.0]])
    leaky = np.array([[0.6, 0.4], [0.1, 0.9]])
    assert lc.text.returns_clause(absorbing, (1,)) == ""
    assert lc.text.returns_clause(leaky, (1,))          # a clause only where the lost stage can be left


def test_panel_gaps_count_missing_periods_and_unbridged_moves():
    from crmresearch.lifecycle.panel import StagePanel, panel_gaps, transition_counts

    panel = StagePanel(np.array([0, 0, 0, 1, 1, 1, 2]), np.array([0, 2, 3, 0, 1, 4, 1]),
                       np.array([0, 1, 1, 0, 0, 1, 0]), ("a", "b"))
    assert panel_gaps(panel) == {"customers_with_gaps": 2, "missing_periods": 3, "moves_not_counted": 2}
    assert int(transition_counts(panel).sum()) == 2          # 2->3 of customer 0 and 0->1 of customer 1 only


def test_cohort_flows_keep_churned_customers_in_an_absorbing_stage():
    from crmresearch.lifecycle.panel import StagePanel

    # customer 0 churns at step 1 (observed once there), customer 1 stays active for 3 steps
    panel = StagePanel(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 0, 1, 2]), np.array([0, 1, 0, 0, 0]),
                       ("active", "churn"))
    occupancy, _ = lc.plots.cohort_flows(panel, np.array([True, True]), 2, absorbing=(1,))
    assert occupancy.tolist() == [[2, 0], [1, 1], [1, 1]]
    closed, _ = lc.plots.cohort_flows(panel, np.array([True, True]), 2)
    assert closed[0].sum() == 1                                # without absorbing, the churned customer drops out
