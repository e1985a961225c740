"""Segmented (broken-line) regression with an estimated breakpoint, its interval and Davies' test.

Model (one breakpoint ψ, continuous at ψ)::

    y = α + β₁ x + δ (x - ψ)₊ + ε,   ε ~ N(0, σ²),   slope after ψ: β₂ = β₁ + δ

Estimation follows Muggeo (2003), "Estimating regression models with unknown break-points",
Statistics in Medicine 22: at the current ψ⁽ˢ⁾ fit the linear model with the extra regressors
U = (x - ψ⁽ˢ⁾)₊ and V = -I(x > ψ⁽ˢ⁾), whose coefficients are δ and γ, and update
ψ⁽ˢ⁺¹⁾ = ψ⁽ˢ⁾ + γ/δ until γ ≈ 0 (step-halving when the residual sum of squares would rise).
At convergence Var(ψ̂) = [Var(γ) + (γ/δ)² Var(δ) - 2 (γ/δ) Cov(γ, δ)] / δ² (delta method) and
the interval is ψ̂ ± t_{n-4} se(ψ̂), as in R ``segmented::confint`` and PyPI
``piecewise-regression`` (Pilgrim 2021, JOSS 6(68)), which the tests compare against.

Davies (1987) test for a change in slope (as R ``segmented::davies.test``): for K fixed ψ_k on a
grid from the 5% to the 95% quantile of x, t_k is the t-value of δ in y ~ x + (x - ψ_k)₊;
with M = max|t_k| (or max/min for one-sided) and V = Σ|t_k - t_(k-1)|, the p-value bound is
p = Φ(-M) + V exp(-M²/2)/√(8π), doubled for the two-sided test.

Speed: satisfaction scores take few distinct values, so every fit works on sufficient
statistics per distinct x (count, Σy, Σy²). Bootstrap resamples and simulated null data sets
only change those statistics, so hundreds of fits run as one batched linear-algebra call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import config
from .base import results_summary

PARAM_NAMES = ("intercept", "slope_before", "slope_change", "breakpoint", "slope_after")


# ---------------------------------------------------------------- sufficient statistics

@dataclass(frozen=True)
class GroupedData:
    """Data reduced to distinct x values: ``count``, ``sum_y``, ``sum_y2`` have shape (..., K)."""

    x: np.ndarray
    count: np.ndarray
    sum_y: np.ndarray
    sum_y2: np.ndarray

    @property
    def n(self):
        return self.count.sum(axis=-1)


def group_by_x(x, y) -> tuple[GroupedData, np.ndarray]:
    """Sufficient statistics per distinct x, and the index of each observation's x value.

    ``y`` may be (n,) or (R, n) for R data sets sharing the same x.
    """
    x = np.asarray(x, dtype=float)
    xk, index = np.unique(x, return_inverse=True)
    y = np.asarray(y, dtype=float)
    count = np.bincount(index, minlength=xk.size).astype(float)
    sum_y, sum_y2 = _sum_by_group(index, xk.size, y)
    if y.ndim == 2:
        count = np.broadcast_to(count, sum_y.shape)
    return GroupedData(xk, count, sum_y, sum_y2), index


def _sum_by_group(index, k: int, y):
    if y.ndim == 1:
        return np.bincount(index, y, k), np.bincount(index, y * y, k)
    rows = y.shape[0]
    flat = (np.arange(rows)[:, None] * k + index[None, :]).ravel()
    return (np.bincount(flat, y.ravel(), rows * k).reshape(rows, k),
            np.bincount(flat, (y * y).ravel(), rows * k).reshape(rows, k))


@dataclass(frozen=True)
class BrokenLineMoments:
    """Prefix and suffix sums that make every broken-line least-squares fit O(1) per data set.

    With x sorted ascending (and centred at c for accuracy), weights w (counts) and Σy per
    distinct x, ``prefix[:, b, j]`` holds Σ_{k<j} and ``suffix[:, b, j]`` Σ_{k≥j} of
    (w, w x, w x², Σy, x Σy) for data set b. With j the first x above ψ, every entry of X'WX and
    X'y is a polynomial in ψ of those sums, e.g. Σ w (x-ψ)₊² = S₂ - 2ψ S₁ + ψ² S₀. Building them
    costs O(B K) once; each Muggeo iteration, candidate ψ or grid point then costs O(B).

    The fit uses the well-conditioned basis [1, (x-ψ)₋, (x-ψ)₊ (, -I(x>ψ))], whose two slope
    columns never overlap (near the data's edge the textbook basis [1, x, (x-ψ)₊] is nearly
    collinear), and maps the result back to (α, β₁, δ (, γ)) with its covariance.
    """

    x: np.ndarray           # distinct x (sums use x - centre)
    centre: float
    prefix: np.ndarray      # (5, B, K + 1)
    suffix: np.ndarray      # (5, B, K + 1)
    sum_y2: np.ndarray      # (B,)

    @classmethod
    def from_grouped(cls, grouped: GroupedData) -> "BrokenLineMoments":
        w, sy = np.atleast_2d(grouped.count), np.atleast_2d(grouped.sum_y)
        w = np.broadcast_to(w, sy.shape)
        centre = float(np.average(grouped.x, weights=w[0])) if w[0].sum() > 0 else 0.0
        x = grouped.x - centre
        parts = np.stack([w, w * x, w * x * x, sy, sy * x])
        zeros = np.zeros((*parts.shape[:2], 1))
        prefix = np.concatenate([zeros, np.cumsum(parts, axis=-1)], axis=-1)
        # Summing from the top end keeps the small upper tails exact (no total-minus-prefix).
        suffix = np.concatenate([np.flip(np.cumsum(np.flip(parts, axis=-1), axis=-1), axis=-1), zeros], axis=-1)
        return cls(grouped.x, centre, prefix, suffix, np.atleast_2d(grouped.sum_y2).sum(axis=-1))

    @property
    def rows(self) -> int:
        return self.suffix.shape[1]

    def take(self, rows) -> "BrokenLineMoments":
        return BrokenLineMoments(self.x, self.centre, self.prefix[:, rows], self.suffix[:, rows], self.sum_y2[rows])

    def least_squares(self, psi, with_v: bool):
        """Coefficients (α, β₁, δ (, γ)) (B, p), their (X'WX)⁻¹ (B, p, p) and the residual sum of squares (B,)."""
        psi = np.broadcast_to(np.asarray(psi, dtype=float), (self.rows,))
        b = np.arange(self.rows)
        p = psi - self.centre
        j = np.searchsorted(self.x, psi, side="right")
        m0, m1, m2, q0, q1 = self.prefix[:, b, j]
        n1, s1, s2, t0, t1 = self.suffix[:, b, j]
        n, sy = m0 + n1, q0 + t0
        left, right = m1 - p * m0, s1 - p * n1                      # Σw(x-ψ)₋, Σw(x-ψ)₊
        left2, right2 = m2 - 2 * p * m1 + p**2 * m0, s2 - 2 * p * s1 + p**2 * n1
        zero = np.zeros_like(n)
        rows = [[n, left, right], [left, left2, zero], [right, zero, right2]]
        xty = [sy, q1 - p * q0, t1 - p * t0]
        if with_v:
            rows = [r + [v] for r, v in zip(rows, (-n1, zero, -right))] + [[-n1, zero, -right, n1]]
            xty.append(-t0)
        xtx = np.moveaxis(np.array(rows), (0, 1), (1, 2))
        xty = np.stack(xty, axis=1)
        # A breakpoint beyond the data makes X'WX singular: inf/nan results, which callers flag.
        with np.errstate(all="ignore"):
            try:
                inv = np.linalg.inv(xtx)
            except np.linalg.LinAlgError:
                inv = np.linalg.pinv(xtx)
            coef = np.einsum("bij,bj->bi", inv, xty)
            rss = self.sum_y2 - np.einsum("bi,bi->b", coef, xty)
        # (a, β₁, β₂ (, γ)) -> (α = a - β₁ψ, β₁, δ = β₂ - β₁ (, γ)), ψ on the original x scale.
        k = coef.shape[1]
        to_textbook = np.broadcast_to(np.eye(k), (self.rows, k, k)).copy()
        to_textbook[:, 0, 1] = -psi
        to_textbook[:, 2, 1] = -1.0
        coef = np.einsum("bij,bj->bi", to_textbook, coef)
        inv = to_textbook @ inv @ np.swapaxes(to_textbook, 1, 2)
        return coef, inv, np.maximum(rss, 0.0)


def breakpoint_range(xk, min_points: int = 2):
    """Admissible ψ: strictly inside the data, with at least ``min_points`` distinct x on each side."""
    xk = np.asarray(xk)
    return float(xk[min_points - 1]), float(xk[-min_points])


def muggeo_batch(grouped, psi_start, max_iter: int = 50, tol: float = 1e-8):
    """Muggeo's iterations for a batch of data sets (one ψ per data set).

    ``grouped`` is a GroupedData or its BrokenLineMoments. Returns (psi, converged), shape (B,).
    Each iteration is one batched 4-column least-squares fit; a step is halved (up to 6 times)
    while it does not lower the residual sum of squares.
    """
    moments = grouped if isinstance(grouped, BrokenLineMoments) else BrokenLineMoments.from_grouped(grouped)
    lo, hi = breakpoint_range(moments.x)
    psi = np.clip(np.asarray(psi_start, dtype=float).copy(), lo, hi)
    active = np.ones(psi.shape, dtype=bool)
    converged = np.zeros(psi.shape, dtype=bool)
    rss = moments.least_squares(psi, False)[2]
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        sub = moments.take(idx)
        coef = sub.least_squares(psi[idx], True)[0]
        with np.errstate(all="ignore"):
            step = coef[:, 3] / coef[:, 2]
        step = np.where(np.isfinite(step), step, 0.0)
        current = psi[idx]
        best_psi, best_rss = current.copy(), rss[idx].copy()
        moved = np.zeros(idx.size, dtype=bool)
        for halving in range(7):
            todo = np.flatnonzero(~moved)
            if todo.size == 0:
                break
            cand = np.clip(current[todo] + step[todo] / 2**halving, lo, hi)
            cand_rss = sub.take(todo).least_squares(cand, False)[2]
            better = cand_rss < best_rss[todo] - 1e-12 * np.maximum(best_rss[todo], 1)
            best_psi[todo[better]], best_rss[todo[better]] = cand[better], cand_rss[better]
            moved[todo[better]] = True
        change = np.abs(best_psi - current)
        psi[idx], rss[idx] = best_psi, best_rss
        done = (change < tol * (hi - lo)) | ~moved
        converged[idx[done]] = True
        active[idx[done]] = False
    # A breakpoint stuck on the edge of the admissible range means no interior kink was found.
    at_edge = np.isclose(psi, lo) | np.isclose(psi, hi)
    return psi, converged & ~at_edge


@dataclass
class SegmentedFit:
    """A fitted broken line; ``bootstrap`` is filled by `bootstrap_segmented`."""

    n: int
    breakpoint: float
    breakpoint_se: float
    breakpoint_ci: tuple[float, float]
    intercept: float
    slope_before: float
    slope_after: float
    slope_change: float
    slope_before_ci: tuple[float, float]
    slope_after_ci: tuple[float, float]
    slope_change_ci: tuple[float, float]
    sigma: float
    rss: float
    aic: float
    bic: float
    converged: bool
    confidence: float = config.CONFIDENCE
    bootstrap: dict | None = field(default=None, repr=False)
    intercept_ci: tuple[float, float] = (float("nan"), float("nan"))

    name = "Segmented regression"
    df_model = 5                  # α, β₁, δ, ψ and σ (as R's AIC.lm counts σ)

    # ---------------------------------------------------------------- the results core (models.base)

    @property
    def nobs(self) -> int:
        return self.n

    @property
    def llf(self) -> float:
        """Gaussian log-likelihood at the estimates (σ² = RSS / n)."""
        return float(-0.5 * self.n * (np.log(2 * np.pi * self.rss / self.n) + 1))

    @property
    def failure(self) -> str | None:
        return None if self.converged else ("no interior breakpoint: Muggeo's iterations stopped on the edge of "
                                            "the data or did not settle")

    @property
    def params(self) -> pd.Series:
        return pd.Series([self.intercept, self.slope_before, self.slope_change, self.breakpoint, self.slope_after],
                         index=PARAM_NAMES)

    @property
    def bse(self) -> pd.Series:
        """Standard errors (t-based intervals: half-width / t_{n-4})."""
        t = sps.t.ppf(0.5 + self.confidence / 2, self.n - 4)
        ci = self._stored_intervals()
        return pd.Series((ci["upper"] - ci["lower"]) / (2 * t), index=PARAM_NAMES)

    def _stored_intervals(self) -> pd.DataFrame:
        lower = [self.intercept_ci[0], self.slope_before_ci[0], self.slope_change_ci[0], self.breakpoint_ci[0], self.slope_after_ci[0]]
        upper = [self.intercept_ci[1], self.slope_before_ci[1], self.slope_change_ci[1], self.breakpoint_ci[1], self.slope_after_ci[1]]
        return pd.DataFrame({"lower": lower, "upper": upper}, index=PARAM_NAMES)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """t intervals (n - 4 df) at level 1 - alpha; the breakpoint's by the delta method (Muggeo 2003)."""
        t = sps.t.ppf(1 - alpha / 2, self.n - 4)
        est, se = self.params, self.bse
        return pd.DataFrame({"lower": est - t * se, "upper": est + t * se}, index=PARAM_NAMES)

    def summary(self, alpha: float = 0.05):
        return results_summary(self, alpha, "t intervals with n - 4 degrees of freedom; the breakpoint's standard "
                                            "error by the delta method (Muggeo 2003).")

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def predict(self, x):
        x = np.asarray(x, dtype=float)
        return self.intercept + self.slope_before * x + self.slope_change * np.clip(x - self.breakpoint, 0, None)

    def slope_at(self, x):
        return np.where(np.asarray(x) > self.breakpoint, self.slope_after, self.slope_before)

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in (
            "n", "breakpoint", "breakpoint_se", "intercept", "slope_before", "slope_after", "slope_change",
            "sigma", "rss", "aic", "bic", "converged")}
        out.update(breakpoint_ci_lower=self.breakpoint_ci[0], breakpoint_ci_upper=self.breakpoint_ci[1],
                   slope_before_ci_lower=self.slope_before_ci[0], slope_before_ci_upper=self.slope_before_ci[1],
                   slope_after_ci_lower=self.slope_after_ci[0], slope_after_ci_upper=self.slope_after_ci[1],
                   slope_change_ci_lower=self.slope_change_ci[0], slope_change_ci_upper=self.slope_change_ci[1])
        if self.bootstrap:
            out.update({f"bootstrap_{k}": v for k, v in self.bootstrap.items() if k != "breakpoints"})
        return out


