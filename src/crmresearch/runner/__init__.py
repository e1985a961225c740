"""Validate parameter files, execute notebooks with papermill, keep the last good report.

Each report is executed in `<reports>/_tmp/` (where no glob of published reports looks) and
moved into place only when every cell ran; a failure leaves the last good report untouched, keeps
the executed notebook in `<reports>/_failed/<topic>/<variant>/` until a run of that report succeeds,
and records the failure in `<reports>/_state/` (written atomically). A run is skipped when its
fingerprint (notebook, parameter file, package source, input data) matches the last successful run
and its results.json exists.

Every report runs in its own worker process that owns its kernel. SIGINT/SIGTERM to the command
stops workers and kernels; a worker whose parent dies (even by `kill -9`) sees its control pipe
close and stops too. A stopped report is neither swapped in nor recorded as failed. A lock per
report (`<reports>/_state/<topic>/<variant>.lock`) refuses a second run of the same report, and
leftovers of a killed run are removed when the next run of that report starts.

Modules, each using only those named before it: `validate` (parameter files, the pre-flight data and environment
checks), `state` (fingerprints, freshness, state files), `lock` (the lock per report, leftovers),
`execute` (one report with papermill, failed reports), `worker` (the worker process and its
kernel), `schedule` (`run_reports`: workers `jobs` at a time, signals). The entry points the
command line uses are imported here.
"""

from __future__ import annotations

from .schedule import RunInterrupted, run_reports
from .state import freshness, read_state, report_owner_conflicts
from .validate import check_data_files, check_environment, parameters_cell_names, validate_files

__all__ = ["RunInterrupted", "check_data_files", "check_environment", "freshness", "parameters_cell_names",
           "read_state", "report_owner_conflicts", "run_reports", "validate_files"]
