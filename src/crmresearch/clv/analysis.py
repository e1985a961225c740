"""The CLV report's sections: data, model fits, tracking, Dwyer tables and value concentration.

The notebook `03_customer_lifetime_value` calls one *section function* per section; each returns a
`crmresearch.sections.Section` (numbers for results.json, a table, computed text, the source of
its numbers and the rows used) or a subclass carrying the objects later sections and figures need.
Sentences come from *text functions* (`*_text`) that take result objects, never the parameters,
and state only what the numbers they are given say.

A model that does not converge from any of its starting points (a `FailedFit`) becomes a
"failed" section saying what failed and what was tried; the sections that need it say they were
not computed, and everything else (tables, tracking, CLV, the finding) uses only the models that
did fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from .. import sections as sec
from ..sections import Section, table_spec
from ..datasets import day_number
from ..models import bgbb
from ..models.base import quick_mle
from ..models.bgbb import BetaGeoBetaBinomial
from ..models.bgnbd import BetaGeoNBD
from ..models.gammagamma import GammaGamma
from ..models.paretonbd import ParetoNBD
from ..models.purchases import PurchaseResults
from . import dwyer, intervals, predictions, rfm, simulate, value

# Fader, Hardie & Lee's CDNOW set-up: the sample, calibration to 1997-09-30, holdout to 1998-06-30.
CDNOW_PUBLISHED_SETUP = {"dataset": "cdnow_sample", "calibration_end": date(1997, 9, 30)}
DWYER_NOTE = ("Dwyer's (1989) worked example: the cohort and retention path of the parameter file; revenue, "
              "costs, acquisition cost and discount rate are stated assumptions, not data")
PURCHASE_ORDER = ("BG/NBD", "Pareto/NBD")
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value", "frequency_holdout", "monetary_holdout",
                   "duration_holdout")


def weeks_text(weeks: float) -> str:
    """A length in weeks as the report writes it: whole weeks plainly, others to one decimal."""
    return f"{weeks:.0f}" if abs(weeks - round(weeks)) < 0.05 else f"{weeks:.1f}"


# ---------------------------------------------------------------- the data

@dataclass
class ClvData:
    log: pd.DataFrame
    summary: pd.DataFrame
    reference: dict | None            # published or true parameter values, when known
    reference_label: str | None       # "published" | "true" | None
    source: str                       # "data" | "simulated"
    cohort_start: date
    calibration_end: date
    holdout_end: date
    discrete: pd.DataFrame | None = None      # (frequency, recency, periods, count) of a discrete-time summary
    discrete_settings: dict | None = None     # future_periods, discount_rate, dataset
    tracking_counts: pd.DataFrame | None = None   # weekly repeat counts of the cohort, when an engine computed them
    engine: str = "pandas"                    # what computed the RFM summary and tracking counts
    log_rows: int | None = None               # rows of the whole log (None: len(log))
    log_customers: int | None = None          # customers in the whole log (None: counted in log)
    in_place: bool = False                    # the log stayed in the engine; `log` holds only chosen customers

    @property
    def transaction_rows(self) -> int:
        return int(len(self.log)) if self.log_rows is None else self.log_rows

    @property
    def customers_in_log(self) -> int:
        return int(self.log["customer_id"].nunique()) if self.log_customers is None else self.log_customers

    def revenue_and_orders(self) -> pd.DataFrame:
        """Per cohort customer (rows of `summary`): revenue and purchase days up to the end of the holdout.

        From the log when it is in memory; for a log read in place, from the summary's own columns
        (calibration spend + holdout spend, 1 + repeat days + holdout days), which hold the same sums.
        """
        if self.in_place:
            s = self.summary
            holdout = (s["monetary_holdout"].fillna(0.0) * s["frequency_holdout"]).to_numpy(float)
            return pd.DataFrame({"revenue": s["calibration_spend"].to_numpy(float) + holdout,
                                 "orders": (1 + s["frequency"] + s["frequency_holdout"]).to_numpy(np.int64)},
                                index=s.index)
        daily = rfm.merge_same_day(self.log)
        keep = daily.days <= day_number(self.holdout_end)
        revenue = pd.Series(np.bincount(daily.customer_codes[keep], weights=daily.amounts[keep],
                                        minlength=daily.customer_ids.size), index=daily.customer_ids)
        orders = pd.Series(np.bincount(daily.customer_codes[keep], minlength=daily.customer_ids.size),
                           index=daily.customer_ids)
        return pd.DataFrame({"revenue": revenue.reindex(self.summary.index).to_numpy(),
                             "orders": orders.reindex(self.summary.index).to_numpy()}, index=self.summary.index)

    @property
    def unavailable(self) -> str | None:
        """Why the transaction-log sections cannot run (a discrete-time summary replaces the log), else None."""
        if self.discrete is None:
            return None
        return (f"the data are a discrete-time summary ({self.discrete_settings['dataset']}), not a dated "
                "transaction log")

    @property
    def calibration_weeks(self) -> float:
        """Days from the cohort start to the end of calibration, both included, in weeks."""
        return ((self.calibration_end - self.cohort_start).days + 1) / 7

    @property
    def holdout_weeks(self) -> float:
        return (self.holdout_end - self.calibration_end).days / 7

    @property
    def window_weeks(self) -> float:
        return self.calibration_weeks + self.holdout_weeks


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


def load_discrete(settings) -> pd.DataFrame:
    """A discrete-time summary as rows (frequency, recency, periods, count)."""
    from ..contractual import data as cdata

    donations = cdata.load_donations()
    return pd.DataFrame({"frequency": donations["frequency"].to_numpy(), "recency": donations["recency"].to_numpy(),
                         "periods": donations["periods"].to_numpy(), "count": donations["donors"].to_numpy()})


def prepare(params, rng: np.random.Generator) -> ClvData:
    """The log, its calibration/holdout summary and the reference values of a run (or, for a
    `discrete` source, the discrete-time summary with an empty log)."""
    if params.discrete is not None:
        from ..models.bgbb import PUBLISHED_DONATIONS

        empty_log = pd.DataFrame({"customer_id": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]"),
                                  "amount": pd.Series(dtype=float)})
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in SUMMARY_COLUMNS})
        return ClvData(empty_log, empty, {"BG/BB": PUBLISHED_DONATIONS}, "published", "data", params.cohort_start,
                       params.calibration_end, params.holdout_end, load_discrete(params.discrete),
                       params.discrete.model_dump())
    if params.engine is not None and params.simulate is None and params.transactions.dataset is None:
        return read_in_place(params)
    log, reference, label = load_log(params, rng)
    counts, engine = None, "pandas"
    if params.engine is None:
        summary = rfm.rfm_summary(log, params.calibration_end, params.holdout_end)
    else:
        summary, counts = engine_summaries(log, params)
        engine = params.engine.backend
    return ClvData(log, summary, reference, label, "simulated" if params.simulate is not None else "data",
                   params.cohort_start, params.calibration_end, params.holdout_end,
                   tracking_counts=counts, engine=engine)


def engine_summaries(log: pd.DataFrame, params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The RFM summary and the cohort's weekly repeat counts computed by the engine of `params.engine`
    (`crmresearch.engine`: DuckDB or Spark), equal to `rfm.rfm_summary` and
    `rfm.repeat_transactions_by_period`: rows in the pandas path's order (customers by first
    appearance in the log) and indexed by the log's own customer ids."""
    from ..engine import sources, spark
    from ..engine import summaries as S

    con = spark.connect(params.engine)
    try:
        table = sources.open_frame(con, log, name="crm_clv_log")
        summary = S.rfm_summary(table, params.calibration_end, params.holdout_end)
        counts = S.repeat_transactions_by_period(table, params.cohort_start, params.holdout_end,
                                                 params.calibration_end)
    finally:
        if con.name == "duckdb":
            con.disconnect()
    _, ids = pd.factorize(log["customer_id"], sort=False)
    ids = np.asarray(ids)
    keys = pd.Series(ids).astype(str)               # the engine's ids (`sources.open_frame`)
    if not keys.is_unique:
        raise ValueError("customer ids that differ only in type (e.g. 1 and '1') cannot be told apart by the engine")
    cohort = keys.isin(summary.index).to_numpy()
    summary = summary.reindex(keys[cohort].to_numpy())
    summary.index = pd.Index(ids[cohort], name="customer_id")
    return summary, counts


def read_in_place(params) -> ClvData:
    """A user's log read where it lives (file, folder, glob or table) by the engine of `params.engine`.

    Nothing of the log enters Python but what the report uses: the per-customer RFM summary
    (computed once in the engine and kept there for its later uses), the weekly repeat counts, the
    log's size, and the purchases of the three customers whose P(alive) history is drawn. Rows are
    in customer-id order.
    """
    from ..engine import sources, spark
    from ..engine import summaries as S

    con = spark.connect(params.engine)
    try:
        table = sources.open_log(con, sources.LogSource.from_transactions(params.transactions), name="crm_clv_log",
                                 validate=not sources.checked_by_runner())
        # The customers are cut into ranges of their ids that each fit the memory limit; each range's
        # RFM rows are computed in one grouping and kept (with the customers who first bought after
        # the calibration end, for the log's customer count); the weekly counts join each range's
        # customer-days with its kept first days.
        ranges = S.customer_ranges(table)
        parts = [S.in_range(table, r) for r in ranges]
        customers = S.materialize_parts([S.rfm_expression(p, params.calibration_end, params.holdout_end,
                                                          cohort_only=False) for p in parts], "crm_clv_rfm")
        rfm_table = S.cohort(customers, params.calibration_end)
        summary = S.customer_rfm(rfm_table)
        counts = S.sum_periods([S.repeat_transactions_by_period(p, params.cohort_start, params.holdout_end,
                                                                params.calibration_end,
                                                                first_days=S.in_range(rfm_table, r))
                                for p, r in zip(parts, ranges)])
        size = S.log_size(table, customers=customers)
        history_log = S.customer_log(table, intervals.choose_customers(summary))
    finally:
        if con.name == "duckdb":
            con.disconnect()
    return ClvData(history_log, summary, None, None, "data", params.cohort_start, params.calibration_end,
                   params.holdout_end, tracking_counts=counts, engine=params.engine.backend,
                   log_rows=size["rows"], log_customers=size["customers"], in_place=True)


