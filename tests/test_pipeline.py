"""End to end: run, publish, skip when fresh, keep the last good report when a run fails."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml
from pypdf import PdfReader

from crmresearch import config

from conftest import FAST_PARAMS, run_cli

# The tests on `published_overview` read the session's one run of every fast variant (conftest.py);
# those on `published_site` read the same reports published by each route (Quarto, pandoc + Typst),
# and check what a reader sees, not one route's markup.
# Besides them, only the failed-run guarantee (three short runs of the overview) runs in `make test`;
# a user's own survey end to end is `slow` (make test-all).


class PageParser(HTMLParser):
    """What a reader's browser sees: tags, images, links (with their text), text, and every address
    the page loads (scripts, styles, images, frames, CSS `url()` and `@import`, comments left out)."""

    LOADS = {"img": "src", "script": "src", "iframe": "src", "embed": "src", "source": "src", "video": "src",
             "audio": "src", "link": "href", "object": "data"}

    def __init__(self):
        super().__init__()
        self.tags: dict[str, int] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.link_texts: list[tuple[str, str]] = []
        self.loads: list[str] = []
        self.text: list[str] = []
        self._open_link: list | None = None
        self._style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "img":
            self.images.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
            self._open_link = [a["href"], ""]
        if tag in self.LOADS and a.get(self.LOADS[tag]):
            self.loads.append(a[self.LOADS[tag]])
        if a.get("style"):
            self.loads += css_loads(a["style"])
        self._style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "a" and self._open_link:
            self.link_texts.append((self._open_link[0], " ".join(self._open_link[1].split())))
            self._open_link = None
        self._style = False

    def handle_data(self, data):
        self.text.append(data)
        if self._open_link is not None:
            self._open_link[1] += data
        if self._style:
            self.loads += css_loads(data)


def css_loads(css: str) -> list[str]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return re.findall(r"url\(\s*['\"]?([^'\")]+)", css) + re.findall(r"@import\s+['\"]([^'\"]+)", css)


def network_loads(page: "PageParser") -> list[str]:
    return [url for url in page.loads if re.match(r"(https?:)?//", url.strip())]


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text())
    return parser


def test_site_has_index_with_every_report(published_site):
    site = published_site / "_site"
    index = parse(site / "index.html")
    text = " ".join("".join(index.text).split())
    assert "fast" in text and "HTML" in text and "PDF" in text
    results = json.loads((published_site / "crm_overview/fast/results.json").read_text())
    assert results["finding"] in text
    assert {"crm_overview/fast/report.html", "crm_overview/fast/report.pdf"} <= set(index.links)
    assert all((site / link).exists() for link in index.links if not link.startswith(("#", "http")))


def test_report_page_has_figures_tables_and_no_code(published_site):
    page_path = published_site / "_site/crm_overview/fast/report.html"
    page = parse(page_path)
    assert len(page.images) >= 4 and all((page_path.parent / src).exists() for src in page.images)
    assert page.tags.get("table", 0) >= 4          # loyalty items, behaviour, two provenance tables
    assert page.tags.get("figcaption", 0) >= 4
    html = page_path.read_text()
    # Quarto writes "Figure&nbsp;1:", the pandoc route a non-breaking space character; both read "Figure 1:".
    assert re.search(r"Figure(?:\s|&nbsp;)1:", html) and re.search(r"Table(?:\s|&nbsp;)1:", html)
    assert "import crmresearch" not in html and "crm.report" not in html
    assert "Parameters and provenance" in html and "sha256" in html
    assert network_loads(page) == [], "the page must not load anything from the network"
    text = " ".join("".join(page.text).split())
    assert "Also as PDF · results.json" in text, "the same format links on both routes"
    assert ("report.pdf", "PDF") in page.link_texts and ("results.json", "results.json") in page.link_texts


TOPICS = [p.parent.name for p in FAST_PARAMS]


def _title(reports: Path, topic: str) -> str:
    nb = nbformat.read(reports / topic / "fast" / "report.ipynb", as_version=4)
    return str(yaml.safe_load(nb.cells[0].source.strip().strip("-"))["title"])


@pytest.mark.parametrize("topic", TOPICS)
def test_every_report_page_has_its_figures_and_tables(published_site, topic):
    nb = nbformat.read(published_site / topic / "fast" / "report.ipynb", as_version=4)
    # Figures the executed notebook drew (a few are conditional on the data, e.g. covariate effects).
    figure_cells = sum(c.cell_type == "code" and c.source.startswith("#| label: fig-")
                       and any("image/png" in o.get("data", {}) for o in c.outputs) for c in nb.cells)
    page_path = published_site / "_site" / topic / "fast" / "report.html"
    page = parse(page_path)
    assert figure_cells >= 3 and len(page.images) >= figure_cells
    assert all((page_path.parent / src).exists() for src in page.images)
    assert page.tags.get("table", 0) >= 3 and page.tags.get("figcaption", 0) >= figure_cells
    html = page_path.read_text()
    assert "import crmresearch" not in html and "Parameters and provenance" in html
    assert " ".join(_title(published_site, topic).split()[:3]) in " ".join("".join(page.text).split())


@pytest.mark.parametrize("topic", TOPICS)
def test_every_report_pdf_has_pages_with_its_title(published_site, topic):
    reader = PdfReader(published_site / "_site" / topic / "fast" / "report.pdf")
    first = " ".join(reader.pages[0].extract_text().split())
    assert len(reader.pages) >= 3
    assert " ".join(_title(published_site, topic).split()[:3]) in first
    assert sum(len(p.images) for p in reader.pages) >= 3


def test_pdf_has_pages_with_title(published_site):
    reader = PdfReader(published_site / "_site/crm_overview/fast/report.pdf")
    assert len(reader.pages) >= 3
    first = reader.pages[0].extract_text()
    assert "four CRM degrees" in first
    assert sum(len(p.images) for p in reader.pages) >= 4


def test_results_json_matches_a_direct_computation(published_overview):
    import numpy as np

    from crmresearch import datasets, stats
    from crmresearch.overview.analyse import repeat_purchase

    res = json.loads((published_overview / "crm_overview/fast/results.json").read_text())["results"]
    mobi = datasets.load_mobi()
    nps = stats.net_promoter_score(mobi["CUSL3"])
    assert res["nps"]["nps"] == pytest.approx(nps.nps)
    sat = mobi[["CUSA1", "CUSA2", "CUSA3"]].mean(axis=1)
    satisfied = sat >= 7
    expected = np.mean(mobi.loc[satisfied, "CUSL1"] <= 6)
    assert res["satisfied_would_not_choose_again"]["estimate"] == pytest.approx(expected)
    tx = datasets.load_cdnow("sample")
    revenue = tx.groupby("customer_id")["amount"].sum()
    assert res["top_share_of_revenue"] == pytest.approx(stats.top_share(revenue, 0.2))
    assert res["customers"] == 2357
    assert res["repeat_purchase"]["estimate"] == pytest.approx(
        repeat_purchase(tx, 365).estimate)


def test_second_run_is_skipped_and_force_reruns(published_overview):
    params = config.PARAMS_DIR / "crm_overview" / "fast.yaml"
    again = run_cli("run", params, "--reports-dir", published_overview)
    assert again.returncode == 0 and "up to date" in again.stdout and "0 run" in again.stdout
    everything = run_cli("run", *FAST_PARAMS, "--reports-dir", published_overview)
    assert everything.returncode == 0 and f"0 run, {len(FAST_PARAMS)} up to date" in everything.stdout
    listing = run_cli("list", "--reports-dir", published_overview)
    assert re.search(r"crm_overview/fast\s+params/crm_overview/fast.yaml\s+fresh", listing.stdout), listing.stdout


def test_failed_run_keeps_last_good_report_until_a_success_clears_it(tmp_path):
    """A project copy whose notebook breaks after a good run: exit 1, cell named, old report intact, the
    executed notebook kept in _failed/; once the notebook is fixed, a good run removes that stale copy."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "params" / "crm_overview").mkdir(parents=True)
    shutil.copy(config.NOTEBOOKS_DIR / "00_crm_overview.ipynb", project / "notebooks")
    shutil.copy(config.PARAMS_DIR / "crm_overview" / "fast.yaml", project / "params" / "crm_overview")
    shutil.copy(config.QUARTO_CONFIG, project)
    env = {"CRMRESEARCH_PROJECT_DIR": str(project)}
    reports = tmp_path / "reports"
    first = run_cli("run", "--all", "--reports-dir", reports, env_extra=env)
    assert first.returncode == 0, first.stdout + first.stderr
    good = (reports / "crm_overview/fast/report.ipynb").read_bytes()

    nb_path = project / "notebooks" / "00_crm_overview.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.insert(8, nbformat.v4.new_code_cell('raise RuntimeError("scale mismatch")'))
    nbformat.write(nb, nb_path)
    second = run_cli("run", "--all", "--reports-dir", reports, env_extra=env)
    assert second.returncode == 1
    assert re.search(r"FAIL  crm_overview/fast: cell \d+ \(`raise RuntimeError", second.stderr), second.stderr
    assert "RuntimeError: scale mismatch" in second.stderr
    assert (reports / "crm_overview/fast/report.ipynb").read_bytes() == good
    assert (reports / "_failed/crm_overview/fast/report.ipynb").exists()
    listing = run_cli("list", "--reports-dir", reports, env_extra=env)
    assert re.search(r"crm_overview/fast\s+\S+\s+failed", listing.stdout), listing.stdout

    shutil.copy(config.NOTEBOOKS_DIR / "00_crm_overview.ipynb", project / "notebooks")
    third = run_cli("run", "--all", "--reports-dir", reports, env_extra=env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert not (reports / "_failed").exists(), sorted((reports / "_failed").rglob("*"))
    state = json.loads((reports / "_state/crm_overview/fast.json").read_text())
    assert state["status"] == "ok" and "failed_notebook" not in state and "cell" not in state
    listing = run_cli("list", "--reports-dir", reports, env_extra=env)
    assert re.search(r"crm_overview/fast\s+\S+\s+fresh", listing.stdout), listing.stdout


def test_parameter_cells_are_hidden_in_the_executed_report(published_overview):
    nb = nbformat.read(published_overview / "crm_overview/fast/report.ipynb", as_version=4)
    hidden = [c for c in nb.cells if {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))]
    assert len(hidden) == 2
    assert all(c.source.startswith("#| include: false") and "remove-cell" in c.metadata["tags"] for c in hidden)
    front = yaml.safe_load(nb.cells[0].source.strip().strip("-"))
    assert front["crmresearch"]["variant"] == "fast" and "variant: fast" in front["subtitle"] and front["date"]


