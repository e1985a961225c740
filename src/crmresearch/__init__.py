"""crmresearch: statistics and reporting helpers for customer-relationship research notebooks.

Importing the package is cheap on purpose (the command line imports it to validate parameter
files before any kernel starts); the statistical modules are imported on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crmresearch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

_LAZY_SUBMODULES = {
    "config", "stats", "datasets", "parameters", "report", "satisfaction", "lifecycle", "clv",
    "overview", "runner", "publish", "sections", "value_chain", "contractual", "models",
    "relationship_states",
}
# The models a researcher fits in a notebook: crm.BetaGeoNBD().fit(rfm).summary()
_MODELS = {"BetaGeoNBD", "ParetoNBD", "GammaGamma", "ShiftedBetaGeometric", "BetaDiscreteWeibull",
           "BetaGeoBetaBinomial", "SegmentedRegression", "PLSPathModel", "HiddenMarkovModel"}
# models whose estimators work on a topic's data (a stage panel; a survey scale)
_TOPIC_MODELS = {"TransitionMatrixModel": "lifecycle", "CeilingModel": "satisfaction"}


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _TOPIC_MODELS:
        return getattr(importlib.import_module(f"{__name__}.{_TOPIC_MODELS[name]}"), name)
    if name in _MODELS:
        return getattr(importlib.import_module(f"{__name__}.models"), name)
    if name == "rfm_summary":
        return importlib.import_module(f"{__name__}.clv.rfm").rfm_summary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY_SUBMODULES, *_MODELS, *_TOPIC_MODELS, "rfm_summary"])


__all__ = ["__version__", "rfm_summary", *sorted(_LAZY_SUBMODULES), *sorted(_MODELS), *sorted(_TOPIC_MODELS)]
