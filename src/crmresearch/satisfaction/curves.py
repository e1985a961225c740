"""The shape of the satisfaction-loyalty curve: binned means, linear, spline and broken-line fits.

* Binned means with t intervals: ``ȳ_b ± t_{n_b-1} s_b/√n_b`` per satisfaction band.
* Linear: ``y = α + βx + ε`` (OLS).
* Natural cubic regression spline: ``y = α + Σ_j β_j N_j(x) + ε`` with patsy's ``cr(x, df)``
  basis (Wood 2017, *Generalized Additive Models*, §5.3.1), fitted by OLS in statsmodels.
* Broken line (segmented.py).

The marginal effect (slope) curve is ``dŷ/dx = ∇N(x)'β̂``; its pointwise band is
``± z √(∇N(x)' Σ̂ ∇N(x))``, with ∇N taken by central differences of the basis.
Models are compared by AIC, BIC (σ counted as a parameter, as R's ``AIC.lm``) and K-fold
cross-validated root mean squared error (same folds for every model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import config
from ..models.segmented import fit_segmented, gaussian_information


def band_labels(edges, whole_answers: bool) -> list[str]:
    """Labels of the bands ``[e_0, e_1], (e_1, e_2], ...`` that never overlap: on whole-number answers
    the answers each band holds ("1–5", "6", "7–8"); otherwise "1–5", "over 5 to 6", ..."""
    edges = np.asarray(edges, dtype=float)
    labels = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        if whole_answers and float(lo).is_integer() and float(hi).is_integer():
            first = lo if i == 0 else lo + 1
            labels.append(f"{first:g}" if first == hi else f"{first:g}–{hi:g}")
        else:
            labels.append(f"{lo:g}–{hi:g}" if i == 0 else f"over {lo:g} to {hi:g}")
    return labels


def satisfaction_bands(x, edges) -> pd.Categorical:
    """Bands ``[e_0, e_1], (e_1, e_2], ...`` labelled by `band_labels`."""
    x = np.asarray(x, dtype=float)
    finite = x[np.isfinite(x)]
    whole = bool(finite.size) and bool(np.all(finite == np.round(finite)))
    return pd.cut(x, np.asarray(edges, dtype=float), labels=band_labels(edges, whole), include_lowest=True)


def binned_means(x, y, edges, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """Mean of y per satisfaction band with a t interval (bands with n < 2 get no interval)."""
    bands = satisfaction_bands(x, edges)
    frame = pd.DataFrame({"band": bands, "x": np.asarray(x, float), "y": np.asarray(y, float)})
    g = frame.groupby("band", observed=False)
    out = pd.DataFrame({"n": g["y"].size(), "x_mean": g["x"].mean(), "mean": g["y"].mean(), "sd": g["y"].std()})
    with np.errstate(invalid="ignore", divide="ignore"):
        tq = sps.t.ppf(0.5 + confidence / 2, out["n"] - 1)
        half = tq * out["sd"] / np.sqrt(out["n"])
    out["lower"], out["upper"] = out["mean"] - half, out["mean"] + half
    return out.reset_index().drop(columns="sd")


@dataclass
class SplineFit:
    """OLS on a natural cubic regression spline basis of x (centred, plus an intercept)."""

    result: object          # statsmodels RegressionResults
    design_info: object     # patsy DesignInfo, rebuilds the basis at new x
    df: int

    def _basis(self, x):
        from patsy import build_design_matrices

        return np.asarray(build_design_matrices([self.design_info], {"x": np.asarray(x, float)})[0])

    def predict(self, x, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
        basis = self._basis(x)
        fit = basis @ self.result.params
        se = np.sqrt(np.einsum("ij,jk,ik->i", basis, self.result.cov_params(), basis))
        z = sps.norm.ppf(0.5 + confidence / 2)
        return pd.DataFrame({"x": np.asarray(x, float), "fit": fit, "lower": fit - z * se, "upper": fit + z * se})

    def marginal_effect(self, x, confidence: float = config.CONFIDENCE, h: float = 1e-4) -> pd.DataFrame:
        x = np.asarray(x, float)
        gradient = (self._basis(x + h) - self._basis(x - h)) / (2 * h)
        slope = gradient @ self.result.params
        se = np.sqrt(np.einsum("ij,jk,ik->i", gradient, self.result.cov_params(), gradient))
        z = sps.norm.ppf(0.5 + confidence / 2)
        return pd.DataFrame({"x": x, "slope": slope, "lower": slope - z * se, "upper": slope + z * se})


def fit_spline(x, y, df: int = 4) -> SplineFit:
    import statsmodels.api as sm
    from patsy import dmatrix

    design = dmatrix(f"cr(x, df={int(df)}, constraints='center')", {"x": np.asarray(x, float)})
    result = sm.OLS(np.asarray(y, float), np.asarray(design)).fit()
    return SplineFit(result, design.design_info, int(df))


def fit_linear(x, y):
    import statsmodels.api as sm

    return sm.OLS(np.asarray(y, float), sm.add_constant(np.asarray(x, float))).fit()


def _fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def compare_models(x, y, spline_df: int = 4, folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """AIC, BIC and K-fold CV RMSE of the linear, spline and broken-line fits (lower is better)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = y.size
    fitters = {
        "linear": (lambda xs, ys: fit_linear(xs, ys), lambda m, xs: m.params[0] + m.params[1] * xs, 2),
        f"spline (df={spline_df})": (lambda xs, ys: fit_spline(xs, ys, spline_df),
                                     lambda m, xs: m.predict(xs)["fit"].to_numpy(), spline_df + 1),
        "broken line": (lambda xs, ys: fit_segmented(xs, ys), lambda m, xs: m.predict(xs), 4),
    }
    fold = _fold_ids(n, folds, seed)
    rows = []
    for name, (fit, predict, k) in fitters.items():
        full = fit(x, y)
        rss = float(np.sum((y - predict(full, x)) ** 2))
        aic, bic = gaussian_information(rss, n, k)
        sq = np.empty(n)
        for f in range(folds):   # K refits; each is vectorized inside
            test = fold == f
            model = fit(x[~test], y[~test])
            sq[test] = (y[test] - predict(model, x[test])) ** 2
        rows.append({"model": name, "parameters": k, "aic": aic, "bic": bic, "cv_rmse": float(np.sqrt(sq.mean()))})
    out = pd.DataFrame(rows)
    for col in ("aic", "bic", "cv_rmse"):
        out[f"best_{col}"] = out[col] == out[col].min()
    return out
