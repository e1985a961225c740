"""Lifecycle quantities of a fitted chain: absorption, long-run mix, forecasts, value, patterns.

Absorbing chains (Kemeny & Snell 1960, ch. 3): order the states as transient T and absorbing A,
P = [[Q, R], [0, I]]. The fundamental matrix N = (I - Q)^{-1} holds the expected number of periods
spent in each transient state; t = N 1 is the expected number of periods before absorption (the
starting period counts as one), Var = (2N - I) t - t∘t (Kemeny & Snell thm 3.3.5), and B = N R the
absorption probabilities. "Expected months to the lost stage" is the first-passage time to a stage,
computed by making that stage absorbing.

Migration-model value (Pfeifer & Carraway 2000, eq. 4): with per-period rewards R by stage and a
discount rate d, V^T = sum_{t=0}^{T} [(1 + d)^{-1} P]^t R, and for T -> infinity
V = (I - P / (1 + d))^{-1} R.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .panel import StagePanel


@dataclass(frozen=True)
class AbsorptionAnalysis:
    states: tuple[str, ...]
    transient: tuple[int, ...]
    absorbing: tuple[int, ...]
    fundamental: np.ndarray          # N, |T| x |T|
    expected_periods: np.ndarray     # t, per transient start state
    sd_periods: np.ndarray
    absorption_probabilities: np.ndarray   # B, |T| x |A|

    def as_dict(self) -> dict:
        names = np.asarray(self.states, dtype=object)
        return {"transient": names[list(self.transient)].tolist(),
                "absorbing": names[list(self.absorbing)].tolist(),
                "expected_periods": self.expected_periods, "sd_periods": self.sd_periods,
                "absorption_probabilities": self.absorption_probabilities}

    def from_distribution(self, initial) -> dict:
        """Mean and SD of the time to absorption and absorption probabilities for a start mix."""
        init = np.asarray(initial, float)[list(self.transient)]
        init = init / init.sum()
        mean = init @ self.expected_periods
        second = init @ (self.expected_periods**2 + self.sd_periods**2)
        return {"mean": float(mean), "sd": float(np.sqrt(second - mean**2)),
                "absorption": init @ self.absorption_probabilities}


def absorption_analysis(P, absorbing, states=None) -> AbsorptionAnalysis:
    """Fundamental matrix, expected time to absorption with its SD, absorption probabilities.

    `absorbing` are stage codes treated as absorbing whatever their row in P says (first passage).
    """
    P = np.asarray(P, float)
    s = P.shape[0]
    absorbing = tuple(sorted(int(a) for a in absorbing))
    transient = tuple(i for i in range(s) if i not in absorbing)
    Q = P[np.ix_(transient, transient)]
    R = P[np.ix_(transient, absorbing)]
    N = np.linalg.inv(np.eye(len(transient)) - Q)
    t = N.sum(axis=1)
    var = (2 * N - np.eye(len(transient))) @ t - t**2
    B = N @ R
    states = tuple(states) if states is not None else tuple(str(i) for i in range(s))
    return AbsorptionAnalysis(states, transient, absorbing, N, t, np.sqrt(np.maximum(var, 0)), B)


def stationary_distribution(P) -> np.ndarray:
    """pi with pi P = pi, sum pi = 1 (unique for an irreducible chain): least-squares solve."""
    P = np.asarray(P, float)
    s = P.shape[0]
    A = np.vstack([P.T - np.eye(s), np.ones(s)])
    b = np.r_[np.zeros(s), 1.0]
    pi = np.linalg.lstsq(A, b, rcond=None)[0]
    pi = np.clip(pi, 0, None)
    return pi / pi.sum()


def quasi_stationary_distribution(P, absorbing) -> np.ndarray:
    """Limiting stage mix of the customers not yet absorbed (Darroch & Seneta 1965).

    The left Perron eigenvector of the transient block Q, normalized to sum to 1; its eigenvalue
    is the per-period survival rate of that mix.
    """
    P = np.asarray(P, float)
    transient = [i for i in range(P.shape[0]) if i not in set(absorbing)]
    Q = P[np.ix_(transient, transient)]
    values, vectors = np.linalg.eig(Q.T)
    k = int(np.argmax(values.real))
    v = np.abs(vectors[:, k].real)
    out = np.zeros(P.shape[0])
    out[transient] = v / v.sum()
    return out


def forecast_distribution(initial, P, horizon: int) -> np.ndarray:
    """Stage mix after 0..horizon periods: pi_k = pi_0 P^k.

    P may be a stack (B x S x S, e.g. bootstrap matrices); then the result is B x (horizon+1) x S.
    """
    P = np.asarray(P, float)
    pi = np.broadcast_to(np.asarray(initial, float), P.shape[:-2] + P.shape[-1:]).copy()
    out = [pi]
    for _ in range(horizon):
        pi = np.einsum("...i,...ij->...j", pi, P)
        out.append(pi)
    return np.stack(out, axis=-2)


def markov_chain_value(P, rewards, discount_rate: float, horizon: int | None = None) -> np.ndarray:
    """Expected discounted value of a customer by current stage (Pfeifer & Carraway 2000).

    V^T = sum_{t=0}^{T} [(1+d)^{-1} P]^t R with the reward of the current period undiscounted;
    horizon None gives the infinite-horizon V = (I - P/(1+d))^{-1} R. `rewards` are per-period
    net contributions by stage (revenue minus cost to serve); P may contain absorbing rows with
    zero reward (a churned customer is worth nothing).
    """
    P = np.asarray(P, float)
    R = np.asarray(rewards, float)
    if discount_rate <= -1:
        raise ValueError("discount_rate must exceed -1")
    D = P / (1 + discount_rate)
    if horizon is None:
        return np.linalg.solve(np.eye(P.shape[0]) - D, R)
    value = R.copy()
    step = R.copy()
    for _ in range(horizon):
        step = D @ step
        value = value + step
    return value


# ---------------------------------------------------------------- relationship patterns

PATTERNS = ("early abort", "mid-way collapse", "early exit", "long-lasting")


@dataclass(frozen=True)
class PatternChain:
    """The relationship chain expanded so that its absorbing states are the four patterns."""

    P: np.ndarray
    states: tuple[str, ...]
    start: int
    absorbing: tuple[int, ...]


def relationship_pattern_chain(P, states, stable_periods: int, prospect="prospect", formation="formation",
                               stability="stability", decline="decline", churn="churn") -> PatternChain:
    """Split the churn state of a relationship chain into four relationship patterns (after Dwyer, Schurr & Oh 1987).

    A relationship that ends having reached at most exploration is an *early abort*, at most
    formation a *mid-way collapse*, stability (then decline) an *early exit*; one that holds
    stability for `stable_periods` consecutive periods is *long-lasting* (absorbed then: it
    "reaches and keeps stability"). The expanded state remembers the highest stage reached and the
    current run in stability, so the chain stays first-order; absorption probabilities from the
    start state are the pattern probabilities.
    """
    P = np.asarray(P, float)
    idx = {name: states.index(name) for name in (prospect, formation, stability, decline, churn)}
    level = {prospect: 0, formation: 1, stability: 2}
    expanded = []   # (stage, highest level reached, stability run)
    for top in range(3):
        expanded += [(prospect, top, 0), (decline, top, 0)]
        if top >= 1:
            expanded.append((formation, top, 0))
    expanded += [(stability, 2, k) for k in range(1, stable_periods)]
    names = [f"{st} (max {list(level)[top]})" if st != stability else f"{st} run {k}"
             for st, top, k in expanded] + list(PATTERNS)
    pos = {key: n for n, key in enumerate(expanded)}
    n_t = len(expanded)
    big = np.zeros((n_t + 4, n_t + 4))
    big[n_t:, n_t:] = np.eye(4)
    for row, (st, top, run) in enumerate(expanded):
        for dest in (prospect, formation, stability, decline, churn):
            p = P[idx[st], idx[dest]]
            if p == 0:
                continue
            if dest == churn:
                col = n_t + top   # early abort / mid-way collapse / early exit by highest level
            elif dest == stability:
                new_run = run + 1 if st == stability else 1
                col = n_t + 3 if new_run >= stable_periods else pos[(stability, 2, new_run)]
            else:
                new_top = max(top, level.get(dest, 0))
                col = pos[(dest, new_top, 0)]
            big[row, col] += p
    return PatternChain(big, tuple(names), pos[(prospect, 0, 0)], tuple(range(n_t, n_t + 4)))


# ---------------------------------------------------------------- simulation

def simulate_panel(P, initial, n_customers: int, n_periods: int, rng: np.random.Generator,
                   entry_period=None, absorbing=(), states=None, covariate_P=None,
                   covariate_share: float = 0.0) -> StagePanel:
    """Simulate a stage panel from a known chain (vectorized over customers, loop over periods).

    Customers enter at `entry_period` (array or int, default 0) in a stage drawn from `initial`
    (a vector, or an n_customers x S matrix of per-customer entry mixes), move by P and are
    right-censored at n_periods. A customer who reaches an absorbing stage is observed there once
    and then leaves the panel. With `covariate_P`, a share `covariate_share` of customers (x = 1,
    stored in extra["x"]) moves by covariate_P instead.
    """
    P = np.asarray(P, float)
    s = P.shape[0]
    init = np.asarray(initial, float)
    entry = np.broadcast_to(np.asarray(0 if entry_period is None else entry_period), (n_customers,))
    if init.ndim == 1:
        start = _draw(np.broadcast_to(np.cumsum(init), (n_customers, s)), rng)
    else:
        start = _draw(np.cumsum(init, axis=1), rng)
    x = (rng.random(n_customers) < covariate_share).astype(np.int8)
    cum = np.stack([np.cumsum(P, axis=1), np.cumsum(covariate_P if covariate_P is not None else P, axis=1)])
    is_absorbing = np.zeros(s, bool)
    is_absorbing[list(absorbing)] = True
    state = np.full(n_customers, -1, np.int64)
    alive = np.zeros(n_customers, bool)
    rows_c, rows_t, rows_s = [], [], []
    for t in range(n_periods):
        entering = entry == t
        moving = alive & ~entering
        if moving.any():
            cm = cum[x[moving], state[moving]]
            state[moving] = _draw(cm, rng)
        state[entering] = start[entering]
        alive |= entering
        c = np.flatnonzero(alive)
        rows_c.append(c)
        rows_t.append(np.full(c.size, t))
        rows_s.append(state[c])
        alive &= ~is_absorbing[np.maximum(state, 0)]
    customer = np.concatenate(rows_c)
    names = tuple(states) if states is not None else tuple(str(i) for i in range(s))
    return StagePanel(customer.astype(np.int64), np.concatenate(rows_t).astype(np.int64),
                      np.concatenate(rows_s).astype(np.int16), names, extra={"x": x[customer]})


def _draw(cumulative_rows, rng):
    """One categorical draw per row of cumulative probabilities (inverse-CDF)."""
    u = rng.random(cumulative_rows.shape[0])[:, None]
    return np.minimum((u > cumulative_rows).sum(axis=1), cumulative_rows.shape[1] - 1)


def simulate_absorption(P, start, n_paths: int, rng: np.random.Generator, absorbing, max_periods: int = 10_000):
    """Monte Carlo time to absorption (periods, start counted) and absorbing state from `start`."""
    P = np.asarray(P, float)
    cum = np.cumsum(P, axis=1)
    is_abs = np.zeros(P.shape[0], bool)
    is_abs[list(absorbing)] = True
    state = np.full(n_paths, start, np.int64)
    steps = np.zeros(n_paths, np.int64)
    active = ~is_abs[state]
    for _ in range(max_periods):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        steps[idx] += 1
        state[idx] = _draw(cum[state[idx]], rng)
        active[idx] = ~is_abs[state[idx]]
    return steps, state


def first_passage_curve(P, initial, target, horizon: int) -> np.ndarray:
    """P(first reached a target stage within k periods), k = 0..horizon, from a start mix.

    The target stages are made absorbing, so the mass in them after k steps is the cumulative
    first-passage distribution (its mean is the `absorption_analysis` expected time).
    """
    P = np.asarray(P, float).copy()
    target = list(target)
    P[target] = np.eye(P.shape[0])[target]
    mix = forecast_distribution(initial, P, horizon)
    return mix[:, target].sum(axis=1)
