"""Every estimate, test and forecast of the lifecycle report, in one call: `analyse(params)`.

The data (a transaction log turned into monthly stages, a user's stage panel or a simulated chain)
come through `lifecycle.workflow.prepare`; the estimators are those of `estimation`, `inference`,
`covariates`, `forecasting`, `chains` and `summaries`. The result is one `LifecycleAnalysis`, which
`lifecycle.sections` turns into the report's sections (nothing there estimates anything) with the
sentences of `lifecycle.text`. All random draws come from one generator seeded by `params.seed`.

With an `engine:` block the data's panel is a `StageAggregates` (counts by month and stage, no
customer rows): what follows from counts equals the in-memory panel's numbers; what needs each
customer's own history (the first entry cohort, the order test, sojourn times, the backtest, the
covariate model, the customer-cluster bootstrap) is left as None, and its section says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .chains import (absorption_analysis, first_passage_curve, markov_chain_value, quasi_stationary_distribution,
                     stationary_distribution)
from .covariates import mnlogit_by_origin
from .estimation import TransitionMatrix, entry_distribution, estimate_transition_matrix
from .forecasting import backtest, forecast_with_bands
from .inference import (LikelihoodRatioTest, empirical_first_passage, homogeneity_test, joint_cell_chi_square,
                        order_test, period_rates, sojourn_survival, split_periods)
from .panel import StagePanel
from .plots import cohort_flows
from .summaries import pattern_probabilities, pooled_truth, time_to_target_table, truth_comparison
from .workflow import LifecycleData, prepare

RELATIONSHIP_STAGES = ("prospect", "formation", "stability", "decline", "churn")


def has_relationship_stages(data: LifecycleData) -> bool:
    return data.kind != "transactions" and set(RELATIONSHIP_STAGES) <= set(data.panel.states)


def estimate_matrix(data: LifecycleData, params, rng: np.random.Generator) -> tuple[TransitionMatrix, str | None]:
    """The migration matrix with Wilson and customer-cluster bootstrap intervals; if the bootstrap fails,
    the matrix with its Wilson intervals and what failed."""
    args = dict(allowed=data.allowed, absorbing=data.absorbing, confidence=params.confidence)
    resamples = 0 if data.aggregated else params.bootstrap_resamples
    try:
        return estimate_transition_matrix(data.panel, **args, n_boot=resamples, rng=rng), None
    except (ValueError, np.linalg.LinAlgError, FloatingPointError, MemoryError) as exc:
        if params.bootstrap_resamples == 0:
            raise
        failure = f"the customer-cluster bootstrap ({params.bootstrap_resamples} resamples) failed ({exc})"
        return estimate_transition_matrix(data.panel, **args, n_boot=0), failure


def entry_cohort_flows(panel: StagePanel, max_steps: int, absorbing=()) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy (steps+1 × S) and flows (steps × S × S) of the customers who entered in the first entry
    period (a closed cohort)."""
    cohort = np.zeros(panel.n_customers, bool)
    entry_customers, entry_periods, _ = panel.entries()
    cohort[entry_customers[entry_periods == entry_periods.min()]] = True
    steps = min(max_steps, panel.n_periods - 1 - int(entry_periods.min()))
    return cohort_flows(panel, cohort, steps, absorbing)


@dataclass
class Backtests:
    origin: int
    runs: dict                          # model name -> per-horizon frame of `backtest`


def backtests(data: LifecycleData, params) -> Backtests:
    """Holdout backtest of the stage chain (and, for a transaction log, the finer chain) from one origin."""
    panel = data.panel
    origin = params.backtest_origin if params.backtest_origin is not None else panel.n_periods // 2
    origin = min(origin, panel.n_periods - 2)
    runs = {"stage chain": backtest(panel, origin, params.forecast_horizon, data.allowed, absorbing=data.absorbing)}
    if data.kind == "transactions" and params.compare_finer_states:
        runs["finer chain"] = backtest(data.fine, origin, params.forecast_horizon, data.fine_allowed,
                                       eval_map=data.fine_map, n_eval_states=panel.n_states)
    return Backtests(origin, runs)


@dataclass
class TimeToTarget:
    entry_mix: np.ndarray
    table: pd.DataFrame                 # expected time (and SD) to the target stages by current stage
    summary: dict                       # mean, sd, lower, upper from the entry mix
    curves: dict                        # chain name -> implied first-passage curve
    finer: dict | None = None           # the finer chain's mean and sd (transactions)
    observed: pd.DataFrame | None = None   # empirical first passage (Kaplan-Meier); None with an engine
    max_gap: dict | None = None         # chain name -> largest gap between the curve and the observed share


def time_to_target(matrix: TransitionMatrix, data: LifecycleData, params) -> TimeToTarget:
    """Expected time to the lost (churned) stages, the finer chain's answer, and the first-passage check."""
    panel = data.panel
    entry_mix = entry_distribution(panel)
    table, summary = time_to_target_table(matrix, data.target, entry_mix)
    horizon = panel.n_periods - 1
    curves = {"stage chain": first_passage_curve(np.nan_to_num(matrix.probabilities), entry_mix, data.target, horizon)}
    out = TimeToTarget(entry_mix, table, summary, curves)
    if data.kind == "transactions" and params.compare_finer_states:
        fine_P = np.nan_to_num(estimate_transition_matrix(data.fine, allowed=data.fine_allowed).probabilities)
        fine_entry = entry_distribution(data.fine)
        out.finer = absorption_analysis(fine_P, data.fine_target).from_distribution(fine_entry)
        curves["finer chain"] = first_passage_curve(fine_P, fine_entry, data.fine_target, horizon)
    if not data.aggregated:
        out.observed = empirical_first_passage(panel, data.target, horizon)
        out.max_gap = {name: float(np.max(np.abs(curve - out.observed["reached"].to_numpy())))
                       for name, curve in curves.items()}
    return out


