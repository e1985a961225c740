"""Parameters of 00_crm_overview: the four CRM degrees on a survey and a transaction log.

The survey block declares its scales and missing-value codes as in 01_satisfaction_loyalty
(``scale``, ``scales``, ``missing_codes``; blanks are missing). The cut-offs have the same names,
the same measures and the same scale-relative defaults as there (see
`crmresearch.parameters.satisfaction_loyalty`): on a 1-10 scale a respondent is satisfied from
SAT 7, would not choose again at 6 or less, and promoters answer 9-10, detractors 0-6.
"""

from __future__ import annotations

from pydantic import Field, PrivateAttr, model_validator

from .. import config
from . import ReportParameters
from .satisfaction_loyalty import CUTOFFS, _cutoff
from .sources import SurveyCutoffs, SurveySource, TransactionSource, resolve_cutoffs

OVERVIEW_CUTOFFS = {k: CUTOFFS[k] for k in ("satisfied_min", "would_not_choose_again_max", "promoter_min",
                                            "detractor_max")}


class CrmOverviewParameters(SurveyCutoffs, ReportParameters):
    survey: SurveySource = SurveySource(dataset="mobi")
    transactions: TransactionSource = TransactionSource(dataset="cdnow_sample")
    satisfied_min: float | None = _cutoff("SAT from which a respondent counts as satisfied")
    would_not_choose_again_max: float | None = _cutoff(
        "'choose again' answer at or below which a respondent would not choose again")
    promoter_min: float | None = _cutoff("recommendation answer from which a respondent is a promoter")
    detractor_max: float | None = _cutoff("recommendation answer at or below which a respondent is a detractor")
    repeat_window_days: int = Field(365, ge=7, le=3650,
                                    description="window after the first purchase in which a repeat counts")
    top_fraction: float = Field(0.2, gt=0, lt=1, description="top share of customers for concentration")
    confidence: float = Field(config.CONFIDENCE, gt=0.5, lt=1)
    _origins: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve_cutoffs(self):
        self._origins = resolve_cutoffs(self, OVERVIEW_CUTOFFS, self.scale_of)
        if self.promoter_min <= self.detractor_max:
            raise ValueError(f"'promoter_min' above 'detractor_max' (got {self.promoter_min:g} and "
                             f"{self.detractor_max:g})")
        return self
