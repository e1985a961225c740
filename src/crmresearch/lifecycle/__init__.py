"""Lifecycle stages and their transitions (Dwyer, Schurr & Oh 1987; Pfeifer & Carraway 2000).

panel        stage panels and vectorized, order-independent transition counting
aggregates   the stage panel as an engine's aggregates (counts by month and stage, no customer rows)
estimation   ML transition matrix, Wilson and customer-cluster bootstrap intervals
stages       stages from a transaction log by recency-group and purchase-count rules
inference    Anderson-Goodman homogeneity and order tests, sojourn times, per-period rates
chains       absorption (fundamental matrix), stationary mix, forecasts, Pfeifer-Carraway
             value (`markov_chain_value`), the four relationship patterns, simulation
forecasting  forecasts with bootstrap bands and the holdout backtest
covariates   multinomial logit per origin stage with customer-clustered errors
workflow     report parameters -> panels (loading); plots: the report's figures
analyse      `analyse(params)`: every estimate, test and forecast of the report, computed once
sections     the report's sections from the analysis (nothing estimates); text: sentences from numbers
"""
from .aggregates import StageAggregates, is_aggregated, refinement_map  # noqa: F401
from .panel import (PanelError, StagePanel, count_transitions, customer_transition_counts,  # noqa: F401
                    period_codes_from, transition_counts)
from .estimation import (TransitionMatrix, TransitionMatrixModel, bootstrap_count_tables, entry_distribution,  # noqa: F401
                         estimate_transition_matrix, ml_probabilities)
from .stages import (StageRules, assign_stages, finer_rules, monthly_activity, stage_revenue,  # noqa: F401
                     state_map)
from .chains import (PATTERNS, AbsorptionAnalysis, PatternChain, absorption_analysis,  # noqa: F401
                     first_passage_curve, forecast_distribution, markov_chain_value, quasi_stationary_distribution,
                     relationship_pattern_chain, simulate_absorption, simulate_panel, stationary_distribution)
from .inference import (LikelihoodRatioTest, empirical_first_passage, homogeneity_test, joint_cell_chi_square, order_test,  # noqa: F401
                        period_rates, sojourn_survival, split_periods)
from .forecasting import backtest, bootstrap_matrices, forecast_with_bands, transitions_by_period  # noqa: F401
from .covariates import mnlogit_by_origin, origin_rows  # noqa: F401
from .workflow import LifecycleData, engine_aggregates, prepare, stage_rules_from  # noqa: F401
from .summaries import (batched_expected_time, pattern_probabilities, pooled_truth, stage_summary,  # noqa: F401
                        time_to_target_table, truth_comparison)
from . import plots, sections, text  # noqa: F401
from .analyse import LifecycleAnalysis, analyse  # noqa: F401
