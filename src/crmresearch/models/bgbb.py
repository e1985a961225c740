"""BG/BB: discrete-time non-contractual buying (Fader, Hardie & Shang 2010).

Fader, P. S., Hardie, B. G. S. & Shang, J. (2010), "Customer-base analysis in a discrete-time
noncontractual setting", Marketing Science 29(6). In each of n transaction opportunities (a
yearly donation, an annual event) a customer who is still alive buys with probability p,
p ~ Beta(α, β); before each later opportunity an alive customer dies with probability θ,
θ ~ Beta(γ, δ). The sufficient statistics are x (transactions in n opportunities), t_x (the
opportunity of the last one, 0 if none) and n. With B(·,·) the beta function,

    L = B(α+x, β+n-x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
        + Σ_{i=0}^{n-t_x-1} B(α+x, β+t_x-x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ).

Published fit on the donations data (11,104 donors of the 1995 cohort, n = 6 later years):
α = 1.204, β = 0.750, γ = 0.657, δ = 2.783, LL = -33,225.6 (FHS 2010, table 2).

The likelihood works on rows (x, t_x, n) with weights (customers per row): all sum terms of all rows form one
matrix (rows × max(n - t_x) + 1, masked), so an evaluation costs microseconds and a million
donors cost nothing more than their few dozen distinct rows. The score is analytic (each term's
derivative is a difference of digammas, weighted by the term's share of L).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from ..stats import logsumexp_rows
from .base import FittedModel, LogParameterLikelihood, Model, collapse_counted, data_columns

PUBLISHED_DONATIONS = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783, "loglike": -33225.6,
                       "donors": 11104, "periods": 6,
                       "source": "Fader, Hardie & Shang (2010), Marketing Science 29(6), table 2"}


class BgBbLikelihood(LogParameterLikelihood):
    """BG/BB likelihood on rows (x, t_x, n) with weights; natural parameters (α, β, γ, δ)."""

    natural_names = ("alpha", "beta", "gamma", "delta")
    columns = ("x", "t_x", "n")

    def __init__(self, frequency, recency, periods, weights=None, **kwds):
        x, t_x, n = (np.asarray(v, dtype=float) for v in (frequency, recency, periods))
        rows = collapse_counted(weights, x=x, t_x=t_x, n=n)
        c = rows.columns
        bad = (c["x"] < 0) | (c["x"] > c["t_x"]) | (c["t_x"] > c["n"]) | ((c["x"] == 0) != (c["t_x"] == 0))
        if np.any(bad):
            raise ValueError("BG/BB rows need 0 <= x <= t_x <= n, with t_x = 0 exactly when x = 0")
        super().__init__(rows, **kwds)
        self.x, self.t_x, self.n = c["x"], c["t_x"], c["n"]
        width = int((self.n - self.t_x).max()) if self.x.size else 0
        self.i = np.arange(width)[None, :]
        self.mask = self.i < (self.n - self.t_x)[:, None]

    def default_start(self):
        return np.array([1.0, 1.0, 1.0, 1.0])

    def _terms(self, theta):
        alpha, beta, gamma, delta = theta
        x, t_x, n = self.x[:, None], self.t_x[:, None], self.n[:, None]
        b_ab, b_gd = special.betaln(alpha, beta), special.betaln(gamma, delta)
        a1 = alpha + x
        b_alive = beta + n - x
        b_i = np.where(self.mask, beta + t_x - x + self.i, 1.0)
        d_i = delta + t_x + self.i
        alive = special.betaln(a1, b_alive) - b_ab + special.betaln(gamma, delta + n) - b_gd
        died = np.where(self.mask, special.betaln(a1, b_i) - b_ab + special.betaln(gamma + 1, d_i) - b_gd, -np.inf)
        parts = np.concatenate([alive, died], axis=1)
        return parts, logsumexp_rows(parts)

    def _row_loglike(self, theta):
        return self._terms(theta)[1]

    def _loglike_and_gradient(self, theta):
        alpha, beta, gamma, delta = theta
        parts, log_l = self._terms(theta)
        share = np.exp(parts - log_l[:, None])
        x, t_x, n = self.x[:, None], self.t_x[:, None], self.n[:, None]
        psi = special.digamma
        base_a, base_b = psi(alpha) - psi(alpha + beta), psi(beta) - psi(alpha + beta)
        base_g, base_d = psi(gamma) - psi(gamma + delta), psi(delta) - psi(gamma + delta)
        a1 = alpha + x
        b_all = np.concatenate([beta + n - x, np.where(self.mask, beta + t_x - x + self.i, 1.0)], axis=1)
        g_all = np.concatenate([np.full_like(n, gamma), np.full(self.mask.shape, gamma + 1)], axis=1)
        d_all = np.concatenate([delta + n, delta + t_x + self.i], axis=1)
        psi_ab = psi(a1 + b_all)
        psi_gd = psi(g_all + d_all)
        grads = [psi(a1) - psi_ab - base_a, psi(b_all) - psi_ab - base_b,
                 psi(g_all) - psi_gd - base_g, psi(d_all) - psi_gd - base_d]
        w = self.weights
        grad = np.array([float(w @ (share * g).sum(axis=1)) for g in grads])
        return float(w @ log_l), grad


# ------------------------------------------------------------------ predictions (FHS 2010, section 3)

def prob_alive(theta, x, t_x, n) -> np.ndarray:
    """P(alive at opportunity n + 1 | x, t_x, n) (FHS 2010, eq. 11)."""
    return predictions_for_draws(np.asarray(theta, float)[None, :], x, t_x, n, 0, 0.0)["p_alive"][0]


def expected_transactions(theta, x, t_x, n, future: int) -> np.ndarray:
    """E[X(n, n + n*) | x, t_x, n]: transactions in the next `future` opportunities (FHS 2010, eq. 13)."""
    return predictions_for_draws(np.asarray(theta, float)[None, :], x, t_x, n, future, 0.0)["expected"][0]


def dert(theta, x, t_x, n, discount_rate: float) -> np.ndarray:
    """Discounted expected residual transactions DERT(d | x, t_x, n) (FHS 2010, eq. 14)."""
    return predictions_for_draws(np.asarray(theta, float)[None, :], x, t_x, n, 0, discount_rate)["dert"][0]


def expected_count_distribution(theta, n: int) -> np.ndarray:
    """P(X(n) = x), x = 0..n, for a customer with n opportunities (FHS 2010, eq. 7)."""
    alpha, beta, gamma, delta = theta
    x = np.arange(n + 1, dtype=float)
    log_comb = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    alive = np.exp(log_comb + special.betaln(alpha + x, beta + n - x) - special.betaln(alpha, beta)
                   + special.betaln(gamma, delta + n) - special.betaln(gamma, delta))
    # died after opportunity i (i = x..n-1): C(i, x) B(α+x, β+i-x)/B(α,β) · B(γ+1, δ+i)/B(γ,δ)
    i = np.arange(n, dtype=float)[None, :]
    xx = x[:, None]
    valid = i >= xx
    with np.errstate(invalid="ignore"):
        log_c = special.gammaln(i + 1) - special.gammaln(xx + 1) - special.gammaln(np.where(valid, i - xx, 0) + 1)
        terms = np.where(valid, np.exp(log_c + special.betaln(alpha + xx, beta + np.where(valid, i - xx, 0))
                                       - special.betaln(alpha, beta) + special.betaln(gamma + 1, delta + i)
                                       - special.betaln(gamma, delta)), 0.0)
    return alive + terms.sum(axis=1)


def expected_histogram(theta, periods, counts) -> np.ndarray:
    """Expected customers by number of transactions 0..max n (FHS 2010, eq. 7), customers grouped by
    their number of opportunities n (`periods`, with `counts` customers per row)."""
    per_n = pd.Series(np.asarray(counts, float)).groupby(np.asarray(periods, int)).sum()
    n_max = int(per_n.index.max())
    return sum(c * np.pad(expected_count_distribution(theta, int(n)), (0, n_max - int(n))) for n, c in per_n.items())


def summary_table(theta, x, t_x, n, counts, future: int, discount_rate: float) -> pd.DataFrame:
    """Each distinct (x, t_x, n) with its count, P(alive), expected transactions and DERT."""
    out = pd.DataFrame({"x": x, "t_x": t_x, "n": n, "customers": counts})
    out["p_alive"] = prob_alive(theta, x, t_x, n)
    out["expected_next"] = expected_transactions(theta, x, t_x, n, future)
    out["dert"] = dert(theta, x, t_x, n, discount_rate)
    return out


# ------------------------------------------------------------------ predictions for many θ at once

def predictions_for_draws(thetas, x, t_x, n, future: int, discount_rate: float) -> dict:
    """P(alive), E[X(n, n + future)] and DERT for every parameter draw (rows of `thetas`, shape (k, 4))
    and every row (x, t_x, n): arrays of shape (k, rows), by the same formulas as `prob_alive`,
    `expected_transactions` and `dert`, broadcast over draws × rows × sum terms (no loops)."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    alpha, beta, gamma, delta = (thetas[:, j].reshape(-1, 1, 1) for j in range(4))
    x, t_x, n = (np.asarray(v, dtype=float).reshape(1, -1, 1) for v in (x, t_x, n))
    width = max(int((n - t_x).max()), 1)
    i = np.arange(width).reshape(1, 1, -1)
    mask = i < (n - t_x)
    b_ab, b_gd = special.betaln(alpha, beta), special.betaln(gamma, delta)
    alive = special.betaln(alpha + x, beta + n - x) - b_ab + special.betaln(gamma, delta + n) - b_gd
    died = np.where(mask, special.betaln(alpha + x, np.where(mask, beta + t_x - x + i, 1.0)) - b_ab
                    + special.betaln(gamma + 1, delta + t_x + i) - b_gd, -np.inf)
    log_l = special.logsumexp(np.concatenate([alive, died], axis=-1), axis=-1)          # (k, rows)
    a, b, g, d = (v[..., 0] for v in (alpha, beta, gamma, delta))
    x, n = x[..., 0], n[..., 0]
    p_alive = np.exp(special.betaln(a + x, b + n - x) - special.betaln(a, b)
                     + special.betaln(g, d + n + 1) - special.betaln(g, d) - log_l)
    gl = special.gammaln
    front = np.exp(special.betaln(a + x + 1, b + n - x) - special.betaln(a, b) - log_l)
    span = (np.exp(gl(g + d) - gl(1 + d) + gl(1 + d + n) - gl(g + d + n))
            - np.exp(gl(g + d) - gl(1 + d) + gl(1 + d + n + future) - gl(g + d + n + future)))
    expected = front * d / (g - 1) * span
    dert_front = np.exp(special.betaln(a + x + 1, b + n - x) - special.betaln(a, b)
                        + special.betaln(g, d + n + 1) - special.betaln(g, d) - log_l)
    q = discount_rate
    dert_values = dert_front / (1 + q) * special.hyp2f1(1, d + n + 1, g + d + n + 1, 1 / (1 + q))
    return {"p_alive": p_alive, "expected": expected, "dert": dert_values}


