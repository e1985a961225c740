"""The one core every likelihood model of the package shares.

* **Data**: a model's rows are collapsed to unique rows with their counts as weights
  (`collapse_rows`), so a million customers cost what their distinct histories cost, and no
  result depends on the order of the input rows.
* **Likelihood**: `LogParameterLikelihood` is a statsmodels `GenericLikelihoodModel` on the
  logarithms of the model's positive parameters with an analytic score; subclasses give the
  weighted log-likelihood and its gradient in the natural parameters.
* **Fitting**: `fit_multistart` tries deterministic starting points in turn, each by BFGS then
  Newton steps with the analytic score (`polish`); data of many unique rows start first from the
  estimate on a sample of their rows (`sample_start`); `quick_mle` is the estimate alone, for the
  many re-fits of a bootstrap or a simulation check.
* **Results**: `ModelResults` is the API of every fit — named `params` on the natural scale,
  `bse`, `cov_params()`, `conf_int(alpha)`, `llf`, `aic`, `bic`, `nobs`, `converged`, `failure`,
  `summary()` (text, and HTML in Jupyter), `interval(...)` for any prediction by parameter draws
  or a customer bootstrap. A fit that converged is a `FittedModel`; one that did not is a
  `FailedFit` with `converged = False` and a `failure` that says what failed and what was tried.
  Nothing raises for a model that does not fit: the report shows the failure and goes on.
* **Tests**: `models.lr_test` for nested fits.

Model-specific results (predictions) subclass `FittedModel` in the model's own module.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from statsmodels.base.model import GenericLikelihoodModel
from statsmodels.iolib.summary2 import Summary
from statsmodels.tools.numdiff import approx_fprime

from .. import config
from ..stats import z_value


class ConvergenceError(RuntimeError):
    """Raised inside `polish` when a start does not reach a maximum; `fit_multistart` catches it."""


# ------------------------------------------------------------------ data rows

@dataclass(frozen=True)
class CollapsedRows:
    """Unique data rows, their counts, and the inverse map back to the input rows."""

    columns: dict
    weights: np.ndarray
    inverse: np.ndarray

    @property
    def n_customers(self) -> int:
        return int(self.weights.sum())


def collapse_rows(**columns) -> CollapsedRows:
    """Unique combinations of the given equal-length arrays, with counts as weights.

    Each column is hash-factorized (pandas, O(n)) and the codes are combined into one integer
    key, so a million customers collapse in a fraction of a second; the unique rows come sorted by
    their values, whatever the order of the input.
    """
    names = list(columns)
    arrays = [np.asarray(columns[n], dtype=float) for n in names]
    if _strictly_increasing(arrays):
        # Already unique and in the order the collapse gives (e.g. the unique rows an engine returns,
        # sorted): the rows themselves, each once (1.9 million rows: 0.03 s instead of 0.9 s).
        n = arrays[0].size
        return CollapsedRows({n_: arr.copy() for n_, arr in zip(names, arrays)}, np.ones(n), np.arange(n, dtype=np.int64))
    key = np.zeros(arrays[0].size, dtype=np.int64)
    span = 1
    for arr in arrays:
        codes, uniques = pd.factorize(arr, sort=False)
        if span * max(uniques.size, 1) >= 2**62:      # re-factorize the partial key to keep it small
            key, partial = pd.factorize(key, sort=False)
            span = max(partial.size, 1)
        key = key * max(uniques.size, 1) + codes
        span *= max(uniques.size, 1)
    group, _ = pd.factorize(key, sort=False)
    n_groups = int(group.max()) + 1 if group.size else 0
    first = np.full(n_groups, group.size, dtype=np.int64)
    np.minimum.at(first, group, np.arange(group.size))
    # Unique rows sorted by their values (first column first), so that nothing computed from them
    # (sums, numerical derivatives, bootstrap resamples) depends on the order of the input rows.
    order = np.lexsort([arr[first] for arr in reversed(arrays)]) if n_groups else np.arange(0)
    rank = np.empty(n_groups, dtype=np.int64)
    rank[order] = np.arange(n_groups)
    return CollapsedRows({n: arr[first][order] for n, arr in zip(names, arrays)},
                         np.bincount(group, minlength=n_groups).astype(float)[order], rank[group])


def _strictly_increasing(arrays: list[np.ndarray]) -> bool:
    """Whether each row is lexicographically (first column first) greater than the one before; False
    for fewer than two rows and for any NaN (it compares neither greater nor equal)."""
    if arrays[0].size < 2:
        return False
    greater = np.zeros(arrays[0].size - 1, dtype=bool)
    equal = np.ones(arrays[0].size - 1, dtype=bool)
    for arr in arrays:
        later, earlier = arr[1:], arr[:-1]
        greater |= equal & (later > earlier)
        equal &= later == earlier
        if not equal.any():
            break
    return bool(greater.all())


def collapse_counted(weights=None, **columns) -> CollapsedRows:
    """`collapse_rows`, with each input row standing for `weights` customers (rows with weight 0
    dropped; `inverse` then maps the kept rows). Used for collapsed rows an engine returns and by
    the customer bootstrap, whose resamples are counts on already collapsed rows."""
    if weights is None:
        return collapse_rows(**columns)
    weights = np.asarray(weights, dtype=float)
    keep = weights > 0
    base = collapse_rows(**{k: np.asarray(v, dtype=float)[keep] for k, v in columns.items()})
    return CollapsedRows(base.columns, np.bincount(base.inverse, weights=weights[keep], minlength=base.weights.size),
                         base.inverse)


def check_weights(weights, n_rows: int):
    """`weights` as floats: one non-negative, finite count per row (None stays None)."""
    if weights is None:
        return None
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n_rows,) or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ValueError("weights: one non-negative count per row")
    return weights


def weighted_sum(weights: np.ndarray, values) -> float:
    """Σ w·v without BLAS: on a shared, loaded machine BLAS's threaded ddot stalls (measured 1.3 ms
    against 0.18 ms for einsum on 10^5 rows), and it is called ~10 times per likelihood evaluation."""
    return float(np.einsum("i,i->", weights, np.asarray(values, dtype=float)))


def factorize_values(values: np.ndarray):
    """Distinct values and the index of each row's value among them."""
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse.ravel()


