"""The monthly stage panel as aggregates only: what an engine (DuckDB, Spark) brings back.

A transaction log of 100 million purchases gives a stage panel of hundreds of millions of
customer-months, which a run with an `engine:` block never builds in memory. The engine returns
the panel's aggregates instead (`crmresearch.engine.summaries.stage_summary`): transition counts
by origin month (T-1 x S x S), customers per month and stage, customers entering per month and
stage, and revenue per month and stage. `StageAggregates` holds them with the attributes the
report's sections read from a `StagePanel` (`states`, `n_states`, `n_periods`, `period_labels`,
`n_customers`, `n_rows`, `occupancy()`), so every statistic that follows from counts (the ML
matrix and its Wilson intervals, per-period rates, the homogeneity tests, the entry mix, the
absorbing-chain quantities, stage revenue) is computed by the same functions on both.
Statistics that need a customer's own sequence of stages (the customer-cluster bootstrap,
triples for the order test, spells, the cohort of one entry month, the backtest's log score,
covariate models) cannot be computed from them; their sections say so.

The finer state space (months since the last purchase by purchase count, `stages.finer_rules`)
refines the report's stages, so the report's aggregates are the finer ones summed over the
finer stages of each coarse stage (`coarsen`): one pass of the engine over the log serves both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class StageAggregates:
    """Aggregates of a monthly stage panel (see the module docstring); no customer-level rows."""

    states: tuple[str, ...]
    period_labels: pd.Index
    transitions: np.ndarray          # (n_periods - 1) x S x S moves by origin period
    occupancy_counts: np.ndarray     # n_periods x S customers in each stage
    entry_counts: np.ndarray         # n_periods x S customers entering (first month) in each stage
    revenue: np.ndarray              # n_periods x S summed revenue
    n_rows: int                      # customer-periods
    n_customers: int

    @classmethod
    def from_summary(cls, summary) -> StageAggregates:
        """From an engine `StageSummary` (crmresearch.engine.summaries)."""
        return cls(tuple(summary.states), summary.periods, np.asarray(summary.transitions, np.int64),
                   np.asarray(summary.occupancy, np.int64), np.asarray(summary.entries, np.int64),
                   np.asarray(summary.revenue, float), int(summary.rows), int(summary.customers))

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_periods(self) -> int:
        return int(self.occupancy_counts.shape[0])

    def occupancy(self) -> np.ndarray:
        """n_periods x S customers in each stage per period (as `StagePanel.occupancy`)."""
        return self.occupancy_counts

    def moves_by_period(self) -> np.ndarray:
        """n_periods x S x S moves by origin period (the last period starts none)."""
        out = np.zeros((self.n_periods, self.n_states, self.n_states), np.int64)
        out[: self.transitions.shape[0]] = self.transitions
        return out

    def transition_counts(self, groups=None, n_groups: int | None = None) -> np.ndarray:
        """S x S counts, or G x S x S when `groups` maps each origin period to a group
        (as `panel.transition_counts`)."""
        if groups is None:
            return self.transitions.sum(axis=0)
        groups = np.asarray(groups)[: self.transitions.shape[0]]
        n_groups = int(np.max(groups)) + 1 if n_groups is None else n_groups
        out = np.zeros((n_groups, self.n_states, self.n_states), np.int64)
        np.add.at(out, groups, self.transitions)
        return out

    def entering(self) -> np.ndarray:
        """Customers by the stage of their first month (S)."""
        return self.entry_counts.sum(axis=0)

    def stage_revenue(self) -> np.ndarray:
        """Mean revenue per customer-month in each stage (`stages.stage_revenue`)."""
        n = self.occupancy_counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.revenue.sum(axis=0) / n, np.nan)

    def coarsen(self, mapping, states) -> StageAggregates:
        """The aggregates on a coarser state space: `mapping[f]` is the coarse stage of finer stage f."""
        mapping = np.asarray(mapping, np.int64)
        s = len(states)
        transitions = np.zeros(self.transitions.shape[:1] + (s, s), np.int64)
        np.add.at(transitions, (slice(None), mapping[:, None], mapping[None, :]), self.transitions)
        occupancy, entries, revenue = (self._sum_stages(v, mapping, s)
                                       for v in (self.occupancy_counts, self.entry_counts, self.revenue))
        return StageAggregates(tuple(states), self.period_labels, transitions, occupancy, entries, revenue,
                               self.n_rows, self.n_customers)

    @staticmethod
    def _sum_stages(values, mapping, s) -> np.ndarray:
        out = np.zeros((values.shape[0], s), values.dtype)
        np.add.at(out, (slice(None), mapping), values)
        return out


def is_aggregated(panel) -> bool:
    """True for the aggregates of an engine run, False for a customer-level `StagePanel`."""
    return isinstance(panel, StageAggregates)


def refinement_map(fine_rules, rules) -> np.ndarray:
    """For `fine_rules = stages.finer_rules(rules)`: the stage of `rules` of each finer stage.

    A finer stage is (months since the last purchase m = 1 .. last bound + 1, count group); its
    coarse stage is m's recency group crossed with the same count group (no count when `rules`
    has none).
    """
    n_fine_count = len(fine_rules.count_labels) if fine_rules.count_bounds is not None else 1
    codes = np.arange(len(fine_rules.states))
    months = codes // n_fine_count + 1            # fine recency group r holds exactly month r + 1
    purchases = np.ones_like(codes)
    if rules.count_bounds is not None:
        # A purchase count inside each count group: its lower bound (1, or the bound below + 1).
        lower = np.r_[1, np.asarray(rules.count_bounds) + 1]
        purchases = lower[codes % n_fine_count]
    return rules.stage_codes(months, purchases).astype(np.int64)
