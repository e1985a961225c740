"""The publishing configuration: one `_quarto.yml` drives both engines."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from crmresearch import config, publish

from conftest import run_cli


def test_root_quarto_config_is_a_website_that_does_not_execute():
    cfg = yaml.safe_load(config.QUARTO_CONFIG.read_text())
    assert cfg["project"]["type"] == "website"
    assert cfg["execute"]["enabled"] is False and cfg["execute"]["echo"] is False
    assert {"html", "typst"} <= set(cfg["format"])
    assert "quarto-required" in cfg


def test_derived_config_is_rerooted_at_the_reports_folder():
    entries = [publish.ReportEntry("00_crm_overview", "crm_overview", "fast", "T", "S", "F", "2026-01-01", "")]
    cfg = publish.site_config_for(publish.load_site_config(), entries)
    assert cfg["project"]["output-dir"] == publish.SITE_DIR
    # Exactly the reports publish kept, never a glob that would pick up a torn or incomplete one.
    assert cfg["project"]["render"] == ["index.qmd", "background.qmd", "crm_overview/fast/report.ipynb"]
    left = cfg["website"]["navbar"]["left"]
    assert left[0]["href"] == "index.qmd"
    assert {"href": "background.qmd", "text": "Background"} in left
    assert left[-1] == {"text": "Reports", "menu": [{"text": "CRM degrees"},
                                                    {"text": "fast", "href": "crm_overview/fast/report.ipynb"}]}
    assert cfg["format"]["typst"]["include-in-header"] == publish.TYPST_HEADER
    assert cfg["format"]["html"]["css"] == publish.SITE_CSS
    without = publish.site_config_for(publish.load_site_config(), entries, background=False)
    assert "background.qmd" not in without["project"]["render"]
    assert all(item.get("href") != "background.qmd" for item in without["website"]["navbar"]["left"])


def test_toc_is_not_hidden_before_javascript():
    """Quarto collapses `ul` lists nested toc-depth - 1 deep until its script runs (blocked on file://):
    at depth 2 that is the top-level list. Depth 3 leaves the report sections visible."""
    html = yaml.safe_load(config.QUARTO_CONFIG.read_text())["format"]["html"]
    assert html["toc"] is True and html["toc-depth"] >= 3 and html["toc-expand"] is True
    assert html["toc-location"] in {"right", "left"}


def test_cell_options_figures_and_tables_are_numbered(tmp_path):
    nb = {"cells": [
        {"cell_type": "raw", "metadata": {}, "source": "---\ntitle: A\n---"},
        {"cell_type": "markdown", "metadata": {}, "source": "See @fig-a and @tbl-b."},
        {"cell_type": "code", "metadata": {}, "source": "#| label: fig-a\n#| fig-cap: \"Cap A\"\nx", "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo="}}]},
        {"cell_type": "code", "metadata": {}, "source": "t", "outputs": [
            {"output_type": "display_data", "metadata": {},
             "data": {"text/markdown": "| a |\n|---:|\n| 1 |\n\n: Cap B {#tbl-b}\n"}}]},
        {"cell_type": "code", "metadata": {"tags": ["remove-cell"]}, "source": "secret = 1", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "hidden"}]},
        {"cell_type": "code", "metadata": {}, "source": "#| include: false\nprint(2)", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "also hidden"}]},
    ]}
    meta, body = publish.notebook_to_markdown(nb, tmp_path / "figures", "")
    assert meta == {"title": "A"}
    assert "[Figure\u00a01](#fig-a)" in body and "[Table\u00a01](#tbl-b)" in body
    assert "![Figure\u00a01: Cap A]" in body and ": Table\u00a01: Cap B {#tbl-b}" in body
    assert "hidden" not in body and "secret" not in body
    assert (tmp_path / "figures" / "fig-a.png").exists()


def test_engine_quarto_without_quarto_is_a_clear_error(published_overview, monkeypatch):
    if publish.quarto_executable():
        pytest.skip("quarto is installed here")
    result = run_cli("publish", "--engine", "quarto", "--reports-dir", published_overview)
    assert result.returncode == 1 and "no `quarto` executable" in result.stderr
    assert (published_overview / "_site" / "index.html").exists(), "the previous site stays"


def test_publish_without_reports_says_what_to_do(tmp_path):
    result = run_cli("publish", "--reports-dir", tmp_path)
    assert result.returncode == 1 and "crmresearch run --all" in result.stderr


# ---------------------------------------------------------------- numbering parity with Quarto

PNG = "iVBORw0KGgo="


def _figure_cell(label: str | None, caption: str, images: int = 1) -> dict:
    options = (f"#| label: {label}\n" if label else "") + f'#| fig-cap: "{caption}"\n'
    return {"cell_type": "code", "metadata": {}, "source": options + "crm.report.show_figure(fig)",
            "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG}}
                        for _ in range(images)]}


def _table_cell(*captions: tuple[str, str | None]) -> dict:
    outputs = []
    for caption, label in captions:
        tail = f": {caption}" + (f" {{#{label}}}" if label else "")
        outputs.append({"output_type": "display_data", "metadata": {},
                        "data": {"text/markdown": f"| stage | share |\n|:---|---:|\n| new | 0.7 |\n\n{tail}\n"}})
    return {"cell_type": "code", "metadata": {}, "source": "crm.report.show_section(section)", "outputs": outputs}


def _synthetic_notebook() -> dict:
    """Labelled and unlabelled figures and tables, a table continued in unlabelled parts, references."""
    return {"cells": [
        {"cell_type": "raw", "metadata": {}, "source": "---\ntitle: Synthetic\n---"},
        {"cell_type": "markdown", "metadata": {}, "source": "## Results\n\n@fig-first, @fig-second, @tbl-one, @tbl-two."},
        _figure_cell("fig-first", "First labelled figure."),
        _figure_cell(None, "An unlabelled figure."),
        _table_cell(("Matrix, part 1 of 3.", "tbl-one"), ("Matrix, part 2 of 3 (continued).", None),
                    ("Matrix, part 3 of 3 (continued).", None)),
        _table_cell(("An unlabelled table.", None)),
        _figure_cell("fig-second", "Second labelled figure.", images=2),
        _table_cell(("Second labelled table.", "tbl-two")),
        {"cell_type": "markdown", "metadata": {}, "source": "An unknown @fig-missing stays as written."},
    ]}


def test_numbering_follows_quarto_labelled_only_and_continuations_keep_captions(tmp_path):
    meta, body = publish.notebook_to_markdown(_synthetic_notebook(), tmp_path / "figures", "")
    nbsp = "\u00a0"
    # Quarto numbers only cross-referenceable (labelled) figures and tables, in document order.
    assert re.findall(r"(Figure|Table)\u00a0(\d+):", body) == [
        ("Figure", "1"), ("Table", "1"), ("Figure", "2"), ("Table", "2")]
    assert f"Figure{nbsp}1: First labelled figure." in body
    assert f"Figure{nbsp}2: Second labelled figure." in body
    assert f"Table{nbsp}1: Matrix, part 1 of 3. {{#tbl-one}}" in body
    assert f"Table{nbsp}2: Second labelled table. {{#tbl-two}}" in body
    # Unlabelled figures and every table part keep their captions, unnumbered.
    for caption in ("An unlabelled figure.", "Matrix, part 2 of 3 (continued).", "Matrix, part 3 of 3 (continued).",
                    "An unlabelled table."):
        line = next(line for line in body.splitlines() if caption in line)
        assert "Figure" not in line and "Table" not in line, line
    images = [line for line in body.splitlines() if line.startswith("![")]
    assert len(images) == 4 and sum("Figure\u00a0" in line for line in images) == 2, \
        "a second image of a labelled cell keeps the caption without a second number"
    assert f"[Figure{nbsp}1](#fig-first), [Figure{nbsp}2](#fig-second), [Table{nbsp}1](#tbl-one), " \
           f"[Table{nbsp}2](#tbl-two)" in body
    assert "**?\\@fig-missing**" in body, "an unresolved reference is shown as Quarto shows it, not cited"


def test_synthetic_notebook_renders_with_every_caption_in_html_and_pdf(tmp_path):
    """Through pandoc and Typst: each table part's caption is in the page and in the PDF text."""
    from pypdf import PdfReader

    cfg = publish.load_site_config()
    meta, body = publish.notebook_to_markdown(_synthetic_notebook(), tmp_path / "figures", "")
    # A valid 1x1 PNG so Typst can place the figures.
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    from base64 import b64decode
    for path in (tmp_path / "figures").glob("*.png"):
        path.write_bytes(b64decode(png))
    md = tmp_path / "report.md"
    md.write_text(publish._md_document(meta, body))
    publish._render_pandoc_page(md, cfg, depth=2, formats="", engine_note="test")
    html = md.with_suffix(".html").read_text()
    html_text = " ".join(re.sub(r"<[^>]+>", " ", html).replace("&nbsp;", " ").split())
    pdf_text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(publish._render_pdf(md, cfg)).pages)
    for text in ("Figure 1: First labelled figure.", "Table 1: Matrix, part 1 of 3.", "Matrix, part 2 of 3 (continued).",
                 "Matrix, part 3 of 3 (continued).", "An unlabelled table.", "Table 2: Second labelled table.",
                 "Figure 2: Second labelled figure.", "An unlabelled figure."):
        assert text in html_text, text
        assert text in pdf_text, text
    assert html.count("<caption>") == 5
    assert "?@fig-missing" in html and "?@fig-missing" in pdf_text


