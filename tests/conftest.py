"""Shared fixtures: a command-line runner and one executed + published overview report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from crmresearch import config


def run_cli(*args, env_extra=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -m crmresearch ...` as a user would, capturing output."""
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "crmresearch", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=config.PROJECT_DIR)


def project_parameter_files(pattern: str = "*/*.yaml", on_demand: bool = False) -> list[Path]:
    """The project's own parameter files in `params/` whose path below it matches `pattern`.

    In a git checkout these are the files git tracks, so a researcher's own file put beside them
    (its data file git-ignored, perhaps absent) is not run by the tests; elsewhere every file the
    glob finds. As with `crmresearch run --all`, `params/on_demand/` is left out unless `on_demand`.
    """
    root = config.PARAMS_DIR.resolve()
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True,
                                timeout=30)    # paths relative to params/
        tracked = [root / name for name in listed.stdout.split("\0") if name] if listed.returncode == 0 else []
    except (OSError, subprocess.SubprocessError):
        tracked = []
    found = [p.resolve() for p in tracked if p.is_file()] if tracked else root.glob(pattern)
    files = []
    for path in found:
        relative = PurePosixPath(path.resolve().relative_to(root).as_posix())
        if (len(relative.parts) == len(PurePosixPath(pattern).parts) and relative.match(pattern)
                and (relative.parts[0] == "on_demand") == on_demand):
            files.append(path)
    return sorted(files)


FAST_PARAMS = project_parameter_files("*/fast.yaml")


@pytest.fixture(scope="session")
def published_overview(tmp_path_factory) -> Path:
    """Every notebook's fast variant run (two at a time) and published into a temporary reports folder."""
    reports = tmp_path_factory.mktemp("reports")
    run = run_cli("run", *FAST_PARAMS, "-j", "2", "--reports-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    pub = run_cli("publish", "--reports-dir", reports)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    return reports


# The two publishing routes. `published_overview` is published by the route `publish` picks itself
# (Quarto when a `quarto` executable is on PATH); `published_site` gives the same executed reports
# published by each route in turn, so the publishing tests run once per available route.
ENGINES = ("quarto", "pandoc")
NO_QUARTO = "no `quarto` executable on PATH: the Quarto route is not tested (README: Tests)"


def default_engine() -> str:
    return "quarto" if shutil.which("quarto") else "pandoc"


def skip_unless_engine(engine: str) -> None:
    if engine == "quarto" and not shutil.which("quarto"):
        pytest.skip(NO_QUARTO)


def copy_reports(source: Path, target: Path) -> Path:
    """The executed reports of `source` (not its site, state or staging folders) into `target`."""
    for folder in source.iterdir():
        if folder.is_dir() and not folder.name.startswith(("_", ".")):
            shutil.copytree(folder, target / folder.name)
    return target


def _published_by(engine: str, published_overview: Path, tmp_path_factory) -> Path:
    skip_unless_engine(engine)
    if engine == default_engine():
        return published_overview
    reports = copy_reports(published_overview, tmp_path_factory.mktemp(f"reports_{engine}"))
    pub = run_cli("publish", "--engine", engine, "--reports-dir", reports)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    return reports


@pytest.fixture(scope="session")
def published_site_quarto(published_overview, tmp_path_factory) -> Path:
    return _published_by("quarto", published_overview, tmp_path_factory)


@pytest.fixture(scope="session")
def published_site_pandoc(published_overview, tmp_path_factory) -> Path:
    return _published_by("pandoc", published_overview, tmp_path_factory)


@pytest.fixture(scope="session", params=ENGINES)
def published_site(request) -> Path:
    """The session's fast reports published by one route (the reports folder; its site in `_site`)."""
    return request.getfixturevalue(f"published_site_{request.param}")
