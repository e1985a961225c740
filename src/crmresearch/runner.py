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
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import config
from .parameters import CELL_NAMES, ParameterFile, ParameterFileError, load_parameter_file, strict_yaml_load


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
    """Validate every file; return the good ones and all errors (nothing is executed).

    One bad file never stops the others from being checked: whatever goes wrong while checking a
    file becomes that file's error.
    """
    good, errors = [], []
    seen = {}
    for path in paths:
        try:
            pf = load_parameter_file(path)
            check_environment(pf)
            if not pf.notebook_path.exists():
                raise ParameterFileError(path, f"field 'notebook': no notebook at {pf.notebook_path}")
            try:
                declared = parameters_cell_names(pf.notebook_path)
            except (OSError, ValueError, KeyError, TypeError, SyntaxError) as exc:
                raise ParameterFileError(path, f"field 'notebook': {pf.notebook_path} is not a readable notebook "
                                               f"({type(exc).__name__})") from None
            missing = set(CELL_NAMES) - declared
            if missing:
                raise ParameterFileError(path, [f"field 'notebook': {pf.notebook_path.name}'s parameters cell does "
                                                f"not define '{m}' (it defines {', '.join(sorted(declared))})"
                                                for m in sorted(missing)])
            check_data_files(pf)
            key = (pf.topic, pf.variant)
            if key in seen:
                raise ParameterFileError(path, f"field 'variant': '{pf.variant}' is also used by {seen[key]}")
            seen[key] = path
            good.append(pf)
        except ParameterFileError as exc:
            errors.append(exc)
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not hide the others
            errors.append(ParameterFileError(path, f"could not be checked ({type(exc).__name__}: {str(exc)[:160]})"))
    return good, errors


def check_environment(pf: ParameterFile) -> None:
    """What the machine must provide for the file's settings, checked before any kernel starts: an
    `engine: {backend: pyspark}` block needs Java and PySpark (`engine.spark.check_spark`)."""
    from pydantic import BaseModel

    def engines(model, prefix="parameters."):
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                if getattr(value, "backend", None) == "pyspark":
                    yield f"{prefix}{name}"
                yield from engines(value, f"{prefix}{name}.")

    for where in engines(pf.validated):
        from .engine.spark import SparkUnavailable, check_spark

        try:
            check_spark()
        except SparkUnavailable as exc:
            raise ParameterFileError(pf.path, f"field '{where}': backend 'pyspark' needs Java and PySpark on this "
                                              f"machine: {exc}") from None


def check_data_files(pf: ParameterFile) -> None:
    """The data checks of the input layer (`checks.check_data`: files exist and are of a usable kind,
    load with their loaders, enough rows, survey items that vary), so a problem stops the run before
    any kernel starts; a log read in place is checked by the engine (`_check_log_in_place`)."""
    from .checks import DataCheckError, check_data

    try:
        check_data(pf.validated, lambda name, source: _check_log_in_place(pf, name, source))
    except DataCheckError as exc:
        raise ParameterFileError(pf.path, str(exc)) from None


