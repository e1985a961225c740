"""The CLV report's workflow: data, fits, tracking, Dwyer tables and value concentration.

The notebook `03_customer_lifetime_value` calls these functions and only displays results.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from . import dwyer, models, predictions, rfm, simulate, value

# Fader, Hardie & Lee's CDNOW set-up: the sample, calibration to 1997-09-30, holdout to 1998-06-30.
CDNOW_PUBLISHED_SETUP = {"dataset": "cdnow_sample", "calibration_end": date(1997, 9, 30)}


def load_log(params, rng: np.random.Generator):
    """The transaction log of the report and, when known, the reference parameter values.

    Returns (log, reference, reference_label): published values for the CDNOW sample with the
    published calibration period, the true values for a simulated log, else None.
    """
    from . import PUBLISHED_CDNOW

    if params.simulate is not None:
        sim = params.simulate
        theta_bg = tuple(sim.bgnbd[k] for k in ("r", "alpha", "a", "b"))
        theta_gg = tuple(sim.gamma_gamma[k] for k in ("p", "q", "gamma"))
        log = simulate.simulate_transaction_log(theta_bg, theta_gg, sim.customers, params.cohort_start,
                                                sim.acquisition_days, params.holdout_end, rng)
        return log, {"BG/NBD": dict(sim.bgnbd), "Gamma-Gamma": dict(sim.gamma_gamma)}, "true"
    log = params.transactions.load()
    if (params.transactions.dataset == CDNOW_PUBLISHED_SETUP["dataset"]
            and params.calibration_end == CDNOW_PUBLISHED_SETUP["calibration_end"]):
        return log, PUBLISHED_CDNOW, "published"
    return log, None, None


def fit_all(summary: pd.DataFrame, with_pareto: bool = True) -> dict:
    fits = {"BG/NBD": models.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])}
    if with_pareto:
        fits["Pareto/NBD"] = models.fit_pareto_nbd(summary["frequency"], summary["recency"], summary["T"])
    fits["Gamma-Gamma"] = models.fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    return fits


def parameter_table(fits: dict, reference: dict | None = None) -> pd.DataFrame:
    """One row per model parameter: estimate, SE, 95% interval, the reference value if any; plus LL rows."""
    rows = []
    for name, fit in fits.items():
        table = fit.table((reference or {}).get(name))
        table.insert(0, "model", name)
        rows.append(table)
        ll = {"model": name, "parameter": "log-likelihood", "estimate": fit.loglike}
        if reference and name in reference and "loglike" in reference[name]:
            ll["published"] = reference[name]["loglike"]
        rows.append(pd.DataFrame([ll]))
    out = pd.concat(rows, ignore_index=True)
    if "published" not in out:
        out["published"] = np.nan
    return out.rename(columns={"std_error": "std. error", "ci_lower": "95% lower", "ci_upper": "95% upper"})


def fit_statistics(fits: dict) -> pd.DataFrame:
    return pd.DataFrame([{"model": n, "customers": f.n_customers, "unique rows": f.n_unique_rows,
                          "parameters": f.k_params, "log-likelihood": f.loglike, "AIC": f.aic, "BIC": f.bic}
                         for n, f in fits.items()])


def tracking_table(log: pd.DataFrame, summary: pd.DataFrame, fits: dict, cohort_start, holdout_end) -> pd.DataFrame:
    """Weekly actual vs expected repeat transactions of the calibration cohort (FHL 2005, figure 2).

    The count at the end of week k includes days up to cohort_start + 7k - 1, so the model's
    clock for a customer who tried on day d is (7k - 1 - d)/7 weeks, matching T.
    """
    actual = rfm.repeat_transactions_by_period(log, cohort_start, holdout_end, customers=summary.index)
    trial = rfm.first_purchase_periods(summary, cohort_start)
    period_ends = (7 * actual["period"].to_numpy() - 1) / 7
    out = pd.DataFrame({"period": actual["period"], "actual cumulative": actual["cumulative"],
                        "actual incremental": actual["incremental"]})
    for name, fit in fits.items():
        if name in predictions.PURCHASE_MODELS:
            cumulative = predictions.expected_cumulative_repeat(fit, trial, period_ends)
            out[f"{name} cumulative"] = cumulative
            out[f"{name} incremental"] = np.diff(np.concatenate([[0.0], cumulative]))
    return out


def tracking_errors(tracking: pd.DataFrame, calibration_weeks: float) -> pd.DataFrame:
    """Forecast vs actual cumulative repeat transactions at the end, and the holdout-period error figures."""
    rows = []
    holdout = tracking["period"] > calibration_weeks
    end = tracking.iloc[-1]
    for name in [c.removesuffix(" cumulative") for c in tracking if c.endswith(" cumulative") and c != "actual cumulative"]:
        cum_err = tracking.loc[holdout, f"{name} cumulative"] - tracking.loc[holdout, "actual cumulative"]
        inc_err = tracking.loc[holdout, f"{name} incremental"] - tracking.loc[holdout, "actual incremental"]
        rows.append({"model": name, "weeks": int(end["period"]), "actual": float(end["actual cumulative"]),
                     "forecast": float(end[f"{name} cumulative"]),
                     "error (%)": float(100 * (end[f"{name} cumulative"] / end["actual cumulative"] - 1)),
                     "holdout MAPE, cumulative (%)": float(100 * np.mean(np.abs(cum_err) / tracking.loc[holdout, "actual cumulative"])),
                     "holdout MAE, weekly": float(np.mean(np.abs(inc_err)))})
    return pd.DataFrame(rows)


def holdout_check(summary: pd.DataFrame, fits: dict) -> pd.DataFrame:
    """Per-customer holdout predictions: totals, correlation and RMSE against the actual counts."""
    horizon = float(summary["duration_holdout"].iloc[0])
    actual = summary["frequency_holdout"].to_numpy()
    rows = []
    for name, fit in fits.items():
        if name not in predictions.PURCHASE_MODELS:
            continue
        predicted = predictions.conditional_expected(fit, horizon, summary["frequency"], summary["recency"], summary["T"])
        rows.append({"model": name, "actual total": float(actual.sum()), "predicted total": float(predicted.sum()),
                     "correlation": float(np.corrcoef(predicted, actual)[0, 1]),
                     "RMSE": float(np.sqrt(np.mean((predicted - actual) ** 2)))})
    return pd.DataFrame(rows)


def dwyer_tables(scenario) -> dict:
    """Retention table, the +uplift table, the migration table and the uplift economics for a `DwyerScenario`.

    The migration table's CLV is cross-checked against Pfeifer & Carraway's Markov-chain value
    (`crmresearch.lifecycle.markov_chain_value`) on the same recency chain.
    """
    args = dict(revenue_per_customer=scenario.revenue_per_customer, cost_per_customer=scenario.cost_per_customer,
                discount_rate=scenario.discount_rate, acquisition_cost=scenario.acquisition_cost)
    base = dwyer.retention_table(scenario.cohort_size, scenario.retention_rates, **args)
    raised_rates = np.minimum(np.asarray(scenario.retention_rates) + scenario.retention_uplift, 1.0)
    raised = dwyer.retention_table(scenario.cohort_size, raised_rates, **args)
    years = len(scenario.retention_rates) + 1
    revenue = np.broadcast_to(np.asarray(scenario.revenue_per_customer, float), (years,))
    cost = np.broadcast_to(np.asarray(scenario.cost_per_customer, float), (years,))
    migration = dwyer.migration_table(scenario.cohort_size, scenario.migration_purchase_probability, years,
                                      revenue, cost, scenario.discount_rate, scenario.acquisition_cost)
    uplift = dwyer.retention_uplift(scenario.cohort_size, scenario.retention_rates, **args,
                                    uplift=scenario.retention_uplift,
                                    retention_cost_ratio=scenario.acquisition_to_retention_cost)
    uplift["payback_year"] = _payback_year(base)
    return {"retention": base, "raised": raised, "migration": migration, "uplift": uplift,
            "markov_check": _markov_check(scenario, migration, revenue, cost)}


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


TIER_COLUMNS = {"tier": "tier", "customers": "customers", "mean_clv": "mean CLV", "total_clv": "total CLV",
                "share_of_customers": "share of customers", "share_of_clv": "share of CLV"}


def dwyer_display(table: pd.DataFrame) -> pd.DataFrame:
    names = {"year": "year", "retention_rate": "retention", "customers": "customers", "buyers": "buyers",
             "reachable": "reachable", "revenue": "revenue", "costs": "costs", "profit": "profit",
             "discount_factor": "discount factor", "npv_profit": "NPV of profit", "cumulative_npv": "cumulative NPV",
             "clv_per_customer": "cumulative NPV per acquired customer"}
    return table.rename(columns=names)


def customer_value_frame(log: pd.DataFrame, summary: pd.DataFrame, clv_table: pd.DataFrame, params) -> pd.DataFrame:
    """Per customer: observed revenue and orders to holdout_end, profit after cost-to-serve, CLV, P(alive)."""
    daily = rfm.merge_same_day(log)
    end = rfm.day_number(params.holdout_end)
    keep = daily.days <= end
    revenue = pd.Series(np.bincount(daily.customer_codes[keep], weights=daily.amounts[keep],
                                    minlength=daily.customer_ids.size), index=daily.customer_ids)
    orders = pd.Series(np.bincount(daily.customer_codes[keep], minlength=daily.customer_ids.size),
                       index=daily.customer_ids)
    frame = pd.DataFrame({"revenue": revenue.reindex(summary.index).to_numpy(),
                          "orders": orders.reindex(summary.index).to_numpy()}, index=summary.index)
    frame["profit"] = value.customer_profit(frame["revenue"], frame["orders"], params.margin,
                                            params.cost_per_order, params.cost_per_customer)
    frame["clv"] = clv_table["clv"]
    # Value to the firm net of the cost of serving the expected future orders.
    frame["net_clv"] = clv_table["clv"] - params.cost_per_order * clv_table["discounted_transactions"]
    frame["expected_transactions"] = clv_table["expected_transactions"]
    frame["p_alive"] = clv_table["p_alive"]
    tiers = value.value_tiers(frame["clv"], params.tier_shares, params.tier_names)
    frame["tier"] = tiers["tier"].array
    return frame


def uplift_display(uplift: dict) -> pd.DataFrame:
    rows = [("retention rise (points)", uplift["uplift_points"]),
            ("cohort NPV, retention path", uplift["npv_base"]),
            ("cohort NPV, raised retention", uplift["npv_raised"]),
            ("CLV per acquired customer, retention path", uplift["clv_base"]),
            ("CLV per acquired customer, raised retention", uplift["clv_raised"]),
            ("change in cohort NPV (%)", uplift["npv_change_pct"]),
            ("change in undiscounted profit (%)", uplift["undiscounted_profit_change_pct"]),
            ("extra customers to acquire for the same gain", uplift["equivalent_new_customers"]),
            ("cost of acquiring them", uplift["equivalent_acquisition_spend"])]
    return pd.DataFrame(rows, columns=["quantity", "value"])


def rfm_overview(summary: pd.DataFrame, log: pd.DataFrame, params) -> dict:
    return {
        "customers": int(len(summary)),
        "transaction_rows": int(len(log)),
        "repeat_buyers": int((summary["frequency"] > 0).sum()),
        "share_no_repeat": float((summary["frequency"] == 0).mean()),
        "calibration_repeat_transactions": int(summary["frequency"].sum()),
        "holdout_repeat_transactions": int(summary["frequency_holdout"].sum()),
        "mean_frequency": float(summary["frequency"].mean()),
        "mean_repeat_spend": float(summary["monetary_value"].mean()),
    }


def rfm_overview_display(overview: dict) -> pd.DataFrame:
    labels = {"customers": "customers in the cohort", "transaction_rows": "rows in the transaction log",
              "repeat_buyers": "customers with a repeat purchase in calibration",
              "share_no_repeat": "share with no repeat purchase in calibration",
              "calibration_repeat_transactions": "repeat purchases in calibration",
              "holdout_repeat_transactions": "purchases in the holdout period",
              "mean_frequency": "mean repeat purchases per customer (x)",
              "mean_repeat_spend": "mean value of repeat purchases (repeat buyers)"}
    # object dtype keeps counts as integers in the displayed table
    return pd.DataFrame([(labels[k], v) for k, v in overview.items()], columns=["quantity", "value"], dtype=object)


def slug(name: str) -> str:
    return name.lower().replace("/", "").replace("-", "_")


def parameter_sentence(fits: dict, reference: dict | None, reference_label: str | None) -> str:
    bg = fits["BG/NBD"].params
    text = (f"The BG/NBD estimates say that purchase rates vary a lot between customers (gamma shape "
            f"r = {bg['r']:.3f}, so most customers buy rarely and a few often; the mean rate is "
            f"{bg['r'] / bg['alpha']:.3f} purchases a week) and that a customer drops out after a repeat "
            f"purchase with probability {bg['a'] / (bg['a'] + bg['b']):.2f} on average.")
    if reference and reference_label:
        gaps, zscores = [], []
        for name, fit in fits.items():
            ref = reference.get(name, {})
            log_se = np.sqrt(np.diag(fit.log_cov))
            for (p, v), se in zip(fit.params.items(), log_se):
                if p in ref:
                    gaps.append(abs(v / ref[p] - 1))
                    zscores.append(abs(np.log(v / ref[p])) / se)
        text += (f" Every estimate is within {100 * max(gaps):.2f}% of its {reference_label} value "
                 f"(at most {max(zscores):.2f} standard errors away)"
                 + ("; the differences are the rounding of the published figures." if reference_label == "published"
                    else "."))
    return text


def tracking_sentence(errors: pd.DataFrame) -> str:
    parts = [f"{row['model']} forecasts **{row['forecast']:,.0f}** ({row['error (%)']:+.1f}%)" for _, row in errors.iterrows()]
    first = errors.iloc[0]
    return (f"By week {first['weeks']:.0f} the cohort made **{first['actual']:,.0f}** repeat purchases; "
            + " and ".join(parts) + ".")


def top_customers(summary: pd.DataFrame, clv_table: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The n customers with the highest CLV, with short column names that fit a printed page."""
    top = clv_table.nlargest(n, "clv")
    rfm_part = summary.loc[top.index]
    return pd.DataFrame({
        "customer": top.index.astype(str), "x": rfm_part["frequency"].to_numpy(),
        "t_x": rfm_part["recency"].to_numpy(), "T": rfm_part["T"].to_numpy(),
        "P(alive)": top["p_alive"].to_numpy(), "purchases": top["expected_transactions"].to_numpy(),
        "spend": top["expected_spend"].to_numpy(), "CLV": top["clv"].to_numpy(),
        "95% interval": [f"{lo:,.0f}–{hi:,.0f}" for lo, hi in zip(top["clv_lower"], top["clv_upper"])]})


