"""Run reports `jobs` at a time, one worker process each, and stop them all on SIGINT/SIGTERM.

What is fresh is skipped; each report to run takes its lock, and a second run of the same report
is refused. SIGINT/SIGTERM to the command stops workers and kernels and raises `RunInterrupted`;
a worker that ends without a result has its kernel and leftovers removed.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..datasets import known_file_digests
from ..parameters import ParameterFile
from .execute import RunOutcome, remove_scratch
from .lock import ReportBusy, ReportLock, clean_tmp, remove_leftovers
from .state import freshness, read_state
from .worker import children, kill_kernel, kill_tree, worker_main


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
    scratch: Path | None = None       # the run's scratch folder (`config.SCRATCH_ENV`), removed here too

    @property
    def name(self) -> str:
        return f"{self.pf.topic}/{self.pf.variant}"


EXPECTED_SECONDS = config.EXPECTED_SECONDS_FILE


def expected_seconds(files: list[ParameterFile], reports_dir: Path) -> dict:
    """How long each report is expected to take: its last run here (the state's `seconds`), else the
    shipped reference run (`expected_seconds.json`, written by bench/bench_suite.py), else the median
    of the others (a report nobody has run yet)."""
    import json
    import statistics

    try:
        shipped = json.loads(EXPECTED_SECONDS.read_text())
    except (OSError, ValueError):
        shipped = {}
    known = {}
    for pf in files:
        seconds = read_state(reports_dir, pf).get("seconds")
        if not isinstance(seconds, (int, float)):
            seconds = shipped.get(f"{pf.topic}/{pf.variant}") if isinstance(shipped, dict) else None
        if isinstance(seconds, (int, float)):
            known[pf.path] = float(seconds)
    fallback = statistics.median(known.values()) if known else 0.0
    return {pf.path: known.get(pf.path, fallback) for pf in files}


def longest_first(files: list[ParameterFile], reports_dir: Path) -> list[ParameterFile]:
    """The reports in decreasing expected time (ties keep their order): with `jobs` workers the longest
    report then starts first instead of last, so the suite ends close to its total work divided by
    `jobs` (longest-processing-time-first scheduling) rather than that plus the longest report."""
    expected = expected_seconds(files, reports_dir)
    return sorted(files, key=lambda pf: -expected[pf.path])


def run_reports(files: list[ParameterFile], reports_dir: Path, jobs: int = 1, force: bool = False,
                out=None) -> list[RunOutcome]:
    """Execute what is not fresh, `jobs` at a time, printing which report and cell is running.

    The longest reports start first (`longest_first`). Each report runs in its own worker process,
    which runs the kernel. SIGINT or SIGTERM stops
    every worker and kernel and raises `RunInterrupted`; a worker whose parent dies (even by
    `kill -9`) stops by itself. Nothing stopped is swapped in or recorded as failed.
    """
    out = sys.stdout if out is None else out
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
    todo = longest_first(todo, reports_dir)
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
                            kill_kernel(pid)
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
    scratch = None
    try:
        for leftover in remove_leftovers(reports_dir, pf):
            print(f"clean {name}: removed {leftover.name} left by an interrupted run", file=out)
        ctrl_recv, ctrl_send = ctx.Pipe(duplex=False)
        msg_recv, msg_send = ctx.Pipe(duplex=False)
        # The engine's spill folder of the run, made here so that it goes even if the worker is killed.
        scratch = Path(tempfile.mkdtemp(prefix="crmresearch-run-"))
        # The digests of the inputs this process read for their freshness go with the worker, which
        # would otherwise read every input again (`datasets.sha256_file`).
        proc = ctx.Process(target=worker_main, args=(str(pf.path), str(reports_dir), ctrl_recv, msg_send,
                                                     known_file_digests(), str(scratch)),
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
        if scratch is not None:
            remove_scratch(scratch)
        raise
    ctrl_recv.close()
    msg_send.close()
    return _Job(pf, lock, proc, ctrl_send, msg_recv, scratch=scratch)


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
    """`done` on the progress stream; a failure on stderr (or on `out` when a caller collects everything
    there), so the terminal's error stream holds exactly the errors."""
    if outcome.status == "ok":
        print(f"done  {outcome.name} in {outcome.seconds:.1f}s", file=out, flush=True)
        return
    err = sys.stderr if out is sys.stdout else out
    print(f"FAIL  {outcome.name}: {outcome.message}", file=err, flush=True)
    if "failed_notebook" in outcome.details:
        print(f"      executed notebook kept at {outcome.details['failed_notebook']}; "
              f"the last good report is untouched", file=err, flush=True)


def _finish(job: _Job) -> None:
    for conn in (job.ctrl, job.msg):
        with contextlib.suppress(OSError):
            conn.close()
    remove_scratch(job.scratch)         # the worker removes it too, unless it was killed
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
            for pid in children(job.proc.pid):
                kill_tree(pid)
            job.proc.kill()
            job.proc.join(2)
        for pid in job.kernels:       # a kernel whose worker died first exits by itself; make sure
            kill_kernel(pid)
        remove_leftovers(reports_dir, job.pf)
        _finish(job)
    running.clear()