def gaussian_information(rss: float, n: int, n_mean_params: int) -> tuple[float, float]:
    """AIC and BIC of a Gaussian regression, counting σ as a parameter (as R's ``AIC.lm``)."""
    llf = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
    k = n_mean_params + 1
    return float(-2 * llf + 2 * k), float(-2 * llf + np.log(n) * k)


def fit_segmented(x, y, confidence: float = config.CONFIDENCE, grid_size: int = 40, psi_start: float | None = None) -> SegmentedFit:
    """Fit the broken line by Muggeo's method, started from the best ψ on a profile grid.

    The grid (``grid_size`` points over the admissible range plus every distinct x inside it)
    guards against the local optima that Muggeo's iterations can fall into; the iterations then
    refine ψ continuously.
    """
    return fit_segmented_many(x, np.asarray(y, dtype=float)[None], confidence, grid_size, psi_start)[0]


def fit_segmented_many(x, ys, confidence: float = config.CONFIDENCE, grid_size: int = 40,
                       psi_start: float | None = None) -> list[SegmentedFit]:
    """`fit_segmented` for R data sets sharing x (``ys`` of shape (R, n)), in one batch."""
    grouped, _ = group_by_x(x, ys)
    rows, n = grouped.sum_y.shape[0], int(grouped.count[0].sum())
    if grouped.x.size < 4:
        raise ValueError("segmented regression needs at least 4 distinct x values")
    if psi_start is None:
        lo, hi = breakpoint_range(grouped.x)
        grid = np.linspace(lo, hi, grid_size)
        if grouped.x.size <= 4 * grid_size:   # few distinct values (survey scales): try each of them too
            grid = np.unique(np.r_[grid, grouped.x[(grouped.x >= lo) & (grouped.x <= hi)]])
        moments = BrokenLineMoments.from_grouped(grouped)
        rss = np.column_stack([moments.least_squares(psi, False)[2] for psi in grid])
        start = grid[np.argmin(rss, axis=1)]
    else:
        moments = BrokenLineMoments.from_grouped(grouped)
        start = np.full(rows, float(psi_start))
    psi, converged = muggeo_batch(moments, start)
    return _summarise(moments, psi, converged, n, confidence)


