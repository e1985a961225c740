"""Intervals for what the CLV report predicts per customer and for the cohort: parameter draws and a
customer bootstrap that re-fits, plus the uncertainty bands of the model-evaluation figures.

Two routes, both at the report's confidence level (percentile intervals):

* **parametric** (Krinsky & Robb 1986): draws of the log-parameters from their asymptotic normal
  N(log θ̂, Σ̂) (`FittedModel.draw_parameters`), purchase and spend models drawn independently
  (they are fitted separately). Every prediction is evaluated for all draws at once: θ is passed
  as arrays of shape (k, 1) (or (k, 1, 1) with a time grid), which the prediction formulas
  broadcast against the customers' rows, so there is no loop over customers.
* **customer bootstrap** (as CLVTools' bootstrap prediction intervals): the customers are
  resampled with replacement, as multinomial counts on the collapsed rows (x, t_x, T, m̄), both
  models are re-fitted from the original estimates (warm start, BFGS with the analytic score),
  and the predictions for the report's own customers are recomputed under each re-fit. Only
  the re-fits loop (one per resample); re-fits that do not converge are counted and left out.

Customers with identical (x, t_x, T, m̄) have identical predictions and intervals, so everything
is computed on the unique rows and mapped back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..datasets import day_number
from ..stats import map_blocks
from ..models import bgbb
from ..models.base import CollapsedRows, collapse_counted, collapse_rows, percentile_interval, quick_mle
from ..models.bgnbd import BetaGeoNBDResults, bgnbd_alive_expected, bgnbd_pmf, bgnbd_prob_alive
from ..models.gammagamma import gamma_gamma_expected_spend

BLOCK = 40          # parameter draws evaluated together (bounds memory: block × rows × grid)
BLOCK_CELLS = 4_000_000     # ... and at most this many draw × row cells at once (millions of unique rows)


def draw_block(rows: int) -> int:
    """Parameter draws evaluated together for `rows` unique rows (the numbers do not depend on it)."""
    return max(1, min(BLOCK, BLOCK_CELLS // max(int(rows), 1)))


# ------------------------------------------------------------------ predictions for many θ at once

def _draw_axes(thetas: np.ndarray, extra: int) -> tuple:
    """Columns of a (k, p) draw matrix as arrays of shape (k, 1, ...) with `extra` trailing unit axes."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    return tuple(thetas[:, j].reshape((-1,) + (1,) * extra) for j in range(thetas.shape[1]))


def purchase_predictions(model, thetas, x, t_x, T, horizon: float, grid=None, discount=None) -> dict:
    """P(alive), E[Y(horizon) | x, t_x, T] and (when `grid` is given) discounted expected transactions
    of a purchase model (its results, or their class) for every draw (rows of `thetas`) and every row (x, t_x, T): arrays of
    shape (k, rows).

    The BG/NBD formulas broadcast over draws in blocks; the Pareto/NBD's P(alive) needs its
    quadrature at one θ at a time, so it loops over the draws (never over customers).
    """
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    out = {"p_alive": [], "expected": [], "dert": []}
    if grid is not None:
        weights = (1 + discount) ** -np.arange(1, len(grid) + 1)
    kind = model if isinstance(model, type) else type(model)
    if issubclass(kind, BetaGeoNBDResults):
        # E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) * g(t; x, T): g is evaluated once per distinct
        # (x, T) pair and mapped back.
        pairs = collapse_rows(x=x, T=T)
        px, pT = pairs.columns["x"], pairs.columns["T"]
        for start in range(0, thetas.shape[0], BLOCK):        # blocks of draws, all rows at once
            block = thetas[start:start + BLOCK]
            theta = _draw_axes(block, 1)
            alive = bgnbd_prob_alive(theta, x, t_x, T)
            out["p_alive"].append(alive)
            out["expected"].append(bgnbd_alive_expected(theta, horizon, px, pT)[:, pairs.inverse] * alive)
            if grid is not None:
                cumulative = bgnbd_alive_expected(_draw_axes(block, 2), np.asarray(grid)[None, :],
                                                              px[:, None], pT[:, None])
                increments = np.diff(cumulative, axis=-1, prepend=0.0)
                out["dert"].append((increments @ weights)[:, pairs.inverse] * alive)
    else:
        for theta in thetas:                                   # one θ at a time (quadrature), all rows at once
            out["p_alive"].append(kind.prob_alive_formula(theta, x, t_x, T)[None, :])
            out["expected"].append(kind.conditional_formula(theta, horizon, x, t_x, T)[None, :])
            if grid is not None:
                cumulative = kind.conditional_formula(theta, np.asarray(grid)[None, :], x, t_x, T)
                out["dert"].append((np.diff(cumulative, axis=-1, prepend=0.0) @ weights)[None, :])
    return {k: np.concatenate(v, axis=0) for k, v in out.items() if v}