def data_files(params) -> dict:
    if params.discrete is not None:
        from ..contractual import data as cdata

        return {params.discrete.dataset: cdata.donations_path()}
    if params.simulate is not None or (params.transactions.in_place and params.transactions.path is None):
        return {}
    return {"transactions": params.transactions.file()}


# ---------------------------------------------------------------- Dwyer's worked example

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


def dwyer_display(table: pd.DataFrame) -> pd.DataFrame:
    names = {"year": "year", "retention_rate": "retention", "customers": "customers", "buyers": "buyers",
             "reachable": "reachable", "revenue": "revenue", "costs": "costs", "profit": "profit",
             "discount_factor": "discount factor", "npv_profit": "NPV of profit", "cumulative_npv": "cumulative NPV",
             "clv_per_customer": "cumulative NPV per acquired customer"}
    return table.rename(columns=names)


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


def retention_text(retention: pd.DataFrame, uplift: dict) -> str:
    """The retention table in one sentence: cohort, years kept and value per acquired customer."""
    first, last = retention.iloc[0], retention.iloc[-1]
    payback = uplift.get("payback_year")
    text = (f"Of **{first['customers']:,.0f}** customers acquired in year 1, **{last['customers']:,.0f}** are "
            f"still active in year {int(last['year'])}; by then an acquired customer has brought "
            f"**{last['clv_per_customer']:,.2f}** in discounted profit")
    text += (f", and the cohort's cumulative NPV turns positive in year {payback}." if payback is not None
             else ", and the cohort's cumulative NPV never turns positive within the table.")
    return text


def uplift_text(uplift: dict) -> str:
    """What the retention rise is worth, measured against Reichheld & Sasser's 25-85% (conditional on the numbers)."""
    change = uplift["npv_change_pct"]
    verdict = ("inside" if uplift["within_reichheld_sasser_25_85"]
               else "below" if change < 25 else "above")
    years = uplift["years"]
    if uplift["flat_economics"]:
        reason = (f"with flat revenue and costs per customer and a {years}-year horizon the gain "
                  f"{'is smaller' if change < 25 else 'comes from retention alone'}")
    else:
        reason = f"here profit per customer also grows with tenure ({years}-year horizon)"
    text = (f"With these assumptions the cohort's NPV is **{uplift['npv_base']:,.0f}**, or **{uplift['clv_base']:,.2f} "
            f"per acquired customer**. Raising every retention rate by {uplift['uplift_points']:g} points raises it to "
            f"**{uplift['clv_raised']:,.2f}**, a change of **{change:+.1f}%** "
            f"({uplift['undiscounted_profit_change_pct']:+.1f}% before discounting), {verdict} Reichheld & Sasser's "
            f"25–85%. Their figure comes from businesses where profit per customer grows with tenure (more purchases, "
            f"lower service cost, referrals); {reason}. Earning the same gain by acquisition would need about "
            f"**{uplift['equivalent_new_customers']:,.0f} extra customers**")
    if uplift["acquisition_cost"] > 0:
        # Retention cost per customer-year = acquisition cost / ratio.
        kept = uplift["equivalent_new_customers"] * uplift["retention_cost_ratio"]
        text += (f" costing **{uplift['equivalent_acquisition_spend']:,.0f}**; if acquiring costs "
                 f"{uplift['retention_cost_ratio']:g} times as much as keeping a customer, that money would instead "
                 f"pay for keeping about **{kept:,.0f}** customer-years")
    return text + "."


def migration_text(migration: pd.DataFrame, retention: pd.DataFrame, markov: dict) -> str:
    before, after = retention["clv_per_customer"].iloc[-1], migration["clv_per_customer"].iloc[-1]
    direction = "raises" if after > before else "lowers" if after < before else "leaves"
    text = (f"Letting lapsed customers return {direction} the value of an acquired customer after {len(migration)} "
            f"years from {before:,.2f} to **{after:,.2f}**." if direction != "leaves" else
            f"Letting lapsed customers return leaves the value of an acquired customer after {len(migration)} years "
            f"at **{after:,.2f}**.")
    if markov.get("applicable"):
        agree = np.isclose(markov["markov_value"], markov["table_value"], rtol=1e-9, atol=1e-6)
        text += (f" The Markov-chain value of the same recency chain (Pfeifer & Carraway 2000, lifecycle module) is "
                 f"{markov['markov_value']:,.4f} before acquisition cost, "
                 + (f"equal to the table's {markov['table_value']:,.4f}." if agree else
                    f"against the table's {markov['table_value']:,.4f}: the two computations disagree."))
    else:
        text += " (Revenue or cost changes with the year, so the constant-reward Markov-chain check does not apply.)"
    return text


@dataclass
class DwyerSection(Section):
    frames: dict = field(default_factory=dict)   # retention, raised, migration, uplift, markov_check


def dwyer_retention_section(scenario) -> DwyerSection:
    """Dwyer's retention table (a published worked example with the parameter file's assumptions)."""
    tables = dwyer_tables(scenario)
    retention = tables["retention"]
    table = table_spec(dwyer_display(retention)[["year", "retention", "customers", "revenue", "costs", "profit",
                                                 "NPV of profit", "cumulative NPV per acquired customer"]],
                       "Dwyer's retention table: the cohort year by year (money in the currency of the revenue "
                       "assumption).", label="tbl-dwyer",
                       decimals={"retention": 2, "customers": 0, "revenue": 0, "costs": 0, "profit": 0,
                                 "NPV of profit": 0, "cumulative NPV per acquired customer": 2})
    return DwyerSection({"dwyer_table": retention}, retention_text(retention, tables["uplift"]), table,
                        source="published", rows_used=int(scenario.cohort_size), note=DWYER_NOTE, frames=tables)


def dwyer_uplift_section(dw: DwyerSection) -> Section:
    uplift = dw.frames["uplift"]
    table = table_spec(uplift_display(uplift), "What a rise in retention is worth for the cohort.",
                       label="tbl-uplift", decimals={"value": 2})
    return Section({"dwyer_uplift": uplift}, uplift_text(uplift), table, source="published",
                   rows_used=dw.rows_used, note=DWYER_NOTE)


def dwyer_migration_section(dw: DwyerSection) -> Section:
    migration, markov = dw.frames["migration"], dw.frames["markov_check"]
    probs = ", ".join(f"{p:.0%}" for p in dw.frames["migration_probability"])
    table = table_spec(dwyer_display(migration)[["year", "buyers", "reachable", "revenue", "profit", "NPV of profit",
                                                 "cumulative NPV per acquired customer"]],
                       "Dwyer's migration table: buyers per year when customers who skipped a year may return "
                       f"(purchase probability by years since last purchase: {probs}).", label="tbl-migration",
                       decimals={"buyers": 0, "reachable": 0, "revenue": 0, "profit": 0, "NPV of profit": 0,
                                 "cumulative NPV per acquired customer": 2})
    return Section({"dwyer_migration_table": migration, "dwyer_migration_markov_check": markov},
                   migration_text(migration, dw.frames["retention"], markov), table, source="published",
                   rows_used=dw.rows_used, note=DWYER_NOTE)


# ---------------------------------------------------------------- frequency, recency, T

def rfm_overview(summary: pd.DataFrame, transaction_rows: int) -> dict:
    return {
        "customers": int(len(summary)),
        "transaction_rows": int(transaction_rows),
        "repeat_buyers": int((summary["frequency"] > 0).sum()),
        "share_no_repeat": float((summary["frequency"] == 0).mean()),
        "calibration_repeat_transactions": int(summary["frequency"].sum()),
        "holdout_repeat_transactions": int(summary["frequency_holdout"].sum()),
        "mean_frequency": float(summary["frequency"].mean()),
        "mean_repeat_spend": float(summary["monetary_value"].mean()) if (summary["frequency"] > 0).any() else None,
    }


RFM_LABELS = {"customers": "customers in the cohort", "transaction_rows": "rows in the transaction log",
              "repeat_buyers": "customers with a repeat purchase in calibration",
              "share_no_repeat": "share with no repeat purchase in calibration",
              "calibration_repeat_transactions": "repeat purchases in calibration",
              "holdout_repeat_transactions": "purchases in the holdout period",
              "mean_frequency": "mean repeat purchases per customer (x)",
              "mean_repeat_spend": "mean value of repeat purchases (repeat buyers)"}


def rfm_overview_display(overview: dict) -> pd.DataFrame:
    # object dtype keeps counts as integers in the displayed table
    return pd.DataFrame([(RFM_LABELS[k], v if v is not None else "undefined (no repeat buyer)")
                         for k, v in overview.items() if k in RFM_LABELS], columns=["quantity", "value"], dtype=object)


def rfm_text(overview: dict, window: dict) -> str:
    text = (f"The cohort has **{overview['customers']:,} customers** who first bought between "
            f"{window['cohort_start']:%d %B %Y} and {window['calibration_end']:%d %B %Y}. In the "
            f"{weeks_text(window['calibration_weeks'])}-week calibration period ")
    if overview["repeat_buyers"] == 0:
        text += "**none of them bought again**"
    else:
        text += (f"**{overview['share_no_repeat']:.1%}** of them never bought again; the others made "
                 f"{overview['calibration_repeat_transactions']:,} repeat purchases")
    return text + (f". The holdout period of {weeks_text(window['holdout_weeks'])} weeks has "
                   f"{overview['holdout_repeat_transactions']:,} more.")


def discrete_overview(frame: pd.DataFrame) -> dict:
    w = frame["count"].to_numpy(float)
    x = frame["frequency"].to_numpy(float)
    return {"customers": int(w.sum()), "unique_rows": int(len(frame)), "periods": int(frame["periods"].max()),
            "share_no_transaction": float(w[x == 0].sum() / w.sum()),
            "transactions": int(w @ x), "mean_frequency": float(w @ x / w.sum())}


