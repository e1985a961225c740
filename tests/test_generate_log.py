"""`generate-log` never deletes what a user made: every argument is checked before anything is touched,
`--overwrite` replaces only a log it wrote itself, and a failed write leaves the previous log as it was.
Each case asserts the exit code, the one line on stderr, and that nothing was lost (checksums)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import run_cli

from crmresearch.engine import generate


def checksums(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_one_line_refusal(run, *expected):
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in run.stderr
    for text in expected:
        assert text in lines[0]


def test_overwrite_refuses_a_folder_it_did_not_write(tmp_path):
    folder = tmp_path / "X"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    before = checksums(tmp_path)
    run = run_cli("generate-log", folder, "--transactions", "1e3", "--overwrite")
    assert_one_line_refusal(run, str(folder), "not a log that generate-log wrote")
    assert checksums(tmp_path) == before


def test_overwrite_refuses_the_current_folder_and_a_foreign_file(tmp_path):
    (tmp_path / "notes.parquet").write_text("not a log")
    before = checksums(tmp_path)
    for target in (tmp_path, tmp_path / "notes.parquet"):
        run = run_cli("generate-log", target, "--plain", "--transactions", "1e3", "--overwrite")
        assert_one_line_refusal(run, "not a log that generate-log wrote")
    assert checksums(tmp_path) == before


def test_bad_arguments_are_refused_before_the_old_log_is_touched(tmp_path):
    log = tmp_path / "log"
    assert run_cli("generate-log", log, "--transactions", "1e3").returncode == 0
    before = checksums(tmp_path)
    run = run_cli("generate-log", log, "--transactions", "1e3", "--overwrite", "--seed", "-1")
    assert_one_line_refusal(run, "seed")
    run = run_cli("generate-log", log, "--transactions", "1e3", "--customers", "1e4", "--overwrite")
    assert_one_line_refusal(run, "customers")
    assert checksums(tmp_path) == before


def test_overwrite_replaces_its_own_log_and_leaves_no_staging_folder(tmp_path):
    log = tmp_path / "log"
    assert run_cli("generate-log", log, "--transactions", "1e3").returncode == 0
    first = checksums(log)
    run = run_cli("generate-log", log, "--transactions", "2e3", "--overwrite")
    assert run.returncode == 0 and checksums(log) != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]
    assert generate.is_generated_log(log)


def test_a_failed_write_leaves_the_previous_log_as_it_was(tmp_path, monkeypatch):
    log = tmp_path / "log.parquet"
    generate.write_log(log, transactions=1000, partition=None)
    before = checksums(tmp_path)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generate, "_write", disk_full)
    with pytest.raises(OSError):
        generate.write_log(log, transactions=2000, partition=None, overwrite=True)
    assert checksums(tmp_path) == before
