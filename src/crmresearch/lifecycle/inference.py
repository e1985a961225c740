"""Tests of the Markov model: time-homogeneity, order, sojourn times; per-period rates.

Homogeneity (Anderson & Goodman 1957, section 3.3): with transitions split into groups g (e.g. the
first and second half of the observation window),

    G^2 = 2 sum_g sum_i sum_j n_gij log( p_gij / p_ij ),  p_gij = n_gij / n_gi,  p_ij = n_ij / n_i,

asymptotically chi-square. Conditioning on the origin row makes the test blind to changes of the
stage mix (how many customers sit in each stage), which is not a property of the transition
matrix. Per row, df_i = (G_i - 1)(J_i - 1) with G_i the groups that have exposure in row i and J_i
the destinations observed in row i (Bishop, Fienberg & Holland 1975, §7.4 for the treatment of
zeros). The contrast, a chi-square of group x (from, to) cells, rejects whenever the mix changes;
it is provided only to show that failure.

Order (Anderson & Goodman 1957, section 3.2): second- against first-order with triples
(h, i, j) of consecutive periods, G^2 = 2 sum n_hij log( p_hij / p_ij ) with p_ij estimated from
the same triples; df_i = (H_i - 1)(J_i - 1) per middle state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import config
from ..stats import wilson_interval
from .aggregates import is_aggregated
from .panel import StagePanel, transition_counts


def _xlogy_ratio(n, p_alt, p_null):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, n * (np.log(p_alt) - np.log(p_null)), 0.0)


@dataclass(frozen=True)
class LikelihoodRatioTest:
    name: str
    statistic: float
    df: int
    p_value: float
    rows: pd.DataFrame    # per-row contributions: stage, statistic, df, p_value

    def as_dict(self) -> dict:
        return {"test": self.name, "statistic": self.statistic, "df": self.df, "p_value": self.p_value,
                "rows": self.rows}


def _row_conditional_lr(counts_gij: np.ndarray, states, name: str) -> LikelihoodRatioTest:
    """G^2 for equality of row-conditional distributions across the first axis, per row i."""
    n_gij = np.asarray(counts_gij, float)
    n_gi = n_gij.sum(axis=2, keepdims=True)
    n_ij = n_gij.sum(axis=0, keepdims=True)
    n_i = n_ij.sum(axis=2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_gij = n_gij / n_gi
        p_ij = n_ij / n_i
    cell = _xlogy_ratio(n_gij, p_gij, np.broadcast_to(p_ij, n_gij.shape))
    stat_i = 2 * cell.sum(axis=(0, 2))
    groups_i = (n_gi[..., 0] > 0).sum(axis=0)
    dest_i = (n_ij[0] > 0).sum(axis=1)
    df_i = np.maximum(groups_i - 1, 0) * np.maximum(dest_i - 1, 0)
    p_i = np.where(df_i > 0, sps.chi2.sf(stat_i, np.maximum(df_i, 1)), np.nan)
    rows = pd.DataFrame({"stage": list(states), "exposure": n_i[0, :, 0].astype(np.int64),
                         "statistic": stat_i, "df": df_i, "p_value": p_i})
    stat, df = float(stat_i.sum()), int(df_i.sum())
    return LikelihoodRatioTest(name, stat, df, float(sps.chi2.sf(stat, df)) if df else float("nan"), rows)


def homogeneity_test(panel: StagePanel, groups) -> LikelihoodRatioTest:
    """Anderson-Goodman test that the transition matrix is the same in every period group.

    `groups` gives each origin period a group code (e.g. `split_periods(panel, 2)`).
    """
    counts = transition_counts(panel, groups=groups)
    return _row_conditional_lr(counts, panel.states, "time-homogeneity (Anderson-Goodman LR)")


def split_periods(panel: StagePanel, n_groups: int = 2) -> np.ndarray:
    """Group code per period: the periods that carry transitions cut into `n_groups` equal runs."""
    if is_aggregated(panel):
        per = np.flatnonzero(panel.moves_by_period().sum(axis=(1, 2)) > 0)
    else:
        _, per, _, _ = panel.pairs()
    first, last = int(per.min()), int(per.max())
    codes = np.zeros(panel.n_periods, np.int64)
    span = np.arange(first, last + 1)
    codes[span] = np.minimum((span - first) * n_groups // (last - first + 1), n_groups - 1)
    codes[last + 1:] = n_groups - 1
    return codes


def joint_cell_chi_square(panel: StagePanel, groups) -> dict:
    """Pearson chi-square of group x (from, to) cells: the wrong homogeneity test.

    It compares joint frequencies of transitions, so it also reacts to the stage mix (the share
    of transitions that start in each stage) and rejects a homogeneous chain whose mix changes.
    """
    counts = transition_counts(panel, groups=groups)
    table = counts.reshape(counts.shape[0], -1)
    table = table[:, table.sum(axis=0) > 0]
    table = table[table.sum(axis=1) > 0]
    stat, p, df, _ = sps.chi2_contingency(table, correction=False)
    return {"test": "joint-cell chi-square", "statistic": float(stat), "df": int(df), "p_value": float(p)}


def order_test(panel: StagePanel) -> LikelihoodRatioTest:
    """Anderson-Goodman LR test of a first-order chain against a second-order one."""
    s = panel.n_states
    _, _, h, i, j = panel.triples()
    n_hij = np.bincount((h * s + i) * s + j, minlength=s**3).reshape(s, s, s)
    # Axis order (h, i, j): the "groups" of the row-conditional test are the previous stages h,
    # and the rows are the current stage i.
    return _row_conditional_lr(n_hij, panel.states, "Markov order 2 vs 1 (Anderson-Goodman LR)")


def sojourn_survival(panel: StagePanel, P, max_duration: int = 12) -> pd.DataFrame:
    """Kaplan-Meier survival of time in stage against the geometric law the chain implies.

    A spell is a run of consecutive periods in one stage. Spells that start at entry are used as
    observed; spells still running at the last observed period are right-censored. Under a
    first-order chain the survival after d periods is p_ii^d.
    """
    s = panel.n_states
    if panel.uses_grid:
        g = panel.grid
    else:  # pragma: no cover - spells need the grid; panels too sparse for it are rare here
        raise ValueError("sojourn_survival needs a panel dense enough for the customer x period grid")
    n_c, n_t = g.shape
    prev = np.concatenate([np.full((n_c, 1), -1, g.dtype), g[:, :-1]], axis=1)
    nxt = np.concatenate([g[:, 1:], np.full((n_c, 1), -1, g.dtype)], axis=1)
    observed = g >= 0
    starts = observed & (g != prev)
    ends = observed & (g != nxt)
    censored_end = ends & (nxt < 0)
    # Spell length by matching the k-th start and the k-th end in row-major order.
    sc, st = np.nonzero(starts)
    ec, et = np.nonzero(ends)
    length = et - st + 1
    stage = g[sc, st].astype(np.int64)
    event = ~censored_end[ec, et]
    rows = []
    # A spell seen for L periods without its end is known to last at least L, so it is at risk
    # of ending after durations 1..L-1 only; a completed spell of length L ends at duration L.
    known = np.minimum(length - (~event), max_duration + 1)
    for i in range(s):
        if np.asarray(P)[i, i] >= 1:   # an absorbing stage is never left: nothing to compare
            continue
        mask = stage == i
        ev = event[mask] & (length[mask] <= max_duration)
        at_risk = np.bincount(known[mask], minlength=max_duration + 2)[::-1].cumsum()[::-1]
        exits = np.bincount(length[mask][ev], minlength=max_duration + 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            hazard = np.where(at_risk > 0, exits / at_risk, np.nan)
        surv = np.cumprod(1 - np.nan_to_num(hazard[1:max_duration + 1]))
        dur = np.arange(1, max_duration + 1)
        rows.append(pd.DataFrame({"stage": panel.states[i], "duration": dur, "at_risk": at_risk[1:max_duration + 1],
                                  "km_survival": surv, "geometric_survival": np.asarray(P)[i, i] ** dur}))
    return pd.concat(rows, ignore_index=True)


def period_rates(panel: StagePanel, active, lost, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """Per origin period: retention, reactivation and churn with Wilson intervals.

    retention = P(active at t+1 | active at t); reactivation = P(active at t+1 | not active at t);
    churn = P(lost at t+1 | not lost at t). `active` and `lost` are lists of stage codes.
    An engine's `StageAggregates` gives the same counts from its moves by origin period.
    """
    is_active = np.isin(np.arange(panel.n_states), list(active))
    is_lost = np.isin(np.arange(panel.n_states), list(lost))
    stage_sets = {"retention": (is_active, is_active), "reactivation": (~is_active, is_active),
                  "churn": (~is_lost, is_lost)}
    if is_aggregated(panel):
        moves = panel.moves_by_period()
        counts = {name: (moves[:, origin].sum(axis=(1, 2)), moves[:, origin][:, :, target].sum(axis=(1, 2)))
                  for name, (origin, target) in stage_sets.items()}
    else:
        _, per, a, b = panel.pairs()
        counts = {name: (np.bincount(per[origin[a]], minlength=panel.n_periods),
                         np.bincount(per[origin[a] & target[b]], minlength=panel.n_periods))
                  for name, (origin, target) in stage_sets.items()}
    out = []
    for name, (n, k) in counts.items():
        lo, hi = wilson_interval(k, n, confidence)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n > 0, k / n, np.nan)
        labels = panel.period_labels if panel.period_labels is not None else np.arange(panel.n_periods)
        out.append(pd.DataFrame({"measure": name, "period": np.arange(panel.n_periods),
                                 "label": [str(x) for x in labels], "n": n, "k": k, "rate": rate,
                                 "lower": lo, "upper": hi}))
    frame = pd.concat(out, ignore_index=True)
    return frame[frame["n"] > 0].reset_index(drop=True)


def empirical_first_passage(panel: StagePanel, target, horizon: int) -> pd.DataFrame:
    """Kaplan-Meier share of customers who first reached a target stage within k periods of entry.

    Customers who never reach it are censored at their last observed period (end of data).
    Gaps in a customer's history are ignored (periods since entry are counted on the calendar).
    """
    is_target = np.isin(panel.stage, list(target))
    cust, entry, _ = panel.entries()
    entry_of = np.zeros(panel.n_customers, np.int64)
    entry_of[cust] = entry
    tenure = panel.period - entry_of[panel.customer]
    big = np.iinfo(np.int64).max
    first_hit = np.full(panel.n_customers, big)
    np.minimum.at(first_hit, panel.customer[is_target], tenure[is_target])
    last_seen = np.zeros(panel.n_customers, np.int64)
    np.maximum.at(last_seen, panel.customer, tenure)
    hit = first_hit[cust] < big
    time = np.where(hit, first_hit[cust], last_seen[cust])
    time = np.minimum(time, horizon + 1)
    event = hit & (first_hit[cust] <= horizon)
    # At risk at step k: not yet in the target before k and still observed at k.
    at_risk = np.bincount(time, minlength=horizon + 2)[::-1].cumsum()[::-1]
    events = np.bincount(time[event], minlength=horizon + 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(at_risk[:horizon + 1] > 0, events[:horizon + 1] / at_risk[:horizon + 1], 0.0)
    reached = 1 - np.cumprod(1 - hazard)
    return pd.DataFrame({"step": np.arange(horizon + 1), "reached": reached, "at_risk": at_risk[:horizon + 1]})