@pytest.mark.slow
def test_a_users_own_survey_runs_through_a_parameter_file(tmp_path):
    """Renamed columns, no attribute items, no behaviour: the report still runs and says what it cannot compute."""
    from crmresearch import datasets

    survey = tmp_path / "my_survey.csv"
    mobi = datasets.load_mobi().rename(columns={"respondent_id": "rid", "CUSA1": "s1", "CUSA2": "s2", "CUSA3": "s3",
                                                "CUSL1": "again", "CUSL3": "rec"})
    mobi[["rid", "s1", "s2", "s3", "again", "rec"]].to_csv(survey, index=False)
    params = tmp_path / "own.yaml"
    params.write_text(yaml.safe_dump({"notebook": "01_satisfaction_loyalty", "variant": "own_survey", "parameters": {
        "survey": {"path": str(survey), "id_column": "rid", "satisfaction": ["s1", "s2", "s3"],
                   "loyalty": ["again", "rec"], "repurchase": "again", "recommendation": "rec"},
        "n_null_simulations": 199, "bootstrap_resamples": 50}}))
    reports = tmp_path / "reports"
    result = run_cli("run", params, "--reports-dir", reports)
    assert result.returncode == 0, result.stdout + result.stderr
    res = json.loads((reports / "satisfaction_loyalty/own_survey/results.json").read_text())["results"]
    assert res["respondents"] == 250
    nb = (reports / "satisfaction_loyalty/own_survey/report.ipynb").read_text()
    assert "my_survey.csv" in nb and "Not computed" in nb
    sections = json.loads((reports / "satisfaction_loyalty/own_survey/results.json").read_text())["sections"]
    # no attribute items, no behaviour, no switching cost: said where they would be, nothing simulated instead
    for name in ("attributes", "loyalty_types", "switching_cost", "competitiveness"):
        assert sections[name]["source"] == "not_computed" and sections[name]["note"], name
    assert sections["curve"]["source"] == "data" and sections["curve"]["rows_used"] == 250