CHUNK_CELLS = 65_536     # draws × rows of one chunk of `bgnbd_expected_sums` (its arrays stay in a core's cache)


def bgnbd_expected_sums(thetas, x, t_x, T, horizon: float, weights: np.ndarray) -> np.ndarray:
    """(draws × columns of `weights`): Σ_rows weights · E[Y(horizon) | x, t_x, T] for every draw of the
    BG/NBD, i.e. `purchase_predictions(...)["expected"] @ weights` without its draws × rows array.

    E[Y] = P(alive | x, t_x, T) · g(x, T): g once per distinct (x, T) pair and draw; P(alive) in chunks of
    rows small enough to stay in cache, the chunks side by side in threads (`stats.map_blocks`), their
    sums added in chunk order (the result does not depend on the threads)."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    pairs = collapse_rows(x=x, T=T)
    theta = _draw_axes(thetas, 1)
    g = bgnbd_alive_expected(theta, horizon, pairs.columns["x"], pairs.columns["T"])      # (draws, pairs)
    chunk = max(256, CHUNK_CELLS // thetas.shape[0])

    def chunk_sums(lo):
        rows = slice(lo, lo + chunk)
        return (bgnbd_prob_alive(theta, x[rows], t_x[rows], T[rows]) * g[:, pairs.inverse[rows]]) @ weights[rows]

    out = np.zeros((thetas.shape[0], weights.shape[1]))
    for part in map_blocks(chunk_sums, range(0, x.size, chunk), x.size * thetas.shape[0]):
        out += part
    return out


def spend_predictions(thetas, x, m) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase for every draw and row: (k, rows)."""
    return gamma_gamma_expected_spend(_draw_axes(thetas, 1), x, m)


# ------------------------------------------------------------------ re-fits of the bootstrap

