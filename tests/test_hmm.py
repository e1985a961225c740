"""The hidden Markov model for customer panels (models/hmm.py): depmixS4's published maximum-likelihood
values on the speed and balance data (tests/data/hmm/README.md), the exact gradient, recovery of every
parameter of simulated panels with gaps and unequal lengths, interval coverage, the choice of the
number of states by BIC, decoding, and failures reported rather than raised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.numdiff import approx_fprime

from crmresearch.models.base import FailedFit
from crmresearch.models.hmm import HiddenMarkovModel, select_states, simulate_panel

DATA = __import__("pathlib").Path(__file__).parent / "data" / "hmm"


@pytest.fixture(scope="module")
def speed():
    d = pd.read_csv(DATA / "speed.csv")
    d["z"] = (d["Pacc"] - d["Pacc"].mean()) / d["Pacc"].std(ddof=1)
    return d


@pytest.fixture(scope="module")
def balance():
    b = pd.read_csv(DATA / "balance.csv")
    return b.assign(child=np.arange(len(b)), occasion=1)


# ------------------------------------------------------------------ depmixS4, speed data

def test_speed_two_states_reaches_the_published_maximum(speed):
    fit = HiddenMarkovModel(2, {"rt": "gaussian"}).fit(speed, id="series", period="trial")
    assert fit.converged and fit.df_model == 7
    assert fit.llf == pytest.approx(-84.34175, abs=5e-5)
    assert fit.aic == pytest.approx(182.6835, abs=1e-3)
    profile = fit.response_parameters()["rt"]["mean"]
    assert profile == pytest.approx([5.511, 6.386], abs=1e-3)
    assert fit.initial_probabilities()[1] > 1 - 1e-6            # every series starts in the slow state
    assert fit.nobs == 3 and fit.n_observations == 439


def test_speed_transitions_on_pacc(speed):
    fit = HiddenMarkovModel(2, {"rt": "gaussian"}, transition_covariates=["z"]).fit(speed, id="series", period="trial")
    assert fit.llf >= -38.12196 - 1e-4 and fit.llf == pytest.approx(-38.12196, abs=1e-4)
    p = fit.params
    # fast -> slow against staying fast: about -0.92 + 1.86 z; staying slow against slow -> fast: 2.47 + 3.57 z
    assert [p["transition[S1->S2]:const"], p["transition[S1->S2]:z"]] == pytest.approx([-0.92, 1.86], abs=0.01)
    assert [-p["transition[S2->S1]:const"], -p["transition[S2->S1]:z"]] == pytest.approx([2.47, 3.57], abs=0.01)
    assert np.all(np.isfinite(fit.bse.drop("initial[S2]:const")))


def test_speed_two_responses(speed):
    d = speed.assign(correct=(speed["corr"] == "cor").astype(float))
    fit = HiddenMarkovModel(2, {"rt": "gaussian", "correct": "binary"}, transition_covariates=["z"]).fit(
        d, id="series", period="trial")
    assert fit.llf >= -248.9723 - 1e-4 and fit.llf == pytest.approx(-248.9723, abs=2e-4)
    assert fit.response_parameters()["correct"]["probability"] == pytest.approx([0.53, 0.90], abs=0.01)


def test_speed_fixed_parameters_loglikelihood(speed):
    model = HiddenMarkovModel(2, {"rt": "gaussian", "corr": "categorical"})
    data = model.prepare(speed, "series", "trial", codes={"corr": ["cor", "inc"]})
    theta = model.parameters_from(
        initial=[0.0, 1.0], transition=[[0.899, 0.101], [0.084, 0.916]],
        responses={"rt": [5.52, 6.39, np.log(0.202), np.log(0.24)], "corr": np.log([0.472 / 0.528, 0.098 / 0.902])})
    assert model.loglike(theta, data) == pytest.approx(-296.115107102, abs=1e-6)


# ------------------------------------------------------------------ depmixS4, balance data (latent classes)

@pytest.fixture(scope="module")
def balance_fits(balance):
    items = {c: "binary" for c in ("d1", "d2", "d3", "d4")}
    return {k: HiddenMarkovModel(k, items, initial_covariates=["age"]).fit(balance, id="child", period="occasion")
            for k in (2, 3, 4)}


def test_balance_three_classes_with_age(balance_fits):
    fit = balance_fits[3]
    assert fit.df_model == 16
    assert fit.llf >= -917.5 - 0.05
    assert fit.bic == pytest.approx(1941.6, abs=0.1)
    assert fit.aic == pytest.approx(1867.1, abs=0.1)


def test_balance_bic_chooses_three_classes(balance_fits):
    assert balance_fits[2].bic == pytest.approx(1969.2, abs=0.1)
    assert balance_fits[2].df_model == 10 and balance_fits[4].df_model == 22
    # Four classes: the published BIC 1950.4 is the maximum, log-likelihood -901.967 with 22 parameters.
    # Its surface has many local maxima (-914.62, -914.39, -913.63, -907.87, ...) and a start's
    # log-likelihood after a few EM iterations does not tell which it climbs to, so on a panel this
    # small every distinct start runs to convergence and is polished.
    assert balance_fits[4].llf == pytest.approx(-901.967, abs=1e-3)
    assert balance_fits[4].bic == pytest.approx(1950.4, abs=0.1)
    assert balance_fits[4].bic > balance_fits[3].bic
    table = select_states(balance_fits)
    assert table.loc[table["chosen"], "states"].item() == 3


# ------------------------------------------------------------------ the exact gradient

def test_score_is_the_gradient_for_every_family_with_absorbing_and_ordered_states():
    rng = np.random.default_rng(3)
    model = HiddenMarkovModel(3, {"buy": "binary", "n": "poisson", "spend": "gamma", "x": "gaussian",
                                  "sat": {"type": "ordinal", "levels": [1, 2, 3, 4, 5]},
                                  "ch": {"type": "categorical", "levels": [0, 1, 2]}},
                              initial_covariates=["age"], transition_covariates=["contact", "season"],
                              absorbing=True, ordered=True)
    B = np.array([[0, 0], [-0.5, 0.3], [-2.0, 0.1]])
    C = np.zeros((3, 3, 3))
    C[0, 1], C[1, 0], C[1, 2] = [-1.5, 0.8, 0.2], [-2.0, -0.5, 0.1], [-2.5, -0.3, 0.0]
    theta = model.pack(B, C, {"buy": [-1.0, 0.5, 1.5], "n": [-0.5, 0.3, 1.0], "spend": [0.5, 0.7, 1.0, -2.0, -2.2, -2.4],
                              "x": [0.0, 1.0, 2.0, 0.0, -0.2, 0.1], "sat": [-1.0, 0.0, 0.2, 0.1, 1.0, 2.0],
                              "ch": [0.1, -0.2, 0.3, 0.1, -0.5, 0.4]})
    n, T = 60, 7
    df, _ = simulate_panel(model, theta, n, T, rng, {"age": rng.normal(size=n)},
                           {"contact": rng.random((n, T)) < 0.3, "season": np.tile(np.sin(np.arange(T)), (n, 1))})
    df = df.sample(frac=0.85, random_state=1)              # gaps and unequal lengths
    data = model.prepare(df, "id", "period")
    grad = model.score(theta, data)
    numeric = approx_fprime(theta, lambda th: model.loglike(th, data), centered=True)
    assert grad == pytest.approx(numeric, rel=1e-5, abs=1e-5)
    P = masked = model.unpack(theta)[1]
    assert P.shape == (3, 3, 3)
    assert not model.allowed[0, 2] and not model.allowed[2, 0] and not model.allowed[2, 1]
    del masked


# ------------------------------------------------------------------ simulated panels of known truth

def two_state_truth():
    model = HiddenMarkovModel(2, {"purchased": "binary", "spend": "lognormal"}, initial_covariates=["age"],
                              transition_covariates=["contact"])
    B = np.array([[0.0, 0.0], [-0.5, 0.8]])
    C = np.zeros((2, 2, 2))
    C[0, 1], C[1, 0] = [-2.0, 1.0], [-2.5, -0.8]          # a contact moves customers up, keeps them there
    theta = model.pack(B, C, {"purchased": [-1.5, 0.8], "spend": [3.0, 3.6, np.log(0.5), np.log(0.4)]})
    return model, theta


def simulate_two_state(model, theta, n, T, seed, gaps=True):
    rng = np.random.default_rng(seed)
    df, states = simulate_panel(model, theta, n, T, rng, {"age": rng.normal(size=n)},
                                {"contact": (rng.random((n, T)) < 0.3).astype(float)}, given={"spend": "purchased"})
    if gaps:   # later starts, earlier ends and missing periods inside sequences
        keep = rng.random(len(df)) > 0.1
        keep &= ~((df["period"] > T - 3) & (df["id"].str[-1].isin(list("0123"))))
        keep |= df["period"] == 1
        df = df[keep]
    return df, states


@pytest.fixture(scope="module")
def recovery():
    model, theta = two_state_truth()
    df, states = simulate_two_state(model, theta, 1500, 12, seed=11)
    return model, theta, df, states, model.fit(df, id="id", period="period")


def test_recovers_every_parameter_with_gaps_and_unequal_lengths(recovery):
    model, theta, df, states, fit = recovery
    assert fit.converged
    z = (fit.theta - theta) / fit.bse.to_numpy()
    assert np.all(np.abs(z) < 3.5), dict(zip(fit.params.index, np.round(z, 2)))
    assert fit.params["transition[S1->S2]:contact"] > 0 and fit.conf_int().loc["transition[S1->S2]:contact", "lower"] > 0
    assert len(fit.starts) == model.n_starts and fit.starts["chosen"].sum() == 1


def test_decoding(recovery):
    model, theta, df, states, fit = recovery
    ids = fit.panel_ids(df)
    truth = states[np.array([int(i[1:]) for i in ids])]
    path = fit.viterbi(df)
    post = fit.posterior(df)
    inside = path >= 0
    accuracy = float((path[inside] == truth[:, :path.shape[1]][inside]).mean())
    print(f"Viterbi decoding accuracy on the simulated panel: {accuracy:.3f}")
    assert accuracy > 0.8
    assert np.nansum(post, axis=2)[inside] == pytest.approx(1.0)
    marginal = float((post.argmax(axis=2)[inside] == truth[:, :path.shape[1]][inside]).mean())
    assert marginal >= accuracy - 0.02
    occupancy = fit.occupancy(df)
    assert occupancy[["S1", "S2"]].sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert occupancy["customers"].iloc[0] == df["id"].nunique()


def test_holdout_loglikelihood_and_value_by_state(recovery):
    model, theta, df, states, fit = recovery
    other, _ = simulate_two_state(model, theta, 400, 12, seed=12)
    holdout = fit.loglike(other)
    assert np.isfinite(holdout) and holdout < 0
    at_truth = model.loglike(theta, fit.prepare(other))
    assert abs(holdout - at_truth) < 30                   # estimates near the truth predict new customers as well
    value = fit.value_by_state("purchased", "spend", discount=0.01, horizon=2000)
    P = fit.transition_matrix()
    m = fit.response_mean("purchased") * fit.response_mean("spend")
    d = 1 / 1.01
    closed = np.linalg.solve(np.eye(2) - d * P, d * P @ m)
    assert value == pytest.approx(closed, rel=1e-8)
    assert value[1] > value[0]


def test_collapsing_identical_histories_changes_nothing():
    model = HiddenMarkovModel(2, {"purchased": "binary"})
    C = np.zeros((2, 2, 1))
    C[0, 1], C[1, 0] = -1.5, -2.0
    theta = model.pack(np.zeros((2, 1)), C, {"purchased": [-1.5, 1.0]})
    df, _ = simulate_panel(model, theta, 3000, 6, np.random.default_rng(5))
    collapsed = model.fit(df, "id", "period")
    raw = HiddenMarkovModel(2, {"purchased": "binary"}, collapse=False).fit(df, "id", "period")
    assert collapsed.n_unique_rows <= 64 < raw.n_unique_rows == 3000
    assert collapsed.llf == pytest.approx(raw.llf, rel=1e-10)
    assert collapsed.theta == pytest.approx(raw.theta, abs=1e-5)


def coverage_study(n_panels: int, n: int, T: int, seed: int):
    model = HiddenMarkovModel(2, {"purchased": "binary", "x": "gaussian"}, transition_covariates=["contact"])
    C = np.zeros((2, 2, 2))
    C[0, 1], C[1, 0] = [-1.8, 1.0], [-2.0, -0.7]
    theta = model.pack(np.array([[0.0], [-0.3]]), C, {"purchased": [-1.2, 0.9], "x": [0.0, 1.0, 0.0, np.log(0.8)]})
    rng = np.random.default_rng(seed)
    hits, estimates = [], []
    for _ in range(n_panels):
        df, _ = simulate_panel(model, theta, n, T, rng, {}, {"contact": (rng.random((n, T)) < 0.3).astype(float)})
        fit = model.fit(df, "id", "period", start_params=theta)
        if not fit.converged:
            continue
        ci = fit.conf_int()
        hits.append((ci["lower"].to_numpy() <= theta) & (theta <= ci["upper"].to_numpy()))
        estimates.append(fit.theta)
    return theta, np.array(hits), np.array(estimates)


def test_interval_coverage_small():
    theta, hits, estimates = coverage_study(20, 300, 8, seed=21)
    print(f"95% interval coverage over {len(hits)} panels x {theta.size} parameters: {hits.mean():.3f}")
    assert len(hits) == 20
    assert 0.90 <= hits.mean() <= 0.985
    spread = np.subtract(*np.percentile(estimates, [75, 25], axis=0)) / 1.349
    assert np.all(np.abs(np.median(estimates, axis=0) - theta) < 3 * 1.25 * spread / np.sqrt(len(estimates)))


@pytest.mark.slow
def test_interval_coverage_full():
    theta, hits, estimates = coverage_study(200, 500, 10, seed=22)
    per_parameter = hits.mean(axis=0)
    print("coverage per parameter:", np.round(per_parameter, 3))
    assert len(hits) >= 195
    assert 0.93 <= hits.mean() <= 0.97
    assert np.all((per_parameter > 0.89) & (per_parameter < 0.99))


def three_state_truth():
    model = HiddenMarkovModel(3, {"purchased": "binary", "spend": "lognormal"})
    C = np.zeros((3, 3, 1))
    C[0, 1], C[0, 2], C[1, 0], C[1, 2], C[2, 0], C[2, 1] = -2.5, -4.0, -2.5, -2.5, -4.0, -2.5
    theta = model.pack(np.array([[0.0], [0.0], [-0.5]]), C,
                       {"purchased": [-2.5, -0.5, 1.2], "spend": [2.8, 3.2, 3.7, np.log(0.5), np.log(0.5), np.log(0.4)]})
    return model, theta


def bic_choice(seed: int, n: int = 700, T: int = 10, starts: int = 4):
    model, theta = three_state_truth()
    df, _ = simulate_panel(model, theta, n, T, np.random.default_rng(seed), given={"spend": "purchased"})
    fits = {k: HiddenMarkovModel(k, model.response_specs, n_starts=starts).fit(df, "id", "period") for k in (2, 3, 4)}
    table = select_states(fits)
    return int(table.loc[table["chosen"], "states"].item())


def test_bic_chooses_the_true_number_of_states():
    assert bic_choice(seed=31) == 3


@pytest.mark.slow
def test_bic_chooses_the_true_number_of_states_in_most_panels():
    choices = [bic_choice(seed=100 + s) for s in range(20)]
    assert np.mean(np.array(choices) == 3) >= 0.8


@pytest.mark.slow
def test_recovery_over_many_panels_full_estimation():
    """The full multi-start estimation (no warm start) over 100 panels: coverage of every parameter."""
    model, theta = two_state_truth()
    hits = []
    for s in range(100):
        df, _ = simulate_two_state(model, theta, 800, 10, seed=1000 + s)
        fit = model.fit(df, "id", "period")
        if fit.converged:
            ci = fit.conf_int()
            hits.append((ci["lower"].to_numpy() <= theta) & (theta <= ci["upper"].to_numpy()))
    hits = np.array(hits)
    assert len(hits) >= 95 and 0.92 <= hits.mean() <= 0.975


# ------------------------------------------------------------------ failures are reported

def test_failures_are_reported_not_raised():
    model, theta = two_state_truth()
    df, _ = simulate_two_state(model, theta, 2, 5, seed=1, gaps=False)
    fit = HiddenMarkovModel(3, {"purchased": "binary"}).fit(df, "id", "period")
    assert isinstance(fit, FailedFit) and not fit.converged and "cannot identify 3 states" in fit.failure
    assert np.isnan(fit.llf) and fit.params.isna().all()


def test_repeated_period_is_a_clear_error():
    df = pd.DataFrame({"id": ["007", "007"], "period": [1, 1], "purchased": [1, 0]})
    with pytest.raises(ValueError, match="period 1 repeated for customer 007"):
        HiddenMarkovModel(2, {"purchased": "binary"}).fit(df, "id", "period")


def test_one_state_with_covariates_and_an_ordinal_answer():
    """One state: the covariates have nothing to act on and the fit is the responses' own distributions."""
    rng = np.random.default_rng(8)
    n = 200
    df = pd.DataFrame({"id": np.repeat(np.arange(n), 3), "period": np.tile([1, 2, 3], n),
                       "sat": rng.integers(1, 6, 3 * n).astype(float), "age": np.repeat(rng.normal(size=n), 3),
                       "contact": rng.integers(0, 2, 3 * n).astype(float)})
    fit = HiddenMarkovModel(1, {"sat": {"type": "ordinal", "levels": [1, 2, 3, 4, 5]}}, initial_covariates=["age"],
                            transition_covariates=["contact"]).fit(df, "id", "period")
    assert fit.converged and fit.df_model == 4
    shares = np.bincount(df["sat"].astype(int), minlength=6)[1:] / len(df)
    assert fit.response_parameters()["sat"]["P(1)"] == pytest.approx(shares[0], abs=1e-6)


