"""Shared fixtures: a command-line runner and one executed + published overview report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crmresearch import config


def run_cli(*args, env_extra=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -m crmresearch ...` as a user would, capturing output."""
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "crmresearch", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=config.PROJECT_DIR)


FAST_PARAMS = sorted(config.PARAMS_DIR.glob("*/fast.yaml"))


@pytest.fixture(scope="session")
def published_overview(tmp_path_factory) -> Path:
    """Every notebook's fast variant run (two at a time) and published into a temporary reports folder."""
    reports = tmp_path_factory.mktemp("reports")
    run = run_cli("run", *FAST_PARAMS, "-j", "2", "--reports-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    pub = run_cli("publish", "--reports-dir", reports)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    return reports
