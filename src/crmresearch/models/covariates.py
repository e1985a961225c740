"""BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant covariates, by maximum likelihood.

Parameterisation (Fader & Hardie 2007, "Incorporating time-invariant covariates into the
Pareto/NBD and BG/NBD models"; the same as R's CLVTools for α and β and as pymc-marketing's
`BetaGeoModel` for a and b). For customer i with purchase covariates z_i and dropout
covariates w_i:

* purchase rate (both models): λ_i ~ Gamma(r, α_i) with α_i = α0·exp(−β′z_i), so that the mean
  rate r/α_i is r/α0 · exp(β′z_i): a positive β buys more often;
* BG/NBD dropout: p_i ~ Beta(a_i, b_i) with a_i = a0·exp(γ_a′w_i) and b_i = b0·exp(γ_b′w_i)
  (separate coefficients, as in the note); a positive γ_b (or a negative γ_a) lowers the mean
  dropout probability a_i/(a_i+b_i);
* Pareto/NBD dropout: μ_i ~ Gamma(s, β_i) with β_i = β0·exp(−γ′w_i), so that the mean dropout
  rate s/β_i is s/β0 · exp(γ′w_i): a positive γ shortens lifetimes;
* Gamma-Gamma spend (Fader, Hardie & Lee 2005, JMR): transaction values Gamma(p, ν_i),
  ν_i ~ Gamma(q, γ_i) with γ_i = γ0·exp(δ′v_i), so that the mean spend per transaction
  p·γ_i/(q−1) is p·γ0/(q−1) · exp(δ′v_i): a positive δ spends more.

The shapes r, s, p, q have no covariates. With no covariates every model is exactly the
covariate-free model of `crmresearch.models` (same likelihood, same estimates). The BG/NBD
may also take its dropout covariates on b only (`dropout_on=("b",)`): a group without dropout
heterogeneity drives its a_i and b_i to infinity together under the note's specification, and
the fit then reports that instead of a maximum. `prob_alive` gives P(alive) per customer.

Estimation follows `crmresearch.models.base`: a statsmodels `GenericLikelihoodModel` on
unconstrained parameters (logarithms of r, α0, a0, b0, ... and the coefficients), an analytic
score, the Hessian as central differences of the score, BFGS then Newton steps to full
precision. Customers are collapsed to unique (x, t_x, T, covariate) rows with counts
(`models.base.collapse_rows`), and everything that depends only on a covariate pattern (α_i,
a_i, b_i, their log-gamma and digamma terms, log(α_i + T)) is computed once per pattern or per
(pattern, x) / (pattern, T) combination, so a million customers with three discrete covariates
cost tens of milliseconds per likelihood evaluation. Internally the covariates are centred and
scaled (better conditioned); the estimates and their covariance are mapped back exactly (the
map is linear in the unconstrained parameters).

A fit never raises: it tries the covariate-free estimates, the data-based default start and two
rescaled starts, in that order, and returns a `CovariateFit` with `converged=False`, the starts
tried and what went wrong when none reached a maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.iolib.summary2 import Summary

from .. import config, stats
from .base import ModelResults
from .covariate_likelihoods import BetaGeometricNbdCovariates, GammaGammaCovariates, ParetoNbdCovariates, CovariateLikelihood



# ------------------------------------------------------------------ fitted results

@dataclass
class CovariateFit(ModelResults):
    """A fitted (or failed) covariate model: unconstrained estimates, covariance, tests and predictions.

    `params` are the log base parameters (`log_r`, `log_alpha0`, ...) and the coefficients
    (`purchase[col]`, `dropout_a[col]`, ...), all on the scale of the user's covariates; `cov`
    their covariance (inverse observed information). `sm_results` is statsmodels' results object
    on the internal parameters (coefficients per standard deviation of each covariate, log base
    parameters at the covariate means), whose `summary()` and log-likelihood are consistent. `converged=False` means no start reached
    a maximum: `tried` lists the starts and `error` what went wrong; the numbers are then NaN.
    """

    name: str
    converged: bool
    params: pd.Series
    cov: pd.DataFrame
    llf: float
    nobs: int
    n_unique_rows: int
    base_names: tuple
    processes: list              # (name, target, sign, columns)
    tried: list = field(default_factory=list)
    error: str | None = None
    rows_dropped: dict = field(default_factory=dict)
    iterations: int = -1
    sm_results: object = field(default=None, repr=False)

    @property
    def base(self) -> pd.Series:
        """Natural-scale base parameters (r, α0, a0, b0 / r, α0, s, β0 / p, q, γ0)."""
        return pd.Series(np.exp(self.params.iloc[:len(self.base_names)].to_numpy()), index=list(self.base_names))

    @property
    def coefficients(self) -> pd.Series:
        return self.params.iloc[len(self.base_names):]

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)

    def table(self, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
        """Estimates with standard errors, Wald z, p-values and intervals at `confidence`.

        Base parameters are reported on their natural scale with the log-scale interval
        back-transformed; coefficients on their own scale, with `multiplier` = exp(coefficient)
        (the factor on the mean purchase rate, a_i or b_i, mean dropout rate or mean spend for a
        one-unit change of the covariate).
        """
        z = stats.z_value(confidence)
        est, se = self.params.to_numpy(), self.bse.to_numpy()
        nb = len(self.base_names)
        is_base = np.arange(est.size) < nb
        out = pd.DataFrame({
            "parameter": list(self.base_names) + list(self.params.index[nb:]),
            "estimate": np.where(is_base, np.exp(est), est),
            "std_error": np.where(is_base, np.exp(est) * se, se),
            "ci_lower": np.where(is_base, np.exp(est - z * se), est - z * se),
            "ci_upper": np.where(is_base, np.exp(est + z * se), est + z * se),
            "z": np.where(is_base, np.nan, est / se),
            "p_value": np.where(is_base, np.nan, 2 * sps.norm.sf(np.abs(est / se))),
            "multiplier": np.where(is_base, np.nan, np.exp(est)),
        })
        out["confidence"] = confidence
        return out

    @property
    def failure(self) -> str | None:
        return None if self.converged else f"{self.error} (tried {', '.join(self.tried) or 'no start'})"

    def cov_params(self) -> pd.DataFrame:
        """Covariance of `params` (log base parameters and coefficients)."""
        return self.cov

    def conf_int(self, alpha: float = 1 - config.CONFIDENCE) -> pd.DataFrame:
        """Intervals at level 1 - alpha: base parameters on their natural scale (the log-scale Wald
        interval back-transformed), coefficients on their own scale; rows named as in `table`."""
        t = self.table(1 - alpha).set_index("parameter")
        return t[["ci_lower", "ci_upper"]].rename(columns={"ci_lower": "lower", "ci_upper": "upper"})

    def summary(self, alpha: float = 1 - config.CONFIDENCE) -> Summary:
        """Base parameters (natural scale) and coefficients with SEs, z, p and intervals; fit statistics."""
        smry = Summary()
        smry.add_title(f"{self.name} with covariates: results")
        info = {"Model:": self.name, "Customers:": f"{self.nobs:,}", "Converged:": "yes" if self.converged else "no"}
        if self.converged:
            info.update({"Log-likelihood:": f"{self.llf:,.4f}", "AIC:": f"{self.aic:,.4f}", "BIC:": f"{self.bic:,.4f}"})
        smry.add_dict(info, ncols=2)
        if self.converged:
            level = f"{100 * (1 - alpha):g}%"
            table = (self.table(1 - alpha).set_index("parameter").drop(columns="confidence")
                     .rename(columns={"std_error": "std. error", "ci_lower": f"{level} lower",
                                      "ci_upper": f"{level} upper", "p_value": "p-value"}))
            smry.add_df(table, float_format="%.4g")
            smry.add_text("Base parameters on their natural scale (interval: log-scale Wald, back-transformed); "
                          "coefficients per unit of the covariate, with multiplier = exp(coefficient).")
        else:
            smry.add_text(f"Failed: {self.failure}")
        return smry

    def wald_test(self, names=None, contains: str | None = None) -> dict:
        """Joint Wald test that the named coefficients (or those whose name contains `contains`) are 0."""
        if names is None:
            names = [n for n in self.coefficients.index if contains is None or contains in n]
        names = list(names)
        if not names or not self.converged:
            return {"statistic": np.nan, "df": len(names), "p_value": np.nan, "names": names}
        b = self.params[names].to_numpy()
        V = self.cov.loc[names, names].to_numpy()
        stat = float(b @ np.linalg.solve(V, b))
        return {"statistic": stat, "df": len(names), "p_value": float(sps.chi2.sf(stat, len(names))), "names": names}

    def draw(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of all parameters from their asymptotic normal (Krinsky & Robb 1986), n_draws × k."""
        return rng.multivariate_normal(self.params.to_numpy(), self.cov.to_numpy(), size=n_draws, method="eigh")

    def natural_parameters(self, covariates: pd.DataFrame | None, params=None) -> dict:
        """Per-row natural parameters for covariate rows (columns by name); `params` may be draws (D × k).

        Returns base name -> array (rows,) or (D, rows) for draws.
        """
        values = self.params.to_numpy() if params is None else np.asarray(params, dtype=float)
        single = values.ndim == 1
        values = np.atleast_2d(values)
        n = 1 if covariates is None else len(covariates)
        index = {name: j for j, name in enumerate(self.params.index)}
        out = {}
        for j, name in enumerate(self.base_names):
            out[name] = np.repeat(values[:, [j]], n, axis=1)
        for pname, target, sign, columns in self.processes:
            if not columns:
                continue
            Z = covariates[list(columns)].to_numpy(dtype=float)
            coef = values[:, [index[f"{pname}[{c}]"] for c in columns]]
            out[target] = out[target] + sign * coef @ Z.T
        out = {k: np.exp(v) for k, v in out.items()}
        return {k: v[0] for k, v in out.items()} if single else out


