"""From validated report parameters to the panels and settings the lifecycle report analyses.

Keeps the notebook free of logic: one call turns a transaction log, a user's stage panel or a
simulated chain into a `LifecycleData` with the stage panel, its structural zeros, the stages
that count as active and lost, per-stage rewards, covariates and (for simulations) the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..stage_rules import StageRules
from .aggregates import StageAggregates, is_aggregated, refinement_map
from .chains import simulate_panel
from .panel import StagePanel
from .stages import assign_stages, finer_rules, stage_revenue, state_map



@dataclass
class LifecycleData:
    kind: str                          # transactions | panel | simulation
    panel: StagePanel | StageAggregates   # the stages the report is about (aggregates with an engine)
    allowed: np.ndarray                # False = structural zero
    absorbing: tuple[int, ...]         # stages that are absorbing in the data
    target: tuple[int, ...]            # stages whose first passage is "churn" / "lost"
    rates_panel: StagePanel | StageAggregates   # the panel the per-period rates are read from
    active: tuple[int, ...]            # in rates_panel codes
    lost: tuple[int, ...]              # in rates_panel codes
    rewards: np.ndarray | None         # per period and stage
    covariates: pd.DataFrame | None    # one row per panel row
    fine: StagePanel | StageAggregates | None = None   # finer state space (transactions)
    fine_allowed: np.ndarray | None = None
    fine_map: np.ndarray | None = None
    fine_target: tuple[int, ...] = ()
    rules: StageRules | None = None
    truth: dict | None = None
    data_file: Path | None = None
    period_name: str = "month"
    engine: str = "pandas"             # what built the stages: pandas, or the engine (duckdb | pyspark)

    @property
    def aggregated(self) -> bool:
        """True when an engine computed the panel's aggregates and no customer-level panel exists."""
        return is_aggregated(self.panel)

    @property
    def data_files(self) -> dict:
        """Input files for the provenance section (none for a simulated panel or a database table;
        every data file of a folder or glob an engine read)."""
        if not self.data_file:
            return {}
        return {"data": Path(self.data_file)}      # a folder or glob gets one checksum over its files

    def codes(self, names, panel: StagePanel | None = None) -> tuple[int, ...]:
        states = (panel or self.panel).states
        return tuple(states.index(n) for n in names)


def stage_rules_from(params) -> StageRules:
    r = params.stage_rules
    return StageRules(tuple(r.recency_bounds_months), tuple(r.recency_labels),
                      tuple(r.purchase_count_bounds) if r.purchase_count_bounds else None,
                      tuple(r.purchase_count_labels) if r.purchase_count_labels else None)


def _stages_with_recency(rules: StageRules, label: str) -> tuple[int, ...]:
    return tuple(i for i, s in enumerate(rules.states) if s.split("/")[0] == label)


def prepare(params, rng: np.random.Generator) -> LifecycleData:
    """Build the report's panels from LifecycleParameters (see crmresearch.parameters)."""
    kind = params.source_kind
    if kind == "transactions" and getattr(params, "engine", None) is not None:
        return _from_engine(params)
    if kind == "transactions":
        return _from_transactions(params)
    if kind == "panel":
        return _from_panel(params)
    return _from_simulation(params, rng)


def _from_transactions(params) -> LifecycleData:
    tx = params.transactions.load()
    rules = stage_rules_from(params)
    end = params.stage_rules.end_month
    panel = assign_stages(tx, rules, end)
    fine_rules = finer_rules(rules)
    fine = assign_stages(tx, fine_rules, end)
    lost_label = rules.recency_labels[-1]
    covariates = pd.DataFrame({
        "log_cumulative_revenue": np.log1p(panel.extra["cum_revenue"]),
        "log_purchases": np.log(panel.extra["cum_purchases"]),
        "tenure_months": panel.extra["tenure"].astype(float),
    })
    return LifecycleData(
        kind="transactions", panel=panel, allowed=rules.allowed_transitions(), absorbing=(),
        target=_stages_with_recency(rules, lost_label), rates_panel=fine,
        active=_stages_with_recency(fine_rules, fine_rules.recency_labels[0]),
        lost=_stages_with_recency(fine_rules, fine_rules.recency_labels[-1]),
        rewards=params.margin * stage_revenue(panel), covariates=covariates,
        fine=fine, fine_allowed=fine_rules.allowed_transitions(), fine_map=state_map(fine, panel),
        fine_target=_stages_with_recency(fine_rules, fine_rules.recency_labels[-1]),
        rules=rules, data_file=params.transactions.file(), period_name="month")


