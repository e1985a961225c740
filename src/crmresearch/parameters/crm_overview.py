"""Parameters of 00_crm_overview: the four CRM degrees on a survey and a transaction log."""

from __future__ import annotations

from pydantic import Field

from . import ReportParameters
from .sources import SurveySource, TransactionSource


class CrmOverviewParameters(ReportParameters):
    survey: SurveySource = SurveySource(dataset="mobi")
    transactions: TransactionSource = TransactionSource(dataset="cdnow_sample")
    satisfied_threshold: float = Field(
        8, description="satisfaction score (scale units) from which a respondent counts as satisfied")
    would_not_choose_again_max: float = Field(
        6, description="repurchase-intention score at or below which a respondent would not choose again")
    repeat_window_days: int = Field(365, ge=7, le=3650,
                                    description="window after the first purchase in which a repeat counts")
    top_fraction: float = Field(0.2, gt=0, lt=1, description="top share of customers for concentration")
    confidence: float = Field(0.95, gt=0.5, lt=1)
