"""Contractual retention and discrete-time buying: sBG and BdW retention models, BG/BB, DERL and
residual lifetime value by tier, a retention programme's effect, and intervals (parametric and
customer bootstrap).

Sub-modules: `models` (sBG, BdW, duration rows, LR test), `bgbb` (BG/BB), `value` (DERL, tiers,
programme, intervals), `simulate` (cohorts, telecom tiers, donors with known truth), `data`
(donations, published cohorts, users' cohort tables and subscriber logs), `sections` (the
report's section and text functions), `plots`.
"""

from .bgbb import PUBLISHED_DONATIONS, BetaGeometricBetaBinomial, fit_bgbb
from .models import (PUBLISHED_FADER_HARDIE_2007, BetaDiscreteWeibull, ShiftedBetaGeometric, fit_bdw, fit_sbg, lr_test,
                     rows_from_durations, rows_from_survivors)
from .value import derl, derl_sbg
