"""PLS path modelling (PLS-SEM) of a recursive structural model between constructs measured by items.

Model: constructs ξ_j, each measured by a block of items X_j; paths ξ_k → ξ_j form a recursive
(acyclic) structural model. Construct scores are weighted sums of standardised items, y_j = X_j w_j,
scaled to unit variance. Wold's algorithm as Lohmöller (1989) states it alternates

* inner estimation: the proxy of ξ_j is z_j = Σ_k e_kj y_k over the constructs adjacent to j, with
  *centroid* weights e_kj = sign cor(y_k, y_j), *factorial* weights e_kj = cor(y_k, y_j), or *path
  weighting*: a predecessor k of j gets its coefficient in the regression of y_j on all of j's
  predecessors, a successor its correlation with y_j;
* outer estimation: Mode A (reflective) w_j ∝ cov(X_j, z_j), Mode B (formative) w_j ∝ S_jj⁻¹ cov(X_j, z_j),
  each rescaled so that var(y_j) = 1;

from unit starting weights until the largest change of a weight falls below `config.PLS_TOLERANCE`.
Path coefficients are then the OLS coefficients of each endogenous score on its predecessors, R² comes
from the same regressions, total effects are B + B² + ... = (I − B)⁻¹ − I, loadings (and
cross-loadings) are item–score correlations. Outer weights are not normalised to sum to 1.

Every result is a function of the items' correlation matrix S, so the algorithm here runs on a batch
of correlation matrices at once: the estimate is a batch of one; the bootstrap resamples respondents
as counts, forms all resamples' correlation matrices as one matrix product of the count matrix with
the items' cross-products, and runs Wold's iterations on all of them together (a resample that has
converged stops changing). This reproduces the SmartPLS 2.0.M3 ECSI results on the mobi survey that
R's semPLS tests against (Monecke & Leisch 2012, J. Statistical Software 48(3)), to 1e-7 or better
(tests/test_plssem.py).

Also here:

* measurement quality: Cronbach's α (standardised items), ρ_A (Dijkstra & Henseler 2015, MIS
  Quarterly 39(2)), composite reliability ρ_C, AVE, the Fornell–Larcker table and the
  heterotrait–monotrait ratio HTMT (Henseler, Ringle & Sarstedt 2015, JAMS 43(1), with absolute
  correlations; a single item's monotrait mean taken as 1, as R's seminr does), effect sizes f² (Cohen 1988);
* bootstrap standard errors with percentile and BCa intervals (Efron 1987; the acceleration from a
  jackknife over at most `config.PLS_JACKKNIFE_GROUPS` groups of respondents);
* PLSpredict (Shmueli, Ray, Velasquez Estrada & Chatla 2016, J. Business Research 69(10); Shmueli
  et al. 2019): k-fold out-of-sample predictions of the endogenous items from the exogenous
  constructs through the structural model, against a linear regression of each item on all
  exogenous items (LM), with RMSE, MAE and Q²_predict (against the training mean);
* the importance–performance map (Ringle & Sarstedt 2016, Industrial Management & Data Systems
  116(9)): items rescaled to 0–100 from their scale's ends, unstandardised weights rescaled to sum to 1
  give construct performance 0–100, and unstandardised total effects on the target are importance
  (points of the target per point of the driver).

Use::

    model = PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS, scheme="path")
    fit = model.fit(mobi, resamples=5000, seed=1)
    fit.summary(); fit.conf_int(); fit.reliability(); fit.htmt(); fit.predict(); fit.ipma("Loyalty", 1, 10)

A declaration that cannot describe a recursive PLS model raises `ModelSpecError` (one line); a fit
that does not converge returns a `PLSFailure` and never raises.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from .. import config

if TYPE_CHECKING:                  # statsmodels is imported only where a summary is formatted
    from statsmodels.iolib.summary2 import Summary

SCHEMES = ("centroid", "factorial", "path")
MODES = ("A", "B")
# At least this many complete respondents for a fit (and, in a report, for its bootstrap).
MIN_COMPLETE_RESPONDENTS = 30

# The ECSI model of the mobile-phone survey (Tenenhaus, Esposito Vinzi, Chatelin & Lauro 2005,
# Computational Statistics & Data Analysis 48(1)): seven constructs, all reflective, twelve paths.
ECSI_MOBI_CONSTRUCTS = {
    "Image": ["IMAG1", "IMAG2", "IMAG3", "IMAG4", "IMAG5"],
    "Expectation": ["CUEX1", "CUEX2", "CUEX3"],
    "Quality": [f"PERQ{i}" for i in range(1, 8)],
    "Value": ["PERV1", "PERV2"],
    "Satisfaction": ["CUSA1", "CUSA2", "CUSA3"],
    "Complaints": ["CUSCO"],
    "Loyalty": ["CUSL1", "CUSL2", "CUSL3"],
}
ECSI_MOBI_PATHS = [("Image", "Expectation"), ("Image", "Satisfaction"), ("Image", "Loyalty"),
                   ("Expectation", "Quality"), ("Expectation", "Value"), ("Expectation", "Satisfaction"),
                   ("Quality", "Value"), ("Quality", "Satisfaction"), ("Value", "Satisfaction"),
                   ("Satisfaction", "Complaints"), ("Satisfaction", "Loyalty"), ("Complaints", "Loyalty")]


class ModelSpecError(ValueError):
    """A construct/path declaration that does not describe a recursive PLS path model (one line)."""


# ------------------------------------------------------------------ the declaration

def find_cycle(names, paths) -> list | None:
    """A directed cycle among `paths` (as the list of constructs along it, first repeated), or None."""
    succ = {n: [] for n in names}
    for a, b in paths:
        succ.setdefault(a, []).append(b)
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in succ.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        stack.pop()
        return None

    for name in succ:
        if state.get(name) is None:
            found = visit(name)
            if found:
                return found
    return None


def check_specification(constructs, paths, modes=None, columns=None) -> str | None:
    """The first reason (one line) why the declaration is not a recursive PLS path model, or None.

    `constructs`: construct -> list of items; `paths`: (from, to) pairs; `modes`: construct -> 'A'
    or 'B' (default A); `columns`: when given, every item must be one of them.
    """
    if not constructs:
        return "no constructs declared"
    owner = {}
    for name, items in constructs.items():
        if not items:
            return f"construct '{name}' has no items"
        for item in items:
            if item in owner:
                return (f"item '{item}' is in two constructs ('{owner[item]}' and '{name}'); each item measures "
                        "one construct")
            owner[item] = name
            if columns is not None and item not in columns:
                return f"item '{item}' of construct '{name}' is not a column of the survey"
    if not paths:
        return "no paths declared between the constructs"
    seen = set()
    for a, b in paths:
        for end in (a, b):
            if end not in constructs:
                return f"path {a} -> {b}: '{end}' is not a declared construct"
        if a == b:
            return f"path {a} -> {b}: a construct cannot be its own cause"
        if (a, b) in seen:
            return f"path {a} -> {b} is declared twice"
        seen.add((a, b))
    cycle = find_cycle(list(constructs), paths)
    if cycle:
        return f"the paths {' -> '.join(cycle)} form a cycle; PLS path modelling needs a recursive model"
    linked = {n for p in paths for n in p}
    for name in constructs:
        if name not in linked:
            return f"construct '{name}' is in no path"
    for name, mode in (modes or {}).items():
        if name not in constructs:
            return f"mode given for '{name}', which is not a declared construct"
        if mode not in MODES:
            return f"mode of '{name}' is {mode!r}; expected 'A' (reflective) or 'B' (formative)"
    return None


@dataclass(frozen=True)
class Layout:
    """The declaration as matrices: items, constructs, membership, adjacency and paths."""

    constructs: tuple
    items: tuple
    blocks: tuple                  # item indices per construct
    membership: np.ndarray         # (p, c) 1 where item i measures construct j
    paths: np.ndarray              # (c, c) bool, [k, j] = k -> j
    mode_b: tuple                  # indices of formative constructs

    @classmethod
    def build(cls, constructs: dict, paths, modes=None) -> "Layout":
        names = tuple(constructs)
        items = tuple(i for n in names for i in constructs[n])
        index = {i: k for k, i in enumerate(items)}
        blocks = tuple(np.array([index[i] for i in constructs[n]]) for n in names)
        member = np.zeros((len(items), len(names)))
        for j, blk in enumerate(blocks):
            member[blk, j] = 1.0
        pos = {n: k for k, n in enumerate(names)}
        arrows = np.zeros((len(names),) * 2, dtype=bool)
        for a, b in paths:
            arrows[pos[a], pos[b]] = True
        mode_b = tuple(pos[n] for n, m in (modes or {}).items() if m == "B")
        return cls(names, items, blocks, member, arrows, mode_b)

    @property
    def adjacency(self) -> np.ndarray:
        return (self.paths | self.paths.T).astype(float)

    @property
    def endogenous(self) -> list[int]:
        return [j for j in range(len(self.constructs)) if self.paths[:, j].any()]

    def predecessors(self, j: int) -> np.ndarray:
        return np.flatnonzero(self.paths[:, j])

    @property
    def reach(self) -> np.ndarray:
        """(c, c) bool: a directed route k ⇒ j of any length."""
        reach = self.paths.copy()
        for _ in range(len(self.constructs)):
            reach = reach | ((reach.astype(int) @ self.paths.astype(int)) > 0)
        return reach

    def path_names(self) -> list[str]:
        return [f"{self.constructs[k]} -> {self.constructs[j]}" for k, j in zip(*np.nonzero(self.paths))]

    def item_names(self) -> list[str]:
        return [f"{self.constructs[j]}: {self.items[i]}" for j, blk in enumerate(self.blocks) for i in blk]

    def pair_names(self, mask, sep) -> list[str]:
        return [f"{self.constructs[k]} {sep} {self.constructs[j]}" for k, j in zip(*np.nonzero(mask))]

    @property
    def indirect_mask(self) -> np.ndarray:
        """(c, c) bool: pairs joined by a route of two or more paths."""
        two = (self.paths.astype(int) @ self.paths.astype(int)) > 0
        reach = two.copy()
        for _ in range(len(self.constructs)):
            reach = reach | ((reach.astype(int) @ self.paths.astype(int)) > 0)
        return reach


# ------------------------------------------------------------------ the batched kernel

def correlation_batch(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Correlation matrices (B, p, p) from first moments (B, p) and second moments (B, p, p)."""
    cov = m2 - m1[:, :, None] * m1[:, None, :]
    sd = np.sqrt(np.clip(np.einsum("bii->bi", cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / (sd[:, :, None] * sd[:, None, :])


def _normalise(W, S):
    var = np.einsum("bpc,bpc->bc", S @ W, W)
    with np.errstate(invalid="ignore", divide="ignore"):
        return W / np.sqrt(var)[:, None, :]


def _regress(R, lay: Layout, j: int, preds=None):
    """Coefficients (B, k) and R² (B,) of construct j on `preds` (default: its predecessors)."""
    preds = lay.predecessors(j) if preds is None else preds
    rxx = R[:, preds][:, :, preds]
    rxy = R[:, preds, j]
    beta = np.linalg.solve(rxx, rxy[:, :, None])[:, :, 0]
    return beta, np.einsum("bk,bk->b", beta, rxy)


def _inner_weights(R, lay: Layout, scheme: str):
    adj = lay.adjacency
    if scheme == "centroid":
        return adj * np.sign(R)
    if scheme == "factorial":
        return adj * R
    E = lay.paths.T.astype(float) * R               # successor k of j: cor(y_k, y_j)
    for j in lay.endogenous:
        preds = lay.predecessors(j)
        E[:, preds, j] = _regress(R, lay, j)[0]     # predecessors: regression coefficients
    return E


def pls_weights(S: np.ndarray, lay: Layout, scheme: str, tol: float = config.PLS_TOLERANCE,
                max_iter: int = config.PLS_MAX_ITERATIONS):
    """Outer weights (B, p, c) by Wold's iterations on a batch of correlation matrices S (B, p, p),
    with the iterations each needed (B,) and whether it converged (B,)."""
    n_batch = S.shape[0]
    W = _normalise(np.broadcast_to(lay.membership, (n_batch, *lay.membership.shape)).copy(), S)
    iterations = np.zeros(n_batch, dtype=int)
    converged = np.zeros(n_batch, dtype=bool)
    active = np.all(np.isfinite(S.reshape(n_batch, -1)), axis=1) & np.all(np.isfinite(W.reshape(n_batch, -1)), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(max_iter):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            s, w = S[idx], W[idx]
            sw = s @ w
            R = np.swapaxes(w, 1, 2) @ sw
            Z = sw @ _inner_weights(R, lay, scheme)
            new = lay.membership * Z
            for j in lay.mode_b:
                blk = lay.blocks[j]
                new[:, blk, j] = np.linalg.solve(s[:, blk][:, :, blk], Z[:, blk, j][:, :, None])[:, :, 0]
            new = _normalise(new, s)
            delta = np.max(np.abs(new - w), axis=(1, 2))
            W[idx] = new
            iterations[idx] += 1
            done = delta < tol
            bad = ~np.isfinite(delta)
            converged[idx[done]] = True
            active[idx[done | bad]] = False
    return W, iterations, converged


def structural_batch(S: np.ndarray, W: np.ndarray, lay: Layout) -> dict:
    """Construct correlations, path coefficients, R², total effects and cross-loadings per batch member."""
    cross = S @ W
    R = np.swapaxes(W, 1, 2) @ cross
    c = len(lay.constructs)
    B = np.zeros((S.shape[0], c, c))
    r2 = np.full((S.shape[0], c), np.nan)
    for j in lay.endogenous:
        beta, r2[:, j] = _regress(R, lay, j)
        B[:, lay.predecessors(j), j] = beta
    eye = np.eye(c)
    total = np.linalg.inv(eye - B) - eye
    return {"R": R, "B": B, "r2": r2, "total": total, "cross": cross}


def htmt_batch(S: np.ndarray, lay: Layout) -> np.ndarray:
    """HTMT (B, c, c) with absolute correlations; a single item's monotrait mean is its correlation with
    itself, 1 (as R's seminr takes it)."""
    A = np.abs(S)
    c = len(lay.constructs)
    mono = np.ones((S.shape[0], c))
    for j, blk in enumerate(lay.blocks):
        if blk.size > 1:
            sub = A[:, blk][:, :, blk]
            mono[:, j] = (sub.sum(axis=(1, 2)) - np.einsum("bii->b", sub)) / (blk.size * (blk.size - 1))
    M = lay.membership
    hetero = (M.T @ A @ M) / np.outer(M.sum(0), M.sum(0))
    with np.errstate(invalid="ignore"):
        out = hetero / np.sqrt(mono[:, :, None] * mono[:, None, :])
    idx = np.arange(c)
    out[:, idx, idx] = np.nan
    return out


def statistics_batch(S: np.ndarray, lay: Layout, scheme: str, tol: float, max_iter: int) -> tuple[dict, dict]:
    """Every bootstrapped statistic, flattened per group to (B, k) arrays, and the raw results."""
    W, iterations, converged = pls_weights(S, lay, scheme, tol, max_iter)
    st = structural_batch(S, W, lay)
    rows = np.concatenate(lay.blocks)
    cols = np.concatenate([np.full(b.size, j) for j, b in enumerate(lay.blocks)])
    upper = np.triu(np.ones((len(lay.constructs),) * 2, dtype=bool), 1)
    flat = {
        "path": st["B"][:, lay.paths],
        "total": st["total"][:, lay.reach],
        "indirect": (st["total"] - st["B"])[:, lay.indirect_mask],
        "weight": W[:, rows, cols],
        "loading": st["cross"][:, rows, cols],
        "r2": st["r2"][:, lay.endogenous],
        "htmt": htmt_batch(S, lay)[:, upper],
    }
    for k in flat:
        flat[k][~converged] = np.nan
    st.update(W=W, iterations=iterations, converged=converged)
    return flat, st


def statistic_names(lay: Layout) -> dict:
    upper = np.triu(np.ones((len(lay.constructs),) * 2, dtype=bool), 1)
    return {"path": lay.path_names(), "total": lay.pair_names(lay.reach, "=>"),
            "indirect": lay.pair_names(lay.indirect_mask, "=>"), "weight": lay.item_names(),
            "loading": lay.item_names(), "r2": [lay.constructs[j] for j in lay.endogenous],
            "htmt": lay.pair_names(upper, "~")}


# ------------------------------------------------------------------ moments and resampling

def item_correlations(X: np.ndarray) -> np.ndarray:
    """The items' correlation matrix as a batch of one, (1, p, p)."""
    Z = (X - X.mean(0)) / X.std(0)
    cov = Z.T @ Z / X.shape[0]
    sd = np.sqrt(np.diag(cov))
    return (cov / np.outer(sd, sd))[None]


class Moments:
    """Items' cross-products, for correlation matrices of any weighting of the respondents."""

    # Counts per chunk of resamples (resamples × respondents): bounds the memory of a chunk.
    CHUNK_COUNTS = 20_000_000
    # Cross-products of up to this many bytes are computed once and kept (100,000 respondents × 24 items:
    # 240 MB); beyond it they are recomputed per chunk of rows.
    KEEP_PRODUCTS_BYTES = 400_000_000

    def __init__(self, X: np.ndarray):
        self.n, self.p = X.shape
        self.Z = (X - X.mean(0)) / X.std(0)          # centred for numerical accuracy
        self.iu = np.triu_indices(self.p)
        self._kept = None
        if self.n * self.iu[0].size * 8 <= self.KEEP_PRODUCTS_BYTES:
            self._kept = self._compute_products(slice(None))

    def _compute_products(self, rows: slice) -> np.ndarray:
        z = self.Z[rows]
        return z[:, self.iu[0]] * z[:, self.iu[1]]

    def _products(self, rows: slice) -> np.ndarray:
        return self._kept[rows] if self._kept is not None else self._compute_products(rows)


    def correlations(self, counts: np.ndarray, row_chunk: int = 20_000) -> np.ndarray:
        """Correlation matrices (B, p, p) of the respondents weighted by `counts` (B, n)."""
        total = counts.sum(axis=1, keepdims=True)
        m1 = counts @ self.Z / total
        m2u = np.zeros((counts.shape[0], self.iu[0].size))
        for start in range(0, self.n, row_chunk):
            rows = slice(start, start + row_chunk)
            m2u += counts[:, rows] @ self._products(rows)
        m2u /= total
        m2 = np.empty((counts.shape[0], self.p, self.p))
        m2[:, self.iu[0], self.iu[1]] = m2u
        m2[:, self.iu[1], self.iu[0]] = m2u
        return correlation_batch(m1, m2)

    def jackknife_correlations(self, groups: int) -> np.ndarray:
        """Correlation matrices (G, p, p) leaving out each of G contiguous groups of respondents."""
        edges = np.linspace(0, self.n, groups + 1).astype(int)
        sizes = np.diff(edges).astype(float)
        s1 = np.add.reduceat(self.Z, edges[:-1], axis=0)
        s2u = np.add.reduceat(self._products(slice(None)), edges[:-1], axis=0)
        rest = (self.n - sizes)[:, None]
        m1 = (self.Z.sum(0) - s1) / rest
        m2u = (s2u.sum(0) - s2u) / rest
        m2 = np.empty((groups, self.p, self.p))
        m2[:, self.iu[0], self.iu[1]] = m2u
        m2[:, self.iu[1], self.iu[0]] = m2u
        return correlation_batch(m1, m2)


def resample_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """How often each of n respondents is drawn in each of b bootstrap resamples, (b, n).

    The draws are 32-bit (a chunk never holds more than `Moments.CHUNK_COUNTS` < 2³¹ of them), which
    halves the time to draw them; each resample's respondents are offset by its row so one bincount
    counts them all."""
    idx = rng.integers(0, n, size=(b, n), dtype=np.int32)
    idx += (np.arange(b, dtype=np.int32) * np.int32(n))[:, None]
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)


def bca_interval(draws: np.ndarray, estimate: np.ndarray, acceleration: np.ndarray, confidence: float):
    """Bias-corrected and accelerated percentile interval per column of `draws` (Efron 1987)."""
    lower, upper = np.full(estimate.size, np.nan), np.full(estimate.size, np.nan)
    z = special.ndtri(np.asarray([(1 - confidence) / 2, (1 + confidence) / 2]))
    for k in range(estimate.size):
        col = draws[:, k][np.isfinite(draws[:, k])]
        if col.size == 0 or not np.isfinite(estimate[k]):
            continue
        share = np.mean(col < estimate[k]) + 0.5 * np.mean(col == estimate[k])
        z0 = special.ndtri(np.clip(share, 1 / (col.size + 1), col.size / (col.size + 1)))
        a = acceleration[k] if np.isfinite(acceleration[k]) else 0.0
        probs = special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        lower[k], upper[k] = np.quantile(col, probs)
    return lower, upper


@dataclass
class Bootstrap:
    """Bootstrap draws per statistic group (resamples × statistics), with the jackknife acceleration."""

    draws: dict
    acceleration: dict
    resamples: int
    failed: int
    seed: int


# ------------------------------------------------------------------ results

@dataclass(repr=False)
class PLSResults:
    """A converged PLS path model: estimates, measurement quality, bootstrap, prediction and IPMA.

    `params` are the path coefficients ("A -> B"); `bse` and `conf_int` come from the bootstrap
    (percentile, or BCa with ``method="bca"``). A PLS fit has no likelihood, so there is no llf/AIC.
    """

    name: str
    scheme: str
    layout: Layout
    estimates: dict                 # statistic group -> Series (the bootstrapped statistics)
    path_coefficients: pd.DataFrame
    total_effects: pd.DataFrame
    indirect_effects: pd.DataFrame
    construct_correlations: pd.DataFrame
    cross_loadings: pd.DataFrame
    weights_matrix: pd.DataFrame
    r_squared: pd.Series
    nobs: int
    rows_dropped: int
    iterations: int
    tolerance: float
    max_iter: int
    confidence: float
    bootstrap: Bootstrap | None = None
    data: pd.DataFrame = field(default=None, repr=False)      # the complete respondents' items

    converged = True
    failure = None

    # ---------------------------------------------------------- the results core

    @property
    def params(self) -> pd.Series:
        return self.estimates["path"]

    @property
    def outer_weights(self) -> pd.Series:
        return self._by_item(self.estimates["weight"])

    @property
    def loadings(self) -> pd.Series:
        return self._by_item(self.estimates["loading"])

    def _by_item(self, values: pd.Series) -> pd.Series:
        lay = self.layout
        pairs = [(lay.constructs[j], lay.items[i]) for j, blk in enumerate(lay.blocks) for i in blk]
        return pd.Series(values.to_numpy(), index=pd.MultiIndex.from_tuples(pairs, names=["construct", "item"]))

    @property
    def scores(self) -> pd.DataFrame:
        """Standardised construct scores of the complete respondents (unit variance, divisor n)."""
        X = self.data.to_numpy(float)
        Z = (X - X.mean(0)) / X.std(0)
        return pd.DataFrame(Z @ self.weights_matrix.to_numpy(), columns=self.layout.constructs, index=self.data.index)

    def std_errors(self, group: str = "path") -> pd.Series:
        """Bootstrap standard deviations of a statistic group (NaN without a bootstrap)."""
        est = self.estimates[group]
        if self.bootstrap is None:
            return pd.Series(np.nan, index=est.index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)        # a statistic NaN in every resample
            return pd.Series(np.nanstd(self.bootstrap.draws[group], axis=0, ddof=1), index=est.index)

    @property
    def bse(self) -> pd.Series:
        return self.std_errors("path")

    def intervals(self, group: str = "path", alpha: float | None = None, method: str = "percentile") -> pd.DataFrame:
        """Estimate, bootstrap standard error and interval (percentile or BCa) at level 1 - alpha."""
        confidence = self.confidence if alpha is None else 1 - alpha
        est = self.estimates[group]
        if self.bootstrap is None:
            lower = upper = np.full(est.size, np.nan)
        elif method == "percentile":
            tail = (1 - confidence) / 2
            draws = self.bootstrap.draws[group]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)    # a statistic NaN in every resample
                lower, upper = (np.full(est.size, np.nan),) * 2 if draws.size == 0 else \
                    (np.nanquantile(draws, tail, axis=0), np.nanquantile(draws, 1 - tail, axis=0))
        elif method == "bca":
            lower, upper = bca_interval(self.bootstrap.draws[group], est.to_numpy(),
                                        self.bootstrap.acceleration[group], confidence)
        else:
            raise ValueError("method: expected 'percentile' or 'bca'")
        return pd.DataFrame({"estimate": est.to_numpy(), "std_error": self.std_errors(group).to_numpy(),
                             "lower": lower, "upper": upper}, index=est.index)

    def conf_int(self, alpha: float = 1 - config.CONFIDENCE, method: str = "percentile") -> pd.DataFrame:
        """Bootstrap intervals of the path coefficients at level 1 - alpha."""
        return self.intervals("path", alpha, method)[["lower", "upper"]]

    def summary(self, alpha: float = 1 - config.CONFIDENCE) -> Summary:
        from statsmodels.iolib.summary2 import Summary

        smry = Summary()
        smry.add_title(f"{self.name} results")
        boot = (f"{self.bootstrap.resamples:,} (seed {self.bootstrap.seed}; {self.bootstrap.failed} did not converge)"
                if self.bootstrap else "none")
        smry.add_dict({"Model:": self.name, "Inner scheme:": self.scheme, "Respondents:": f"{self.nobs:,}",
                       "Dropped (incomplete):": f"{self.rows_dropped:,}", "Converged:": "yes",
                       "Iterations:": str(self.iterations), "Bootstrap resamples:": boot}, ncols=2)
        level = f"{100 * (1 - alpha):g}%"
        paths = self.intervals("path", alpha)
        paths.columns = ["coefficient", "std. error", f"{level} lower", f"{level} upper"]
        smry.add_df(paths, float_format="%.4f")
        r2 = self.intervals("r2", alpha)
        r2.columns = ["R²", "std. error", f"{level} lower", f"{level} upper"]
        smry.add_df(r2, float_format="%.4f")
        smry.add_text("Standard errors and percentile intervals from the respondent bootstrap; PLS path modelling "
                      "(Wold/Lohmöller), outer weights scaled to unit-variance scores.")
        return smry

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def __str__(self) -> str:
        return self.summary().as_text()

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.3f}" for k, v in self.params.items())
        return f"<PLSResults {self.scheme}: {values}; nobs={self.nobs:,}>"

    # ---------------------------------------------------------- measurement quality

    def _item_correlations(self) -> np.ndarray:
        return item_correlations(self.data.to_numpy(float))[0]

    def reliability(self) -> pd.DataFrame:
        """Per construct: mode, items, Cronbach's α, ρ_A, ρ_C (composite reliability) and AVE.

        Reflective measures only: a formative construct's row is NaN (its weights are not loadings)."""
        S = self._item_correlations()
        W = self.weights_matrix.to_numpy()
        L = self.cross_loadings.to_numpy()
        rows = []
        for j, (name, blk) in enumerate(zip(self.layout.constructs, self.layout.blocks)):
            k = blk.size
            row = {"construct": name, "mode": "B" if j in self.layout.mode_b else "A", "items": k}
            if j in self.layout.mode_b:
                rows.append({**row, "cronbach_alpha": np.nan, "rho_a": np.nan, "rho_c": np.nan, "ave": np.nan})
                continue
            lam = L[blk, j]
            s = S[np.ix_(blk, blk)]
            w = W[blk, j]
            if k == 1:
                alpha = rho_a = 1.0
            else:
                alpha = k / (k - 1) * (1 - k / s.sum())
                off = s - np.diag(np.diag(s))
                ww = np.outer(w, w)
                rho_a = (w @ w) ** 2 * (w @ off @ w) / (w @ (ww - np.diag(np.diag(ww))) @ w)
            rho_c = lam.sum() ** 2 / (lam.sum() ** 2 + np.sum(1 - lam ** 2))
            rows.append({**row, "cronbach_alpha": alpha, "rho_a": rho_a, "rho_c": rho_c, "ave": np.mean(lam ** 2)})
        return pd.DataFrame(rows).set_index("construct")

    def fornell_larcker(self) -> pd.DataFrame:
        """Construct correlations with √AVE on the diagonal (Fornell & Larcker 1981)."""
        out = self.construct_correlations.copy()
        ave = self.reliability()["ave"]
        for name in out.index:
            out.loc[name, name] = np.sqrt(ave[name])
        return out

    def htmt(self) -> pd.DataFrame:
        """HTMT between every pair of constructs (symmetric; NaN on the diagonal)."""
        S = self._item_correlations()[None]
        values = htmt_batch(S, self.layout)[0]
        return pd.DataFrame(values, index=self.layout.constructs, columns=self.layout.constructs)

    def htmt_flags(self, threshold: float = config.HTMT_THRESHOLD) -> pd.DataFrame:
        """Pairs whose HTMT exceeds `threshold` or whose upper bootstrap bound reaches 1."""
        table = self.intervals("htmt")
        table["flag"] = (table["estimate"] > threshold) | (table["upper"] >= 1)
        return table

    def f_squared(self) -> pd.Series:
        """Cohen's f² of each path: (R²_incl − R²_excl) / (1 − R²_incl)."""
        lay, R = self.layout, self.construct_correlations.to_numpy()[None]
        out = {}
        for j in lay.endogenous:
            preds = lay.predecessors(j)
            full = _regress(R, lay, j)[1][0]
            for k in preds:
                rest = preds[preds != k]
                reduced = _regress(R, lay, j, rest)[1][0] if rest.size else 0.0
                out[f"{lay.constructs[k]} -> {lay.constructs[j]}"] = (full - reduced) / (1 - full)
        return pd.Series(out).reindex(self.params.index)

    # ---------------------------------------------------------- prediction and IPMA

    def predict(self, folds: int = config.PLS_PREDICT_FOLDS, seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
        """PLSpredict: k-fold predictions of every endogenous construct's items from the exogenous
        constructs, against the LM benchmark; per item RMSE and MAE of both and Q²_predict of PLS."""
        lay = self.layout
        X = self.data.to_numpy(float)
        n = X.shape[0]
        fold = np.random.default_rng(seed).permutation(np.arange(n) % folds)
        exo = [j for j in range(len(lay.constructs)) if j not in lay.endogenous]
        endo = lay.endogenous
        exo_items = np.concatenate([lay.blocks[j] for j in exo])
        targets = np.concatenate([lay.blocks[j] for j in endo])
        owner = np.concatenate([np.full(lay.blocks[j].size, j) for j in endo])
        pls_pred = np.full((n, targets.size), np.nan)
        lm_pred = np.full((n, targets.size), np.nan)
        naive = np.full((n, targets.size), np.nan)
        for f in range(folds):
            test, train = fold == f, fold != f
            mu, sd = X[train].mean(0), X[train].std(0)
            S = item_correlations(X[train])
            W, _, conv = pls_weights(S, lay, self.scheme, self.tolerance, self.max_iter)
            st = structural_batch(S, W, lay)
            Zt = (X[test] - mu) / sd
            y_exo = Zt @ W[0][:, exo]
            y_endo = y_exo @ st["total"][0][np.ix_(exo, endo)]
            score = y_endo[:, [endo.index(j) for j in owner]]
            pls_pred[test] = mu[targets] + sd[targets] * score * st["cross"][0][targets, owner]
            if not conv[0]:
                pls_pred[test] = np.nan
            design = np.column_stack([np.ones(train.sum()), X[train][:, exo_items]])
            coef = np.linalg.lstsq(design, X[train][:, targets], rcond=None)[0]
            lm_pred[test] = np.column_stack([np.ones(test.sum()), X[test][:, exo_items]]) @ coef
            naive[test] = mu[targets]
        y = X[:, targets]

        def rmse(pred):
            return np.sqrt(np.mean((y - pred) ** 2, axis=0))

        def mae(pred):
            return np.mean(np.abs(y - pred), axis=0)

        out = pd.DataFrame({"construct": [lay.constructs[j] for j in owner], "item": [lay.items[i] for i in targets],
                            "pls_rmse": rmse(pls_pred), "lm_rmse": rmse(lm_pred), "pls_mae": mae(pls_pred),
                            "lm_mae": mae(lm_pred),
                            "q2_predict": 1 - np.sum((y - pls_pred) ** 2, 0) / np.sum((y - naive) ** 2, 0)})
        out["pls_beats_lm"] = out["pls_rmse"] < out["lm_rmse"]
        out.attrs.update(folds=folds, seed=seed)
        return out.set_index("item")

    def ipma(self, target: str, scale_min, scale_max) -> pd.DataFrame:
        """Importance–performance map for `target`: each construct with a total effect on it, its
        importance (unstandardised total effect: points of the target, 0–100, per point of the
        construct) and the standardised total effect, and its performance (mean score 0–100).

        `scale_min`/`scale_max`: the items' scale ends, one number for all or a mapping item -> end."""
        lay = self.layout
        if target not in lay.constructs:
            raise ValueError(f"target '{target}' is not a construct of the model")
        X = self.data.to_numpy(float)
        lo = np.array([scale_min[i] if isinstance(scale_min, dict) else scale_min for i in lay.items], float)
        hi = np.array([scale_max[i] if isinstance(scale_max, dict) else scale_max for i in lay.items], float)
        rescaled = (X - lo) / (hi - lo) * 100
        raw = self.weights_matrix.to_numpy() / X.std(0)[:, None]
        unstd = raw / raw.sum(0)
        scores = rescaled @ unstd
        c = len(lay.constructs)
        B = np.zeros((c, c))
        for j in lay.endogenous:
            preds = lay.predecessors(j)
            design = np.column_stack([np.ones(X.shape[0]), scores[:, preds]])
            B[preds, j] = np.linalg.lstsq(design, scores[:, j], rcond=None)[0][1:]
        total = np.linalg.inv(np.eye(c) - B) - np.eye(c)
        t = lay.constructs.index(target)
        drivers = [k for k in range(c) if lay.reach[k, t]]
        return pd.DataFrame({"importance": total[drivers, t],
                             "importance_standardised": self.total_effects.to_numpy()[drivers, t],
                             "performance": scores[:, drivers].mean(0)},
                            index=pd.Index([lay.constructs[k] for k in drivers], name="construct"))

    def as_dict(self) -> dict:
        paths = self.intervals("path")
        return {"model": self.name, "scheme": self.scheme, "respondents": self.nobs, "rows_dropped": self.rows_dropped,
                "iterations": self.iterations, "converged": True,
                "bootstrap_resamples": self.bootstrap.resamples if self.bootstrap else 0,
                "paths": {k: {"estimate": r.estimate, "std_error": r.std_error, "lower": r.lower, "upper": r.upper}
                          for k, r in paths.iterrows()},
                "r_squared": self.r_squared.to_dict()}


@dataclass(repr=False)
class PLSFailure:
    """A PLS fit that did not converge or that the data cannot support (reported, never raised)."""

    name: str
    reason: str
    nobs: int
    names: tuple = ()

    converged = False

    @property
    def failure(self) -> str:
        return self.reason

    @property
    def params(self) -> pd.Series:
        return pd.Series(np.nan, index=list(self.names), dtype=float)

    @property
    def bse(self) -> pd.Series:
        return self.params

    def conf_int(self, alpha: float = 1 - config.CONFIDENCE, method: str = "percentile") -> pd.DataFrame:
        return pd.DataFrame({"lower": self.params, "upper": self.params})

    def summary(self, alpha: float = 1 - config.CONFIDENCE) -> Summary:
        from statsmodels.iolib.summary2 import Summary

        smry = Summary()
        smry.add_title(f"{self.name} results")
        smry.add_dict({"Model:": self.name, "Respondents:": f"{self.nobs:,}", "Converged:": "no"}, ncols=2)
        smry.add_text(f"Failed: {self.failure}")
        return smry

    def as_dict(self) -> dict:
        return {"model": self.name, "failed": True, "reason": self.reason, "respondents": self.nobs}

    def __repr__(self) -> str:
        return f"<PLSFailure {self.name}: {self.reason}>"


# ------------------------------------------------------------------ the model

class PLSPathModel:
    """A recursive PLS path model: constructs -> items, paths (from, to), modes, inner scheme.

    ``PLSPathModel(constructs, paths, modes={"X": "B"}, scheme="path").fit(data)`` returns a
    `PLSResults` (or a `PLSFailure`); the declaration is checked here (`ModelSpecError`, one line).
    """

    name = "PLS path model"

    def __init__(self, constructs: dict, paths, modes: dict | None = None, scheme: str = "path",
                 tol: float = config.PLS_TOLERANCE, max_iter: int = config.PLS_MAX_ITERATIONS):
        constructs = {str(k): [str(i) for i in v] for k, v in dict(constructs).items()}
        paths = [tuple(p) for p in paths]
        if scheme not in SCHEMES:
            raise ModelSpecError(f"scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
        reason = check_specification(constructs, paths, modes)
        if reason:
            raise ModelSpecError(reason)
        self.constructs, self.paths, self.modes = constructs, paths, dict(modes or {})
        self.scheme, self.tol, self.max_iter = scheme, tol, max_iter
        self.layout = Layout.build(constructs, paths, modes)

    def __repr__(self) -> str:
        return f"PLSPathModel({len(self.constructs)} constructs, {len(self.paths)} paths, scheme={self.scheme!r})"

    def fit(self, data: pd.DataFrame, resamples: int = config.PLS_BOOTSTRAP_RESAMPLES, seed: int = config.DEFAULT_SEED,
            confidence: float = config.CONFIDENCE) -> PLSResults | PLSFailure:
        """Estimates on the respondents complete on every item, and a `resamples`-fold bootstrap (0: none)."""
        lay = self.layout
        missing = [i for i in lay.items if i not in data]
        if missing:
            raise ModelSpecError(f"item '{missing[0]}' is not a column of the data")
        items = data[list(lay.items)]
        try:
            items = items.astype(float)
        except (TypeError, ValueError):             # text in a column: read as missing
            items = items.apply(pd.to_numeric, errors="coerce").astype(float)
        complete = items.notna().all(axis=1)
        X = items[complete]
        n = len(X)
        fail = PLSFailure(self.name, "", n, tuple(lay.path_names()))
        if n < MIN_COMPLETE_RESPONDENTS:
            fail.reason = (f"{n} respondents complete on every item; PLS path modelling needs at least "
                           f"{MIN_COMPLETE_RESPONDENTS}")
            return fail
        Xv = X.to_numpy()
        flat_sd = [i for i, s in zip(lay.items, Xv.std(0)) if not s > 0]
        if flat_sd:
            fail.reason = f"item '{flat_sd[0]}' has the same answer from every complete respondent"
            return fail
        moments = Moments(Xv) if resamples else None
        S = item_correlations(Xv)
        flat, st = statistics_batch(S, lay, self.scheme, self.tol, self.max_iter)
        if not st["converged"][0]:
            fail.reason = (f"Wold's iterations did not converge in {self.max_iter} iterations (largest weight change "
                           f"above {self.tol:g}) on {n:,} respondents")
            return fail
        names = statistic_names(lay)
        estimates = {k: pd.Series(v[0], index=names[k]) for k, v in flat.items()}
        cons = list(lay.constructs)
        frame = lambda a: pd.DataFrame(a, index=cons, columns=cons)     # noqa: E731
        result = PLSResults(
            name=self.name, scheme=self.scheme, layout=lay, estimates=estimates,
            path_coefficients=frame(st["B"][0]), total_effects=frame(st["total"][0]),
            indirect_effects=frame(st["total"][0] - st["B"][0]), construct_correlations=frame(st["R"][0]),
            cross_loadings=pd.DataFrame(st["cross"][0], index=list(lay.items), columns=cons),
            weights_matrix=pd.DataFrame(st["W"][0], index=list(lay.items), columns=cons),
            r_squared=estimates["r2"], nobs=n, rows_dropped=int((~complete).sum()), iterations=int(st["iterations"][0]),
            tolerance=self.tol, max_iter=self.max_iter, confidence=confidence, data=X)
        if resamples:
            result.bootstrap = self.bootstrap(moments, estimates, resamples, seed)
        return result

    def bootstrap(self, moments: Moments, estimates: dict, resamples: int, seed: int) -> Bootstrap:
        """All resamples' statistics, in chunks of resamples sized to the data (about 2e7 counts each)."""
        rng = np.random.default_rng(seed)
        n = moments.n
        chunk = int(max(1, min(resamples, Moments.CHUNK_COUNTS // n)))
        parts = {k: [] for k in estimates}
        failed = 0
        for start in range(0, resamples, chunk):
            b = min(chunk, resamples - start)
            S = moments.correlations(resample_counts(rng, n, b))
            flat, st = statistics_batch(S, self.layout, self.scheme, self.tol, self.max_iter)
            failed += int((~st["converged"]).sum())
            for k in parts:
                parts[k].append(flat[k])
        draws = {k: np.concatenate(v) for k, v in parts.items()}
        groups = int(min(n, config.PLS_JACKKNIFE_GROUPS))
        jack, _ = statistics_batch(moments.jackknife_correlations(groups), self.layout, self.scheme, self.tol,
                                   self.max_iter)
        acceleration = {}
        for k, values in jack.items():
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)        # a statistic NaN in every resample
                d = np.nanmean(values, axis=0) - values
                acc = np.nansum(d ** 3, axis=0) / (6 * np.nansum(d ** 2, axis=0) ** 1.5)
            acceleration[k] = np.where(np.isfinite(acc), acc, 0.0)
        return Bootstrap(draws, acceleration, resamples, failed, seed)


# ------------------------------------------------------------------ simulation from a known model

def population_correlations(model: PLSPathModel, path_values: dict, exogenous_correlation: float = 0.3,
                            item_correlation: float = 0.5, weights: dict | None = None) -> tuple[np.ndarray, dict]:
    """The items' correlation matrix implied by a composite population model, and its true weights.

    Constructs are composites y_j = X_j w_j of unit variance; exogenous constructs correlate
    `exogenous_correlation`, each endogenous one is Σ path · predecessor + disturbance (unit variance
    overall), items within a block correlate `item_correlation`, and items of different blocks
    correlate only through their composites: Σ_jk = Σ_jj w_j ρ_jk w_kᵀ Σ_kk (Dijkstra's composite model).
    `weights` gives a construct's relative weights (default equal; then Mode A and Mode B are both
    consistent); PLS on this matrix returns `path_values` exactly (Mode B for unequal weights).
    """
    lay = model.layout
    c = len(lay.constructs)
    rho = np.eye(c)
    order, placed = [], set()
    while len(order) < c:                      # topological order (the paths are acyclic)
        for j in range(c):
            if j not in placed and all(k in placed for k in lay.predecessors(j)):
                order.append(j)
                placed.add(j)
    exo = [j for j in order if j not in lay.endogenous]
    for a in exo:
        for b in exo:
            if a != b:
                rho[a, b] = exogenous_correlation
    done = list(exo)
    for j in order:
        if j in exo:
            continue
        preds = lay.predecessors(j)
        beta = np.array([path_values[(lay.constructs[k], lay.constructs[j])] for k in preds])
        explained = beta @ rho[np.ix_(preds, preds)] @ beta
        if not explained < 1:
            raise ValueError(f"paths into '{lay.constructs[j]}' explain {explained:.2f} ≥ 1 of its variance")
        rho[j, done] = rho[done, j] = beta @ rho[np.ix_(preds, done)]
        done.append(j)
    p = len(lay.items)
    Sigma = np.zeros((p, p))
    true_w = {}
    W = np.zeros((p, c))
    for j, blk in enumerate(lay.blocks):
        block = np.full((blk.size, blk.size), item_correlation)
        np.fill_diagonal(block, 1.0)
        w = np.asarray((weights or {}).get(lay.constructs[j], np.ones(blk.size)), float)
        w = w / np.sqrt(w @ block @ w)
        Sigma[np.ix_(blk, blk)] = block
        W[blk, j] = w
        true_w[lay.constructs[j]] = w
    for j, bj in enumerate(lay.blocks):
        for k, bk in enumerate(lay.blocks):
            if j != k:
                Sigma[np.ix_(bj, bk)] = np.outer(Sigma[np.ix_(bj, bj)] @ W[bj, j], Sigma[np.ix_(bk, bk)] @ W[bk, k]) \
                    * rho[j, k]
    if np.min(np.linalg.eigvalsh(Sigma)) <= 0:
        raise ValueError("the implied item correlation matrix is not positive definite")
    return Sigma, true_w


def simulate_survey(model: PLSPathModel, path_values: dict, n: int, rng: np.random.Generator, **kwargs) -> pd.DataFrame:
    """n respondents (normal items, unit variance) drawn from `population_correlations`."""
    Sigma, _ = population_correlations(model, path_values, **kwargs)
    X = rng.standard_normal((n, Sigma.shape[0])) @ np.linalg.cholesky(Sigma).T
    return pd.DataFrame(X, columns=list(model.layout.items))
