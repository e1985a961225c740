"""The runner starts the longest reports first: timings of the last run here, else the shipped ones."""

from __future__ import annotations

import json

from conftest import project_parameter_files

from crmresearch.parameters import load_parameter_file
from crmresearch.runner import schedule
from crmresearch.runner.state import state_path


def shipped_files():
    return [load_parameter_file(p) for p in project_parameter_files("*/fast.yaml")]


def names(files):
    return [f"{pf.topic}/{pf.variant}" for pf in files]


def test_last_run_timings_order_the_queue_longest_first(tmp_path):
    files = shipped_files()
    for seconds, pf in enumerate(files):           # the later a file comes, the longer its last run
        path = state_path(tmp_path, pf)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"status": "ok", "seconds": float(seconds)}))
    assert names(schedule.longest_first(files, tmp_path)) == names(files)[::-1]


def test_without_timings_the_shipped_ones_order_the_queue(tmp_path, monkeypatch):
    files = shipped_files()
    shipped = {name: float(i) for i, name in enumerate(names(files))}
    expected = tmp_path / "expected_seconds.json"
    expected.write_text(json.dumps(shipped))
    monkeypatch.setattr(schedule, "EXPECTED_SECONDS", expected)
    assert names(schedule.longest_first(files, tmp_path / "reports")) == names(files)[::-1]


def test_a_report_nobody_has_timed_counts_as_the_median_and_ties_keep_their_order(tmp_path, monkeypatch):
    files = shipped_files()[:3]
    monkeypatch.setattr(schedule, "EXPECTED_SECONDS", tmp_path / "missing.json")
    assert names(schedule.longest_first(files, tmp_path)) == names(files)
    a, b, c = names(files)
    expected = tmp_path / "expected_seconds.json"
    expected.write_text(json.dumps({a: 10.0, c: 30.0}))     # b unknown: the median, 20 s
    monkeypatch.setattr(schedule, "EXPECTED_SECONDS", expected)
    assert names(schedule.longest_first(files, tmp_path)) == [c, b, a]


def test_the_shipped_timings_name_shipped_reports():
    shipped = json.loads(schedule.EXPECTED_SECONDS.read_text())
    known = {f"{p.parent.name}/{load_parameter_file(p).variant}" for p in project_parameter_files()}
    assert set(shipped) <= known and all(v > 0 for v in shipped.values())