# ------------------------------------------------------------------ fitting

def _as_frame(covariates, n: int, prefix: str) -> pd.DataFrame:
    if covariates is None:
        return pd.DataFrame(index=range(n))
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if isinstance(covariates, pd.DataFrame):
        frame = covariates.reset_index(drop=True).astype(float)
    else:
        arr = np.asarray(covariates, dtype=float)
        arr = arr[:, None] if arr.ndim == 1 else arr
        frame = pd.DataFrame(arr, columns=[f"{prefix}{j}" for j in range(arr.shape[1])])
    if len(frame) != n:
        raise ValueError(f"covariates have {len(frame)} rows for {n} customers")
    return frame


def _maximize(model: CovariateLikelihood, start: np.ndarray, newton_steps: int = 8):
    """BFGS from `start` (internal parameters), then Newton steps with the analytic score.

    Returns (params, hessian, problems, statsmodels result, iterations); converged means finite,
    |log base| ≤ 18 and |scaled coefficient| ≤ 30, negative-definite Hessian, last Newton step < 1e-6.
    """
    result = model.fit(start_params=start, method="bfgs")
    params = np.asarray(result.params, dtype=float)
    step = np.full(params.size, np.inf)
    hessian = np.full((params.size, params.size), np.nan)
    nb = model.n_base
    for _ in range(newton_steps):
        if not np.all(np.isfinite(params)) or np.any(np.abs(params[:nb]) > 18) or np.any(np.abs(params[nb:]) > 30):
            break
        hessian = model.hessian(params)
        if not np.all(np.isfinite(hessian)) or not np.all(np.linalg.eigvalsh(hessian) < 0):
            break
        step = np.linalg.solve(-hessian, model.score(params))
        if np.max(np.abs(step)) > 1.0:
            break
        params = params + step
        if np.max(np.abs(step)) < 1e-8:
            break
    problems = []
    ll = model.loglike(params) if np.all(np.isfinite(params)) else np.nan
    if not np.all(np.isfinite(params)) or not np.isfinite(ll):
        problems.append("the log-likelihood or parameters became non-finite")
    elif np.any(np.abs(params[:nb]) > 18) or np.any(np.abs(params[nb:]) > 30):
        problems.append("parameters ran to 0 or infinity (not identified by these data)")
    if not np.all(np.isfinite(hessian)) or not np.all(np.linalg.eigvalsh(np.nan_to_num(hessian)) < 0):
        problems.append("the Hessian is not negative definite")
    elif np.max(np.abs(step)) >= 1e-6:
        problems.append(f"Newton steps did not settle (last step {np.max(np.abs(step)):.2g})")
    retvals = getattr(result, "mle_retvals", {}) or {}
    iterations = int(retvals.get("iterations", retvals.get("gcalls", -1)))
    return params, hessian, problems, result, iterations, ll


