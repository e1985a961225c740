"""Exclusive locks between processes: an `flock` on a file, dropped by the kernel when its holder dies,
however it dies, so a stale lock never blocks anyone. Used for a report being written (the runner)
and for the site being built (publish)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class Busy(RuntimeError):
    """Another process holds the lock."""


class FileLock:
    """An exclusive lock on `path`; the holder's pid is written into the file for the message."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def acquire(self, wait: bool = False) -> "FileLock":
        """Take the lock; without `wait`, raise `Busy` when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise Busy(self.holder()) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)     # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire(wait=True)

    def __exit__(self, *exc) -> None:
        self.release()
