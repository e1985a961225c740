"""Is the flattening real? Ceiling-aware refits and a calibrated flat-zone test.

Answers on a bounded scale pile up at the top box. A straight latent relation then *looks*
concave: the observed mean cannot pass the ceiling, so the curve bends at high satisfaction.
Three tools separate this artefact from a real zone of indifference:

1. Censored ("Tobit") regression with rounding (Tobin 1958; two-limit form Rosett & Nelson 1975;
   grouped/interval form Stewart 1983). The latent loyalty is ``y* = Xβ + σε``; an answer ``y``
   on a scale with resolution ``h`` means ``y* ∈ [y - h/2, y + h/2)``, the lowest answer means
   ``y* < L + h/2`` and the top answer ``y* ≥ H - h/2``. Log-likelihood::

       ℓ(β, σ) = Σ_i log[Φ((u_i - x_i'β)/σ) - Φ((l_i - x_i'β)/σ)]

   With ``h = 0`` interior answers contribute the density instead (the classic two-limit Tobit).
   Linear and broken-line latent means are compared by AIC and a likelihood-ratio statistic.
2. Ordered logit (McCullagh 1980) of the loyalty answer on satisfaction, linear vs. with a kink
   term (x - ψ)₊, compared by AIC: it needs no assumption on the spacing of the scale.
3. A parametric-bootstrap calibration of the flat-zone test: fit the *null* (linear latent line)
   by censored regression, simulate R data sets "linear + the same ceiling and rounding" at the
   observed satisfaction values, compute Davies' statistic M on each, and report
   p = (1 + #{M_r ≥ M_obs}) / (R + 1) (Davison & Hinkley 1997, ch. 4). The naive test is Davies'
   analytic p-value, which assumes the answers are an unbounded Gaussian linear response.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps
from statsmodels.base.model import GenericLikelihoodModel

from ..models.base import FailedFit

from .. import config
from ..models.segmented import (GroupedData, davies_grid, davies_p_value, davies_statistic, group_by_x,
                        slope_change_t_values)


_NORM_LOG_C = np.log(np.sqrt(2 * np.pi))


def _norm_logpdf(z):
    """log φ(z): scipy.stats.norm.logpdf's own formula, without the distribution object's argument
    checks, which cost more than the arithmetic at every likelihood evaluation (same numbers)."""
    return -z**2 / 2.0 - _NORM_LOG_C


def _log_interval_probability(a, b):
    """log[Φ(b) - Φ(a)] for a < b, stable in both tails (uses Φ(b)-Φ(a) = Φ(-a)-Φ(-b) when a > 0)."""
    flip = a > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    log_hi, log_lo = special.log_ndtr(hi), special.log_ndtr(lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        return log_hi + np.log1p(-np.exp(log_lo - log_hi))


class CensoredRegression(GenericLikelihoodModel):
    """Linear regression of a latent response observed through a bounded, rounded scale.

    Parameters are (β..., log σ). ``lower``/``upper`` are the ends of the response scale and
    ``step`` its resolution (1 for whole points, 0.5 for a mean of two items, 0 for a classic
    Tobit with continuous interior answers). See the module docstring for the likelihood.
    """

    def __init__(self, endog, exog, lower: float, upper: float, step: float = 1.0, **kwargs):
        super().__init__(endog, exog, **kwargs)
        self.lower, self.upper, self.step = float(lower), float(upper), float(step)
        y = np.asarray(self.endog, dtype=float)
        half = self.step / 2
        self._at_low = y <= self.lower + 1e-9
        self._at_high = y >= self.upper - 1e-9
        self._lo = np.where(self._at_low, -np.inf, y - half)
        self._hi = np.where(self._at_high, np.inf, y + half)
        if self.step == 0:
            self._lo = np.where(self._at_low, -np.inf, np.where(self._at_high, self.upper, y))
            self._hi = np.where(self._at_high, np.inf, np.where(self._at_low, self.lower, y))
        self._interior_density = (self.step == 0) & ~self._at_low & ~self._at_high
        if "log_sigma" not in self.exog_names:
            self.exog_names.append("log_sigma")
        self.nparams = self.exog.shape[1] + 1
        self.df_model = self.exog.shape[1] - 1
        self.df_resid = self.exog.shape[0] - self.nparams
        self.k_extra = 1

    def _pieces(self, params):
        beta, log_sigma = params[:-1], params[-1]
        sigma = np.exp(log_sigma)
        mu = self.exog @ beta
        a, b = (self._lo - mu) / sigma, (self._hi - mu) / sigma
        return mu, sigma, log_sigma, a, b

    def loglikeobs(self, params):
        mu, sigma, log_sigma, a, b = self._pieces(params)
        ll = _log_interval_probability(a, b)
        if self._interior_density.any():
            z = (np.asarray(self.endog) - mu) / sigma
            ll = np.where(self._interior_density, _norm_logpdf(z) - log_sigma, ll)
        return ll

    def nloglikeobs(self, params):
        return -self.loglikeobs(params)

    def score_obs(self, params):
        """Analytic gradient: ∂ℓ/∂μ = -[φ(b) - φ(a)]/(σ P), ∂ℓ/∂logσ = -[bφ(b) - aφ(a)]/P."""
        mu, sigma, log_sigma, a, b = self._pieces(params)
        log_p = _log_interval_probability(a, b)
        with np.errstate(invalid="ignore", over="ignore"):
            phi_a = np.where(np.isfinite(a), np.exp(_norm_logpdf(a) - log_p), 0.0)
            phi_b = np.where(np.isfinite(b), np.exp(_norm_logpdf(b) - log_p), 0.0)
            a_phi = np.where(np.isfinite(a), a * phi_a, 0.0)
            b_phi = np.where(np.isfinite(b), b * phi_b, 0.0)
        d_mu = -(phi_b - phi_a) / sigma
        d_ls = -(b_phi - a_phi)
        if self._interior_density.any():
            z = (np.asarray(self.endog) - mu) / sigma
            d_mu = np.where(self._interior_density, z / sigma, d_mu)
            d_ls = np.where(self._interior_density, z**2 - 1, d_ls)
        return np.column_stack([d_mu[:, None] * self.exog, d_ls])

    def score(self, params):
        return self.score_obs(params).sum(axis=0)

    def fit(self, start_params=None, method="bfgs", maxiter=500, disp=False, **kwargs):
        if start_params is None:
            beta, *_ = np.linalg.lstsq(self.exog, self.endog, rcond=None)
            resid = self.endog - self.exog @ beta
            start_params = np.r_[beta, np.log(max(resid.std(), 1e-3))]
        return super().fit(start_params=start_params, method=method, maxiter=maxiter, disp=disp, **kwargs)


class ModelFitError(RuntimeError):
    """A likelihood fit that did not converge from any of its starting points."""


# An answer scale with more distinct observed values than this is treated as continuous (a 0-100
# index, a mean of many items): the ordered logit would need one threshold per value.
MAX_ORDINAL_CATEGORIES = 21


def is_ordinal(y) -> tuple[bool, str | None]:
    """Whether ``y`` can be modelled as ordered categories, and if not, why."""
    values = np.unique(np.asarray(y, dtype=float))
    if values.size > MAX_ORDINAL_CATEGORIES:
        return False, (f"loyalty takes {values.size:,} distinct values, more than the {MAX_ORDINAL_CATEGORIES} an "
                       "ordered logit is fitted on (one threshold per value); it is treated as continuous, so the "
                       "censored model has no rounding and the ordered logit is skipped")
    return True, None


def _fit_with_restarts(model, starts, what: str, maxiter: int = 500, skip_hessian: bool = False):
    """Fit from each start (BFGS, then Nelder-Mead polished by BFGS) until one converges to finite values.
    `skip_hessian`: only the estimates are needed (no standard errors), so statsmodels' numerical
    Hessian at the end is not computed; the estimates are the same."""
    errors = []
    for start in starts:
        for method in ("bfgs", "nm"):
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")      # convergence is checked below, not announced
                    res = model.fit(start_params=start, method=method, maxiter=2000 if method == "nm" else maxiter,
                                    disp=False, skip_hessian=skip_hessian or method == "nm")
                    if method == "nm":
                        res = model.fit(start_params=res.params, method="bfgs", maxiter=maxiter, disp=False,
                                        skip_hessian=skip_hessian)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
                errors.append(str(exc))
                continue
            ok = bool(res.mle_retvals.get("converged", True)) and np.all(np.isfinite(res.params)) and \
                np.isfinite(res.llf)
            if ok:
                return res
            errors.append(f"{method} did not converge")
    raise ModelFitError(f"{what} did not converge from {len(starts)} starting points ({'; '.join(errors[-2:])})")


def scale_step(y) -> float:
    """Resolution of an answer scale: the smallest gap between distinct observed values."""
    values = np.unique(np.asarray(y, dtype=float))
    gaps = np.diff(values)
    return float(gaps[gaps > 1e-9].min()) if gaps.size else 1.0


def kink_design(x, breakpoint: float | None = None):
    """[1, x] or [1, x, (x - ψ)₊]."""
    x = np.asarray(x, dtype=float)
    cols = [np.ones_like(x), x]
    if breakpoint is not None:
        cols.append(np.clip(x - breakpoint, 0, None))
    return np.column_stack(cols)


class CeilingModel:
    """The ceiling-aware model: censored (interval) regression of answers on a bounded, rounded scale,
    with a latent mean linear in x or, with `breakpoint`, a broken line. ``CeilingModel(scale=(1, 10))
    .fit(x, y)`` returns statsmodels' likelihood-model results (named params with `log_sigma`, `bse`,
    `conf_int()`, `llf`, `aic`, `bic`, `nobs`, `summary()`), with `converged` and `failure` set; a fit
    that converges from none of its starts is a `FailedFit` saying what failed."""

    name = "Censored regression"

    def __init__(self, scale, breakpoint: float | None = None, step: float | None = None):
        self.scale, self.breakpoint, self.step = tuple(scale), breakpoint, step

    def __repr__(self) -> str:
        return f"CeilingModel(scale={self.scale}, breakpoint={self.breakpoint})"

    def fit(self, x, y, data=None):
        if data is not None:
            x, y = data[x], data[y]
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        names = ["intercept", "slope"] + (["slope_change"] if self.breakpoint is not None else [])
        design = pd.DataFrame(kink_design(x, self.breakpoint), columns=names)
        step = scale_step(y) if self.step is None else self.step
        model = CensoredRegression(pd.Series(y, name="answer"), design, self.scale[0], self.scale[1], step)
        try:
            result = _fit_with_restarts(model, _starts(x, y, design.to_numpy()), "the censored regression")
        except ModelFitError as exc:
            return FailedFit(self.name, str(exc), [], int(y.size), tuple(names) + ("log_sigma",))
        result.name, result.converged, result.failure = self.name, True, None
        return result


@dataclass
class CeilingAwareFit:
    """Linear vs. broken-line latent loyalty under the ceiling (censored regression)."""

    n: int
    share_at_ceiling: float
    share_at_floor: float
    step: float
    linear_intercept: float
    linear_slope: float
    linear_slope_ci: tuple[float, float]
    sigma: float
    linear_aic: float
    breakpoint: float
    slope_before: float
    slope_after: float
    slope_change: float
    slope_change_ci: tuple[float, float]
    kinked_aic: float
    lr_statistic: float
    prefers_kink: bool
    confidence: float = config.CONFIDENCE

    @property
    def confidence_label(self) -> str:
        return f"{100 * self.confidence:g}% CI"

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("confidence")
        d["linear_slope_ci_lower"], d["linear_slope_ci_upper"] = d.pop("linear_slope_ci")
        d["slope_change_ci_lower"], d["slope_change_ci_upper"] = d.pop("slope_change_ci")
        return d


def _starts(x, y, design):
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    sd = max(float(np.std(y - design @ beta)), 1e-3)
    return [np.r_[beta, np.log(sd)], np.r_[beta, np.log(2 * sd)], np.r_[np.zeros_like(beta), np.log(max(np.std(y), 1e-3))]]


def fit_censored_linear(x, y, scale, step: float | None = None, standard_errors: bool = True):
    """Censored regression of y on [1, x]; returns the statsmodels results object (a few starts are tried).
    `standard_errors=False` when only the estimates are used (a calibrated null): no Hessian is computed."""
    y = np.asarray(y, dtype=float)
    step = scale_step(y) if step is None else step
    design = kink_design(x)
    model = CensoredRegression(y, design, scale[0], scale[1], step)
    return _fit_with_restarts(model, _starts(x, y, design), "the censored regression", skip_hessian=not standard_errors)


def fit_ceiling_aware(x, y, scale, step: float | None = None, grid_size: int = 15,
                      confidence: float = config.CONFIDENCE) -> CeilingAwareFit:
    """Censored regression with a linear and a broken-line latent mean (ψ profiled on a grid).

    The broken line counts ψ as a parameter in its AIC; the kink is preferred when it lowers AIC.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    step = scale_step(y) if step is None else step
    linear = fit_censored_linear(x, y, scale, step)
    grid = np.unique(np.quantile(x, np.linspace(0.1, 0.9, grid_size)))
    best = None
    for psi in grid:   # a handful of small MLE fits; ψ enters the likelihood non-smoothly
        try:
            res = _fit_with_restarts(CensoredRegression(y, kink_design(x, psi), scale[0], scale[1], step),
                                     [np.r_[linear.params[:2], 0.0, linear.params[-1]]], "the kinked censored fit")
        except ModelFitError:
            continue
        if best is None or res.llf > best[1].llf:
            best = (psi, res)
    if best is None:
        raise ModelFitError(f"the kinked censored regression did not converge at any of {grid.size} breakpoints")
    psi, kinked = best
    z = sps.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(kinked.cov_params()))
    lse = np.sqrt(np.diag(linear.cov_params()))
    kinked_aic = -2 * kinked.llf + 2 * (kinked.params.size + 1)
    linear_aic = -2 * linear.llf + 2 * linear.params.size
    return CeilingAwareFit(
        n=int(y.size), share_at_ceiling=float(np.mean(y >= scale[1])), share_at_floor=float(np.mean(y <= scale[0])),
        step=step, linear_intercept=float(linear.params[0]), linear_slope=float(linear.params[1]),
        linear_slope_ci=(float(linear.params[1] - z * lse[1]), float(linear.params[1] + z * lse[1])),
        sigma=float(np.exp(linear.params[-1])), linear_aic=float(linear_aic), breakpoint=float(psi),
        slope_before=float(kinked.params[1]), slope_after=float(kinked.params[1] + kinked.params[2]),
        slope_change=float(kinked.params[2]),
        slope_change_ci=(float(kinked.params[2] - z * se[2]), float(kinked.params[2] + z * se[2])),
        kinked_aic=float(kinked_aic), lr_statistic=float(2 * (kinked.llf - linear.llf)),
        prefers_kink=bool(kinked_aic < linear_aic), confidence=confidence)


