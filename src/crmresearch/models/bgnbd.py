"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)).

Transactions while active are Poisson(λ), λ ~ Gamma(r, α); after each repeat purchase the
customer drops out with probability p, p ~ Beta(a, b). Published CDNOW fit (p. 280): r = 0.243,
α = 4.414, a = 0.793, b = 2.426, LL = -9582.4.

Formulas (eq. 7, 8, 10, 11), with ₂F₁ the Gauss hypergeometric function:

* E[X(t)] = (a+b-1)/(a-1) · [1 - (α/(α+t))^r ₂F₁(r, b; a+b-1; t/(α+t))];
* P(alive | x, t_x, T) = 1 / (1 + δ_{x>0} a/(b+x-1) · ((α+T)/(α+t_x))^(r+x));
* E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x)
  ₂F₁(r+x, b+x; a+b+x-1; t/(α+T+t))] · P(alive). (The formulas hold for a < 1 as well.)

Use: ``crm.BetaGeoNBD().fit(rfm)`` returns `BetaGeoNBDResults`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import LogParameterLikelihood, collapse_counted, collapse_rows, factorize_values, weighted_sum
from .covariates import fit_bgnbd_covariates
from .purchases import PurchaseModel, PurchaseResults, as_floats

PUBLISHED_CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "loglike": -9582.4,
                   "source": "Fader, Hardie & Lee (2005), Marketing Science 24(2), p. 280"}


class BgNbdLikelihood(LogParameterLikelihood):
    """BG/NBD likelihood (Fader, Hardie & Lee 2005, eq. 6) for rows (x, t_x, T).

    L(r, α, a, b | x, t_x, T) = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
                               + δ_{x>0} B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x)).

    Transactions while active are Poisson(λ), λ ~ Gamma(r, α); after each repeat purchase the
    customer drops out with probability p, p ~ Beta(a, b).
    """

    natural_names = ("r", "alpha", "a", "b")
    columns = ("x", "t_x", "T")

    def __init__(self, frequency, recency, T, weights=None, **kwds):
        rows = collapse_counted(weights, x=frequency, t_x=recency, T=T)
        super().__init__(rows, **kwds)
        c = rows.columns
        self.x, self.t_x, self.T = c["x"], c["t_x"], c["T"]
        self.repeat = self.x > 0
        self.ux, self.ix = factorize_values(self.x)
        self.uT, self.iT = factorize_values(self.T)
        self.utx, self.itx = factorize_values(self.t_x)
        self.weight_by_x = np.bincount(self.ix, weights=self.weights, minlength=self.ux.size)

    def default_start(self):
        mean_rate = max(np.average(self.x, weights=self.weights), 0.05) / np.average(self.T, weights=self.weights)
        return np.array([1.0, 1.0 / mean_rate, 1.0, 1.0])

    def _terms(self, theta):
        r, alpha, a, b = theta
        ux, rep = self.ux, self.ux > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            log_beta_ab = special.betaln(a, b)
            const_x = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha)
            beta1_x = special.betaln(a, b + ux) - log_beta_ab
            beta2_x = np.where(rep, special.betaln(a + 1, np.where(rep, b + ux - 1, 1.0)) - log_beta_ab, -np.inf)
        log_alpha_T = np.log(alpha + self.uT)[self.iT]
        log_alpha_tx = np.log(alpha + self.utx)[self.itx]
        rx = r + self.x
        ln_a1 = beta1_x[self.ix] - rx * log_alpha_T
        ln_a2 = beta2_x[self.ix] - rx * log_alpha_tx
        # log(A1 + A2) with one exp and one log1p (np.logaddexp is several times slower);
        # rows with x = 0 have ln_a2 = -inf, so small = 0 and share1 = 1.
        with np.errstate(invalid="ignore"):
            gap = ln_a2 - ln_a1
        small = np.exp(-np.abs(gap))
        mix = np.maximum(ln_a1, ln_a2) + np.log1p(small)
        share1 = np.where(gap <= 0, 1.0, small) / (1.0 + small)
        return const_x, share1, mix, log_alpha_T, log_alpha_tx

    def _row_loglike(self, theta):
        const_x, _, mix, _, _ = self._terms(theta)
        return const_x[self.ix] + mix

    def _loglike_and_gradient(self, theta):
        r, alpha, a, b = theta
        const_x, share1, mix, log_alpha_T, log_alpha_tx = self._terms(theta)
        w = self.weights
        ll = float(const_x @ self.weight_by_x + weighted_sum(w, mix))
        share2 = 1.0 - share1
        ux, rep = self.ux, self.ux > 0
        psi_ab = special.digamma(a + b)
        psi_abx = special.digamma(a + b + ux)
        d1_a = psi_ab - psi_abx
        d2_a = 1.0 / a + psi_ab - psi_abx
        d1_b = special.digamma(b + ux) - psi_abx - special.digamma(b) + psi_ab
        d2_b = np.where(rep, special.digamma(np.where(rep, b + ux - 1, 1.0)) - psi_abx - special.digamma(b) + psi_ab, 0.0)
        rx = r + self.x
        dr = ((special.digamma(r + ux) - special.digamma(r) + np.log(alpha)) @ self.weight_by_x
              - weighted_sum(w, share1 * log_alpha_T + share2 * log_alpha_tx))
        dalpha = r / alpha * w.sum() - weighted_sum(w, rx * (share1 / (alpha + self.T) + share2 / (alpha + self.t_x)))
        da = weighted_sum(w, share1 * d1_a[self.ix] + share2 * d2_a[self.ix])
        db = weighted_sum(w, share1 * d1_b[self.ix] + share2 * d2_b[self.ix])
        return ll, np.array([dr, dalpha, da, db])


