"""Stage panels and vectorized transition counting.

A stage panel is one row per customer and period: (customer, period, stage). A transition is a
pair of rows of the *same* customer in *consecutive* periods. Counting never joins one customer's
last period to the next customer's first (no cross-customer transitions), a gap in a customer's
history breaks the chain instead of bridging it, the first observed period of a customer is its
entry (it has no incoming transition) and the last one is right-censored (no outgoing transition).

Counting is order-independent: rows are scattered into a customer x period grid (or, when that grid
would be mostly empty, sorted by customer and period) and the pairs are counted with one
`np.bincount` over `from * S + to`; no Python loop touches a customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .aggregates import is_aggregated

# The grid costs n_customers * n_periods bytes; above this multiple of the row count the
# sort-based path is cheaper.
_GRID_DENSITY_LIMIT = 4


class PanelError(ValueError):
    """A stage panel that cannot be counted (duplicate rows, unknown stages)."""


@dataclass(frozen=True, eq=False)
class StagePanel:
    """Customers' stages by period, as integer codes.

    customer: codes 0..n_customers-1 (labels in `customer_ids`);
    period: consecutive integers 0..n_periods-1 (labels in `period_labels`), so that period t+1
    follows period t; stage: codes 0..S-1 into `states`.
    """

    customer: np.ndarray
    period: np.ndarray
    stage: np.ndarray
    states: tuple[str, ...]
    customer_ids: pd.Index | None = None
    period_labels: pd.Index | None = None
    extra: dict = field(default_factory=dict)   # per-row columns (e.g. revenue), aligned with rows

    def __post_init__(self):
        n = self.customer.size
        if self.period.size != n or self.stage.size != n:
            raise PanelError("customer, period and stage must have the same length")
        if n and (self.stage.min() < 0 or self.stage.max() >= len(self.states)):
            raise PanelError(f"stage codes must lie in 0..{len(self.states) - 1}")
        if n and (self.customer.min() < 0 or self.period.min() < 0):
            raise PanelError("customer and period codes must be non-negative")

    @property
    def n_rows(self) -> int:
        return int(self.customer.size)

    @property
    def n_states(self) -> int:
        return len(self.states)

    @cached_property
    def n_customers(self) -> int:
        return int(self.customer.max()) + 1 if self.n_rows else 0

    @cached_property
    def n_periods(self) -> int:
        return int(self.period.max()) + 1 if self.n_rows else 0

    @classmethod
    def from_frame(cls, df: pd.DataFrame, customer: str = "customer_id", period: str = "period",
                   stage: str = "stage", states=None, extra_columns=()) -> StagePanel:
        """Build a panel from a user's (customer, period, stage) table.

        `period` may hold integers, monthly `Period`s or dates (taken as calendar months).
        `states` fixes the order of the stages (default: order of first appearance, sorted).
        """
        cust_codes, cust_ids = pd.factorize(df[customer], sort=False)
        period_codes, period_labels = period_codes_from(df[period])
        if states is None:
            states = tuple(sorted(pd.unique(df[stage]).tolist(), key=str))
        states = tuple(states)
        stage_codes = pd.Categorical(df[stage], categories=list(states)).codes
        if (stage_codes < 0).any():
            bad = sorted(set(df[stage][stage_codes < 0].astype(str)))[:5]
            raise PanelError(f"stages not among {states}: {bad}")
        extra = {c: df[c].to_numpy() for c in extra_columns}
        return cls(cust_codes.astype(np.int64), period_codes, stage_codes.astype(np.int16), states,
                   pd.Index(cust_ids), period_labels, extra)

    def to_frame(self) -> pd.DataFrame:
        out = pd.DataFrame({
            "customer_id": self.customer_ids[self.customer] if self.customer_ids is not None else self.customer,
            "period": self.period_labels[self.period] if self.period_labels is not None else self.period,
            "stage": pd.Categorical.from_codes(self.stage, categories=list(self.states)),
        })
        for name, values in self.extra.items():
            out[name] = values
        return out

    def select(self, mask) -> StagePanel:
        """Rows where `mask` is true (codes and labels kept, so periods stay comparable)."""
        mask = np.asarray(mask, dtype=bool)
        return StagePanel(self.customer[mask], self.period[mask], self.stage[mask], self.states,
                          self.customer_ids, self.period_labels, {k: v[mask] for k, v in self.extra.items()})

    @cached_property
    def uses_grid(self) -> bool:
        return self.n_customers * self.n_periods <= _GRID_DENSITY_LIMIT * max(self.n_rows, 1) + 1_000_000

    @cached_property
    def grid(self) -> np.ndarray:
        """n_customers x n_periods stage codes, -1 where the customer is not observed."""
        grid = np.full((self.n_customers, self.n_periods), -1, dtype=np.int16)
        flat = self.customer * self.n_periods + self.period
        grid.ravel()[flat] = self.stage
        # A duplicate (customer, period) would silently overwrite; the filled-cell count finds it.
        if np.count_nonzero(grid >= 0) != self.n_rows:
            raise PanelError("duplicate (customer, period) rows: each customer has one stage per period")
        return grid

    @cached_property
    def _sorted(self) -> np.ndarray:
        order = np.lexsort((self.period, self.customer))
        c, p = self.customer[order], self.period[order]
        if np.any((c[1:] == c[:-1]) & (p[1:] == p[:-1])):
            raise PanelError("duplicate (customer, period) rows: each customer has one stage per period")
        return order

    def pairs(self):
        """Consecutive-period pairs of the same customer: (customer, origin period, from, to)."""
        if self.uses_grid:
            g = self.grid
            ok = (g[:, :-1] >= 0) & (g[:, 1:] >= 0)
            cust, per = np.nonzero(ok)
            return cust, per, g[cust, per].astype(np.int64), g[cust, per + 1].astype(np.int64)
        order = self._sorted
        c, p, s = self.customer[order], self.period[order], self.stage[order].astype(np.int64)
        ok = (c[1:] == c[:-1]) & (p[1:] == p[:-1] + 1)
        idx = np.flatnonzero(ok)
        return c[idx], p[idx], s[idx], s[idx + 1]

    def triples(self):
        """Three consecutive periods of the same customer: (customer, middle period, s_{t-1}, s_t, s_{t+1})."""
        g = self.grid if self.uses_grid else None
        if g is None:
            order = self._sorted
            c, p, s = self.customer[order], self.period[order], self.stage[order].astype(np.int64)
            ok = (c[2:] == c[:-2]) & (p[2:] == p[:-2] + 2) & (c[1:-1] == c[:-2])
            idx = np.flatnonzero(ok)
            return c[idx], p[idx + 1], s[idx], s[idx + 1], s[idx + 2]
        ok = (g[:, :-2] >= 0) & (g[:, 1:-1] >= 0) & (g[:, 2:] >= 0)
        cust, per = np.nonzero(ok)
        return (cust, per + 1, g[cust, per].astype(np.int64), g[cust, per + 1].astype(np.int64),
                g[cust, per + 2].astype(np.int64))

    def entries(self):
        """First observed row of each customer: (customer, period, stage)."""
        if self.uses_grid:
            observed = self.grid >= 0
            has = observed.any(axis=1)
            first = np.argmax(observed, axis=1)
            cust = np.flatnonzero(has)
            return cust, first[cust], self.grid[cust, first[cust]].astype(np.int64)
        order = self._sorted
        c = self.customer[order]
        start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        rows = order[start]
        return self.customer[rows], self.period[rows], self.stage[rows].astype(np.int64)

    def occupancy(self) -> np.ndarray:
        """n_periods x S counts of customers in each stage per period."""
        s = self.n_states
        return np.bincount(self.period * s + self.stage, minlength=self.n_periods * s).reshape(self.n_periods, s)


def period_codes_from(values: pd.Series):
    """Consecutive integer period codes (0 = earliest) and their labels.

    Dates are taken as calendar months; integers are used as they are (a step of 1 is one period).
    """
    if isinstance(values.dtype, pd.PeriodDtype):
        ordinal = values.array.asi8.astype(np.int64)
        base = int(ordinal.min())
        labels = pd.period_range(values.min(), values.max(), freq=values.dtype.freq)
        return ordinal - base, labels
    if pd.api.types.is_datetime64_any_dtype(values):
        months = values.dt.to_period("M")
        return period_codes_from(months)
    if pd.api.types.is_integer_dtype(values):
        v = values.to_numpy(np.int64)
        base = int(v.min())
        return v - base, pd.RangeIndex(base, int(v.max()) + 1)
    # Text read from a CSV file: whole numbers first, then dates.
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all():
        return period_codes_from(numbers.astype(np.int64))
    dates = pd.to_datetime(values, errors="coerce")
    if dates.notna().all():
        return period_codes_from(dates)
    raise PanelError(f"period column: expected integers, monthly periods or dates (got {values.dtype})")


def count_transitions(customer, period, stage, n_states: int, n_customers: int | None = None,
                      n_periods: int | None = None) -> np.ndarray:
    """S x S counts n_ij of consecutive-period pairs of the same customer, from integer codes.

    The fast path for large panels: customer and period codes must be non-negative integers
    (factorize labels first); rows may come in any order. Scatter into a customer x period grid of
    int16 stage codes, compare neighbouring columns, one bincount of `from * S + to`. Falls back to
    a lexsort when the grid would be mostly empty.
    """
    customer = np.asarray(customer)
    period = np.asarray(period)
    stage = np.asarray(stage)
    n_customers = int(customer.max()) + 1 if n_customers is None else n_customers
    n_periods = int(period.max()) + 1 if n_periods is None else n_periods
    s = n_states
    if n_customers * n_periods <= _GRID_DENSITY_LIMIT * customer.size + 1_000_000:
        # Stage code + 1 so that 0 means "not observed"; uint8 halves the memory traffic.
        dtype = np.uint8 if s < 255 else np.int32
        grid = np.zeros(n_customers * n_periods, dtype=dtype)
        grid[customer * n_periods + period] = stage + 1
        if np.count_nonzero(grid) != customer.size:
            raise PanelError("duplicate (customer, period) rows: each customer has one stage per period")
        grid = grid.reshape(n_customers, n_periods)
        a, b = grid[:, :-1], grid[:, 1:]
        code = a.astype(np.int32) * (s + 1) + b
        # Pairs with a missing end land in row 0 or column 0 of the (S+1)^2 table; drop them.
        full = np.bincount(code.ravel(), minlength=(s + 1) ** 2).reshape(s + 1, s + 1)
        return full[1:, 1:].astype(np.int64)
    order = np.lexsort((period, customer))
    c, p, st = customer[order], period[order], stage[order].astype(np.int64)
    ok = (c[1:] == c[:-1]) & (p[1:] == p[:-1] + 1)
    return np.bincount(st[:-1][ok] * s + st[1:][ok], minlength=s * s).reshape(s, s)


def transition_counts(panel: StagePanel, groups=None, n_groups: int | None = None) -> np.ndarray:
    """Counts n_ij (S x S), or n_gij (G x S x S) when `groups` maps each origin period to a group.

    `groups` is an integer array indexed by period (e.g. 0 for the first half, 1 for the second).
    An engine's `StageAggregates` gives the same counts from its moves by origin period.
    """
    if is_aggregated(panel):
        return panel.transition_counts(groups, n_groups)
    s = panel.n_states
    if groups is None:
        return count_transitions(panel.customer, panel.period, panel.stage, s, panel.n_customers, panel.n_periods)
    _, per, a, b = panel.pairs()
    g = np.asarray(groups)[per]
    n_groups = int(np.max(groups)) + 1 if n_groups is None else n_groups
    return np.bincount((g * s + a) * s + b, minlength=n_groups * s * s).reshape(n_groups, s, s)


def customer_transition_counts(panel: StagePanel) -> np.ndarray:
    """n_customers x S^2 transition counts per customer (the unit the cluster bootstrap resamples)."""
    s = panel.n_states
    cust, _, a, b = panel.pairs()
    cells = s * s
    # One customer makes at most n_periods - 1 moves, so a small unsigned type holds every count;
    # bincount's int64 output is produced chunk by chunk to keep memory near the final table.
    dtype = np.uint16 if panel.n_periods < 2**16 else np.uint32
    out = np.zeros((panel.n_customers, cells), dtype=dtype)
    order = np.argsort(cust, kind="stable") if np.any(np.diff(cust) < 0) else slice(None)
    cust, flat = cust[order], (a * s + b)[order]
    chunk = max(1, 4_000_000 // cells)
    bounds = np.searchsorted(cust, np.arange(0, panel.n_customers + chunk, chunk))
    for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        first = k * chunk
        rows = min(chunk, panel.n_customers - first)
        if rows <= 0:
            break
        out[first:first + rows] = np.bincount((cust[lo:hi] - first) * cells + flat[lo:hi],
                                              minlength=rows * cells).reshape(rows, cells)
    return out


def panel_gaps(panel: StagePanel) -> dict:
    """Periods missing inside customers' histories (between their first and last observed period).

    Moves are counted only between consecutive observed periods, so each gap (a run of missing
    periods) removes the one move that would have crossed it. Returns the number of customers with
    a gap, of missing customer-periods, and of moves not counted because of gaps. The panel an
    engine builds from a transaction log has a row for every month from entry (no gaps).
    """
    n = panel.n_customers
    if is_aggregated(panel):
        return {"customers_with_gaps": 0, "missing_periods": 0, "moves_not_counted": 0}
    if n == 0:
        return {"customers_with_gaps": 0, "missing_periods": 0, "moves_not_counted": 0}
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, -1)
    np.minimum.at(first, panel.customer, panel.period)
    np.maximum.at(last, panel.customer, panel.period)
    observed = np.bincount(panel.customer, minlength=n)
    missing = (last - first + 1) - observed
    # gap runs = observed rows whose next observed period (same customer) is not the next period
    order = np.lexsort((panel.period, panel.customer))
    c, t = panel.customer[order], panel.period[order]
    runs = int(np.sum((c[1:] == c[:-1]) & (t[1:] - t[:-1] > 1)))
    return {"customers_with_gaps": int(np.sum(missing > 0)), "missing_periods": int(missing.sum()),
            "moves_not_counted": runs}