def test_background_page_stands_alone():
    """Own words, the anchors the reports link to, the literature, and nothing outside the repository."""
    text = publish.background_source().read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert front["title"]
    for anchor in ("loyalty", "crm-degrees", "satisfaction-trap", "lifecycle", "customer-value", "contractual",
                   "references"):
        assert re.search(rf"^## .+ \{{#{anchor}\}}$", text, re.M), anchor
    for citation in ("Dick & Basu (1994)", "Reichheld (2003)", "Jones & Sasser (1995)", "Hart & Johnson (1999)",
                     "Mittal & Kamakura (2001)", "Kano et al. (1984)", "Anderson & Mittal (2000)",
                     "Dwyer, Schurr & Oh (1987)", "Pfeifer & Carraway (2000)", "Anderson & Goodman (1957)",
                     "Dwyer (1989)", "Reichheld & Sasser (1990)", "Fader, Hardie & Lee (2005a)",
                     "Schmittlein, Morrison & Colombo (1987)", "Kaplan &\nNarayanan (2001)", "Fader & Hardie (2007)",
                     "Fader et al. 2018", "Fader, Hardie & Shang (2010)", "Tenenhaus et al. 2005", "Fader & Hardie 2001"):
        assert " ".join(citation.split()) in " ".join(text.split()), citation
    for term in ("客户满意陷阱", "考察期", "形成期", "稳定期", "退化期", "客户忠诚"):
        assert text.count(term) == 1, term
    assert not re.search(r"\.\./shared|domain\.md|the\s+seeds?\b", text, re.I)


