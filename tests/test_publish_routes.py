"""Both publishing routes give the same site: the session's fast reports published by Quarto and by
pandoc + Typst (`published_site` in conftest.py), compared page by page as a reader sees them.

Runs when a `quarto` executable is on PATH (CI puts the optional Quarto kit there); otherwise it is
skipped with the reason. PDF page counts may differ by at most PAGE_TOLERANCE pages: both routes
use the same paper, margins, fonts and table style, but Quarto's and pandoc's Typst templates
space the title block and figures a little differently.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import skip_unless_engine

PAGE_TOLERANCE = 1


class Reading(HTMLParser):
    """A page as a reader reads it: captions, contents entries, the links of its text (outside the
    site's navigation bar, search box and footer) and the alt text of its images."""

    def __init__(self):
        super().__init__()
        self.captions: list[str] = []
        self.contents: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.alts: list[str] = []
        self._stack: list[tuple[str, dict]] = []
        self._caption: list[str] | None = None
        self._toc_link: list[str] | None = None
        self._link: list | None = None

    def _inside(self, test) -> bool:
        return any(test(tag, attrs) for tag, attrs in self._stack)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "img" and not self._inside(lambda t, x: t == "nav" or x.get("id") == "quarto-header"):
            self.alts.append(_words(a.get("alt", "")))
        if tag in ("img", "br", "meta", "link", "input", "hr", "col", "source"):
            return
        self._stack.append((tag, a))
        if tag in ("figcaption", "caption"):
            self._caption = []
        in_toc = self._inside(lambda t, x: x.get("id") == "TOC")
        if tag == "a" and in_toc:
            self._toc_link = []
        elif tag == "a" and a.get("href") and not self._inside(
                lambda t, x: t in ("nav", "footer") or x.get("id") in ("quarto-header", "quarto-search")):
            self._link = [a["href"], []]

    def handle_endtag(self, tag):
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag == tag:
                break
        if tag in ("figcaption", "caption") and self._caption is not None:
            self.captions.append(_words("".join(self._caption)))
            self._caption = None
        if tag == "a":
            if self._toc_link is not None:
                self.contents.append(_words("".join(self._toc_link)))
                self._toc_link = None
            if self._link is not None:
                self.links.append((self._link[0], _words("".join(self._link[1]))))
                self._link = None

    def handle_data(self, data):
        for part in (self._caption, self._toc_link, self._link[1] if self._link else None):
            if part is not None:
                part.append(data)


def _words(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


def read(path: Path) -> Reading:
    reading = Reading()
    reading.feed(path.read_text())
    return reading


def _pages(site: Path) -> set[str]:
    return {str(p.relative_to(site)) for p in site.rglob("*") if p.suffix in (".html", ".pdf", ".json")
            and "site_libs" not in p.parts and p.name != "search.json"}


@pytest.fixture(scope="module")
def sites(request):
    skip_unless_engine("quarto")
    quarto = request.getfixturevalue("published_site_quarto")
    pandoc = request.getfixturevalue("published_site_pandoc")
    return quarto / "_site", pandoc / "_site"


def test_both_routes_publish_the_same_pages(sites):
    quarto, pandoc = sites
    assert _pages(quarto) == _pages(pandoc)
    assert {"index.html", "background.html", "background.pdf"} <= _pages(quarto)


def _report_pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.glob("*/*/report.html")) + ["background.html"]


def test_same_numbers_captions_contents_and_links(sites):
    quarto, pandoc = sites
    for page in _report_pages(quarto):
        q, p = read(quarto / page), read(pandoc / page)
        assert q.captions == p.captions, page
        assert q.contents == p.contents, page
        assert q.links == p.links, page
        assert q.alts == p.alts and all(q.alts), page       # fig-alt (else the caption) on both routes
        assert len([c for c in q.captions if re.match(r"(Figure|Table) \d+:", c)]) == \
            len([c for c in p.captions if re.match(r"(Figure|Table) \d+:", c)])


def test_pdf_page_counts_agree(sites):
    quarto, pandoc = sites
    for pdf in sorted(str(p.relative_to(quarto)) for p in quarto.rglob("*.pdf")):
        q, p = len(PdfReader(quarto / pdf).pages), len(PdfReader(pandoc / pdf).pages)
        assert abs(q - p) <= PAGE_TOLERANCE, (pdf, q, p)


# ---------------------------------------------------------------- the index listing, on each route

def test_index_is_a_listing_with_topic_data_and_date(published_site):
    from test_pipeline import parse

    index = published_site / "_site" / "index.html"
    page = parse(index)
    html = index.read_text()
    table = html[html.index('id="reports"'):]
    heads = [" ".join(h.split()) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)[:6]]
    assert [re.sub(r"<[^>]+>", "", h).strip() for h in heads] == ["Topic", "Report", "Data", "Finding", "Run on", "Read"]
    text = " ".join("".join(page.text).split())
    assert "CRM degrees" in text and "shipped" in text and "simulated" in text
    assert "listing-filters" in html, "the listing script is inline in the page"
    assert not [src for src in page.loads if "listing" in src], "no script file to fetch"