def _check_log_in_place(pf: ParameterFile, name: str, source) -> None:
    """A log the report's engine reads in place (folder, glob, table): the engine checks its columns
    and values now (`engine.sources.open_log`), with row numbers where the engine gives them."""
    from .checks import MIN_DATA_ROWS
    from .datasets import DataValidationError
    from .engine import sources, spark

    what = "path" if source.path is not None else "table"
    try:
        con = spark.connect(getattr(pf.validated, "engine", None))
        try:
            table = sources.open_log(con, sources.LogSource.from_transactions(source), name="crm_check_log")
            rows = int(table.count().to_pyarrow().as_py())
        finally:
            if con.name == "duckdb":
                con.disconnect()
    except DataValidationError as exc:
        raise ParameterFileError(pf.path, f"field 'parameters.{name}.{what}': {exc}") from None
    except Exception as exc:  # noqa: BLE001 - engines raise many types for unreadable data
        raise ParameterFileError(pf.path, f"field 'parameters.{name}.{what}': {getattr(source, what)}: could not be "
                                          f"read ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
    if rows < MIN_DATA_ROWS:
        raise ParameterFileError(pf.path, f"field 'parameters.{name}.{what}': expected at least {MIN_DATA_ROWS} data "
                                          f"rows (found {rows})")


# ---------------------------------------------------------------- freshness

def _hash_files(h, files) -> None:
    from .datasets import sha256_file

    for f in files:
        h.update(str(Path(f).name).encode())
        h.update(Path(f).read_bytes() if Path(f).is_file() else sha256_file(f).encode())


def source_files() -> list[Path]:
    return sorted(p for p in config.PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def data_files(pf: ParameterFile) -> list[Path]:
    """Input files named by the parameters (every data source, nested blocks included)."""
    from .checks import data_sources

    return [Path(source.file()) for _, source in data_sources(pf.validated)
            if source.file() is not None and (source.file().exists() or "*" in str(source.file()))]


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


def _write_state(reports_dir: Path, pf: ParameterFile, drop=(), **state) -> None:
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


# ---------------------------------------------------------------- locks and leftovers

class ReportBusy(RuntimeError):
    """Another `crmresearch run` is writing the same report folder."""


class ReportLock:
    """An exclusive `flock` on `<reports>/_state/<topic>/<variant>.lock`, held while a report runs.

    The kernel drops it when the holder dies, however it dies, so a stale lock never blocks a run.
    """

    def __init__(self, reports_dir: Path, pf: ParameterFile):
        self.path = reports_dir / "_state" / pf.topic / f"{pf.variant}.lock"
        self.fd = None

    def acquire(self) -> "ReportLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ReportBusy(f"another crmresearch run (pid {holder}) is writing this report; "
                             "wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)     # closing the descriptor drops the flock
            self.fd = None


TMP_DIR = "_tmp"


def tmp_root(reports_dir: Path) -> Path:
    """Where reports are executed before they are moved into place; no published glob sees it."""
    return reports_dir / TMP_DIR


def remove_leftovers(reports_dir: Path, pf: ParameterFile) -> list[Path]:
    """Clean what a killed run of this report can leave behind (call with the report's lock held).

    Temporary folders go; a backup left between the two renames of a swap is put back when the
    report folder itself is missing (else it goes too).
    """
    removed = []
    final = pf.report_dir(reports_dir)
    patterns = [(tmp_root(reports_dir), f"{pf.topic}.{pf.variant}.*"),
                (final.parent, f".{pf.variant}-*")]          # hidden temporary folders beside the report
    for folder, pattern in patterns:
        for leftover in folder.glob(pattern) if folder.is_dir() else []:
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    for backup in sorted(final.parent.glob(f".{pf.variant}.old-*")) if final.parent.is_dir() else []:
        if not final.exists() and (backup / "report.ipynb").is_file():
            backup.rename(final)
        else:
            shutil.rmtree(backup, ignore_errors=True)
        removed.append(backup)
    return removed


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


def clean_tmp(reports_dir: Path) -> list[Path]:
    """Remove every temporary folder in `<reports>/_tmp/` whose report no running process holds."""
    removed = []
    root = tmp_root(reports_dir)
    for leftover in sorted(root.iterdir()) if root.is_dir() else []:
        topic_name, _, rest = leftover.name.partition(".")
        variant = rest.partition(".")[0]
        lock = reports_dir / "_state" / topic_name / f"{variant}.lock"
        fd = None
        try:
            import fcntl

            if lock.exists():
                fd = os.open(lock, os.O_RDWR)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
        except OSError:               # held by a live run (BlockingIOError) or unreadable: leave it
            pass
        finally:
            if fd is not None:
                os.close(fd)
    return removed


class RunStopped(Exception):
    """The user stopped the run (signal, or the controlling process died): nothing is recorded."""


class _Control:
    """Stop flag and commit lock of one worker: once stopping, no report is swapped in."""

    def __init__(self):
        self.stopping = threading.Event()
        self.commit = threading.Lock()
        self.tmp_dir: Path | None = None


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


def execute_one(pf: ParameterFile, reports_dir: Path, progress=None, control: _Control | None = None,
                log=None) -> RunOutcome:
    """Run one report into `<reports>/_tmp/` and move it into place on success.

    `progress(name, cell, total, first_line)` is called as cells start; `log(name, line)` with each
    line the kernel writes to its progress log (long engine work: step, rows, elapsed).
    """
    import nbformat
    import papermill as pm

    control = control or _Control()
    name = f"{pf.topic}/{pf.variant}"
    final_dir = pf.report_dir(reports_dir)
    started = time.perf_counter()
    total_cells = None
    tmp_dir = None

    def on_cell_start(cell, cell_index, **_):
        if control.stopping.is_set():
            raise RunStopped()
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
        from .engine.sources import CHECKED_ENV

        env_backup = {k: os.environ.get(k) for k in ("CRMRESEARCH_REPORTS_DIR", PROGRESS_ENV, CHECKED_ENV)}
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
            pm.execute_notebook(
                str(pf.notebook_path), str(output), parameters=pf.papermill_parameters(tmp_dir),
                kernel_name=config.KERNEL_NAME, cwd=str(tmp_dir), progress_bar=False, log_output=False,
                request_save_on_cell_execute=False, on_cell_start=on_cell_start)
        finally:
            stop_following.set()
            if follower.is_alive():
                follower.join()
            progress_file.unlink(missing_ok=True)
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
        (tmp_dir / "parameters.yaml").write_bytes(pf.path.read_bytes())
        with control.commit:
            if control.stopping.is_set():
                raise RunStopped()
            _replace_dir(tmp_dir, final_dir)
            seconds = time.perf_counter() - started
            _write_state(reports_dir, pf, drop=FAILURE_DETAILS, status="ok", fingerprint=fingerprint(pf),
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
            message, details = _describe_failure(exc)
            failed = failed_dir(reports_dir, pf)
            try:
                if tmp_dir is not None and (tmp_dir / "report.ipynb").exists():
                    shutil.rmtree(failed, ignore_errors=True)
                    failed.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(tmp_dir), failed)
                    details["failed_notebook"] = str(failed / "report.ipynb")
                _write_state(reports_dir, pf, status="failed", params_file=str(pf.path), error=message,
                             finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), **details)
            except OSError as write_error:
                message += f" (and the failure could not be recorded: {write_error.strerror or write_error})"
            finally:
                if tmp_dir is not None:
                    shutil.rmtree(tmp_dir, ignore_errors=True)
            return RunOutcome(name, "failed", seconds, message, details)


def _describe_failure(exc) -> tuple[str, dict]:
    from papermill.exceptions import PapermillExecutionError

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


# ---------------------------------------------------------------- worker processes

EXIT_STOPPED = 3


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc (Linux); empty where /proc is missing."""
    kids = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            # Fields after the command name (which may hold spaces and parentheses).
            fields = stat[stat.rfind(")") + 2:].split()
            if len(fields) > 1 and int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _kill_tree(pid: int) -> None:
    """SIGKILL `pid`'s process group when it leads one (kernels do), else `pid` alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_kernel(pid: int) -> None:
    """Kill a kernel the parent was told about, unless the pid now belongs to something else."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"ipykernel" not in fh.read():
                return
    except OSError:
        return
    _kill_tree(pid)


def _connection_file(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except OSError:
        return None
    for i, arg in enumerate(args[:-1]):
        if arg in (b"-f", b"--f") and args[i + 1].endswith(b".json"):
            return args[i + 1].decode(errors="replace")
    return None


def _stop_worker(control: _Control, reason: str) -> None:
    """Stop this worker for good: no commit starts after this, the kernel dies, the temp folder goes."""
    control.stopping.set()
    control.commit.acquire()          # a swap in progress finishes first; none starts afterwards
    for pid in _children(os.getpid()):
        connection = _connection_file(pid)
        _kill_tree(pid)
        if connection:
            with contextlib.suppress(OSError):
                os.unlink(connection)
    if control.tmp_dir is not None:
        shutil.rmtree(control.tmp_dir, ignore_errors=True)
    os._exit(EXIT_STOPPED)


def _worker_main(pf_path: str, reports_dir: str, ctrl, msg) -> None:
    """One report in its own process. It stops when the parent says so, or when the parent is gone
    (the control pipe reaches end of file, also after `kill -9` of the parent)."""
    # The terminal's Ctrl-C reaches the whole foreground group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = _Control()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=_stop_worker, args=(control, "SIGTERM"),
                                                               daemon=True).start())

    def watch():
        try:
            ctrl.recv()               # any message, or EOF when the parent closed or died
        except (EOFError, OSError):
            pass
        _stop_worker(control, "parent")

    threading.Thread(target=watch, daemon=True).start()
    # One BLAS thread per kernel: with -j N on a small machine, threaded BLAS oversubscribes
    # the cores and large vector products stall (measured 1.3 ms instead of 0.015 ms).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    kernel_sent = False

    def send(item):
        with contextlib.suppress(OSError, ValueError):
            msg.send(item)

    def progress(name, index, total, line):
        nonlocal kernel_sent
        if not kernel_sent:
            kids = _children(os.getpid())
            if kids:
                send(("kernels", kids))
                kernel_sent = True
        send(("cell", name, index, total, line))

    try:
        pf = load_parameter_file(pf_path)
        outcome = execute_one(pf, Path(reports_dir), progress, control,
                              log=lambda name, line: send(("log", name, line)))
    except RunStopped:
        _stop_worker(control, "stopped")
    except Exception as exc:  # noqa: BLE001 - reported to the parent as this report's failure
        outcome = RunOutcome(pf_path, "failed", 0.0, f"{type(exc).__name__}: {str(exc)[:300]}")
    send(("outcome", outcome.__dict__))


class RunInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run; `stopped` names the reports that were running."""

    def __init__(self, signum: int, stopped: list[str], outcomes: list):
        self.signum, self.stopped, self.outcomes = signum, stopped, outcomes
        name = signal.Signals(signum).name
        what = ", ".join(stopped) if stopped else "nothing was running"
        super().__init__(f"interrupted by {name}: stopped {what}; the last good reports are untouched")


@dataclass
class _Job:
    pf: ParameterFile
    lock: ReportLock
    proc: object
    ctrl: object
    msg: object
    outcome: RunOutcome | None = None
    kernels: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.pf.topic}/{self.pf.variant}"