def _failed(name, model_names, base_names, processes, tried, error, n, rows_dropped) -> CovariateFit:
    nan = pd.Series(np.nan, index=model_names)
    return CovariateFit(name=name, converged=False, params=nan,
                        cov=pd.DataFrame(np.nan, index=model_names, columns=model_names), llf=np.nan,
                        nobs=n, n_unique_rows=0, base_names=base_names, processes=processes, tried=tried,
                        error=error, rows_dropped=rows_dropped)


def _fit(name: str, build, base_names, process_specs, covariate_frames: dict, nocov_fit, n_customers: int,
         rows_dropped: dict, start_params=None, fixed=()) -> CovariateFit:
    processes = [(pn, target, sign, [] if pn in fixed else list(covariate_frames[g].columns))
                 for pn, target, sign, g in process_specs]
    names = [f"log_{n}" for n in base_names] + [f"{pn}[{c}]" for pn, _, _, cols in processes for c in cols]
    tried = []
    try:
        model = build()
    except Exception as exc:  # bad input reaches the caller as a failed result, not an exception
        return _failed(name, names, base_names, processes, tried, f"the data could not be set up ({exc})",
                       n_customers, rows_dropped)
    constant = model.constant_covariates()
    if constant:
        return _failed(name, names, base_names, processes, tried,
                       f"covariate(s) {', '.join(constant)} do not vary", n_customers, rows_dropped)
    starts = []
    if start_params is not None:
        starts.append(("the given start", model.internal_start(start_params)))
    if nocov_fit is not None:
        starts.append(("the covariate-free estimates", model.internal_start(nocov_fit())))
    default = model.default_start()
    starts.append(("the default start", model.internal_start(default)))
    starts.append(("the default start × 0.5", model.internal_start(default * 0.5)))
    starts.append(("the default start × 3", model.internal_start(default * 3.0)))
    problems = []
    for label, start in starts:
        if not np.all(np.isfinite(start)):
            continue
        try:
            params, hessian, problems, result, iterations, ll = _maximize(model, start)
            if problems and np.all(np.isfinite(params)):
                reached = pd.Series(model.to_user @ params, index=names)
                far = reached[np.abs(reached) > 5]
                if not far.empty:
                    problems.append("estimates reached " + ", ".join(f"{k} = {v:.3g}" for k, v in far.items())
                                    + " (log-scale values this large mean a parameter ran towards 0 or infinity)")
        except Exception as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        tried.append(label)
        if not problems:
            M = model.to_user
            cov_internal = np.linalg.inv(-hessian)
            user = M @ params
            cov_user = M @ cov_internal @ M.T
            result.params = params
            result.normalized_cov_params = cov_internal
            return CovariateFit(name=name, converged=True, params=pd.Series(user, index=names),
                                cov=pd.DataFrame(cov_user, index=names, columns=names), llf=float(ll),
                                nobs=model.rows.n_customers, n_unique_rows=int(model.rows.weights.size),
                                base_names=tuple(base_names), processes=processes, tried=tried,
                                rows_dropped=rows_dropped, iterations=iterations, sm_results=result)
    return _failed(name, names, base_names, processes, tried, "; ".join(problems) or "no usable start",
                   n_customers, rows_dropped)