def bootstrap_thetas(purchase_fit, spend_fit, rows: CollapsedRows, resamples: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Re-fitted (purchase θ, spend θ) of `resamples` customer bootstraps on collapsed rows (x, t_x, T, m).

    Returns the two (k, p) arrays of the re-fits where both models converged, and the number of
    resamples dropped because a re-fit did not converge (or the resample had no repeat buyer).
    """
    c, w = rows.columns, rows.weights
    n = int(w.sum())
    counts = rng.multinomial(n, w / n, size=resamples)
    m = np.where(c["x"] > 0, c["m"], np.nan)
    purchase_likelihood = type(purchase_fit.sm_results.model)     # the fitted models' likelihoods, re-weighted
    spend_likelihood = type(spend_fit.sm_results.model) if spend_fit is not None else None
    kept_p, kept_s = [], []
    for sample in counts:                       # one re-fit per resample (never per customer)
        if not np.any(sample[c["x"] > 0]):
            continue
        theta_p, ok_p = quick_mle(purchase_likelihood(c["x"], c["t_x"], c["T"], weights=sample), purchase_fit.theta)
        theta_s, ok_s = (quick_mle(spend_likelihood(c["x"], m, weights=sample), spend_fit.theta)
                         if spend_fit is not None else (np.full(3, np.nan), True))
        if ok_p and ok_s:
            kept_p.append(theta_p)
            kept_s.append(theta_s)
    k = len(kept_p)
    return (np.array(kept_p).reshape(k, -1), np.array(kept_s).reshape(k, -1), resamples - k)


# ------------------------------------------------------------------ customer and cohort values

@dataclass
class ValueIntervals:
    """Per-row estimates and intervals (both routes) of P(alive), expected purchases and CLV, and the cohort totals."""

    confidence: float
    rows: CollapsedRows
    estimate: dict                 # quantity -> (rows,)
    parametric: dict               # quantity -> (lower, upper) per row
    bootstrap: dict                # quantity -> (lower, upper) per row (empty when no resample)
    totals: pd.DataFrame           # one row per cohort quantity: estimate and both intervals
    draws: int
    resamples: int
    resamples_dropped: int
    purchase_model: str
    with_spend: bool = True
    parametric_totals: dict = field(default_factory=dict)   # quantity -> (k,) draws, for tests and figures

    def customer_table(self, index) -> pd.DataFrame:
        """One row per customer (in `index` order): estimates and both intervals."""
        inv = self.rows.inverse
        out = {}
        for q, est in self.estimate.items():
            out[q] = est[inv]
            out[f"{q}_parametric_lower"], out[f"{q}_parametric_upper"] = (v[inv] for v in self.parametric[q])
            if q in self.bootstrap:
                out[f"{q}_bootstrap_lower"], out[f"{q}_bootstrap_upper"] = (v[inv] for v in self.bootstrap[q])
        return pd.DataFrame(out, index=index)

    def summary(self) -> dict:
        return {"confidence": self.confidence, "purchase_model": self.purchase_model, "parametric_draws": self.draws,
                "bootstrap_resamples": self.resamples, "bootstrap_dropped": self.resamples_dropped,
                "unique_rows": int(self.rows.weights.size), "customers": int(self.rows.weights.sum()),
                "totals": self.totals}


def _values(purchase_fit, theta_p, theta_s, c, horizon, grid, discount, margin) -> dict:
    pred = purchase_predictions(purchase_fit, theta_p, c["x"], c["t_x"], c["T"], horizon, grid, discount)
    out = {"p_alive": pred["p_alive"], "expected_transactions": pred["expected"]}
    if theta_s is not None:
        out["clv"] = margin * spend_predictions(theta_s, c["x"], c["m"]) * pred["dert"]
    return out


TOTAL_LABELS = {"clv": "cohort CLV (total)", "expected_transactions": "expected purchases over the horizon (total)",
                "p_alive": "mean P(alive)"}


# Draws x distinct customer rows that `value_intervals` evaluates at most: each quantity keeps a
# (draws, rows) array for the per-customer percentiles, so this bounds memory (about 0.16 GB each)
# and time (about 40 s on two cores).
MAX_DRAW_CELLS = 20_000_000


def draw_work(summary: pd.DataFrame, draws: int, resamples: int) -> dict:
    """Distinct (x, t_x, T, m) rows, draws + re-fits, and their product (what `value_intervals` evaluates)."""
    m = np.nan_to_num(summary["monetary_value"].to_numpy(dtype=float), nan=0.0)
    rows = collapse_rows(x=summary["frequency"], t_x=summary["recency"], T=summary["T"], m=m).weights.size
    return {"rows": int(rows), "draws": int(draws + resamples), "cells": int(rows * (draws + resamples))}


def value_intervals(purchase_fit, spend_fit, summary: pd.DataFrame, horizon: float, step: float,
                    annual_discount_rate: float, margin: float, confidence: float, draws: int, resamples: int,
                    rng: np.random.Generator, periods_per_year: float = 52.0) -> ValueIntervals:
    """Customer-level and cohort-total P(alive), expected purchases over `horizon` and discounted CLV
    (as `predictions.customer_lifetime_value`), each with a parametric and a bootstrap interval.

    `spend_fit` may be None (then CLV is left out). `draws` parameter draws; `resamples`
    bootstrap re-fits (0: no bootstrap).
    """
    m = np.nan_to_num(summary["monetary_value"].to_numpy(dtype=float), nan=0.0)
    rows = collapse_rows(x=summary["frequency"], t_x=summary["recency"], T=summary["T"], m=m)
    c, w = rows.columns, rows.weights
    discount = (1 + annual_discount_rate) ** (step / periods_per_year) - 1
    grid = np.arange(1, int(round(horizon / step)) + 1) * step
    args = (c, horizon, grid, discount, margin)
    with_spend = spend_fit is not None
    estimate = {k: v[0] for k, v in _values(purchase_fit, purchase_fit.theta[None, :],
                                            spend_fit.theta[None, :] if with_spend else None, *args).items()}
    theta_p = purchase_fit.draw_parameters(draws, rng)
    theta_s = spend_fit.draw_parameters(draws, rng) if with_spend else None
    drawn = _values(purchase_fit, theta_p, theta_s, *args)
    parametric = {k: percentile_interval(v, confidence) for k, v in drawn.items()}
    boot, dropped, booted = {}, 0, {}
    if resamples > 0:
        bp, bs, dropped = bootstrap_thetas(purchase_fit, spend_fit, rows, resamples, rng)
        if len(bp):
            booted = _values(purchase_fit, bp, bs if with_spend else None, *args)
            boot = {k: percentile_interval(v, confidence) for k, v in booted.items()}
    lower_name, upper_name = f"{confidence:.0%} lower", f"{confidence:.0%} upper"
    table, totals_draws = [], {}
    for q in estimate:
        total = (lambda v: v @ w / w.sum()) if q == "p_alive" else (lambda v: v @ w)
        totals_draws[q] = total(drawn[q])
        p_lo, p_hi = percentile_interval(totals_draws[q], confidence)
        b_lo, b_hi = percentile_interval(total(booted[q]), confidence) if q in booted else (np.nan, np.nan)
        table.append({"quantity": TOTAL_LABELS[q], "estimate": float(total(estimate[q])),
                      f"parametric {lower_name}": float(p_lo), f"parametric {upper_name}": float(p_hi),
                      f"bootstrap {lower_name}": float(b_lo), f"bootstrap {upper_name}": float(b_hi)})
    return ValueIntervals(confidence, rows, estimate, parametric, boot, pd.DataFrame(table), draws, resamples,
                          dropped, purchase_fit.name, with_spend, totals_draws)


# ------------------------------------------------------------------ bands of the evaluation figures

def band(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    return percentile_interval(np.asarray(values, dtype=float), confidence)


def conditional_by_frequency_band(fit, summary: pd.DataFrame, holdout: float, max_frequency: int, thetas,
                                  confidence: float) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency group: actual, the model's expectation and a
    band over parameter draws (the group mean is a linear map of the per-row predictions)."""
    from .predictions import row_weights

    rows = collapse_counted(row_weights(summary) if "customers" in summary else None,
                            x=summary["frequency"], t_x=summary["recency"], T=summary["T"])
    c = rows.columns
    group = np.minimum(c["x"], max_frequency).astype(int)
    labels = np.unique(group)
    member = (group[:, None] == labels[None, :]) * rows.weights[:, None]
    member = member / member.sum(axis=0, keepdims=True)            # rows -> group means
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    if isinstance(fit, BetaGeoNBDResults):       # the estimate and every draw in one pass over the rows
        sums = bgnbd_expected_sums(np.vstack([fit.theta[None, :], thetas]), c["x"], c["t_x"], c["T"], holdout, member)
        estimate, drawn = sums[0], sums[1:]
    else:
        estimate = purchase_predictions(fit, fit.theta[None, :], c["x"], c["t_x"], c["T"], holdout)["expected"][0] @ member
        block = draw_block(c["x"].size)
        drawn = np.concatenate([purchase_predictions(fit, thetas[k:k + block], c["x"], c["t_x"], c["T"],
                                                     holdout)["expected"] @ member       # blocks of draws: bounded memory
                                for k in range(0, thetas.shape[0], block)], axis=0)
    lower, upper = band(drawn, confidence)
    if "customers" in summary:          # collapsed rows: holdout purchases summed per row
        sums = pd.DataFrame({"g": np.minimum(summary["frequency"].to_numpy(), max_frequency),
                             "y": summary["frequency_holdout"].to_numpy(float),
                             "n": row_weights(summary)}).groupby("g")[["y", "n"]].sum()
        actual = pd.DataFrame({"mean": sums["y"] / sums["n"], "size": sums["n"].round().astype(np.int64)})
    else:
        actual = (pd.DataFrame({"g": np.minimum(summary["frequency"].to_numpy(), max_frequency),
                                "y": summary["frequency_holdout"].to_numpy()}).groupby("g")["y"].agg(["mean", "size"]))
    return pd.DataFrame({"frequency": [f"{v}+" if v == max_frequency else str(v) for v in labels],
                         "customers": actual["size"].reindex(labels).to_numpy(),
                         "actual": actual["mean"].reindex(labels).to_numpy(), "expected": estimate,
                         "lower": lower, "upper": upper})


def histogram_band(fit, summary: pd.DataFrame, max_count: int, thetas, confidence: float) -> pd.DataFrame:
    """Customers by repeat purchases in calibration (0..max_count-1, max_count+): actual, the BG/NBD's
    expectation and a band over parameter draws."""
    from .predictions import histogram_counts

    T_values, counts, actual = histogram_counts(summary, max_count)
    expected = counts @ bgnbd_pmf(fit.theta, T_values, max_count)
    drawn = np.einsum("t,ktx->kx", counts, bgnbd_pmf(_draw_axes(thetas, 2), T_values, max_count))
    lower, upper = band(drawn, confidence)
    labels = [str(k) for k in range(max_count)] + [f"{max_count}+"]
    return pd.DataFrame({"repeat purchases": labels, "actual": actual, "expected": expected,
                         "lower": lower, "upper": upper})


HETEROGENEITY = {
    # model -> [(parameter pair, distribution, what it describes)]
    "BG/NBD": [(("r", "alpha"), "gamma", "purchase rate λ per week"), (("a", "b"), "beta", "dropout probability p")],
    "Pareto/NBD": [(("r", "alpha"), "gamma", "purchase rate λ per week"), (("s", "beta"), "gamma", "dropout rate μ per week")],
    "BG/BB": [(("alpha", "beta"), "beta", "transaction probability p"), (("gamma", "delta"), "beta", "dropout probability θ")],
}


def _density(kind: str, shape, scale_or_b, grid):
    if kind == "gamma":                               # shape, rate
        return stats.gamma.pdf(grid, shape, scale=1 / scale_or_b)
    return stats.beta.pdf(grid, shape, scale_or_b)


def heterogeneity_bands(fit, thetas, confidence: float, points: int = 200) -> list[pd.DataFrame]:
    """Densities of the mixing distributions (gamma of λ, beta of p, gamma of μ, ...) at the estimate,
    with a band over parameter draws; one frame per distribution (columns value, density, lower, upper)."""
    names = list(fit.params.index)
    out = []
    for (first, second), kind, label in HETEROGENEITY[fit.name]:
        i, j = names.index(first), names.index(second)
        a, b = fit.theta[i], fit.theta[j]
        if kind == "gamma":
            top = stats.gamma.ppf(0.97, a, scale=1 / b)
            grid = np.linspace(top / points, top, points)
        else:
            grid = np.linspace(0.005, 0.995, points)
        drawn = _density(kind, thetas[:, i:i + 1], thetas[:, j:j + 1], grid[None, :])
        lower, upper = band(drawn, confidence)
        frame = pd.DataFrame({"value": grid, "density": _density(kind, a, b, grid), "lower": lower, "upper": upper})
        frame.attrs.update(label=label, kind=kind, parameters=(first, second), mean=float(a / b if kind == "gamma"
                                                                                         else a / (a + b)))
        out.append(frame)
    return out


def alive_history(fit, log: pd.DataFrame, summary: pd.DataFrame, customers, calibration_end, thetas,
                  confidence: float, points: int = 120) -> pd.DataFrame:
    """P(alive) of chosen customers through the calibration period, re-computed at each time point from
    the purchases made up to then (lifetimes' `plot_history_alive`), with a band over parameter draws.

    All customers' time grids are stacked in one array (no loop over customers): at time t weeks after
    the first purchase, x(t) = repeat purchases up to t, t_x(t) = time of the last one.
    """
    from . import rfm

    daily = rfm.merge_same_day(log)
    end = day_number(calibration_end)
    ids = pd.Index(daily.customer_ids)
    chosen = ids.get_indexer(pd.Index(customers))
    in_cal = np.isin(daily.customer_codes, chosen) & (daily.days <= end)
    codes, days = daily.customer_codes[in_cal], daily.days[in_cal]
    first = pd.Series(days).groupby(codes).transform("min").to_numpy()
    weeks = (days - first) / 7.0                               # purchase times since each one's first
    T = summary.loc[list(customers), "T"].to_numpy(dtype=float)
    who = np.repeat(np.arange(len(customers)), points)
    t = (np.tile(np.linspace(0, 1, points), len(customers)) * T[who])
    # purchases of customer `who` at times ≤ t: sort by (customer, time) and search within the block
    position = pd.Index(chosen).get_indexer(codes)               # 0..k-1: which chosen customer
    order = np.lexsort((weeks, position))
    key_c, key_t = position[order], weeks[order]
    span = float(T.max()) + 1.0
    flat = key_c * span + key_t
    found = np.searchsorted(flat, who * span + t, side="right")             # purchases up to t, all customers
    before = np.searchsorted(flat, who * span - 0.5, side="right")
    x = np.maximum(found - before - 1, 0).astype(float)                     # repeat purchases up to t
    last = np.where(found - before > 0, key_t[np.maximum(found - 1, 0)], 0.0)
    estimate = purchase_predictions(fit, fit.theta[None, :], x, last, t, 0.0)["p_alive"][0]
    drawn = purchase_predictions(fit, thetas, x, last, t, 0.0)["p_alive"]
    lower, upper = band(drawn, confidence)
    return pd.DataFrame({"customer": np.asarray(customers, dtype=object)[who].astype(str), "weeks": t,
                         "repeat purchases": x, "p_alive": estimate, "lower": lower, "upper": upper})


def choose_customers(summary: pd.DataFrame, k: int = 3) -> list:
    """A deterministic choice of customers for the P(alive) history: the most frequent repeat buyer,
    the repeat buyer (x ≥ 2) who has been silent longest relative to T, and the repeat buyer at the
    median frequency with the most recent purchase; ties go to the smallest customer id."""
    # In customer-id order, so that ties never depend on the order of the log's rows.
    repeat = summary[summary["frequency"] > 0].sort_index(kind="stable")
    if repeat.empty:
        return []
    picks = [repeat["frequency"].idxmax()]
    quiet = repeat[repeat["frequency"] >= 2]
    if not quiet.empty:
        picks.append(((quiet["T"] - quiet["recency"]) / quiet["T"]).idxmax())
    median = repeat["frequency"].median()
    middle = repeat[repeat["frequency"] == repeat["frequency"].iloc[(repeat["frequency"] - median).abs().argmin()]]
    picks.append(middle["recency"].idxmax())
    return list(dict.fromkeys(picks))[:k]


# ------------------------------------------------------------------ the BG/BB on a discrete-time summary

def discrete_histogram_band(fit, frame: pd.DataFrame, thetas, confidence: float) -> pd.DataFrame:
    """Customers by number of transactions (0..n) in a discrete-time summary: actual against the BG/BB's
    expectation (FHS 2010, eq. 7), with a band over parameter draws; customers grouped by their n."""
    n_max = int(frame["periods"].max())
    w = frame["count"].to_numpy(float)
    actual = np.bincount(frame["frequency"].astype(int), weights=w, minlength=n_max + 1)

    def expected(theta):
        return bgbb.expected_histogram(theta, frame["periods"], w)

    drawn = np.array([expected(theta) for theta in thetas])          # one row per draw (a few dozen numbers each)
    lower, upper = band(drawn, confidence)
    return pd.DataFrame({"transactions": [str(k) for k in range(n_max + 1)], "actual": actual,
                         "expected": expected(fit.theta), "lower": lower, "upper": upper})


def discrete_value_intervals(fit, frame: pd.DataFrame, settings: dict, thetas, confidence: float, resamples: int,
                             rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """BG/BB P(alive), expected transactions in the next periods and DERT per (x, t_x, n) row and in total,
    with parametric and customer-bootstrap (multinomial on the rows, warm-started re-fit) intervals."""
    x, t_x, n, w = (frame[c].to_numpy(float) for c in ("frequency", "recency", "periods", "count"))
    args = (x, t_x, n, settings["future_periods"], settings["discount_rate"])
    names = {"p_alive": "p_alive", "expected": "expected_transactions", "dert": "dert"}
    estimate = bgbb.predictions_for_draws(fit.theta[None, :], *args)
    drawn = bgbb.predictions_for_draws(thetas, *args)
    counts = rng.multinomial(int(w.sum()), w / w.sum(), size=resamples) if resamples else np.zeros((0, w.size))
    refits = [quick_mle(bgbb.BgBbLikelihood(x, t_x, n, weights=sample), fit.theta) for sample in counts]
    kept = np.array([theta for theta, ok in refits if ok]).reshape(-1, 4)
    booted = bgbb.predictions_for_draws(kept, *args) if len(kept) else None
    rows = pd.DataFrame({"x": x, "t_x": t_x, "n": n, "customers": w})
    table, totals_rows = rows.copy(), []
    lower_name, upper_name = f"{confidence:.0%} lower", f"{confidence:.0%} upper"
    for key, name in names.items():
        table[name] = estimate[key][0]
        table[f"{name}_parametric_lower"], table[f"{name}_parametric_upper"] = band(drawn[key], confidence)
        if booted is not None:
            table[f"{name}_bootstrap_lower"], table[f"{name}_bootstrap_upper"] = band(booted[key], confidence)
        total = (lambda v: v @ w / w.sum()) if key == "p_alive" else (lambda v: v @ w)
        p_lo, p_hi = band(total(drawn[key]), confidence)
        b_lo, b_hi = band(total(booted[key]), confidence) if booted is not None else (np.nan, np.nan)
        label = {"p_alive": "mean P(alive)", "expected": f"expected transactions, next {settings['future_periods']} "
                 "periods (total)", "dert": f"DERT at {settings['discount_rate']:.0%} (total)"}[key]
        totals_rows.append({"quantity": label, "estimate": float(total(estimate[key][0])),
                            f"parametric {lower_name}": float(p_lo), f"parametric {upper_name}": float(p_hi),
                            f"bootstrap {lower_name}": float(b_lo), f"bootstrap {upper_name}": float(b_hi)})
    summary = {"confidence": confidence, "purchase_model": "BG/BB", "parametric_draws": len(thetas),
               "bootstrap_resamples": resamples, "bootstrap_dropped": int(resamples - len(kept)),
               "unique_rows": int(len(frame)), "customers": int(w.sum())}
    return table, pd.DataFrame(totals_rows), summary
