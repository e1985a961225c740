"""Small, shared statistics used by several reports (intervals, NPS, concentration).

Every function is vectorized over numpy arrays; none loops over customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from . import config


def share_label(fraction: float) -> str:
    """A share as the parameters give it: 0.2 -> "20%", 0.125 -> "12.5%"."""
    return f"{100 * fraction:g}%"


def at_least(value: float, high: float | None = None) -> str:
    """Answers from `value` up, in words: "9 or more", or just "10" when 10 is the top of the scale."""
    return f"{value:g}" if high is not None and value >= high else f"{value:g} or more"


def at_most(value: float, low: float | None = None) -> str:
    """Answers up to `value`, in words: "6 or less", or just "0" when 0 is the bottom of the scale."""
    return f"{value:g}" if low is not None and value <= low else f"{value:g} or less"


def net_sign(lower: float, upper: float) -> str:
    """Which side a net score's interval (promoters − detractors) shows to be larger, in words; an interval
    that includes 0 leaves it open (a balance would need an equivalence test)."""
    return ("more promoters than detractors" if lower > 0 else "more detractors than promoters" if upper < 0
            else "the data cannot tell whether promoters or detractors are more numerous")


def percent_digits(*values: float, most: int = 2) -> int:
    """The fewest decimals (up to `most`) at which shares that differ also print differently
    ("63%–63%" becomes "62.6%–62.8%")."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    for digits in range(most + 1):
        shown = [f"{100 * v:.{digits}f}" for v in finite]
        if len(set(shown)) == len(set(finite)):
            return digits
    return most


def ci_label(confidence: float) -> str:
    """'95% CI' for a confidence level of 0.95."""
    return f"{share_label(confidence)} CI"