def _complete(arrays: dict, frames: dict):
    """Keep customers with finite data and covariates; count the rest by reason."""
    n = len(next(iter(arrays.values())))
    keep = np.ones(n, dtype=bool)
    dropped = {}
    for name, arr in arrays.items():
        bad = ~np.isfinite(arr) & keep
        if bad.any():
            dropped[f"missing {name}"] = int(bad.sum())
        keep &= ~bad
    for group, frame in frames.items():
        bad = ~np.all(np.isfinite(frame.to_numpy(dtype=float)), axis=1) & keep if frame.shape[1] else np.zeros(n, bool)
        if bad.any():
            dropped[f"missing {group} covariate"] = int(bad.sum())
        keep &= ~bad
    return keep, dropped


def _nocov(fit_function, *arrays, known: CovariateFit | None = None):
    """The covariate-free estimates (natural scale) as a start: the same model fitted without covariates.

    `known`: that fit, already made by the caller on these customers (`covariate_free=` of the fit
    functions); it is used instead of fitting again when it was made on as many customers as these
    (the covariate fit keeps a subset of the covariate-free fit's customers, so the counts agree only
    when no customer was left out for a missing covariate)."""
    def run():
        fit = (known if known is not None and known.nobs == arrays[0].size and not frames_used_by(known)
               else fit_function(*arrays))
        return fit.base.to_numpy() if fit.converged else np.full(len(fit.base_names), np.nan)
    return run