@dataclass
class OrderedLogitComparison:
    n_categories: int
    linear_slope: float
    linear_aic: float
    breakpoint: float
    kink_coefficient: float
    kink_p_value: float
    kinked_aic: float
    prefers_kink: bool

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def ordered_logit_kink(x, y, breakpoint: float) -> OrderedLogitComparison:
    """Ordered logit of the loyalty answer on x, with and without (x - ψ)₊ at a given ψ.

    ψ comes from the least-squares broken line, so the kink model's AIC counts one extra
    parameter for it; the Wald p-value of the kink term is conditional on ψ.
    """
    import pandas as pd
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    levels = np.unique(y)
    ordinal, reason = is_ordinal(y)
    if not ordinal:            # size guard: never a numerical Hessian over hundreds of thresholds
        raise ModelFitError(reason)
    if levels.size < 2:
        raise ModelFitError("loyalty takes a single value")
    class OrderedLogit(OrderedModel):
        """statsmodels' ordered logit with the logistic cdf as scipy.stats.logistic computes it (expit), without
        the distribution object's argument checks, which were most of each likelihood evaluation."""

        def cdf(self, x):
            return special.expit(x)

    codes = pd.Series(pd.Categorical(y, categories=levels, ordered=True))
    fits = []
    for exog in (x[:, None], np.column_stack([x, np.clip(x - breakpoint, 0, None)])):
        model = OrderedLogit(codes, exog, distr="logit")
        start = model.start_params
        fits.append(_fit_with_restarts(model, [start, np.r_[np.full(exog.shape[1], 0.1), start[exog.shape[1]:]]],
                                       "the ordered logit", maxiter=1000))
    lin, kink = fits
    kinked_aic = float(kink.aic + 2)
    return OrderedLogitComparison(
        n_categories=int(levels.size), linear_slope=float(lin.params.iloc[0]), linear_aic=float(lin.aic),
        breakpoint=float(breakpoint), kink_coefficient=float(kink.params.iloc[1]),
        kink_p_value=float(kink.pvalues.iloc[1]), kinked_aic=kinked_aic, prefers_kink=bool(kinked_aic < lin.aic))


