"""Loading the CLV report's data: a transaction log (shipped, the user's, read in place by an engine, or
simulated with known parameters), its calibration/holdout summary and the reference values, or a
discrete-time summary. `prepare(params, rng)` returns a `ClvData`; `clv.analyse` fits and computes
everything else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

from pathlib import Path

import numpy as np
import pandas as pd

from .. import windows
from ..datasets import day_number
from ..windows import Windows
from ..models import bgnbd, gammagamma, paretonbd
from . import dwyer, intervals, rfm, simulate

# Published CDNOW estimates the models must reproduce (see tests/test_clv.py).
PUBLISHED_CDNOW = {"BG/NBD": bgnbd.PUBLISHED_CDNOW, "Pareto/NBD": paretonbd.PUBLISHED_CDNOW,
                   "Gamma-Gamma": gammagamma.PUBLISHED_CDNOW}
# Fader, Hardie & Lee's CDNOW set-up: the sample, calibration to 1997-09-30, holdout to 1998-06-30.
CDNOW_PUBLISHED_SETUP = {"dataset": "cdnow_sample", "calibration_end": date(1997, 9, 30)}
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value", "frequency_holdout", "monetary_holdout",
                   "duration_holdout")


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
    windows: Windows | None = None            # the dates and where they came from (`crmresearch.windows`)
    aggregated: object = None                 # `clv.at_scale.ScaleData`: `summary` holds collapsed rows
    dwyer_log: pd.DataFrame | None = None     # read in place: the purchases of Dwyer's cohort (first-period buyers)

    @property
    def cohort_customers(self) -> int:
        """Customers in the calibration cohort (rows of `summary`, or their counts when collapsed)."""
        if self.aggregated is not None:
            return int(self.summary["customers"].sum())
        return int(len(self.summary))

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
        return (f"the data are a discrete-time summary ({self.discrete_settings['name']}), not a dated "
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


def load_log(params, rng: np.random.Generator, log: pd.DataFrame | None = None):
    """The transaction log of the report (`log` when already read) and, when known, the reference
    parameter values.

    Returns (log, reference, reference_label): published values for the CDNOW sample with the
    published calibration period, the true values for a simulated log, else None.
    """
    if params.simulate is not None:
        sim = params.simulate
        theta_bg = tuple(sim.bgnbd[k] for k in ("r", "alpha", "a", "b"))
        theta_gg = tuple(sim.gamma_gamma[k] for k in ("p", "q", "gamma"))
        log = simulate.simulate_transaction_log(theta_bg, theta_gg, sim.customers, params.cohort_start,
                                                sim.acquisition_days, params.holdout_end, rng)
        return log, {"BG/NBD": dict(sim.bgnbd), "Gamma-Gamma": dict(sim.gamma_gamma)}, "true"
    log = params.transactions.load() if log is None else log
    if (params.transactions.dataset == CDNOW_PUBLISHED_SETUP["dataset"]
            and params.calibration_end == CDNOW_PUBLISHED_SETUP["calibration_end"]):
        return log, PUBLISHED_CDNOW, "published"
    return log, None, None


def with_windows(params, log: pd.DataFrame | None = None):
    """`params` with its windows completed (`crmresearch.windows.resolve`) and the `Windows` record."""
    simulated = params.simulate is not None or params.discrete is not None
    dataset = None if simulated else params.transactions.dataset
    first = last = None
    if log is not None and len(log):
        first, last = log["date"].min(), log["date"].max()
    resolved = windows.resolve(params, first, last, dataset=dataset, simulated=simulated)
    return windows.apply(params, resolved), resolved


def prepare(params, rng: np.random.Generator) -> ClvData:
    """The log, its calibration/holdout summary and the reference values of a run (or, for a
    `discrete` source, the discrete-time summary with an empty log). Windows the parameter file
    leaves out are completed first (`with_windows`), from the user's own log when there is one."""
    if params.discrete is not None:
        from ..models.bgbb import PUBLISHED_DONATIONS

        params, resolved = with_windows(params)         # no dates in a discrete-time summary: a placeholder
        empty_log = pd.DataFrame({"customer_id": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]"),
                                  "amount": pd.Series(dtype=float)})
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in SUMMARY_COLUMNS})
        published = params.discrete.published
        return ClvData(empty_log, empty, {"BG/BB": PUBLISHED_DONATIONS} if published else None,
                       "published" if published else None, "data", params.cohort_start,
                       params.calibration_end, params.holdout_end, params.discrete.load(),
                       {**params.discrete.model_dump(), "name": params.discrete.dataset or Path(params.discrete.path).name})
    users_log = params.simulate is None and params.transactions.dataset is None
    if params.engine is not None and users_log:
        params, resolved = with_windows(params)         # the schema requires all three for a log read in place
        return dataclasses.replace(read_in_place(params), windows=resolved)
    own = params.transactions.load() if users_log else None
    params, resolved = with_windows(params, own)
    log, reference, label = load_log(params, rng, own)
    counts, engine = None, "pandas"
    if params.engine is None:
        summary = rfm.rfm_summary(log, params.calibration_end, params.holdout_end)
    else:
        summary, counts = engine_summaries(log, params)
        engine = params.engine.backend
    return ClvData(log, summary, reference, label, "simulated" if params.simulate is not None else "data",
                   params.cohort_start, params.calibration_end, params.holdout_end,
                   tracking_counts=counts, engine=engine, windows=resolved)


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

    from .. import config
    from ..engine import aggregates as A
    from . import at_scale

    con = spark.connect(params.engine)
    keep_open = False
    try:
        table = sources.open_log(con, sources.LogSource.from_transactions(params.transactions), name="crm_clv_log",
                                 validate=not sources.checked_by_runner())
        # The customers are cut into ranges of their ids that each fit the memory limit; each range's
        # customer-days are grouped once, its RFM rows (with the customers who first bought after the
        # calibration end, for the log's customer count) computed from them and kept, and its weekly
        # counts come from both, joining only the days after the calibration end (`engine.rfm.rfm_and_tracking`).
        customers, counts = S.rfm_and_tracking(table, params.calibration_end, params.holdout_end,
                                               params.cohort_start, name="crm_clv_rfm")
        rfm_table = S.cohort(customers, params.calibration_end)
        size = S.log_size(table, customers=customers)
        totals = A.cohort_totals(rfm_table)
        if totals["customers"] > config.CLV_AGGREGATE_CUSTOMERS:
            # A large cohort: the kernel holds aggregates only (`clv.at_scale`); the engine stays open.
            chosen = A.choose_customers(rfm_table)
            history_log = S.customer_log(table, chosen)
            chosen_rows = S.customer_rfm(rfm_table.filter(rfm_table.customer_id.isin([str(c) for c in chosen]))
                                         ) if chosen else None
            scale = at_scale.ScaleData(con, rfm_table, totals, A.spend_rows(rfm_table),
                                       A.holdout_spend_by_frequency(rfm_table), chosen_rows,
                                       S.scratch_folder(con), chosen_ids=list(chosen), settings=params.engine,
                                       rfm_path=S.kept_file(con, "crm_clv_rfm"),
                                       calibration_end=params.calibration_end)
            rows = A.unique_rows(rfm_table)
            keep_open = True
            scale.release()
            return ClvData(history_log, rows, None, None, "data", params.cohort_start, params.calibration_end,
                           params.holdout_end, tracking_counts=counts, engine=params.engine.backend,
                           log_rows=size["rows"], log_customers=size["customers"], in_place=True, aggregated=scale)
        summary = S.customer_rfm(rfm_table)
        history_log = S.customer_log(table, intervals.choose_customers(summary))
        # Dwyer's table follows the customers acquired in the first period: only their purchases leave the engine.
        dwyer_log = S.customer_log(table, S.first_bought_between(customers, params.cohort_start,
                                                                 dwyer.period_days(params.cohort_start, params.holdout_end)))
    finally:
        if con.name == "duckdb" and not keep_open:
            con.disconnect()
    return ClvData(history_log, summary, None, None, "data", params.cohort_start, params.calibration_end,
                   params.holdout_end, tracking_counts=counts, engine=params.engine.backend,
                   log_rows=size["rows"], log_customers=size["customers"], in_place=True, dwyer_log=dwyer_log)


def data_files(params) -> dict:
    if params.discrete is not None:
        return {params.discrete.dataset or "discrete": params.discrete.file()}
    if params.simulate is not None or (params.transactions.in_place and params.transactions.path is None):
        return {}
    return {"transactions": params.transactions.file()}