def frames_used_by(fit: CovariateFit) -> bool:
    """Whether a fit has any covariate (a covariate-free fit has none)."""
    return any(cols for *_, cols in fit.processes)


def frames_used(frames: dict) -> bool:
    """Whether any covariate frame has a column (a fit without any is the covariate-free model)."""
    return any(len(f.columns) for f in frames.values())


def _purchase_inputs(frequency, recency, T, purchase_covariates, dropout_covariates):
    """(x, t_x, T, covariate frames, kept-row mask, dropped-row counts) of the complete customers."""
    x, t_x, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    frames = {"purchase": _as_frame(purchase_covariates, x.size, "z"),
              "dropout": _as_frame(dropout_covariates, x.size, "w")}
    keep, dropped = _complete({"frequency": x, "recency": t_x, "T": T_}, frames)
    frames = {g: f[keep].reset_index(drop=True) for g, f in frames.items()}
    return x[keep], t_x[keep], T_[keep], frames, keep, dropped


def fit_bgnbd_covariates(frequency, recency, T, purchase_covariates=None, dropout_covariates=None,
                         start_params=None, dropout_on=("a", "b"), covariate_free: CovariateFit | None = None) -> CovariateFit:
    """BG/NBD with covariates on purchase (α_i = α0·e^{−β′z}) and dropout (a_i = a0·e^{γa′w}, b_i = b0·e^{γb′w}).

    Covariates are DataFrames (column names are kept) or arrays, one row per customer; None
    means none. Customers with missing values are left out and counted in `rows_dropped`.
    `start_params` are natural-scale (r, α0, a0, b0). `dropout_on` names the Beta parameters the
    dropout covariates act on: both (the note's specification) or only ("b",) — fewer
    parameters, and identified when a group shows no dropout heterogeneity (its a and b both
    run to infinity under the full specification). `covariate_free`: the covariate-free fit on the same
    customers when the caller already has it (the start it gives is then not fitted again). Never raises
    for a failed fit.
    """
    x, t_x, T_, frames, keep, dropped = _purchase_inputs(frequency, recency, T, purchase_covariates,
                                                         dropout_covariates)
    fixed = tuple(f"dropout_{k}" for k in ("a", "b") if k not in dropout_on)
    return _fit("BG/NBD",
                lambda: BetaGeometricNbdCovariates(x, t_x, T_, frames["purchase"], frames["dropout"], dropout_on),
                BetaGeometricNbdCovariates.base_names, BetaGeometricNbdCovariates.process_specs, frames,
                _nocov(fit_bgnbd_covariates, x, t_x, T_, known=covariate_free) if frames_used(frames) else None,
                int(keep.sum()), dropped, start_params, fixed)


def fit_pareto_nbd_covariates(frequency, recency, T, purchase_covariates=None, dropout_covariates=None,
                              start_params=None, covariate_free: CovariateFit | None = None) -> CovariateFit:
    """Pareto/NBD with covariates on the purchase rate (α_i = α0·e^{−β′z}) and dropout (β_i = β0·e^{−γ′w});
    `covariate_free` as in `fit_bgnbd_covariates`."""
    x, t_x, T_, frames, keep, dropped = _purchase_inputs(frequency, recency, T, purchase_covariates,
                                                         dropout_covariates)
    return _fit("Pareto/NBD", lambda: ParetoNbdCovariates(x, t_x, T_, frames["purchase"], frames["dropout"]),
                ParetoNbdCovariates.base_names, ParetoNbdCovariates.process_specs, frames,
                _nocov(fit_pareto_nbd_covariates, x, t_x, T_, known=covariate_free) if frames_used(frames) else None,
                int(keep.sum()), dropped, start_params)


