"""Execute one report with papermill and move it into place only when every cell ran.

The report runs in `<reports>/_tmp/` (where no glob of published reports looks). On success it
replaces the last good report and its state is recorded; a failure leaves the last good report
untouched, keeps the executed notebook in `<reports>/_failed/<topic>/<variant>/` until a run of
that report succeeds, and records the failure. A stopped run (`RunStopped`) is neither swapped
in nor recorded as failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import config
from ..parameters import ParameterFile, strict_yaml_load
from .lock import tmp_root
from .state import FAILURE_DETAILS, failed_dir, fingerprint, input_digests, write_state


def skip_iri_grammar() -> None:
    """Keep this process from building the RFC 3987 grammar it never uses.

    nbformat (papermill reads and writes notebooks through it) validates with jsonschema, whose format
    checker imports `rfc3987_syntax` when it is installed (Jupyter's packages pull it in) and that
    module compiles its IRI grammar at import: 1 to 2 s in every worker, for the "iri" formats, which
    the notebook schema never uses. Marking the module missing (before jsonschema is first imported)
    makes jsonschema skip those two formats. Called by the worker process only, never in a user's session.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


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
    meta = strict_yaml_load(text)
    meta = meta if isinstance(meta, dict) else {}
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


class RunStopped(Exception):
    """The user stopped the run (signal, or the controlling process died): nothing is recorded."""


class Control:
    """Stop flag and commit lock of one worker: once stopping, no report is swapped in."""

    def __init__(self):
        self.stopping = threading.Event()
        self.commit = threading.Lock()
        self.tmp_dir: Path | None = None
        self.scratch_dir: Path | None = None      # the engine's spill folder of the run (`config.SCRATCH_ENV`)


def remove_scratch(scratch: Path | None) -> None:
    """Remove a run's scratch folder (`config.SCRATCH_ENV`) and the kernel's scratch folders it lists
    as made elsewhere (`config.SCRATCH_ELSEWHERE_FILE`; only folders the engine names `crmresearch-…`)."""
    if scratch is None:
        return
    with contextlib.suppress(OSError):
        for line in (scratch / config.SCRATCH_ELSEWHERE_FILE).read_text().splitlines():
            if line.strip() and Path(line.strip()).name.startswith("crmresearch-"):
                shutil.rmtree(line.strip(), ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)


PROGRESS_ENV = "CRMRESEARCH_PROGRESS_FILE"
PROGRESS_FILE = ".progress.log"


def _follow(path: Path, emit, stop: threading.Event, every: float = 1.0) -> None:
    """Pass each new line of `path` (the kernel's progress log) to `emit` until `stop` is set."""
    position = 0
    while True:
        stopping = stop.wait(every)
        with contextlib.suppress(OSError):
            with open(path, encoding="utf-8", errors="replace") as fh:
                fh.seek(position)
                chunk = fh.read()
                complete = chunk.rfind("\n") + 1            # whole lines only
                position += len(chunk[:complete].encode("utf-8", errors="replace"))
                for line in chunk[:complete].splitlines():
                    if line.strip():
                        emit(line.strip()[:200])
        if stopping:
            return


KERNEL_LOG = "kernel.log"     # the kernel's own stdout and stderr: kept with a failed report, dropped on success


def quiet_kernel_manager(log_path: Path):
    """A kernel manager whose kernel writes its own messages (ipykernel's start-up warnings, its
    interrupt notices) to `log_path` instead of the terminal, so a successful run prints only progress."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log_file = open(log_path, "ab")      # the kernel process inherits it; closed here once launched
            try:
                kw.setdefault("stdout", log_file)
                kw.setdefault("stderr", log_file)
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                log_file.close()

    return QuietKernelManager


def execute_one(pf: ParameterFile, reports_dir: Path, progress=None, control: Control | None = None,
                log=None, scratch: Path | None = None) -> RunOutcome:
    """Run one report into `<reports>/_tmp/` and move it into place on success.

    `progress(name, cell, total, first_line)` is called as cells start; `log(name, line)` with each
    line the kernel writes to its progress log (long engine work: step, rows, elapsed).
    """
    import nbformat
    import papermill as pm

    control = control or Control()
    name = f"{pf.topic}/{pf.variant}"
    final_dir = pf.report_dir(reports_dir)
    started = time.perf_counter()
    total_cells = None
    tmp_dir = None

    cells_started = []
    running = {"cell": None, "source": ""}

    def on_cell_start(cell, cell_index, **_):
        if control.stopping.is_set():
            raise RunStopped()
        cells_started.append(cell_index)
        running["cell"] = cell_index + 1
        running["source"] = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#|")), "")
        if progress is not None and cell.cell_type == "code":
            first_line = next((ln for ln in cell.source.splitlines() if ln and not ln.startswith("#")), "")
            progress(name, cell_index + 1, total_cells, first_line[:60])

    try:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_root(reports_dir).mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f"{pf.topic}.{pf.variant}.", dir=tmp_root(reports_dir)))
        control.tmp_dir = tmp_dir
        total_cells = len(nbformat.read(pf.notebook_path, as_version=4).cells) + 1
        output = tmp_dir / "report.ipynb"
        from ..engine.sources import CHECKED_ENV

        # What the run starts from: a file edited while the kernel runs makes the report stale, and its
        # provenance and `parameters.yaml` still describe the bytes this run read.
        started_from = fingerprint(pf)
        parameter_bytes = pf.path.read_bytes()
        env_backup = {k: os.environ.get(k) for k in ("CRMRESEARCH_REPORTS_DIR", PROGRESS_ENV, CHECKED_ENV,
                                                     config.INPUT_DIGESTS_ENV, config.SCRATCH_ENV)}
        scratch = control.scratch_dir = scratch or Path(tempfile.mkdtemp(prefix="crmresearch-run-"))
        scratch.mkdir(parents=True, exist_ok=True)
        os.environ[config.SCRATCH_ENV] = str(scratch)
        os.environ[config.INPUT_DIGESTS_ENV] = json.dumps(input_digests(pf))
        os.environ["CRMRESEARCH_REPORTS_DIR"] = str(reports_dir)
        os.environ[CHECKED_ENV] = "1"          # `validate_files` checked the data before this kernel
        progress_file = tmp_dir / PROGRESS_FILE
        os.environ[PROGRESS_ENV] = str(progress_file)
        stop_following = threading.Event()
        follower = threading.Thread(target=_follow, args=(progress_file, lambda line: log(name, line),
                                                          stop_following), daemon=True)
        if log is not None:
            follower.start()
        try:
            for attempt in (1, 2):      # a kernel that fails to start (a port taken meanwhile) gets one retry
                try:
                    pm.execute_notebook(
                        str(pf.notebook_path), str(output), parameters=pf.papermill_parameters(tmp_dir),
                        kernel_name=config.KERNEL_NAME, cwd=str(tmp_dir), progress_bar=False, log_output=False,
                        request_save_on_cell_execute=False, on_cell_start=on_cell_start,
                        # the last cell has written results.json and every output is in the notebook,
                        # so the kernel is stopped at once instead of waiting for its orderly exit
                        shutdown_kernel="immediate",
                        kernel_manager_class=quiet_kernel_manager(tmp_dir / KERNEL_LOG))
                    break
                except RunStopped:
                    raise
                except Exception:  # noqa: BLE001 - retried only when no cell ever started
                    if attempt == 2 or cells_started or control.stopping.is_set():
                        raise
                    if log is not None:
                        log(name, "the kernel did not start; starting it once more")
        finally:
            stop_following.set()
            if follower.is_alive():
                follower.join()
            progress_file.unlink(missing_ok=True)
            remove_scratch(scratch)             # the kernel is gone: its spill files with it
            for key, value in env_backup.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if not (tmp_dir / "results.json").exists():
            raise RuntimeError("the notebook finished without writing results.json (missing provenance cell?)")
        finished = datetime.now(timezone.utc)
        nb = nbformat.read(output, as_version=4)
        _front_matter_update(nb, pf, finished)
        _hide_injected_parameters(nb)
        nbformat.write(nb, output)
        (tmp_dir / "parameters.yaml").write_bytes(parameter_bytes)
        (tmp_dir / KERNEL_LOG).unlink(missing_ok=True)
        with control.commit:
            if control.stopping.is_set():
                raise RunStopped()
            _replace_dir(tmp_dir, final_dir)
            seconds = time.perf_counter() - started
            write_state(reports_dir, pf, drop=FAILURE_DETAILS, status="ok", fingerprint=started_from,
                         params_file=str(pf.path), finished=finished.isoformat(timespec="seconds"),
                         seconds=round(seconds, 1), error=None)
        # The failure it replaces is history: its kept notebook goes (and its folders, once empty).
        stale = failed_dir(reports_dir, pf)
        shutil.rmtree(stale, ignore_errors=True)
        for folder in (stale.parent, stale.parent.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return RunOutcome(name, "ok", seconds)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none lost
        with control.commit:
            if control.stopping.is_set() or isinstance(exc, RunStopped):
                if tmp_dir is not None:
                    shutil.rmtree(tmp_dir, ignore_errors=True)
                raise RunStopped() from None
            seconds = time.perf_counter() - started
            message, details = _describe_failure(exc, running["cell"], running["source"])
            failed = failed_dir(reports_dir, pf)
            try:
                if tmp_dir is not None and (tmp_dir / "report.ipynb").exists():
                    shutil.rmtree(failed, ignore_errors=True)
                    failed.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(tmp_dir), failed)
                    details["failed_notebook"] = str(failed / "report.ipynb")
                write_state(reports_dir, pf, status="failed", params_file=str(pf.path), error=message,
                             finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), **details)
            except OSError as write_error:
                message += f" (and the failure could not be recorded: {write_error.strerror or write_error})"
            finally:
                if tmp_dir is not None:
                    shutil.rmtree(tmp_dir, ignore_errors=True)
            return RunOutcome(name, "failed", seconds, message, details)


def _describe_failure(exc, running_cell: int | None = None, source: str = "") -> tuple[str, dict]:
    """One line for a failed report: the cell, its first line and the error; a kernel that died is named
    with the cell it was running."""
    from papermill.exceptions import PapermillExecutionError

    if running_cell is not None and type(exc).__name__ == "DeadKernelError":
        return (f"cell {running_cell} (`{source.strip()[:70]}`): the kernel died (out of memory, or killed) while "
                "running it", {"cell": running_cell, "error_name": "DeadKernelError"})
    if isinstance(exc, PapermillExecutionError):
        source_line = next((ln for ln in exc.source.splitlines() if ln.strip() and not ln.startswith("#|")), "")
        return (f"cell {exc.cell_index + 1} (`{source_line.strip()[:70]}`): {exc.ename}: {str(exc.evalue)[:300]}",
                {"cell": exc.cell_index + 1, "error_name": exc.ename})
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}" + (f": {exc.filename}" if exc.filename else ""), {}
    return f"{type(exc).__name__}: {str(exc)[:300]}", {}


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