def z_value(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level (1.959964 at 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence between 0 and 1 (got {confidence})")
    return float(special.ndtri(0.5 + confidence / 2))     # scipy.stats.norm.ppf, without loading scipy.stats


def p_text(p: float) -> str:
    """A p-value as text: 'p = 0.042', 'p = 3.1e-05', 'p < 1e-16' (never 'p = 0')."""
    if p is None or not np.isfinite(p):
        return "p undefined"
    if p < 1e-16:
        return "p < 1e-16"
    return f"p = {p:.1e}" if p < 0.001 else f"p = {p:.3f}"


def wilson_interval(successes, n, confidence: float = config.CONFIDENCE):
    """Wilson score interval for a binomial proportion (Wilson 1927; Agresti & Coull 1998).

    Works elementwise on arrays. Cells with n == 0 give (nan, nan).
    Returns (lower, upper) as floats or arrays.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = special.ndtri(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        lower = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        upper = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    if lower.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


@dataclass(frozen=True)
class Proportion:
    successes: int
    n: int
    estimate: float
    lower: float
    upper: float

    def as_dict(self) -> dict:
        return {"successes": self.successes, "n": self.n, "estimate": self.estimate,
                "ci_lower": self.lower, "ci_upper": self.upper}


def proportion(mask, confidence: float = config.CONFIDENCE) -> Proportion:
    """Share of True values in a boolean array with its Wilson interval."""
    mask = np.asarray(mask, dtype=bool)
    k, n = int(mask.sum()), int(mask.size)
    lo, hi = wilson_interval(k, n, confidence)
    return Proportion(k, n, k / n if n else float("nan"), lo, hi)


def map_blocks(function, starts, cells: int) -> list:
    """`[function(s) for s in starts]`, in `config.BLOCK_THREADS` threads (one contiguous share of
    `starts` each) when the whole work is large (`cells`, e.g. draws × rows, at least
    `config.BLOCK_THREAD_CELLS`): for chunks of numpy work, which releases the interpreter lock.
    The results are in the order of `starts` and equal the loop's."""
    starts = list(starts)
    if config.BLOCK_THREADS < 2 or len(starts) < 2 or cells < config.BLOCK_THREAD_CELLS:
        return [function(s) for s in starts]
    from concurrent.futures import ThreadPoolExecutor

    threads = min(config.BLOCK_THREADS, len(starts))
    shares = np.array_split(np.arange(len(starts)), threads)          # one contiguous share per thread
    with ThreadPoolExecutor(threads) as pool:
        done = pool.map(lambda share: [function(starts[i]) for i in share], shares)
        return [result for part in done for result in part]


# NPS bands (Reichheld 2003) on the 0-10 recommendation scale.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6


@dataclass(frozen=True)
class NetPromoterScore:
    n: int
    promoters: float
    passives: float
    detractors: float
    nps: float
    lower: float
    upper: float

    def as_dict(self) -> dict:
        return {"n": self.n, "promoters": self.promoters, "passives": self.passives,
                "detractors": self.detractors, "nps": self.nps,
                "ci_lower": self.lower, "ci_upper": self.upper}


def net_promoter_score(scores, confidence: float = config.CONFIDENCE, promoter_min: float = PROMOTER_MIN,
                       detractor_max: float = DETRACTOR_MAX) -> NetPromoterScore:
    """NPS = %promoters - %detractors, in points (-100..100), with a normal interval.

    The variance follows from the trinomial: Var(p_P - p_D) = [p_P + p_D - (p_P - p_D)^2] / n.
    The thresholds default to Reichheld's 0-10 bands (a 1-10 survey uses the same ones). With other
    thresholds on another scale the same formula gives the *net top-box score* (share at or above
    ``promoter_min`` minus share at or below ``detractor_max``), which the reports name as such.
    """
    s = np.asarray(scores, dtype=float)
    s = s[~np.isnan(s)]
    n = s.size
    if n == 0:
        raise ValueError("net_promoter_score needs at least one non-missing score")
    p_prom = float(np.mean(s >= promoter_min))
    p_det = float(np.mean(s <= detractor_max))
    diff = p_prom - p_det
    se = np.sqrt(max(p_prom + p_det - diff**2, 0.0) / n)
    z = z_value(confidence)
    return NetPromoterScore(n, 100 * p_prom, 100 * (1 - p_prom - p_det), 100 * p_det, 100 * diff,
                            100 * max(diff - z * se, -1.0), 100 * min(diff + z * se, 1.0))


def lorenz_curve(values):
    """Lorenz curve of non-negative values: (population share, value share), both from 0 to 1.

    Customers are ordered from the smallest to the largest value.
    """
    v = np.sort(np.asarray(values, dtype=float))
    if np.any(v < 0):
        raise ValueError("lorenz_curve needs non-negative values; use whale_curve for profits")
    cum = np.concatenate([[0.0], np.cumsum(v)])
    total = cum[-1]
    pop = np.arange(v.size + 1) / v.size
    return pop, (cum / total if total > 0 else cum)


def top_share(values, top_fraction: float = 0.2) -> float:
    """Share of the total held by the top `top_fraction` of units (ties broken by sort order)."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    k = int(np.ceil(top_fraction * v.size))
    total = v.sum()
    return float(v[:k].sum() / total) if total else float("nan")


def gini(values) -> float:
    """Gini coefficient of non-negative values (0 = equal, 1 = one unit holds everything)."""
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0 or v.sum() == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float((2 * np.sum(ranks * v) / (n * v.sum())) - (n + 1) / n)


def whale_curve(profits):
    """Cumulative profit as a share of total profit, customers ordered from most to least profitable.

    Returns (population share, cumulative profit share). The curve rises above 1 when
    unprofitable customers exist (Kaplan & Cooper's "whale curve").
    """
    p = np.sort(np.asarray(profits, dtype=float))[::-1]
    cum = np.concatenate([[0.0], np.cumsum(p)])
    total = cum[-1]
    if total <= 0:
        raise ValueError("whale_curve needs a positive total profit")
    return np.arange(p.size + 1) / p.size, cum / total


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log Σ_j exp(a[i, j]) per row of a 2-d float array: scipy.special.logsumexp(a, axis=1), computed the
    same way (the largest terms taken out of the sum, log1p of the rest) and giving the same numbers,
    without its array-API bookkeeping, which costs as much as the arithmetic in the likelihoods that
    call it at every evaluation. Rows whose largest term is not finite go to scipy."""
    a = np.asarray(a, dtype=float)
    a_max = a.max(axis=1, keepdims=True)
    if not np.all(np.isfinite(a_max)):
        return special.logsumexp(a, axis=1)
    top = a == a_max
    m = top.sum(axis=1, keepdims=True, dtype=float)
    shifted = a - a_max
    shifted[top] = -np.inf
    s = np.exp(shifted).sum(axis=1, keepdims=True)
    s = np.where(s == 0, s, s / m)
    return (np.log1p(s) + np.log(m) + a_max)[:, 0]