def discrete_overview_text(overview: dict) -> str:
    text = (f"The data summarise **{overview['customers']:,} customers** with up to {overview['periods']} later "
            f"chances to buy each ({overview['unique_rows']} distinct patterns of frequency, recency and periods). ")
    if overview["transactions"] == 0:
        return text + "**None of them bought again.**"
    return text + (f"**{overview['share_no_transaction']:.1%}** never bought again; together the others made "
                   f"{overview['transactions']:,} transactions ({overview['mean_frequency']:.2f} per customer).")


def rfm_section(data: ClvData) -> Section:
    """The calibration cohort (transaction log) or, for a discrete-time summary, its customers and periods."""
    if data.discrete is not None:
        overview = discrete_overview(data.discrete)
        shown = pd.DataFrame([("customers", overview["customers"]), ("distinct (x, t_x, n) patterns", overview["unique_rows"]),
                              ("chances to buy (periods)", overview["periods"]),
                              ("share with no transaction", overview["share_no_transaction"]),
                              ("transactions", overview["transactions"]),
                              ("mean transactions per customer (x)", overview["mean_frequency"])],
                             columns=["quantity", "value"], dtype=object)
        return Section({"discrete_overview": overview}, discrete_overview_text(overview),
                       table_spec(shown, "The discrete-time summary: customers and their transactions.",
                                  label="tbl-rfm", decimals={"value": 3}),
                       source=data.source, rows_used=overview["customers"])
    overview = rfm_overview(data.summary, data.transaction_rows)
    window = {"cohort_start": data.cohort_start, "calibration_end": data.calibration_end,
              "holdout_end": data.holdout_end, "calibration_weeks": data.calibration_weeks,
              "holdout_weeks": data.holdout_weeks}
    table = table_spec(rfm_overview_display(overview), "The calibration cohort and its purchases.",
                       label="tbl-rfm", decimals={"value": 2})
    dropped = {"first purchase after the calibration period": int(data.customers_in_log - len(data.summary))}
    return Section({**overview, "window_weeks": {k: v for k, v in window.items() if k.endswith("weeks")},
                    "engine": data.engine},
                   rfm_text(overview, window), table, source=data.source, rows_used=overview["customers"],
                   rows_dropped={k: v for k, v in dropped.items() if v})


# ---------------------------------------------------------------- the models

class FitSet(dict):
    """The models that converged (name -> FittedModel, in report order) and, in `failed`, those that did not."""

    def __init__(self, fitted: dict, failed: dict, skipped: dict | None = None):
        super().__init__(fitted)
        self.failed = failed                  # name -> FailedFit
        self.skipped = skipped or {}          # name -> reason (not asked for)

    @property
    def purchase(self) -> list:
        return [self[n] for n in PURCHASE_ORDER if n in self]

    @property
    def purchase_model(self):
        """The purchase model the CLV uses: BG/NBD when it fitted, else Pareto/NBD, else None."""
        fits = self.purchase
        return fits[0] if fits else None


def fit_all(summary: pd.DataFrame, with_pareto: bool = True, discrete: pd.DataFrame | None = None) -> FitSet:
    """BG/NBD, Pareto/NBD (optional) and Gamma-Gamma, each from several starting points; never raises.
    With a discrete-time summary (`discrete`), the BG/BB instead, and the others are not fitted."""
    if discrete is not None:
        fit = BetaGeoBetaBinomial().fit(discrete)
        ok = fit.converged
        return FitSet({"BG/BB": fit} if ok else {}, {} if ok else {"BG/BB": fit},
                      {n: f"{n} not fitted: it needs dated transactions{' with spend' if n == 'Gamma-Gamma' else ''}, "
                          "and the data are a discrete-time summary (the BG/BB is fitted instead)"
                       for n in ("BG/NBD", "Pareto/NBD", "Gamma-Gamma")})
    from ..engine.progress import step

    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
    with step("fit BG/NBD", len(summary)):          # progress lines in the run log (large logs)
        results = {"BG/NBD": BetaGeoNBD().fit(frequency=x, recency=t_x, T=T)}
    skipped = {}
    if with_pareto:
        with step("fit Pareto/NBD", len(summary)):
            results["Pareto/NBD"] = ParetoNBD().fit(frequency=x, recency=t_x, T=T)
    else:
        skipped["Pareto/NBD"] = "the parameter file turns the Pareto/NBD off (fit_pareto_nbd: false)"
    with step("fit Gamma-Gamma", len(summary)):
        results["Gamma-Gamma"] = GammaGamma().fit(frequency=x, monetary_value=summary["monetary_value"])
    fitted = {n: r for n, r in results.items() if r.converged}
    failed = {n: r for n, r in results.items() if not r.converged}
    skipped["BG/BB"] = ("BG/BB not fitted: it is for discrete-time data (a `discrete:` source), and this variant "
                        "analyses a dated transaction log")
    return FitSet(fitted, failed, skipped)


def slug(name: str) -> str:
    return name.lower().replace("/", "").replace("-", "_")


def interval_columns(confidence: float) -> tuple[str, str]:
    return f"{confidence:.0%} lower", f"{confidence:.0%} upper"