DISCRETE_COLUMNS = ("frequency", "recency", "periods")


class BetaGeoBetaBinomialResults(FittedModel):
    """A fitted BG/BB; `data` has frequency (x), recency (t_x) and periods (n) per row."""

    def probability_alive(self, data=None, **columns) -> np.ndarray:
        """P(alive at opportunity n + 1 | x, t_x, n)."""
        return prob_alive(self.theta, *data_columns(data, DISCRETE_COLUMNS, columns))

    def expected_purchases(self, data=None, t: int = 5, **columns) -> np.ndarray:
        """Expected transactions in the next `t` opportunities."""
        return expected_transactions(self.theta, *data_columns(data, DISCRETE_COLUMNS, columns), t)

    def discounted_purchases(self, data=None, discount_rate: float = 0.1, **columns) -> np.ndarray:
        """DERT: discounted expected residual transactions at a discount rate per opportunity."""
        return dert(self.theta, *data_columns(data, DISCRETE_COLUMNS, columns), discount_rate)

    def purchase_count_distribution(self, n: int) -> np.ndarray:
        """P(X(n) = x), x = 0..n, for a customer with n opportunities."""
        return expected_count_distribution(self.theta, n)

    def expected_histogram(self, data=None, weights=None, **columns) -> np.ndarray:
        """Expected customers by number of transactions 0..max n, for the customers in `data` (with their
        `count` or `weights`)."""
        if weights is None and data is not None and "count" in data:
            weights = data["count"]
        periods = data_columns(data, ("periods",), columns)[0]
        return expected_histogram(self.theta, periods, np.ones(periods.size) if weights is None else weights)


class BetaGeoBetaBinomial(Model):
    """The BG/BB for discrete-time buying; ``BetaGeoBetaBinomial().fit(panel)`` with columns frequency,
    recency and periods (and `weights`, or a `count` column, for collapsed rows)."""

    name = "BG/BB"
    likelihood = BgBbLikelihood
    data_names = DISCRETE_COLUMNS
    results_class = BetaGeoBetaBinomialResults

    def check(self, frequency, recency, periods) -> str | None:
        return None if np.any(frequency > 0) else "no customer made a transaction"
