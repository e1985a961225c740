"""Progress of long engine work in the run log: which step, rows done (where known), elapsed time.

Messages go to the `crmresearch.engine` logger at INFO, at most one every `every` seconds per
step plus a line when a step ends, so a 100-million-row run shows it is alive without flooding
the log. `step(...)` wraps one named step.

Profiling (for `bench/bench_scale.py`): when the environment names a file in
`CRMRESEARCH_PROFILE_FILE`, every step that ends (and every part wrapped in `profiled`, which
logs nothing) appends one JSON line to it: step, seconds, end time, process id, the process's
peak resident memory so far and the CPU seconds of the step (all threads: the engine's too). Nothing is written otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager

LOGGER = logging.getLogger("crmresearch.engine")
PROFILE_ENV = "CRMRESEARCH_PROFILE_FILE"


def cpu_seconds() -> float:
    """CPU seconds of this process so far, all threads (the engine's included)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profile_record(name: str, seconds: float, kind: str = "engine", cpu_start: float | None = None) -> None:
    """Append one line (step, seconds, end, pid, peak RSS in MiB, CPU seconds of the step) to the profile
    file, when one is named."""
    path = os.environ.get(PROFILE_ENV)
    if not path:
        return
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    line = json.dumps({"step": name, "kind": kind, "seconds": round(seconds, 3), "end": time.time(),
                       "pid": os.getpid(), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                       "cpu_seconds": round(cpu - cpu_start, 2) if cpu_start is not None else None})
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


class Progress:
    """Rows done of one step; logs `step: rows/total (share), elapsed` at most every `every` s."""

    def __init__(self, step: str, total: int | None = None, logger: logging.Logger | None = None,
                 every: float = 10.0):
        self.step, self.total, self.every = step, total, every
        self.logger = logger or LOGGER
        self.rows = 0
        self.start = self._last = time.perf_counter()
        self.cpu_start = cpu_seconds() if os.environ.get(PROFILE_ENV) else None
        self.logger.info("%s: started%s", step, f" ({total:,} rows)" if total else "")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _message(self) -> str:
        done = f"{self.rows:,}" + (f"/{self.total:,} rows ({self.rows / self.total:.0%})" if self.total else " rows")
        return f"{self.step}: {done}, {self.elapsed:.1f} s elapsed"

    def update(self, rows: int = 0) -> None:
        self.rows += int(rows)
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self.logger.info(self._message())

    def done(self, rows: int | None = None) -> float:
        if rows is not None:
            self.rows = int(rows)
        elapsed = self.elapsed
        self.logger.info("%s: done, %s%.1f s", self.step, f"{self.rows:,} rows, " if self.rows else "", elapsed)
        profile_record(self.step, elapsed, cpu_start=self.cpu_start)
        return elapsed


@contextmanager
def step(name: str, rows: int | None = None, logger: logging.Logger | None = None):
    """Log the start and the end (with elapsed seconds) of one engine step."""
    p = Progress(name, total=rows, logger=logger)
    yield p
    p.done(rows)


@contextmanager
def profiled(name: str):
    """Time one part of an analysis for the profile file only (see the module's note); logs nothing."""
    start, cpu = time.perf_counter(), (cpu_seconds() if os.environ.get(PROFILE_ENV) else None)
    yield
    profile_record(name, time.perf_counter() - start, kind="part", cpu_start=cpu)