def test_a_successful_run_prints_nothing_on_stderr(tmp_path):
    """Errors and warnings go to stderr, progress to stdout: the kernels' own start-up and interrupt
    messages go to a kernel log (kept only with a failed report), so a good run's stderr is empty."""
    run = run_cli("run", config.PARAMS_DIR / "crm_overview" / "fast.yaml", "--reports-dir", tmp_path)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert "done  crm_overview/fast" in run.stdout
    assert not (tmp_path / "crm_overview" / "fast" / "kernel.log").exists()


def test_two_publishes_at_once_both_finish_one_after_the_other(published_overview, tmp_path):
    """A second publish of the same reports folder waits for the first (a lock), instead of both writing
    one build folder; both exit 0 and the site is whole."""
    import os
    import subprocess
    import sys
    import time

    shutil.copytree(published_overview / "crm_overview", tmp_path / "crm_overview")
    env = {**os.environ, "CRMRESEARCH_PROJECT_DIR": str(config.PROJECT_DIR)}
    command = [sys.executable, "-m", "crmresearch", "publish", "--reports-dir", str(tmp_path)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=config.PROJECT_DIR)
    while not (tmp_path / "_state" / "publish.lock").exists() and first.poll() is None:
        time.sleep(0.05)
    second = subprocess.run(command, capture_output=True, text=True, env=env, cwd=config.PROJECT_DIR, timeout=600)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, err + second.stderr
    assert (tmp_path / "_site" / "crm_overview" / "fast" / "report.html").exists()
    assert not (tmp_path / "_site_build").exists()