def _summarise(moments: BrokenLineMoments, psi, converged, n: int, confidence: float) -> list[SegmentedFit]:
    coef4, inv4, _ = moments.least_squares(psi, True)
    coef3, _, rss = moments.least_squares(psi, False)
    df = n - 4
    sigma2 = rss / df
    cov = sigma2[:, None, None] * inv4
    delta, gamma = coef4[:, 2], coef4[:, 3]
    t = sps.t.ppf(0.5 + confidence / 2, df)
    # A breakpoint on the edge of the data leaves (x-ψ)₊ nearly collinear: its variances come out
    # negative or infinite and the standard errors are reported as nan rather than hidden.
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = gamma / delta
        var_psi = (cov[:, 3, 3] + ratio**2 * cov[:, 2, 2] - 2 * ratio * cov[:, 2, 3]) / delta**2
        se_psi = np.sqrt(var_psi)
        # Slopes and their standard errors from the same 4-column fit (γ ≈ 0 at convergence).
        se_a = np.sqrt(cov[:, 0, 0])
        se_b1 = np.sqrt(cov[:, 1, 1])
        se_delta = np.sqrt(cov[:, 2, 2])
        se_b2 = np.sqrt(cov[:, 1, 1] + cov[:, 2, 2] + 2 * cov[:, 1, 2])
    fits = []
    for b in range(psi.size):
        aic, bic = gaussian_information(rss[b], n, 4)
        b1, d = coef3[b, 1], coef3[b, 2]
        fits.append(SegmentedFit(
            n=n, breakpoint=float(psi[b]), breakpoint_se=float(se_psi[b]),
            breakpoint_ci=(float(psi[b] - t * se_psi[b]), float(psi[b] + t * se_psi[b])),
            intercept=float(coef3[b, 0]), slope_before=float(b1), slope_after=float(b1 + d), slope_change=float(d),
            slope_before_ci=(float(b1 - t * se_b1[b]), float(b1 + t * se_b1[b])),
            slope_after_ci=(float(b1 + d - t * se_b2[b]), float(b1 + d + t * se_b2[b])),
            slope_change_ci=(float(d - t * se_delta[b]), float(d + t * se_delta[b])),
            sigma=float(np.sqrt(sigma2[b])), rss=float(rss[b]), aic=aic, bic=bic, converged=bool(converged[b]),
            confidence=confidence,
            intercept_ci=(float(coef3[b, 0] - t * se_a[b]), float(coef3[b, 0] + t * se_a[b]))))
    return fits


