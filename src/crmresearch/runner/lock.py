"""The lock per report and what a killed run leaves behind.

A lock per report (`<reports>/_state/<topic>/<variant>.lock`) refuses a second run of the same
report; leftovers of a killed run (temporary folders in `<reports>/_tmp/` and beside the report, a
backup between the two renames of a swap) are removed when the next run of that report starts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..locks import Busy, FileLock
from ..parameters import ParameterFile


class ReportBusy(RuntimeError):
    """Another `crmresearch run` is writing the same report folder."""


class ReportLock(FileLock):
    """An exclusive lock on `<reports>/_state/<topic>/<variant>.lock`, held while a report runs."""

    def __init__(self, reports_dir: Path, pf: ParameterFile):
        super().__init__(reports_dir / "_state" / pf.topic / f"{pf.variant}.lock")

    def acquire(self, wait: bool = False) -> "ReportLock":
        try:
            return super().acquire(wait)
        except Busy as busy:
            raise ReportBusy(f"another crmresearch run (pid {busy}) is writing this report; "
                             "wait for it or stop it") from None


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