def clv_sentence(clv_table: pd.DataFrame, total: dict, params) -> str:
    years = params.clv_horizon_weeks / 52
    return (f"Over the next {years:g} years the cohort is expected to be worth **{total['total']:,.0f}** in discounted "
            f"contribution (95% interval {total['lower']:,.0f} to {total['upper']:,.0f}), "
            f"**{total['mean_per_customer']:,.2f} per customer** on average. The median customer is worth only "
            f"{clv_table['clv'].median():,.2f}; on average customers have a {clv_table['p_alive'].mean():.0%} chance "
            f"of still being active at the end of calibration.")


def concentration_sentence(summary: dict, break_even: float, params) -> str:
    holds = summary["top_share_profit"] > 1
    return (f"The top {params.top_fraction:.0%} of customers bring **{summary['top_share_revenue']:.0%} of revenue** "
            f"(Gini {summary['gini_revenue']:.2f}). After a cost of {params.cost_per_order:,.2f} per order and "
            f"{params.cost_per_customer:,.2f} per customer, **{summary['unprofitable_share']:.0%} of customers lose money** "
            f"and the top {params.top_fraction:.0%} earn **{summary['top_share_profit']:.0%} of total profit**; the whale "
            f"curve peaks at {summary['peak_profit_share']:.0%}. The seed's claim that the top 20% create more than "
            f"all the profit {'holds here' if holds else 'does not hold at these costs'}; it holds once the fixed "
            f"cost per customer reaches **{break_even:,.2f}**.")


