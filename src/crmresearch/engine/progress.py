"""Progress of long engine work in the run log: which step, rows done (where known), elapsed time.

Messages go to the `crmresearch.engine` logger at INFO, at most one every `every` seconds per
step plus a line when a step ends, so a 100-million-row run shows it is alive without flooding
the log. `steps(...)` wraps a sequence of named steps.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

LOGGER = logging.getLogger("crmresearch.engine")


class Progress:
    """Rows done of one step; logs `step: rows/total (share), elapsed` at most every `every` s."""

    def __init__(self, step: str, total: int | None = None, logger: logging.Logger | None = None,
                 every: float = 10.0):
        self.step, self.total, self.every = step, total, every
        self.logger = logger or LOGGER
        self.rows = 0
        self.start = self._last = time.perf_counter()
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
        self.logger.info("%s: done, %s%.1f s", self.step, f"{self.rows:,} rows, " if self.rows else "", self.elapsed)
        return self.elapsed


@contextmanager
def step(name: str, rows: int | None = None, logger: logging.Logger | None = None):
    """Log the start and the end (with elapsed seconds) of one engine step."""
    p = Progress(name, total=rows, logger=logger)
    yield p
    p.done(rows)
