"""Run state and freshness of each report: fingerprints, state files, failed notebooks, owners.

A run's state is kept in `<reports>/_state/<topic>/<variant>.json` (written atomically). A report
is fresh when its fingerprint (notebook, parameter file, package source, input data) matches the
last successful run and its results.json exists; `crmresearch list` shows this.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from .. import config
from ..parameters import ParameterFile, ParameterFileError


def _hash_files(h, files) -> None:
    from ..datasets import sha256_file

    for f in files:      # streamed in blocks: a large data file is never held in memory
        h.update(str(Path(f).name).encode())
        h.update(sha256_file(f).encode())


def source_files() -> list[Path]:
    return sorted(p for p in config.PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def data_files(pf: ParameterFile) -> list[Path]:
    """Input files named by the parameters (every data source, nested blocks included)."""
    from ..checks import data_sources

    return [Path(source.file()) for _, source in data_sources(pf.validated)
            if source.file() is not None and (source.file().exists() or "*" in str(source.file()))]


def input_digests(pf: ParameterFile) -> dict:
    """sha256 of the parameter file and every data file, by path (what the report's provenance records)."""
    from ..datasets import sha256_file

    return {str(f): sha256_file(f) for f in [pf.path, *data_files(pf)]}


def fingerprint(pf: ParameterFile) -> str:
    h = hashlib.sha256()
    _hash_files(h, [pf.notebook_path, pf.path, *source_files(), *data_files(pf)])
    return h.hexdigest()


def state_path(reports_dir: Path, pf: ParameterFile) -> Path:
    return reports_dir / "_state" / pf.topic / f"{pf.variant}.json"


def read_state(reports_dir: Path, pf: ParameterFile) -> dict:
    """The last run's state; a missing, torn or foreign state file counts as no state."""
    p = state_path(reports_dir, pf)
    try:
        state = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path` (never torn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


FAILURE_DETAILS = ("cell", "error_name", "failed_notebook")    # state keys of a failed run only


def write_state(reports_dir: Path, pf: ParameterFile, drop=(), **state) -> None:
    kept = {k: v for k, v in read_state(reports_dir, pf).items() if k not in drop}
    _atomic_write(state_path(reports_dir, pf), json.dumps({**kept, **state}, indent=2))


def failed_dir(reports_dir: Path, pf: ParameterFile) -> Path:
    """Where the executed notebook of this report's last failed run is kept, until a run succeeds."""
    return reports_dir / "_failed" / pf.topic / pf.variant


def freshness(reports_dir: Path, pf: ParameterFile) -> str:
    """'fresh', 'stale', 'failed' or 'missing' (a report without its results.json is missing)."""
    state = read_state(reports_dir, pf)
    if state.get("status") == "failed":
        return "failed"
    folder = pf.report_dir(reports_dir)
    if not state or not (folder / "report.ipynb").is_file() or not (folder / "results.json").is_file():
        return "missing"
    return "fresh" if state.get("fingerprint") == fingerprint(pf) else "stale"


def report_owner_conflicts(files: list[ParameterFile], reports_dir: Path) -> list[ParameterFileError]:
    """Files whose report folder was last written from another parameter file that still exists."""
    errors = []
    for pf in files:
        other = read_state(reports_dir, pf).get("params_file")
        if other and Path(other) != pf.path and Path(other).exists() and pf.report_dir(reports_dir).exists():
            errors.append(ParameterFileError(pf.path, f"field 'variant': {pf.report_dir(reports_dir)} holds the "
                                                      f"report of {other}; choose another variant name (or delete "
                                                      "that file or report)"))
    return errors
