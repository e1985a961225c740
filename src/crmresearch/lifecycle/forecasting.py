"""k-step forecasts of the stage mix with bootstrap bands, and a holdout backtest.

A forecast of a closed group of customers is pi_{t+k} = pi_t P^k (Chapman-Kolmogorov). Bands come
from pushing every customer-cluster bootstrap matrix through the same recursion (percentiles over
resamples), so they carry the estimation uncertainty of P, not the sampling noise of the future.

The backtest fits P on the transitions that end by an origin period, forecasts the mix of the
customers present at the origin, and scores it against what happened: the total-variation
distance between forecast and observed mix (half the L1 distance, 0..1) by horizon, against the
naive forecast "the mix stays as it is", and the mean predictive log score of each customer's
stage (log of the forecast probability of the stage the customer actually reached), which rewards
a state space that knows more about each customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .chains import forecast_distribution
from .estimation import TransitionMatrix, estimate_transition_matrix
from .panel import StagePanel, transition_counts


def bootstrap_matrices(matrix: TransitionMatrix) -> np.ndarray:
    """The bootstrap matrices with rows no resample visited replaced by the point estimate."""
    if matrix.boot_samples is None:
        raise ValueError("the matrix was estimated without bootstrap (n_boot=0)")
    samples = matrix.boot_samples.copy()
    point = np.nan_to_num(matrix.probabilities)
    missing = np.isnan(samples).any(axis=-1)
    samples[missing] = np.broadcast_to(point, samples.shape)[missing]
    return samples


def forecast_with_bands(initial, matrix: TransitionMatrix, horizon: int) -> pd.DataFrame:
    """Stage mix forecast with percentile bands: step, stage, share, lower, upper."""
    point = forecast_distribution(initial, np.nan_to_num(matrix.probabilities), horizon)
    boot = forecast_distribution(initial, bootstrap_matrices(matrix), horizon)
    alpha = (1 - matrix.confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    steps, stages = np.meshgrid(np.arange(horizon + 1), np.arange(matrix.n_states), indexing="ij")
    return pd.DataFrame({"step": steps.ravel(), "stage": np.asarray(matrix.states, dtype=object)[stages.ravel()],
                         "share": point.ravel(), "lower": lo.ravel(), "upper": hi.ravel()})


def calibration_panel(panel: StagePanel, origin: int) -> StagePanel:
    """The rows up to and including the origin period (what was known at the origin)."""
    return panel.select(panel.period <= origin)


def _stage_grid(panel: StagePanel, absorbing=()) -> np.ndarray:
    """Customer x period stage codes (-1 unobserved), absorbing stages carried forward.

    A customer observed once in an absorbing stage and then dropped from the panel is still
    in that stage later; without carrying it forward the observed mix would lose the churned.
    """
    grid = np.full((panel.n_customers, panel.n_periods), -1, np.int64)
    grid[panel.customer, panel.period] = panel.stage
    if absorbing:
        hit = np.isin(grid, list(absorbing))
        first = np.where(hit.any(axis=1), np.argmax(hit, axis=1), panel.n_periods)
        state = grid[np.arange(panel.n_customers), np.minimum(first, panel.n_periods - 1)]
        after = np.arange(panel.n_periods)[None, :] >= first[:, None]
        grid = np.where(after, state[:, None], grid)
    return grid


def backtest(panel: StagePanel, origin: int, horizon: int, allowed=None, eval_map=None,
             n_eval_states: int | None = None, absorbing=()) -> pd.DataFrame:
    """Holdout backtest of the chain fitted up to `origin` on the customers present at `origin`.

    eval_map maps this panel's stages to the stages the forecast is scored on (to compare a finer
    state space with a coarse one on the coarse stages); default: identity. Customers who left
    the panel in an `absorbing` stage count as staying there.
    Returns per horizon: the chain's and the naive forecast's total-variation error and the
    chain's mean log score.
    """
    s = panel.n_states
    eval_map = np.arange(s) if eval_map is None else np.asarray(eval_map)
    n_eval = int(eval_map.max()) + 1 if n_eval_states is None else n_eval_states
    aggregate = np.zeros((s, n_eval))
    aggregate[np.arange(s), eval_map] = 1
    fit = estimate_transition_matrix(calibration_panel(panel, origin), allowed=allowed, absorbing=absorbing)
    P = fit.probabilities.copy()
    # A stage never left before the origin has no estimate; assume it persists.
    empty = np.isnan(P).any(axis=1)
    P[empty] = np.eye(s)[empty]
    grid = _stage_grid(panel, absorbing)
    start = grid[:, origin]
    present = start >= 0
    initial = np.bincount(start[present], minlength=s) / present.sum()
    mix = forecast_distribution(initial, P, horizon) @ aggregate
    naive = initial @ aggregate
    rows = []
    step = np.eye(s)
    for h in range(1, min(horizon, panel.n_periods - 1 - origin) + 1):
        step = step @ P
        actual_stage = grid[:, origin + h]
        both = present & (actual_stage >= 0)
        actual = np.bincount(eval_map[actual_stage[both]], minlength=n_eval) / both.sum()
        prob = (step @ aggregate)[start[both], eval_map[actual_stage[both]]]
        rows.append({"horizon": h, "chain_error": 0.5 * np.abs(mix[h] - actual).sum(),
                     "naive_error": 0.5 * np.abs(naive - actual).sum(),
                     "log_score": float(np.mean(np.log(np.maximum(prob, 1e-12)))),
                     "customers": int(both.sum())})
    return pd.DataFrame(rows)


def transitions_by_period(panel: StagePanel) -> np.ndarray:
    """T x S x S counts by origin period (for per-period matrices and occupancy flows)."""
    return transition_counts(panel, groups=np.arange(panel.n_periods), n_groups=panel.n_periods)
