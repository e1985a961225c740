"""A hidden Markov model for panels of many customers (Netzer, Lattin & Srinivasan 2008).

    model = HiddenMarkovModel(3, {"purchased": "binary", "spend": "lognormal"},
                              transition_covariates=["contacts"])
    fit = model.fit(panel, id="customer", period="month")
    fit.summary(); fit.transition_matrix(); fit.posterior(panel); fit.viterbi(panel)

A customer moves between `n_states` unobserved states from period to period; given the state, the
responses of a period are independent draws from the state's distributions (models/hmm_responses.py).
The initial probabilities and each row of the transition matrix are multinomial logits on covariates
(the initial ones: against the first state; a transition: against staying), which may change over
time; an `absorbing` last state is never left (churn), and `ordered` states move only to neighbours.

Estimation (the design of depmixS4, Visser & Speekenbrink 2010, with its direct-maximisation check):
1. EM from several deterministic starting points, on the model without covariate effects (closed-form
   or small M-steps on posterior-weighted sufficient statistics), states labelled by activity; the
   two best after a few iterations continue (on a small panel every distinct start continues: the
   balance data's four latent classes have local maxima a short run cannot tell apart);
2. a direct maximum-likelihood polish of the full model (L-BFGS preconditioned by the outer product
   of the customers' scores, then Newton steps) from each distinct EM optimum, with the exact
   gradient from the same forward-backward pass (Fisher's identity);
3. standard errors from the Hessian, central differences of that gradient. An initial or transition
   logit whose boundary (a probability of 0) lies inside its likelihood-ratio interval is reported as
   at the boundary with that interval; parameter draws hold it at its estimate (the others drawn
   given it), and where the Hessian with it is not negative definite it is left out of the inversion.
For many customers, `bhhh` refines a subsample's estimates with one pass per step (bench/bench_hmm.py).
The forward-backward pass is scaled, state-major (K, periods, customers) so the recursion over time
works on contiguous vectors of customers, chunked, and loops only over time; identical histories
are collapsed to one row with a weight. A fit that cannot be made (an empty state, a non-finite
likelihood) is a `FailedFit`, never an exception.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.stats import chi2

from .. import config
from ..stats import z_value
from .base import FailedFit, ModelResults, results_summary
from .hmm_panel import Panel, collapse_panel, panel_from_long
from .hmm_responses import Categorical, log_softmax, make_family, sample

LOGIT_CLIP = 50.0
SHORT_EM = 20            # EM iterations from every start before the two best continue
SMALL_PANEL = 50_000     # customer-periods up to which every distinct start continues (see `_em_starts`)
START_SEED = 22           # seeded moves of repeated starting points (see `starting_points`)
START_SPREAD = 1.5        # their standard deviation on the estimation scale
POLISH_FTOL = 1e-14       # L-BFGS stops here (the Hessian for the standard errors is taken at its end)
BOUNDARY_CANDIDATE = 3.0  # |initial or transition logit| above which `boundary_parameters` checks the boundary
LOGIT_BOUND = 15.0       # a logit beyond this is a probability at the boundary (0 or 1 to ~3e-7)


def masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the last axis with disallowed entries set to probability 0. Logits are against
    staying (the diagonal is 0), so they are clipped to ±LOGIT_CLIP instead of shifted by their
    maximum (a probability below e^-50 is zero for every purpose here), which halves the cost on
    the (customers, periods, K, K) arrays of time-varying covariates."""
    e = np.exp(np.clip(logits, -LOGIT_CLIP, LOGIT_CLIP))
    if not allowed.all():
        e *= allowed
    e /= e.sum(axis=-1, keepdims=True)
    return e



def transition_arrays(C: np.ndarray, X: np.ndarray, allowed: np.ndarray, x_bound: np.ndarray | None = None) -> np.ndarray:
    """Transition probabilities of every customer-period at once, state-major: covariates X (q, T, n),
    the first row the constant, -> (K, K, T, n), entry [r, j, t, i] = P(state j at t + 1 | state r at
    t) for customer i. The logits (against staying, so the diagonal is 0) are built move by move
    with in-place multiply-adds (faster than a matrix product with an inner dimension of q) and
    clipped to ±LOGIT_CLIP as in `masked_softmax` only when `x_bound` (max |X| per row) says they
    could reach it."""
    K, q = C.shape[0], C.shape[2]
    shape = X.shape[1:]
    X = X.reshape(q, -1)
    e = np.zeros((K, K, X.shape[1]))
    for r in range(K):
        for j in range(K):
            if r == j or not allowed[r, j]:
                continue
            o = e[r, j]
            o.fill(C[r, j, 0])
            for a in range(1, q):
                if C[r, j, a] != 0:
                    o += C[r, j, a] * X[a]
    bound = np.abs(C[:, :, 0]) + (np.abs(C[:, :, 1:]) @ x_bound[1:] if x_bound is not None and q > 1 else np.inf)
    if np.max(bound) > LOGIT_CLIP:
        np.clip(e, -LOGIT_CLIP, LOGIT_CLIP, out=e)
    np.exp(e, out=e)
    if not allowed.all():
        e *= allowed[:, :, None]
    e /= e.sum(axis=1, keepdims=True)
    return e.reshape((K, K) + shape)


def propagate(v: np.ndarray, P: np.ndarray, out: np.ndarray, tmp: np.ndarray, transpose: bool) -> None:
    """One step of the recursion for every customer: out[j] = Σ_k v[k] P[k, j] (forward,
    `transpose`) or out[k] = Σ_j P[k, j] v[j] (backward), with v and out (K, n) and P (K, K, n); K²
    in-place multiply-adds on contiguous vectors of customers."""
    K = v.shape[0]
    for a in range(K):
        pa = P[:, a] if transpose else P[a]
        np.multiply(v[0], pa[0], out=out[a])
        for b in range(1, K):
            np.multiply(v[b], pa[b], out=tmp)
            out[a] += tmp

@dataclass
class HMMData:
    """A panel prepared for one model: features of every response and the constant of the density."""

    panel: Panel
    features: np.ndarray          # (rows, T, F)
    constant: np.ndarray          # (rows,) Σ_t c(y)
    active: np.ndarray            # (rows, T) period inside the customer's sequence

    blocks_cache: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def weights(self) -> np.ndarray:
        return self.panel.weights if self.panel.weights is not None else np.ones(self.panel.n_rows)

    def blocks(self, chunk: int) -> list[dict]:
        """The arrays of the forward-backward pass per chunk of customers, state-major and contiguous
        (features (F, T·n), transition covariates (q, T-1, n), weights of the transitions inside
        each sequence (T-1, n)), made once per chunk size and kept."""
        if chunk not in self.blocks_cache:
            panel, T, w = self.panel, self.panel.T, self.weights
            x_bound = np.max(np.abs(panel.transition), axis=(0, 1)) if panel.n_rows else np.zeros(1)
            out = []
            for a in range(0, panel.n_rows, chunk):
                sl = slice(a, min(panel.n_rows, a + chunk))
                F = self.features[sl]
                n = F.shape[0]
                out.append({"sl": sl, "w": w[sl], "x0": panel.initial[sl], "constant": self.constant[sl],
                            "FT": np.ascontiguousarray(F.transpose(2, 1, 0)).reshape(F.shape[2], T * n),
                            "X": np.ascontiguousarray(panel.transition[sl, :T - 1].transpose(2, 1, 0)),
                            "wt": np.ascontiguousarray((w[sl] * self.active[sl, 1:].T)), "x_bound": x_bound})
            self.blocks_cache.clear()
            self.blocks_cache[chunk] = out
        return self.blocks_cache[chunk]