def test_no_file_refers_outside_the_repository():
    """Files this project publishes from (templates, site config, background, docs) stand alone."""
    files = [config.QUARTO_CONFIG, publish.background_source(), config.NOTEBOOKS_DIR / "README.md",
             config.PROJECT_DIR / "reports" / "README.md", *sorted(config.TEMPLATES_DIR.iterdir()),
             config.PROJECT_DIR / "environment.yml", *sorted((config.PROJECT_DIR / "bench").glob("*"))]
    for path in files:
        if path.is_file():
            assert not re.search(r"\.\./shared|domain\.md|the\s+seeds?\b", path.read_text(), re.I), path


def test_background_page_renders_with_the_site_template(tmp_path):
    """Pandoc route: background.html with its anchors and the navbar, background.pdf with the CJK terms."""
    from pypdf import PdfReader

    cfg = publish.site_config_for(publish.load_site_config(), [])
    md = tmp_path / "background.md"
    md.write_text(publish.background_source().read_text())
    publish._render_pandoc_page(md, cfg, depth=0, formats="", engine_note="test")
    html = md.with_suffix(".html").read_text()
    for anchor in ("loyalty", "crm-degrees", "satisfaction-trap", "lifecycle", "customer-value", "contractual"):
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html, anchor
    assert '<a href="background.html">Background</a>' in html and 'id="TOC"' in html
    text = " ".join(p.extract_text() for p in PdfReader(publish._render_pdf(md, cfg)).pages)
    assert "Dick" in text and "Basu" in text
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout \
        if __import__("shutil").which("fc-list") else ""
    if "Noto" in fonts:
        assert "客户满意陷阱" in text.replace(" ", "")


