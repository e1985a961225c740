"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987, Management Science 33(1)).

Transactions Poisson(λ), λ ~ Gamma(r, α); lifetimes exponential(μ), μ ~ Gamma(s, β). The
likelihood as in Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD model and related
expressions"; published CDNOW fit r = 0.553, α = 10.578, s = 0.606, β = 11.669, LL = -9595.0.

* E[X(t)] = rβ/(α(s-1)) · [1 - (β/(β+t))^(s-1)];
* P(alive) = alive term / likelihood bracket (see `ParetoNbdLikelihood`);
* E[Y(t) | x, t_x, T] = (r+x)(β+T)/((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)] · P(alive).

Use: ``crm.ParetoNBD().fit(rfm)`` returns `ParetoNBDResults`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ..stats import logsumexp_rows
from .base import LogParameterLikelihood, collapse_counted, weighted_sum
from .covariates import fit_pareto_nbd_covariates
from .purchases import PurchaseModel, PurchaseResults, as_floats, pareto_default_start, pareto_quadrature_setup

PUBLISHED_CDNOW = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669, "loglike": -9595.0,
                   "source": "Fader, Hardie & Lee (2005), Marketing Science 24(2), p. 280"}

class ParetoNbdLikelihood(LogParameterLikelihood):
    """Pareto/NBD likelihood (Schmittlein, Morrison & Colombo 1987) for rows (x, t_x, T).

    L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + ∫_{t_x}^{T} s (β+τ)^-(s+1) (α+τ)^-(r+x) dτ ],

    transactions Poisson(λ), λ ~ Gamma(r, α), lifetimes exponential(μ), μ ~ Gamma(s, β). The
    integral (closed form in ₂F₁, Fader, Hardie & Lee 2005 note, eq. 22) is evaluated by 48-point
    Gauss-Legendre quadrature with nodes clustered at t_x (τ = t_x + (T - t_x) v²), which makes
    the analytic score simply the quadrature of the integrand's derivatives.
    """

    natural_names = ("r", "alpha", "s", "beta")
    columns = ("x", "t_x", "T")

    def __init__(self, frequency, recency, T, weights=None, **kwds):
        rows = collapse_counted(weights, x=frequency, t_x=recency, T=T)
        super().__init__(rows, **kwds)
        pareto_quadrature_setup(self, rows.columns)

    def default_start(self):
        return pareto_default_start(self)

    def _terms(self, theta):
        r, alpha, s, beta = theta
        rx = (r + self.x)[:, None]
        log_alpha_tau = np.log(alpha + self.tau)
        log_beta_tau = np.log(beta + self.tau)
        log_alive = (-(r + self.x) * np.log(alpha + self.T) - s * np.log(beta + self.T))[:, None]
        log_dropout = self.log_quad_weight + np.log(s) - (s + 1) * log_beta_tau - rx * log_alpha_tau
        parts = np.concatenate([log_alive, log_dropout], axis=1)
        log_sum = logsumexp_rows(parts)
        const_x = special.gammaln(r + self.ux) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        return const_x, parts, log_sum, log_alpha_tau, log_beta_tau

    def _row_loglike(self, theta):
        const_x, _, log_sum, _, _ = self._terms(theta)
        return const_x[self.ix] + log_sum

    def _loglike_and_gradient(self, theta):
        r, alpha, s, beta = theta
        const_x, parts, log_sum, log_alpha_tau, log_beta_tau = self._terms(theta)
        w = self.weights
        ll = float(const_x @ self.weight_by_x + weighted_sum(w, log_sum))
        share = np.exp(parts - log_sum[:, None])          # [alive term, quadrature terms]
        alive, drop = share[:, 0], share[:, 1:]
        rx = r + self.x
        log_alpha_T, log_beta_T = np.log(alpha + self.T), np.log(beta + self.T)
        dr = ((special.digamma(r + self.ux) - special.digamma(r) + np.log(alpha)) @ self.weight_by_x
              - weighted_sum(w, alive * log_alpha_T + (drop * log_alpha_tau).sum(1)))
        dalpha = r / alpha * w.sum() - weighted_sum(w, rx * (alive / (alpha + self.T) + (drop / (alpha + self.tau)).sum(1)))
        ds = np.log(beta) * w.sum() - weighted_sum(w, alive * log_beta_T + (drop * (log_beta_tau - 1.0 / s)).sum(1))
        dbeta = s / beta * w.sum() - weighted_sum(w, alive * s / (beta + self.T) + (drop * (s + 1) / (beta + self.tau)).sum(1))
        return ll, np.array([dr, dalpha, ds, dbeta])


def pareto_nbd_loglike_closed_form(theta, frequency, recency, T) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood in Gauss hypergeometric functions (FHL 2005 note, eq. 22).

    With A0 the bracketed difference of ₂F₁ terms (argument chosen by whether α ≥ β),
    L = Γ(r+x) α^r β^s / Γ(r) · [ 1/((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A0 ]. Used to check
    the quadrature in `ParetoNbd`.
    """
    r, alpha, s, beta = theta
    x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    big = r + s + x
    if alpha >= beta:
        shift, second, lead = alpha, s + 1, alpha - beta
    else:
        shift, second, lead = beta, r + x, beta - alpha
    a0 = (special.hyp2f1(big, second, big + 1, lead / (shift + t_x)) / (shift + t_x) ** big
          - special.hyp2f1(big, second, big + 1, lead / (shift + T)) / (shift + T) ** big)
    bracket = 1 / ((alpha + T) ** (r + x) * (beta + T) ** s) + s / big * a0
    return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            + np.log(bracket))


def pareto_expected_repeat(theta, t) -> np.ndarray:
    r, alpha, s, beta = theta
    t = as_floats(t)
    return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))


def pareto_prob_alive(theta, frequency, recency, T) -> np.ndarray:
    model = ParetoNbdLikelihood(frequency, recency, T)
    _, parts, log_sum, _, _ = model._terms(np.asarray(theta, dtype=float))
    return np.exp(parts[:, 0] - log_sum)[model.rows.inverse]


def pareto_conditional_expected(theta, t, frequency, recency, T) -> np.ndarray:
    r, alpha, s, beta = theta
    x, T_ = as_floats(frequency), as_floats(T)
    alive = pareto_prob_alive(theta, frequency, recency, T)
    t = as_floats(t)
    if t.ndim > 0 and x.ndim > 0:
        x, T_, alive = x[:, None], T_[:, None], alive[:, None]
    return ((r + x) * (beta + T_) / ((alpha + T_) * (s - 1))
            * (1 - ((beta + T_) / (beta + T_ + t)) ** (s - 1)) * alive)


class ParetoNBDResults(PurchaseResults):
    """A fitted Pareto/NBD: `summary()`, `conf_int()`, and predictions per customer."""

    expected_repeat_formula = staticmethod(pareto_expected_repeat)
    conditional_formula = staticmethod(pareto_conditional_expected)
    prob_alive_formula = staticmethod(pareto_prob_alive)


class ParetoNBD(PurchaseModel):
    """The Pareto/NBD model; ``ParetoNBD().fit(rfm)`` with columns frequency, recency, T (and
    `weights` for collapsed rows). `start_params` as (r, α, s, β)."""

    name = "Pareto/NBD"
    likelihood = ParetoNbdLikelihood
    results_class = ParetoNBDResults
    covariate_fit = staticmethod(fit_pareto_nbd_covariates)
