"""Dwyer's (1989) retention and migration tables of customer lifetime value, and the
retention economics of Reichheld & Sasser (1990) made computable.

Dwyer, F. R. (1989), "Customer lifetime valuation to support marketing decision making",
Journal of Direct Marketing 3(4); the "customer retention" case (customers who leave are lost
for good) and the "customer migration" case (a customer's chance of buying depends on the time
since the last purchase, so lapsed customers may return). Berger & Nasr (1998, J. Interactive
Marketing 12(1)) give the same two cases in formula form.

Retention table, year t = 1..N (year 1 = acquisition year):

    customers_1 = cohort,  customers_t = customers_{t-1} · retention_t,
    profit_t = customers_t · (revenue_t - cost_t) - [t = 1] · cohort · acquisition_cost,
    discount_t = (1 + d)^(t-1),  NPV_t = profit_t / discount_t,
    CLV per acquired customer = Σ_t NPV_t / cohort.

Migration table: customers are in recency cells k = 1..K (years since their last purchase);
a customer in cell k buys this year with probability p_k and moves to cell 1, otherwise to cell
k+1; beyond cell K they are lost. Buyers generate the year's revenue and cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def _per_year(value, years: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (years,)) if np.ndim(value) == 0 else np.asarray(value, float)
    if arr.size != years:
        raise ValueError(f"{name} needs one value per year ({years}), got {arr.size}")
    return np.array(arr)


def _discounted(table: pd.DataFrame, cohort_size: float, discount_rate: float) -> pd.DataFrame:
    table["discount_factor"] = (1 + discount_rate) ** (table["year"] - 1)
    table["npv_profit"] = table["profit"] / table["discount_factor"]
    table["cumulative_npv"] = table["npv_profit"].cumsum()
    table["clv_per_customer"] = table["cumulative_npv"] / cohort_size
    return table


def retention_table(cohort_size: float, retention_rates, revenue_per_customer, cost_per_customer,
                    discount_rate: float, acquisition_cost: float = 0.0) -> pd.DataFrame:
    """Dwyer's customer-retention table.

    `retention_rates` are the shares kept from one year to the next (e.g. 0.65 into year 2
    rising to 0.80), so the table has len(retention_rates) + 1 years; revenue and cost per
    active customer are scalars or one value per year; `acquisition_cost` per acquired customer
    is charged in year 1.
    """
    rates = np.asarray(retention_rates, dtype=float)
    if np.any((rates < 0) | (rates > 1)):
        raise ValueError("retention rates are shares between 0 and 1")
    years = rates.size + 1
    customers = cohort_size * np.concatenate([[1.0], np.cumprod(rates)])
    revenue = customers * _per_year(revenue_per_customer, years, "revenue_per_customer")
    costs = customers * _per_year(cost_per_customer, years, "cost_per_customer")
    acquisition = np.where(np.arange(years) == 0, cohort_size * acquisition_cost, 0.0)
    table = pd.DataFrame({"year": np.arange(1, years + 1), "retention_rate": np.concatenate([[np.nan], rates]),
                          "customers": customers, "revenue": revenue, "costs": costs + acquisition,
                          "profit": revenue - costs - acquisition})
    return _discounted(table, cohort_size, discount_rate)


def migration_table(cohort_size: float, purchase_probability_by_recency, years: int, revenue_per_buyer,
                    cost_per_buyer, discount_rate: float, acquisition_cost: float = 0.0) -> pd.DataFrame:
    """Dwyer's customer-migration table: buyers per year when lapsed customers may come back.

    `purchase_probability_by_recency[k-1]` is the chance that a customer whose last purchase
    was k years ago buys this year. Year 1: the whole cohort buys (acquisition). Columns give
    the buyers, the customers still reachable (in some recency cell) and the profit figures.
    """
    p = np.asarray(purchase_probability_by_recency, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("purchase probabilities are between 0 and 1")
    n_cells = p.size
    # transition[i, j]: share of cell i moving to cell j this year (cell 0 = bought this year).
    transition = np.zeros((n_cells, n_cells + 1))
    transition[:, 0] = p
    transition[np.arange(n_cells), np.arange(1, n_cells + 1)] = 1 - p
    cells = np.zeros(n_cells + 1)
    cells[0] = cohort_size
    buyers, reachable = [cohort_size], [cohort_size]
    for _ in range(years - 1):          # years are few; each step is one matrix product
        cells = cells[:n_cells] @ transition
        buyers.append(cells[0])
        reachable.append(cells[:n_cells].sum())
    buyers = np.asarray(buyers)
    revenue = buyers * _per_year(revenue_per_buyer, years, "revenue_per_buyer")
    costs = buyers * _per_year(cost_per_buyer, years, "cost_per_buyer")
    acquisition = np.where(np.arange(years) == 0, cohort_size * acquisition_cost, 0.0)
    table = pd.DataFrame({"year": np.arange(1, years + 1), "buyers": buyers, "reachable": reachable,
                          "revenue": revenue, "costs": costs + acquisition, "profit": revenue - costs - acquisition})
    return _discounted(table, cohort_size, discount_rate)


def retention_uplift(cohort_size: float, retention_rates, revenue_per_customer, cost_per_customer,
                     discount_rate: float, acquisition_cost: float = 0.0, uplift: float = 0.05,
                     retention_cost_ratio: float = 5.0) -> dict:
    """What a rise of `uplift` in every year's retention rate is worth (Reichheld & Sasser 1990).

    Reichheld & Sasser report that 5 points more retention raise profit by 25-85%. Returns the
    cohort NPV and CLV per acquired customer before and after (retention capped at 1), their
    percentage changes, whether the profit change lies in 25-85%, the number of extra customers
    one would have to acquire to earn the same NPV gain, and what acquiring them costs compared
    with keeping customers when acquisition costs `retention_cost_ratio` times retention
    (often quoted as 5-6 times).
    """
    base = retention_table(cohort_size, retention_rates, revenue_per_customer, cost_per_customer,
                           discount_rate, acquisition_cost)
    raised = retention_table(cohort_size, np.minimum(np.asarray(retention_rates, float) + uplift, 1.0),
                             revenue_per_customer, cost_per_customer, discount_rate, acquisition_cost)
    npv_base, npv_raised = base["cumulative_npv"].iloc[-1], raised["cumulative_npv"].iloc[-1]
    profit_base, profit_raised = base["profit"].sum(), raised["profit"].sum()
    clv_base = npv_base / cohort_size
    gain = npv_raised - npv_base
    extra_customers = gain / clv_base if clv_base > 0 else np.nan
    profit_change = 100 * (npv_raised / npv_base - 1) if npv_base > 0 else np.nan
    return {
        "uplift_points": 100 * uplift,
        "npv_base": npv_base, "npv_raised": npv_raised,
        "clv_base": clv_base, "clv_raised": npv_raised / cohort_size,
        "npv_change_pct": profit_change,
        "undiscounted_profit_change_pct": 100 * (profit_raised / profit_base - 1) if profit_base > 0 else np.nan,
        "within_reichheld_sasser_25_85": bool(25 <= profit_change <= 85) if np.isfinite(profit_change) else False,
        "npv_gain": gain,
        "equivalent_new_customers": extra_customers,
        "equivalent_acquisition_spend": extra_customers * acquisition_cost,
        "retention_cost_ratio": retention_cost_ratio,
    }


# ------------------------------------------------------------------ the report's tables

def dwyer_tables(scenario) -> dict:
    """Retention table, the +uplift table, the migration table and the uplift economics for a `DwyerScenario`.

    The migration table's CLV is cross-checked against Pfeifer & Carraway's Markov-chain value
    (`crmresearch.lifecycle.markov_chain_value`) on the same recency chain.
    """
    args = dict(revenue_per_customer=scenario.revenue_per_customer, cost_per_customer=scenario.cost_per_customer,
                discount_rate=scenario.discount_rate, acquisition_cost=scenario.acquisition_cost)
    base = retention_table(scenario.cohort_size, scenario.retention_rates, **args)
    raised_rates = np.minimum(np.asarray(scenario.retention_rates) + scenario.retention_uplift, 1.0)
    raised = retention_table(scenario.cohort_size, raised_rates, **args)
    years = len(scenario.retention_rates) + 1
    revenue = np.broadcast_to(np.asarray(scenario.revenue_per_customer, float), (years,))
    cost = np.broadcast_to(np.asarray(scenario.cost_per_customer, float), (years,))
    migration = migration_table(scenario.cohort_size, scenario.migration_purchase_probability, years,
                                      revenue, cost, scenario.discount_rate, scenario.acquisition_cost)
    uplift = retention_uplift(scenario.cohort_size, scenario.retention_rates, **args,
                                    uplift=scenario.retention_uplift,
                                    retention_cost_ratio=scenario.acquisition_to_retention_cost)
    uplift["payback_year"] = _payback_year(base)
    # What the text needs to know about the assumptions (the text never reads the parameters).
    uplift["years"] = years
    uplift["flat_economics"] = bool(np.ndim(scenario.revenue_per_customer) == 0
                                    and np.ndim(scenario.cost_per_customer) == 0)
    uplift["acquisition_cost"] = float(scenario.acquisition_cost)
    return {"retention": base, "raised": raised, "migration": migration, "uplift": uplift,
            "markov_check": _markov_check(scenario, migration, revenue, cost),
            "migration_probability": list(scenario.migration_purchase_probability)}


def _payback_year(table: pd.DataFrame):
    positive = table.loc[table["cumulative_npv"] > 0, "year"]
    return int(positive.iloc[0]) if len(positive) else None


def _markov_check(scenario, migration: pd.DataFrame, revenue, cost) -> dict:
    """Same CLV from the lifecycle module's Markov-chain value when revenue and cost are constant."""
    if np.ptp(revenue) or np.ptp(cost):
        return {"applicable": False}
    from ..lifecycle import markov_chain_value

    p = np.asarray(scenario.migration_purchase_probability, float)
    k = p.size
    P = np.zeros((k + 1, k + 1))               # states: recency 1..k, then lost
    P[:k, 0] = p
    P[np.arange(k), np.arange(1, k + 1)] += 1 - p
    P[k, k] = 1.0
    rewards = np.zeros(k + 1)
    rewards[0] = revenue[0] - cost[0]
    markov = float(markov_chain_value(P, rewards, scenario.discount_rate, horizon=len(migration) - 1)[0])
    table = float(migration["clv_per_customer"].iloc[-1] + scenario.acquisition_cost)
    return {"applicable": True, "markov_value": markov, "table_value": table}