# ------------------------------------------------------------------ the likelihood

class AnalyticScoreLikelihood(GenericLikelihoodModel):
    """What every likelihood of the package with an analytic score shares: the Hessian as central
    differences of the score, and statsmodels' fit with its own convergence warnings silenced and its
    Hessian skipped (the fit is polished by Newton steps and checked afterwards, and the final
    Hessian is computed once, at the polished estimate)."""

    def hessian(self, params):
        # Central differences of the analytic score are accurate to ~1e-8, far better than
        # second differences of the log-likelihood (statsmodels' default).
        hess = approx_fprime(np.asarray(params, dtype=float), self.score, centered=True)
        return (hess + hess.T) / 2

    def quiet_fit(self, start, method: str = "bfgs", maxiter: int = 2000, **kwargs):
        kwargs.setdefault("gtol", 1e-7)
        kwargs.setdefault("skip_hessian", True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = GenericLikelihoodModel.fit(self, start_params=start, method=method, maxiter=maxiter, disp=0,
                                                **kwargs)
        result.nobs = self.rows.n_customers
        return result


class LogParameterLikelihood(AnalyticScoreLikelihood):
    """GenericLikelihoodModel on log-parameters with weighted rows and an analytic score.

    Subclasses define `natural_names`, `columns` (the names of the collapsed data columns, in the
    order the constructor takes them) and `_loglike_and_gradient(theta)` returning the weighted
    total log-likelihood and its gradient with respect to the natural parameters θ.
    """

    natural_names: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()

    def __init__(self, rows: CollapsedRows, **kwds):
        self.rows = rows
        self.weights = rows.weights
        endog = np.column_stack(list(rows.columns.values()))
        super().__init__(endog, exog=None, extra_params_names=[f"log_{n}" for n in self.natural_names], **kwds)
        # All parameters are "extra" parameters (no exog), so statsmodels counts them through
        # k_extra; df_model stays 0 or AIC/BIC would count them twice.
        self.k_constant = 0
        self.df_model = 0.0
        self.df_resid = float(rows.n_customers - len(self.natural_names))
        self.data.ynames = "+".join(rows.columns)
        self._cache_key = None

    def resampled(self, weights, rows=slice(None)) -> "LogParameterLikelihood":
        """The same model on the same unique rows with other weights (a bootstrap resample), or on some of
        them (`rows`, an index; `weights` then one per row kept)."""
        return type(self)(*(self.rows.columns[c][rows] for c in self.columns), weights=weights)

    def _evaluate(self, params):
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        if key != self._cache_key:
            theta = np.exp(params)
            ll, grad_natural = self._loglike_and_gradient(theta)
            self._cache_key, self._cached = key, (ll, grad_natural * theta)
        return self._cached

    def loglike(self, params):
        return self._evaluate(params)[0]

    def loglikeobs(self, params):
        # Per unique row, weighted, so that the sum is the customers' total log-likelihood.
        return self._row_loglike(np.exp(np.asarray(params, dtype=float))) * self.weights

    def score(self, params):
        return self._evaluate(params)[1]

    def fit(self, start_params=None, method="bfgs", maxiter=2000, **kwargs):
        """statsmodels' fit from natural-scale `start_params` (defaults from the data)."""
        start = np.log(self.default_start() if start_params is None else np.asarray(start_params, float))
        return self.quiet_fit(start, method, maxiter, **kwargs)

    def default_start(self) -> np.ndarray:
        raise NotImplementedError

    def _row_loglike(self, theta):
        raise NotImplementedError

    def _loglike_and_gradient(self, theta):
        raise NotImplementedError


# ------------------------------------------------------------------ results

@dataclass
class IntervalResult:
    """A statistic's estimate with a percentile interval from parameter draws or bootstrap re-fits."""

    method: str
    confidence: float
    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    draws: int
    failed: int

    def as_dict(self) -> dict:
        return {"method": self.method, "confidence": self.confidence, "estimate": self.estimate,
                "lower": self.lower, "upper": self.upper, "draws": self.draws, "failed_refits": self.failed}


def percentile_interval(values, confidence: float, axis: int = 0):
    """Equal-tailed percentile interval of `values` along `axis` (NaNs ignored)."""
    tail = (1 - confidence) / 2 * 100
    values = np.asarray(values, dtype=float)
    return np.nanpercentile(values, tail, axis=axis), np.nanpercentile(values, 100 - tail, axis=axis)


class ModelResults:
    """The API shared by every fitted (or failed) model; see the module docstring.

    Subclasses provide `name`, `params` (a named Series on the natural scale), `log_cov` (the
    covariance of the log-parameters), `llf`, `nobs` and `converged`.
    """

    @property
    def theta(self) -> np.ndarray:
        """The natural-scale parameters as an array (for the vectorised formulas)."""
        return self.params.to_numpy()

    @property
    def bse(self) -> pd.Series:
        """Delta-method standard errors on the natural scale: se(θ) = θ·se(log θ)."""
        return pd.Series(self.theta * np.sqrt(np.diag(self.log_cov)), index=self.params.index)

    @property
    def failure(self) -> str | None:
        return None

    @property
    def df_model(self) -> int:
        return int(self.params.size)

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.df_model

    @property
    def bic(self) -> float:
        """BIC with the number of customers as the sample size."""
        return -2 * self.llf + np.log(self.nobs) * self.df_model

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the natural-scale estimates (delta method from the log-parameters)."""
        jac = np.diag(self.theta)
        names = self.params.index
        return pd.DataFrame(jac @ self.log_cov @ jac, index=names, columns=names)

    def conf_int(self, alpha: float = 1 - config.CONFIDENCE) -> pd.DataFrame:
        """Wald intervals on the log scale, back-transformed (they stay positive), at level 1 - alpha."""
        z = z_value(1 - alpha)
        log_se = np.sqrt(np.diag(self.log_cov))
        return pd.DataFrame({"lower": self.theta * np.exp(-z * log_se), "upper": self.theta * np.exp(z * log_se)},
                            index=self.params.index)

    def table(self, confidence: float = config.CONFIDENCE, published: dict | None = None) -> pd.DataFrame:
        """Estimates, standard errors and intervals at `confidence`, with published values when given."""
        ci = self.conf_int(1 - confidence)
        out = pd.DataFrame({"parameter": self.params.index, "estimate": self.theta, "std_error": self.bse.to_numpy(),
                            "ci_lower": ci["lower"].to_numpy(), "ci_upper": ci["upper"].to_numpy()})
        if published:
            out["published"] = [published.get(n, np.nan) for n in self.params.index]
        return out

    def summary(self, alpha: float = 1 - config.CONFIDENCE) -> Summary:
        """Parameters with standard errors and intervals, fit statistics and convergence, as a
        statsmodels `Summary` (printed as text; shown as HTML in Jupyter)."""
        return results_summary(self, alpha, "Standard errors by the delta method; intervals are Wald intervals of "
                                            "the log-parameters, back-transformed.")

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def __str__(self) -> str:
        return self.summary().as_text()

    # ---------------------------------------------------------- uncertainty of predictions

    def draw_parameters(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Parameter draws from the asymptotic normal of the log-parameters (Krinsky & Robb 1986)."""
        return np.exp(rng.multivariate_normal(np.log(self.theta), self.log_cov, size=n_draws))

    def bootstrap_parameters(self, resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Customer bootstrap: customers resampled with replacement (multinomial counts on the
        collapsed rows), the model re-fitted from the estimates on each resample. Returns the
        re-fitted parameters (k, p) of the re-fits that converged and the number that did not."""
        model = self.sm_results.model
        n = int(model.weights.sum())
        kept = []
        for counts in rng.multinomial(n, model.weights / n, size=resamples):   # one re-fit per resample
            theta, ok = quick_mle(model.resampled(counts), self.theta)
            if ok:
                kept.append(theta)
        return np.array(kept).reshape(len(kept), self.theta.size), resamples - len(kept)

    def with_params(self, theta) -> "ModelResults":
        """A copy of these results at other parameter values (for evaluating a prediction at a draw)."""
        return dataclasses.replace(self, params=pd.Series(np.asarray(theta, float), index=self.params.index))

    def interval(self, prediction, *args, method: str = "draws", draws: int = config.PARAMETER_DRAWS,
                 resamples: int = config.BOOTSTRAP_RESAMPLES, confidence: float = config.CONFIDENCE,
                 seed: int = config.DEFAULT_SEED, **kwargs) -> IntervalResult:
        """A percentile interval for any prediction method of these results, e.g.
        ``fit.interval(fit.expected_purchases, rfm, t=52)``.

        `method="draws"`: the prediction at `draws` parameter draws from the estimates' asymptotic
        normal distribution (statistical uncertainty of the estimates); `method="bootstrap"`: at the
        re-fits of `resamples` customer bootstraps (which also carries sampling of customers).
        """
        func = getattr(prediction, "__func__", prediction)
        rng = np.random.default_rng(seed)
        if method == "draws":
            thetas, failed, n = self.draw_parameters(draws, rng), 0, draws
        elif method == "bootstrap":
            thetas, failed = self.bootstrap_parameters(resamples, rng)
            n = resamples
        else:
            raise ValueError("method: expected 'draws' or 'bootstrap'")
        estimate = np.asarray(func(self, *args, **kwargs), dtype=float)
        values = np.array([np.asarray(func(self.with_params(th), *args, **kwargs), dtype=float) for th in thetas])
        lower, upper = percentile_interval(values, confidence) if len(values) else (estimate * np.nan,) * 2
        return IntervalResult(method, confidence, estimate, lower, upper, n, failed)


@dataclass(repr=False)
class FittedModel(ModelResults):
    """A converged maximum-likelihood fit (natural-scale parameters, log-parameter covariance)."""

    converged = True

    name: str
    params: pd.Series
    log_cov: np.ndarray            # covariance of the log-parameters
    llf: float
    nobs: int                      # customers
    n_unique_rows: int
    iterations: int
    sm_results: object = dataclasses.field(repr=False, default=None)
    starts_tried: int = 1          # starting points tried before this one converged (multi-start)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"<{type(self).__name__} {self.name}: {values}; llf={self.llf:.4f}, nobs={self.nobs:,}>"


@dataclass(repr=False)
class FailedFit(ModelResults):
    """A model that did not converge from any of the starting points tried (reported, never raised)."""

    name: str
    reason: str                    # the last attempt's diagnosis
    starts: list                   # natural-scale starting points tried, in order
    nobs: int
    names: tuple = ()              # the model's parameter names (the estimates are NaN)
    from_sample: bool = False      # the first start was the estimate on a sample of the rows (`sample_start`)

    converged = False

    @property
    def params(self) -> pd.Series:
        return pd.Series(np.full(len(self.names), np.nan), index=list(self.names), dtype=float)

    @property
    def log_cov(self) -> np.ndarray:
        return np.full((len(self.names),) * 2, np.nan)

    @property
    def llf(self) -> float:
        return float("nan")

    @property
    def tried(self) -> str:
        if not self.starts:
            return "no fit (the data cannot support the model)"
        if len(self.starts) == 1:
            return "1 starting point (the one given)"
        first = "the estimate on a sample of the rows, then " if self.from_sample else ""
        return (f"{len(self.starts)} starting points ({first}the default and the default scaled by e^±1 and e^±2 "
                "in the log-parameters)")

    @property
    def failure(self) -> str:
        return f"{self.reason} (tried {self.tried})"

    def as_dict(self) -> dict:
        return {"model": self.name, "failed": True, "reason": self.reason, "starts_tried": len(self.starts),
                "customers": self.nobs}

    def __repr__(self) -> str:
        return f"<FailedFit {self.name}: {self.failure}>"


def results_summary(results, alpha: float, note: str) -> Summary:
    """The summary every results object prints: fit statistics, then estimates with standard errors and
    intervals at level 1 - alpha (from the results' own `bse` and `conf_int`), or the failure."""
    smry = Summary()
    smry.add_title(f"{results.name} results")
    info = {"Model:": results.name, "Observations:": f"{results.nobs:,}",
            "Converged:": "yes" if results.converged else "no"}
    if results.converged:
        info.update({"Log-likelihood:": f"{results.llf:,.4f}", "AIC:": f"{results.aic:,.4f}",
                     "BIC:": f"{results.bic:,.4f}"})
    smry.add_dict(info, ncols=2)
    if results.converged:
        level = f"{100 * (1 - alpha):g}%"
        ci = results.conf_int(alpha)
        table = pd.DataFrame({"estimate": results.params, "std. error": results.bse,
                              f"{level} lower": ci["lower"], f"{level} upper": ci["upper"]})
        smry.add_df(table, float_format="%.4f")
        smry.add_text(note)
    else:
        smry.add_text(f"Failed: {results.failure}")
    return smry


# ------------------------------------------------------------------ fitting

def settle(model: LogParameterLikelihood, start_params, hessian_guess: np.ndarray, steps: int = 30) -> np.ndarray:
    """Newton steps from `start_params` (natural scale) with a fixed guess of the Hessian in the
    log-parameters (one score each, no Hessian), until a step is below 1e-10: the point reached
    (natural scale), or the start when the steps do not shrink to it."""
    start = np.log(np.asarray(start_params, float))
    params, last = start.copy(), np.inf
    with np.errstate(all="ignore"):
        for _ in range(steps):
            try:
                step = np.linalg.solve(-hessian_guess, model.score(params))
            except np.linalg.LinAlgError:
                return np.exp(start)
            size = float(np.max(np.abs(step)))
            if not np.isfinite(size) or size > min(1.0, last):
                return np.exp(start)
            params, last = params + step, size
            if size < 1e-10:
                return np.exp(params)
    return np.exp(start)


def polish(model: LogParameterLikelihood, name: str, start_params=None, newton_steps: int = 8,
           results_class: type[FittedModel] = FittedModel, hessian_guess: np.ndarray | None = None) -> FittedModel:
    """BFGS from the start values, then Newton steps with the analytic score to full precision.
    With `hessian_guess` (log-parameters), the start is first `settle`d with it, so that BFGS and
    the Newton steps find the maximum already reached and one Hessian confirms it.

    Converged means: finite, the last Newton step below 1e-8 in every log-parameter (far inside
    1e-4 relative), and a negative-definite Hessian. Anything else raises ConvergenceError.
    """
    names = model.natural_names
    if hessian_guess is not None and start_params is not None:
        start_params = settle(model, start_params, hessian_guess)
    result = model.fit(start_params=start_params, method="bfgs")
    params = np.asarray(result.params, dtype=float)
    problems, step = [], np.full(params.size, np.inf)
    hessian = np.full((params.size, params.size), np.nan)
    for _ in range(newton_steps):
        if not np.all(np.isfinite(params)) or np.any(np.abs(params) > 18):
            break
        hessian = model.hessian(params)
        if not np.all(np.isfinite(hessian)) or not np.all(np.linalg.eigvalsh(hessian) < 0):
            break
        step = np.linalg.solve(-hessian, model.score(params))
        if np.max(np.abs(step)) > 1.0:       # a Newton step this long means we are far from a maximum
            break
        params = params + step
        if np.max(np.abs(step)) < 1e-8:
            break
    ll = model.loglike(params) if np.all(np.isfinite(params)) else np.nan
    if not np.all(np.isfinite(params)) or not np.isfinite(ll):
        problems.append("the log-likelihood or parameters became non-finite")
    if np.any(np.abs(params) > 18):
        extreme = [n for n, v in zip(names, params) if abs(v) > 18]
        problems.append(f"parameter(s) {', '.join(extreme)} ran to 0 or infinity (the model is not identified "
                        "by these data)")
    if not np.all(np.isfinite(hessian)) or not np.all(np.linalg.eigvalsh(np.nan_to_num(hessian)) < 0):
        problems.append("the Hessian is not negative definite, so the point is not a maximum")
    elif np.max(np.abs(step)) >= 1e-6:
        problems.append(f"Newton steps did not settle (last step {np.max(np.abs(step)):.2g} in log-parameters)")
    huge = [n for n, v in zip(names, params) if 9.2 < abs(v) <= 18]       # beyond 1e4 or below 1e-4
    if problems and huge:
        problems = [f"{' and '.join(huge)} drifted towards 0 or infinity, a boundary of the parameter space "
                    "where the data do not identify them"]
    if problems:
        raise ConvergenceError(
            f"{name} fit on {model.rows.n_customers:,} customers did not converge: " + "; ".join(problems)
            + "; estimates reached: " + ", ".join(f"{n} = {v:,.0f}" if v >= 1e4 else f"{n} = {v:.4g}"
                                                  for n, v in zip(names, np.exp(params))))
    log_cov = np.linalg.inv(-hessian)
    # Keep the statsmodels results (Wald tests, the model and its data) at the polished estimates.
    result.params = params
    result.normalized_cov_params = log_cov
    return results_class(name=name, params=pd.Series(np.exp(params), index=list(names)), log_cov=log_cov,
                         llf=float(ll), nobs=model.rows.n_customers, n_unique_rows=model.rows.weights.size,
                         iterations=int(result.mle_retvals.get("iterations", result.mle_retvals.get("gcalls", -1))),
                         sm_results=result)


# Deterministic starting points tried in turn: the model's default, then the default moved by a
# factor e (or 1/e) in every log-parameter, then in alternate ones. The first that converges wins,
# so data on which the default start converges give exactly the single-start estimates.
START_OFFSETS = ((0.0,), (1.0,), (-1.0,), (1.0, -1.0), (-1.0, 1.0), (2.0,), (-2.0,))


def start_points(default: np.ndarray) -> list[np.ndarray]:
    """The deterministic starting points (log-parameters) tried for a model, default first."""
    base = np.log(np.asarray(default, float))
    return [base + np.resize(np.asarray(offset, float), base.size) for offset in START_OFFSETS]


def sample_start(model: LogParameterLikelihood, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """For a likelihood of more than `config.SAMPLE_START_ROWS` unique rows, the estimate (natural scale)
    on every k-th of its rows with their weights, about `config.SAMPLE_START_SIZE` of them, and the
    sample's Hessian (log-parameters) scaled to all the rows' weight: the rows are sorted by value,
    so the sample spreads over the data, and its maximum and curvature lie near the full ones.
    None for smaller data, or when the sample's fit does not converge."""
    n = model.rows.weights.size
    if n <= config.SAMPLE_START_ROWS:
        return None
    every = int(np.ceil(n / config.SAMPLE_START_SIZE))
    if every < 2:                       # the "sample" would be all the rows
        return None
    rows = np.arange(every // 2, n, every)
    weights = model.rows.weights[rows]
    try:
        sample = model.resampled(weights, rows)
        fitted = fit_multistart(sample, name)
        if not fitted.converged:
            return None
        hessian = -np.linalg.inv(fitted.log_cov) * (model.rows.weights.sum() / weights.sum())
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):       # a sample the model cannot take
        return None
    return np.asarray(fitted.params, float), hessian


def fit_multistart(model: LogParameterLikelihood, name: str, start_params=None,
                   results_class: type[FittedModel] = FittedModel) -> FittedModel | FailedFit:
    """Fit from `start_params` (natural scale) or from the deterministic start points in turn; the
    first converged fit is returned, else a `FailedFit` saying what failed and what was tried.
    Without `start_params`, large data start first from the estimate on a sample of their rows
    (`sample_start`), then from the deterministic points."""
    sampled = sample_start(model, name) if start_params is None else None
    starts = ([np.asarray(start_params, float)] if start_params is not None
              else ([sampled[0]] if sampled is not None else []) + [np.exp(s) for s in start_points(model.default_start())])
    reason = ""
    for k, start in enumerate(starts, 1):
        guess = sampled[1] if sampled is not None and k == 1 else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = polish(model, name, start, results_class=results_class, hessian_guess=guess)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            reason = str(exc).split("did not converge: ", 1)[-1]
            continue
        fitted.starts_tried = k
        return fitted
    return FailedFit(name=name, reason=reason, starts=[np.round(s, 6).tolist() for s in starts],
                     nobs=model.rows.n_customers, names=tuple(model.natural_names), from_sample=sampled is not None)


def quick_mle(model: LogParameterLikelihood, start) -> tuple[np.ndarray, bool]:
    """Maximum of a log-parameter model by BFGS with the analytic score from a warm start.

    Only the estimate is needed in a bootstrap re-fit or a simulation check, so statsmodels'
    bookkeeping and the Hessian are skipped; converged means BFGS succeeded (or the score is
    below 1e-3) and no parameter ran to 0 or infinity.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = optimize.minimize(lambda p: -model.loglike(p), np.log(np.asarray(start, float)),
                                jac=lambda p: -model.score(p), method="BFGS", options={"gtol": 1e-6, "maxiter": 500})
        ok = bool(res.success or np.max(np.abs(model.score(res.x))) < 1e-3) and bool(np.all(np.abs(res.x) < 18))
    return np.exp(res.x), ok


def build_or_fail(build, name: str, names: tuple, nobs: int = 0):
    """The likelihood on these data, or a `FailedFit` when the data cannot support the model at all."""
    try:
        return build()
    except ValueError as exc:
        return FailedFit(name=name, reason=str(exc), starts=[], nobs=nobs, names=names)


# ------------------------------------------------------------------ model specifications

def data_columns(data, names: tuple, arrays: dict) -> list[np.ndarray]:
    """The model's input columns as float arrays, from a data frame (or mapping) with those column
    names, or from the same names given as keyword arrays."""
    out = []
    for name in names:
        if arrays.get(name) is not None:
            out.append(np.asarray(arrays[name], dtype=float))
        elif data is not None and name in data:
            out.append(np.asarray(data[name], dtype=float))
        else:
            raise ValueError(f"missing input column {name!r} (expected {', '.join(names)})")
    if len({a.shape for a in out}) > 1:
        raise ValueError(f"the columns {', '.join(names)} must have the same length")
    return out


class Model:
    """A model specification: settings in the constructor, `fit(data)` returns a results object.

    Subclasses set `name`, `likelihood` (a `LogParameterLikelihood`), `data_names` (the input
    columns) and `results_class`; `check` may return the reason the data cannot support the model.
    """

    name: str = ""
    likelihood: type[LogParameterLikelihood]
    data_names: tuple[str, ...] = ()
    results_class: type[FittedModel] = FittedModel

    def __init__(self, start_params=None):
        self.start_params = start_params

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def check(self, *columns) -> str | None:
        return None

    def fit(self, data=None, weights=None, **columns) -> FittedModel | FailedFit:
        """Maximum-likelihood fit from several deterministic starts. `data`: a data frame with the
        columns in `data_names` (or give them as keyword arrays); `weights` (or a `count` column):
        customers per row, so collapsed rows are never expanded. A fit that fails returns a `FailedFit` (never raises)."""
        arrays = data_columns(data, self.data_names, columns)
        if weights is None and data is not None and "count" in data:      # collapsed rows with their counts
            weights = data["count"]
        weights = check_weights(weights, arrays[0].size)
        names = tuple(self.likelihood.natural_names)
        nobs = int(weights.sum()) if weights is not None else arrays[0].size
        reason = self.check(*(arrays if weights is None else [a[weights > 0] for a in arrays]))
        if reason:
            return FailedFit(self.name, reason, [], nobs, names)
        model = build_or_fail(lambda: self.likelihood(*arrays, weights=weights), self.name, names, nobs)
        if isinstance(model, FailedFit):
            return model
        return fit_multistart(model, self.name, self.start_params, self.results_class)
