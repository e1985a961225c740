"""Tables the lifecycle report shows, computed from fitted results (no statistics of their own
beyond propagating bootstrap matrices through the chain formulas of `chains`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .aggregates import is_aggregated
from .chains import PATTERNS, absorption_analysis, relationship_pattern_chain
from .estimation import TransitionMatrix
from .forecasting import bootstrap_matrices
from .panel import StagePanel


def stage_summary(panel: StagePanel) -> pd.DataFrame:
    """Customer-periods, share and entering customers by stage."""
    s = panel.n_states
    if is_aggregated(panel):
        rows, entering = panel.occupancy().sum(axis=0), panel.entering()
    else:
        rows = np.bincount(panel.stage, minlength=s)
        _, _, entry_stage = panel.entries()
        entering = np.bincount(entry_stage, minlength=s)
    return pd.DataFrame({"stage": list(panel.states), "customer-periods": rows,
                         "share of customer-periods": rows / rows.sum(), "customers entering here": entering})


def batched_expected_time(P_stack, target, initial) -> np.ndarray:
    """Expected periods before first reaching `target` from the start mix, for each matrix in a stack.

    Same formula as `absorption_analysis` (t = (I - Q)^{-1} 1), vectorized over B matrices.
    """
    P_stack = np.asarray(P_stack, float)
    s = P_stack.shape[-1]
    transient = [i for i in range(s) if i not in set(target)]
    Q = P_stack[:, transient][:, :, transient]
    eye = np.eye(len(transient))
    t = np.linalg.solve(eye - Q, np.ones((Q.shape[0], len(transient), 1)))[..., 0]
    init = np.asarray(initial, float)[transient]
    return t @ (init / init.sum())


def time_to_target_table(matrix: TransitionMatrix, target, initial) -> tuple[pd.DataFrame, dict]:
    """Expected periods to the target stages (and SD) from each stage and from the entry mix.

    The bootstrap interval of the entry-mix mean comes from the customer-cluster resamples.
    """
    P = np.nan_to_num(matrix.probabilities)
    analysis = absorption_analysis(P, target, matrix.states)
    names = np.asarray(matrix.states, dtype=object)
    table = pd.DataFrame({"from stage": names[list(analysis.transient)],
                          "expected periods": analysis.expected_periods, "SD": analysis.sd_periods})
    entry = analysis.from_distribution(initial)
    summary = {"mean": entry["mean"], "sd": entry["sd"], "lower": np.nan, "upper": np.nan}
    if matrix.boot_samples is not None:
        boot = batched_expected_time(bootstrap_matrices(matrix), target, initial)
        alpha = (1 - matrix.confidence) / 2
        summary["lower"], summary["upper"] = np.quantile(boot, [alpha, 1 - alpha])
    return table, summary


def pattern_probabilities(matrix: TransitionMatrix, stable_periods: int, P_true=None) -> pd.DataFrame:
    """The four relationship patterns from the prospect stage, with bootstrap intervals (and truth)."""
    def probs(P):
        chain = relationship_pattern_chain(P, matrix.states, stable_periods)
        a = absorption_analysis(chain.P, chain.absorbing, chain.states)
        return a.absorption_probabilities[a.transient.index(chain.start)]

    out = pd.DataFrame({"pattern": list(PATTERNS), "probability": probs(np.nan_to_num(matrix.probabilities))})
    if matrix.boot_samples is not None:
        boot = np.array([probs(P) for P in bootstrap_matrices(matrix)])   # B small matrices, ~ms each
        alpha = (1 - matrix.confidence) / 2
        out["lower"], out["upper"] = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    if P_true is not None:
        out["truth"] = probs(np.asarray(P_true))
    return out


def truth_comparison(matrix: TransitionMatrix, P_true) -> pd.DataFrame:
    """Estimated vs true cells with whether each interval covers the truth (simulations)."""
    table = matrix.long_table()
    i = [matrix.states.index(s) for s in table["from"]]
    j = [matrix.states.index(s) for s in table["to"]]
    table["truth"] = np.asarray(P_true)[i, j]
    table["Wilson covers"] = (table["wilson_lower"] <= table["truth"]) & (table["truth"] <= table["wilson_upper"])
    if "boot_lower" in table:
        table["bootstrap covers"] = (table["boot_lower"] <= table["truth"]) & (table["truth"] <= table["boot_upper"])
    return table


def pooled_truth(truth: dict, panel: StagePanel) -> np.ndarray:
    """The matrix the pooled ML estimate targets when two covariate groups move differently:
    each group's rows weighted by its share of the exposure in that row."""
    if truth.get("P_x") is None:
        return truth["P"]
    s = panel.n_states
    cust, _, a, _ = panel.pairs()
    x = np.zeros(panel.n_customers, np.int64)
    x[panel.customer] = panel.extra["x"]
    exposure = np.bincount(x[cust] * s + a, minlength=2 * s).reshape(2, s).astype(float)
    share = truth["covariate_share"]
    # Rows nobody leaves (absorbing) have no exposure; their truth is the same in both groups.
    weight = np.where(exposure.sum(axis=0) > 0, exposure / np.maximum(exposure.sum(axis=0), 1),
                      np.array([[1 - share], [share]]))
    return weight[0][:, None] * truth["P"] + weight[1][:, None] * truth["P_x"]