def test_published_site_has_the_background_page(published_site):
    """On either route: the background page and its PDF, linked from the navbar of every page."""
    from test_pipeline import parse

    site = published_site / "_site"
    assert (site / "background.html").exists() and (site / "background.pdf").exists()
    assert not (published_site / publish.STAGE_DIR).exists(), "the staging folder goes once the site is in place"
    assert ("../../background.html", "Background") in parse(site / "crm_overview" / "fast" / "report.html").link_texts
    assert ("background.html", "Background") in parse(site / "index.html").link_texts
    background = parse(site / "background.html")
    assert ("background.pdf", "PDF") in background.link_texts
    text = " ".join("".join(background.text).split())
    assert "Dick & Basu (1994)" in text and "客户满意陷阱" in text


def test_the_background_pdf_draws_its_chinese_terms_with_a_cjk_font(published_site):
    """Where a CJK font is installed (CI installs Debian's fonts-noto-cjk), the PDF embeds it and its text
    layer holds the Chinese terms, so they are drawn, not shown as empty boxes."""
    import shutil
    import subprocess

    if shutil.which("fc-list") is None or not subprocess.run(["fc-list", ":lang=zh"], capture_output=True,
                                                             text=True).stdout.strip():
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    if shutil.which("pdffonts") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdffonts, pdftotext) not installed")
    pdf = published_site / "_site" / "background.pdf"
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "CJK" in fonts or "Han" in fonts or "WenQuanYi" in fonts, fonts
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "客户满意陷阱" in "".join(text.split())


