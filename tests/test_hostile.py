"""Hostile input and hard stops: one clear line and a documented exit code, nothing lost, nothing left.

Every case checks what the user sees (exit code, one `error:` line, no traceback) and what stays
behind: the last good report byte-identical, no worker or kernel process, no temporary folder,
and `publish` still works. One report (the lifecycle notebook's fast parameters under another
variant name) is executed once for the module and copied where a test needs a reports folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import typing
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

from crmresearch import config
from crmresearch.parameters import SCHEMAS, schema_for

from conftest import run_cli

# Not `slow`: one short run (the `good` fixture) and a few kernels started and stopped; all in `make test`.

TOPIC, VARIANT = "lifecycle_transitions", "h_good"
FAST = config.PARAMS_DIR / TOPIC / "fast.yaml"


def params_file(folder: Path, variant: str = VARIANT, **changes) -> Path:
    doc = yaml.safe_load(FAST.read_text())
    doc["variant"] = variant
    for key, value in changes.items():
        if key in ("notebook", "description"):
            doc[key] = value
        else:
            doc["parameters"][key] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{variant}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """One executed report: its parameter file, reports folder and the bytes of what it wrote."""
    root = tmp_path_factory.mktemp("hostile")
    params = params_file(root / "params")
    reports = root / "reports"
    result = run_cli("run", params, "--reports-dir", reports)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = reports / TOPIC / VARIANT
    return {"params": params, "reports": reports,
            "bytes": {name: (folder / name).read_bytes() for name in ("report.ipynb", "results.json")}}


@pytest.fixture
def reports_copy(good, tmp_path):
    """A private copy of the good reports folder (state and lock included)."""
    copy = tmp_path / "reports"
    shutil.copytree(good["reports"], copy)
    return copy


def assert_one_error(result, code: int, *expected: str) -> str:
    """Exit `code`, no traceback, the first `error:` line short and naming what is expected."""
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors, result.stderr
    assert all(len(ln) < 600 for ln in errors), errors
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    return errors[0]


def processes_of(reports: Path) -> list[int]:
    """Live processes (the CLI's workers and kernels) whose environment names this reports folder."""
    needle = f"CRMRESEARCH_REPORTS_DIR={Path(reports).resolve()}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue                      # a zombie has exited already
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    found.append(int(entry))
        except (OSError, IndexError):
            continue
    return found


def assert_nothing_left(reports: Path, good_bytes: dict, variant: str = VARIANT, wait: float = 10.0):
    deadline = time.monotonic() + wait
    while processes_of(reports) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(reports) == [], "a worker or kernel outlived the run"
    folder = reports / TOPIC / variant
    for name, data in good_bytes.items():
        assert (folder / name).read_bytes() == data, f"{name} changed"
    leftovers = [p for p in (reports / "_tmp").glob("*")] if (reports / "_tmp").exists() else []
    leftovers += [p for p in (reports / TOPIC).iterdir() if p.name.startswith(".")]
    # The run's scratch folder (the engine's spill space) goes too, also when its worker was killed.
    leftovers += [p for p in system_tmp(reports).glob("crmresearch-*")]
    assert leftovers == [], leftovers


def assert_publishes(reports: Path) -> str:
    result = run_cli("publish", "--reports-dir", reports)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return (reports / "_site" / "index.html").read_text()


# ---------------------------------------------------------------- parameter files

BOMB = ("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)))

BAD_PARAMETER_FILES = {
    # name: (file text, words of the error line)
    "alias_bomb": (f"notebook: 02_lifecycle_transitions\nvariant: x\n{BOMB}description: *a9\n",
                   "anchors and aliases"),
    "duplicate_key": ("notebook: 02_lifecycle_transitions\nvariant: x\nvariant: y\n", "duplicate key 'variant'"),
    "notebook_list": ("notebook: [02_lifecycle_transitions]\nvariant: x\n", "field 'notebook'"),
    "notebook_dict": ("notebook: {a: 1}\nvariant: x\n", "field 'notebook'"),
    "description_number": ("notebook: 02_lifecycle_transitions\nvariant: x\ndescription: 12\n",
                           "field 'description': expected one line of text"),
    "nan": ("notebook: 02_lifecycle_transitions\nvariant: x\nparameters: {confidence: .nan}\n",
            "field 'parameters.confidence'"),
    "inf": ("notebook: 02_lifecycle_transitions\nvariant: x\nparameters: {discount_rate: .inf}\n",
            "field 'parameters.discount_rate'"),
    "huge_int": ("notebook: 02_lifecycle_transitions\nvariant: x\nparameters:\n  transactions: null\n"
                 "  simulation: {stable_periods_for_long_lasting: 1000000000000}\n",
                 "field 'parameters.simulation.stable_periods_for_long_lasting'"),
    "huge_seed": ("notebook: 02_lifecycle_transitions\nvariant: x\nparameters: {seed: 1099511627776}\n",
                  "field 'parameters.seed'"),
    "nan_in_list": ("notebook: 02_lifecycle_transitions\nvariant: x\nparameters:\n  transactions: null\n"
                    "  simulation: {stage_rewards: [.nan, 1, 2, 3, 0]}\n", "stage_rewards"),
    "python_tag": ("notebook: !!python/object/apply:os.system [echo hi]\nvariant: x\n", "not valid YAML"),
    "oversized": ("notebook: 02_lifecycle_transitions\nvariant: x\ndescription: " + "x" * 70_000 + "\n",
                  "larger than 64 KiB"),
    "long_value": ("notebook: 02_lifecycle_transitions\nvariant: x\nparameters: {n_boot: '" + "9" * 5000 + "'}\n",
                   "field 'parameters.n_boot'"),
    "deep": ("notebook: " + "[" * 5000 + "\n", "not valid YAML"),
    "latin1": (b"notebook: 02_lifecycle_transitions\nvariant: x\ndescription: caf\xe9\n", "UTF-8"),
    # Names a user gives reach prose, captions and figures: markup in them is refused up front.
    "markup_in_a_name": ("notebook: 03_customer_lifetime_value\nvariant: x\nparameters:\n"
                         "  tier_names: ['<img src=x onerror=alert(1)>', b, c]\n",
                         "field 'parameters.tier_names.0': expected plain text"),
    "markup_in_a_column": ("notebook: 02_lifecycle_transitions\nvariant: x\nparameters:\n"
                           "  transactions: {dataset: cdnow_sample, customer_column: '[x](javascript:alert(1))'}\n",
                           "field 'parameters.transactions.customer_column': expected plain text"),
}


def test_bad_parameter_files_each_get_one_line_and_exit_2(tmp_path):
    paths = {}
    for name, (text, _) in BAD_PARAMETER_FILES.items():
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        paths[name] = path
    started = time.monotonic()
    result = run_cli("validate", *paths.values(), timeout=120)
    assert time.monotonic() - started < 60, "validation must not hang on an expansion bomb"
    assert_one_error(result, 2)
    lines = result.stderr.splitlines()
    for name, (_, expected) in BAD_PARAMETER_FILES.items():
        mine = [ln for ln in lines if ln.startswith(f"error: {paths[name]}:")]
        assert mine and expected in mine[0], (name, mine)
        assert all(len(ln) < 400 for ln in mine), (name, "an error echoes unbounded input")
    assert "9" * 100 not in result.stderr and "x" * 100 not in result.stderr


@pytest.mark.parametrize("name", BAD_PARAMETER_FILES)
def test_a_notebook_given_a_bad_parameter_file_refuses_it_in_one_line(tmp_path, name):
    """`params_file = ...` in a notebook's parameters cell (JupyterLab) goes through the same checks."""
    from crmresearch.parameters import ParameterFileError, from_namespace

    text, expected = BAD_PARAMETER_FILES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.monotonic()
    with pytest.raises(ParameterFileError) as info:
        from_namespace("02_lifecycle_transitions", {"variant": None, "output_dir": None,
                                                    "params_file": str(path), "overrides": {}})
    assert time.monotonic() - started < 30, "must not hang on an expansion bomb"
    lines = str(info.value).splitlines()
    assert expected in lines[0] and all(str(path) in ln and len(ln) < 400 for ln in lines), lines


def test_one_bad_file_in_params_does_not_stop_list_and_stops_run_all(tmp_path, good):
    project = tmp_path / "project"
    env = small_project(project, good["params"])
    (project / "params" / TOPIC / "bomb.yaml").write_text(BAD_PARAMETER_FILES["alias_bomb"][0])
    (project / "params" / TOPIC / "listy.yaml").write_text(BAD_PARAMETER_FILES["notebook_list"][0])
    listing = run_cli("list", "--reports-dir", tmp_path / "reports", env_extra=env)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert f"{TOPIC}/{VARIANT}" in listing.stdout and listing.stdout.count("invalid") == 2, listing.stdout
    run = run_cli("run", "--all", "--reports-dir", tmp_path / "reports", env_extra=env)
    assert_one_error(run, 2, "bomb.yaml", "listy.yaml", "nothing was run")
    assert not (tmp_path / "reports" / TOPIC).exists()


# ---------------------------------------------------------------- data files

def data_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    header = "customer_id,date,amount\n"
    rows = "".join(f"c{i % 7},1997{1 + i % 12:02d}15,{10 + i}\n" for i in range(40))
    cases = {}

    def case(name, expected, text=None, make=None):
        path = folder / f"{name}.csv"
        if make:
            make(path)
        else:
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
        cases[name] = (path, expected)

    case("empty", "the file is empty", "")
    case("latin1", "UTF-8", (header + "caf\xe9,19970101,10\n").encode("latin-1") + rows.encode())
    case("directory", "a regular data file", make=lambda p: p.mkdir())
    case("binary", "expected", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    case("etc_passwd", "a link to passwd", make=lambda p: p.symlink_to("/etc/passwd"))
    case("fifo", "a regular data file", make=lambda p: os.mkfifo(p))
    case("header_only", "at least 10 data rows (found 0)", header)
    case("one_row", "at least 10 data rows (found 1)", header + "c1,19970115,10\n")
    case("ragged", "same number of fields", header + rows + "c1,19970115,10,extra,fields\n")
    link_target = folder / "real.txt.bak"
    link_target.write_text(header + rows)
    case("link_to_other_suffix", "a link to real.txt.bak", make=lambda p: p.symlink_to(link_target))
    return cases


def test_bad_data_files_each_get_one_line_and_exit_2(tmp_path):
    cases = data_cases(tmp_path / "data")
    files = {name: params_file(tmp_path / "params", variant=name.replace("_", "-"),
                               transactions={"path": str(path)})
             for name, (path, _) in cases.items()}
    result = run_cli("validate", *files.values(), timeout=120)
    assert_one_error(result, 2)
    lines = result.stderr.splitlines()
    for name, (path, expected) in cases.items():
        mine = [ln for ln in lines if ln.startswith(f"error: {files[name]}:")]
        assert mine and expected in mine[0] and "parameters.transactions" in mine[0], (name, mine)
    assert "root:" not in result.stderr and "IHDR" not in result.stderr, "an error quoted a file's contents"
    assert not (tmp_path / "reports").exists()


def test_a_constant_survey_item_is_refused_before_any_kernel(tmp_path):
    from crmresearch import datasets

    survey = datasets.load_mobi().drop(columns="respondent_id")
    survey["CUSA1"] = 7
    path = tmp_path / "constant.csv"
    survey.to_csv(path, index=False)
    params = tmp_path / "constant.yaml"
    params.write_text(yaml.safe_dump({"notebook": "01_satisfaction_loyalty", "variant": "constant",
                                      "parameters": {"survey": {"path": str(path)}}}))
    result = run_cli("run", params, "--reports-dir", tmp_path / "reports")
    assert_one_error(result, 2, str(path), "CUSA1")
    assert not (tmp_path / "reports" / "satisfaction_loyalty").exists()


def test_a_data_file_inside_a_nested_block_is_checked_before_any_kernel(tmp_path):
    """Sources nested in a block (the bridge's survey) are loaded and checked like top-level ones."""
    from crmresearch import datasets

    survey = datasets.load_mobi().drop(columns="respondent_id")
    survey.loc[4, "CUSA2"] = 42
    path = tmp_path / "bridge_survey.csv"
    survey.to_csv(path, index=False)
    params = tmp_path / "bridge.yaml"
    params.write_text(yaml.safe_dump({"notebook": "04_satisfaction_to_value", "variant": "nested",
                                      "parameters": {"simulate": None, "bridge": {"survey": {"path": str(path)}}}}))
    result = run_cli("run", params, "--reports-dir", tmp_path / "reports")
    assert_one_error(result, 2, "parameters.bridge.survey.path", "CUSA2")
    assert not (tmp_path / "reports" / "satisfaction_to_value").exists()


# ---------------------------------------------------------------- the page

HOSTILE = '<img src=x onerror=alert(document.domain)> | [click](javascript:alert(1)) <script>alert(2)</script>\n' \
          '| broken | row | *bold* $x$ @fig-x <a href="javascript:alert(3)">a</a> javascript:alert(4) &amp;' \
          ' {{< include /etc/passwd >}} {{< env HOME >}} ```code``` <!-- comment'


class Tags(HTMLParser):
    """Elements, attribute names, addresses and script text of a page (the site's own scripts included:
    the Quarto route has some, so tests look for what the hostile text would have made)."""

    def __init__(self):
        super().__init__()
        self.tags, self.hrefs, self.attrs, self.script = [], [], [], ""
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]
        self.hrefs += [value or "" for name, value in attrs if name in ("href", "src")]
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script += data


def test_hostile_text_reaches_the_index_as_inert_text(reports_copy):
    src = reports_copy / TOPIC / VARIANT
    evil = reports_copy / TOPIC / "evil"
    shutil.copytree(src, evil)
    nb = nbformat.read(evil / "report.ipynb", as_version=4)
    meta = yaml.safe_load(nb.cells[0].source.strip().strip("-"))
    meta["crmresearch"]["description"] = HOSTILE      # from the parameter file; the title is the notebook's
    nb.cells[0].source = "---\n" + yaml.safe_dump(meta) + "---"
    nbformat.write(nb, evil / "report.ipynb")
    results = json.loads((evil / "results.json").read_text())
    results["finding"] = HOSTILE
    (evil / "results.json").write_text(json.dumps(results))

    from crmresearch import publish

    qmd = publish.index_markdown(publish.collect_reports(reports_copy), publish.load_site_config())
    assert "<img" not in qmd and "<script" not in qmd and "<a " not in qmd and "](javascript" not in qmd
    assert "{{<" not in qmd and "<!--" not in qmd, "Quarto shortcodes and comments stay text"
    html = assert_publishes(reports_copy)
    body = html[html.index("<body"):]
    parser = Tags()
    parser.feed(body)
    assert not {"img", "iframe", "object"} & set(parser.tags) and "alert" not in parser.script
    assert "x" not in parser.hrefs, "no element from the hostile text's <img src=x>"
    assert "onerror" not in parser.attrs, "no event handler from the hostile text (Quarto's navbar has its own onclick)"
    assert not [h for h in parser.hrefs if "javascript" in h.lower()]
    for variant in (VARIANT, "evil"):      # every row keeps its links
        assert f'href="{TOPIC}/{variant}/report.html"' in body and f'href="{TOPIC}/{variant}/report.pdf"' in body
    assert "onerror=alert(document.domain)" in body.replace("&lt;", "<"), "the text itself is shown"


def test_table_cells_from_users_data_are_inert():
    import pandas as pd

    from crmresearch.report import markdown_table

    import pypandoc

    table = markdown_table(pd.DataFrame({"segment": ["<img src=x onerror=alert(1)>", "a|b", "[x](javascript:y)"],
                                         "n": [1, 2, 3]}))
    html = pypandoc.convert_text(table, "html", format="markdown")
    parser = Tags()
    parser.feed(html)
    assert not {"img", "a", "script"} & set(parser.tags), html
    assert html.count("<tr") == 4 and "a|b" in html and "[x](javascript:y)" in html


# ---------------------------------------------------------------- incomplete and torn reports

def test_publish_skips_incomplete_reports_and_leftovers(reports_copy, good):
    topic = reports_copy / TOPIC
    (topic / ".h_good-abc123").mkdir()
    (topic / ".h_good-abc123" / "report.ipynb").write_bytes(b"")        # killed while papermill wrote
    (reports_copy / "_tmp" / "x.y.123").mkdir(parents=True)
    (reports_copy / "_tmp" / "x.y.123" / "report.ipynb").write_bytes(b"")
    (topic / "torn").mkdir()
    (topic / "torn" / "report.ipynb").write_bytes(b'{"cells": [')
    (topic / "torn" / "results.json").write_text("{}")
    shutil.copytree(topic / VARIANT, topic / "no_results")
    (topic / "no_results" / "results.json").unlink()
    result = run_cli("publish", "--reports-dir", reports_copy)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert "skip  lifecycle_transitions/torn" in result.stdout
    assert "skip  lifecycle_transitions/no_results: no results.json" in result.stdout
    index = (reports_copy / "_site" / "index.html").read_text()
    assert f"{TOPIC}/{VARIANT}/report.html" in index
    assert not any(name in index for name in ("torn/", "no_results/", "abc123", "x.y.123"))


def small_project(folder: Path, *params: Path) -> dict:
    """A project with the lifecycle notebook and only `params` (so `list` checks little)."""
    (folder / "notebooks").mkdir(parents=True)
    shutil.copy(config.NOTEBOOKS_DIR / "02_lifecycle_transitions.ipynb", folder / "notebooks")
    (folder / "params" / TOPIC).mkdir(parents=True)
    for path in params:
        shutil.copy(path, folder / "params" / TOPIC)
    return {"CRMRESEARCH_PROJECT_DIR": str(folder)}


def test_torn_state_and_missing_results_are_not_fresh(reports_copy, good, tmp_path):
    from crmresearch.parameters import load_parameter_file
    from crmresearch.runner import freshness

    state = reports_copy / "_state" / TOPIC / f"{VARIANT}.json"
    state.write_text('{"status": "ok", "finger')
    env = small_project(tmp_path / "project", good["params"])
    listing = run_cli("list", "--reports-dir", reports_copy, env_extra=env)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert f"{TOPIC}/{VARIANT}" in listing.stdout and "missing" in listing.stdout, listing.stdout
    pf = load_parameter_file(good["params"])
    assert freshness(reports_copy, pf) == "missing"
    shutil.copy(good["reports"] / "_state" / TOPIC / f"{VARIANT}.json", state)
    assert freshness(reports_copy, pf) in ("fresh", "stale")    # stale when the package changed since
    (reports_copy / TOPIC / VARIANT / "results.json").unlink()
    assert freshness(reports_copy, pf) == "missing"


# ---------------------------------------------------------------- folders, locks, owners

def test_a_reports_folder_that_cannot_be_written_is_one_line(tmp_path, good):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run_cli("run", good["params"], "--reports-dir", blocker / "reports")
    assert_one_error(result, 2, "not writable")
    debug = run_cli("--debug", "run", good["params"], "--reports-dir", blocker / "reports")
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    if os.geteuid() != 0:                      # root writes anywhere; the file case covers it
        ro = tmp_path / "read_only"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            assert_one_error(run_cli("run", good["params"], "--reports-dir", ro), 2, "not writable")
        finally:
            ro.chmod(0o755)


def test_publish_into_an_unwritable_folder_is_one_line(reports_copy):
    (reports_copy / "_publish").write_text("")      # publish must make its staging folder here
    result = run_cli("publish", "--reports-dir", reports_copy)
    assert_one_error(result, 1, "publish could not write")


def test_a_second_run_on_the_same_report_is_refused(reports_copy, good):
    lock = reports_copy / "_state" / TOPIC / f"{VARIANT}.lock"
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_cli("run", good["params"], "--force", "--reports-dir", reports_copy)
    assert result.returncode == 1 and "another crmresearch run" in result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_left(reports_copy, good["bytes"])


def test_two_parameter_files_for_one_report_folder_are_refused(reports_copy, good, tmp_path):
    twin = params_file(tmp_path / "elsewhere")          # same notebook and variant, another file
    result = run_cli("run", twin, "--force", "--reports-dir", reports_copy)
    assert_one_error(result, 2, str(twin), "holds the report of", str(good["params"]))
    assert_nothing_left(reports_copy, good["bytes"])


# ---------------------------------------------------------------- hard stops

def system_tmp(reports: Path) -> Path:
    """The temporary space a run started by `start_run` gets (its TMPDIR), to see what it leaves there."""
    folder = reports.parent / f"{reports.name}_system_tmp"
    folder.mkdir(exist_ok=True)
    return folder


def start_run(params: Path, reports: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(system_tmp(reports))}
    return subprocess.Popen([sys.executable, "-m", "crmresearch", "run", str(params), "--force",
                             "--reports-dir", str(reports)], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            env=env, cwd=config.PROJECT_DIR)


def wait_for_kernel(proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until the kernel executes cells (the CLI prints `cell n/N`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ": cell 3/" in log.read_text():
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError("the kernel never started: " + log.read_text())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_stopping_the_cli_stops_workers_and_kernels_and_keeps_the_report(reports_copy, good, tmp_path, sig):
    # Leftovers of an earlier killed run are cleaned at start-up.
    (reports_copy / "_tmp" / f"{TOPIC}.{VARIANT}.old1").mkdir(parents=True)
    (reports_copy / TOPIC / f".{VARIANT}-old2").mkdir()
    log = tmp_path / "run.log"
    proc = start_run(good["params"], reports_copy, log)
    try:
        wait_for_kernel(proc, log)
        assert processes_of(reports_copy), "expected a worker and a kernel while cells run"
        os.kill(proc.pid, sig)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    assert "Traceback" not in out, out
    assert "removed" in out and f"{VARIANT}.old1" in out
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 1 and f"error: interrupted by {signal.Signals(sig).name}" in out, out
    assert_nothing_left(reports_copy, good["bytes"])
    assert "done " not in out
    state = json.loads((reports_copy / "_state" / TOPIC / f"{VARIANT}.json").read_text())
    assert state["status"] == "ok", "a stopped run is not recorded as a failure"
    if sig == signal.SIGKILL:
        assert_publishes(reports_copy)


# ---------------------------------------------------------------- every numeric field is bounded

def numeric_leaves(model, prefix=""):
    """(dotted name, lower bound, upper bound) of every int/float a schema accepts, nested models included."""
    from annotated_types import Ge, Gt, Le, Lt
    from pydantic import BaseModel

    def bounds(metadata):
        low = next((m for m in metadata if isinstance(m, (Ge, Gt))), None)
        high = next((m for m in metadata if isinstance(m, (Le, Lt))), None)
        return low, high

    def walk(tp, metadata, name, seen):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(tp)
            meta = [*metadata]
            for item in extra:
                meta += getattr(item, "metadata", [item])
            yield from walk(base, meta, name, seen)
        elif tp in (int, float):
            yield (name, *bounds(metadata))
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp not in seen:
                yield from leaves(tp, f"{name}.", seen | {tp})
        elif origin in (list, tuple, set, frozenset):
            for arg in typing.get_args(tp):
                if arg is not Ellipsis:
                    yield from walk(arg, [], f"{name}[]", seen)
        elif origin is dict:
            yield from walk(typing.get_args(tp)[1], [], f"{name}{{}}", seen)
        elif origin is not None:          # Union, Optional, Literal
            for arg in typing.get_args(tp):
                if arg is not type(None) and typing.get_origin(arg) is not typing.Literal:
                    yield from walk(arg, metadata, name, seen)

    def leaves(cls, pre, seen):
        for fname, info in cls.model_fields.items():
            yield from walk(info.annotation, list(info.metadata), f"{pre}{fname}", seen)

    yield from leaves(model, prefix, {model})


# Fields allowed to lack a bound (none today). Keep it exact: a field bounded since it was listed
# fails the test too, so the set always says exactly what is missing.
KNOWN_UNBOUNDED: set[str] = set()
# Models with float fields that do not set allow_inf_nan=False (none today; same convention).
KNOWN_LAX: set[str] = set()


def test_every_numeric_parameter_has_lower_and_upper_bounds():
    missing = set()
    for notebook in SCHEMAS:
        for name, low, high in numeric_leaves(schema_for(notebook)):
            if low is None or high is None:
                missing.add(f"{notebook}:{name}")
    assert missing == KNOWN_UNBOUNDED, f"unbounded: {sorted(missing - KNOWN_UNBOUNDED)}; " \
                                       f"now bounded: {sorted(KNOWN_UNBOUNDED - missing)}"


def test_nan_and_inf_are_refused_in_every_model():
    from pydantic import BaseModel

    def models(cls, seen):
        yield cls
        for info in cls.model_fields.values():
            for tp in _types_in(info.annotation):
                if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen:
                    seen.add(tp)
                    yield from models(tp, seen)

    lax = sorted({m.__name__ for nb in SCHEMAS for m in models(schema_for(nb), set())
                  if m.model_config.get("allow_inf_nan", True) and _has_float(m)})
    assert set(lax) == KNOWN_LAX, f"models accepting NaN/inf: {sorted(set(lax) - KNOWN_LAX)}; " \
                                  f"now strict: {sorted(KNOWN_LAX - set(lax))}"


def _types_in(tp):
    yield tp
    for arg in typing.get_args(tp):
        yield from _types_in(arg)


def _has_float(model) -> bool:
    return any(t is float for info in model.model_fields.values() for t in _types_in(info.annotation))


def test_a_killed_worker_fails_its_report_and_leaves_nothing(reports_copy, good, tmp_path):
    log = tmp_path / "run.log"
    proc = start_run(good["params"], reports_copy, log)
    try:
        wait_for_kernel(proc, log)
        workers = [pid for pid in processes_of(reports_copy)
                   if _parent(pid) == proc.pid and b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 1
        os.kill(workers[0], signal.SIGKILL)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    assert code == 1 and "worker process ended without a result" in out and "Traceback" not in out, out
    assert_nothing_left(reports_copy, good["bytes"])


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("folder, expected", [
    ("/etc/passwd", "this is a file"),
    ("/nonexistent/deep/spill", "its parent does not exist"),
])
def test_engine_temp_directory_is_checked_before_any_kernel(tmp_path, folder, expected):
    """The spill folder must be a folder, existing or new inside an existing one: never a file, never a
    chain of folders created anywhere; one line, exit 2, nothing created."""
    params = tmp_path / "td.yaml"
    params.write_text("notebook: 03_customer_lifetime_value\nvariant: td\nparameters:\n"
                      "  transactions: {dataset: cdnow_sample}\n"
                      f"  engine: {{backend: duckdb, temp_directory: {folder}}}\n")
    run = run_cli("validate", params)
    assert run.returncode == 2 and "parameters.engine.temp_directory" in run.stderr and expected in run.stderr
    assert "Traceback" not in run.stderr and not Path("/nonexistent").exists()


@pytest.mark.parametrize("args, expected", [
    (("run", "--bogus"), "unrecognized arguments: --bogus"),
    (("generate-log",), "required: path"),
    (("frob",), "invalid choice: 'frob'"),
])
def test_command_line_mistakes_are_one_line(args, expected):
    run = run_cli(*args)
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], run.stderr


def test_every_bad_value_of_a_column_is_reported_at_once(tmp_path):
    """A text column mixing a non-number and an out-of-scale answer, and a log's amount column with text
    and a negative value: each problem named with its rows, in one error, no crash."""
    from crmresearch import datasets

    survey = tmp_path / "survey.csv"
    survey.write_text("id,s1,s2\n1,5,abc\n2,5,4\n3,5,12\n")
    with pytest.raises(datasets.DataValidationError) as err:
        datasets.load_survey_columns(survey, {"s1": (1, 7, []), "s2": (1, 7, [])}, "id")
    assert "1 non-numeric value (rows 1)" in str(err.value) and "1 value outside the scale (rows 3)" in str(err.value)
    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\na,2020-01-01,5\nb,2020-01-02,-5\nc,2020-01-03,abc\n")
    with pytest.raises(datasets.DataValidationError) as err:
        datasets.load_transactions(log, "customer_id", "date", "amount")
    assert "non-numeric value (rows 3)" in str(err.value) and "out of range (rows 2)" in str(err.value)


@pytest.mark.parametrize("text", ["NA", "n/a", "null", "NaN", "#N/A"])
def test_only_blanks_and_declared_codes_are_missing(tmp_path, text):
    """pandas' default NA strings are not silently missing: they are reported as non-numeric answers."""
    from crmresearch import datasets

    survey = tmp_path / "survey.csv"
    survey.write_text(f"id,s1\n1,5\n2,{text}\n3,\n")
    with pytest.raises(datasets.DataValidationError, match=r"1 non-numeric value \(rows 2\)"):
        datasets.load_survey_columns(survey, {"s1": (1, 7, [])}, "id")


@pytest.mark.parametrize("where, text", [
    ("description", "Quarterly \u202eregnif\u202c report"),
    ("name", "tier\u2066one"),
])
def test_bidi_and_control_characters_are_refused(tmp_path, where, text):
    """A bidi override could make a page show a name in another order than it is stored: refused, one line."""
    params = tmp_path / "bidi.yaml"
    if where == "description":
        params.write_text(f"notebook: 00_crm_overview\nvariant: bidi\ndescription: \"{text}\"\nparameters: {{}}\n",
                          encoding="utf-8")
    else:
        params.write_text("notebook: 05_contractual_retention\nvariant: bidi\nparameters:\n"
                          f"  programme: {{tier: \"{text}\"}}\n", encoding="utf-8")
    run = run_cli("validate", params)
    assert run.returncode == 2 and ("bidi" in run.stderr), run.stderr
    assert "Traceback" not in run.stderr


def test_spark_settings_are_resource_and_tuning_settings_only(tmp_path):
    """A parameter file may size Spark, never pass JVM options or jars (code the file would name)."""
    from crmresearch.parameters.engine import EngineSettings

    assert EngineSettings(backend="pyspark", spark_config={"spark.executor.memory": "4g"}).spark_config
    for key in ("spark.driver.extraJavaOptions", "spark.jars", "spark.executor.extraClassPath", "spark.pyspark.python"):
        with pytest.raises(ValueError, match="resource and tuning settings only"):
            EngineSettings(backend="pyspark", spark_config={key: "x"})


def test_a_data_file_too_large_for_memory_is_refused_with_the_engine_suggested(tmp_path):
    """A 2 GB sparse CSV given as a log: refused at once (no read), one line naming the limit and the engine."""
    big = tmp_path / "log.csv"
    with open(big, "wb") as fh:
        fh.truncate(2 * 2**30)
    params = tmp_path / "big.yaml"
    params.write_text("notebook: 03_customer_lifetime_value\nvariant: big\nparameters:\n"
                      f"  transactions: {{path: {big}, customer_column: c, date_column: d, amount_column: a}}\n"
                      "  cohort_start: 2020-01-01\n  calibration_end: 2020-06-30\n  holdout_end: 2020-12-31\n")
    run = run_cli("validate", params, timeout=60)
    assert run.returncode == 2 and "in-memory path" in run.stderr and "engine" in run.stderr, run.stderr


def test_a_wrong_typed_parquet_log_is_one_line_without_library_warnings(tmp_path):
    """Dates stored as numbers in a Parquet log: the rows are named, and pandas' format-guessing warning
    does not reach the terminal."""
    import pandas as pd

    log = tmp_path / "log.parquet"
    pd.DataFrame({"customer_id": ["a", "b"], "date": [1, 2], "amount": [3.0, 4.0]}).to_parquet(log)
    params = tmp_path / "wt.yaml"
    params.write_text("notebook: 03_customer_lifetime_value\nvariant: wt\nparameters:\n"
                      f"  transactions: {{path: {log}, customer_column: customer_id, date_column: date, "
                      "amount_column: amount}\n  cohort_start: 2020-01-01\n  calibration_end: 2020-06-30\n"
                      "  holdout_end: 2020-12-31\n")
    run = run_cli("validate", params)
    assert run.returncode == 2 and "column 'date': expected dates (rows 1, 2)" in run.stderr
    assert "Warning" not in run.stderr and "Traceback" not in run.stderr
