"""Customer lifetime value: Dwyer's tables, RFM summaries, BG/NBD, Pareto/NBD and Gamma-Gamma
on statsmodels, predictions with uncertainty, holdout tracking and value concentration.

The report is built in three steps, like every report of the package:

    analysis = crm.clv.analyse(params)             # loads the data, fits every model (analyse.py)
    section = crm.clv.sections.models(analysis)    # a Section record; nothing fits (sections.py)
    crm.report.show_section(section)               # sentences come from text.py

The models themselves (BG/NBD, Pareto/NBD, Gamma-Gamma, BG/BB) live in `crmresearch.models`.
Other modules: `data` (loading: the log, its summary, reference values), `fits` (fitting every
model, draws of the estimates), `rfm` (summaries from a transaction log), `predictions` (cohort
tracking, holdout checks and discounted CLV from fitted models), `intervals`, `simulate`,
`dwyer`, `value`, `plots`. The names most used are re-exported here.
"""

from .analyse import ClvAnalysis, analyse
from .data import PUBLISHED_CDNOW
from .dwyer import migration_table, retention_table, retention_uplift
from .predictions import conditional_expectation_by_frequency, customer_lifetime_value
from .rfm import merge_same_day, repeat_transactions_by_period, rfm_summary
from .simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd
from .value import break_even_cost_per_customer, concentration_summary, customer_profit, tier_table, value_quadrant, value_tiers
