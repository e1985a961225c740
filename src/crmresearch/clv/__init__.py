"""Customer lifetime value: Dwyer's tables, RFM summaries, BG/NBD, Pareto/NBD and Gamma-Gamma
on statsmodels, predictions with uncertainty, holdout tracking and value concentration.

Sub-modules: `rfm` (summaries from a transaction log), `models` (likelihoods and fits),
`predictions`, `simulate`, `dwyer`, `value`, `plots`, `analysis` (the report's section functions).
The names most used are re-exported here.
"""

from .dwyer import migration_table, retention_table, retention_uplift
from .models import (BetaGeometricNbd, ClvConvergenceError, FailedFit, FittedModel, GammaGamma, ParetoNbd, fit_bgnbd,
                     fit_gamma_gamma, fit_pareto_nbd, try_fit)
from .predictions import (conditional_expectation_by_frequency, customer_lifetime_value, expected_cumulative_repeat,
                          gamma_gamma_expected_spend, prob_alive)
from .rfm import merge_same_day, repeat_transactions_by_period, rfm_summary
from .simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd
from .value import break_even_cost_per_customer, concentration_summary, customer_profit, tier_table, value_quadrant, value_tiers

# Published CDNOW estimates the models must reproduce (see tests/test_clv.py).
PUBLISHED_CDNOW = {
    "BG/NBD": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "loglike": -9582.4,
               "source": "Fader, Hardie & Lee (2005), Marketing Science 24(2), p. 280"},
    "Pareto/NBD": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669, "loglike": -9595.0,
                   "source": "Fader, Hardie & Lee (2005), Marketing Science 24(2), p. 280"},
    "Gamma-Gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44, "customers": 946,
                    "source": "Fader, Hardie & Lee (2005), J. Marketing Research 42(4)"},
}