# ------------------------------------------------------------------ Dwyer's tables from a log

@dataclass(frozen=True)
class ObservedScenario:
    """Dwyer's inputs measured on a transaction log (the attributes `dwyer_tables` reads), and the
    observed table they come from. The cohort is the customers whose first purchase falls in the first
    period; a customer is *retained* into period k when they bought in every period up to k (Dwyer's
    lost-for-good case); the migration probabilities are the observed shares buying in a period by
    periods since their last purchase; revenue per active customer is observed, costs follow the
    report's margin, and there is no acquisition cost in the data."""

    cohort_size: int
    retention_rates: list
    revenue_per_customer: list
    cost_per_customer: list
    migration_purchase_probability: list
    discount_rate: float
    retention_uplift: float
    acquisition_to_retention_cost: float
    unit: str                                    # "year" or "quarter"
    observed: pd.DataFrame = field(repr=False)   # period, retained, active, retention, revenue per customer
    acquisition_cost: float = 0.0


def period_months(first, last) -> int:
    """Yearly periods when the log covers at least three whole years, else quarters."""
    return 12 if (pd.Timestamp(last) - pd.Timestamp(first)).days >= 3 * 365 else 3


def period_days(first, last, months: int | None = None) -> float:
    """Length in days of Dwyer's period between `first` and `last` (`period_months` unless given)."""
    return 365.25 * (months or period_months(first, last)) / 12