def parameter_table(fits: dict, reference: dict | None = None, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """One row per model parameter: estimate, SE, interval at `confidence`, the reference value if any; plus LL rows."""
    rows = []
    for name, fit in fits.items():
        table = fit.table(confidence, (reference or {}).get(name))
        table.insert(0, "model", name)
        rows.append(table)
        ll = {"model": name, "parameter": "log-likelihood", "estimate": fit.llf}
        if reference and name in reference and "loglike" in reference[name]:
            ll["published"] = reference[name]["loglike"]
        rows.append(pd.DataFrame([ll]))
    out = pd.concat(rows, ignore_index=True)
    if "published" not in out:
        out["published"] = np.nan
    lower, upper = interval_columns(confidence)
    return out.rename(columns={"std_error": "std. error", "ci_lower": lower, "ci_upper": upper})


def fit_statistics(fits: dict) -> pd.DataFrame:
    return pd.DataFrame([{"model": n, "customers": f.nobs, "unique rows": f.n_unique_rows,
                          "parameters": f.df_model, "log-likelihood": f.llf, "AIC": f.aic, "BIC": f.bic,
                          "starting points tried": f.starts_tried}
                         for n, f in fits.items()])


def fit_record(fit) -> dict:
    return {"params": fit.params.to_dict(), "bse": fit.bse.to_dict(), "loglike": fit.llf, "aic": fit.aic,
            "bic": fit.bic, "customers": fit.nobs, "starts_tried": fit.starts_tried}


def model_section(name: str, fits: FitSet, source: str) -> Section:
    """One model's own section: fitted (its numbers), failed (what failed, what was tried) or not asked for."""
    key = f"fit_{slug(name)}"
    if name in fits:
        fit = fits[name]
        return Section({key: fit_record(fit)}, source=source, rows_used=fit.nobs)
    if name in fits.failed:
        failure = fits.failed[name]
        section = sec.failed(name, failure.tried if failure.starts else "no fit (the data cannot support the model)",
                             failure.reason, rows_used=failure.nobs)
        section.results = {key: failure.as_dict()}
        return section
    return sec.not_computed(fits.skipped.get(name, f"{name} was not fitted"))


def model_sections(fits: FitSet, source: str) -> dict:
    """results.json name -> each model's own section (fitted, failed or not asked for), in report order."""
    return {f"fit_{slug(name)}": model_section(name, fits, source)
            for name in ("BG/NBD", "Pareto/NBD", "Gamma-Gamma", "BG/BB")}


def reference_comparison(fits: dict, reference: dict | None) -> dict | None:
    """Largest relative gap and z-distance of the estimates from the reference values, and whether
    every gap is within the rounding of the published figure (half a unit in its last decimal)."""
    if not reference:
        return None
    gaps, zscores, within_rounding = [], [], []
    for name, fit in fits.items():
        ref = reference.get(name, {})
        log_se = np.sqrt(np.diag(fit.log_cov))
        for (p, v), se in zip(fit.params.items(), log_se):
            if p in ref:
                gaps.append(abs(v / ref[p] - 1))
                zscores.append(abs(np.log(v / ref[p])) / se)
                within_rounding.append(abs(v - ref[p]) <= 0.5 * 10.0 ** -_decimals(ref[p]) + 1e-12)
    if not gaps:
        return None
    return {"max_relative_gap": float(max(gaps)), "max_z": float(max(zscores)),
            "all_within_rounding": bool(all(within_rounding)), "compared": len(gaps)}


def _decimals(value: float) -> int:
    text = repr(float(value))
    return len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0


def parameter_text(fits: dict, comparison: dict | None, reference_label: str | None) -> str:
    parts = []
    bg = fits["BG/NBD"].params if "BG/NBD" in fits else None
    if bg is not None:
        spread = ("vary a lot between customers" if bg["r"] < 1 else "vary moderately between customers")
        parts.append(f"The BG/NBD estimates say that purchase rates {spread} (gamma shape r = {bg['r']:.3f}"
                     + (", so most customers buy rarely and a few often" if bg["r"] < 1 else "")
                     + f"; the mean rate is {bg['r'] / bg['alpha']:.3f} purchases a week) and that a customer drops "
                     f"out after a repeat purchase with probability {bg['a'] / (bg['a'] + bg['b']):.2f} on average.")
    elif "BG/BB" in fits:
        bb = fits["BG/BB"].params
        buy, drop = bb["alpha"] / (bb["alpha"] + bb["beta"]), bb["gamma"] / (bb["gamma"] + bb["delta"])
        parts.append(f"The BG/BB estimates say that a customer who is still active buys in a period with probability "
                     f"{buy:.2f} on average and drops out before the next period with probability {drop:.2f} on "
                     "average" + ("; both vary widely between customers (beta distributions with shape sums "
                                  f"{bb['alpha'] + bb['beta']:.2f} and {bb['gamma'] + bb['delta']:.2f})."
                                  if max(bb["alpha"] + bb["beta"], bb["gamma"] + bb["delta"]) < 5 else "."))
    elif "Pareto/NBD" in fits:
        pn = fits["Pareto/NBD"].params
        parts.append(f"The Pareto/NBD gives a mean purchase rate of {pn['r'] / pn['alpha']:.3f} a week while active "
                     f"and a mean dropout rate of {pn['s'] / pn['beta']:.4f} a week.")
    if comparison and reference_label:
        text = (f"Every estimate is within {100 * comparison['max_relative_gap']:.2f}% of its {reference_label} value "
                f"(at most {comparison['max_z']:.2f} standard errors away)")
        if reference_label == "published" and comparison["all_within_rounding"]:
            text += "; the differences are the rounding of the published figures."
        elif reference_label == "published":
            text += "; not every difference is within the rounding of the published figure."
        else:
            text += "."
        parts.append(text)
    return " ".join(parts)


@dataclass
class ModelsSection(Section):
    tables: list = field(default_factory=list)


def models_section(fits: FitSet, data: ClvData, confidence: float) -> ModelsSection:
    """Estimates with intervals at `confidence` and fit statistics of the models that converged."""
    if not fits:
        what = ", ".join(fits.failed)
        return ModelsSection(text=f"*Model failed:* none of the models converged ({what}); see each model's note.",
                             source="failed", rows_used=len(data.summary),
                             note=f"no model converged ({what})")
    reference, label = data.reference, data.reference_label
    table = parameter_table(fits, reference, confidence)
    lower, upper = interval_columns(confidence)
    shown = table if reference else table.drop(columns="published")
    ref_col = f"{label or 'reference'} value"
    specs = [table_spec(shown.rename(columns={"published": ref_col}),
                        f"Maximum-likelihood estimates with standard errors and {confidence:.0%} intervals"
                        + (f", next to the {label} values." if reference else "."),
                        label="tbl-parameters", decimals={"estimate": 3, "std. error": 3, lower: 3, upper: 3,
                                                          ref_col: 3})]
    statistics = fit_statistics(fits)
    specs.append(table_spec(statistics, "Fit statistics (AIC and BIC use the number of customers).",
                            label="tbl-fit", decimals={"log-likelihood": 1, "AIC": 1, "BIC": 1}))
    comparison = reference_comparison(fits, reference)
    text = parameter_text(fits, comparison, label)
    if fits.failed:
        text += (" " if text else "") + ("Not fitted: " + "; ".join(
            f"{n} ({'no start converged' if f.starts else f.reason})" for n, f in fits.failed.items())
            + ". The tables, forecasts and values below use only the models that converged.")
    results = {"parameters": table, "fit_statistics": statistics}
    if comparison:
        results["reference_comparison"] = comparison
    return ModelsSection(results, text, source=data.source, rows_used=len(data.summary), tables=specs)


def spend_frequency_text(independence: dict) -> str:
    r = independence["correlation"]
    reading = ("a link this weak is what Fader, Hardie & Lee (2005, JMR) judged acceptable on CDNOW (0.11)"
               if abs(r) < 0.3 else
               "a stronger link than the 0.11 Fader, Hardie & Lee (2005, JMR) judged acceptable on CDNOW, so the "
               "spend predictions below should be read with care")
    return ("Gamma-Gamma assumes that how much a customer spends per purchase does not depend on how often they buy. "
            f"Among the {independence['n']:,} repeat buyers the correlation between repeat purchases and average spend "
            f"is **{r:.2f}** ({independence['confidence']:.0%} interval {independence['lower']:.2f} to "
            f"{independence['upper']:.2f}): {reading}.")


def spend_frequency_section(data: ClvData, confidence: float) -> Section:
    if data.unavailable:
        return sec.not_computed(f"no spend to correlate: {data.unavailable}")
    repeaters = int((data.summary["frequency"] > 0).sum())
    if repeaters < 4:
        return sec.not_computed(f"the correlation needs at least 4 repeat buyers (the log has {repeaters})",
                                rows_used=repeaters)
    independence = predictions.spend_frequency_correlation(data.summary["frequency"], data.summary["monetary_value"],
                                                           confidence)
    shown = {**independence, "confidence": confidence}
    return Section({"spend_frequency_correlation": independence}, spend_frequency_text(shown), source=data.source,
                   rows_used=independence["n"],
                   rows_dropped={"no repeat purchase in calibration": int(len(data.summary) - independence["n"])})


# ---------------------------------------------------------------- checks of the fit

@dataclass
class HistogramSection(Section):
    histogram: pd.DataFrame | None = None
    band: pd.DataFrame | None = None          # label, actual, expected, lower, upper (parameter draws)
    unit: str = "repeat purchases in calibration"
    model: str = "BG/NBD"


def parameter_draws(fits: FitSet, params) -> dict:
    """Draws of every fitted model's parameters from their asymptotic normal (log scale), `parameter_draws`
    of each, from a generator of its own so that the report's other numbers do not depend on them."""
    rng = np.random.default_rng([params.seed, 11])
    return {name: fit.draw_parameters(params.parameter_draws, rng) for name, fit in fits.items()}


def discrete_histogram_band(fit, frame: pd.DataFrame, thetas, confidence: float) -> pd.DataFrame:
    """Customers by number of transactions (0..n) in a discrete-time summary: actual against the BG/BB's
    expectation (FHS 2010, eq. 7), with a band over parameter draws; customers grouped by their n."""
    n_max = int(frame["periods"].max())
    w = frame["count"].to_numpy(float)
    actual = np.bincount(frame["frequency"].astype(int), weights=w, minlength=n_max + 1)
    per_n = frame.groupby("periods")["count"].sum()

    def expected(theta):
        return sum(c * np.pad(bgbb.expected_count_distribution(theta, int(n)), (0, n_max - int(n)))
                   for n, c in per_n.items())

    drawn = np.array([expected(theta) for theta in thetas])          # one row per draw (a few dozen numbers each)
    lower, upper = intervals.band(drawn, confidence)
    return pd.DataFrame({"transactions": [str(k) for k in range(n_max + 1)], "actual": actual,
                         "expected": expected(fit.theta), "lower": lower, "upper": upper})


def histogram_band_text(band: pd.DataFrame, confidence: float, model: str, unit: str) -> str:
    inside = int(((band["actual"] >= band["lower"]) & (band["actual"] <= band["upper"])).sum())
    worst = band.iloc[int(np.argmax(np.abs(band["actual"] - band["expected"]) / np.maximum(band["expected"], 1e-9)))]
    return (f"The {confidence:.0%} band from the {model}'s parameter draws contains the actual count in **{inside} of "
            f"{len(band)}** groups of {unit}; the largest relative gap is at {worst.iloc[0]} "
            f"({worst['actual']:,.0f} actual against {worst['expected']:,.1f} expected).")


def histogram_text(histogram: pd.DataFrame, actual_share: float) -> str:
    expected = histogram["BG/NBD"].iloc[0] / histogram["BG/NBD"].sum()
    return (f"The model expects **{expected:.1%}** of customers to make no repeat purchase in calibration; "
            f"the actual share is **{actual_share:.1%}**.")


def histogram_section(fits: FitSet, data: ClvData, max_frequency: int, draws: dict | None = None,
                      confidence: float = config.CONFIDENCE) -> HistogramSection:
    """Customers by repeat purchases in calibration against the BG/NBD's expectation (FHL 2005, figure 1),
    with a band from parameter draws; for a discrete-time summary, customers by transactions against the BG/BB."""
    draws = draws or {}
    if data.discrete is not None:
        if "BG/BB" not in fits:
            return HistogramSection(**vars(sec.not_computed("the transaction histogram needs the BG/BB, which did not fit")))
        band = discrete_histogram_band(fits["BG/BB"], data.discrete, draws["BG/BB"], confidence)
        unit = "transactions in the periods observed"
        return HistogramSection({"frequency_histogram_band": band, "histogram_draws": len(draws["BG/BB"])},
                                histogram_band_text(band, confidence, "BG/BB", unit), source=data.source,
                                rows_used=int(data.discrete["count"].sum()), band=band, unit=unit,
                                model="BG/BB")
    if "BG/NBD" not in fits:
        return HistogramSection(**vars(sec.not_computed("the frequency histogram needs the BG/NBD, which did not fit")))
    histogram = predictions.frequency_histogram(fits["BG/NBD"], data.summary, max_frequency)
    expected = float(histogram["BG/NBD"].iloc[0] / histogram["BG/NBD"].sum())
    actual = float((data.summary["frequency"] == 0).mean())
    results = {"frequency_histogram": histogram, "share_no_repeat_expected": expected}
    text = histogram_text(histogram, actual)
    band = None
    if "BG/NBD" in draws:
        band = intervals.histogram_band(fits["BG/NBD"], data.summary, max_frequency, draws["BG/NBD"], confidence)
        results.update(frequency_histogram_band=band, histogram_draws=len(draws["BG/NBD"]))
        text += " " + histogram_band_text(band, confidence, "BG/NBD", "repeat purchases")
    return HistogramSection(results, text, source=data.source, rows_used=len(data.summary), histogram=histogram,
                            band=band)


def tracking_table(log: pd.DataFrame, summary: pd.DataFrame, fits, cohort_start, holdout_end,
                   actual: pd.DataFrame | None = None) -> pd.DataFrame:
    """Weekly actual vs expected repeat transactions of the calibration cohort (FHL 2005, figure 2).

    The count at the end of week k includes days up to cohort_start + 7k - 1, so the model's
    clock for a customer who tried on day d is (7k - 1 - d)/7 weeks, matching T; a last, partial
    week ends at `holdout_end`, as the actual count does. `actual`: the weekly counts
    (period, incremental, cumulative) when already computed (by the engine), else from `log`.
    """
    if actual is None:
        actual = rfm.repeat_transactions_by_period(log, cohort_start, holdout_end, customers=summary.index)
    trial = rfm.first_purchase_periods(summary, cohort_start)
    last_day = (day_number(holdout_end) - day_number(cohort_start)) / 7
    period_ends = np.minimum((7 * actual["period"].to_numpy() - 1) / 7, last_day)
    out = pd.DataFrame({"period": actual["period"], "actual cumulative": actual["cumulative"],
                        "actual incremental": actual["incremental"]})
    for name, fit in fits.items():
        if isinstance(fit, PurchaseResults):
            cumulative = fit.expected_cumulative_repeat(trial, period_ends)
            out[f"{name} cumulative"] = cumulative
            out[f"{name} incremental"] = np.diff(np.concatenate([[0.0], cumulative]))
    return out


def tracking_errors(tracking: pd.DataFrame, calibration_weeks: float, window_weeks: float | None = None) -> pd.DataFrame:
    """Forecast vs actual cumulative repeat transactions at the end, and the holdout-period error figures."""
    rows = []
    holdout = tracking["period"] > calibration_weeks
    end = tracking.iloc[-1]
    weeks = float(end["period"]) if window_weeks is None else float(window_weeks)
    for name in [c.removesuffix(" cumulative") for c in tracking if c.endswith(" cumulative") and c != "actual cumulative"]:
        cum_err = tracking.loc[holdout, f"{name} cumulative"] - tracking.loc[holdout, "actual cumulative"]
        inc_err = tracking.loc[holdout, f"{name} incremental"] - tracking.loc[holdout, "actual incremental"]
        actual_end = float(end["actual cumulative"])
        with np.errstate(divide="ignore", invalid="ignore"):
            mape = np.abs(cum_err) / tracking.loc[holdout, "actual cumulative"]
        mape = mape[np.isfinite(mape)]
        rows.append({"model": name, "weeks": weeks, "actual": actual_end,
                     "forecast": float(end[f"{name} cumulative"]),
                     "error (%)": float(100 * (end[f"{name} cumulative"] / actual_end - 1)) if actual_end else None,
                     "holdout MAPE, cumulative (%)": float(100 * np.mean(mape)) if mape.size else None,
                     "holdout MAE, weekly": float(np.mean(np.abs(inc_err)))})
    return pd.DataFrame(rows)


def tracking_text(errors: pd.DataFrame) -> str:
    first = errors.iloc[0]
    parts = [f"{row['model']} forecasts **{row['forecast']:,.0f}**"
             + (f" ({row['error (%)']:+.1f}%)" if row["error (%)"] is not None and np.isfinite(row["error (%)"]) else "")
             for _, row in errors.iterrows()]
    return (f"By the end of week {weeks_text(first['weeks'])} the cohort made **{first['actual']:,.0f}** repeat "
            "purchases; " + " and ".join(parts) + ".")


@dataclass
class TrackingSection(Section):
    tracking: pd.DataFrame | None = None
    errors: pd.DataFrame | None = None
    calibration_weeks: float = 0.0


def tracking_section(fits: FitSet, data: ClvData) -> TrackingSection:
    """Weekly tracking of repeat purchases, calibration and holdout, against each converged purchase model."""
    if data.unavailable:
        return TrackingSection(**vars(sec.not_computed(f"no weekly tracking: {data.unavailable}")))
    purchase = {f.name: f for f in fits.purchase}
    if not purchase:
        return TrackingSection(**vars(sec.not_computed("no purchase model (BG/NBD or Pareto/NBD) converged")))
    tracking = tracking_table(data.log, data.summary, purchase, data.cohort_start, data.holdout_end,
                              data.tracking_counts)
    errors = tracking_errors(tracking, data.calibration_weeks, data.window_weeks)
    table = table_spec(errors, "Forecast against actual cumulative repeat transactions at the last week, and "
                       "holdout-period errors (mean absolute percentage error of the cumulative curve, mean absolute "
                       "error of weekly counts).", label="tbl-tracking-errors",
                       decimals={"weeks": 1, "actual": 0, "forecast": 1, "error (%)": 2,
                                 "holdout MAPE, cumulative (%)": 2, "holdout MAE, weekly": 2})
    return TrackingSection({"tracking": tracking, "tracking_errors": errors}, tracking_text(errors), table,
                           source=data.source, rows_used=len(data.summary), tracking=tracking, errors=errors,
                           calibration_weeks=data.calibration_weeks)


def holdout_check(summary: pd.DataFrame, fits) -> pd.DataFrame:
    """Per-customer holdout predictions: totals, correlation and RMSE against the actual counts."""
    horizon = float(summary["duration_holdout"].iloc[0])
    actual = summary["frequency_holdout"].to_numpy()
    rows = []
    for name, fit in fits.items():
        if not isinstance(fit, PurchaseResults):
            continue
        predicted = fit.expected_purchases(summary, t=horizon)
        corr = float(np.corrcoef(predicted, actual)[0, 1]) if np.std(actual) > 0 and np.std(predicted) > 0 else None
        rows.append({"model": name, "actual total": float(actual.sum()), "predicted total": float(predicted.sum()),
                     "correlation": corr, "RMSE": float(np.sqrt(np.mean((predicted - actual) ** 2)))})
    return pd.DataFrame(rows)


@dataclass
class HoldoutSection(Section):
    by_frequency: pd.DataFrame | None = None
    tables: list = field(default_factory=list)
    band: pd.DataFrame | None = None
    band_model: str | None = None


def holdout_band_text(band: pd.DataFrame, model: str, confidence: float) -> str:
    inside = (band["actual"] >= band["lower"]) & (band["actual"] <= band["upper"])
    above = int((band["actual"] > band["upper"]).sum())
    below = int((band["actual"] < band["lower"]).sum())
    text = (f"The {model}'s {confidence:.0%} band from parameter draws (the uncertainty of the estimates only, not "
            f"the purchases' own randomness) contains the actual group mean in **{int(inside.sum())} of {len(band)}** "
            "frequency groups")
    if above or below:
        text += f"; the actual mean lies above the band in {above} and below it in {below}"
    return text + "."


def holdout_section(fits: FitSet, data: ClvData, max_frequency: int, draws: dict | None = None,
                    confidence: float = config.CONFIDENCE) -> HoldoutSection:
    """Holdout purchases by calibration frequency (FHL 2005, figure 4) and per-customer errors, with a band
    from parameter draws for the purchase model the CLV uses."""
    if data.unavailable:
        return HoldoutSection(**vars(sec.not_computed(f"no holdout period: {data.unavailable}")))
    purchase = fits.purchase
    if not purchase:
        return HoldoutSection(**vars(sec.not_computed("no purchase model (BG/NBD or Pareto/NBD) converged")))
    by_frequency = predictions.conditional_expectation_by_frequency(data.summary, purchase, data.holdout_weeks,
                                                                    max_frequency)
    holdout = holdout_check(data.summary, fits)
    tables = [table_spec(by_frequency, "Holdout purchases per customer by calibration frequency.",
                         label="tbl-conditional", decimals=3),
              table_spec(holdout, "Per-customer holdout forecasts: totals, correlation with the actual counts, and "
                         "error.", label="tbl-holdout",
                         decimals={"actual total": 0, "predicted total": 1, "correlation": 3, "RMSE": 3})]
    results, band, text = {"conditional_by_frequency": by_frequency, "holdout_check": holdout}, None, None
    model = fits.purchase_model
    if draws and model.name in draws:
        band = intervals.conditional_by_frequency_band(model, data.summary, data.holdout_weeks, max_frequency,
                                                       draws[model.name], confidence)
        results.update(conditional_band=band, conditional_band_model=model.name)
        text = holdout_band_text(band, model.name, confidence)
    return HoldoutSection(results, text, source=data.source, rows_used=len(data.summary), by_frequency=by_frequency,
                          tables=tables, band=band, band_model=model.name if band is not None else None)


def spend_check(summary: pd.DataFrame, spend_fit, max_frequency: int = 7) -> pd.DataFrame:
    """Expected spend per purchase (Gamma-Gamma, from calibration) against the actual holdout average,
    for customers who bought in the holdout period, by calibration frequency."""
    bought = summary["frequency_holdout"] > 0
    frame = summary.loc[bought]
    expected = spend_fit.expected_spend(frame)
    group = np.minimum(frame["frequency"].to_numpy(), max_frequency)
    table = (pd.DataFrame({"frequency": group, "actual": frame["monetary_holdout"].to_numpy(), "expected": expected})
             .groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                       expected=("expected", "mean")).reset_index())
    table["frequency"] = [f"{v}+" if v == max_frequency else str(v) for v in table["frequency"]]
    total = pd.DataFrame([{"frequency": "all", "customers": int(bought.sum()),
                           "actual": float(frame["monetary_holdout"].mean()), "expected": float(expected.mean())}])
    return pd.concat([table, total], ignore_index=True)


