"""The four CRM degrees: satisfaction, loyalty, recommendation, behaviour (the overview report).

The report is built in three steps: `analyse(params)` (analyse.py: loads the survey and the log and
computes every number), the section functions of `sections` (records) and `text` (sentences from
numbers); `plots` draws the figures from the analysis.
"""

from .analyse import OverviewAnalysis, analyse

__all__ = ["OverviewAnalysis", "analyse"]
