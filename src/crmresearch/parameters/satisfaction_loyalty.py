"""Parameters of the satisfaction_loyalty notebook (placeholder until the notebook exists)."""

from __future__ import annotations

from . import ReportParameters


class SatisfactionLoyaltyParameters(ReportParameters):
    pass
