"""Satisfaction-loyalty curves and the satisfaction trap (Jones & Sasser 1995; Dick & Basu 1994).

Submodules:

* `simulation`: the documented data-generating process (market competitiveness, switching
  cost, basic vs. potential expectations, response scale with ceiling, defection);
* `segmented`: Muggeo's broken-line regression, its bootstrap, Davies' test;
* `ceiling`: censored (Tobit) and ordered-logit refits, the calibrated flat-zone test;
* `curves`: binned means, linear and spline fits, marginal-effect curves, model choice;
* `topbox`: top-box curves, Jones & Sasser ratio, NPS by band, trap counts;
* `attributes`: penalty-reward analysis and Kano classes;
* `loyalty_types`: Dick & Basu, the apostle map, loyalty sources, switching-cost removal;
* `plots`: figures drawn from the results of the above;
* `analysis`: the survey-level pipeline the notebook calls: data loading, then one function per
  report section returning a `crmresearch.sections.Section` (results, table, computed sentences,
  the source of its numbers and the rows it used).
"""

from .attributes import attribute_response_curves, penalty_reward
from .ceiling import (CensoredRegression, calibrated_flat_zone_test, fit_ceiling_aware, fit_censored_linear,
                      ordered_logit_kink)
from .curves import binned_means, compare_models, fit_linear, fit_spline, satisfaction_bands
from .loyalty_types import (apostle_map, competitiveness_curves, dick_basu, source_positions,
                            switching_cost_removal)
from ..models.segmented import bootstrap_segmented, davies_test, fit_segmented, fit_segmented_many
from .simulation import (LOYALTY_SOURCES, SCENARIOS, MarketScenario, scenario, simulate_linear_ceiling,
                         simulate_loyalty_sources, simulate_market, simulate_segmented)
from .topbox import jones_sasser_ratio, logistic_curve, nps_by_band, proportion_by_level, trap_counts

__all__ = [
    "CensoredRegression", "LOYALTY_SOURCES", "MarketScenario", "SCENARIOS", "apostle_map",
    "attribute_response_curves", "binned_means", "bootstrap_segmented", "calibrated_flat_zone_test",
    "compare_models", "competitiveness_curves", "davies_test", "dick_basu", "fit_ceiling_aware",
    "fit_censored_linear", "fit_linear", "fit_segmented", "fit_segmented_many", "fit_spline",
    "jones_sasser_ratio", "logistic_curve", "nps_by_band", "ordered_logit_kink", "penalty_reward",
    "proportion_by_level", "satisfaction_bands", "scenario", "simulate_linear_ceiling",
    "simulate_loyalty_sources", "simulate_market", "simulate_segmented", "source_positions",
    "switching_cost_removal", "trap_counts",
]
