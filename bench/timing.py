"""Shared timing helper for the benchmark scripts (imported as `from timing import best_of`)."""

from __future__ import annotations

import time


def best_of(func, repeats: int):
    """Minimum wall time over `repeats` calls (the least disturbed run) and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result
