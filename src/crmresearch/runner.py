"""Validate parameter files, execute notebooks with papermill, keep the last good report.

Each report is written to a temporary folder beside its final place and moved into place only
when every cell ran; a failure leaves the previous report untouched and records the failure in
`<reports>/_state/`. A run is skipped when its fingerprint (notebook, parameter file, package
source, input data) matches the last successful run.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import config
from .parameters import ParameterFile, ParameterFileError, RESERVED, load_parameter_file


# ---------------------------------------------------------------- validation

def parameters_cell_names(notebook_path: Path) -> set[str]:
    """Names assigned in the notebook's single `parameters` cell (error unless exactly one)."""
    nb = json.loads(notebook_path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterFileError(notebook_path, f"expected exactly one cell tagged 'parameters' (found {len(cells)})")
    source = "".join(cells[0]["source"]) if isinstance(cells[0]["source"], list) else cells[0]["source"]
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def validate_files(paths) -> tuple[list[ParameterFile], list[ParameterFileError]]:
    """Validate every file; return the good ones and all errors (nothing is executed)."""
    good, errors = [], []
    seen = {}
    for path in paths:
        try:
            pf = load_parameter_file(path)
            if not pf.notebook_path.exists():
                raise ParameterFileError(path, f"field 'notebook': no notebook at {pf.notebook_path}")
            declared = parameters_cell_names(pf.notebook_path)
            missing = (set(pf.parameters) | set(RESERVED)) - declared
            if missing:
                raise ParameterFileError(path, [f"field 'parameters.{m}': the notebook's parameters cell does not "
                                                f"define it (it defines {', '.join(sorted(declared))})"
                                                for m in sorted(missing)])
            check_data_files(pf)
            key = (pf.topic, pf.variant)
            if key in seen:
                raise ParameterFileError(path, f"field 'variant': '{pf.variant}' is also used by {seen[key]}")
            seen[key] = path
            good.append(pf)
        except ParameterFileError as exc:
            errors.append(exc)
    return good, errors


def check_data_files(pf: ParameterFile) -> None:
    """Load users' data files now, so a schema violation stops the run before any kernel starts."""
    from .datasets import DataValidationError

    for name in type(pf.validated).model_fields:
        source = getattr(pf.validated, name)
        if getattr(source, "path", None) and hasattr(source, "load"):
            try:
                source.load()
            except DataValidationError as exc:
                raise ParameterFileError(pf.path, f"field 'parameters.{name}.path': {exc}") from None


# ---------------------------------------------------------------- freshness

def _hash_files(h, files) -> None:
    for f in files:
        h.update(str(Path(f).name).encode())
        h.update(Path(f).read_bytes())


def source_files() -> list[Path]:
    return sorted(p for p in config.PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def data_files(pf: ParameterFile) -> list[Path]:
    """Input files named by the parameters (fields with a `file()` method: data sources)."""
    files = []
    for name in type(pf.validated).model_fields:
        value = getattr(pf.validated, name)
        if hasattr(value, "file"):
            files.append(Path(value.file()))
    return files


def fingerprint(pf: ParameterFile) -> str:
    h = hashlib.sha256()
    _hash_files(h, [pf.notebook_path, pf.path, *source_files(), *data_files(pf)])
    return h.hexdigest()


def state_path(reports_dir: Path, pf: ParameterFile) -> Path:
    return reports_dir / "_state" / pf.topic / f"{pf.variant}.json"


def read_state(reports_dir: Path, pf: ParameterFile) -> dict:
    p = state_path(reports_dir, pf)
    return json.loads(p.read_text()) if p.exists() else {}


def _write_state(reports_dir: Path, pf: ParameterFile, **state) -> None:
    p = state_path(reports_dir, pf)
    p.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(p.read_text()) if p.exists() else {}
    p.write_text(json.dumps({**old, **state}, indent=2))


def freshness(reports_dir: Path, pf: ParameterFile) -> str:
    """'fresh', 'stale', 'failed' or 'missing'."""
    state = read_state(reports_dir, pf)
    if state.get("status") == "failed":
        return "failed"
    if not (pf.report_dir(reports_dir) / "report.ipynb").exists() or not state:
        return "missing"
    return "fresh" if state.get("fingerprint") == fingerprint(pf) else "stale"


# ---------------------------------------------------------------- execution

@dataclass
class RunOutcome:
    name: str
    status: str            # ok | failed | skipped
    seconds: float = 0.0
    message: str = ""
    details: dict = field(default_factory=dict)


def _front_matter_update(nb, pf: ParameterFile, finished: datetime) -> None:
    """Add the variant and run date to the report's front matter (raw first cell)."""
    import yaml

    first = nb.cells[0]
    if first.cell_type != "raw":
        return
    text = first.source.strip().strip("-").strip()
    meta = yaml.safe_load(text) or {}
    meta["subtitle"] = f"{meta.get('subtitle', '')} · variant: {pf.variant}".strip(" ·")
    meta["date"] = finished.strftime("%Y-%m-%d")
    meta["crmresearch"] = {"notebook": pf.notebook, "variant": pf.variant,
                           "description": pf.description or ""}
    first.source = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100) + "---"


def _hide_injected_parameters(nb) -> None:
    # The injected cell is replaced in the report by the readable provenance table.
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags or "parameters" in tags:
            if "remove-cell" not in tags:
                cell.metadata["tags"] = [*tags, "remove-cell"]
            # Quarto's own cell option, which both publishing routes honour.
            if not cell.source.startswith("#| include: false"):
                cell.source = "#| include: false\n" + cell.source


def execute_one(pf: ParameterFile, reports_dir: Path, progress=None) -> RunOutcome:
    """Run one report into a temporary folder and move it into place on success."""
    import nbformat
    import papermill as pm

    name = f"{pf.topic}/{pf.variant}"
    final_dir = pf.report_dir(reports_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{pf.variant}-", dir=final_dir.parent))
    started = time.perf_counter()
    total_cells = None

    def on_cell_start(cell, cell_index, **_):
        if progress is not None and cell.cell_type == "code":
            first_line = next((ln for ln in cell.source.splitlines() if ln and not ln.startswith("#")), "")
            progress.put((name, cell_index + 1, total_cells, first_line[:60]))

    try:
        total_cells = len(nbformat.read(pf.notebook_path, as_version=4).cells) + 1
        output = tmp_dir / "report.ipynb"
        env_backup = os.environ.get("CRMRESEARCH_REPORTS_DIR")
        os.environ["CRMRESEARCH_REPORTS_DIR"] = str(reports_dir)
        try:
            pm.execute_notebook(
                str(pf.notebook_path), str(output), parameters=pf.papermill_parameters(tmp_dir),
                kernel_name=config.KERNEL_NAME, cwd=str(tmp_dir), progress_bar=False, log_output=False,
                request_save_on_cell_execute=False, on_cell_start=on_cell_start)
        finally:
            if env_backup is None:
                os.environ.pop("CRMRESEARCH_REPORTS_DIR", None)
            else:
                os.environ["CRMRESEARCH_REPORTS_DIR"] = env_backup
        if not (tmp_dir / "results.json").exists():
            raise RuntimeError("the notebook finished without writing results.json (missing provenance cell?)")
        finished = datetime.now(timezone.utc)
        nb = nbformat.read(output, as_version=4)
        _front_matter_update(nb, pf, finished)
        _hide_injected_parameters(nb)
        nbformat.write(nb, output)
        (tmp_dir / "parameters.yaml").write_bytes(pf.path.read_bytes())
        _replace_dir(tmp_dir, final_dir)
        seconds = time.perf_counter() - started
        _write_state(reports_dir, pf, status="ok", fingerprint=fingerprint(pf), params_file=str(pf.path),
                     finished=finished.isoformat(timespec="seconds"), seconds=round(seconds, 1), error=None)
        return RunOutcome(name, "ok", seconds)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none lost
        seconds = time.perf_counter() - started
        message, details = _describe_failure(exc)
        failed_dir = reports_dir / "_failed" / pf.topic / pf.variant
        if (tmp_dir / "report.ipynb").exists():
            shutil.rmtree(failed_dir, ignore_errors=True)
            failed_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(tmp_dir), failed_dir)
            details["failed_notebook"] = str(failed_dir / "report.ipynb")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        _write_state(reports_dir, pf, status="failed", params_file=str(pf.path), error=message,
                     finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), **details)
        return RunOutcome(name, "failed", seconds, message, details)