def test_quarto_output_is_logged_on_success(tmp_path, monkeypatch):
    """A stand-in `quarto` that writes the build and talks on stderr: its lines reach the log."""
    reports = tmp_path / "reports"
    (reports / "crm_overview" / "fast").mkdir(parents=True)
    (reports / "crm_overview" / "fast" / "results.json").write_text("{}")
    (reports / "crm_overview" / "fast" / "customers.parquet").write_bytes(b"PAR1 stand-in")
    fake = tmp_path / "quarto"
    fake.write_text("#!/bin/sh\nmkdir -p \"$2/_site/crm_overview/fast\"\n"
                    "echo 'Rendering crm_overview/fast/report.ipynb' >&2\n"
                    "echo 'WARNING: unable to resolve crossref @fig-patterns' >&2\necho 'Output created: _site_build/index.html'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(publish, "quarto_executable", lambda: str(fake))
    lines: list[str] = []
    entries = [publish.ReportEntry("00_crm_overview", "crm_overview", "fast", "T", "S", "F", "2026-01-01", "")]
    build = publish.render_with_quarto(reports, entries, lines.append)
    assert (build / "crm_overview" / "fast" / "results.json").exists()
    # A report's data output goes to the site with it (both routes use `_copy_outputs`).
    assert (build / "crm_overview" / "fast" / "customers.parquet").read_bytes() == b"PAR1 stand-in"
    assert any("unable to resolve crossref @fig-patterns" in line for line in lines)
    assert any("Output created" in line for line in lines) and all(line.startswith("  quarto: ") for line in lines)
    assert build == reports / publish.BUILD_DIR


def test_tables_show_p_values_and_tiny_numbers_as_a_reader_reads_them():
    """p-values as '< 0.001' or three decimals, never '0.0000'; a number that is not 0 never prints as 0."""
    import pandas as pd

    from crmresearch.report import markdown_table

    table = markdown_table(pd.DataFrame({"estimate": [3e-7, -2e-9, 0.0, 1.5], "p_value": [1e-12, 0.0004, 0.02, 0.5]}),
                           decimals={"estimate": 4, "p_value": 4})
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    assert [r[0].strip() for r in rows] == ["< 0.0001", "> -0.0001", "0.0000", "1.5000"]
    assert [r[1].strip() for r in rows] == ["< 0.001", "< 0.001", "0.020", "0.500"]


def test_no_published_table_shows_a_p_value_of_zero(published_overview):
    """Every p column of every fast report's tables: no '0.0000' or '0.000' (a p-value is never zero)."""
    import re

    for page in published_overview.glob("*/fast/report.ipynb"):
        nb = json.loads(page.read_text())
        for cell in nb["cells"]:
            for output in cell.get("outputs", []):
                text = "".join(output.get("data", {}).get("text/markdown", ""))
                lines = [ln for ln in text.splitlines() if ln.startswith("|")]
                if not lines:
                    continue
                header = [h.strip().lower() for h in lines[0].split("|")[1:-1]]
                p_cols = [i for i, h in enumerate(header) if h in ("p", "p_value", "p-value", "p value") or h.endswith("_p")]
                for line in lines[2:]:
                    cells = [c.strip() for c in line.split("|")[1:-1]]
                    for i in p_cols:
                        assert not re.fullmatch(r"0\.0+", cells[i]), (page, lines[0], line)


# ---------------------------------------------------------------- the staged reports both routes render

HOSTILE_DESCRIPTION = "{{< include /etc/passwd >}} <script>x</script> [y](javascript:z) $x$ @fig-a"


def _report_notebook() -> dict:
    meta = {"title": "A {{< meta title >}} report", "subtitle": "S · variant: fast", "date": "2026-12-06",
            "crmresearch": {"notebook": "00_crm_overview", "variant": "fast", "description": HOSTILE_DESCRIPTION}}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "raw", "metadata": {}, "source": "---\n" + yaml.safe_dump(meta) + "---"},
        {"cell_type": "markdown", "metadata": {}, "source": "## Results\n\nSee @fig-a."},
        _figure_cell("fig-a", "Cap A"),
        _table_cell(("Matrix.", "tbl-one")),
        {"cell_type": "code", "metadata": {}, "source": "x", "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "### A heading from output"}},
            {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "Text."}}]},
        {"cell_type": "code", "metadata": {}, "source": "print(1)", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "1\n"}]},
    ]}


@pytest.mark.parametrize("engine", ["quarto", "pandoc"])
def test_staged_notebook_escapes_parameter_text_and_sets_alt_text(engine):
    nb = _report_notebook()
    prepared = publish.prepare_notebook(nb, engine, "Also as [PDF](report.pdf)")
    meta = publish._front_matter(prepared)
    assert meta["date"] == "2026-12-06"
    if engine == "quarto":     # Quarto's escape: a third brace shows the shortcode as text
        assert meta["title"] == "A {{{< meta title >}}} report"
        assert "{\\{\\{&lt; include /etc/passwd &gt;\\}\\}}" in meta["crmresearch"]["description"]
    else:
        assert meta["title"] == "A {{< meta title >}} report"
    description = meta["crmresearch"]["description"]
    assert "<" not in description and "\\[y\\]" in description and "\\$x\\$" in description and "\\@fig" in description
    figure = next(c for c in prepared["cells"] if "fig-a" in "".join(c["source"]) and c["cell_type"] == "code")
    assert publish.cell_options("".join(figure["source"]))["fig-alt"] == "Cap A"
    assert all(isinstance(c["source"], list) for c in prepared["cells"][:1]), "sources as lists of lines"
    assert nb == _report_notebook(), "the executed report itself is not changed"
    kinds = [c["cell_type"] for c in prepared["cells"]]
    if engine == "quarto":
        # Markdown output becomes markdown, so its headings reach Quarto's table of contents.
        assert kinds == ["raw", "markdown", "markdown", "code", "markdown", "markdown", "code"]
        assert "".join(prepared["cells"][1]["source"]).startswith("::: {.formats .content-visible")
        assert "### A heading from output\n\nText." in "".join(prepared["cells"][5]["source"])
        assert "{#tbl-one}" in "".join(prepared["cells"][4]["source"])
    else:
        assert kinds == ["raw", "markdown", "code", "code", "code", "code"]


