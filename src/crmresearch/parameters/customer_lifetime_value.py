"""Parameters of the customer_lifetime_value notebook (placeholder until the notebook exists)."""

from __future__ import annotations

from . import ReportParameters


class ClvParameters(ReportParameters):
    pass