def test_a_file_edited_during_the_run_leaves_the_report_stale_and_described_as_it_started(tmp_path):
    """The fingerprint, `parameters.yaml` and the provenance checksums are taken when the run starts:
    a parameter file edited while the kernel runs makes the report stale, and the report still shows
    the bytes it ran on."""
    import hashlib
    import subprocess
    import sys

    params = tmp_path / "edited.yaml"
    original = (config.PARAMS_DIR / "crm_overview" / "fast.yaml").read_bytes()
    params.write_bytes(original)
    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "crmresearch", "run", str(params), "--reports-dir", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.PROJECT_DIR)
    for line in proc.stdout:                       # edit the file once the kernel is running
        if "cell 4/" in line:
            params.write_bytes(original + b"# edited while the report ran\n")
            break
    proc.communicate(timeout=600)
    assert proc.returncode == 0
    folder = reports / "crm_overview" / "fast"
    assert (folder / "parameters.yaml").read_bytes() == original
    results = json.loads((folder / "results.json").read_text())
    assert results["provenance"]["parameter_file_sha256"] == hashlib.sha256(original).hexdigest()
    listing = run_cli("list", "--reports-dir", reports)
    assert re.search(r"crm_overview/fast\s+\S+\s+stale", listing.stdout), listing.stdout


def test_a_kernel_that_fails_to_start_is_started_once_more(tmp_path, monkeypatch):
    """A kernel start that fails (as a port taken by another run does) is retried once before the report
    fails; the report then runs as usual."""
    from crmresearch.parameters import load_parameter_file
    from crmresearch.runner import execute

    real = execute.quiet_kernel_manager
    failures = []

    def flaky(log_path):
        base = real(log_path)

        class FirstStartFails(base):
            async def _async_launch_kernel(self, kernel_cmd, **kw):
                if not failures:
                    failures.append(kernel_cmd)
                    raise RuntimeError("Address already in use")
                return await super()._async_launch_kernel(kernel_cmd, **kw)

        return FirstStartFails

    monkeypatch.setattr(execute, "quiet_kernel_manager", flaky)
    lines = []
    pf = load_parameter_file(config.PARAMS_DIR / "crm_overview" / "fast.yaml")
    outcome = execute.execute_one(pf, tmp_path, log=lambda name, line: lines.append(line))
    assert failures and outcome.status == "ok", outcome
    assert any("did not start" in line for line in lines)
    assert (tmp_path / "crm_overview" / "fast" / "results.json").exists()


def test_published_provenance_names_no_local_folder(published_overview):
    """Paths in results.json and on the page are relative to the project (or just a name): no local
    directory of the machine that ran the report is published."""
    for results in published_overview.glob("*/fast/results.json"):
        prov = json.loads(results.read_text())["provenance"]
        paths = [prov["parameter_file"], prov["parameters"].get("params_file")]
        paths += [d["path"] for d in prov["data"].values()]
        assert all(p is None or not Path(p).is_absolute() for p in paths), (results, paths)


def test_a_kernel_that_dies_is_named_with_the_cell_it_was_running(tmp_path):
    """A kernel killed mid-cell (as the out-of-memory killer does): one line naming the cell, exit 1."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "params" / "crm_overview").mkdir(parents=True)
    shutil.copy(config.PARAMS_DIR / "crm_overview" / "fast.yaml", project / "params" / "crm_overview")
    shutil.copy(config.QUARTO_CONFIG, project)
    nb = nbformat.read(config.NOTEBOOKS_DIR / "00_crm_overview.ipynb", as_version=4)
    nb.cells.insert(8, nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
    nbformat.write(nb, project / "notebooks" / "00_crm_overview.ipynb")
    run = run_cli("run", "--all", "--reports-dir", tmp_path / "reports",
                  env_extra={"CRMRESEARCH_PROJECT_DIR": str(project)})
    assert run.returncode == 1
    assert re.search(r"FAIL  crm_overview/fast: cell \d+ \(`import os, signal`\): the kernel died", run.stderr), run.stderr