def test_pandoc_route_reads_the_typst_margins_and_writes_alt_text(tmp_path):
    defaults = publish._typst_defaults(publish.load_site_config())
    assert defaults["variables"]["margin"] == {"x": "2.5cm", "y": "2.2cm"}
    assert defaults["variables"]["papersize"] == "a4"
    meta, body = publish.notebook_to_markdown(publish.prepare_notebook(_report_notebook(), "pandoc"),
                                              tmp_path / "figures", "")
    assert 'alt="Cap A"' in body and "fig-alt" not in body
    assert "### A heading from output" in body


def test_both_typst_headers_share_fonts_and_table_style():
    shared = (config.TEMPLATES_DIR / "typst_header.typ").read_text()
    for route in ("quarto", "pandoc"):
        header = publish.typst_header(route)
        assert header.startswith(shared) and "Noto Serif CJK SC" in header and "show table.cell" in header
    assert "font: crm-fonts" in publish.typst_header("quarto")


def test_navbar_without_javascript_has_one_reports_menu_grouped_by_topic():
    entries = [publish.ReportEntry("00_crm_overview", "crm_overview", v, "T", "S", "F", "2026-01-01", "")
               for v in ("fast", "real_data")]
    entries.append(publish.ReportEntry("05_contractual_retention", "contractual_retention", "fast", "T", "", "", "", ""))
    html = publish._navbar_html(publish.site_config_for(publish.load_site_config(), entries), depth=2)
    assert html.count("<details") == 1 and "<summary>Reports</summary>" in html
    assert re.findall(r'menu-header">([^<]+)<', html) == ["CRM degrees", "Contractual retention"]
    assert '<a href="../../crm_overview/real_data/report.html">real_data</a>' in html


def _minimal_reports(folder):
    from pathlib import Path

    folder = Path(folder)
    for variant in ("fast", "second"):
        report = folder / "crm_overview" / variant
        report.mkdir(parents=True)
        (report / "report.ipynb").write_text(json.dumps(_report_notebook()))
        (report / "results.json").write_text('{"finding": "F"}')
    return folder