def engine_aggregates(params) -> tuple[StageAggregates, StageAggregates]:
    """The report's and the finer stages' aggregates, computed by the engine of `params.engine`.

    The log is read where it lives (a user's file, folder or glob through `engine.sources.open_log`,
    with its column mapping and date format; a shipped data set is loaded with pandas and
    registered, it is small). One engine pass computes the finer stages' aggregates
    (`engine.summaries.stage_summary`); the report's stages are their sums (`StageAggregates.coarsen`).
    Only monthly counts and revenue by stage come back into memory.
    """
    from ..engine import sources, spark
    from ..engine import summaries as engine_summaries

    rules = stage_rules_from(params)
    fine_rules = finer_rules(rules)
    tx = params.transactions
    con = spark.connect(params.engine)
    try:
        if tx.dataset:
            table = sources.open_frame(con, tx.load())
        else:
            table = sources.open_log(con, sources.LogSource.from_transactions(tx), validate=not sources.checked_by_runner())
        summary = engine_summaries.stage_summary(table, fine_rules, params.stage_rules.end_month)
    finally:
        if params.engine.backend == "duckdb":
            con.disconnect()
    fine = StageAggregates.from_summary(summary)
    return fine.coarsen(refinement_map(fine_rules, rules), rules.states), fine


def _from_engine(params) -> LifecycleData:
    rules = stage_rules_from(params)
    fine_rules = finer_rules(rules)
    panel, fine = engine_aggregates(params)
    lost_label = rules.recency_labels[-1]
    return LifecycleData(
        kind="transactions", panel=panel, allowed=rules.allowed_transitions(), absorbing=(),
        target=_stages_with_recency(rules, lost_label), rates_panel=fine,
        active=_stages_with_recency(fine_rules, fine_rules.recency_labels[0]),
        lost=_stages_with_recency(fine_rules, fine_rules.recency_labels[-1]),
        rewards=params.margin * panel.stage_revenue(), covariates=None,
        fine=fine, fine_allowed=fine_rules.allowed_transitions(), fine_map=refinement_map(fine_rules, rules),
        fine_target=_stages_with_recency(fine_rules, fine_rules.recency_labels[-1]),
        rules=rules, data_file=_log_file(params.transactions), period_name="month", engine=params.engine.backend)


def _log_file(tx) -> Path | None:
    """The file, folder or glob of a log for the provenance (a DuckDB database file for a table;
    nothing for a table of the Spark catalog)."""
    if getattr(tx, "table", None) is not None and getattr(tx, "database", None) is None:
        return None
    return tx.file()


def _from_panel(params) -> LifecycleData:
    src = params.panel
    df = src.load()
    panel = StagePanel.from_frame(df, src.customer_column, src.period_column, src.stage_column, src.states)
    absorbing = tuple(src.states.index(a) for a in src.absorbing)
    target = absorbing or (len(src.states) - 1,)
    active = (tuple(src.states.index(a) for a in src.active_stages) if src.active_stages
              else tuple(i for i in range(len(src.states)) if i not in target))
    return LifecycleData(
        kind="panel", panel=panel, allowed=np.ones((panel.n_states,) * 2, bool), absorbing=absorbing,
        target=target, rates_panel=panel, active=active, lost=target,
        rewards=np.asarray(src.stage_rewards, float) if src.stage_rewards else None, covariates=None,
        data_file=Path(src.path), period_name="period")


def _from_simulation(params, rng: np.random.Generator) -> LifecycleData:
    sim = params.simulation
    P = np.asarray(sim.matrix, float)
    P_x = np.asarray(sim.covariate_matrix, float) if sim.covariate_matrix is not None else None
    absorbing = tuple(sim.states.index(a) for a in sim.absorbing)
    entry = np.arange(sim.n_customers) % sim.entry_periods
    panel = simulate_panel(P, sim.initial, sim.n_customers, sim.n_periods, rng, entry_period=entry,
                           absorbing=absorbing, states=sim.states, covariate_P=P_x,
                           covariate_share=sim.covariate_share if P_x is not None else 0.0)
    allowed = (P > 0) | (P_x > 0 if P_x is not None else False)
    # The pooled truth mixes the two covariate groups in proportion to their customers.
    share = sim.covariate_share if P_x is not None else 0.0
    active_names = [s for s in ("formation", "stability") if s in sim.states]
    active = tuple(sim.states.index(s) for s in active_names) or tuple(
        i for i in range(len(sim.states)) if i not in absorbing)
    return LifecycleData(
        kind="simulation", panel=panel, allowed=allowed, absorbing=absorbing, target=absorbing,
        rates_panel=panel, active=active, lost=absorbing, rewards=np.asarray(sim.stage_rewards, float),
        covariates=pd.DataFrame({"x": panel.extra["x"].astype(float)}) if P_x is not None else None,
        truth={"P": P, "P_x": P_x, "covariate_share": share, "initial": np.asarray(sim.initial, float)},
        period_name="period")