@dataclass
class FlatZoneTest:
    """Naive (Davies) vs. calibrated (linear + ceiling null) test of a change in slope."""

    statistic: float
    naive_p_value: float
    calibrated_p_value: float
    n_simulations: int
    null_intercept: float
    null_slope: float
    null_sigma: float
    step: float
    alternative: str
    null_statistics: np.ndarray

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "null_statistics"}
        d["null_statistic_q95"] = float(np.quantile(self.null_statistics, 0.95))
        return d

    def survives(self, alpha: float = 0.05) -> bool:
        return self.calibrated_p_value < alpha


def simulate_null_statistics(x, intercept: float, slope: float, sigma: float, scale, step: float, n_sim: int,
                             rng, k: int = 10, alternative: str = "two-sided", chunk: int = 2000):
    """Davies' M on ``n_sim`` data sets drawn from "linear + ceiling + rounding" at fixed x."""
    x = np.asarray(x, dtype=float)
    grid = davies_grid(x, k)
    xk, index = np.unique(x, return_inverse=True)
    counts = np.bincount(index, minlength=xk.size).astype(float)
    mean = intercept + slope * x
    out = np.empty(n_sim)
    rows_per_chunk = max(1, min(n_sim, 4_000_000 // max(x.size, 1), chunk))
    for start in range(0, n_sim, rows_per_chunk):
        rows = min(rows_per_chunk, n_sim - start)
        latent = mean + sigma * rng.standard_normal((rows, x.size))
        y = np.clip(np.rint(latent / step) * step if step > 0 else latent, scale[0], scale[1])
        grouped, _ = group_by_x(x, y)
        t = slope_change_t_values(GroupedData(xk, np.broadcast_to(counts, grouped.sum_y.shape), grouped.sum_y,
                                              grouped.sum_y2), grid)
        out[start:start + rows] = davies_statistic(t, alternative)[0]
    return out


def calibrated_flat_zone_test(x, y, scale, n_sim: int = 999, seed: int = 0, k: int = 10,
                              alternative: str = "two-sided", step: float | None = None) -> FlatZoneTest:
    """Davies' statistic judged against "linear + the same ceiling and rounding" (module docstring, 3)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    step = scale_step(y) if step is None else step
    grouped, _ = group_by_x(x, y)
    grid = davies_grid(x, k)
    t_obs = slope_change_t_values(GroupedData(grouped.x, grouped.count[None], grouped.sum_y[None],
                                              grouped.sum_y2[None]), grid)
    m_obs, v_obs = davies_statistic(t_obs, alternative)
    null = fit_censored_linear(x, y, scale, step, standard_errors=False)
    intercept, slope, sigma = float(null.params[0]), float(null.params[1]), float(np.exp(null.params[-1]))
    rng = np.random.default_rng(seed)
    m_null = simulate_null_statistics(x, intercept, slope, sigma, scale, step, n_sim, rng, k, alternative)
    p_cal = (1 + np.sum(m_null >= m_obs[0] - 1e-12)) / (n_sim + 1)
    return FlatZoneTest(float(m_obs[0]), float(davies_p_value(m_obs, v_obs, alternative)[0]), float(p_cal), n_sim,
                        intercept, slope, sigma, step, alternative, m_null)


def expected_answer(x, intercept: float, slope: float, sigma: float, scale, step: float):
    """E[y | x] of the rounded, clipped answer when the latent line is straight.

    E[y | x] = Σ_v v P(y = v | x) over the answer grid v = L, L+h, ..., H, with the interval
    probabilities of the censored model; this is the bent curve a straight latent line produces.
    """
    x = np.asarray(x, dtype=float)
    h = step if step > 0 else (scale[1] - scale[0]) / 1000    # a continuous answer: a fine grid of 1,001 values
    values = np.arange(scale[0], scale[1] + h / 2, h)
    edges = np.r_[-np.inf, values[:-1] + h / 2, np.inf]
    mu = intercept + slope * x
    cdf = sps.norm.cdf((edges[None, :] - mu[:, None]) / sigma)
    return (np.diff(cdf, axis=1) * values[None, :]).sum(axis=1)


def expected_curve(fit: CeilingAwareFit, grid, scale) -> pd.DataFrame:
    """The censored fit's straight latent line on ``grid`` and the answer curve it implies.

    Columns ``x``, ``latent`` (intercept + slope x) and ``expected_answer`` (`expected_answer`:
    the same line seen through the scale's rounding and ceiling).
    """
    x = np.asarray(grid, dtype=float)
    return pd.DataFrame({"x": x, "latent": fit.linear_intercept + fit.linear_slope * x,
                         "expected_answer": expected_answer(x, fit.linear_intercept, fit.linear_slope, fit.sigma,
                                                            scale, fit.step)})


def flat_zone_verdict(flat_test: FlatZoneTest, censored: CeilingAwareFit, ordered: OrderedLogitComparison | None,
                      alpha: float = 0.05) -> dict:
    """Does the bend survive once the ceiling is accounted for? Plain-language verdict and its inputs.

    The calibrated test decides; the censored and ordered-logit refits are reported beside it
    (AIC preference), and disagreement between them is stated rather than hidden.
    """
    naive = flat_test.naive_p_value < alpha
    calibrated = flat_test.calibrated_p_value < alpha
    refits = int(censored.prefers_kink) + int(ordered is not None and ordered.prefers_kink)
    fitted = 2 if ordered is not None else 1
    if calibrated:
        text = ("The change in slope survives the ceiling: it is larger than a straight line seen through the "
                "same ceiling and rounding produces (calibrated p = {p:.3f}).")
    elif naive:
        text = ("The bend is consistent with the ceiling alone: the naive test finds a change in slope (p = "
                "{naive_p:.3f}), but a straight latent line seen through the same ceiling and rounding produces bends "
                "at least this large in {share:.0%} of simulated surveys (calibrated p = {p:.3f}). Not rejecting a "
                "straight line does not prove one: a real flat zone of this size may go undetected in a survey of "
                "this size.")
    else:
        text = ("There is no evidence of a change in slope, neither naively (p = {naive_p:.3f}) nor against the "
                "ceiling-calibrated null (p = {p:.3f}).")
    text = text.format(p=flat_test.calibrated_p_value, naive_p=flat_test.naive_p_value,
                       share=flat_test.calibrated_p_value)
    ordered_text = ("not fitted" if ordered is None else "kink" if ordered.prefers_kink else "straight line")
    text += (f" Ceiling-aware refits preferring a kink by AIC: {refits} of {fitted} (censored regression: "
             f"{'kink' if censored.prefers_kink else 'straight line'}; ordered logit: {ordered_text}).")
    return {"survives": bool(calibrated), "naive_rejects": bool(naive), "refits_preferring_kink": refits,
            "text": text}


@dataclass(frozen=True)
class SizeCheck:
    """Rejection rates of the naive and the calibrated test on data simulated from the fitted null."""

    n_samples: int
    alpha: float
    naive: object          # crmresearch.stats.Proportion
    calibrated: object

    def as_dict(self) -> dict:
        return {"n_samples": self.n_samples, "alpha": self.alpha, "naive": self.naive.as_dict(),
                "calibrated": self.calibrated.as_dict()}


def flat_zone_size_check(x, flat_test: FlatZoneTest, scale, n_samples: int = 100, n_sim: int = 99, seed: int = 0,
                         alpha: float = 0.05, k: int = 10) -> SizeCheck:
    """How often each test rejects when the truth is the fitted straight line plus this survey's ceiling.

    Every simulated survey keeps the observed satisfaction values and is tested from scratch
    (censored fit, then ``n_sim`` null data sets), so the rate is the size of the whole procedure.
    """
    from .. import stats
    from .simulation import simulate_linear_ceiling

    x = np.asarray(x, dtype=float)
    seeds = np.random.default_rng(seed).integers(0, 2**31, size=(n_samples, 2))
    naive, calibrated = np.zeros(n_samples, bool), np.zeros(n_samples, bool)
    for i, (data_seed, test_seed) in enumerate(seeds):   # each sample needs its own censored MLE fit
        _, y = simulate_linear_ceiling(x.size, flat_test.null_intercept, flat_test.null_slope, flat_test.null_sigma,
                                       x, scale, flat_test.step, seed=int(data_seed))
        test = calibrated_flat_zone_test(x, y, scale, n_sim=n_sim, seed=int(test_seed), k=k,
                                         alternative=flat_test.alternative, step=flat_test.step)
        naive[i], calibrated[i] = test.naive_p_value < alpha, test.calibrated_p_value < alpha
    return SizeCheck(n_samples, alpha, stats.proportion(naive), stats.proportion(calibrated))
