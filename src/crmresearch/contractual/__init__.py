"""Contractual retention and discrete-time buying: sBG and BdW retention models, BG/BB, DERL and
residual lifetime value by tier, a retention programme's effect, and intervals (parametric and
customer bootstrap).

The report is built in three steps, like every report of the package:

    analysis = crm.contractual.analyse(params)        # loads the data, fits every model (analyse.py)
    section = crm.contractual.sections.sbg(analysis)   # a Section record; nothing fits (sections.py)
    crm.report.show_section(section)                   # sentences come from text.py

The models (sBG, BdW, BG/BB) live in `crmresearch.models`. Other modules: `data` (loading: the
donations data, published cohorts, users' cohort tables and subscriber logs, the report's
segments), `value` (tiers, programme, intervals), `simulate` (cohorts, telecom tiers, donors with
known truth), `plots`.
"""

from ..models.bgbb import PUBLISHED_DONATIONS
from ..models.retention import PUBLISHED_FADER_HARDIE_2007, derl, derl_sbg, rows_from_durations, rows_from_survivors
from .analyse import ContractualAnalysis, analyse
