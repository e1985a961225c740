"""The likelihoods of the BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant covariates.

Statsmodels `GenericLikelihoodModel`s on unconstrained parameters (logarithms of r, α0, a0, b0, ...
and the coefficients) with an analytic score; customers are collapsed to unique (x, t_x, T,
covariate) rows with counts, and everything that depends only on a covariate pattern is computed
once per pattern. The parameterisation, fitting and results are described in `models.covariates`.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from ..stats import logsumexp_rows
from .base import AnalyticScoreLikelihood, collapse_rows, weighted_sum
from .purchases import pareto_default_start, pareto_quadrature_setup



@dataclass
class _Process:
    """One covariate-scaled parameter: θ_i = θ0 · exp(sign · c′z_i), evaluated per covariate pattern."""

    name: str
    target: str
    sign: float
    group: str
    columns: list
    Z: np.ndarray = None        # pattern-level covariates, centred and scaled (n_patterns × k)
    index: np.ndarray = None    # row -> pattern
    mean: np.ndarray = None
    scale: np.ndarray = None

    @property
    def k(self) -> int:
        return len(self.columns)


def _patterns(matrix: np.ndarray):
    """Unique rows of a (rows × k) matrix and the row -> pattern index."""
    if matrix.shape[1] == 0:
        return np.zeros((1, 0)), np.zeros(matrix.shape[0], dtype=np.int64)
    collapsed = collapse_rows(**{f"c{j}": matrix[:, j] for j in range(matrix.shape[1])})
    return np.column_stack(list(collapsed.columns.values())), collapsed.inverse


def _combine(first: np.ndarray, n_second: int, second: np.ndarray):
    """Factorize pairs (first, second) of integer codes: pair codes and the decoded unique pairs."""
    codes, uniques = pd.factorize(first.astype(np.int64) * n_second + second.astype(np.int64), sort=False)
    return codes, uniques // n_second, uniques % n_second


class CovariateLikelihood(AnalyticScoreLikelihood):
    """GenericLikelihoodModel on (log base parameters, covariate coefficients) with weighted rows.

    Subclasses set `base_names`, `process_specs` ((name, target, sign, group), ...) and
    `_loglike_and_gradient(base, thetas)`, which returns the weighted log-likelihood and, per base
    parameter, d ll / d log θ: a scalar for parameters without covariates, an array over the
    process's covariate patterns for those with.
    """

    base_names: tuple = ()
    process_specs: tuple = ()

    def __init__(self, data: dict, covariates: dict, fixed=(), **kwds):
        columns = dict(data)
        group_names = {}
        for group, frame in covariates.items():
            group_names[group] = list(frame.columns)
            for j, col in enumerate(frame.columns):
                columns[f"{group}:{j}"] = frame[col].to_numpy(dtype=float)
        rows = collapse_rows(**columns)
        self.rows, self.weights = rows, rows.weights
        self.processes = []
        for name, target, sign, group in self.process_specs:
            group_cols = group_names.get(group, [])
            raw = (np.column_stack([rows.columns[f"{group}:{j}"] for j in range(len(group_cols))]) if group_cols
                   else np.empty((rows.weights.size, 0)))
            patterns, index = _patterns(raw)
            # a process in `fixed` shares its group's patterns but has no coefficients (θ_i = θ0)
            cols = [] if name in fixed else group_cols
            proc = _Process(name, target, sign, group, cols)
            proc.index, proc.n_patterns = index, patterns.shape[0]
            if cols:
                pattern_weight = np.bincount(index, weights=rows.weights, minlength=proc.n_patterns)
                proc.mean = pattern_weight @ patterns / pattern_weight.sum()
                proc.scale = np.sqrt(pattern_weight @ (patterns - proc.mean) ** 2 / pattern_weight.sum())
                proc.Z = (patterns - proc.mean) / np.where(proc.scale > 0, proc.scale, 1.0)
            else:
                proc.mean, proc.scale, proc.Z = np.zeros(0), np.zeros(0), np.zeros((proc.n_patterns, 0))
            self.processes.append(proc)
        self.coef_names = [f"{p.name}[{c}]" for p in self.processes for c in p.columns]
        self.param_names_user = [f"log_{n}" for n in self.base_names] + self.coef_names
        # statsmodels sees the internal parameters: coefficients per standard deviation of the
        # covariate, log base parameters at the covariate means (CovariateFit maps them back).
        scaled = {p.target for p in self.processes if p.k}
        internal = ([f"log_{n} (at means)" if n in scaled else f"log_{n}" for n in self.base_names]
                    + [f"{name} (per SD)" for name in self.coef_names])
        endog = np.column_stack([rows.columns[k] for k in data])
        super().__init__(endog, exog=None, extra_params_names=internal, **kwds)
        self.data.ynames = "+".join(data)
        self.k_constant = 0
        self.df_model = 0.0
        self.df_resid = float(rows.n_customers - len(self.param_names_user))
        self._cache_key = None
        self._build_map()

    # -- parameter bookkeeping
    @property
    def n_base(self) -> int:
        return len(self.base_names)

    def constant_covariates(self) -> list[str]:
        return [f"{p.name}[{c}]" for p in self.processes for c, s in zip(p.columns, p.scale) if not s > 0]

    def _build_map(self):
        """Linear map M from internal (centred, scaled) to user parameters: user = M · internal."""
        k = len(self.param_names_user)
        M = np.eye(k)
        offset = self.n_base
        for p in self.processes:
            sl = slice(offset, offset + p.k)
            scale = np.where(p.scale > 0, p.scale, 1.0)
            M[sl, sl] = np.diag(1.0 / scale)
            M[self.base_names.index(p.target), sl] = -p.sign * p.mean / scale
            offset += p.k
        self.to_user = M

    def _split(self, params):
        base = np.exp(params[:self.n_base])
        thetas, offset = {}, self.n_base
        for p in self.processes:
            coef = params[offset:offset + p.k]
            log_theta0 = params[self.base_names.index(p.target)]
            eta = log_theta0 + p.sign * (p.Z @ coef) if p.k else np.full(p.n_patterns, log_theta0)
            thetas[p.target] = np.exp(eta)
            offset += p.k
        return base, thetas

    def _evaluate(self, params):
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        if key != self._cache_key:
            base, thetas = self._split(params)
            with np.errstate(all="ignore"):
                ll, grads = self._loglike_and_gradient(base, thetas)
            gradient = np.zeros(params.size)
            offset = self.n_base
            for j, name in enumerate(self.base_names):
                g = grads[name]
                gradient[j] = float(np.sum(g))
            for p in self.processes:
                gradient[offset:offset + p.k] = p.sign * (p.Z.T @ grads[p.target])
                offset += p.k
            self._cache_key, self._cached = key, (float(ll), gradient)
        return self._cached

    def loglike(self, params):
        return self._evaluate(params)[0]

    def score(self, params):
        return self._evaluate(params)[1]

    def loglikeobs(self, params):
        base, thetas = self._split(np.asarray(params, dtype=float))
        return self._row_loglike(base, thetas) * self.weights

    def fit(self, start_params=None, method="bfgs", maxiter=2000, **kwargs):
        return self.quiet_fit(start_params, method, maxiter, **kwargs)

    def internal_start(self, base_natural) -> np.ndarray:
        k = len(self.param_names_user)
        start = np.zeros(k)
        start[:self.n_base] = np.log(np.asarray(base_natural, dtype=float))
        return start

    def default_start(self) -> np.ndarray:
        raise NotImplementedError


class BetaGeometricNbdCovariates(CovariateLikelihood):
    """BG/NBD likelihood (Fader, Hardie & Lee 2005, eq. 6) with α_i, a_i and b_i as in the module docstring."""

    base_names = ("r", "alpha0", "a0", "b0")
    process_specs = (("purchase", "alpha0", -1.0, "purchase"), ("dropout_a", "a0", 1.0, "dropout"),
                     ("dropout_b", "b0", 1.0, "dropout"))

    def __init__(self, frequency, recency, T, purchase_covariates: pd.DataFrame, dropout_covariates: pd.DataFrame,
                 dropout_on=("a", "b"), **kwds):
        fixed = tuple(f"dropout_{k}" for k in ("a", "b") if k not in dropout_on)
        super().__init__({"x": frequency, "t_x": recency, "T": T},
                         {"purchase": purchase_covariates, "dropout": dropout_covariates}, fixed=fixed, **kwds)
        c = self.rows.columns
        self.x, self.t_x, self.T = c["x"], c["t_x"], c["T"]
        self.ux, self.ix = np.unique(self.x, return_inverse=True)
        uT, iT = np.unique(self.T, return_inverse=True)
        utx, itx = np.unique(self.t_x, return_inverse=True)
        w = self.weights
        self.weight_by_x = np.bincount(self.ix, weights=w, minlength=self.ux.size)
        purchase, dropout = self.processes[0], self.processes[1]
        self.pp, self.dp = purchase.index, dropout.index
        self.n_pp, self.n_dp = purchase.n_patterns, dropout.n_patterns
        self.weight_by_pp = np.bincount(self.pp, weights=w, minlength=self.n_pp)
        self.ixd, cx, self.cd = _combine(self.ix, self.n_dp, self.dp)
        self.cx = self.ux[cx]
        self.n_xd = self.cd.size
        self.icT, self.cTp, cTi = _combine(self.pp, uT.size, iT)
        self.cTv = uT[cTi]
        self.ictx, self.ctxp, ctxi = _combine(self.pp, utx.size, itx)
        self.ctxv = utx[ctxi]

    def default_start(self):
        mean_rate = max(np.average(self.x, weights=self.weights), 0.05) / np.average(self.T, weights=self.weights)
        return np.array([1.0, 1.0 / mean_rate, 1.0, 1.0])

    def _terms(self, base, thetas):
        r = base[0]
        alpha, a, b = thetas["alpha0"], thetas["a0"], thetas["b0"]
        log_alpha_T = np.log(alpha[self.cTp] + self.cTv)[self.icT]
        log_alpha_tx = np.log(alpha[self.ctxp] + self.ctxv)[self.ictx]
        a_c, b_c, xc = a[self.cd], b[self.cd], self.cx
        rep = xc > 0
        log_beta_ab = special.betaln(a_c, b_c)
        beta1 = special.betaln(a_c, b_c + xc) - log_beta_ab
        beta2 = np.where(rep, special.betaln(a_c + 1, np.where(rep, b_c + xc - 1, 1.0)) - log_beta_ab, -np.inf)
        rx = r + self.x
        ln_a1 = beta1[self.ixd] - rx * log_alpha_T
        ln_a2 = beta2[self.ixd] - rx * log_alpha_tx
        gap = ln_a2 - ln_a1
        small = np.exp(-np.abs(gap))
        mix = np.maximum(ln_a1, ln_a2) + np.log1p(small)
        share1 = np.where(gap <= 0, 1.0, small) / (1.0 + small)
        const_x = special.gammaln(r + self.ux) - special.gammaln(r)
        return const_x, np.log(alpha), share1, mix, log_alpha_T, log_alpha_tx

    def _row_loglike(self, base, thetas):
        const_x, log_alpha, _, mix, _, _ = self._terms(base, thetas)
        return const_x[self.ix] + base[0] * log_alpha[self.pp] + mix

    def _loglike_and_gradient(self, base, thetas):
        r = base[0]
        alpha, a, b = thetas["alpha0"], thetas["a0"], thetas["b0"]
        const_x, log_alpha, share1, mix, log_alpha_T, log_alpha_tx = self._terms(base, thetas)
        w = self.weights
        ll = float(const_x @ self.weight_by_x + r * (log_alpha @ self.weight_by_pp) + weighted_sum(w, mix))
        share2 = 1.0 - share1
        dr = ((special.digamma(r + self.ux) - special.digamma(r)) @ self.weight_by_x + log_alpha @ self.weight_by_pp
              - weighted_sum(w, share1 * log_alpha_T + share2 * log_alpha_tx))
        inv_T = (1.0 / (alpha[self.cTp] + self.cTv))[self.icT]
        inv_tx = (1.0 / (alpha[self.ctxp] + self.ctxv))[self.ictx]
        row_alpha = w * (r + self.x) * alpha[self.pp] * (share1 * inv_T + share2 * inv_tx)
        g_alpha = r * self.weight_by_pp - np.bincount(self.pp, weights=row_alpha, minlength=self.n_pp)
        s1 = np.bincount(self.ixd, weights=w * share1, minlength=self.n_xd)
        s2 = np.bincount(self.ixd, weights=w * share2, minlength=self.n_xd)
        a_c, b_c, xc = a[self.cd], b[self.cd], self.cx
        rep = xc > 0
        psi_ab, psi_abx = special.digamma(a_c + b_c), special.digamma(a_c + b_c + xc)
        psi_b = special.digamma(b_c)
        d1_a, d2_a = psi_ab - psi_abx, 1.0 / a_c + psi_ab - psi_abx
        d1_b = special.digamma(b_c + xc) - psi_abx - psi_b + psi_ab
        d2_b = np.where(rep, special.digamma(np.where(rep, b_c + xc - 1, 1.0)) - psi_abx - psi_b + psi_ab, 0.0)
        g_a = np.bincount(self.cd, weights=a_c * (s1 * d1_a + s2 * d2_a), minlength=self.n_dp)
        g_b = np.bincount(self.cd, weights=b_c * (s1 * d1_b + s2 * d2_b), minlength=self.n_dp)
        return ll, {"r": r * dr, "alpha0": g_alpha, "a0": g_a, "b0": g_b}


class ParetoNbdCovariates(CovariateLikelihood):
    """Pareto/NBD likelihood (as `models.paretonbd.ParetoNbdLikelihood`, 48-point Gauss-Legendre quadrature) with α_i and β_i."""

    base_names = ("r", "alpha0", "s", "beta0")
    process_specs = (("purchase", "alpha0", -1.0, "purchase"), ("dropout", "beta0", -1.0, "dropout"))

    def __init__(self, frequency, recency, T, purchase_covariates: pd.DataFrame, dropout_covariates: pd.DataFrame,
                 **kwds):
        super().__init__({"x": frequency, "t_x": recency, "T": T},
                         {"purchase": purchase_covariates, "dropout": dropout_covariates}, **kwds)
        pareto_quadrature_setup(self, self.rows.columns)
        self.pp, self.dp = self.processes[0].index, self.processes[1].index

    def default_start(self):
        return pareto_default_start(self)

    def _pieces(self, base, thetas):
        """What the log-likelihood and its gradient share, per row (n) and quadrature node (48): α + τ, β + τ,
        their logarithms, the 49 terms summed in log space and that sum. Written into preallocated
        arrays in the order of the formulas (the same numbers as evaluating them directly, with fewer
        passes over n × 48 memory: this is the cost of every evaluation)."""
        r, _, s, _ = base
        alpha = thetas["alpha0"][self.pp][:, None]
        beta = thetas["beta0"][self.dp][:, None]
        rx = (r + self.x)[:, None]
        alpha_tau, beta_tau = alpha + self.tau, beta + self.tau
        log_alpha_tau, log_beta_tau = np.log(alpha_tau), np.log(beta_tau)
        parts = np.empty((self.tau.shape[0], self.tau.shape[1] + 1))
        parts[:, :1] = -rx * np.log(alpha + self.T[:, None]) - s * np.log(beta + self.T[:, None])
        log_dropout = parts[:, 1:]            # log q_k + log s - (s + 1) log(β + τ) - (r + x) log(α + τ)
        scratch = np.empty_like(log_beta_tau)
        np.add(self.log_quad_weight, np.log(s), out=log_dropout)
        np.subtract(log_dropout, np.multiply(s + 1, log_beta_tau, out=scratch), out=log_dropout)
        np.subtract(log_dropout, np.multiply(rx, log_alpha_tau, out=scratch), out=log_dropout)
        log_sum = logsumexp_rows(parts)
        const = ((special.gammaln(r + self.ux) - special.gammaln(r))[self.ix]
                 + r * np.log(alpha[:, 0]) + s * np.log(beta[:, 0]))
        return const, parts, log_sum, log_alpha_tau, log_beta_tau, alpha_tau, beta_tau, scratch

    def _terms(self, base, thetas):
        return self._pieces(base, thetas)[:5]

    def _row_loglike(self, base, thetas):
        const, _, log_sum, _, _ = self._terms(base, thetas)
        return const + log_sum

    def _loglike_and_gradient(self, base, thetas):
        r, _, s, _ = base
        const, parts, log_sum, log_alpha_tau, log_beta_tau, alpha_tau, beta_tau, tmp = self._pieces(base, thetas)
        w = self.weights
        ll = weighted_sum(w, const + log_sum)
        share = np.exp(np.subtract(parts, log_sum[:, None], out=parts), out=parts)
        alive, drop = share[:, 0], share[:, 1:]
        alpha = thetas["alpha0"][self.pp]
        beta = thetas["beta0"][self.dp]
        rx = r + self.x
        log_alpha_T, log_beta_T = np.log(alpha + self.T), np.log(beta + self.T)
        # each Σ_k below is a row sum of a contiguous n × 48 product, as in the direct formulas
        sum_drop_log_alpha = np.multiply(drop, log_alpha_tau, out=tmp).sum(1)
        dr = ((special.digamma(r + self.ux) - special.digamma(r)) @ self.weight_by_x
              + weighted_sum(w, np.log(alpha) - alive * log_alpha_T - sum_drop_log_alpha))
        sum_drop_over_alpha = np.divide(drop, alpha_tau, out=tmp).sum(1)
        row_alpha = w * (r - rx * alpha * (alive / (alpha + self.T) + sum_drop_over_alpha))
        sum_drop_log_beta = np.multiply(drop, np.subtract(log_beta_tau, 1.0 / s, out=tmp), out=tmp).sum(1)
        ds = weighted_sum(w, np.log(beta) - alive * log_beta_T - sum_drop_log_beta)
        sum_drop_over_beta = np.divide(np.multiply(drop, s + 1, out=tmp), beta_tau, out=tmp).sum(1)
        row_beta = w * (s - beta * (alive * s / (beta + self.T) + sum_drop_over_beta))
        return ll, {"r": r * dr, "s": s * ds,
                    "alpha0": np.bincount(self.pp, weights=row_alpha, minlength=self.processes[0].n_patterns),
                    "beta0": np.bincount(self.dp, weights=row_beta, minlength=self.processes[1].n_patterns)}


class GammaGammaCovariates(CovariateLikelihood):
    """Gamma-Gamma spend (Fader, Hardie & Lee 2005, JMR) with γ_i = γ0·exp(δ′v_i), rows (x, m_x), x ≥ 1."""

    base_names = ("p", "q", "gamma0")
    process_specs = (("spend", "gamma0", 1.0, "spend"),)

    def __init__(self, frequency, monetary_value, spend_covariates: pd.DataFrame, **kwds):
        super().__init__({"x": frequency, "m": monetary_value}, {"spend": spend_covariates}, **kwds)
        self.x, self.m = self.rows.columns["x"], self.rows.columns["m"]
        self.log_m, self.log_x = np.log(self.m), np.log(self.x)
        self.sp = self.processes[0].index

    def default_start(self):
        return np.array([1.0, 2.0, np.average(self.m, weights=self.weights)])

    def _row_loglike(self, base, thetas):
        p, q, _ = base
        gamma = thetas["gamma0"][self.sp]
        px = p * self.x
        return (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(gamma)
                + (px - 1) * self.log_m + px * self.log_x - (px + q) * np.log(gamma + self.m * self.x))

    def _loglike_and_gradient(self, base, thetas):
        p, q, _ = base
        w, x = self.weights, self.x
        gamma = thetas["gamma0"][self.sp]
        px = p * x
        log_den = np.log(gamma + self.m * x)
        psi_pxq = special.digamma(px + q)
        ll = weighted_sum(w, self._row_loglike(base, thetas))
        dp = weighted_sum(w, x * (psi_pxq - special.digamma(px) + self.log_m + self.log_x - log_den))
        dq = weighted_sum(w, psi_pxq - special.digamma(q) + np.log(gamma) - log_den)
        row_gamma = w * (q - (px + q) * gamma / (gamma + self.m * x))
        return ll, {"p": p * dp, "q": q * dq,
                    "gamma0": np.bincount(self.sp, weights=row_gamma, minlength=self.processes[0].n_patterns)}


