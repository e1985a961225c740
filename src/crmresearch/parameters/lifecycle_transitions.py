"""Parameters of the lifecycle_transitions notebook (placeholder until the notebook exists)."""

from __future__ import annotations

from . import ReportParameters


class LifecycleParameters(ReportParameters):
    pass
