"""Satisfaction-loyalty curves and the satisfaction trap (Jones & Sasser 1995; Dick & Basu 1994).

The report is built in three steps: `analyse(params)` (analyse.py: loads the data through `data`,
fits every model), the section functions of `sections` (records; nothing fits) and `text`
(sentences from numbers); `plots` draws the figures. The estimators: `simulation` (the documented
data-generating process), `ceiling` (censored and ordered-logit refits, the calibrated flat-zone
test; the broken line and Davies' test are in `crmresearch.models.segmented`), `curves` (binned
means, linear and spline fits, model choice), `topbox` (top-box curves, Jones-Sasser ratio, NPS
by band, trap counts), `attributes` (penalty-reward, Kano) and `loyalty_types` (Dick & Basu,
apostle map, loyalty sources, switching cost).
"""

from .attributes import attribute_response_curves, penalty_reward
from .ceiling import (CeilingModel, CensoredRegression, calibrated_flat_zone_test, fit_ceiling_aware, fit_censored_linear,
                      ordered_logit_kink)
from .curves import binned_means, compare_models, fit_linear, fit_spline, satisfaction_bands
from .loyalty_types import (apostle_map, competitiveness_curves, dick_basu, source_positions,
                            switching_cost_removal)
from ..models.segmented import bootstrap_segmented, davies_test, fit_segmented, fit_segmented_many
from .simulation import (LOYALTY_SOURCES, SCENARIOS, MarketScenario, scenario, simulate_linear_ceiling,
                         simulate_loyalty_sources, simulate_market, simulate_segmented)
from .topbox import jones_sasser_ratio, logistic_curve, nps_by_band, proportion_by_level, trap_counts
from .analyse import SatisfactionAnalysis, analyse

__all__ = [
    "CeilingModel", "CensoredRegression", "LOYALTY_SOURCES", "MarketScenario", "SCENARIOS", "SatisfactionAnalysis", "analyse",
    "apostle_map", "attribute_response_curves", "binned_means", "bootstrap_segmented", "calibrated_flat_zone_test",
    "compare_models", "competitiveness_curves", "davies_test", "dick_basu", "fit_ceiling_aware",
    "fit_censored_linear", "fit_linear", "fit_segmented", "fit_segmented_many", "fit_spline",
    "jones_sasser_ratio", "logistic_curve", "nps_by_band", "ordered_logit_kink", "penalty_reward",
    "proportion_by_level", "satisfaction_bands", "scenario", "simulate_linear_ceiling",
    "simulate_loyalty_sources", "simulate_market", "simulate_segmented", "source_positions",
    "switching_cost_removal", "trap_counts",
]