def resample_chunks(index, k: int, y, n_boot: int, rng, chunk: int):
    """Grouped statistics of nonparametric bootstrap resamples, ``chunk`` resamples at a time.

    Yields GroupedData-style arrays (count, sum_y, sum_y2), each of shape (rows, k); chunking
    bounds memory at about ``chunk × max(n, k)`` numbers whatever ``n_boot`` is.
    """
    n = y.size
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        draw = rng.integers(0, n, size=(rows, n))
        flat = (np.arange(rows)[:, None] * k + index[draw]).ravel()
        yd = y[draw].ravel()
        yield (np.bincount(flat, minlength=rows * k).reshape(rows, k).astype(float),
               np.bincount(flat, yd, rows * k).reshape(rows, k),
               np.bincount(flat, yd * yd, rows * k).reshape(rows, k))


def bootstrap_segmented(x, y, fit: SegmentedFit, n_boot: int = 200, seed: int = 0, confidence: float = config.CONFIDENCE,
                        chunk: int | None = None) -> SegmentedFit:
    """Nonparametric bootstrap of the broken line (percentile intervals), with bootstrap restarting.

    Each resample is refitted by Muggeo's iterations started at ψ̂ (a chunk of resamples per
    batched call). Bootstrap restarting (Wood 2001; Muggeo's ``seg.control(n.boot=)``): each
    resample's ψ is also tried as a starting value on the original data, and a lower residual
    sum of squares replaces the fit. Resamples whose ψ ends on the edge of the data are counted,
    not used.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    grouped, index = group_by_x(x, y)
    k = grouped.x.size
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, min(n_boot, 2_000_000 // max(y.size, k, 1)))
    single = BrokenLineMoments.from_grouped(
        GroupedData(grouped.x, grouped.count[None], grouped.sum_y[None], grouped.sum_y2[None]))
    psi_parts, ok_parts, coef_parts = [], [], []
    for count, sum_y, sum_y2 in resample_chunks(index, k, y, n_boot, rng, chunk):
        moments = BrokenLineMoments.from_grouped(GroupedData(grouped.x, count, sum_y, sum_y2))
        psi_b, ok = muggeo_batch(moments, np.full(count.shape[0], fit.breakpoint))
        coef_parts.append(moments.least_squares(psi_b, False)[0])
        psi_parts.append(psi_b)
        ok_parts.append(ok)
    psi_b, ok, coef_b = np.concatenate(psi_parts), np.concatenate(ok_parts), np.concatenate(coef_parts)
    rss_orig = single.take(np.zeros(n_boot, dtype=int)).least_squares(psi_b, False)[2]

    best = int(np.argmin(np.where(ok, rss_orig, np.inf))) if ok.any() else None
    if best is not None and rss_orig[best] < fit.rss - 1e-9 * max(fit.rss, 1):
        psi_new, conv = muggeo_batch(single, [psi_b[best]])
        fit = _summarise(single, psi_new, conv, fit.n, fit.confidence)[0]

    a = (1 - confidence) / 2
    good = ok & np.isfinite(psi_b)
    slopes_before, slopes_after = coef_b[good, 1], coef_b[good, 1] + coef_b[good, 2]
    q = lambda v: (float(np.quantile(v, a)), float(np.quantile(v, 1 - a))) if v.size else (np.nan, np.nan)
    fit.bootstrap = {
        "n_boot": n_boot, "n_valid": int(good.sum()), "seed": seed,
        "breakpoint_ci_lower": q(psi_b[good])[0], "breakpoint_ci_upper": q(psi_b[good])[1],
        "slope_before_ci_lower": q(slopes_before)[0], "slope_before_ci_upper": q(slopes_before)[1],
        "slope_after_ci_lower": q(slopes_after)[0], "slope_after_ci_upper": q(slopes_after)[1],
        "breakpoints": psi_b[good],
    }
    return fit


# ---------------------------------------------------------------- Davies' test

@dataclass(frozen=True)
class DaviesTest:
    statistic: float           # M
    variation: float           # V
    p_value: float
    alternative: str
    grid: np.ndarray
    t_values: np.ndarray

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "variation": self.variation, "p_value": self.p_value,
                "alternative": self.alternative, "k": int(self.grid.size)}


def davies_grid(x, k: int = 10) -> np.ndarray:
    """K evenly spaced ψ from the 5% to the 95% quantile of x (as ``segmented::davies.test``)."""
    lo, hi = np.quantile(np.asarray(x, dtype=float), [0.05, 0.95])
    return np.linspace(lo, hi, k)


def slope_change_t_values(grouped: GroupedData, grid) -> np.ndarray:
    """t-value of δ in y ~ x + (x - ψ)₊ for every ψ in ``grid`` and every data set: shape (R, K).

    ``grouped`` holds R data sets (count, sum_y, sum_y2 of shape (R, K_x), or (K_x,) for one).
    """
    moments = BrokenLineMoments.from_grouped(grouped)
    n = np.atleast_2d(grouped.count).sum(axis=-1)
    out = np.empty((moments.rows, len(grid)))
    for g, psi in enumerate(np.asarray(grid, dtype=float)):   # K grid points, each batched over data sets
        coef, inv, rss = moments.least_squares(psi, False)
        with np.errstate(all="ignore"):
            out[:, g] = coef[:, 2] / np.sqrt(rss / (n - 3) * inv[:, 2, 2])
    return out


def davies_statistic(t_values, alternative: str = "two-sided"):
    """M and V of Davies' bound for each row of t-values (shape (R, K))."""
    t = np.atleast_2d(t_values)
    if alternative == "two-sided":
        m = np.nanmax(np.abs(t), axis=1)
    elif alternative == "greater":
        m = np.nanmax(t, axis=1)
    elif alternative == "less":
        m = -np.nanmin(t, axis=1)
    else:
        raise ValueError("alternative must be 'two-sided', 'greater' or 'less'")
    v = np.nansum(np.abs(np.diff(t, axis=1)), axis=1)
    return m, v


