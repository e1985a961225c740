"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves", JMR
42(4), following Colombo & Jiang 1999); CDNOW fit p = 6.25, q = 3.74, γ = 15.44 on 946 repeat buyers.

E[M | p, q, γ, m_x, x] = (q-1)/(px+q-1) · γp/(q-1) + px/(px+q-1) · m_x: a weighted mean of the
population mean and the customer's own average m_x (eq. 5).

Use: ``crm.GammaGamma().fit(rfm)`` (columns frequency, monetary_value) returns `GammaGammaResults`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import FittedModel, LogParameterLikelihood, Model, collapse_counted, data_columns, weighted_sum
from .covariates import fit_gamma_gamma_covariates
from .purchases import as_floats, covariate_frame

PUBLISHED_CDNOW = {"p": 6.25, "q": 3.74, "gamma": 15.44, "customers": 946,
                   "source": "Fader, Hardie & Lee (2005), J. Marketing Research 42(4)"}
SPEND_COLUMNS = ("frequency", "monetary_value")


class GammaGammaLikelihood(LogParameterLikelihood):
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005, JMR, eq. 2-4) for rows (x, m_x), x ≥ 1.

    Transaction values z ~ Gamma(p, ν), ν ~ Gamma(q, γ); the mean m_x of x transactions has
    f(m_x | p, q, γ, x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q m_x^(px-1) x^(px) / (γ + m_x x)^(px+q).
    """

    natural_names = ("p", "q", "gamma")
    columns = ("x", "m")

    def __init__(self, frequency, monetary_value, weights=None, **kwds):
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        keep = (x > 0) & np.isfinite(m)
        if np.any(m[keep] <= 0):
            raise ValueError("Gamma-Gamma needs positive average spend for every repeat buyer")
        rows = collapse_counted(None if weights is None else np.asarray(weights, float)[keep], x=x[keep], m=m[keep])
        super().__init__(rows, **kwds)
        self.x, self.m = rows.columns["x"], rows.columns["m"]
        self.log_m, self.log_x = np.log(self.m), np.log(self.x)

    def default_start(self):
        return np.array([1.0, 2.0, np.average(self.m, weights=self.weights)])

    def _row_loglike(self, theta):
        p, q, gamma = theta
        px = p * self.x
        return (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(gamma)
                + (px - 1) * self.log_m + px * self.log_x - (px + q) * np.log(gamma + self.m * self.x))

    def _loglike_and_gradient(self, theta):
        p, q, gamma = theta
        w, x = self.weights, self.x
        px = p * x
        log_den = np.log(gamma + self.m * x)
        psi_pxq = special.digamma(px + q)
        ll = weighted_sum(w, self._row_loglike(theta))
        dp = weighted_sum(w, x * (psi_pxq - special.digamma(px) + self.log_m + self.log_x - log_den))
        dq = weighted_sum(w, psi_pxq - special.digamma(q) + np.log(gamma) - log_den)
        dgamma = weighted_sum(w, q / gamma - (px + q) / (gamma + self.m * x))
        return ll, np.array([dp, dq, dgamma])


def gamma_gamma_spend_coefficients(theta, frequency) -> tuple[np.ndarray, np.ndarray]:
    """The conditional expected spend is A(x) + B(x)·m, linear in a customer's mean spend m:
    B = px/(px+q-1), A = (1-B)·γp/(q-1). Returns (A, B)."""
    p, q, gamma = theta
    x = as_floats(frequency)
    population_mean = gamma * p / (q - 1)
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * population_mean, weight


def gamma_gamma_expected_spend(theta, frequency, monetary_value) -> np.ndarray:
    """Conditional expected spend per transaction; customers with x = 0 get the population mean γp/(q-1)."""
    a, b = gamma_gamma_spend_coefficients(theta, frequency)
    return a + b * np.nan_to_num(as_floats(monetary_value), nan=0.0)


class GammaGammaResults(FittedModel):
    """A fitted Gamma-Gamma: `summary()`, `conf_int()`, and expected spend per transaction."""

    def expected_spend(self, data=None, **columns) -> np.ndarray:
        """Each customer's expected spend per transaction (the population mean for x = 0)."""
        return gamma_gamma_expected_spend(self.theta, *data_columns(data, SPEND_COLUMNS, columns))

    @property
    def population_mean(self) -> float:
        p, q, gamma = self.theta
        return float(gamma * p / (q - 1)) if q > 1 else float("inf")


class GammaGamma(Model):
    """The Gamma-Gamma spend model, fitted on repeat buyers (frequency > 0); `start_params` as (p, q, γ).
    `spend_covariates` (column names) shift the mean spend; the fit is then a `CovariateFit`."""

    name = "Gamma-Gamma"
    likelihood = GammaGammaLikelihood
    data_names = SPEND_COLUMNS
    results_class = GammaGammaResults

    def __init__(self, start_params=None, *, spend_covariates=None):
        super().__init__(start_params)
        self.spend_covariates = list(spend_covariates or [])

    def fit(self, data=None, weights=None, **columns):
        if not self.spend_covariates:
            return super().fit(data, weights, **columns)
        if weights is not None:
            raise ValueError("weights: the covariate models take one row per customer")
        x, m = data_columns(data, SPEND_COLUMNS, columns)
        return fit_gamma_gamma_covariates(x, m, covariate_frame(data, self.spend_covariates),
                                          start_params=self.start_params)

    def check(self, frequency, monetary_value) -> str | None:
        if not np.any((frequency > 0) & np.isfinite(monetary_value)):
            return "no customer made a repeat purchase, so spend per repeat purchase is unobserved"
        return None
