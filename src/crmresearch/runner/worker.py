"""The worker process that runs one report and owns its kernel, and how processes are stopped.

A worker stops when its parent says so (SIGTERM, or a message on its control pipe) or when the
parent is gone: its control pipe reaches end of file, also after `kill -9` of the parent. The
kernel dies with it and its temporary folder goes; nothing stopped is swapped in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from pathlib import Path

from ..parameters import load_parameter_file
from .execute import Control, RunOutcome, RunStopped, execute_one, remove_scratch, skip_iri_grammar


EXIT_STOPPED = 3


def children(pid: int) -> list[int]:
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


def kill_tree(pid: int) -> None:
    """SIGKILL `pid`'s process group when it leads one (kernels do), else `pid` alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_kernel(pid: int) -> None:
    """Kill a kernel the parent was told about, unless the pid now belongs to something else."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"ipykernel" not in fh.read():
                return
    except OSError:
        return
    kill_tree(pid)


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


def _stop_worker(control: Control, reason: str) -> None:
    """Stop this worker for good: no commit starts after this, the kernel dies, the temp folder goes."""
    control.stopping.set()
    control.commit.acquire()          # a swap in progress finishes first; none starts afterwards
    for pid in children(os.getpid()):
        connection = _connection_file(pid)
        kill_tree(pid)
        if connection:
            with contextlib.suppress(OSError):
                os.unlink(connection)
    if control.tmp_dir is not None:
        shutil.rmtree(control.tmp_dir, ignore_errors=True)
    remove_scratch(control.scratch_dir)
    os._exit(EXIT_STOPPED)


def worker_main(pf_path: str, reports_dir: str, ctrl, msg, file_digests: dict | None = None,
                scratch: str | None = None) -> None:
    """One report in its own process. It stops when the parent says so, or when the parent is gone
    (the control pipe reaches end of file, also after `kill -9` of the parent)."""
    # The terminal's Ctrl-C reaches the whole foreground group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = Control()
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
            kids = children(os.getpid())
            if kids:
                send(("kernels", kids))
                kernel_sent = True
        send(("cell", name, index, total, line))

    skip_iri_grammar()
    if file_digests:
        from ..datasets import remember_file_digests

        remember_file_digests(file_digests)
    try:
        pf = load_parameter_file(pf_path)
        outcome = execute_one(pf, Path(reports_dir), progress, control,
                              log=lambda name, line: send(("log", name, line)),
                              scratch=Path(scratch) if scratch else None)
    except RunStopped:
        _stop_worker(control, "stopped")
    except Exception as exc:  # noqa: BLE001 - reported to the parent as this report's failure
        outcome = RunOutcome(pf_path, "failed", 0.0, f"{type(exc).__name__}: {str(exc)[:300]}")
    send(("outcome", outcome.__dict__))