PROBE = """<script>
var f = document.querySelector(".listing-filters"), count = function () {
  return document.querySelector(".listing-count").textContent; };
var all = count();
f.data.value = "simulated"; f.dispatchEvent(new Event("change"));
var simulated = count();
f.data.value = ""; f.since.value = "2999-01-01"; f.dispatchEvent(new Event("input"));
var future = count();
f.since.value = ""; f.dispatchEvent(new Event("input"));
var sort = document.querySelectorAll("#reports button.sort")[0]; sort.click(); sort.click();
document.title = [all, simulated, future, document.querySelector("#reports tbody tr td").textContent].join(" | ");
</script>"""


def test_index_listing_filters_and_sorts_from_file_url_offline(published_site):
    """Headless Chromium opens the index from file:// with no network (a proxy that goes nowhere); a
    probe script appended to a copy of the page uses the filters and a sort button as a reader
    would. Skipped where no Chromium is installed."""
    import json
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no Chromium to open the page")
    site = published_site / "_site"
    html = (site / "index.html").read_text()
    probe = site / "index_probe.html"
    at = html.rindex("</body>")
    probe.write_text(html[:at] + PROBE + html[at:])
    try:
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    finally:
        probe.unlink()
    title = re.search(r"<title>([^<]*)</title>", dom).group(1).split(" | ")
    docs = [json.loads(p.read_text()) for p in published_site.glob("*/fast/results.json")]
    from crmresearch import publish

    n = len(docs)
    n_simulated = sum("simulated" in publish.data_sources(d) for d in docs)
    last_topic = sorted(publish.topic_title(p.parent.parent.name) for p in published_site.glob("*/fast/results.json"))[-1]
    assert title == [f"{n} of {n} reports", f"{n_simulated} of {n} reports", f"0 of {n} reports", last_topic], title


# ---------------------------------------------------------------- a failure mid-publish, on each route

@pytest.mark.parametrize("engine", ["quarto", "pandoc"])
def test_a_report_that_fails_to_render_leaves_the_last_site_byte_identical(engine, published_overview, tmp_path):
    """A report whose figure is not a PNG (Typst cannot compile its PDF) after a good publish: exit 1,
    one line naming that report, and the previous site exactly as it was."""
    import base64
    import json
    import shutil

    from conftest import run_cli

    skip_unless_engine(engine)
    reports = tmp_path / "reports"
    shutil.copytree(published_overview / "crm_overview" / "fast", reports / "crm_overview" / "fast")
    first = run_cli("publish", "--engine", engine, "--reports-dir", reports)
    assert first.returncode == 0, first.stdout + first.stderr
    site = reports / "_site"
    before = {str(p.relative_to(site)): p.read_bytes() for p in site.rglob("*") if p.is_file()}

    broken = reports / "crm_overview" / "broken"
    shutil.copytree(reports / "crm_overview" / "fast", broken)
    nb = json.loads((broken / "report.ipynb").read_text())
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                output["data"]["image/png"] = base64.b64encode(b"not a PNG image").decode()
    (broken / "report.ipynb").write_text(json.dumps(nb))
    second = run_cli("publish", "--engine", engine, "--reports-dir", reports)
    assert second.returncode == 1 and "Traceback" not in second.stderr, second.stdout + second.stderr
    errors = second.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and "crm_overview/broken" in errors[0], errors
    after = {str(p.relative_to(site)): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before, "the last good site is byte-identical"
    assert not (reports / "_site_build").exists() and not (reports / "_site_old").exists()