def test_a_move_that_never_happens_is_at_the_boundary_with_a_likelihood_ratio_interval():
    """A transition with probability 0 in truth: its logit runs off, the boundary is inside its
    likelihood-ratio interval, and the other parameters keep their standard errors."""
    model = HiddenMarkovModel(2, {"purchased": "binary"})
    C = np.zeros((2, 2, 1))
    C[0, 1], C[1, 0] = -30.0, -1.5                       # never from S1 to S2; S2 -> S1 often
    theta = model.pack(np.array([[0.0], [1.0]]), C, {"purchased": [-2.0, 1.5]})
    df, _ = simulate_panel(model, theta, 1500, 8, np.random.default_rng(41))
    fit = model.fit(df, "id", "period")
    assert fit.converged
    assert "transition[S1->S2]:const" in fit.boundary and "at a boundary" in fit.note
    lower, upper = fit.boundary["transition[S1->S2]:const"]
    assert lower == -np.inf and np.isfinite(upper) and upper < -2
    assert fit.conf_int().loc["transition[S1->S2]:const", "lower"] == -np.inf
    rest = fit.bse.drop("transition[S1->S2]:const")
    assert np.all(np.isfinite(rest)) and np.all(rest > 0)
    draws = fit.draw_parameters(200, np.random.default_rng(1))
    held = draws[:, list(fit.params.index).index("transition[S1->S2]:const")]
    assert held == pytest.approx(fit.params["transition[S1->S2]:const"], abs=1e-9)     # held at the estimate
    z = ((fit.params - pd.Series(theta, index=fit.params.index)) / fit.bse).drop("transition[S1->S2]:const")
    assert np.all(np.abs(z) < 3.5)