def observed_scenario(log: pd.DataFrame, start, end, margin: float, annual_discount_rate: float,
                      uplift: float, cost_ratio: float, months: int | None = None) -> ObservedScenario | None:
    """Dwyer's inputs from a log (customer_id, date, amount) between `start` and `end`; None when the
    log covers fewer than two whole periods or its first period has no customer."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    months = months or period_months(start, end)
    length = period_days(start, end, months)
    n_periods = int(((end - start).days + 1) // length)
    if n_periods < 2 or log.empty:
        return None
    days = (pd.to_datetime(log["date"]) - start).dt.days.to_numpy()
    keep = (days >= 0) & (days < n_periods * length)
    codes, uniques = pd.factorize(log["customer_id"].to_numpy()[keep])
    index = (days[keep] // length).astype(np.int64)
    amounts = log["amount"].to_numpy(float)[keep]
    first_seen = np.full(codes.max() + 1 if codes.size else 0, n_periods)
    np.minimum.at(first_seen, codes, index)
    # only customers first seen in period 0 who were not customers before `start`
    cohort = (first_seen == 0) & ~pd.Index(uniques).isin(log["customer_id"].to_numpy()[days < 0])
    members = np.flatnonzero(cohort)
    if members.size == 0:
        return None
    rank = np.full(first_seen.size, -1)
    rank[members] = np.arange(members.size)
    mine = rank[codes] >= 0
    cell = rank[codes[mine]] * n_periods + index[mine]
    active = np.bincount(cell, minlength=members.size * n_periods).reshape(members.size, n_periods) > 0
    revenue = np.bincount(cell, weights=amounts[mine], minlength=members.size * n_periods).reshape(members.size, n_periods)
    chain = np.logical_and.accumulate(active, axis=1)            # bought in every period so far
    retained = chain.sum(axis=0)
    rates = retained[1:] / np.maximum(retained[:-1], 1)
    revenue_per = np.where(retained > 0, (revenue * chain).sum(axis=0) / np.maximum(retained, 1), 0.0)
    # migration: P(buy in period k | last purchase j periods before), pooled over k
    last = np.maximum.accumulate(np.where(active, np.arange(n_periods), -1), axis=1)
    recency = np.arange(1, n_periods)[None, :] - last[:, :-1]            # periods since the last purchase, at k
    bought = active[:, 1:]
    at_risk = np.bincount(recency.ravel(), minlength=n_periods)[1:]
    buyers = np.bincount(recency.ravel(), weights=bought.ravel(), minlength=n_periods)[1:]
    cells = int(np.flatnonzero(at_risk > 0).max()) + 1 if (at_risk > 0).any() else 0
    migration = (buyers[:cells] / np.maximum(at_risk[:cells], 1)).tolist()
    observed = pd.DataFrame({"period": np.arange(1, n_periods + 1), "retained": retained,
                             "active": active.sum(axis=0), "retention": np.r_[np.nan, rates],
                             "revenue_per_customer": revenue_per})
    period_rate = (1 + annual_discount_rate) ** (months / 12) - 1
    return ObservedScenario(int(members.size), rates.tolist(), revenue_per.tolist(),
                            (revenue_per * (1 - margin)).tolist(), migration or [0.0], period_rate, uplift,
                            cost_ratio, "year" if months == 12 else "quarter", observed)
