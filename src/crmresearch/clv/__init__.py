"""Customer lifetime value: Dwyer's tables, RFM summaries, BG/NBD, Pareto/NBD and Gamma-Gamma
on statsmodels, predictions with uncertainty, holdout tracking and value concentration.

The models themselves (BG/NBD, Pareto/NBD, Gamma-Gamma, BG/BB) live in `crmresearch.models`.
Sub-modules: `rfm` (summaries from a transaction log), `predictions` (cohort tracking and
discounted CLV from fitted models), `intervals`, `simulate`, `dwyer`, `value`, `plots`,
`analysis` (the report's section functions). The names most used are re-exported here.
"""

from .dwyer import migration_table, retention_table, retention_uplift
from .predictions import conditional_expectation_by_frequency, customer_lifetime_value
from .rfm import merge_same_day, repeat_transactions_by_period, rfm_summary
from .simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd
from .value import break_even_cost_per_customer, concentration_summary, customer_profit, tier_table, value_quadrant, value_tiers

from ..models import bgnbd, gammagamma, paretonbd

# Published CDNOW estimates the models must reproduce (see tests/test_clv.py).
PUBLISHED_CDNOW = {"BG/NBD": bgnbd.PUBLISHED_CDNOW, "Pareto/NBD": paretonbd.PUBLISHED_CDNOW,
                   "Gamma-Gamma": gammagamma.PUBLISHED_CDNOW}
