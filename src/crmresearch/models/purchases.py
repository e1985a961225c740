"""What the two purchase models (BG/NBD and Pareto/NBD) share: predictions with the same names and
the discounted expected transactions that value a customer.

Each purchase model's module gives three vectorised formulas of natural-scale θ — the expected
repeat purchases of a new customer E[X(t)], P(alive | x, t_x, T) and the conditional expectation
E[Y(t) | x, t_x, T] — and its results class names them here, so every prediction is chosen by the
model's type, never by its display name.
"""

from __future__ import annotations

import numpy as np

from .base import FittedModel, Model, collapse_rows, data_columns, factorize_values

RFM_COLUMNS = ("frequency", "recency", "T")

# Gauss-Legendre nodes for the Pareto/NBD dropout integral; 48 nodes give 1e-12 relative accuracy on
# CDNOW-like data (tests compare with the closed form in Gauss hypergeometric functions).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)


def as_floats(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


class PurchaseModel(Model):
    """A repeat-purchase model on (frequency, recency, T) per customer (rows of `rfm_summary`).

    Time-invariant covariates are an option of the same model: the names of columns of the data
    that shift the purchase rate (`purchase_covariates`) and the dropout process
    (`dropout_covariates`); the fit then returns a `models.covariates.CovariateFit`.
    """

    data_names = RFM_COLUMNS
    covariate_fit = None           # the covariate version's fit function (models.covariates)

    def __init__(self, start_params=None, *, purchase_covariates=None, dropout_covariates=None):
        super().__init__(start_params)
        self.purchase_covariates = list(purchase_covariates or [])
        self.dropout_covariates = list(dropout_covariates or [])

    def __repr__(self) -> str:
        options = [f"{k}={v!r}" for k, v in (("purchase_covariates", self.purchase_covariates),
                                                 ("dropout_covariates", self.dropout_covariates)) if v]
        return f"{type(self).__name__}({', '.join(options)})"

    def check(self, frequency, recency, T) -> str | None:
        if not np.any(frequency > 0):
            return "no customer made a repeat purchase"
        return None

    def fit(self, data=None, weights=None, **columns):
        if not (self.purchase_covariates or self.dropout_covariates):
            return super().fit(data, weights, **columns)
        if weights is not None:
            raise ValueError("weights: the covariate models take one row per customer")
        x, t_x, T = data_columns(data, RFM_COLUMNS, columns)
        return type(self).covariate_fit(x, t_x, T, covariate_frame(data, self.purchase_covariates),
                                        covariate_frame(data, self.dropout_covariates), start_params=self.start_params)


def covariate_frame(data, names: list):
    """The named covariate columns of `data` (None when there are none)."""
    if not names:
        return None
    missing = [n for n in names if data is None or n not in data]
    if missing:
        raise ValueError(f"covariate column(s) {', '.join(map(repr, missing))} not in the data")
    return data[names]


class PurchaseResults(FittedModel):
    """Predictions of a fitted purchase model; `data` is a frame with frequency, recency and T (or
    give them as keyword arrays)."""

    @staticmethod
    def expected_repeat_formula(theta, t):
        raise NotImplementedError

    @staticmethod
    def conditional_formula(theta, t, frequency, recency, T):
        raise NotImplementedError

    @staticmethod
    def prob_alive_formula(theta, frequency, recency, T):
        raise NotImplementedError

    def expected_purchases_new(self, t) -> np.ndarray:
        """Expected repeat purchases of a newly acquired customer in (0, t]: E[X(t)]."""
        return self.expected_repeat_formula(self.theta, t)

    def probability_alive(self, data=None, **columns) -> np.ndarray:
        """P(still active at the end of calibration | x, t_x, T) per customer."""
        return self.prob_alive_formula(self.theta, *data_columns(data, RFM_COLUMNS, columns))

    def expected_purchases(self, data=None, t=52.0, **columns) -> np.ndarray:
        """Expected purchases of each customer in the next `t` time units: E[Y(t) | x, t_x, T]."""
        return self.conditional_formula(self.theta, t, *data_columns(data, RFM_COLUMNS, columns))

    def discounted_purchases(self, data=None, horizon: float = 156.0, step: float = 52 / 12,
                             discount_per_step: float = 0.0, **columns) -> np.ndarray:
        """Σ_k (E[Y(kΔ)] - E[Y((k-1)Δ)]) / (1+d)^k per customer: the expected purchases of the
        next `horizon`, in steps Δ = `step`, each discounted at d = `discount_per_step`."""
        x, t_x, T = data_columns(data, RFM_COLUMNS, columns)
        rows = collapse_rows(x=x, t_x=t_x, T=T)
        c = rows.columns
        return self.discounted_rows(c["x"], c["t_x"], c["T"], horizon, step, discount_per_step)[rows.inverse]

    def discounted_rows(self, x, t_x, T, horizon: float, step: float, discount_per_step: float) -> np.ndarray:
        """`discounted_purchases` of rows that are already unique (collapsed rows): no second collapse."""
        grid = np.arange(1, int(round(horizon / step)) + 1) * step
        discount = (1 + discount_per_step) ** -np.arange(1, grid.size + 1)
        return self._discounted_unique(as_floats(x), as_floats(t_x), as_floats(T), grid, discount)

    def _discounted_unique(self, x, t_x, T, grid, discount) -> np.ndarray:
        cumulative = self.conditional_formula(self.theta, grid[None, :], x, t_x, T)
        increments = np.diff(np.concatenate([np.zeros((cumulative.shape[0], 1)), cumulative], axis=1), axis=1)
        return increments @ discount

    def expected_cumulative_repeat(self, first_purchase_time, period_ends, weights=None) -> np.ndarray:
        """Expected cumulative repeat purchases of a cohort at each period end.

        `first_purchase_time` is each customer's trial time and `period_ends` the times at which the
        count is taken, on the same clock (e.g. weeks since the cohort's start). Customers are
        grouped by trial time so the cost is (distinct trial times) × (periods). `weights`: customers
        per entry of `first_purchase_time` (collapsed rows), else one each.
        """
        if weights is None:
            starts, counts = np.unique(as_floats(first_purchase_time), return_counts=True)
        else:
            starts, inverse = np.unique(as_floats(first_purchase_time), return_inverse=True)
            counts = np.bincount(inverse.ravel(), weights=as_floats(weights), minlength=starts.size)
        elapsed = np.clip(as_floats(period_ends)[None, :] - starts[:, None], 0.0, None)
        return counts @ self.expected_purchases_new(elapsed)


# ------------------------------------------------------------------ Pareto/NBD quadrature (with or without covariates)

def pareto_quadrature_setup(model, columns: dict) -> None:
    """The Pareto/NBD's per-row quadrature (shared by `ParetoNbd` and its covariate version): x, t_x, T,
    the distinct x, and 48-point Gauss-Legendre nodes τ clustered at t_x with their log weights."""
    model.x, model.t_x, model.T = columns["x"], columns["t_x"], columns["T"]
    model.ux, model.ix = factorize_values(model.x)
    model.weight_by_x = np.bincount(model.ix, weights=model.weights, minlength=model.ux.size)
    v = (_GL_NODES + 1) / 2
    span = (model.T - model.t_x)[:, None]
    model.tau = model.t_x[:, None] + span * v**2
    with np.errstate(divide="ignore"):
        # τ = t_x + span·v² with v = (u+1)/2: dτ = 2·span·v·dv = span·v·du.
        model.log_quad_weight = np.log(_GL_WEIGHTS * v * span)


def pareto_default_start(model) -> np.ndarray:
    """(r, α, s, β) start: unit shapes, α from the mean purchase rate, β from the mean observation time."""
    mean_rate = max(np.average(model.x, weights=model.weights), 0.05) / np.average(model.T, weights=model.weights)
    return np.array([1.0, 1.0 / mean_rate, 1.0, np.average(model.T, weights=model.weights)])
