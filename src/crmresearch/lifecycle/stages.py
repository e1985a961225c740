"""Lifecycle stages assigned from a transaction log by recency and purchase-count rules.

The rules follow a common e-commerce customer-tracking table (电商客户跟踪表; see the site's
background page, section `lifecycle`): by months since the last purchase a customer is *new* (新鲜组/保持组,
bought within 1-3 months), *wake* (唤醒组, 4-6), *activate* (激活组, 7-9) or *lost* (流失组, 10+);
by number of purchases: none, one, two, three or more. A transaction log only contains customers who
bought, so "none" (prospects) never appears in it.

Periods are calendar months. A customer enters the panel in the month of the first purchase and
stays in it, one row per month, until the end of the data (right-censoring): months without a
purchase are exactly the information the recency stage is built from. Recency in month t is
r = t - (month of the last purchase up to t) + 1, so a purchase this month gives r = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .panel import StagePanel

SEED_RECENCY_BOUNDS = (3, 6, 9)
SEED_RECENCY_LABELS = ("new", "wake", "activate", "lost")
SEED_COUNT_BOUNDS = (1, 2)
SEED_COUNT_LABELS = ("one", "two", "three+")


@dataclass(frozen=True)
class StageRules:
    """Recency groups (upper bounds in months, inclusive) and optional purchase-count groups.

    recency_bounds (3, 6, 9) with 4 labels means r in 1-3, 4-6, 7-9, 10+. count_bounds (1, 2) with
    3 labels means 1, 2, 3+ purchases; None ignores the count. A stage is "recency/count".
    """

    recency_bounds: tuple[int, ...] = SEED_RECENCY_BOUNDS
    recency_labels: tuple[str, ...] = SEED_RECENCY_LABELS
    count_bounds: tuple[int, ...] | None = None
    count_labels: tuple[str, ...] | None = None

    def __post_init__(self):
        if len(self.recency_labels) != len(self.recency_bounds) + 1:
            raise ValueError("recency_labels needs one label more than recency_bounds")
        if list(self.recency_bounds) != sorted(set(self.recency_bounds)) or self.recency_bounds[0] < 1:
            raise ValueError("recency_bounds must be increasing positive month counts")
        if self.count_bounds is not None:
            if self.count_labels is None or len(self.count_labels) != len(self.count_bounds) + 1:
                raise ValueError("count_labels needs one label more than count_bounds")
            if list(self.count_bounds) != sorted(set(self.count_bounds)) or self.count_bounds[0] < 1:
                raise ValueError("count_bounds must be increasing positive purchase counts")

    @property
    def states(self) -> tuple[str, ...]:
        if self.count_bounds is None:
            return tuple(self.recency_labels)
        return tuple(f"{r}/{c}" for r in self.recency_labels for c in self.count_labels)

    def stage_codes(self, recency, purchases) -> np.ndarray:
        """Stage code of each (months since last purchase, cumulative purchases) pair."""
        r_group = np.searchsorted(np.asarray(self.recency_bounds), recency, side="left")
        if self.count_bounds is None:
            return r_group.astype(np.int16)
        c_group = np.searchsorted(np.asarray(self.count_bounds), purchases, side="left")
        return (r_group * len(self.count_labels) + c_group).astype(np.int16)

    def allowed_transitions(self) -> np.ndarray:
        """S x S booleans: which one-month moves the rules make possible (others are structural zeros).

        From (r, k) a month without purchase leads to (r + 1, k), a month with purchases to (1, k')
        with k' > k; recency beyond the last bound and counts beyond the last bound behave alike,
        so enumerating r up to last bound + 1 and k up to last bound + 1 covers every case.
        """
        r_max = self.recency_bounds[-1] + 1
        k_max = (self.count_bounds[-1] + 1) if self.count_bounds is not None else 1
        r, k = np.meshgrid(np.arange(1, r_max + 1), np.arange(1, k_max + 1), indexing="ij")
        r, k = r.ravel(), k.ravel()
        origin = self.stage_codes(r, k)
        s = len(self.states)
        allowed = np.zeros((s, s), bool)
        allowed[origin, self.stage_codes(np.minimum(r + 1, r_max), k)] = True
        for extra in range(1, k_max + 1):
            allowed[origin, self.stage_codes(np.ones_like(r), np.minimum(k + extra, k_max))] = True
        return allowed


def monthly_activity(transactions: pd.DataFrame, end=None):
    """Per customer x month purchase occasions and revenue, from the first month in the data.

    A purchase occasion is a distinct (customer, day): several lines on one day are one purchase.
    Returns (purchases grid, revenue grid, customer ids, month labels).
    """
    tx = transactions[["customer_id", "date", "amount"]]
    month = tx["date"].dt.to_period("M")
    first = month.min()
    last = pd.Period(end, freq="M") if end is not None else month.max()
    if last < month.max():
        tx, month = tx[month <= last], month[month <= last]
    codes, ids = pd.factorize(tx["customer_id"])
    m = (month.array.asi8 - first.ordinal).astype(np.int64)
    n_months = last.ordinal - first.ordinal + 1
    cells = codes * n_months + m
    revenue = np.bincount(cells, weights=tx["amount"].to_numpy(float), minlength=ids.size * n_months)
    day = tx["date"].to_numpy("datetime64[D]").astype(np.int64)
    occasion = pd.DataFrame({"c": codes, "d": day}).duplicated().to_numpy()
    purchases = np.bincount(cells[~occasion], minlength=ids.size * n_months)
    shape = (ids.size, n_months)
    return purchases.reshape(shape), revenue.reshape(shape), pd.Index(ids), pd.period_range(first, last, freq="M")


def assign_stages(transactions: pd.DataFrame, rules: StageRules = StageRules(), end=None) -> StagePanel:
    """Monthly stage panel from a transaction log (customer_id, date, amount).

    Every customer has one row per month from the first purchase month to `end` (default: last
    month in the data). Extra columns per row: purchases and revenue in the month, recency
    (months, 1 = bought this month), cumulative purchases and revenue, tenure (months since entry).
    """
    purchases, revenue, ids, months = monthly_activity(transactions, end)
    n_c, n_m = purchases.shape
    t = np.arange(n_m)
    bought = purchases > 0
    last_purchase = np.maximum.accumulate(np.where(bought, t, -1), axis=1)
    observed = last_purchase >= 0
    cust, per = np.nonzero(observed)
    recency = per - last_purchase[cust, per] + 1
    cum_purchases = np.cumsum(purchases, axis=1)[cust, per]
    cum_revenue = np.cumsum(revenue, axis=1)[cust, per]
    entry = np.argmax(observed, axis=1)
    stage = rules.stage_codes(recency, cum_purchases)
    extra = {
        "purchases": purchases[cust, per], "revenue": revenue[cust, per], "recency": recency,
        "cum_purchases": cum_purchases, "cum_revenue": cum_revenue, "tenure": per - entry[cust],
        "entry_period": entry[cust],
    }
    return StagePanel(cust.astype(np.int64), per.astype(np.int64), stage, rules.states, ids, months, extra)


def state_map(fine: StagePanel, coarse: StagePanel) -> np.ndarray:
    """For two panels of the same rows, the coarse stage code of each fine stage.

    Raises if a fine stage does not fall inside one coarse stage (the finer space must refine).
    """
    if fine.n_rows != coarse.n_rows or not np.array_equal(fine.customer, coarse.customer):
        raise ValueError("state_map needs two stage assignments of the same rows")
    table = np.zeros((fine.n_states, coarse.n_states), np.int64)
    np.add.at(table, (fine.stage, coarse.stage), 1)
    if np.any((table > 0).sum(axis=1) > 1):
        raise ValueError("the fine state space does not refine the coarse one")
    return np.argmax(table, axis=1)


def stage_revenue(panel: StagePanel) -> np.ndarray:
    """Mean revenue per customer-month in each stage (the per-period reward of a stage)."""
    s = panel.n_states
    total = np.bincount(panel.stage, weights=panel.extra["revenue"], minlength=s)
    n = np.bincount(panel.stage, minlength=s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


def finer_rules(rules: StageRules) -> StageRules:
    """Months since the last purchase, one stage per month up to the last bound, crossed with the
    purchase-count groups (new/repeat when the coarse rules have none): a refinement of `rules`
    whose stages carry the recency the coarse windows hide.
    """
    months = tuple(range(1, rules.recency_bounds[-1] + 1))
    labels = tuple(f"{m}m" for m in months) + (f"{rules.recency_bounds[-1] + 1}m+",)
    if rules.count_bounds is None:
        return StageRules(months, labels, (1,), ("new", "repeat"))
    return StageRules(months, labels, rules.count_bounds, rules.count_labels)