def run_reports(files: list[ParameterFile], reports_dir: Path, jobs: int = 1, force: bool = False,
                out=sys.stdout) -> list[RunOutcome]:
    """Execute what is not fresh, `jobs` at a time, printing which report and cell is running.

    Each report runs in its own worker process, which runs the kernel. SIGINT or SIGTERM stops
    every worker and kernel and raises `RunInterrupted`; a worker whose parent dies (even by
    `kill -9`) stops by itself. Nothing stopped is swapped in or recorded as failed.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

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
    for leftover in clean_tmp(reports_dir):
        print(f"clean {leftover.name}: removed, left by an interrupted run", file=out)
    for pf in todo:
        print(f"queue {pf.topic}/{pf.variant} ({pf.path.name})", file=out, flush=True)

    received = {"signum": None}

    def on_signal(signum, _frame):
        received["signum"] = signum

    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    running: list[_Job] = []
    waiting = list(todo)
    try:
        while (waiting or running) and received["signum"] is None:
            while waiting and len(running) < max(1, jobs) and received["signum"] is None:
                job = _start(ctx, waiting.pop(0), reports_dir, out)
                if isinstance(job, RunOutcome):
                    outcomes.append(job)
                else:
                    running.append(job)
            if not running:
                continue
            wait([j.msg for j in running] + [j.proc.sentinel for j in running], timeout=0.2)
            for job in list(running):
                _read_messages(job, out)
                if not job.proc.is_alive():
                    job.proc.join()
                    _read_messages(job, out)
                    running.remove(job)
                    outcome = job.outcome
                    if outcome is None:       # the worker was killed: its kernel and temp folder go too
                        for pid in job.kernels:
                            _kill_kernel(pid)
                        remove_leftovers(reports_dir, job.pf)
                        outcome = RunOutcome(job.name, "failed", message=(
                            f"the worker process ended without a result (exit code {job.proc.exitcode}); "
                            "the last good report is untouched"))
                    _finish(job)
                    outcomes.append(outcome)
                    _print_outcome(outcome, out)
        if received["signum"] is not None:
            stopped = [j.name for j in running]
            _stop_all(running, reports_dir)
            raise RunInterrupted(received["signum"], stopped, outcomes)
    finally:
        if running:
            _stop_all(running, reports_dir)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return outcomes


def _start(ctx, pf: ParameterFile, reports_dir: Path, out):
    name = f"{pf.topic}/{pf.variant}"
    try:
        lock = ReportLock(reports_dir, pf).acquire()
    except ReportBusy as exc:
        outcome = RunOutcome(name, "failed", message=str(exc))
        _print_outcome(outcome, out)
        return outcome
    try:
        for leftover in remove_leftovers(reports_dir, pf):
            print(f"clean {name}: removed {leftover.name} left by an interrupted run", file=out)
        ctrl_recv, ctrl_send = ctx.Pipe(duplex=False)
        msg_recv, msg_send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker_main, args=(str(pf.path), str(reports_dir), ctrl_recv, msg_send),
                           name=f"crmresearch {name}", daemon=False)
        # The worker starts with SIGINT ignored (a Ctrl-C while it imports must not print a
        # traceback); the parent's own handler is back as soon as the worker exists.
        in_main = threading.current_thread() is threading.main_thread()
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            proc.start()
        finally:
            if in_main:
                signal.signal(signal.SIGINT, handler)
    except BaseException:
        lock.release()
        raise
    ctrl_recv.close()
    msg_send.close()
    return _Job(pf, lock, proc, ctrl_send, msg_recv)


def _read_messages(job: _Job, out) -> None:
    while True:
        try:
            if not job.msg.poll():
                return
            item = job.msg.recv()
        except (EOFError, OSError):
            return
        if item[0] == "cell":
            _, name, index, total, line = item
            print(f"  {name}: cell {index}/{total}  {line}", file=out, flush=True)
        elif item[0] == "log":
            _, name, line = item
            print(f"  {name}: {line}", file=out, flush=True)
        elif item[0] == "kernels":
            job.kernels = list(item[1])
        elif item[0] == "outcome":
            job.outcome = RunOutcome(**item[1])


def _print_outcome(outcome: RunOutcome, out) -> None:
    if outcome.status == "ok":
        print(f"done  {outcome.name} in {outcome.seconds:.1f}s", file=out, flush=True)
    else:
        print(f"FAIL  {outcome.name}: {outcome.message}", file=out, flush=True)
        if "failed_notebook" in outcome.details:
            print(f"      executed notebook kept at {outcome.details['failed_notebook']}; "
                  f"the last good report is untouched", file=out, flush=True)


def _finish(job: _Job) -> None:
    for conn in (job.ctrl, job.msg):
        with contextlib.suppress(OSError):
            conn.close()
    job.lock.release()


def _stop_all(running: list[_Job], reports_dir: Path, grace: float = 5.0) -> None:
    """Tell every worker to stop (closing its control pipe), then kill what is left."""
    for job in running:
        with contextlib.suppress(OSError):
            job.ctrl.close()
    deadline = time.monotonic() + grace
    for job in running:
        job.proc.join(max(0.0, deadline - time.monotonic()))
    for job in running:
        if job.proc.is_alive():
            for pid in _children(job.proc.pid):
                _kill_tree(pid)
            job.proc.kill()
            job.proc.join(2)
        for pid in job.kernels:       # a kernel whose worker died first exits by itself; make sure
            _kill_kernel(pid)
        remove_leftovers(reports_dir, job.pf)
        _finish(job)
    running.clear()
