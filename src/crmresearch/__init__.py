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
    "overview", "runner", "publish", "sections", "value_chain", "contractual",
}


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", *sorted(_LAZY_SUBMODULES)]