def _describe_failure(exc) -> tuple[str, dict]:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source_line = next((ln for ln in exc.source.splitlines() if ln.strip() and not ln.startswith("#|")), "")
        return (f"cell {exc.cell_index + 1} (`{source_line.strip()[:70]}`): {exc.ename}: {exc.evalue}",
                {"cell": exc.cell_index + 1, "error_name": exc.ename})
    return f"{type(exc).__name__}: {exc}", {}


def _replace_dir(new: Path, final: Path) -> None:
    """Swap `new` into `final` with renames on one file system; the old copy goes only after."""
    backup = None
    if final.exists():
        backup = final.with_name(f".{final.name}.old-{os.getpid()}")
        shutil.rmtree(backup, ignore_errors=True)
        final.rename(backup)
    new.rename(final)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _worker(pf_path: str, reports_dir: str, progress) -> RunOutcome:
    # One BLAS thread per kernel: with -j N on a small machine, threaded BLAS oversubscribes
    # the cores and large vector products stall (measured 1.3 ms instead of 0.015 ms).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    pf = load_parameter_file(pf_path)
    return execute_one(pf, Path(reports_dir), progress)


def run_reports(files: list[ParameterFile], reports_dir: Path, jobs: int = 1, force: bool = False,
                out=sys.stdout) -> list[RunOutcome]:
    """Execute what is not fresh, `jobs` at a time, printing which report and cell is running."""
    import multiprocessing as mp

    outcomes, todo = [], []
    for pf in files:
        if not force and freshness(reports_dir, pf) == "fresh":
            outcomes.append(RunOutcome(f"{pf.topic}/{pf.variant}", "skipped", message="up to date"))
            print(f"skip  {pf.topic}/{pf.variant}: up to date", file=out)
        else:
            todo.append(pf)
    if not todo:
        return outcomes
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        progress = manager.Queue()
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as pool:
            futures = {pool.submit(_worker, str(pf.path), str(reports_dir), progress): pf for pf in todo}
            for pf in todo:
                print(f"queue {pf.topic}/{pf.variant} ({pf.path.name})", file=out)
            pending = set(futures)
            while pending:
                _drain(progress, out)
                done = [f for f in pending if f.done()]
                for fut in done:
                    pending.discard(fut)
                    _drain(progress, out)
                    outcome = fut.result()
                    outcomes.append(outcome)
                    if outcome.status == "ok":
                        print(f"done  {outcome.name} in {outcome.seconds:.1f}s", file=out)
                    else:
                        print(f"FAIL  {outcome.name}: {outcome.message}", file=out)
                        if "failed_notebook" in outcome.details:
                            print(f"      executed notebook kept at {outcome.details['failed_notebook']}; "
                                  f"the last good report is untouched", file=out)
                if pending:
                    time.sleep(0.2)
            _drain(progress, out)
    return outcomes


def _drain(progress, out) -> None:
    import queue

    while True:
        try:
            name, index, total, line = progress.get_nowait()
        except (queue.Empty, EOFError, OSError):
            return
        print(f"  {name}: cell {index}/{total}  {line}", file=out, flush=True)