def finding(fits: dict, errors: pd.DataFrame, clv_total: dict, concentration: dict, uplift: dict) -> str:
    bg_error = errors.loc[errors["model"] == "BG/NBD"].iloc[0]
    return (f"BG/NBD forecasts {bg_error['forecast']:,.0f} repeat purchases in {bg_error['weeks']:.0f} weeks against "
            f"{bg_error['actual']:,.0f} actual ({bg_error['error (%)']:+.1f}%); mean CLV "
            f"{clv_total['mean_per_customer']:,.2f}; the top 20% bring {concentration['top_share_revenue']:.0%} of revenue; "
            f"+{uplift['uplift_points']:g} points of retention raise Dwyer's cohort NPV by {uplift['npv_change_pct']:.0f}%.")


def data_files(params) -> dict:
    return {} if params.simulate is not None else {"transactions": params.transactions.file()}


def uplift_sentence(uplift: dict, scenario, years: int) -> str:
    verdict = "inside" if uplift["within_reichheld_sasser_25_85"] else "outside"
    flat = np.ndim(scenario.revenue_per_customer) == 0 and np.ndim(scenario.cost_per_customer) == 0
    reason = (f"with flat revenue and costs per customer and a {years}-year horizon the gain is smaller"
              if flat else f"here profit per customer also grows with tenure ({years}-year horizon)")
    text = (f"With these assumptions the cohort's NPV is **{uplift['npv_base']:,.0f}**, or **{uplift['clv_base']:,.2f} "
            f"per acquired customer**. Raising every retention rate by {uplift['uplift_points']:g} points raises it to "
            f"**{uplift['clv_raised']:,.2f}**, a change of **{uplift['npv_change_pct']:+.1f}%** "
            f"({uplift['undiscounted_profit_change_pct']:+.1f}% before discounting), {verdict} Reichheld & Sasser's "
            f"25–85%. Their figure comes from businesses where profit per customer grows with tenure (more purchases, "
            f"lower service cost, referrals); {reason}. Earning the same gain by acquisition would need about "
            f"**{uplift['equivalent_new_customers']:,.0f} extra customers**")
    if scenario.acquisition_cost > 0:
        # Retention cost per customer-year = acquisition cost / ratio (the seed: acquisition costs 5-6x retention).
        kept = uplift["equivalent_new_customers"] * uplift["retention_cost_ratio"]
        text += (f" costing **{uplift['equivalent_acquisition_spend']:,.0f}**; if acquiring costs "
                 f"{uplift['retention_cost_ratio']:g} times as much as keeping a customer, that money would instead "
                 f"pay for keeping about **{kept:,.0f}** customer-years")
    return text + "."