class HiddenMarkovModel:
    """Specification of a hidden Markov model for customer panels; `fit(data, id=, period=)` returns
    `HMMResults` or a `FailedFit`. `responses`: name -> type ('binary', 'poisson', 'gaussian',
    'lognormal', 'gamma', 'categorical', 'ordinal') or {'type': ..., 'levels': [...]}."""

    def __init__(self, n_states: int, responses: dict, initial_covariates=(), transition_covariates=(),
                 absorbing: bool = False, ordered: bool = False, n_starts: int = config.HMM_STARTS,
                 em_max_iter: int = config.HMM_EM_MAX_ITER, em_tol: float = config.HMM_EM_TOL,
                 chunk: int = config.HMM_CHUNK_CUSTOMERS, standard_errors: bool = True, collapse: bool = True):
        if n_states < 1:
            raise ValueError("n_states: at least 1")
        if not responses:
            raise ValueError("responses: at least one")
        self.K = int(n_states)
        self.response_specs = dict(responses)
        self.initial_covariates = tuple(initial_covariates)
        self.transition_covariates = tuple(transition_covariates)
        self.absorbing, self.ordered = bool(absorbing), bool(ordered)
        self.n_starts, self.em_max_iter, self.em_tol = int(n_starts), int(em_max_iter), float(em_tol)
        self.chunk, self.standard_errors, self.collapse = int(chunk), bool(standard_errors), bool(collapse)
        self.families = {name: make_family(spec, self.K) for name, spec in self.response_specs.items()}
        K = self.K
        allowed = np.ones((K, K), bool)
        if self.ordered:
            allowed = np.abs(np.subtract.outer(np.arange(K), np.arange(K))) <= 1
        if self.absorbing and K > 1:
            allowed[K - 1] = False
            allowed[K - 1, K - 1] = True
        self.allowed = allowed
        self.all_moves = [(r, j) for r in range(K) for j in range(K) if allowed[r, j] and r != j]
        self.moves = list(self.all_moves)

    @property
    def name(self) -> str:
        return f"HMM ({self.K} state{'s' if self.K != 1 else ''})"

    def __repr__(self) -> str:
        return (f"HiddenMarkovModel({self.K}, {self.response_specs!r}, initial_covariates={list(self.initial_covariates)}, "
                f"transition_covariates={list(self.transition_covariates)}, absorbing={self.absorbing}, "
                f"ordered={self.ordered})")

    # ------------------------------------------------------------------ parameters

    @property
    def q0(self) -> int:
        return 1 + len(self.initial_covariates)

    @property
    def q1(self) -> int:
        return 1 + len(self.transition_covariates)

    def param_names(self) -> list[str]:
        x0 = ("const", *self.initial_covariates)
        x1 = ("const", *self.transition_covariates)
        names = [f"initial[S{k + 1}]:{c}" for k in range(1, self.K) for c in x0]
        names += [f"transition[S{r + 1}->S{j + 1}]:{c}" for r, j in self.moves for c in x1]
        for name, fam in self.families.items():
            names += [f"{name}{suffix}" for suffix in fam.names()]
        return names

    def sizes(self) -> list[int]:
        return ([(self.K - 1) * self.q0, len(self.moves) * self.q1]
                + [fam.n_params for fam in self.families.values()])

    def unpack(self, theta):
        theta = np.asarray(theta, dtype=float)
        parts = np.split(theta, np.cumsum(self.sizes())[:-1])
        B = np.vstack([np.zeros((1, self.q0)), parts[0].reshape(self.K - 1, self.q0)])
        C = np.zeros((self.K, self.K, self.q1))
        if self.moves:
            r, j = np.array(self.moves).T
            C[r, j] = parts[1].reshape(len(self.moves), self.q1)
        return B, C, dict(zip(self.families, parts[2:]))

    def pack(self, B, C, emissions: dict) -> np.ndarray:
        moves = np.array(self.moves, dtype=int).reshape(-1, 2)
        trans = C[moves[:, 0], moves[:, 1]].ravel() if self.moves else np.zeros(0)
        return np.concatenate([np.asarray(B)[1:].ravel(), trans]
                              + [np.asarray(emissions[n], float) for n in self.families])

    def parameters_from(self, initial, transition, responses: dict) -> np.ndarray:
        """The parameter vector of given probabilities (no covariate effects) and response parameters
        given on the estimation scale per family (e.g. {'rt': [means..., log sds...]})."""
        logp = np.log(np.maximum(np.asarray(initial, float), 1e-300))        # a zero stays ~1e-300
        logt = np.log(np.maximum(np.asarray(transition, float), 1e-300))
        B = np.zeros((self.K, self.q0))
        B[:, 0] = logp - logp[0]
        C = np.zeros((self.K, self.K, self.q1))
        C[:, :, 0] = logt - np.diag(logt)[:, None]
        return self.pack(B, C, responses)

    def permute(self, theta, perm) -> np.ndarray:
        B, C, em = self.unpack(theta)
        B = B[perm] - B[perm[0]]
        C = C[np.ix_(perm, perm)]
        return self.pack(B, C, {n: fam.permute(em[n], perm) for n, fam in self.families.items()})

    def order_states(self, theta) -> np.ndarray:
        """States relabelled by increasing level of the first response (absorbing state kept last;
        ordered states keep their order), so fits are comparable across starts and runs."""
        if self.ordered or self.K == 1:
            return theta
        name, fam = next(iter(self.families.items()))
        level = fam.level(self.unpack(theta)[2][name])
        free = self.K - 1 if self.absorbing else self.K
        perm = np.concatenate([np.argsort(level[:free], kind="stable"), np.arange(free, self.K)])
        return self.permute(theta, perm)

    # ------------------------------------------------------------------ data

    def panel(self, data, id: str, period: str, codes: dict | None = None) -> Panel:
        return panel_from_long(data, id, period, list(self.families), self.initial_covariates,
                               self.transition_covariates, codes)

    def prepare(self, data, id: str = "id", period: str = "period", codes: dict | None = None,
                setup: bool = True, collapse: bool | None = None) -> HMMData:
        """Long rows (or a `Panel`) -> arrays for the forward-backward pass."""
        panel = data if isinstance(data, Panel) else self.panel(data, id, period, codes)
        if setup:
            for name, fam in self.families.items():
                fam.setup(panel.responses[name])
            # One period per customer: a latent-class (mixture) model, with no transitions to estimate.
            self.moves = [] if panel.T == 1 else list(self.all_moves)
        if self.collapse if collapse is None else collapse:
            panel = collapse_panel(panel)
        feats, const = [], np.zeros(panel.n_rows)
        for name, fam in self.families.items():
            y = panel.responses[name]
            feats.append(fam.features(y))
            const += fam.constant(y).sum(axis=1)
        active = np.arange(panel.T)[None, :] < panel.length[:, None]
        return HMMData(panel, np.concatenate(feats, axis=-1), const, active)

    def eta_matrix(self, emissions: dict) -> np.ndarray:
        return np.concatenate([np.real(fam.eta(emissions[n])) for n, fam in self.families.items()], axis=0)

    def feature_slices(self) -> dict:
        out, at = {}, 0
        for name, fam in self.families.items():
            width = fam.eta(fam.default_theta()).shape[0]
            out[name] = slice(at, at + width)
            at += width
        return out

    # ------------------------------------------------------------------ the forward-backward pass

    def _chunks(self, n):
        for a in range(0, n, self.chunk):
            yield slice(a, min(n, a + self.chunk))

    def _transitions(self, C, x1):
        """Transition matrices: (K, K) without covariates, else (n, T, K, K)."""
        if self.q1 == 1:
            return masked_softmax(C[:, :, 0], self.allowed)
        return masked_softmax(np.einsum("ntq,rjq->ntrj", x1, C), self.allowed)

    def forward_backward(self, theta, data: HMMData, gradient: bool = True, posterior: bool = False,
                         em: bool = False, scores: bool = False):
        """Log-likelihood and, optionally, its gradient, the EM statistics and the posteriors.

        Returns a dict: 'll'; with gradient: 'grad', 'stats' (K, F), 'initial' (K,), 'xi' (K, K);
        with em: 'gamma0' (rows, K) and 'h_trans'; with posterior: 'gamma' (rows, T, K) and
        'll_rows' (rows,); with scores: 'scores' (rows, parameters), each row's score times its
        weight (they sum to 'grad'; their weighted outer products give the OPG information).

        Arrays are state-major, (K, T, customers), so that the recursion over periods works on
        contiguous vectors of customers (K² multiply-adds per period, no per-customer matrix
        products); everything that does not need the recursion — the expected transitions, the
        score of the transition logits, the EM statistics — is computed after it in a few
        products over all periods at once."""
        B, C, em_theta = self.unpack(theta)
        H = self.eta_matrix(em_theta)
        K, T, q = self.K, data.panel.T, self.q1
        homogeneous = q == 1
        out = {"ll": 0.0}
        rows = data.panel.n_rows
        if gradient:
            stats = np.zeros((K, H.shape[0]))
            g_init = np.zeros((K, self.q0))
            g_trans = np.zeros((K, K, q))
            xi_sum = np.zeros((K, K))
            gamma_from = np.zeros(K)
            init_sum = np.zeros(K)
        if em:
            out["gamma0"] = np.empty((rows, K))
            h_trans = np.zeros((K, K, K, q, q))
            pairs = [(r, j, l) for r, j in self.moves for r2, l in self.moves if r2 == r]
        if posterior:
            out["gamma"] = np.empty((rows, T, K))
            out["ll_rows"] = np.empty(rows)
        if scores:
            gradient = True
            out["scores"] = np.empty((rows, len(self.param_names())))
            moves = np.array(self.moves, dtype=int).reshape(-1, 2)
            slices = self.feature_slices()
            jac = [(slices[name], fam.jacobian(em_theta[name])) for name, fam in self.families.items()]
        if homogeneous:
            P = masked_softmax(C[:, :, 0], self.allowed)
        for blk in data.blocks(self.chunk):
            sl, w, FT = blk["sl"], blk["w"], blk["FT"]
            n = w.size
            logE = (H.T @ FT).reshape(K, T, n)
            shift = logE.max(axis=0)
            logE -= shift
            E = np.exp(logE, out=logE)
            pi = np.exp(log_softmax(blk["x0"] @ B.T)).T                                     # (K, n)
            if not homogeneous:
                X = blk["X"]                                                                # (q, T-1, n)
                PT = transition_arrays(C, X, self.allowed, blk["x_bound"])                  # (K, K, T-1, n)
            alpha = np.empty((K, T, n))
            c = np.empty((T, n))
            a = pi * E[:, 0]
            np.sum(a, axis=0, out=c[0])
            np.divide(a, c[0], out=alpha[:, 0])
            tmp = np.empty(n)
            for t in range(1, T):
                at = alpha[:, t]
                if homogeneous:
                    np.matmul(P.T, alpha[:, t - 1], out=at)
                else:
                    propagate(alpha[:, t - 1], PT[:, :, t - 1], at, tmp, transpose=True)
                at *= E[:, t]
                np.sum(at, axis=0, out=c[t])
                at /= c[t]
            with np.errstate(divide="ignore"):
                ll_rows = np.log(c).sum(axis=0) + shift.sum(axis=0) + blk["constant"]
            out["ll"] += float(np.dot(w, ll_rows))
            if not (gradient or posterior):
                continue
            beta = np.empty((K, T, n))
            bb = np.empty((K, T, n))          # E β / c: the backward message into period t
            beta[:, T - 1] = 1.0
            for t in range(T - 2, -1, -1):
                np.multiply(E[:, t + 1], beta[:, t + 1], out=bb[:, t + 1])
                bb[:, t + 1] /= c[t + 1]
                if homogeneous:
                    np.matmul(P, bb[:, t + 1], out=beta[:, t])
                else:
                    propagate(bb[:, t + 1], PT[:, :, t], beta[:, t], tmp, transpose=False)
            gamma = alpha * beta
            if scores:
                row_scores = []
                if self.q0 and K > 1:
                    d0 = (gamma[:, 0] - pi) * w
                    row_scores.append((d0[1:, :, None] * blk["x0"][None]).transpose(1, 0, 2).reshape(n, -1))
                row_trans = np.zeros((n, len(self.moves) * q))
            if gradient and T > 1:
                wt = blk["wt"]                                   # (T-1, n): transitions inside the sequence
                M = (T - 1) * n
                A = (alpha[:, :T - 1] * wt).reshape(K, M)
                Bn = bb[:, 1:].reshape(K, M)
                Gw = (gamma[:, :T - 1] * wt).reshape(K, M)
                gamma_from += Gw.sum(axis=1)
                if homogeneous:
                    xi_sum += P * (A @ Bn.T)
                    if scores:
                        for m, (r, j) in enumerate(self.moves):
                            row_trans[:, m] = P[r, j] * ((A[r] * Bn[j]).reshape(T - 1, n).sum(axis=0)
                                                         - Gw[r].reshape(T - 1, n).sum(axis=0))
                else:
                    PM = PT.reshape(K, K, M)
                    xi = A[:, None, :] * PM * Bn[None, :, :]                       # (K, K, M), weighted
                    xi_sum += xi.sum(axis=2)
                    xi -= Gw[:, None, :] * PM
                    g_trans += (xi.reshape(K * K, M) @ X.reshape(q, M).T).reshape(K, K, q)
                    if scores:
                        XM = X.reshape(q, M)
                        for m, (r, j) in enumerate(self.moves):
                            for a in range(q):
                                row_trans[:, m * q + a] = (xi[r, j] * XM[a]).reshape(T - 1, n).sum(axis=0)
                    if em and pairs:     # Hessian of the expected complete-data log-likelihood in C
                        XX = (X[:, None] * X[None, :]).reshape(q * q, M)
                        WP = Gw[:, None, :] * PM
                        for r, j, l in pairs:
                            u = WP[r, j] * PM[r, l]
                            if j == l:
                                u -= WP[r, j]
                            h_trans[r, j, l] += (XX @ u).reshape(q, q)
            if gradient:
                stats += (gamma * w).reshape(K, T * n) @ FT.T
                g_init += ((gamma[:, 0] - pi) * w) @ blk["x0"]
                init_sum += gamma[:, 0] @ w
                if em:
                    out["gamma0"][sl] = gamma[:, 0].T
            if scores:
                row_scores.append(row_trans)
                Fn = FT.reshape(-1, T, n)
                gw = gamma * w
                for fs, D in jac:
                    S = np.einsum("ktn,ftn->nfk", gw, Fn[fs])
                    row_scores.append(S.reshape(n, -1) @ D.reshape(D.shape[0], -1).T)
                out["scores"][sl] = np.concatenate(row_scores, axis=1)
            if posterior:
                out["gamma"][sl] = gamma.transpose(2, 1, 0)
                out["ll_rows"][sl] = ll_rows
        if gradient:
            if homogeneous:
                g_trans[:, :, 0] = xi_sum - gamma_from[:, None] * P
            grad_em = []
            slices = self.feature_slices()
            for name, fam in self.families.items():
                grad_em.append(fam.gradient(em_theta[name], stats[:, slices[name]]))
            moves = np.array(self.moves, dtype=int).reshape(-1, 2)
            out["grad"] = np.concatenate([g_init[1:].ravel(), g_trans[moves[:, 0], moves[:, 1]].ravel()] + grad_em)
            out.update(stats=stats, initial=init_sum, xi=xi_sum, g_trans=g_trans)
            if em:
                out["h_trans"] = h_trans
        return out

    def loglike(self, theta, data: HMMData) -> float:
        return self.forward_backward(theta, data, gradient=False)["ll"]

    def score(self, theta, data: HMMData) -> np.ndarray:
        return self.forward_backward(theta, data)["grad"]

    def hessian(self, theta, data: HMMData) -> np.ndarray:
        """Central differences of the exact gradient (2 passes per parameter)."""
        theta = np.asarray(theta, float)
        H = np.empty((theta.size, theta.size))
        for j in range(theta.size):
            h = 1e-5 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            H[:, j] = (self.score(up, data) - self.score(down, data)) / (2 * h)
        return (H + H.T) / 2

    # ------------------------------------------------------------------ EM

    def _mstep(self, theta, out, data: HMMData) -> np.ndarray:
        """EM update: closed form or small M-steps on the posterior-weighted statistics; with
        covariates, the initial logits by a weighted multinomial logit on the first-period posteriors
        and the transition logits by one Newton step on the expected log-likelihood (ECM/EM1)."""
        B, C, em = self.unpack(theta)
        B0, C0 = B.copy(), C.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            pi = np.maximum(out["initial"] / out["initial"].sum(), 1e-12)
            B[:, 0] = np.clip(np.log(pi) - np.log(pi[0]), -LOGIT_BOUND, LOGIT_BOUND)
            rows = out["xi"].sum(axis=1, keepdims=True)
            P = np.where(rows > 0, out["xi"] / np.where(rows > 0, rows, 1), np.eye(self.K))
            P = np.where(self.allowed, np.maximum(P, 1e-12), 0)
            logP = np.log(np.where(self.allowed, P, 1))
            C[:, :, 0] = np.where(self.allowed, np.clip(logP - np.diag(logP)[:, None], -LOGIT_BOUND, LOGIT_BOUND), 0)
        if self.q0 > 1 and self.K > 1:
            B = initial_logit_mstep(B0, out["gamma0"], data.weights, data.panel.initial, steps=5)
        if self.q1 > 1 and self.moves:
            C = transition_newton_step(C0, out["g_trans"], out["h_trans"], self.moves)
        slices = self.feature_slices()
        new_em = {name: fam.mstep(out["stats"][:, slices[name]]) for name, fam in self.families.items()}
        return self.pack(B, C, new_em)

    def em(self, theta, data: HMMData, max_iter: int | None = None):
        """EM iterations from θ; returns (θ, log-likelihood, iterations)."""
        max_iter = self.em_max_iter if max_iter is None else max_iter
        ll_old, it = -np.inf, 0
        for it in range(1, max_iter + 1):
            out = self.forward_backward(theta, data, em=True)
            ll = out["ll"]
            if not np.isfinite(ll):
                break
            if abs(ll - ll_old) <= self.em_tol * (1 + abs(ll)):
                break
            ll_old = ll
            theta = self._mstep(theta, out, data)
        return theta, ll_old if np.isfinite(ll_old) else ll, it

    def starting_points(self, data: HMMData) -> list[np.ndarray]:
        """Deterministic starts: periods (or customers) ranked by a standardised activity score —
        all responses together, then each alone — and cut into K groups; the groups give the
        response parameters, the chain starts sticky (0.8 of staying) and uniform."""
        panel, w = data.panel, data.weights
        scores = []
        for name, fam in self.families.items():
            v = fam.score_value(panel.responses[name])
            wt = np.broadcast_to(w[:, None], v.shape)
            ok = np.isfinite(v)
            if not ok.any():
                continue
            mean = np.average(v[ok], weights=wt[ok])
            sd = np.sqrt(np.average((v[ok] - mean) ** 2, weights=wt[ok])) or 1.0
            scores.append((v - mean) / sd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # a period with no response observed has no score
            combos = [np.nanmean(np.stack(scores), axis=0) if len(scores) > 1 else scores[0]]
        combos += scores if len(scores) > 1 else []
        starts = []
        K = self.K
        for s in range(self.n_starts):
            base = combos[(s // 2) % len(combos)]
            if s % 2 == 1:     # the customer's average score, repeated over their periods
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cust = np.nanmean(base, axis=1)
                base = np.where(np.isfinite(base), cust[:, None], np.nan)
            offset = (s // (2 * len(combos))) * 0.5 / max(K, 1)
            ok = np.isfinite(base)
            flat = base[ok]
            wt = np.broadcast_to(w[:, None], base.shape)[ok]
            order = np.argsort(flat, kind="stable")
            cum = np.cumsum(wt[order]) / wt.sum()
            group = np.empty(flat.size, int)
            group[order] = np.minimum(((cum - 1e-12) * K + offset).astype(int), K - 1)
            onehot = np.zeros(base.shape + (K,))
            onehot[ok] = np.eye(K)[group]
            onehot[~ok] = 1.0 / K
            stats = np.einsum("ntk,ntf->kf", onehot * w[:, None, None], data.features)
            stats += 1e-3 * stats.sum(axis=0, keepdims=True) / K        # no empty state at the start
            slices = self.feature_slices()
            em = {name: fam.mstep(stats[:, slices[name]]) for name, fam in self.families.items()}
            B = np.zeros((K, self.q0))
            C = np.zeros((K, K, self.q1))
            if K > 1:
                C[:, :, 0] = np.where(self.allowed, np.log(0.2 / max(self.allowed.sum(axis=1).max() - 1, 1) / 0.8), 0)
            starts.append(self.pack(B, C, em))
        # A start equal to an earlier one (one period per customer makes the customer-average
        # variant the same as the period one) is replaced by the first start with its response
        # parameters moved by seeded normal draws: as many distinct starts as asked for, the same
        # every run.
        rng = np.random.default_rng(START_SEED)
        n_trans = sum(self.sizes()[:2])
        for s in range(1, len(starts)):
            if any(np.allclose(starts[s], starts[r]) for r in range(s)):
                moved = starts[0].copy()
                moved[n_trans:] += rng.normal(0.0, START_SPREAD, moved.size - n_trans)
                starts[s] = moved
        return starts

    # ------------------------------------------------------------------ direct maximisation

    def information(self, theta, data: HMMData):
        """Outer product of the customers' scores (the OPG / BHHH information) at θ, from one pass;
        returns (information, pass output)."""
        out = self.forward_backward(theta, data, scores=True)
        S = out["scores"]
        return (S / data.weights[:, None]).T @ S, out

    def polish(self, theta, data: HMMData, maxiter: int = 600):
        """L-BFGS on the full model with the exact gradient, scaled per customer and preconditioned
        by the OPG information at the start (θ = θ0 + L^-T u with L Lᵀ the information, floored at
        1e-6 of its largest eigenvalue): in u the curvature is near the identity, so L-BFGS needs
        tens of iterations instead of hundreds."""
        n = data.weights.sum()
        theta = np.asarray(theta, float)
        info, _ = self.information(theta, data)
        vals, vecs = np.linalg.eigh(info / n)
        if not np.all(np.isfinite(vals)) or vals.max(initial=0) <= 0:
            scale = np.eye(theta.size)
        else:
            scale = vecs / np.sqrt(np.maximum(vals, 1e-6 * vals.max()))     # θ = θ0 + scale @ u

        def objective(u):
            out = self.forward_backward(theta + scale @ u, data)
            if not np.isfinite(out["ll"]):
                return np.inf, np.zeros_like(u)
            return -out["ll"] / n, -(scale.T @ out["grad"]) / n

        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = optimize.minimize(objective, np.zeros_like(theta), jac=True, method="L-BFGS-B",
                                    options={"maxiter": maxiter, "maxcor": 30, "ftol": POLISH_FTOL, "gtol": 1e-8})
        return theta + scale @ res.x, -res.fun * n, res

    def bhhh(self, theta, data: HMMData, max_steps: int = 8, tol: float = 1e-2, log=None):
        """Newton steps with the OPG information in place of the Hessian (Berndt, Hall, Hall &
        Hausman 1974) — one pass with the customers' scores per step, step halving until the
        likelihood rises — for refining a subsample's estimates on many customers, where the OPG
        is an accurate Hessian and a difference Hessian would cost two passes per parameter.
        Parameters at a boundary (|θ| ≥ LOGIT_BOUND) stay where they are. Stops when the next step
        would raise the log-likelihood by less than `tol` (half the Newton decrement gᵀI⁻¹g).
        Returns (θ, log-likelihood, information); `log(step, ll, largest move)` is called after
        every step."""
        theta = np.asarray(theta, float)
        info, out = self.information(theta, data)
        ll = out["ll"]
        for step_no in range(1, max_steps + 1):
            free = np.abs(theta) < LOGIT_BOUND
            move = np.zeros_like(theta)
            move[free] = np.linalg.lstsq(info[np.ix_(free, free)], out["grad"][free], rcond=1e-12)[0]
            if 0.5 * float(out["grad"] @ move) < tol:
                break
            move *= min(1.0, 1.0 / max(np.max(np.abs(move)), 1e-300))          # at most 1 per step
            for _ in range(6):          # the pass at the trial point gives the next step's scores too
                trial = self.information(theta + move, data)
                if trial[1]["ll"] > ll:
                    break
                move /= 2
            if not trial[1]["ll"] > ll:
                break
            theta = theta + move
            info, out = trial
            ll = out["ll"]
            if log is not None:
                log(step_no, ll, float(np.max(np.abs(move))))
        return theta, ll, info

    def newton(self, theta, data: HMMData, steps: int = 2):
        """Newton steps with one difference Hessian of the exact gradient, to settle the polish
        (the Hessian barely changes over steps this small); returns (θ, Hessian, last step size)."""
        H = self.hessian(theta, data)
        free = np.abs(theta) < LOGIT_BOUND
        Hf = H[np.ix_(free, free)]
        last = np.inf
        if not np.all(np.isfinite(Hf)) or Hf.size == 0 or np.max(np.linalg.eigvalsh(Hf)) >= 0:
            return theta, H, last
        ll = self.loglike(theta, data)
        for _ in range(steps):
            step = np.zeros_like(theta)
            step[free] = np.linalg.solve(-Hf, self.score(theta, data)[free])
            if np.max(np.abs(step)) > 0.1:
                break
            new_ll = self.loglike(theta + step, data)
            if new_ll < ll - 1e-9:
                break
            theta, ll, last = theta + step, new_ll, float(np.max(np.abs(step)))
            if last < 1e-8:
                break
        return theta, H, last

    # ------------------------------------------------------------------ fit

    def fit(self, data, id: str = "id", period: str = "period", codes: dict | None = None, start_params=None):
        """Fit from several deterministic starts (or `start_params`); returns `HMMResults` or a
        `FailedFit` (never raises for a model that does not fit)."""
        prepared = data if isinstance(data, HMMData) else self.prepare(data, id, period, codes)
        names = tuple(self.param_names())
        nobs = prepared.panel.n_customers
        if nobs < self.K + 1:
            return HMMFailedFit(self.name, f"{nobs} customers cannot identify {self.K} states", [], nobs, names)
        try:
            with np.errstate(all="ignore"):
                return self._fit(prepared, names, start_params, id, period, codes)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError) as exc:
            return HMMFailedFit(self.name, f"the fit stopped: {exc}", [], nobs, names)

    def _em_starts(self, data):
        """EM from every deterministic start: short runs, then the two best distinct ones continue
        to convergence (every distinct one on a small panel, where a run's log-likelihood after
        SHORT_EM iterations says little about the maximum it will reach: the balance data's four
        latent classes). Returns all runs and those continued."""
        runs = []
        for k, theta in enumerate(self.starting_points(data), 1):
            theta, ll, iters = self.em(theta, data, max_iter=min(SHORT_EM, self.em_max_iter))
            runs.append({"start": k, "em_iterations": iters, "em_loglik": ll, "theta": theta})
        finite = sorted([r for r in runs if np.isfinite(r["em_loglik"])], key=lambda r: -r["em_loglik"])
        distinct, seen = [], []
        for r in finite:
            if all(abs(r["em_loglik"] - s) > 1e-6 * (1 + abs(s)) for s in seen):
                distinct.append(r)
                seen.append(r["em_loglik"])
        if data.panel.n_rows * data.panel.T > SMALL_PANEL:
            distinct = distinct[:2]
        for r in distinct:
            if r["em_iterations"] >= SHORT_EM:
                theta, ll, iters = self.em(r["theta"], data)
                r.update(theta=theta, em_loglik=ll, em_iterations=r["em_iterations"] + iters)
            if self.K > 1:
                r["theta"] = self.order_states(r["theta"])
        if len(distinct) == 2 and abs(distinct[0]["em_loglik"] - distinct[1]["em_loglik"]) < 1e-5 * (
                1 + abs(distinct[0]["em_loglik"])):
            distinct = distinct[:1]            # both runs reached the same optimum: polish it once
        return runs, distinct

    def _fit(self, data, names, start_params, id, period, codes):
        nobs = data.panel.n_customers
        if start_params is not None:       # a warm start (simulation studies): straight to the polish
            theta = np.asarray(start_params, float)
            runs = [{"start": 1, "em_iterations": 0, "em_loglik": self.loglike(theta, data), "theta": theta}]
            distinct = runs
        else:
            runs, distinct = self._em_starts(data)
        if not distinct:
            return HMMFailedFit(self.name, "the log-likelihood is not finite from any start", runs, nobs, names)
        for r in distinct:
            theta, ll, _ = self.polish(r["theta"], data)
            r.update(polished_loglik=ll, polished=theta)
        best = max(distinct, key=lambda r: r["polished_loglik"] if np.isfinite(r["polished_loglik"]) else -np.inf)
        theta = best["polished"]
        if not np.isfinite(best["polished_loglik"]):
            return HMMFailedFit(self.name, "the log-likelihood is not finite at the estimates", runs, nobs, names)
        if self.K > 1 and start_params is None:
            theta = self.order_states(theta)       # the polish may move states past each other
        if self.standard_errors:
            theta, H, _ = self.newton(theta, data)
        else:
            H = np.full((theta.size,) * 2, np.nan)
        final = self.forward_backward(theta, data)
        occupancy = final["stats"][:, 0] if final["stats"].size else np.ones(self.K)
        occupancy = np.array([final["initial"][k] + final["xi"][:, k].sum() for k in range(self.K)])
        if self.K > 1 and occupancy.min() < 1e-6 * occupancy.sum():
            empty = int(np.argmin(occupancy)) + 1
            return HMMFailedFit(self.name, f"state {empty} is empty at the maximum (fewer states fit these data)",
                                runs, nobs, names)
        boundary = self.boundary_parameters(theta, data, float(final["ll"])) if self.standard_errors else {}
        cov, note = covariance(theta, H, self.standard_errors)
        if boundary:
            held = ""
            if not np.all(np.isfinite(np.diag(cov)[np.abs(theta) < LOGIT_BOUND])):
                fixed = np.isin(np.arange(theta.size), [names.index(k) for k in boundary])
                cov, _ = covariance(theta, H, self.standard_errors, fixed)
                held = " are held at their estimates for the standard errors of the others (the Hessian with them is " \
                       "not negative definite) and"
            note = (f"{len(boundary)} parameter(s) at a boundary (a probability of 0 inside the likelihood-ratio "
                    f"interval: {', '.join(boundary)}){held} get a likelihood-ratio interval")
        table = pd.DataFrame([{"start": r["start"], "em_iterations": r["em_iterations"], "em_loglik": r["em_loglik"],
                               "polished_loglik": r.get("polished_loglik", np.nan), "chosen": r is best} for r in runs])
        return HMMResults(name=self.name, params=pd.Series(theta, index=list(names)), cov=cov,
                          llf=float(final["ll"]), nobs=nobs, n_observations=data.panel.n_observations(),
                          n_unique_rows=data.panel.n_rows, model=self, starts=table,
                          gradient_norm=float(np.max(np.abs(final["grad"]), initial=0.0)), note=note,
                          columns={"id": id, "period": period, "codes": codes}, boundary=boundary)

    def boundary_parameters(self, theta, data: HMMData, ll: float, confidence: float = config.CONFIDENCE) -> dict:
        """Initial and transition logits at a boundary: sending the logit to ±∞ (the probability of
        that state or move to 0, or to dominance) lowers the log-likelihood by less than
        χ²₁(confidence)/2, so the boundary is inside the likelihood-ratio interval and a Wald interval
        (and the Hessian's curvature there) means nothing. Returns name -> (lower, upper) on the
        estimation scale: the likelihood-ratio interval along the parameter with the others at their
        estimates, infinite on the boundary side. Candidates: |logit| > BOUNDARY_CANDIDATE (one pass
        each; the finite end by root-finding, about fifteen passes)."""
        crit = chi2.ppf(confidence, 1) / 2
        names = self.param_names()
        out = {}
        for j in range(sum(self.sizes()[:2])):
            if abs(theta[j]) <= BOUNDARY_CANDIDATE:
                continue
            side = np.sign(theta[j])

            def drop(delta, j=j):
                moved = np.array(theta, float)
                moved[j] += delta
                return ll - self.loglike(moved, data)

            if np.abs(theta[j]) < LOGIT_BOUND and drop(side * LOGIT_CLIP) >= crit:
                continue
            inner = 0.5
            while drop(-side * inner) < crit and inner < 2 * LOGIT_CLIP:
                inner *= 2
            if inner >= 2 * LOGIT_CLIP:
                bound = -side * np.inf
            else:
                bound = -side * optimize.brentq(lambda d: drop(-side * d) - crit, 0.0, inner, xtol=1e-3)
            end = theta[j] + bound
            out[names[j]] = (end, np.inf) if side > 0 else (-np.inf, end)
        return out


def initial_logit_mstep(B, gamma0, weights, x0, steps: int = 2) -> np.ndarray:
    """Newton steps of the weighted multinomial logit of the first-period posteriors on the initial
    covariates (the M-step of the initial logits; each step capped at 2 in any coefficient)."""
    K, q0 = B.shape
    target = gamma0 * weights[:, None]
    total = target.sum(axis=1, keepdims=True)
    xx = (x0[:, :, None] * x0[:, None, :]).reshape(-1, q0 * q0)
    B = B.copy()
    for _ in range(steps):
        pi = np.exp(log_softmax(x0 @ B.T))
        grad = ((target - total * pi).T @ x0)[1:].ravel()
        wpi = pi * total
        diag = (wpi.T @ xx).reshape(K, q0, q0)
        H = ((wpi[:, :, None] * pi[:, None, :]).reshape(-1, K * K).T @ xx).reshape(K, K, q0, q0)
        H[np.arange(K), np.arange(K)] -= diag
        H = H[1:, 1:].transpose(0, 2, 1, 3).reshape((K - 1) * q0, (K - 1) * q0)
        try:
            step = np.linalg.solve(-H + 1e-9 * np.eye(H.shape[0]), grad)
        except np.linalg.LinAlgError:
            break
        step = step.reshape(K - 1, q0) * min(1.0, 2.0 / max(np.max(np.abs(step)), 1e-300))
        q_old = np.sum(target * log_softmax(x0 @ B.T))
        for _ in range(20):          # step halving: the M-step never lowers the expected log-likelihood
            trial = B.copy()
            trial[1:] += step
            if np.sum(target * log_softmax(x0 @ trial.T)) >= q_old:
                B = trial
                break
            step = step / 2
    B[1:] = np.clip(B[1:], -LOGIT_BOUND * 3, LOGIT_BOUND * 3)
    return B


def transition_newton_step(C, g_trans, h_trans, moves) -> np.ndarray:
    """One Newton step on the transition logits from the expected log-likelihood's gradient and
    Hessian (moves from the same state share a block), the step capped at 2 in any coefficient."""
    q = C.shape[2]
    m = len(moves)
    H = np.zeros((m * q, m * q))
    for a, (r, j) in enumerate(moves):
        for b, (r2, l) in enumerate(moves):
            if r == r2:
                H[a * q:(a + 1) * q, b * q:(b + 1) * q] = h_trans[r, j, l]
    g = np.concatenate([g_trans[r, j] for r, j in moves])
    try:
        step = np.linalg.solve(-H + 1e-9 * np.eye(m * q), g)
    except np.linalg.LinAlgError:
        return C
    step *= min(1.0, 2.0 / max(np.max(np.abs(step)), 1e-300))
    C = C.copy()
    for a, (r, j) in enumerate(moves):
        C[r, j] += step[a * q:(a + 1) * q]
    return C


def covariance(theta, H, wanted: bool, fixed=None):
    """Inverse of the negative Hessian; parameters at a boundary (|logit| > LOGIT_BOUND, or `fixed`)
    get no standard error and are left out of the inversion (held at their estimates)."""
    n = theta.size
    cov = np.full((n, n), np.nan)
    if not wanted:
        return cov, "standard errors not computed"
    free = np.abs(theta) < LOGIT_BOUND
    if fixed is not None:
        free &= ~np.asarray(fixed, bool)
    note = ""
    if (~free).any():
        note = f"{int((~free).sum())} parameter(s) at a boundary (a probability of 0 or 1) have no standard error"
    Hf = H[np.ix_(free, free)]
    if not np.all(np.isfinite(Hf)) or (Hf.size and np.max(np.linalg.eigvalsh(Hf)) >= 0):
        return cov, "the Hessian is not negative definite at the estimates: standard errors not available"
    cov[np.ix_(free, free)] = np.linalg.inv(-Hf)
    return cov, note


@dataclass(repr=False)
class HMMFailedFit(FailedFit):
    """A hidden Markov model that could not be fitted (reported, never raised)."""

    @property
    def tried(self) -> str:
        if not self.starts:
            return "no fit (the data cannot support the model)"
        return f"{len(self.starts)} deterministic EM starts"


@dataclass(repr=False)
class HMMResults(ModelResults):
    """A fitted hidden Markov model. `params` are on the estimation scale (logits, means, log sds);
    `transition_matrix`, `initial_probabilities` and `profiles` give the natural scale."""

    converged = True

    name: str
    params: pd.Series
    cov: np.ndarray
    llf: float
    nobs: int                      # customers
    n_observations: int            # customer-periods
    n_unique_rows: int
    model: HiddenMarkovModel
    starts: pd.DataFrame
    gradient_norm: float
    note: str = ""
    columns: dict = dataclasses.field(default_factory=dict)
    boundary: dict = dataclasses.field(default_factory=dict)     # name -> likelihood-ratio interval
    # (their Wald standard errors, where the Hessian has them, are kept in `cov`; intervals use the ratio)

    @property
    def theta(self) -> np.ndarray:
        return self.params.to_numpy()

    @property
    def K(self) -> int:
        return self.model.K

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov)), index=self.params.index)

    def cov_params(self) -> pd.DataFrame:
        return pd.DataFrame(self.cov, index=self.params.index, columns=self.params.index)

    def conf_int(self, alpha: float = 1 - config.CONFIDENCE) -> pd.DataFrame:
        z = z_value(1 - alpha)
        table = pd.DataFrame({"lower": self.theta - z * self.bse.to_numpy(), "upper": self.theta + z * self.bse.to_numpy()},
                             index=self.params.index)
        if abs(alpha - (1 - config.CONFIDENCE)) < 1e-12:     # boundary parameters: their likelihood-ratio interval
            for name, (lower, upper) in self.boundary.items():
                table.loc[name] = [lower, upper]
        return table

    def table(self, confidence: float = config.CONFIDENCE, published=None) -> pd.DataFrame:
        ci = self.conf_int(1 - confidence)
        return pd.DataFrame({"parameter": self.params.index, "estimate": self.theta, "std_error": self.bse.to_numpy(),
                             "ci_lower": ci["lower"].to_numpy(), "ci_upper": ci["upper"].to_numpy()})

    def summary(self, alpha: float = 1 - config.CONFIDENCE):
        note = ("Parameters on the estimation scale (multinomial logits, means, log standard deviations); standard "
                "errors from the Hessian; Wald intervals. " + self.note)
        return results_summary(self, alpha, note)

    def draw_parameters(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Draws from the asymptotic normal of the estimates, boundary parameters held at their
        estimates and the others drawn from their normal given those (whose Wald distribution means
        nothing there: their likelihood-ratio intervals are in `boundary`)."""
        cov = np.nan_to_num(self.cov)
        names = list(self.params.index)
        fixed = [names.index(k) for k in self.boundary if np.isfinite(self.cov[names.index(k), names.index(k)])]
        if fixed:
            rest = np.setdiff1d(np.arange(cov.shape[0]), fixed)
            S_rb = cov[np.ix_(rest, fixed)]
            cond = cov[np.ix_(rest, rest)] - S_rb @ np.linalg.solve(cov[np.ix_(fixed, fixed)], S_rb.T)
            cov = np.zeros_like(cov)
            cov[np.ix_(rest, rest)] = (cond + cond.T) / 2
        return rng.multivariate_normal(self.theta, cov, size=n_draws, method="eigh")

    def with_params(self, theta) -> "HMMResults":
        return dataclasses.replace(self, params=pd.Series(np.asarray(theta, float), index=self.params.index))

    def bootstrap_parameters(self, resamples, rng):
        raise NotImplementedError("customer bootstrap intervals are not offered for the hidden Markov model")

    # ------------------------------------------------------------------ natural scale

    def _x(self, names, values) -> np.ndarray:
        values = values or {}
        return np.array([1.0] + [float(values.get(c, 0.0)) for c in names[1:]])

    def initial_probabilities(self, covariates: dict | None = None) -> np.ndarray:
        B = self.model.unpack(self.theta)[0]
        x = self._x(("const", *self.model.initial_covariates), covariates)
        return np.exp(log_softmax(B @ x))

    def transition_matrix(self, covariates: dict | None = None) -> np.ndarray:
        C = self.model.unpack(self.theta)[1]
        x = self._x(("const", *self.model.transition_covariates), covariates)
        return masked_softmax(C @ x, self.model.allowed)

    def response_parameters(self) -> dict:
        em = self.model.unpack(self.theta)[2]
        return {name: fam.describe(em[name]) for name, fam in self.model.families.items()}

    def profiles(self) -> pd.DataFrame:
        """One row per state: each response's natural-scale parameters."""
        rows = {}
        for name, values in self.response_parameters().items():
            for key, arr in values.items():
                rows[f"{name}: {key}"] = np.real(np.asarray(arr, float))
        return pd.DataFrame(rows, index=[f"S{k + 1}" for k in range(self.K)])

    def response_mean(self, name: str) -> np.ndarray:
        fam = self.model.families[name]
        return np.real(fam.mean(self.model.unpack(self.theta)[2][name]))

    def stationary_distribution(self, covariates: dict | None = None) -> np.ndarray:
        P = self.transition_matrix(covariates)
        vals, vecs = np.linalg.eig(P.T)
        v = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
        return v / v.sum()

    def value_by_state(self, purchase: str, spend: str | None = None, discount: float = 0.0, horizon: int = 24,
                       covariates: dict | None = None) -> np.ndarray:
        """Expected discounted value of the next `horizon` periods for a customer now in each state:
        Σ_h d^h P^h m, with m_k = P(purchase | k)·E[spend | purchase, k] (or the purchase
        response's mean alone), P the transition matrix at `covariates` (zero if not given) and
        d = 1 / (1 + discount)."""
        m = self.response_mean(purchase)
        if spend is not None:
            m = m * self.response_mean(spend)
        P = self.transition_matrix(covariates)
        d = 1 / (1 + discount)
        value, step = np.zeros(self.K), np.eye(self.K)
        for _ in range(horizon):
            step = d * step @ P
            value += step @ m
        return value

    # ------------------------------------------------------------------ data under the fit

    def prepare(self, data, collapse: bool = True) -> HMMData:
        if isinstance(data, HMMData):
            return data
        cols = self.columns
        return self.model.prepare(data, cols.get("id", "id"), cols.get("period", "period"), cols.get("codes"),
                                  setup=False, collapse=collapse)

    def loglike(self, data) -> float:
        """Log-likelihood of (new) customers' data at the estimates: the holdout log-likelihood."""
        return self.model.loglike(self.theta, self.prepare(data))

    def posterior(self, data) -> np.ndarray:
        """P(state | all of the customer's data), shape (customers, T, K), customers in sorted id order
        (`panel_ids`); NaN outside each customer's sequence."""
        prepared = self.prepare(data)
        out = self.model.forward_backward(self.theta, prepared, gradient=False, posterior=True)
        gamma = np.where(prepared.active[..., None], out["gamma"], np.nan)
        return gamma[prepared.panel.inverse] if prepared.panel.inverse is not None else gamma

    def viterbi(self, data) -> np.ndarray:
        """The most likely state path per customer (customers, T); -1 outside the sequence."""
        prepared = self.prepare(data)
        path = viterbi(self.model, self.theta, prepared)
        return path[prepared.panel.inverse] if prepared.panel.inverse is not None else path

    def panel_ids(self, data) -> np.ndarray:
        return self.model.panel(data, self.columns.get("id", "id"), self.columns.get("period", "period"),
                                self.columns.get("codes")).ids

    def occupancy(self, data) -> pd.DataFrame:
        """Share of customers in each state by calendar period (posterior probabilities averaged over
        the customers whose sequence covers the period)."""
        prepared = self.prepare(data)
        out = self.model.forward_backward(self.theta, prepared, gradient=False, posterior=True)
        panel, act = prepared.panel, prepared.active
        calendar = panel.start[:, None] + np.arange(panel.T)[None, :]
        w = np.broadcast_to(prepared.weights[:, None], act.shape)[act]
        periods, index = np.unique(calendar[act], return_inverse=True)
        sums = np.zeros((periods.size, self.K))
        np.add.at(sums, index, out["gamma"][act] * w[:, None])
        shares = sums / sums.sum(axis=1, keepdims=True)
        frame = pd.DataFrame(shares, columns=[f"S{k + 1}" for k in range(self.K)])
        frame.insert(0, "period", periods)
        frame.insert(1, "customers", np.bincount(index, weights=w))
        return frame

    def as_dict(self) -> dict:
        return {"model": self.name, "failed": False, "loglik": self.llf, "aic": self.aic, "bic": self.bic,
                "df": self.df_model, "customers": self.nobs, "observations": self.n_observations,
                "unique_histories": self.n_unique_rows, "starts": len(self.starts), "note": self.note}

    def __repr__(self) -> str:
        return f"<HMMResults {self.name}: llf={self.llf:.4f}, df={self.df_model}, customers={self.nobs:,}>"


def viterbi(model: HiddenMarkovModel, theta, data: HMMData) -> np.ndarray:
    """Most likely paths, vectorised over customers (log space); the path stops at the sequence end."""
    B, C, em = model.unpack(theta)
    H = model.eta_matrix(em)
    K, T = model.K, data.panel.T
    out = np.full((data.panel.n_rows, T), -1, dtype=np.int64)
    for sl in model._chunks(data.panel.n_rows):
        logE = data.features[sl] @ H
        x1, act = data.panel.transition[sl], data.active[sl]
        n = logE.shape[0]
        with np.errstate(divide="ignore"):
            delta = log_softmax(data.panel.initial[sl] @ B.T) + logE[:, 0]
            logP = np.log(model._transitions(C, x1[:, :T - 1]))
        back = np.zeros((n, T, K), dtype=np.int64)
        for t in range(1, T):
            cand = delta[:, :, None] + (logP if model.q1 == 1 else logP[:, t - 1])
            best = cand.argmax(axis=1)
            new = np.take_along_axis(cand, best[:, None, :], axis=1)[:, 0] + logE[:, t]
            live = act[:, t]
            delta = np.where(live[:, None], new, delta)
            back[:, t] = np.where(live[:, None], best, np.arange(K)[None, :])
        state = delta.argmax(axis=1)
        path = np.empty((n, T), dtype=np.int64)
        path[:, T - 1] = state
        for t in range(T - 1, 0, -1):
            state = back[np.arange(n), t, state]
            path[:, t - 1] = state
        out[sl] = np.where(act, path, -1)
    return out


# ------------------------------------------------------------------ simulation

def simulate_arrays(model: HiddenMarkovModel, theta, n_customers: int, n_periods: int, rng: np.random.Generator,
                    initial_covariates: dict | None = None, transition_covariates: dict | None = None,
                    given: dict | None = None) -> tuple[Panel, np.ndarray]:
    """A panel drawn from the model at θ as aligned arrays (every customer observed in every period),
    and the true states (customers, periods). Covariates: name -> array (customers,) or (customers,
    periods); `given` maps a response to a binary one it depends on (spend only when purchased)."""
    initial_covariates, transition_covariates = initial_covariates or {}, transition_covariates or {}
    B, C, em = model.unpack(theta)
    N, T, K = n_customers, n_periods, model.K
    x0 = np.column_stack([np.ones(N)] + [np.asarray(initial_covariates[c], float) for c in model.initial_covariates])
    x1 = np.ones((N, T, model.q1))
    for j, c in enumerate(model.transition_covariates, 1):
        x1[:, :, j] = np.broadcast_to(np.asarray(transition_covariates[c], float).reshape(N, -1), (N, T))
    pi = np.exp(log_softmax(x0 @ B.T))
    states = np.empty((N, T), dtype=np.int64)
    states[:, 0] = np.minimum((rng.random((N, 1)) > np.cumsum(pi, axis=1)).sum(axis=1), K - 1)
    for t in range(1, T):
        P = masked_softmax(np.einsum("nq,rjq->nrj", x1[:, t - 1], C), model.allowed)
        rows = P[np.arange(N), states[:, t - 1]]
        states[:, t] = np.minimum((rng.random((N, 1)) > np.cumsum(rows, axis=1)).sum(axis=1), K - 1)
    responses = {}
    for name, fam in model.families.items():
        if isinstance(fam, Categorical) and fam.levels is None:
            raise ValueError(f"response {name!r}: give the levels to simulate")
        responses[name] = sample(fam, em[name], states, rng)
    for name, on in (given or {}).items():
        responses[name] = np.where(responses[on] == 1, responses[name], np.nan)
    panel = Panel(ids=np.array([f"C{i:06d}" for i in range(N)]), start=np.ones(N, dtype=np.int64),
                  length=np.full(N, T), responses=responses, initial=x0, transition=x1,
                  initial_names=("const", *model.initial_covariates),
                  transition_names=("const", *model.transition_covariates))
    return panel, states


def simulate_panel(model: HiddenMarkovModel, theta, n_customers: int, n_periods: int, rng: np.random.Generator,
                   initial_covariates: dict | None = None, transition_covariates: dict | None = None,
                   given: dict | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """`simulate_arrays` as long rows (id, period 1.., responses, covariates) and the true states."""
    panel, states = simulate_arrays(model, theta, n_customers, n_periods, rng, initial_covariates,
                                    transition_covariates, given)
    N, T = states.shape
    frame = {"id": np.repeat(panel.ids, T), "period": np.tile(np.arange(1, T + 1), N)}
    frame.update({name: y.ravel() for name, y in panel.responses.items()})
    for j, c in enumerate(model.initial_covariates, 1):
        frame[c] = np.repeat(panel.initial[:, j], T)
    for j, c in enumerate(model.transition_covariates, 1):
        frame[c] = panel.transition[:, :, j].ravel()
    return pd.DataFrame(frame), states


def select_states(models: dict) -> pd.DataFrame:
    """Information criteria of fits by number of states (name -> results); the BIC choice marked."""
    rows = [{"states": k, "loglik": r.llf, "df": r.df_model, "aic": r.aic, "bic": r.bic, "failed": not r.converged,
             "reason": r.failure or ""} for k, r in models.items()]
    table = pd.DataFrame(rows)
    ok = table[~table["failed"]]
    table["chosen"] = False
    if len(ok):
        table.loc[ok["bic"].idxmin(), "chosen"] = True
    return table


__all__ = ["HMMData", "HMMFailedFit", "HMMResults", "HiddenMarkovModel", "select_states", "simulate_arrays",
           "simulate_panel", "viterbi"]