def bgnbd_expected_repeat(theta, t) -> np.ndarray:
    """Unconditional expected repeat transactions E[X(t)] of a new customer in (0, t]."""
    r, alpha, a, b = theta
    t = as_floats(t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def bgnbd_prob_alive(theta, frequency, recency, T) -> np.ndarray:
    r, alpha, a, b = theta
    x, t_x, T = as_floats(frequency), as_floats(recency), as_floats(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(x > 0, a / (b + x - 1) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))), 0.0)
    return 1.0 / (1.0 + odds)


def bgnbd_conditional_expected(theta, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]; `t` broadcasts against the customers (e.g. t[None, :] for a grid)."""
    r, alpha, a, b = theta
    x, t_x, T = as_floats(frequency), as_floats(recency), as_floats(T)
    t = as_floats(t)
    if x.ndim == 1 and x.size > 1 and np.ndim(r) == 0:
        # The hypergeometric term depends on (x, T) only, not on t_x: evaluated once per distinct
        # (x, T) pair (a million customers have some tens of thousands) and mapped back.
        pairs = collapse_rows(x=x, T=T)
        ux, uT = pairs.columns["x"], pairs.columns["T"]
        if t.ndim > 0:
            ux, uT = ux[:, None], uT[:, None]
        term = bgnbd_alive_expected(theta, t, ux, uT)
        alive = bgnbd_prob_alive(theta, x, t_x, T)
        return term[pairs.inverse] * (alive[:, None] if t.ndim > 0 else alive)
    if t.ndim > 0 and x.ndim > 0:
        x, t_x, T = x[:, None], t_x[:, None], T[:, None]
    return bgnbd_alive_expected(theta, t, x, T) * bgnbd_prob_alive(theta, x, t_x, T)


def bgnbd_alive_expected(theta, t, x, T):
    """E[Y(t) | x, t_x, T] / P(alive | x, t_x, T): a function of (x, T) only (FHL 2005, eq. 10)."""
    r, alpha, a, b = theta
    z = t / (alpha + T + t)
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * bracket


def bgnbd_pmf(theta, t, max_count: int) -> np.ndarray:
    """P(X(t) = x) for x = 0..max_count-1 and P(X(t) ≥ max_count) in the last column (FHL 2005, eq. 8).

    P(X(t) = x) = B(a, b+x)/B(a, b) · NB(x; r, α, t)
                  + δ_{x>0} B(a+1, b+x-1)/B(a, b) · [1 - Σ_{j<x} NB(j; r, α, t)],
    with NB(j; r, α, t) = Γ(r+j)/(Γ(r) j!) (α/(α+t))^r (t/(α+t))^j. Rows follow `t`.
    """
    r, alpha, a, b = theta
    t = np.atleast_1d(as_floats(t))[:, None]
    x = np.arange(max_count)[None, :]
    with np.errstate(divide="ignore"):
        log_nb = (special.gammaln(r + x) - special.gammaln(r) - special.gammaln(x + 1)
                  + r * np.log(alpha / (alpha + t)) + special.xlogy(x, t / (alpha + t)))   # t = 0: X = 0
    nb = np.exp(log_nb)
    below = np.cumsum(nb, axis=-1) - nb                    # Σ_{j<x} NB(j)
    log_beta_ab = special.betaln(a, b)
    stay = np.exp(special.betaln(a, b + x) - log_beta_ab)
    with np.errstate(invalid="ignore"):
        drop = np.where(x > 0, np.exp(special.betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - log_beta_ab), 0.0)
    probs = stay * nb + drop * (1 - below)
    # The last axis is the count; θ given as arrays of shape (k, 1, 1) gives one (t × count) table per draw.
    return np.concatenate([probs, 1 - probs.sum(axis=-1, keepdims=True)], axis=-1)


class BetaGeoNBDResults(PurchaseResults):
    """A fitted BG/NBD: `summary()`, `conf_int()`, and predictions per customer."""

    expected_repeat_formula = staticmethod(bgnbd_expected_repeat)
    conditional_formula = staticmethod(bgnbd_conditional_expected)
    prob_alive_formula = staticmethod(bgnbd_prob_alive)

    def purchase_count_distribution(self, t, max_count: int = 7) -> np.ndarray:
        """P(X(t) = x) of a new customer for x = 0..max_count-1, and P(X(t) ≥ max_count) last."""
        return bgnbd_pmf(self.theta, t, max_count)

    def _discounted_unique(self, x, t_x, T, grid, discount) -> np.ndarray:
        # E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) * g(t; x, T): the discounted sum over the grid is
        # taken once per distinct (x, T) pair, then scaled by each row's P(alive).
        pairs = collapse_rows(x=x, T=T)
        g = bgnbd_alive_expected(self.theta, grid[None, :], pairs.columns["x"][:, None], pairs.columns["T"][:, None])
        per_pair = np.diff(g, axis=1, prepend=0.0) @ discount
        return bgnbd_prob_alive(self.theta, x, t_x, T) * per_pair[pairs.inverse]


class BetaGeoNBD(PurchaseModel):
    """The BG/NBD model; ``BetaGeoNBD().fit(rfm)`` with columns frequency, recency, T (and `weights`
    for collapsed rows). `start_params` as (r, α, a, b)."""

    name = "BG/NBD"
    likelihood = BgNbdLikelihood
    results_class = BetaGeoNBDResults
    covariate_fit = staticmethod(fit_bgnbd_covariates)
