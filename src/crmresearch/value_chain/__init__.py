"""From satisfaction to customer value: covariate repeat-buying models, a joint simulation with
known truth, and the value of one more point of satisfaction.

The report is built in three steps: `analyse(params)` (analyse.py: reads the data, fits every
model), the section functions of `sections` (records; nothing fits) and `text` (sentences from
numbers). Other modules: `data` (loading and joining), `design` (the satisfaction design of the
covariate models, whose likelihoods live in `crmresearch.models.covariates`), `simulate` (a panel
of survey + purchases with a known nonlinear satisfaction effect), `marginal` (expected discounted
value per satisfaction level, the marginal value of a point, break-even spend) and `bridge`.
"""

from ..models.covariates import (CovariateFit, fit_bgnbd_covariates, fit_gamma_gamma_covariates, fit_pareto_nbd_covariates,
                                 prob_alive)
from ..models.lr_test import likelihood_ratio_test
from .analyse import Analysis, analyse
from .design import CovariateDesign, natural_spline_basis, satisfaction_design
from .marginal import ValueByLevel, level_values, true_value_by_level, value_by_level
from .simulate import PanelTruth, SimulatedPanel, simulate_panel

__all__ = [
    "Analysis", "CovariateDesign", "CovariateFit", "PanelTruth", "SimulatedPanel", "ValueByLevel",
    "analyse", "fit_bgnbd_covariates", "fit_gamma_gamma_covariates", "fit_pareto_nbd_covariates", "level_values",
    "likelihood_ratio_test", "natural_spline_basis", "prob_alive", "satisfaction_design", "simulate_panel",
    "true_value_by_level", "value_by_level",
]