def fit_gamma_gamma_covariates(frequency, monetary_value, spend_covariates=None, start_params=None,
                               covariate_free: CovariateFit | None = None) -> CovariateFit:
    """Gamma-Gamma spend on repeat buyers (x ≥ 1) with γ_i = γ0·e^{δ′v} (mean spend × e^{δ′v});
    `covariate_free` as in `fit_bgnbd_covariates`."""
    x, m = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
    frame = _as_frame(spend_covariates, x.size, "v")
    buyers = (x > 0) & np.isfinite(x)
    dropped = {"no repeat purchase": int((~buyers).sum())} if (~buyers).any() else {}
    x, m, frame = x[buyers], m[buyers], frame[buyers].reset_index(drop=True)
    keep, more = _complete({"monetary_value": m}, {"spend": frame})
    dropped.update(more)
    nonpositive = keep & ~(m > 0)
    if nonpositive.any():
        dropped["non-positive spend"] = int(nonpositive.sum())
    keep &= m > 0
    x, m = x[keep], m[keep]
    frames = {"spend": frame[keep].reset_index(drop=True)}
    return _fit("Gamma-Gamma", lambda: GammaGammaCovariates(x, m, frames["spend"]), GammaGammaCovariates.base_names,
                GammaGammaCovariates.process_specs, frames,
                _nocov(fit_gamma_gamma_covariates, x, m, known=covariate_free) if frames_used(frames) else None,
                int(keep.sum()), dropped, start_params)


def prob_alive(fit: CovariateFit, frequency, recency, T, purchase_covariates=None,
               dropout_covariates=None) -> np.ndarray:
    """P(alive | x, t_x, T, covariates) per customer from a fitted covariate BG/NBD or Pareto/NBD.

    Both likelihoods are a sum of an "alive at T" term and a "left after the last purchase" term;
    P(alive) is the alive term's share (Fader, Hardie & Lee 2008, "Computing P(alive) using the
    BG/NBD model"; Schmittlein, Morrison & Colombo 1987), evaluated with each customer's α_i,
    a_i, b_i (or β_i). Covariates are matched by column name; customers with a missing value get
    NaN; a fit that did not converge gives all NaN.
    """
    x, t_x, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    out = np.full(x.size, np.nan)
    if not fit.converged or fit.name not in ("BG/NBD", "Pareto/NBD"):
        return out
    columns = {pn: cols for pn, _, _, cols in fit.processes}
    purchase = _as_frame(purchase_covariates, x.size, "z")[columns["purchase"]]
    dropout_names = columns.get("dropout", []) or columns.get("dropout_b", []) or columns.get("dropout_a", [])
    dropout = _as_frame(dropout_covariates, x.size, "w")[dropout_names]
    keep, _ = _complete({"frequency": x, "recency": t_x, "T": T_}, {"purchase": purchase, "dropout": dropout})
    if not keep.any():
        return out
    frames = [f[keep].reset_index(drop=True) for f in (purchase, dropout)]
    if fit.name == "BG/NBD":
        dropout_on = tuple(k for k in ("a", "b") if columns.get(f"dropout_{k}")) or ("a", "b")
        model = BetaGeometricNbdCovariates(x[keep], t_x[keep], T_[keep], *frames, dropout_on=dropout_on)
    else:
        model = ParetoNbdCovariates(x[keep], t_x[keep], T_[keep], *frames)
    internal = np.linalg.solve(model.to_user, fit.params[model.param_names_user].to_numpy())
    base, thetas = model._split(internal)
    with np.errstate(all="ignore"):
        if fit.name == "BG/NBD":
            alive = model._terms(base, thetas)[2]
        else:
            _, parts, log_sum, _, _ = model._terms(base, thetas)
            alive = np.exp(parts[:, 0] - log_sum)
    out[keep] = alive[model.rows.inverse]
    return out
