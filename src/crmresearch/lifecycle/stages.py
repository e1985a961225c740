"""Lifecycle stages assigned from a transaction log by recency and purchase-count rules.

The rules follow a common e-commerce customer-tracking table (电商客户跟踪表; see the site's
background page, section `lifecycle`): by months since the last purchase a customer is *recent* (新鲜组/保持组,
bought within 1-3 months), *lapsing* (4-6; the table's 唤醒组, "to wake up"), *dormant* (7-9; its 激活组, "to
reactivate") or *lost* (流失组, 10+);
by number of purchases: none, one, two, three or more. A transaction log only contains customers who
bought, so "none" (prospects) never appears in it.

Periods are calendar months. A customer enters the panel in the month of the first purchase and
stays in it, one row per month, until the end of the data (right-censoring): months without a
purchase are exactly the information the recency stage is built from. Recency in month t is
r = t - (month of the last purchase up to t) + 1, so a purchase this month gives r = 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stage_rules import StageRules
from .panel import StagePanel


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
