"""Maximum-likelihood transition matrices with Wilson and customer-cluster bootstrap intervals.

For a first-order chain observed on many customers, the likelihood factorizes over origin stages:
L(P) = prod_i prod_j p_ij^{n_ij}, so the ML estimate is p_ij = n_ij / n_i. (Anderson & Goodman 1957,
eq. 2.3; Kalbfleisch & Lawless 1984 for panel data). Given n_i, row i is multinomial, so each cell
has a Wilson (1927) score interval. Transitions of one customer are not independent draws when the
chain is misspecified, so the customer-cluster bootstrap resamples whole customers (Efron &
Tibshirani 1993, ch. 6): customers with identical transition-count vectors are interchangeable, so
drawing n customers with replacement is exactly a multinomial draw over the distinct count
patterns, and one matrix product gives all bootstrap count tables at once.

Structural zeros (transitions the stage rules make impossible) are fixed at 0 with interval [0, 0];
absorbing stages get an identity row.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import config
from ..models.base import ModelResults, results_summary
from ..stats import wilson_interval
from .aggregates import is_aggregated
from .panel import StagePanel, customer_transition_counts, transition_counts


@dataclass(frozen=True)
class TransitionMatrix(ModelResults):
    """An estimated S x S transition matrix with its counts and intervals."""

    states: tuple[str, ...]
    counts: np.ndarray            # n_ij
    probabilities: np.ndarray     # p_ij (nan rows: no exposure)
    wilson_lower: np.ndarray
    wilson_upper: np.ndarray
    allowed: np.ndarray           # False = structural zero
    absorbing: tuple[int, ...] = ()
    boot_lower: np.ndarray | None = None
    boot_upper: np.ndarray | None = None
    boot_samples: np.ndarray | None = None   # B x S x S bootstrap matrices
    confidence: float = config.CONFIDENCE

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def row_totals(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def frame(self, values=None) -> pd.DataFrame:
        """A matrix as a labelled DataFrame (rows: from, columns: to)."""
        values = self.probabilities if values is None else values
        return pd.DataFrame(values, index=pd.Index(self.states, name="from"),
                            columns=pd.Index(self.states, name="to"))

    def long_table(self) -> pd.DataFrame:
        """One row per possible cell: counts, estimate and both intervals."""
        i, j = np.nonzero(self.allowed)
        out = pd.DataFrame({
            "from": np.asarray(self.states, dtype=object)[i], "to": np.asarray(self.states, dtype=object)[j],
            "n_from": self.row_totals[i], "n": self.counts[i, j], "p": self.probabilities[i, j],
            "wilson_lower": self.wilson_lower[i, j], "wilson_upper": self.wilson_upper[i, j],
        })
        if self.boot_lower is not None:
            out["boot_lower"] = self.boot_lower[i, j]
            out["boot_upper"] = self.boot_upper[i, j]
        return out

    def as_dict(self) -> dict:
        return {"states": list(self.states), "counts": self.counts, "probabilities": self.probabilities,
                "wilson_lower": self.wilson_lower, "wilson_upper": self.wilson_upper,
                "boot_lower": self.boot_lower, "boot_upper": self.boot_upper}

    # ---------------------------------------------------------------- the results core of every model

    name = "Transition matrix"
    converged = True

    def _free(self):
        """(row, column) of every estimated cell: allowed, in a row that is neither absorbing nor unobserved."""
        free = self.allowed & (self.row_totals > 0)[:, None]
        free[list(self.absorbing)] = False
        return np.nonzero(free)

    @property
    def params(self) -> pd.Series:
        """The estimated probabilities, named 'from -> to'."""
        i, j = self._free()
        names = [f"{self.states[a]} -> {self.states[b]}" for a, b in zip(i, j)]
        return pd.Series(self.probabilities[i, j], index=names)

    @property
    def bse(self) -> pd.Series:
        """Binomial standard errors sqrt(p(1 - p) / n_i) of each estimated cell."""
        i, j = self._free()
        p = self.probabilities[i, j]
        return pd.Series(np.sqrt(p * (1 - p) / self.row_totals[i]), index=self.params.index)

    def conf_int(self, alpha: float = 1 - config.CONFIDENCE) -> pd.DataFrame:
        """Wilson score intervals of each estimated cell at level 1 - alpha (rows are multinomial given n_i)."""
        i, j = self._free()
        lo, hi = wilson_interval(self.counts[i, j], self.row_totals[i], 1 - alpha)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self.params.index)

    @property
    def llf(self) -> float:
        """Σ n_ij log p_ij over the estimated cells (the multinomial log-likelihood up to a constant)."""
        i, j = self._free()
        n = self.counts[i, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(np.where(n > 0, n * np.log(self.probabilities[i, j]), 0.0)))

    @property
    def nobs(self) -> int:
        """Observed transitions."""
        return int(self.counts.sum())

    @property
    def df_model(self) -> int:
        """Free probabilities: estimated cells less one per estimated row."""
        i, _ = self._free()
        return int(i.size - np.unique(i).size)

    def cov_params(self) -> pd.DataFrame:
        """Multinomial covariance within each origin row, (δ_jk p_ij - p_ij p_ik) / n_i; rows are independent."""
        i, j = self._free()
        p, n = self.probabilities[i, j], self.row_totals[i]
        same_row = i[:, None] == i[None, :]
        cov = np.where(same_row, (np.diag(p) - np.outer(p, p)) / n[:, None], 0.0)
        return pd.DataFrame(cov, index=self.params.index, columns=self.params.index)

    def summary(self, alpha: float = 1 - config.CONFIDENCE):
        return results_summary(self, alpha, "Maximum-likelihood estimates n_ij / n_i; binomial standard errors and "
                                            "Wilson intervals (see boot_lower/boot_upper for the customer bootstrap).")


class TransitionMatrixModel:
    """The first-order transition matrix of a stage panel: ``TransitionMatrixModel().fit(panel)`` gives a
    `TransitionMatrix` with the results core of every model, plus Wilson and (with
    `bootstrap_resamples`) customer-cluster bootstrap intervals. `allowed`: S x S booleans, False for
    structural zeros; `absorbing`: stage codes whose rows are the identity."""

    def __init__(self, allowed=None, absorbing=(), confidence: float = config.CONFIDENCE, bootstrap_resamples: int = 0,
                 seed: int = config.DEFAULT_SEED):
        self.allowed, self.absorbing, self.confidence = allowed, absorbing, confidence
        self.bootstrap_resamples, self.seed = bootstrap_resamples, seed

    def __repr__(self) -> str:
        return "TransitionMatrixModel()"

    def fit(self, panel: StagePanel) -> "TransitionMatrix":
        return estimate_transition_matrix(panel, allowed=self.allowed, absorbing=self.absorbing,
                                          confidence=self.confidence, n_boot=self.bootstrap_resamples,
                                          rng=np.random.default_rng(self.seed))


def ml_probabilities(counts, allowed=None, absorbing=()) -> np.ndarray:
    """p_ij = n_ij / n_i for a count table (..., S, S); rows without exposure are nan.

    Works on stacks (e.g. B bootstrap tables). Absorbing rows become identity rows.
    """
    counts = np.asarray(counts, dtype=float)
    if allowed is not None:
        counts = np.where(allowed, counts, 0.0)
    totals = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(totals > 0, counts / totals, np.nan)
    if absorbing:
        eye = np.eye(counts.shape[-1])
        idx = list(absorbing)
        p[..., idx, :] = eye[idx]
    return p


def count_patterns(customer_counts: np.ndarray):
    """Distinct per-customer count vectors and how many customers share each one."""
    patterns, freq = np.unique(customer_counts, axis=0, return_counts=True)
    return patterns, freq


def bootstrap_count_tables(customer_counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """B x S^2 count tables of customer-cluster bootstrap samples (resampling whole customers).

    Exact multinomial draw over distinct count patterns (see module docstring); no loop over
    resamples or customers.
    """
    patterns, freq = count_patterns(customer_counts)
    n = int(freq.sum())
    weights = rng.multinomial(n, freq / n, size=n_boot)
    # Float BLAS matmul (integer matmul has none); counts stay exact far below 2**53.
    return np.rint(weights.astype(float) @ patterns.astype(float)).astype(np.int64)


def estimate_transition_matrix(panel: StagePanel | None = None, counts=None, allowed=None, absorbing=(),
                               confidence: float = config.CONFIDENCE, n_boot: int = 0,
                               rng: np.random.Generator | None = None,
                               customer_counts: np.ndarray | None = None) -> TransitionMatrix:
    """ML transition matrix of a stage panel (or of given counts) with Wilson and bootstrap intervals.

    allowed: S x S booleans, False for structural zeros (default: every cell allowed);
    absorbing: stage codes whose rows are fixed to the identity;
    n_boot > 0 adds percentile intervals from the customer-cluster bootstrap (needs a panel or
    `customer_counts`).
    """
    if counts is None:
        counts = transition_counts(panel)
    counts = np.asarray(counts, dtype=np.int64)
    s = counts.shape[0]
    states = panel.states if panel is not None else tuple(str(i) for i in range(s))
    allowed = np.ones((s, s), bool) if allowed is None else np.asarray(allowed, bool)
    if np.any(counts[~allowed] > 0):
        i, j = np.argwhere((counts > 0) & ~allowed)[0]
        raise ValueError(f"observed transitions {states[i]} -> {states[j]} marked as structural zero")
    absorbing = tuple(int(a) for a in absorbing)
    p = ml_probabilities(counts, allowed, absorbing)
    n_i = np.broadcast_to(counts.sum(axis=1, keepdims=True), counts.shape)
    lo, hi = wilson_interval(counts, n_i, confidence)
    lo, hi = np.where(allowed, lo, 0.0), np.where(allowed, hi, 0.0)
    # A row with a single possible destination is certain, whatever its count.
    single = allowed.sum(axis=1) == 1
    lo[single & (n_i[:, 0] > 0)] = np.where(allowed[single & (n_i[:, 0] > 0)], 1.0, 0.0)
    hi[single & (n_i[:, 0] > 0)] = lo[single & (n_i[:, 0] > 0)]
    for a in absorbing:
        lo[a], hi[a] = p[a], p[a]
    boot_lo = boot_hi = samples = None
    if n_boot:
        rng = rng or np.random.default_rng()
        if customer_counts is None:
            customer_counts = customer_transition_counts(panel)
        tables = bootstrap_count_tables(customer_counts, n_boot, rng).reshape(n_boot, s, s)
        samples = ml_probabilities(tables, allowed, absorbing)
        alpha = (1 - confidence) / 2
        with warnings.catch_warnings():
            # Rows no resample ever leaves are all-nan: their interval is nan, no warning needed.
            warnings.simplefilter("ignore", RuntimeWarning)
            boot_lo, boot_hi = np.nanquantile(samples, [alpha, 1 - alpha], axis=0)
    return TransitionMatrix(tuple(states), counts, p, lo, hi, allowed, absorbing, boot_lo, boot_hi, samples,
                            confidence)


def entry_distribution(panel: StagePanel) -> np.ndarray:
    """Share of customers by the stage in which they are first observed."""
    if is_aggregated(panel):
        counts = panel.entering()
    else:
        _, _, stage = panel.entries()
        counts = np.bincount(stage, minlength=panel.n_states)
    return counts / counts.sum()
