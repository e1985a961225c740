"""From satisfaction to customer value: covariate repeat-buying models, a joint simulation with
known truth, and the value of one more point of satisfaction.

Sub-modules: `covariates` (BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant covariates,
by maximum likelihood on statsmodels, and the satisfaction design), `simulate` (a panel of
survey + purchases with a known nonlinear satisfaction effect) and `marginal` (expected
discounted value per satisfaction level, the marginal value of a point, break-even spend).
"""

from .covariates import (CovariateDesign, CovariateFit, fit_bgnbd_covariates, fit_gamma_gamma_covariates,
                         fit_pareto_nbd_covariates, likelihood_ratio_test, natural_spline_basis, prob_alive,
                         satisfaction_design)
from .marginal import ValueByLevel, level_values, true_value_by_level, value_by_level
from .simulate import PanelTruth, SimulatedPanel, simulate_panel

__all__ = [
    "CovariateDesign", "CovariateFit", "PanelTruth", "SimulatedPanel", "ValueByLevel",
    "fit_bgnbd_covariates", "fit_gamma_gamma_covariates", "fit_pareto_nbd_covariates", "level_values",
    "likelihood_ratio_test", "natural_spline_basis", "prob_alive", "satisfaction_design", "simulate_panel",
    "true_value_by_level", "value_by_level",
]