def migration_sentence(migration: pd.DataFrame, retention: pd.DataFrame, markov: dict) -> str:
    text = (f"Letting lapsed customers return raises the value of an acquired customer after {len(migration)} years "
            f"from {retention['clv_per_customer'].iloc[-1]:,.2f} to **{migration['clv_per_customer'].iloc[-1]:,.2f}**.")
    if markov.get("applicable"):
        text += (f" The Markov-chain value of the same recency chain (Pfeifer & Carraway 2000, lifecycle module) is "
                 f"{markov['markov_value']:,.4f} before acquisition cost, equal to the table's "
                 f"{markov['table_value']:,.4f}.")
    else:
        text += " (Revenue or cost changes with the year, so the constant-reward Markov-chain check does not apply.)"
    return text


def spend_check(summary: pd.DataFrame, spend_fit, max_frequency: int = 7) -> pd.DataFrame:
    """Expected spend per purchase (Gamma-Gamma, from calibration) against the actual holdout average,
    for customers who bought in the holdout period, by calibration frequency."""
    bought = summary["frequency_holdout"] > 0
    frame = summary.loc[bought]
    expected = predictions.gamma_gamma_expected_spend(spend_fit.theta, frame["frequency"], frame["monetary_value"])
    group = np.minimum(frame["frequency"].to_numpy(), max_frequency)
    table = (pd.DataFrame({"frequency": group, "actual": frame["monetary_holdout"].to_numpy(), "expected": expected})
             .groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                       expected=("expected", "mean")).reset_index())
    table["frequency"] = [f"{v}+" if v == max_frequency else str(v) for v in table["frequency"]]
    total = pd.DataFrame([{"frequency": "all", "customers": int(bought.sum()),
                           "actual": float(frame["monetary_holdout"].mean()), "expected": float(expected.mean())}])
    return pd.concat([table, total], ignore_index=True)