def long_run(P, data: LifecycleData) -> tuple[np.ndarray, str]:
    """The long-run stage mix (quasi-stationary when churn is final) and its name."""
    if data.absorbing:
        return quasi_stationary_distribution(P, data.absorbing), "quasi-stationary mix (customers not yet churned)"
    return stationary_distribution(P), "stationary mix"


@dataclass
class CovariateEffects:
    effects: pd.DataFrame | None        # non-constant terms, one row per origin, destination and term
    error: str | None = None            # what failed (the multinomial logit)


def covariate_effects(data: LifecycleData) -> CovariateEffects:
    """Multinomial-logit covariate effects per origin stage, or what failed."""
    try:
        effects = mnlogit_by_origin(data.panel, data.covariates)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError, KeyError) as exc:
        return CovariateEffects(None, str(exc))
    if effects.empty or not (effects["term"] != "const").any():
        return CovariateEffects(None)
    return CovariateEffects(effects[effects["term"] != "const"].reset_index(drop=True))


@dataclass
class StageValues:
    values: np.ndarray                  # over the value horizon, by current stage
    infinite: np.ndarray                # if the chain ran for ever


def stage_values(P, data: LifecycleData, params) -> StageValues:
    """Pfeifer-Carraway value of a customer by current stage."""
    rewards = np.nan_to_num(data.rewards)
    return StageValues(markov_chain_value(P, rewards, params.discount_rate, params.value_horizon - 1),
                       markov_chain_value(P, rewards, params.discount_rate))


@dataclass
class LifecycleAnalysis:
    """Everything the lifecycle report shows, computed once. Fields a run cannot compute are None."""

    params: object
    data: LifecycleData
    matrix: TransitionMatrix
    matrix_failure: str | None          # what failed in the bootstrap (the matrix keeps its Wilson intervals)
    P: np.ndarray                       # the estimate with unestimable rows (never left) set to 0
    cohort: tuple | None                # (occupancy, flows) of the first entry cohort
    rates: pd.DataFrame                 # retention, reactivation and churn per period
    homogeneity: LikelihoodRatioTest
    joint_cell: dict
    order: LikelihoodRatioTest | None
    order_finer: LikelihoodRatioTest | None
    sojourn: pd.DataFrame | None
    backtests: Backtests | None
    time_to_target: TimeToTarget
    long_run: np.ndarray
    long_run_name: str
    patterns: pd.DataFrame | None
    forecast: pd.DataFrame | None
    covariates: CovariateEffects | None
    stage_values: StageValues | None
    truth_check: pd.DataFrame | None

    @property
    def simulated(self) -> bool:
        return self.data.kind == "simulation"


def analyse(params) -> LifecycleAnalysis:
    """Prepare the stage panel and compute every section's numbers. The data's and the matrix's time go
    to the profile file when one is named (`engine.progress.profiled`)."""
    from ..engine.progress import profiled

    rng = np.random.default_rng(params.seed)
    with profiled("data"):
        data = prepare(params, rng)
    panel, customer_level = data.panel, not data.aggregated
    with profiled("transition matrix"):
        matrix, failure = estimate_matrix(data, params, rng)
    P = np.nan_to_num(matrix.probabilities)
    groups = split_periods(panel, params.homogeneity_groups)
    order = order_test(panel) if customer_level else None
    finer = (order_test(data.fine) if customer_level and data.kind == "transactions" and params.compare_finer_states
             else None)
    time = time_to_target(matrix, data, params)
    mix, mix_name = long_run(P, data)
    patterns = None
    if has_relationship_stages(data):
        stable = params.simulation.stable_periods_for_long_lasting if params.simulation else 6
        truth = data.truth["P"] if data.truth and data.truth["P_x"] is None else None
        patterns = pattern_probabilities(matrix, stable, truth)
    forecast = None
    if matrix.boot_samples is not None:
        last = panel.occupancy()[-1]
        forecast = forecast_with_bands(last / last.sum(), matrix, params.forecast_horizon)
    covariates = (covariate_effects(data) if params.covariate_model and customer_level and data.covariates is not None
                  else None)
    return LifecycleAnalysis(
        params, data, matrix, failure, P,
        entry_cohort_flows(panel, params.cohort_steps, data.absorbing) if customer_level else None,
        period_rates(data.rates_panel, data.active, data.lost, params.confidence),
        homogeneity_test(panel, groups), joint_cell_chi_square(panel, groups), order, finer,
        sojourn_survival(panel, P, params.sojourn_max) if customer_level else None,
        backtests(data, params) if customer_level else None,
        time, mix, mix_name, patterns, forecast, covariates,
        stage_values(P, data, params) if data.rewards is not None else None,
        truth_comparison(matrix, pooled_truth(data.truth, panel)) if data.truth is not None else None)
