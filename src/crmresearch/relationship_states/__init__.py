"""Relationship states a firm never sees: a hidden Markov model of customer relationships (Netzer,
Lattin & Srinivasan 2008) fitted to a monthly panel of purchases and spend (CDNOW), a user's panel of
any responses and covariates, or a simulated panel with known truth.

The report is built in three steps, like every report of the package:

    analysis = crm.relationship_states.analyse(params)          # loads the data, fits every model
    section = crm.relationship_states.sections.selection(analysis)   # a Section record; nothing fits
    crm.report.show_section(section)                             # sentences come from text.py

The model lives in `crmresearch.models.hmm`. Other modules: `data` (the panel from a transaction log
or a user's file, validated), `simulate` (the panel with known truth), `plots`.
"""

from .analyse import RelationshipAnalysis, analyse