def test_a_quarto_failure_names_the_report_and_keeps_the_site(tmp_path, monkeypatch):
    """A stand-in `quarto` that fails on the second report: one line naming it, ANSI colours stripped,
    the previous site byte for byte, Quarto's whole output kept in the staging folder."""
    reports = _minimal_reports(tmp_path / "reports")
    site = reports / publish.SITE_DIR
    (site / "crm_overview").mkdir(parents=True)
    (site / "index.html").write_text("the last good site")
    fake = tmp_path / "quarto"
    fake.write_text("#!/bin/sh\nmkdir -p \"$2/_site\"\n"
                    "printf '\\033[1m\\033[34m[1/4] crm_overview/fast/report.ipynb\\033[39m\\033[22m\\n' >&2\n"
                    "printf '[2/4] crm_overview/second/report.ipynb\\n' >&2\n"
                    "printf '\\033[31mERROR: typst compile failed: bad image\\033[39m\\n' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(publish, "quarto_executable", lambda: str(fake))
    with pytest.raises(publish.PublishError) as failure:
        publish.publish(reports, engine="quarto", log=lambda line: None)
    message = str(failure.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith("quarto render failed on crm_overview/second: ERROR: typst compile failed")
    assert (site / "index.html").read_text() == "the last good site"
    assert sorted(p.name for p in site.rglob("*")) == ["crm_overview", "index.html"]
    assert not (reports / publish.BUILD_DIR).exists()
    assert "[2/4] crm_overview/second/report.ipynb" in (reports / publish.STAGE_DIR / "quarto.log").read_text()


def test_quarto_renders_only_the_reports_publish_kept(tmp_path, monkeypatch):
    """A torn notebook and a report without results.json are neither staged nor in the render list."""
    reports = _minimal_reports(tmp_path / "reports")
    (reports / "crm_overview" / "torn").mkdir()
    (reports / "crm_overview" / "torn" / "report.ipynb").write_text('{"cells": [')
    (reports / "crm_overview" / "torn" / "results.json").write_text("{}")
    (reports / "crm_overview" / "second" / "results.json").unlink()
    entries = publish.collect_reports(reports)
    cfg = publish.site_config_for(publish.load_site_config(), entries)
    stage = publish.stage_site(reports, entries, cfg, "quarto")
    staged = sorted(str(p.relative_to(stage)) for p in stage.glob("*/*/report.ipynb"))
    assert staged == ["crm_overview/fast/report.ipynb"]
    assert yaml.safe_load((stage / "_quarto.yml").read_text())["project"]["render"][-1] == "crm_overview/fast/report.ipynb"
    assert (stage / publish.TYPST_HEADER).exists() and (stage / publish.SITE_CSS).exists()


def test_data_sources_of_a_report_for_the_index():
    shipped = str((config.DATA_DIR / "mobi.csv").relative_to(config.PROJECT_DIR))
    doc = {"provenance": {"data": {"survey": {"path": shipped}}}, "sections": {"a": {"source": "data"}}}
    assert publish.data_sources(doc) == "shipped"
    doc["provenance"]["data"]["log"] = {"path": "/home/me/log.csv"}
    doc["sections"]["b"] = {"source": "simulated"}
    assert publish.data_sources(doc) == "own, shipped, simulated"
    assert publish.data_sources({"provenance": {"data": {}}}) == "simulated"


@pytest.mark.parametrize("engine", ["quarto", "pandoc"])
def test_a_figure_that_was_not_drawn_takes_no_number(engine, tmp_path):
    """A labelled figure cell whose figure was not drawn (`report.AbsentFigure`: a sentence, or nothing)
    loses its label and caption on both routes, so the figures after it keep consecutive numbers."""
    absent = {"cell_type": "code", "metadata": {},
              "source": "#| label: fig-gone\n#| fig-cap: \"Never drawn.\"\n#| fig-alt: \"x\"\nshow(fig)",
              "outputs": [{"output_type": "display_data", "metadata": {},
                           "data": {"text/markdown": "*The ceiling figure is not shown: no fit.*"}}]}
    empty = {**absent, "source": "#| label: fig-empty\n#| fig-cap: \"Nothing.\"\nshow(fig)", "outputs": []}
    nb = {"cells": [{"cell_type": "raw", "metadata": {}, "source": "---\ntitle: T\n---"},
                    _figure_cell("fig-first", "First."), absent, empty, _figure_cell("fig-second", "Second.")]}
    prepared = publish.prepare_notebook(nb, engine)
    sources = ["".join(c["source"]) for c in prepared["cells"]]
    assert not any("fig-gone" in s or "Never drawn" in s or "fig-empty" in s for s in sources)
    meta, body = publish.notebook_to_markdown(prepared, tmp_path / "figures", "")
    assert "*The ceiling figure is not shown: no fit.*" in body, "the sentence stays"
    assert re.findall(r"Figure\u00a0(\d+): (\w+)", body) == [("1", "First"), ("2", "Second")]


def test_absent_figures_show_one_sentence_or_nothing():
    from crmresearch import report
    from crmresearch.sections import not_computed

    fig = report.absent_figure("no censored model converged", "The ceiling figure")
    assert isinstance(fig, report.AbsentFigure) and fig.text == "*The ceiling figure is not shown: no censored model converged.*"
    drawn = report.section_figure(lambda section: "drawn")
    assert drawn(not_computed("simulations only")).text == "", "the section's own text already says why"