def spend_check_section(fits: FitSet, data: ClvData, max_frequency: int) -> Section:
    if data.unavailable:
        return sec.not_computed(f"no spend to check: {data.unavailable}")
    if "Gamma-Gamma" not in fits:
        return sec.not_computed("the spend check needs the Gamma-Gamma model, which did not fit")
    bought = int((data.summary["frequency_holdout"] > 0).sum())
    if bought == 0:
        return sec.not_computed("no customer bought in the holdout period", rows_used=0)
    check = spend_check(data.summary, fits["Gamma-Gamma"], max_frequency)
    table = table_spec(check, "Average value of holdout purchases: actual and expected, by calibration frequency.",
                       label="tbl-spend", decimals={"actual": 2, "expected": 2})
    return Section({"spend_check": check}, table=table, source=data.source, rows_used=bought,
                   rows_dropped={"no purchase in the holdout period": int(len(data.summary) - bought)})


# ---------------------------------------------------------------- what each customer is worth

def top_customers(summary: pd.DataFrame, clv_table: pd.DataFrame, n: int = 10, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """The n customers with the highest CLV, with short column names that fit a printed page."""
    top = clv_table.sort_index(kind="stable").nlargest(n, "clv")      # ties: smallest customer id
    rfm_part = summary.loc[top.index]
    return pd.DataFrame({
        "customer": top.index.astype(str), "x": rfm_part["frequency"].to_numpy(),
        "t_x": rfm_part["recency"].to_numpy(), "T": rfm_part["T"].to_numpy(),
        "P(alive)": top["p_alive"].to_numpy(), "purchases": top["expected_transactions"].to_numpy(),
        "spend": top["expected_spend"].to_numpy(), "CLV": top["clv"].to_numpy(),
        f"{confidence:.0%} interval": [f"{lo:,.0f}–{hi:,.0f}" for lo, hi in zip(top["clv_lower"], top["clv_upper"])]})


def clv_text(total: dict, clv_table: pd.DataFrame) -> str:
    years = total["horizon"] / 52
    span = f"year" if years == 1 else f"{years:g} years"
    mean, median = total["mean_per_customer"], float(clv_table["clv"].median())
    compare = ("only " if median < 0.5 * mean else "")
    return (f"Over the next {span} the cohort is expected to be worth **{total['total']:,.0f}** in discounted "
            f"contribution ({total['confidence']:.0%} interval {total['lower']:,.0f} to {total['upper']:,.0f}), "
            f"**{mean:,.2f} per customer** on average (purchase model: {total['purchase_model']}). The median customer "
            f"is worth {compare}{median:,.2f}; on average customers have a {clv_table['p_alive'].mean():.0%} chance "
            "of still being active at the end of calibration.")


@dataclass
class ClvSection(Section):
    clv_table: pd.DataFrame | None = None
    total: dict | None = None


def clv_section(fits: FitSet, data: ClvData, params) -> ClvSection:
    """Discounted CLV per customer with delta-method intervals, from the purchase model that fitted and Gamma-Gamma."""
    if data.unavailable:
        return ClvSection(**vars(sec.not_computed(
            f"no money value per customer: {data.unavailable}; the BG/BB values below give expected transactions "
            "and DERT instead")))
    purchase = fits.purchase_model
    missing = [n for n, ok in (("a purchase model (BG/NBD or Pareto/NBD)", purchase is not None),
                               ("the Gamma-Gamma spend model", "Gamma-Gamma" in fits)) if not ok]
    if missing:
        return ClvSection(**vars(sec.not_computed(f"CLV needs {' and '.join(missing)}, which did not fit")))
    table, total = predictions.customer_lifetime_value(
        purchase, fits["Gamma-Gamma"], data.summary, horizon=params.clv_horizon_weeks, step=params.clv_step_weeks,
        annual_discount_rate=params.annual_discount_rate, margin=params.margin, confidence=params.confidence)
    shown_total = {**total, "confidence": params.confidence, "purchase_model": purchase.name}
    interval = f"{params.confidence:.0%} interval"
    spec = table_spec(top_customers(data.summary, table, 10, params.confidence),
                      f"The ten customers with the highest predicted CLV ({params.clv_horizon_weeks / 52:g} years, "
                      f"{params.annual_discount_rate:.0%} a year, margin {params.margin:.0%}): repeat purchases x, "
                      "recency t_x and time observed T in weeks, probability of being active, expected purchases "
                      f"over the horizon, expected spend per purchase, CLV and its {interval}.",
                      label="tbl-top-clv", decimals={"x": 0, "t_x": 1, "T": 1, "P(alive)": 3, "purchases": 2,
                                                     "spend": 2, "CLV": 2})
    results = {"clv_total": total, "clv_purchase_model": purchase.name, "mean_p_alive": float(table["p_alive"].mean()),
               "clv_quantiles": table["clv"].quantile([0.1, 0.5, 0.9, 0.99]).to_dict()}
    return ClvSection(results, clv_text(shown_total, table), spec, source=data.source, rows_used=len(table),
                      clv_table=table, total=total)


def customer_value_frame(revenue_and_orders: pd.DataFrame, clv_table: pd.DataFrame | None, params) -> pd.DataFrame:
    """Per customer: observed revenue and orders to holdout_end, profit after cost-to-serve and, when
    CLV was computed, CLV, P(alive) and tier."""
    frame = revenue_and_orders.copy()
    frame["profit"] = value.customer_profit(frame["revenue"], frame["orders"], params.margin,
                                            params.cost_per_order, params.cost_per_customer)
    if clv_table is None:
        return frame
    frame["clv"] = clv_table["clv"]
    # Value to the firm net of the cost of serving the expected future orders.
    frame["net_clv"] = clv_table["clv"] - params.cost_per_order * clv_table["discounted_transactions"]
    frame["expected_transactions"] = clv_table["expected_transactions"]
    frame["p_alive"] = clv_table["p_alive"]
    tiers = value.value_tiers(frame["clv"], params.tier_shares, params.tier_names)
    frame["tier"] = tiers["tier"].array
    return frame


# ---------------------------------------------------------------- how unevenly value is spread

def concentration_text(concentration: dict, break_even: float) -> str:
    """Top share of revenue and profit, the whale curve, and whether the top group earns all the profit."""
    top = concentration["top_fraction"]
    holds = concentration["top_share_profit"] > 1
    text = (f"The top {top:.0%} of customers bring **{concentration['top_share_revenue']:.0%} of revenue** "
            f"(Gini {concentration['gini_revenue']:.2f}). After a cost of {concentration['cost_per_order']:,.2f} per "
            f"order and {concentration['cost_per_customer']:,.2f} per customer, "
            f"**{concentration['unprofitable_share']:.0%} of customers lose money** and the top {top:.0%} earn "
            f"**{concentration['top_share_profit']:.0%} of total profit**; the whale curve peaks at "
            f"{concentration['peak_profit_share']:.0%}")
    peak_at = concentration["peak_population_share"]
    text += f" with the top {peak_at:.0%} of customers. " if concentration["peak_profit_share"] > 1 else ". "
    text += (f"The rule of thumb that the top {top:.0%} create more than all the profit (Kaplan & Cooper 1998) "
             f"{'holds here' if holds else 'does not hold at these costs'}")
    if not holds and break_even > concentration["cost_per_customer"]:
        text += f"; it would hold once the fixed cost per customer reaches **{break_even:,.2f}**."
    elif holds:
        text += f" (it holds for any fixed cost per customer from **{break_even:,.2f}**)."
    else:
        text += "."
    return text


@dataclass
class ConcentrationSection(Section):
    customer_value: pd.DataFrame | None = None
    top_fraction: float = 0.2


def concentration_section(data: ClvData, clv: ClvSection, params) -> ConcentrationSection:
    """Lorenz curve of revenue and whale curve of profit after the assumed costs to serve (data, no model)."""
    if data.unavailable:
        return ConcentrationSection(**vars(sec.not_computed(f"no revenue per customer: {data.unavailable}")),
                                    top_fraction=params.top_fraction)
    frame = customer_value_frame(data.revenue_and_orders(), clv.clv_table, params)
    concentration = value.concentration_summary(frame["revenue"], frame["profit"], params.top_fraction)
    concentration.update(top_fraction=params.top_fraction, cost_per_order=params.cost_per_order,
                         cost_per_customer=params.cost_per_customer, margin=params.margin)
    break_even = value.break_even_cost_per_customer(frame["revenue"], frame["orders"], params.margin,
                                                    params.cost_per_order, params.top_fraction)
    return ConcentrationSection({"concentration": concentration, "break_even_cost_per_customer": break_even},
                                concentration_text(concentration, break_even), source=data.source,
                                rows_used=len(frame), customer_value=frame, top_fraction=params.top_fraction)


CUSTOMER_FILE = "customers.parquet"
CUSTOMER_COLUMNS = ("frequency", "recency", "T", "monetary_value", "frequency_holdout", "monetary_holdout")


def customer_file_text(written: dict) -> str:
    """Where the per-customer predictions are and what they hold."""
    text = (f"Every customer's numbers ({written['customers']:,} rows: the RFM summary, revenue and profit to the "
            f"end of the holdout")
    if written["predictions"]:
        text += ", P(alive), expected purchases, expected spend, CLV with its interval and tier"
    return text + (f") are in the Parquet file `{written['file']}` beside this report, not in the page; the "
                   "concentration, tier and quadrant figures above are computed from the same table.")


def customer_file_section(data: ClvData, clv: ClvSection, concentration: ConcentrationSection, output_dir) -> Section:
    """Write one Parquet row per cohort customer beside the report (never into the notebook):
    the RFM summary, the value frame of the concentration section and the CLV table's columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if concentration.customer_value is None:
        return sec.not_computed(f"no per-customer table ({concentration.note})")
    summary = data.summary
    columns = {"customer_id": pa.array(summary.index.astype(str))}
    columns.update({c: pa.array(summary[c].to_numpy()) for c in CUSTOMER_COLUMNS if c in summary})
    frame = concentration.customer_value
    columns.update({c: pa.array(frame[c].to_numpy()) for c in frame.columns if c != "tier"})
    table_cols = ["p_alive", "expected_transactions", "expected_spend", "discounted_transactions", "clv_se",
                  "clv_lower", "clv_upper"]
    if clv.clv_table is not None:
        columns.update({c: pa.array(clv.clv_table[c].to_numpy()) for c in table_cols})
        columns["tier"] = pa.array(frame["tier"].astype(str).to_numpy())
    path = Path(output_dir) / CUSTOMER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, compression="zstd")
    written = {"file": CUSTOMER_FILE, "customers": int(len(summary)), "columns": list(columns),
               "predictions": clv.clv_table is not None}
    return Section({"customer_file": written}, customer_file_text(written), source=data.source,
                   rows_used=len(summary))


TIER_COLUMNS = {"tier": "tier", "customers": "customers", "mean_clv": "mean CLV", "total_clv": "total CLV",
                "share_of_customers": "share of customers", "share_of_clv": "share of CLV"}


def tiers_section(concentration: ConcentrationSection, clv: ClvSection) -> Section:
    if not clv.computed:
        return sec.not_computed(f"tiers rank customers by predicted CLV, which was not computed ({clv.note})")
    frame = concentration.customer_value
    tiers = value.tier_table(frame["clv"], frame["tier"])
    table = table_spec(tiers.rename(columns=TIER_COLUMNS), "Customer tiers by predicted CLV.", label="tbl-tiers",
                       decimals={"mean CLV": 2, "total CLV": 0, "share of customers": 3, "share of CLV": 3})
    top = tiers.iloc[0]
    text = (f"The {top['tier']} tier, {top['share_of_customers']:.0%} of customers, holds "
            f"**{top['share_of_clv']:.0%} of predicted CLV**.")
    return Section({"tiers": tiers}, text, table, source=clv.source, rows_used=len(frame))


@dataclass
class QuadrantSection(Section):
    quadrant: pd.DataFrame | None = None


def quadrant_section(concentration: ConcentrationSection, clv: ClvSection) -> QuadrantSection:
    if not clv.computed:
        return QuadrantSection(**vars(sec.not_computed(
            f"the value quadrant needs predicted CLV, which was not computed ({clv.note})")))
    frame = concentration.customer_value
    quadrant = value.value_quadrant(frame["net_clv"], frame["expected_transactions"])
    counts = quadrant["quadrant"].value_counts().rename_axis("quadrant").reset_index(name="customers")
    return QuadrantSection({"quadrant_counts": counts}, source=clv.source, rows_used=len(frame), quadrant=quadrant)


# ---------------------------------------------------------------- the one-line finding

def finding(tracking: TrackingSection, clv: ClvSection, concentration: Section, uplift: dict,
            values: Section | None = None) -> str:
    """The report's one line, from the sections that were computed (never from a model that failed)."""
    parts = []
    if values is not None and values.computed and "bgbb_totals" in values.results:
        totals = values.results["bgbb_totals"]
        parts.append(f"BG/BB expects {totals['expected_transactions']:,.0f} transactions from the "
                     f"{totals['customers']:,} customers in the next {totals['future_periods']} periods")
    elif tracking.computed:
        row = tracking.errors.iloc[0]
        error = f" ({row['error (%)']:+.1f}%)" if row["error (%)"] is not None and np.isfinite(row["error (%)"]) else ""
        parts.append(f"{row['model']} forecasts {row['forecast']:,.0f} repeat purchases in {weeks_text(row['weeks'])} "
                     f"weeks against {row['actual']:,.0f} actual{error}")
    elif values is None or not values.computed:
        parts.append("no purchase model converged")
    if clv.computed:
        parts.append(f"mean CLV {clv.total['mean_per_customer']:,.2f}")
    if concentration.computed:
        share = concentration.results["concentration"]
        parts.append(f"the top {share['top_fraction']:.0%} bring {share['top_share_revenue']:.0%} of revenue")
    parts.append(f"+{uplift['uplift_points']:g} points of retention "
                 f"{'raise' if uplift['npv_change_pct'] >= 0 else 'change'} Dwyer's cohort NPV by "
                 f"{uplift['npv_change_pct']:.0f}%")
    return "; ".join(parts) + "."


# ---------------------------------------------------------------- evaluation with uncertainty bands

@dataclass
class BandSection(Section):
    frames: list = field(default_factory=list)     # what the figure draws
    kind: str = ""                                 # "history" | "patterns" | "densities"


def alive_history_text(history: pd.DataFrame, confidence: float, model: str) -> str:
    ends = history.groupby("customer", sort=False).tail(1)
    parts = [f"customer {row['customer']} ends calibration with {row['repeat purchases']:.0f} repeat purchases and "
             f"P(alive) **{row['p_alive']:.2f}** ({confidence:.0%} band {row['lower']:.2f}–{row['upper']:.2f})"
             for _, row in ends.iterrows()]
    return (f"Under the {model}, P(alive) jumps up at each purchase and decays while a customer is silent: "
            + "; ".join(parts) + ".")


def alive_patterns_text(patterns: pd.DataFrame, confidence: float) -> str:
    last = patterns[patterns["t_x"] == patterns["n"]]
    first = patterns[(patterns["t_x"] == 1) & (patterns["frequency"] == 1)]
    text = "Under the BG/BB, a customer whose last transaction was longer ago is less likely to be active"
    if len(first) and len(last):
        low, high = first.iloc[0], last.iloc[-1]
        text += (f": one transaction in period 1 only leaves P(alive) **{low['p_alive']:.2f}** "
                 f"({confidence:.0%} band {low['lower']:.2f}–{low['upper']:.2f}); a transaction in every one of the "
                 f"{int(high['n'])} periods gives **{high['p_alive']:.2f}**")
    return text + "."


def alive_section(fits: FitSet, data: ClvData, draws: dict, confidence: float) -> BandSection:
    """P(alive) with bands: the history through calibration of three customers chosen by a fixed rule
    (`intervals.choose_customers`), or for a discrete-time summary P(alive) of every (x, t_x) pattern."""
    if data.discrete is not None:
        if "BG/BB" not in fits:
            return BandSection(**vars(sec.not_computed("P(alive) needs the BG/BB, which did not fit")))
        frame, fit = data.discrete, fits["BG/BB"]
        args = (frame["frequency"], frame["recency"], frame["periods"], data.discrete_settings["future_periods"],
                data.discrete_settings["discount_rate"])
        estimate = bgbb.predictions_for_draws(fit.theta[None, :], *args)["p_alive"][0]
        lower, upper = intervals.band(bgbb.predictions_for_draws(draws["BG/BB"], *args)["p_alive"], confidence)
        patterns = pd.DataFrame({"frequency": frame["frequency"].to_numpy(), "t_x": frame["recency"].to_numpy(),
                                 "n": frame["periods"].to_numpy(), "customers": frame["count"].to_numpy(),
                                 "p_alive": estimate, "lower": lower, "upper": upper}).sort_values(["frequency", "t_x"])
        return BandSection({"p_alive_patterns": patterns}, alive_patterns_text(patterns, confidence),
                           source=data.source, rows_used=int(frame["count"].sum()), frames=[patterns], kind="patterns")
    model = fits.purchase_model
    if model is None:
        return BandSection(**vars(sec.not_computed("no purchase model (BG/NBD or Pareto/NBD) converged")))
    chosen = intervals.choose_customers(data.summary)
    if not chosen:
        return BandSection(**vars(sec.not_computed("no customer made a repeat purchase in calibration")))
    history = intervals.alive_history(model, data.log, data.summary, chosen, data.calibration_end, draws[model.name],
                                      confidence)
    return BandSection({"p_alive_history": history, "p_alive_history_customers": [str(c) for c in chosen],
                        "p_alive_history_model": model.name},
                       alive_history_text(history, confidence, model.name), source=data.source,
                       rows_used=len(chosen), frames=[history], kind="history")


def heterogeneity_text(frames: list, model: str, confidence: float) -> str:
    parts = []
    for frame in frames:
        a = frame.attrs
        parts.append(f"the {a['label']} has mean **{a['mean']:.3g}**" + (
            " and most customers near zero (the density falls from its highest value at the left)"
            if frame["density"].iloc[0] == frame["density"].max() else ""))
    return (f"The {model} describes how customers differ: " + "; ".join(parts)
            + f". The bands are {confidence:.0%} intervals of the density from the parameter draws.")


def heterogeneity_section(fits: FitSet, data: ClvData, draws: dict, confidence: float) -> BandSection:
    """Densities of the mixing distributions of the purchase model (gamma of λ; beta of p or gamma of μ;
    for the BG/BB beta of p and of θ), with bands from parameter draws."""
    model = fits.get("BG/BB") if data.discrete is not None else fits.purchase_model
    if model is None:
        return BandSection(**vars(sec.not_computed("no purchase model converged")))
    frames = intervals.heterogeneity_bands(model, draws[model.name], confidence)
    results = {f"heterogeneity_{'_'.join(f.attrs['parameters'])}": f for f in frames}
    results["heterogeneity_model"] = model.name
    results["heterogeneity_means"] = {f.attrs["label"]: f.attrs["mean"] for f in frames}
    return BandSection(results, heterogeneity_text(frames, model.name, confidence), source=data.source,
                       rows_used=model.nobs, frames=frames, kind="densities")


# ---------------------------------------------------------------- values with both kinds of interval

@dataclass
class ValueIntervalSection(Section):
    intervals: object = None
    tables: list = field(default_factory=list)


def _agreement(row, lower: str, upper: str) -> str:
    p_lo, p_hi = row[f"parametric {lower}"], row[f"parametric {upper}"]
    b_lo, b_hi = row[f"bootstrap {lower}"], row[f"bootstrap {upper}"]
    if not np.isfinite(b_lo):
        return ""
    ratio = (b_hi - b_lo) / (p_hi - p_lo) if p_hi > p_lo else np.nan
    if not np.isfinite(ratio):
        return ""
    verdict = ("about as wide as" if 0.8 <= ratio <= 1.25 else "wider than" if ratio > 1.25 else "narrower than")
    return f" (the bootstrap interval is {verdict} the parametric one, width ratio {ratio:.2f})"


def value_intervals_text(totals: pd.DataFrame, summary: dict) -> str:
    conf = summary["confidence"]
    lower, upper = f"{conf:.0%} lower", f"{conf:.0%} upper"
    parts = []
    for _, row in totals.iterrows():
        fmt = ",.3f" if row["quantity"].startswith("mean") else ",.0f"
        text = (f"- {row['quantity']}: **{row['estimate']:{fmt}}**, parametric {conf:.0%} interval "
                f"{row[f'parametric {lower}']:{fmt}} to {row[f'parametric {upper}']:{fmt}}")
        if np.isfinite(row[f"bootstrap {lower}"]):
            text += (f", bootstrap {row[f'bootstrap {lower}']:{fmt}} to {row[f'bootstrap {upper}']:{fmt}}"
                     + _agreement(row, lower, upper))
        parts.append(text)
    boot = summary["bootstrap_resamples"]
    models_used = summary["purchase_model"] + (" and Gamma-Gamma" if any("CLV" in p for p in parts) else "")
    head = f"Intervals of the {models_used} predictions from {summary['parametric_draws']} parameter draws"
    if boot:
        kept = boot - summary["bootstrap_dropped"]
        head += (f" and from {boot} customer-bootstrap re-fits"
                 + (f" ({summary['bootstrap_dropped']} did not converge and are left out)" if summary["bootstrap_dropped"]
                    else " (all converged)") + ("" if kept else "; with no converged re-fit there is no bootstrap interval"))
    else:
        head += " (no bootstrap re-fits were asked for)"
    return head + ":\n\n" + ";\n".join(parts) + "."


def _customer_rows(table: pd.DataFrame, confidence: float, top: int = 10) -> pd.DataFrame:
    table = table.sort_index(kind="stable")                              # ties: smallest customer id
    pick = table.nlargest(top, "clv") if "clv" in table else table.nlargest(top, "expected_transactions")
    out = pd.DataFrame({"customer": pick.index.astype(str)})
    for q, label in (("p_alive", "P(alive)"), ("expected_transactions", "purchases"), ("clv", "CLV")):
        if q not in pick:
            continue
        digits = 2 if q == "p_alive" else 1 if q == "expected_transactions" else 0
        out[label] = pick[q].to_numpy()
        out[f"{label} param."] = [f"{lo:,.{digits}f}–{hi:,.{digits}f}" for lo, hi in
                                  zip(pick[f"{q}_parametric_lower"], pick[f"{q}_parametric_upper"])]
        if f"{q}_bootstrap_lower" in pick:
            out[f"{label} boot."] = [f"{lo:,.{digits}f}–{hi:,.{digits}f}" for lo, hi in
                                     zip(pick[f"{q}_bootstrap_lower"], pick[f"{q}_bootstrap_upper"])]
    return out


def discrete_value_intervals(fit, frame: pd.DataFrame, settings: dict, thetas, confidence: float, resamples: int,
                             rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """BG/BB P(alive), expected transactions in the next periods and DERT per (x, t_x, n) row and in total,
    with parametric and customer-bootstrap (multinomial on the rows, warm-started re-fit) intervals."""
    x, t_x, n, w = (frame[c].to_numpy(float) for c in ("frequency", "recency", "periods", "count"))
    args = (x, t_x, n, settings["future_periods"], settings["discount_rate"])
    names = {"p_alive": "p_alive", "expected": "expected_transactions", "dert": "dert"}
    estimate = bgbb.predictions_for_draws(fit.theta[None, :], *args)
    drawn = bgbb.predictions_for_draws(thetas, *args)
    counts = rng.multinomial(int(w.sum()), w / w.sum(), size=resamples) if resamples else np.zeros((0, w.size))
    refits = [quick_mle(bgbb.BgBbLikelihood(x, t_x, n, weights=sample), fit.theta) for sample in counts]
    kept = np.array([theta for theta, ok in refits if ok]).reshape(-1, 4)
    booted = bgbb.predictions_for_draws(kept, *args) if len(kept) else None
    rows = pd.DataFrame({"x": x, "t_x": t_x, "n": n, "customers": w})
    table, totals_rows = rows.copy(), []
    lower_name, upper_name = f"{confidence:.0%} lower", f"{confidence:.0%} upper"
    for key, name in names.items():
        table[name] = estimate[key][0]
        table[f"{name}_parametric_lower"], table[f"{name}_parametric_upper"] = intervals.band(drawn[key], confidence)
        if booted is not None:
            table[f"{name}_bootstrap_lower"], table[f"{name}_bootstrap_upper"] = intervals.band(booted[key], confidence)
        total = (lambda v: v @ w / w.sum()) if key == "p_alive" else (lambda v: v @ w)
        p_lo, p_hi = intervals.band(total(drawn[key]), confidence)
        b_lo, b_hi = intervals.band(total(booted[key]), confidence) if booted is not None else (np.nan, np.nan)
        label = {"p_alive": "mean P(alive)", "expected": f"expected transactions, next {settings['future_periods']} "
                 "periods (total)", "dert": f"DERT at {settings['discount_rate']:.0%} (total)"}[key]
        totals_rows.append({"quantity": label, "estimate": float(total(estimate[key][0])),
                            f"parametric {lower_name}": float(p_lo), f"parametric {upper_name}": float(p_hi),
                            f"bootstrap {lower_name}": float(b_lo), f"bootstrap {upper_name}": float(b_hi)})
    summary = {"confidence": confidence, "purchase_model": "BG/BB", "parametric_draws": len(thetas),
               "bootstrap_resamples": resamples, "bootstrap_dropped": int(resamples - len(kept)),
               "unique_rows": int(len(frame)), "customers": int(w.sum())}
    return table, pd.DataFrame(totals_rows), summary


def value_intervals_section(fits: FitSet, data: ClvData, draws: dict, params) -> ValueIntervalSection:
    """Customer-level and cohort-total values with parametric and bootstrap intervals: CLV, P(alive) and
    expected purchases for a transaction log; P(alive), expected transactions and DERT under the BG/BB."""
    rng = np.random.default_rng([params.seed, 12])
    conf = params.confidence
    if data.discrete is not None:
        if "BG/BB" not in fits:
            return ValueIntervalSection(**vars(sec.not_computed("the values need the BG/BB, which did not fit")))
        table, totals, summary = discrete_value_intervals(fits["BG/BB"], data.discrete, data.discrete_settings,
                                                          draws["BG/BB"], conf, params.bootstrap_resamples, rng)
        shown = table[["x", "t_x", "n", "customers"]].copy()
        for q, label in (("p_alive", "P(alive)"), ("dert", "DERT")):
            shown[label] = table[q]
            shown[f"{label} param."] = [f"{lo:.2f}–{hi:.2f}" for lo, hi in
                                        zip(table[f"{q}_parametric_lower"], table[f"{q}_parametric_upper"])]
            if f"{q}_bootstrap_lower" in table:
                shown[f"{label} boot."] = [f"{lo:.2f}–{hi:.2f}" for lo, hi in
                                           zip(table[f"{q}_bootstrap_lower"], table[f"{q}_bootstrap_upper"])]
        lower, upper = interval_columns(conf)
        totals_dec = {c: 3 for c in totals.columns if c != "quantity"}
        tables = [table_spec(totals, f"BG/BB totals over all customers with {conf:.0%} parametric and bootstrap "
                             "intervals.", label="tbl-value-intervals", decimals=totals_dec),
                  table_spec(shown,
                             f"Each pattern of transactions (x in n periods, the last in period t_x): P(alive) and DERT "
                             f"(discounted at {data.discrete_settings['discount_rate']:.0%} a period), each with its "
                             f"{conf:.0%} parametric (param.) and bootstrap (boot.) interval; the expected transactions "
                             "of each pattern, with both intervals, are in results.json (bgbb_patterns).",
                             label="tbl-bgbb-patterns",
                             decimals={"x": 0, "t_x": 0, "n": 0, "customers": 0, "P(alive)": 3, "DERT": 3})]
        grand = {"customers": summary["customers"], "future_periods": data.discrete_settings["future_periods"],
                 "expected_transactions": float(totals.iloc[1]["estimate"]), "dert": float(totals.iloc[2]["estimate"])}
        section = ValueIntervalSection({"value_intervals": {**summary, "totals": totals}, "bgbb_totals": grand,
                                        "bgbb_patterns": table},
                                       value_intervals_text(totals, summary), source=data.source,
                                       rows_used=summary["customers"])
        section.tables = tables
        return section
    purchase = fits.purchase_model
    if purchase is None:
        return ValueIntervalSection(**vars(sec.not_computed("no purchase model (BG/NBD or Pareto/NBD) converged")))
    spend = fits.get("Gamma-Gamma")
    work = intervals.draw_work(data.summary, params.parameter_draws, params.bootstrap_resamples)
    if work["cells"] > intervals.MAX_DRAW_CELLS:
        return ValueIntervalSection(**vars(sec.not_computed(
            f"intervals from parameter draws for every customer were not computed: {work['rows']:,} distinct customer "
            f"rows × {work['draws']:,} draws and re-fits are {work['cells']:,} evaluations, above this report's limit "
            f"of {intervals.MAX_DRAW_CELLS:,}. The CLV section gives each customer's and the cohort's delta-method "
            "interval instead; fewer `parameter_draws` or `bootstrap_resamples` bring these intervals back",
            rows_used=len(data.summary))))
    result = intervals.value_intervals(purchase, spend, data.summary, params.clv_horizon_weeks, params.clv_step_weeks,
                                       params.annual_discount_rate, params.margin, conf, params.parameter_draws,
                                       params.bootstrap_resamples, rng)
    summary = result.summary()
    customers = result.customer_table(data.summary.index)
    top = _customer_rows(customers, conf)
    shown_top = top.drop(columns=[c for c in top.columns if c.startswith("purchases ")])
    dec = {c: 3 for c in summary["totals"].columns if c != "quantity"}
    tables = [table_spec(summary["totals"], f"Cohort totals over the horizon with {conf:.0%} parametric and bootstrap "
                         "intervals" + ("" if spend is not None else " (no CLV: Gamma-Gamma did not fit)") + ".",
                         label="tbl-value-intervals", decimals=dec),
              table_spec(shown_top, f"The ten customers with the highest value: P(alive), expected purchases over the "
                         f"horizon{' and CLV' if spend is not None else ''}; P(alive){' and CLV' if spend is not None else ''} "
                         f"with {conf:.0%} parametric (param.) and bootstrap (boot.) intervals (those of the purchases are "
                         "in results.json, value_interval_top_customers).",
                         label="tbl-customer-intervals", decimals={"P(alive)": 3, "purchases": 2, "CLV": 2})]
    widths = {q: float(np.median(customers[f"{q}_parametric_upper"] - customers[f"{q}_parametric_lower"]))
              for q in result.estimate}
    section = ValueIntervalSection({"value_intervals": summary, "value_interval_top_customers": top,
                                    "value_interval_median_width": widths},
                                   value_intervals_text(summary["totals"], summary), source=data.source,
                                   rows_used=len(data.summary), intervals=result)
    section.tables = tables
    return section