def davies_p_value(m, v, alternative: str = "two-sided"):
    """p = [Φ(-M) + V exp(-M²/2)/√(8π)] × (2 if two-sided), capped at 1 (Davies 1987)."""
    p = sps.norm.sf(m) + v * np.exp(-0.5 * np.asarray(m) ** 2) / np.sqrt(8 * np.pi)
    return np.minimum(p * (2 if alternative == "two-sided" else 1), 1.0)


def davies_test(x, y, k: int = 10, alternative: str = "two-sided") -> DaviesTest:
    """Davies' test of H0: no change in slope (see the module docstring)."""
    grouped, _ = group_by_x(x, y)
    grid = davies_grid(x, k)
    t = slope_change_t_values(GroupedData(grouped.x, grouped.count[None], grouped.sum_y[None],
                                          grouped.sum_y2[None]), grid)[0]
    m, v = davies_statistic(t, alternative)
    return DaviesTest(float(m[0]), float(v[0]), float(davies_p_value(m, v, alternative)[0]), alternative, grid, t)


def davies_critical_value(variation: float, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """The M at which Davies' p-value bound equals ``alpha`` for a given total variation V."""
    from scipy.optimize import brentq

    return float(brentq(lambda m: davies_p_value(m, variation, alternative) - alpha, 0.0, 20.0))


class SegmentedRegression:
    """The broken-line model; ``SegmentedRegression().fit(x, y)`` (arrays, or column names with
    ``data=``) returns a `SegmentedFit` with the results core of every model."""

    def __init__(self, confidence: float = config.CONFIDENCE, grid_size: int = 40, psi_start: float | None = None):
        self.confidence, self.grid_size, self.psi_start = confidence, grid_size, psi_start

    def __repr__(self) -> str:
        return "SegmentedRegression()"

    def fit(self, x, y, data=None) -> SegmentedFit:
        if data is not None:
            x, y = data[x], data[y]
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        return fit_segmented(x[keep], y[keep], self.confidence, self.grid_size, self.psi_start)
