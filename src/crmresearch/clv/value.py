"""Value concentration: customer profit after cost-to-serve, tiers from predicted CLV, and the
value quadrant.

* Profit after cost-to-serve (Kaplan & Cooper 1998, "Cost & Effect"; the rule of thumb that the
  top 20% create over 100% of profit): profit_i = margin · revenue_i - cost_per_order · orders_i
  - cost_per_customer. The whale curve (`crmresearch.stats.whale_curve`) orders customers by
  profit; its peak above 100% is the profit the unprofitable tail destroys.
* Tiers: customers ranked by predicted CLV and cut at cumulative population shares (as telecom
  tiers: large accounts, small and medium business, mass market).
* Value quadrant (Kotler's customer-value matrix): value to the firm (predicted CLV)
  against value to the customer. Transaction logs do not measure value to the customer, so the
  quadrant uses a stated behavioural proxy (by default P(alive): the customer keeps choosing
  us); the thresholds are the medians unless given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats


def customer_profit(revenue, orders, margin: float, cost_per_order: float = 0.0,
                    cost_per_customer: float = 0.0) -> np.ndarray:
    return (margin * np.asarray(revenue, float) - cost_per_order * np.asarray(orders, float)
            - cost_per_customer)


def concentration_summary(revenue, profit, top_fraction: float = 0.2) -> dict:
    """Top-share of revenue, Gini, and the whale-curve figures of profit."""
    profit = np.asarray(profit, float)
    share_axis, cumulative = stats.whale_curve(profit)
    k = int(np.ceil(top_fraction * profit.size))
    return {
        "customers": int(profit.size),
        "top_share_revenue": stats.top_share(revenue, top_fraction),
        "gini_revenue": stats.gini(revenue),
        "top_share_profit": float(cumulative[k]),
        "peak_profit_share": float(cumulative.max()),
        "peak_population_share": float(share_axis[np.argmax(cumulative)]),
        "unprofitable_share": float(np.mean(profit < 0)),
        "total_profit": float(profit.sum()),
    }


def break_even_cost_per_customer(revenue, orders, margin: float, cost_per_order: float = 0.0,
                                 top_fraction: float = 0.2) -> float:
    """Fixed cost per customer from which the top `top_fraction` earn at least 100% of total profit.

    A common fixed cost shifts every profit equally and leaves the ranking unchanged, so the
    bottom (1 - top_fraction) make no profit together exactly when the cost reaches their mean
    contribution: c* = mean over the bottom group of (margin · revenue - cost_per_order · orders).
    """
    contribution = customer_profit(revenue, orders, margin, cost_per_order)
    ordered = np.sort(contribution)[::-1]
    k = int(np.ceil(top_fraction * ordered.size))
    return float(ordered[k:].mean())


def value_tiers(clv, cut_shares=(0.05, 0.20), names=("top", "middle", "mass")) -> pd.DataFrame:
    """Assign tiers by CLV rank: the top `cut_shares[0]` of customers, the next up to `cut_shares[1]`, ...

    Returns one row per customer (same order as `clv`) with `tier` and `rank_share`.
    """
    clv = np.asarray(clv, float)
    if len(names) != len(cut_shares) + 1:
        raise ValueError("names needs one entry more than cut_shares")
    order = np.argsort(-clv, kind="stable")
    rank_share = np.empty(clv.size)
    rank_share[order] = (np.arange(clv.size) + 1) / clv.size
    tier_index = np.searchsorted(np.asarray(cut_shares), rank_share, side="left")
    return pd.DataFrame({"tier": pd.Categorical(np.asarray(names)[tier_index], categories=list(names), ordered=True),
                         "rank_share": rank_share})


def tier_table(clv, tiers) -> pd.DataFrame:
    """Customers, mean and total CLV, and shares of customers and of CLV per tier (`tiers` categorical)."""
    frame = pd.DataFrame({"clv": np.asarray(clv, float), "tier": pd.Series(tiers).reset_index(drop=True)})
    out = frame.groupby("tier", observed=True, sort=True)["clv"].agg(customers="size", mean_clv="mean",
                                                                      total_clv="sum")
    out["share_of_customers"] = out["customers"] / out["customers"].sum()
    out["share_of_clv"] = out["total_clv"] / out["total_clv"].sum()
    return out.reset_index()


QUADRANTS = {  # (firm value high, customer value high) -> label
    (True, True): "win-win",
    (True, False): "customer trapped",
    (False, True): "firm losing",
    (False, False): "lose-lose",
}


def value_quadrant(firm_value, customer_value, firm_threshold=None, customer_threshold=None) -> pd.DataFrame:
    """Quadrant of each customer; thresholds default to the medians."""
    firm_value, customer_value = np.asarray(firm_value, float), np.asarray(customer_value, float)
    ft = np.median(firm_value) if firm_threshold is None else firm_threshold
    ct = np.median(customer_value) if customer_threshold is None else customer_threshold
    high_firm, high_customer = firm_value > ft, customer_value > ct
    labels = np.select([high_firm & high_customer, high_firm & ~high_customer, ~high_firm & high_customer],
                       [QUADRANTS[(True, True)], QUADRANTS[(True, False)], QUADRANTS[(False, True)]],
                       QUADRANTS[(False, False)])
    return pd.DataFrame({"firm_value": firm_value, "customer_value": customer_value, "quadrant": labels,
                         "firm_threshold": ft, "customer_threshold": ct})


def customer_value_frame(revenue_and_orders: pd.DataFrame, clv_table: pd.DataFrame | None, params) -> pd.DataFrame:
    """Per customer: observed revenue and orders to holdout_end, profit after cost-to-serve and, when
    CLV was computed, CLV, P(alive) and tier."""
    frame = revenue_and_orders.copy()
    frame["profit"] = customer_profit(frame["revenue"], frame["orders"], params.margin,
                                            params.cost_per_order, params.cost_per_customer)
    if clv_table is None:
        return frame
    frame["clv"] = clv_table["clv"]
    # Value to the firm net of the cost of serving the expected future orders.
    frame["net_clv"] = clv_table["clv"] - params.cost_per_order * clv_table["discounted_transactions"]
    frame["expected_transactions"] = clv_table["expected_transactions"]
    frame["p_alive"] = clv_table["p_alive"]
    tiers = value_tiers(frame["clv"], params.tier_shares, params.tier_names)
    frame["tier"] = tiers["tier"].array
    return frame
