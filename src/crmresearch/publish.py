"""Publish executed reports as a website: `quarto render` when Quarto exists, else pandoc + Typst.

Both routes read the same `_quarto.yml` (site title, navigation, html and typst options) and the
same executed notebooks. The fallback does, in a few hundred lines, what Quarto does for these
notebooks: drop code (`echo: false`), honour cell options (`#| label`, `fig-cap`, `fig-alt`,
`include`), number figures and tables, resolve `@fig-`/`@tbl-` references, write one HTML page
and one PDF (pandoc's Typst writer, compiled by the `typst` package) per report. It does not
attempt Quarto's themes (the site has no search box on either route). What a reader sees is the
same on both routes, and tests/test_publish_routes.py compares the two sites.

Both routes start from one staging folder, `<reports>/_publish/`: the re-rooted `_quarto.yml`,
`index.qmd`, `background.qmd`, the Typst header and a copy of each report that publish kept,
prepared the same way (parameter text escaped, alt text set). Quarto renders exactly that folder;
the fallback reads the same files. The site is built in `<reports>/_site_build` and swapped into
`<reports>/_site` only when every page rendered, so a failed publish leaves the previous site
byte-identical and names the report that failed.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from base64 import b64decode
from dataclasses import dataclass
from html import escape
from pathlib import Path

import yaml

from . import config
from .locks import Busy, FileLock

SITE_DIR, BUILD_DIR, STAGE_DIR = "_site", "_site_build", "_publish"
TYPST_HEADER = "_typst_header.typ"      # the staged copy of templates/typst_header.typ
SITE_CSS = "_site.css"                   # the staged copy of templates/site.css
# The background page (notebooks/background.md): the ideas and literature every report rests on.
# It is copied into the reports folder as background.qmd and rendered by either engine as
# background.html (+ background.pdf); report pages link to ../../background.html#<anchor>.
BACKGROUND = "background"


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class ReportEntry:
    notebook: str
    topic: str
    variant: str
    title: str
    subtitle: str
    finding: str
    date: str
    description: str
    sources: str = ""        # the data the report read: "own", "shipped", "simulated" (comma-separated)

    @property
    def rel(self) -> str:
        return f"{self.topic}/{self.variant}"


def _front_matter(nb: dict) -> dict:
    from .parameters import strict_yaml_load

    first = nb["cells"][0] if nb["cells"] else None
    if not first or first["cell_type"] != "raw":
        return {}
    text = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
    meta = strict_yaml_load(text.strip().strip("-").strip())
    return meta if isinstance(meta, dict) else {}


REPORT_FOLDER = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")   # topic and variant names (temp folders never match)


def _read_entry(nb_path: Path) -> ReportEntry:
    """One executed report; raises ValueError/OSError when it is incomplete or unreadable."""
    from .parameters import YamlError

    results_path = nb_path.with_name("results.json")
    if not results_path.is_file():
        raise ValueError("no results.json (an interrupted or incomplete run)")
    results = json.loads(results_path.read_text())
    nb = json.loads(nb_path.read_text())
    if not isinstance(results, dict) or not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("report.ipynb or results.json is not what a run writes")
    try:
        meta = _front_matter(nb)
    except YamlError as exc:
        raise ValueError(f"front matter: {exc}") from None
    extra = meta.get("crmresearch") if isinstance(meta.get("crmresearch"), dict) else {}
    topic, variant = nb_path.parts[-3], nb_path.parts[-2]
    return ReportEntry(str(extra.get("notebook", topic)), topic, variant, str(meta.get("title", topic)),
                       str(meta.get("subtitle", "")), str(results.get("finding") or ""),
                       str(meta.get("date", "")), str(extra.get("description") or ""), data_sources(results))


def data_sources(results: dict) -> str:
    """What a report's numbers come from, for the index: "shipped" (data files in the package),
    "own" (any other file), "simulated" (no data file, or a section computed on simulated data)."""
    prov = results.get("provenance") if isinstance(results.get("provenance"), dict) else {}
    files = prov.get("data") if isinstance(prov.get("data"), dict) else {}
    shipped = config.DATA_DIR.resolve()
    kinds = set()
    for item in files.values():
        path = item.get("path") if isinstance(item, dict) else None
        if not path:
            continue
        full = Path(path) if Path(path).is_absolute() else config.PROJECT_DIR / path
        kinds.add("shipped" if full.resolve().is_relative_to(shipped) else "own")
    sections = results.get("sections") if isinstance(results.get("sections"), dict) else {}
    if not kinds or any(isinstance(s, dict) and s.get("source") == "simulated" for s in sections.values()):
        kinds.add("simulated")
    return ", ".join(k for k in ("own", "shipped", "simulated") if k in kinds)


def collect_reports(reports_dir: Path, skipped: list | None = None) -> list[ReportEntry]:
    """Every complete report under `<reports>/<topic>/<variant>/`.

    Folders that are not report names (`_state`, `_tmp`, `.variant-xxxx` leftovers) are ignored;
    an incomplete or unreadable report is left out and `(folder, reason)` appended to `skipped`.
    """
    entries = []
    for nb_path in sorted(reports_dir.glob("*/*/report.ipynb")):
        topic, variant = nb_path.parts[-3], nb_path.parts[-2]
        if not (REPORT_FOLDER.match(topic) and REPORT_FOLDER.match(variant)):
            continue
        try:
            entries.append(_read_entry(nb_path))
        except (OSError, ValueError, RecursionError) as exc:
            if skipped is not None:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                skipped.append((f"{topic}/{variant}", reason[:200]))
    # Notebook order (00, 01, ...) is the reading order of the site.
    return sorted(entries, key=lambda e: (e.notebook, e.variant))


# ---------------------------------------------------------------- site configuration

def load_site_config(path: Path | None = None) -> dict:
    path = path or config.QUARTO_CONFIG
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PublishError(f"{path}: cannot read the Quarto configuration ({exc})") from None


TOPIC_TITLES = {
    "crm_overview": "CRM degrees",
    "satisfaction_loyalty": "Satisfaction & loyalty",
    "lifecycle_transitions": "Lifecycle",
    "customer_lifetime_value": "Lifetime value",
    "satisfaction_to_value": "Satisfaction to value",
    "contractual_retention": "Contractual retention",
    "relationship_states": "Relationship states",
}


def background_source() -> Path:
    return config.NOTEBOOKS_DIR / f"{BACKGROUND}.md"


def site_config_for(root_config: dict, entries: list[ReportEntry], background: bool = True) -> dict:
    """The root `_quarto.yml` re-rooted at the staging folder: it renders exactly `entries` (not a
    glob), into `_site`, with one "Reports" menu grouped by topic, and the staged Typst header.

    `background=False` (no notebooks/background.md) drops the background page from the
    render list and the navbar.
    """
    cfg = copy.deepcopy(root_config)
    cfg["project"]["output-dir"] = SITE_DIR
    cfg["project"]["render"] = ["index.qmd", *([f"{BACKGROUND}.qmd"] if background else []),
                                *(f"{e.rel}/report.ipynb" for e in entries)]
    navbar = cfg.setdefault("website", {}).setdefault("navbar", {})
    left = [dict(item, href=_strip_reports_prefix(item["href"])) for item in navbar.get("left", [])
            if background or _strip_reports_prefix(item.get("href", "")) != f"{BACKGROUND}.qmd"]
    if entries:
        left.append({"text": "Reports", "menu": reports_menu(entries)})
    navbar["left"] = left
    typst = cfg.setdefault("format", {}).get("typst")
    if isinstance(typst, dict) and typst.get("include-in-header"):
        typst["include-in-header"] = TYPST_HEADER
    html = cfg["format"].get("html")
    if isinstance(html, dict) and html.get("css"):
        html["css"] = SITE_CSS
    return cfg


def reports_menu(entries: list[ReportEntry]) -> list[dict]:
    """One menu for every report: a header per topic (an item without href, as Quarto draws one),
    then its variants, in reading order."""
    menu = []
    for topic in dict.fromkeys(e.topic for e in entries):
        menu.append({"text": topic_title(topic)})
        menu += [{"text": e.variant, "href": f"{e.rel}/report.ipynb"} for e in entries if e.topic == topic]
    return menu


def topic_title(topic: str) -> str:
    return TOPIC_TITLES.get(topic, topic.replace("_", " "))


def _strip_reports_prefix(href: str) -> str:
    return href.removeprefix("reports/")


MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~^$@:=\"'])")


def md_text(value) -> str:
    """User-supplied text as inert pandoc/Quarto markdown: one line, no markup, no raw HTML.

    `<`, `>` and `&` become HTML entities, every other markdown special character is
    backslash-escaped (so `[x](javascript:...)`, `*`, `|`, `$math$`, `@ref` stay literal text).
    """
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)


LISTING = "_listing.html"       # listing.js in a script element, included after the index's body


def index_markdown(entries: list[ReportEntry], cfg: dict) -> str:
    """The index: one table of every report (topic, report, data, finding, date, links) that
    listing.js turns into a listing a reader can sort and filter; complete without it. Every text
    from a parameter file or a result is escaped (`md_text`)."""
    site = cfg.get("website", {})
    lines = ["---", yaml.safe_dump({"title": site.get("title", "Reports"),
                                    "subtitle": site.get("description", ""),
                                    "format": "html", "toc": False, "include-after-body": LISTING},
                                   sort_keys=False).strip(), "---", "",
             "Each report below was executed by papermill from a parameter file; its figures and "
             "numbers were computed in that run. Every report is available as a web page and as a PDF, "
             "and its key results are in a `results.json` file beside it. *Data* says what the numbers "
             "come from: the data shipped with the project, your own files, or simulated data."
             + (f" The ideas the reports test and the research they rest on are on the [Background]({BACKGROUND}.html) "
                "page." if f"{BACKGROUND}.qmd" in cfg.get("project", {}).get("render", []) else ""), "",
             "::: {#reports .report-listing .column-page}", "",
             "| Topic | Report | Data | Finding | Run on | Read |",
             "|:-------|:-------------|:-----|:-------------------------|:------|:------|"]
    for e in entries:
        finding = md_text(e.finding or e.description or "–")
        report = f"**{md_text(e.variant)}**" + (f"<br>{md_text(e.description)}" if e.description else "")
        run_on = md_text(e.date).replace("\\-", "\u2011")  # non-breaking hyphens keep the date on one line
        lines.append(f"| {md_text(topic_title(e.topic))} | {report} | {md_text(e.sources or '–')} | {finding} | "
                     f"{run_on} | [HTML]({e.rel}/report.html) · [PDF]({e.rel}/report.pdf) |")
    lines += ["", ":::", ""]
    return "\n".join(lines)


def listing_html() -> str:
    return "<script>\n" + (config.TEMPLATES_DIR / "listing.js").read_text() + "</script>\n"


# ---------------------------------------------------------------- notebook -> markdown

CELL_OPTION = re.compile(r"^#\|\s?(.*)$")


def cell_options(source: str) -> dict:
    lines = []
    for line in source.splitlines():
        m = CELL_OPTION.match(line)
        if not m:
            break
        lines.append(m.group(1))
    return yaml.safe_load("\n".join(lines)) or {} if lines else {}


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


TABLE_CAPTION = re.compile(r"^: (.*?)(?:\s*\{#(tbl-[\w-]+)\})?\s*$", re.M)
CROSSREF = re.compile(r"@((?:fig|tbl)-[\w-]*\w)")


def notebook_to_markdown(nb: dict, figure_dir: Path, figure_prefix: str) -> tuple[dict, str]:
    """Front matter and a pandoc-markdown body: no code, numbered figures and tables.

    Numbering follows Quarto's cross-reference rules so both engines agree: only a figure whose
    cell has a `fig-` label (its first image) and only a table whose caption carries `{#tbl-...}`
    get a number ("Figure N:", "Table N:", with a non-breaking space as Quarto writes it). An
    unlabelled figure or table keeps its caption unnumbered.
    """
    meta = _front_matter(nb)
    figure_dir.mkdir(parents=True, exist_ok=True)
    numbers: dict[str, str] = {}
    counters = {"fig": 0, "tbl": 0}
    blocks = []

    def number(kind: str, label: str) -> str:
        counters[kind] += 1
        text = f"{'Figure' if kind == 'fig' else 'Table'}\u00a0{counters[kind]}"
        numbers[label] = text
        return text

    def table_caption(match) -> str:
        label = match.group(2)
        if not label:
            return f": {match.group(1)}"
        return f": {number('tbl', label)}: {match.group(1)} {{#{label}}}"

    for index, cell in enumerate(nb["cells"]):
        tags = cell.get("metadata", {}).get("tags", [])
        if "remove-cell" in tags or cell["cell_type"] == "raw":
            continue
        if cell["cell_type"] == "markdown":
            blocks.append(_text(cell["source"]))
            continue
        opts = cell_options(_text(cell["source"]))
        if opts.get("include") is False or "remove-output" in tags:
            continue
        label = opts.get("label")
        images = 0                    # the label names the cell's first image (a warning may come before it)
        for k, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if output["output_type"] == "stream":
                if output.get("name") == "stdout" and opts.get("output", True):
                    blocks.append("```\n" + _text(output["text"]).rstrip() + "\n```")
            elif "image/png" in data:
                name = f"{figure_prefix}{label or f'cell{index}-{k}'}.png"
                (figure_dir / name).write_bytes(b64decode(_text(data["image/png"])))
                fig_label = label if label and label.startswith("fig-") and images == 0 else None
                images += 1
                caption = opts.get("fig-cap", "")
                prefix = f"{number('fig', fig_label)}: " if fig_label else ""
                alt = opts.get("fig-alt", caption)
                attrs = (f"#{fig_label} " if fig_label else "") + f'width=100% alt="{_attr(alt)}"'
                blocks.append(f"![{prefix}{caption}]({figure_dir.name}/{name}){{{attrs}}}")
            elif "text/markdown" in data:
                blocks.append(TABLE_CAPTION.sub(table_caption, _text(data["text/markdown"])))
            elif "text/plain" in data and output["output_type"] == "execute_result":
                blocks.append("```\n" + _text(data["text/plain"]) + "\n```")
            elif output["output_type"] == "error":
                raise PublishError(f"cell {index + 1} holds an error output; publish only successful runs")
    body = "\n\n".join(blocks)
    # A reference to a figure or table that was not drawn is shown as Quarto shows it ("?@fig-x"),
    # escaped so that pandoc does not read it as a citation (Typst cannot compile those).
    body = CROSSREF.sub(lambda m: f"[{numbers[m.group(1)]}](#{m.group(1)})" if m.group(1) in numbers
                        else f"**?\\@{m.group(1)}**", body)
    return meta, body


def _attr(text: str) -> str:
    return " ".join(str(text).split()).replace("\\", "/").replace('"', "'")


# ---------------------------------------------------------------- the staged reports (both routes)

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# Quarto's shortcodes (`{{< include x >}}`), also once markdown escapes and entities are decoded:
# `\{\{&lt; include` reaches Quarto's filters as `{{< include`. Quarto's own escape is a third brace
# (`{{{< x >}}}` shows `{{< x >}}`); the pandoc route shows the text as it is.
SHORTCODE_OPEN = re.compile(r"((?:\\?\{){2})(?=\\?<|&lt;)")
SHORTCODE_CLOSE = re.compile(r"((?:\\?>|&gt;)(?:\\?\}){2})")


def quarto_inert(value):
    """Text (or every string of a front matter) with Quarto's shortcodes escaped."""
    if isinstance(value, str):
        return SHORTCODE_CLOSE.sub(r"\1}", SHORTCODE_OPEN.sub(r"{\1", value))
    if isinstance(value, dict):
        return {k: quarto_inert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [quarto_inert(v) for v in value]
    return value


def prepare_notebook(nb: dict, engine: str, formats: str = "") -> dict:
    """A copy of an executed report as both routes render it.

    Both: a figure cell that drew no figure (`report.AbsentFigure`) loses its label and caption, so it
    takes no figure number; every text the parameter file supplied (the `crmresearch` block: description, variant) is
    escaped as inert markdown, the date stays ISO, and a figure without `fig-alt` gets its caption
    as alt text. Quarto only: shortcodes in the front matter and in markdown (a table cell of a
    user's data) are escaped; a cell whose outputs are all markdown (a section's heading, text and
    tables) becomes a markdown cell, so its `###` headings reach Quarto's table of contents as they
    reach pandoc's; and `formats` (markdown, the "Also as PDF" line) is shown under the title on the
    web page only.
    """
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    if cells and cells[0]["cell_type"] == "raw":
        meta = _front_matter(nb)
        if isinstance(meta.get("crmresearch"), dict):
            meta["crmresearch"] = {k: md_text(v) if isinstance(v, str) else v for k, v in meta["crmresearch"].items()}
        if engine == "quarto":
            meta = {k: v if k == "date" and isinstance(v, str) and ISO_DATE.match(v) else quarto_inert(v)
                    for k, v in meta.items()}
        cells[0] = {"cell_type": "raw", "metadata": {},
                    "source": _lines("---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---")}
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = _text(cell["source"])
        opts = cell_options(source)
        outputs = cell.get("outputs", [])
        drawn = any("image/png" in o.get("data", {}) for o in outputs)
        if str(opts.get("label", "")).startswith("fig-") and not drawn:
            source = without_figure_options(source)       # a figure not drawn takes no number
            cell["source"] = _lines(source)
            opts = cell_options(source)
        if drawn and "fig-cap" in opts and "fig-alt" not in opts:
            cell["source"] = _lines(f"#| fig-alt: {json.dumps(' '.join(str(opts['fig-cap']).split()))}\n" + source)
        tags = cell.get("metadata", {}).get("tags", [])
        if (engine == "quarto" and outputs and "label" not in opts and opts.get("include", True) is not False
                and opts.get("output", True) is not False and not {"remove-cell", "remove-output"} & set(tags)
                and all("text/markdown" in o.get("data", {}) and "image/png" not in o.get("data", {})
                        for o in outputs)):
            cells[i] = {"cell_type": "markdown", "metadata": {},
                        "source": _lines("\n\n".join(_text(o["data"]["text/markdown"]).strip() for o in outputs))}
        elif engine == "quarto":
            for o in outputs:
                if "text/markdown" in o.get("data", {}):
                    o["data"]["text/markdown"] = quarto_inert(_text(o["data"]["text/markdown"]))
    if engine == "quarto":
        for cell in cells[1:]:
            if cell["cell_type"] == "markdown":
                cell["source"] = _lines(quarto_inert(_text(cell["source"])))
    if engine == "quarto" and formats:
        at = 1 if cells and cells[0]["cell_type"] == "raw" else 0
        cells.insert(at, {"cell_type": "markdown", "metadata": {}, "source": _lines(_formats_block(formats))})
    return nb


FIGURE_OPTIONS = ("label", "fig-cap", "fig-alt")


def without_figure_options(source: str) -> str:
    """A cell's source without its figure label, caption and alt text (leading `#|` options only)."""
    lines = source.splitlines(keepends=True)
    kept, options = [], True
    for line in lines:
        m = CELL_OPTION.match(line.rstrip("\n"))
        if options and m:
            key = m.group(1).split(":", 1)[0].strip()
            if key in FIGURE_OPTIONS:
                continue
        else:
            options = False
        kept.append(line)
    return "".join(kept)


def _lines(text: str) -> list[str]:
    """A cell source as the list of lines a notebook stores (Quarto reads a plain string as one line)."""
    return text.splitlines(keepends=True)


def _formats_block(formats: str) -> str:
    return f'::: {{.formats .content-visible when-format="html"}}\n{formats}\n:::'


def _formats_markdown(pdf: str, results: bool) -> str:
    return f"Also as [PDF]({pdf})" + (" · [results.json](results.json)" if results else "")


def _formats_html(pdf: str, results: bool) -> str:
    return f'Also as <a href="{pdf}">PDF</a>' + (' · <a href="results.json">results.json</a>' if results else "")


def stage_site(reports_dir: Path, entries: list[ReportEntry], cfg: dict, engine: str) -> Path:
    """`<reports>/_publish/`: the Quarto project both routes render (see the module docstring)."""
    stage = reports_dir / STAGE_DIR
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    (stage / "_quarto.yml").write_text(
        "# Generated by `crmresearch publish` from the project's _quarto.yml; edit that file instead.\n"
        + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    (stage / "index.qmd").write_text(index_markdown(entries, cfg))
    (stage / LISTING).write_text(listing_html())
    (stage / TYPST_HEADER).write_text(typst_header("quarto"))
    shutil.copyfile(config.TEMPLATES_DIR / "site.css", stage / SITE_CSS)
    source = background_source()
    if f"{BACKGROUND}.qmd" in cfg["project"]["render"]:
        text = source.read_text()
        if engine == "quarto":
            head, sep, body = text.partition("\n---\n")
            text = head + sep + "\n" + _formats_block(_formats_markdown(f"{BACKGROUND}.pdf", False)) + "\n" + body
        (stage / f"{BACKGROUND}.qmd").write_text(text)
    for e in entries:
        nb = json.loads((reports_dir / e.rel / "report.ipynb").read_text())
        (stage / e.rel).mkdir(parents=True)
        prepared = prepare_notebook(nb, engine, _formats_markdown("report.pdf", True))
        (stage / e.rel / "report.ipynb").write_text(json.dumps(prepared))
    return stage


# ---------------------------------------------------------------- engines

def quarto_executable() -> str | None:
    return shutil.which("quarto")


def pandoc_executable() -> str:
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as exc:
        raise PublishError(f"no pandoc: install pypandoc-binary ({exc})") from None


def _pandoc(args: list[str], cwd: Path) -> None:
    proc = subprocess.run([pandoc_executable(), *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PublishError(f"pandoc {' '.join(args[:3])} failed in {cwd}: {proc.stderr.strip()}")


def _navbar_html(cfg: dict, depth: int) -> str:
    """The navbar of `_quarto.yml` as plain HTML: a menu is a `<details>` drop-down (no script), its
    items without href are group headers, as in Quarto's."""
    up = "../" * depth
    site = cfg.get("website", {})

    def href(target: str) -> str:
        return escape(up + target.replace(".ipynb", ".html").replace(".qmd", ".html"))

    parts = [f'<a class="brand" href="{up}index.html">{escape(site.get("title", "Reports"))}</a>']
    for item in site.get("navbar", {}).get("left", []):
        if "menu" in item:
            links = "".join(f'<a href="{href(m["href"])}">{escape(m["text"])}</a>' if m.get("href")
                            else f'<span class="menu-header">{escape(m["text"])}</span>' for m in item["menu"])
            parts.append(f'<details class="menu"><summary>{escape(item["text"])}</summary>'
                         f'<div class="menu-items">{links}</div></details>')
        else:
            parts.append(f'<a href="{href(item["href"])}">{escape(item["text"])}</a>')
    return " ".join(parts)


def _typst_defaults(cfg: dict) -> dict:
    """The typst options of `_quarto.yml` as a pandoc defaults file: margins as the map pandoc's
    Typst template reads (`-V margin.x=...` would be a variable named "margin.x", ignored)."""
    opts = cfg.get("format", {}).get("typst", {}) or {}
    variables = {key: opts[key] for key in ("papersize", "fontsize", "section-numbering", "mainfont") if key in opts}
    if isinstance(opts.get("margin"), dict):
        variables["margin"] = {side: str(value) for side, value in opts["margin"].items()}
    return {"variables": variables, "table-of-contents": bool(opts.get("toc"))}


# The rule that shows a caption, per route: Quarto numbers figures and tables in Typst ("Table 4: ..."),
# the fallback's captions already carry "Figure N:" (numbered by notebook_to_markdown).
TYPST_ROUTE_RULES = {
    "quarto": "#show figure.caption: it => align(left, text(size: 0.9em, it))\n"
              # Quarto's `article` sets one font; give it the list of typst_header.typ (CJK fallback).
              "#let crm-quarto-article = article\n"
              "#let article(..args) = crm-quarto-article(..args.pos(), ..args.named(), font: crm-fonts)\n",
    "pandoc": "#show figure.caption: it => align(left, text(size: 0.9em, it.body))\n",
}


def typst_header(route: str) -> str:
    return (config.TEMPLATES_DIR / "typst_header.typ").read_text() + TYPST_ROUTE_RULES[route]


def _render_pandoc_page(md_path: Path, cfg: dict, depth: int, formats: str, engine_note: str,
                        footer: str | None = None, after_body: Path | None = None) -> None:
    html_opts = cfg.get("format", {}).get("html", {}) or {}
    site_title = cfg.get("website", {}).get("title", "Reports")
    published = (cfg.get("language") or {}).get("title-block-published", "Published")
    args = [md_path.name, "-f", "markdown", "-t", "html5", "-s", "--template",
            str(config.TEMPLATES_DIR / "page.html"), "-V", f"navbar={_navbar_html(cfg, depth)}",
            "-V", f"sitetitle={site_title}", "-V", f"engine={engine_note}", "-V", f"published={published}",
            "-V", f"sitecss={(config.TEMPLATES_DIR / 'site.css').read_text()}",
            "-o", md_path.with_suffix(".html").name]
    if formats:
        args += ["-V", f"formats={formats}"]
    if footer:
        args += ["-V", f"footer={footer}"]
    if after_body:
        args += [f"--include-after-body={after_body}"]
    if html_opts.get("toc", True):
        args += ["--toc", f"--toc-depth={html_opts.get('toc-depth', 3)}"]
    _pandoc(args, md_path.parent)


def _render_pdf(md_path: Path, cfg: dict) -> Path:
    import typst

    typ = md_path.with_suffix(".typ")
    header = md_path.with_name("_header.typ")
    header.write_text(typst_header("pandoc"))
    defaults = md_path.with_name("_typst_defaults.yaml")
    defaults.write_text(yaml.safe_dump(_typst_defaults(cfg)))
    # Report sections are level-2 headings under the title: number them 1, 2, ... in the PDF.
    _pandoc([md_path.name, "-f", "markdown", "-t", "typst", "-s", "-H", header.name, "--shift-heading-level-by=-1",
             "--defaults", defaults.name, "-o", typ.name], md_path.parent)
    pdf = md_path.with_suffix(".pdf")
    try:
        typst.compile(str(typ), output=str(pdf), root=str(md_path.parent))
    except Exception as exc:  # noqa: BLE001 - typst raises its own error type with the message
        raise PublishError(f"typst could not compile {typ}: {exc}") from None
    header.unlink()
    defaults.unlink()
    return pdf


def _md_document(meta: dict, body: str) -> str:
    keep = {k: meta[k] for k in ("title", "subtitle", "date", "abstract") if k in meta}
    return "---\n" + yaml.safe_dump(keep, sort_keys=False, allow_unicode=True) + "---\n\n" + body + "\n"


def render_with_pandoc(reports_dir: Path, entries: list[ReportEntry], cfg: dict, log) -> Path:
    """The staged reports (`stage_site`) through pandoc and Typst into `<reports>/_site_build`."""
    import typst

    stage = reports_dir / STAGE_DIR
    build = reports_dir / BUILD_DIR
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    note = f"pandoc {_pandoc_version()} + Typst {typst.__version__} (no Quarto executable)"

    def render(e: ReportEntry) -> None:
        out = build / e.topic / e.variant
        out.mkdir(parents=True)
        nb = json.loads((stage / e.rel / "report.ipynb").read_text())
        meta, body = notebook_to_markdown(nb, out / "figures", "")
        md = out / "report.md"
        md.write_text(_md_document(meta, body))
        try:
            _render_pandoc_page(md, cfg, depth=2, engine_note=note, formats=_formats_html("report.pdf", True))
            _render_pdf(md, cfg)
        except PublishError as exc:
            reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), "failed")
            raise PublishError(f"pandoc + typst failed on {e.rel}: {reason[:300]} (the previous site is unchanged)") \
                from None
        _copy_outputs(reports_dir / e.rel, out)
        md.unlink()
        (out / "report.typ").unlink()

    # Each report renders in its own folder (pandoc is a process, Typst compiles outside the GIL), so
    # they render side by side on every core; the log keeps the reports' order.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(len(entries), os.cpu_count() or 1))) as pool:
        for e, _ in zip(entries, pool.map(render, entries)):
            log(f"  rendered {e.rel}: report.html, report.pdf")
    background = stage / f"{BACKGROUND}.qmd"
    if background.exists():
        md = build / f"{BACKGROUND}.md"
        md.write_text(background.read_text())
        _render_pandoc_page(md, cfg, depth=0, engine_note=note, formats=_formats_html(f"{BACKGROUND}.pdf", False),
                            footer=f"from notebooks/{BACKGROUND}.md")
        _render_pdf(md, cfg)
        md.unlink()
        md.with_suffix(".typ").unlink()
        log(f"  rendered {BACKGROUND}.html, {BACKGROUND}.pdf")
    index = build / "index.md"
    index.write_text((stage / "index.qmd").read_text())
    _render_pandoc_page(index, cfg, depth=0, formats="", engine_note=note,
                        footer="every report listed here was executed from its parameter file",
                        after_body=stage / LISTING)
    index.unlink()
    return build


def _pandoc_version() -> str:
    out = subprocess.run([pandoc_executable(), "--version"], capture_output=True, text=True).stdout
    return out.split()[1] if out else "?"


QUARTO_LOG_LINES = 60
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
QUARTO_PROGRESS = re.compile(r"^\s*\[\s*\d+/\d+\]\s+(\S+)")


def _quarto_failure(output: str) -> str:
    """One line from a failed `quarto render`: the page it was rendering and its first error line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    pages = [m.group(1) for line in lines if (m := QUARTO_PROGRESS.match(line))]
    page = pages[-1] if pages else None
    what = (page.removesuffix("/report.ipynb") if page and page.endswith("/report.ipynb") else page) or "the site"
    errors = [i for i, line in enumerate(lines) if line.startswith(("ERROR", "Error")) or "Error:" in line]
    reason = lines[errors[0]] if errors else (lines[-1] if lines else "no output")
    if errors and reason.endswith(":") and errors[0] + 1 < len(lines):      # "Error running filter x.lua:"
        reason += " " + lines[errors[0] + 1]
    reason = reason[:300]
    return f"quarto render failed on {what}: {reason}"


def render_with_quarto(reports_dir: Path, entries: list[ReportEntry], log) -> Path:
    """`quarto render` of the staging folder (exactly the reports publish kept) into
    `<reports>/_site_build`. A failure raises one line naming the report and keeps Quarto's whole
    output in `<reports>/_publish/quarto.log`."""

    stage = reports_dir / STAGE_DIR
    build = reports_dir / BUILD_DIR
    shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(stage / SITE_DIR, ignore_errors=True)
    proc = subprocess.run([quarto_executable(), "render", str(stage)], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"})
    # Quarto reports progress and warnings (unresolved cross-references, missing fonts) on stderr.
    output = ANSI.sub("", "\n".join(part.strip() for part in (proc.stdout, proc.stderr) if part.strip()))
    if proc.returncode != 0 or not (stage / SITE_DIR).is_dir():
        (stage / "quarto.log").write_text(output + "\n")
        raise PublishError(f"{_quarto_failure(output)} (the previous site is unchanged; Quarto's output: "
                           f"{stage / 'quarto.log'})")
    lines = output.splitlines()
    if len(lines) > QUARTO_LOG_LINES:
        log(f"  quarto: ... ({len(lines) - QUARTO_LOG_LINES} earlier lines)")
    for line in lines[-QUARTO_LOG_LINES:]:
        log(f"  quarto: {line}")
    (stage / SITE_DIR).rename(build)
    for e in entries:
        _copy_outputs(reports_dir / e.rel, build / e.topic / e.variant)
    return build


# Files a report writes beside itself that readers of the site may download with it.
REPORT_OUTPUTS = ("results.json", "customers.parquet")


def _copy_outputs(source: Path, target: Path) -> None:
    """results.json and the report's data outputs (e.g. every customer's predictions) into its site
    folder; a large Parquet file is hard-linked where the file system allows, not copied."""

    if (source / config.TABLES_DIR).is_dir():          # long tables, whole (`report.Results.add_section`)
        shutil.rmtree(target / config.TABLES_DIR, ignore_errors=True)
        shutil.copytree(source / config.TABLES_DIR, target / config.TABLES_DIR)
    for name in REPORT_OUTPUTS:
        src, dst = source / name, target / name
        if not src.exists():
            continue
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def publish(reports_dir: Path | None = None, engine: str = "auto", log=print) -> Path:
    """Render every executed report and the index into `<reports>/_site`; returns that folder. A second
    publish of the same reports folder waits for the first (a lock in `<reports>/_state/`), so two never
    write the same build folder."""
    reports_dir = Path(reports_dir or config.reports_dir())
    lock = FileLock(reports_dir / "_state" / "publish.lock")
    try:
        lock.acquire()
    except Busy as busy:
        log(f"publish: waiting for another publish of {reports_dir} (pid {busy}) to finish")
        lock.acquire(wait=True)
    try:
        return _publish(reports_dir, engine, log)
    finally:
        lock.release()


def _remove_old_project_files(reports_dir: Path) -> None:
    """Earlier versions wrote the Quarto project into the reports folder itself: remove those files
    (only when their `_quarto.yml` says publish generated it), so no stale project sits above the
    staging folder."""
    old = reports_dir / "_quarto.yml"
    try:
        generated = old.is_file() and old.read_text().startswith("# Generated by `crmresearch publish`")
    except OSError:
        return
    if generated:
        for name in ("_quarto.yml", "index.qmd", f"{BACKGROUND}.qmd"):
            (reports_dir / name).unlink(missing_ok=True)
        shutil.rmtree(reports_dir / ".quarto", ignore_errors=True)


def _publish(reports_dir: Path, engine: str, log) -> Path:
    skipped: list = []
    entries = collect_reports(reports_dir, skipped)
    for rel, reason in skipped:
        log(f"skip  {rel}: {reason}; run it again to publish it")
    if not entries:
        raise PublishError(f"no executed reports in {reports_dir}: run `crmresearch run --all` first")
    source = background_source()
    if not source.exists():
        log(f"publish: no {source}: the site has no background page")
    if engine == "auto":
        engine = "quarto" if quarto_executable() else "pandoc"
    if engine == "quarto" and not quarto_executable():
        raise PublishError("--engine quarto: no `quarto` executable on PATH (install it with environment.yml)")
    cfg = site_config_for(load_site_config(), entries, background=source.exists())
    _remove_old_project_files(reports_dir)
    stage_site(reports_dir, entries, cfg, engine)
    try:
        if engine == "quarto":
            log(f"publish: engine quarto ({quarto_executable()}), {len(entries)} report(s)")
            build = render_with_quarto(reports_dir, entries, log)
        else:
            log(f"publish: engine pandoc + typst (quarto {'found but not chosen' if quarto_executable() else 'not found'}), "
                f"{len(entries)} report(s)")
            build = render_with_pandoc(reports_dir, entries, cfg, log)
    except BaseException:
        shutil.rmtree(reports_dir / BUILD_DIR, ignore_errors=True)      # the last good site stays as it was
        raise
    site = reports_dir / SITE_DIR
    old = reports_dir / "_site_old"
    shutil.rmtree(old, ignore_errors=True)
    if site.exists():
        site.rename(old)
    build.rename(site)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(reports_dir / STAGE_DIR, ignore_errors=True)
    return site
