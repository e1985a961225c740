"""Publish executed reports as a website: `quarto render` when Quarto exists, else pandoc + Typst.

Both routes read the same `_quarto.yml` (site title, navigation, html and typst options) and the
same executed notebooks. The fallback does, in a few hundred lines, what Quarto does for these
notebooks: drop code (`echo: false`), honour cell options (`#| label`, `fig-cap`, `fig-alt`,
`include`), number figures and tables, resolve `@fig-`/`@tbl-` references, write one HTML page
and one PDF (pandoc's Typst writer, compiled by the `typst` package) per report. It does not
attempt Quarto's themes, search or cross-document links.

The site is built in `<reports>/_site_build` and swapped into `<reports>/_site` only when
every page rendered, so a failed publish leaves the previous site in place.
"""

from __future__ import annotations

import copy
import json
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

SITE_DIR, BUILD_DIR = "_site", "_site_build"
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
                       str(meta.get("date", "")), str(extra.get("description") or ""))


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
    """The root `_quarto.yml` re-rooted at the reports folder, with a menu per topic.

    `background=False` (no notebooks/background.md) drops the background page from the
    render list and the navbar.
    """
    cfg = copy.deepcopy(root_config)
    cfg["project"]["output-dir"] = BUILD_DIR
    cfg["project"]["render"] = ["index.qmd", *([f"{BACKGROUND}.qmd"] if background else []), "*/*/report.ipynb"]
    navbar = cfg.setdefault("website", {}).setdefault("navbar", {})
    left = [dict(item, href=_strip_reports_prefix(item["href"])) for item in navbar.get("left", [])
            if background or _strip_reports_prefix(item.get("href", "")) != f"{BACKGROUND}.qmd"]
    for topic in dict.fromkeys(e.topic for e in entries):
        left.append({"text": TOPIC_TITLES.get(topic, topic.replace("_", " ")),
                     "menu": [{"text": e.variant, "href": f"{e.rel}/report.ipynb"}
                              for e in entries if e.topic == topic]})
    navbar["left"] = left
    return cfg


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


def index_markdown(entries: list[ReportEntry], cfg: dict) -> str:
    site = cfg.get("website", {})
    lines = ["---", yaml.safe_dump({"title": site.get("title", "Reports"),
                                    "subtitle": site.get("description", ""),
                                    "format": "html", "toc": False}, sort_keys=False).strip(), "---", "",
             "Each report below was executed by papermill from a parameter file; its figures and "
             "numbers were computed in that run. Every report is available as a web page and as a PDF, "
             "and its key results are in a `results.json` file beside it."
             + (f" The ideas the reports test and the research they rest on are on the [Background]({BACKGROUND}.html) "
                "page." if f"{BACKGROUND}.qmd" in cfg.get("project", {}).get("render", []) else ""), ""]
    for topic in dict.fromkeys(e.topic for e in entries):
        group = [e for e in entries if e.topic == topic]
        lines += [f"## {md_text(group[0].title)}", "", "| Variant | Finding | Run on | Read |",
                  "|:---|:---|:---|:---|"]
        for e in group:
            finding = md_text(e.finding or e.description or "–")
            variant = f"**{md_text(e.variant)}**" + (f"<br>{md_text(e.description)}" if e.description else "")
            run_on = md_text(e.date).replace("\\-", "\u2011")  # non-breaking hyphens keep the date on one line
            lines.append(f"| {variant} | {finding} | {run_on} | [HTML]({e.rel}/report.html) · "
                         f"[PDF]({e.rel}/report.pdf) |")
        lines.append("")
    return "\n".join(lines)


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
        return f": **{number('tbl', label)}:** {match.group(1)} {{#{label}}}"

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
        for k, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if output["output_type"] == "stream":
                if output.get("name") == "stdout" and opts.get("output", True):
                    blocks.append("```\n" + _text(output["text"]).rstrip() + "\n```")
            elif "image/png" in data:
                name = f"{figure_prefix}{label or f'cell{index}-{k}'}.png"
                (figure_dir / name).write_bytes(b64decode(_text(data["image/png"])))
                fig_label = label if label and label.startswith("fig-") and k == 0 else None
                caption = opts.get("fig-cap", "")
                prefix = f"**{number('fig', fig_label)}:** " if fig_label else ""
                alt = opts.get("fig-alt", caption)
                attrs = (f"#{fig_label} " if fig_label else "") + f'width=100% fig-alt="{_attr(alt)}"'
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
    return str(text).replace('"', "'")


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
    up = "../" * depth
    site = cfg.get("website", {})
    parts = [f'<a class="brand" href="{up}index.html">{escape(site.get("title", "Reports"))}</a>']
    for item in site.get("navbar", {}).get("left", []):
        if "menu" in item:
            links = " ".join(f'<a href="{up}{escape(m["href"].replace(".ipynb", ".html"))}">{escape(m["text"])}</a>'
                             for m in item["menu"])
            parts.append(f'<span class="menu">{escape(item["text"])}: {links}</span>')
        else:
            parts.append(f'<a href="{up}{escape(item["href"].replace(".qmd", ".html"))}">{escape(item["text"])}</a>')
    return " ".join(parts)


def _typst_variables(cfg: dict) -> list[str]:
    opts = cfg.get("format", {}).get("typst", {}) or {}
    args = []
    for key in ("papersize", "fontsize", "section-numbering", "mainfont"):
        if key in opts:
            args += ["-V", f"{key}={opts[key]}"]
    for side, value in (opts.get("margin") or {}).items():
        args += ["-V", f"margin.{side}={value}"]
    if opts.get("toc"):
        args += ["--toc"]
    return args


# Captions already carry "Figure N:" (numbered by notebook_to_markdown), so Typst shows the body only.
# Fonts: Typst's bundled Libertinus Serif for Latin text, then a CJK font for the Chinese terms of
# the background page (Debian/Ubuntu `fonts-noto-cjk`). A font missing from the list is only a
# warning; Typst then falls back to any installed font with the glyphs, or draws empty boxes.
TYPST_HEADER = """#set text(font: ("Libertinus Serif", "Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC",
                       "WenQuanYi Zen Hei"))
#show figure.caption: it => align(left, text(size: 0.9em, it.body))
#show figure.where(kind: table): set block(breakable: true)
#set table(stroke: (x: none, y: 0.5pt + luma(180)))
#show table: set text(size: 0.85em)
#show table.cell: set par(justify: false)
#set page(numbering: "1")
"""


def _render_pandoc_page(md_path: Path, cfg: dict, depth: int, formats: str, engine_note: str,
                        footer: str | None = None) -> None:
    html_opts = cfg.get("format", {}).get("html", {}) or {}
    site_title = cfg.get("website", {}).get("title", "Reports")
    args = [md_path.name, "-f", "markdown", "-t", "html5", "-s", "--template",
            str(config.TEMPLATES_DIR / "page.html"), "-V", f"navbar={_navbar_html(cfg, depth)}",
            "-V", f"sitetitle={site_title}", "-V", f"engine={engine_note}", "-o", md_path.with_suffix(".html").name]
    if formats:
        args += ["-V", f"formats={formats}"]
    if footer:
        args += ["-V", f"footer={footer}"]
    if html_opts.get("toc", True):
        args += ["--toc", f"--toc-depth={html_opts.get('toc-depth', 3)}"]
    _pandoc(args, md_path.parent)


def _render_pdf(md_path: Path, cfg: dict) -> Path:
    import typst

    typ = md_path.with_suffix(".typ")
    header = md_path.with_name("_header.typ")
    header.write_text(TYPST_HEADER)
    # Report sections are level-2 headings under the title: number them 1, 2, ... in the PDF.
    _pandoc([md_path.name, "-f", "markdown", "-t", "typst", "-s", "-H", header.name, "--shift-heading-level-by=-1",
             *_typst_variables(cfg),
             "-o", typ.name], md_path.parent)
    pdf = md_path.with_suffix(".pdf")
    try:
        typst.compile(str(typ), output=str(pdf), root=str(md_path.parent))
    except Exception as exc:  # noqa: BLE001 - typst raises its own error type with the message
        raise PublishError(f"typst could not compile {typ}: {exc}") from None
    header.unlink()
    return pdf


def _md_document(meta: dict, body: str) -> str:
    keep = {k: meta[k] for k in ("title", "subtitle", "date", "abstract") if k in meta}
    return "---\n" + yaml.safe_dump(keep, sort_keys=False, allow_unicode=True) + "---\n\n" + body + "\n"


def render_with_pandoc(reports_dir: Path, entries: list[ReportEntry], cfg: dict, log) -> Path:
    import typst

    build = reports_dir / BUILD_DIR
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    note = f"pandoc {_pandoc_version()} + Typst {typst.__version__} (no Quarto executable)"
    for e in entries:
        out = build / e.topic / e.variant
        out.mkdir(parents=True)
        nb = json.loads((reports_dir / e.rel / "report.ipynb").read_text())
        meta, body = notebook_to_markdown(nb, out / "figures", "")
        md = out / "report.md"
        md.write_text(_md_document(meta, body))
        _render_pandoc_page(md, cfg, depth=2, engine_note=note,
                            formats='Also as <a href="report.pdf">PDF</a> · '
                                    '<a href="results.json">results.json</a>')
        _render_pdf(md, cfg)
        _copy_outputs(reports_dir / e.rel, out)
        md.unlink()
        (out / "report.typ").unlink()
        log(f"  rendered {e.rel}: report.html, report.pdf")
    background = reports_dir / f"{BACKGROUND}.qmd"
    if background.exists():
        md = build / f"{BACKGROUND}.md"
        md.write_text(background.read_text())
        _render_pandoc_page(md, cfg, depth=0, engine_note=note,
                            formats=f'Also as <a href="{BACKGROUND}.pdf">PDF</a>',
                            footer=f"from notebooks/{BACKGROUND}.md")
        _render_pdf(md, cfg)
        md.unlink()
        md.with_suffix(".typ").unlink()
        log(f"  rendered {BACKGROUND}.html, {BACKGROUND}.pdf")
    index = build / "index.md"
    index.write_text((reports_dir / "index.qmd").read_text())
    _render_pandoc_page(index, cfg, depth=0, formats="", engine_note=note,
                        footer="every report listed here was executed from its parameter file")
    index.unlink()
    return build


def _pandoc_version() -> str:
    out = subprocess.run([pandoc_executable(), "--version"], capture_output=True, text=True).stdout
    return out.split()[1] if out else "?"


QUARTO_LOG_LINES = 60


def render_with_quarto(reports_dir: Path, entries: list[ReportEntry], log) -> Path:
    build = reports_dir / BUILD_DIR
    shutil.rmtree(build, ignore_errors=True)
    proc = subprocess.run([quarto_executable(), "render", str(reports_dir)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PublishError(f"quarto render failed:\n{proc.stderr[-3000:]}")
    # Quarto reports progress and warnings (unresolved cross-references, missing fonts) on stderr:
    # keep its tail in the log on success too.
    output = "\n".join(part.strip() for part in (proc.stdout, proc.stderr) if part.strip())
    lines = output.splitlines()
    if len(lines) > QUARTO_LOG_LINES:
        log(f"  quarto: ... ({len(lines) - QUARTO_LOG_LINES} earlier lines)")
    for line in lines[-QUARTO_LOG_LINES:]:
        log(f"  quarto: {line}")
    for e in entries:
        _copy_outputs(reports_dir / e.rel, build / e.topic / e.variant)
    return build


# Files a report writes beside itself that readers of the site may download with it.
REPORT_OUTPUTS = ("results.json", "customers.parquet")


def _copy_outputs(source: Path, target: Path) -> None:
    """results.json and the report's data outputs (e.g. every customer's predictions) into its site
    folder; a large Parquet file is hard-linked where the file system allows, not copied."""
    import os

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
    cfg = site_config_for(load_site_config(), entries, background=source.exists())
    (reports_dir / "_quarto.yml").write_text(
        "# Generated by `crmresearch publish` from the project's _quarto.yml; edit that file instead.\n"
        + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    (reports_dir / "index.qmd").write_text(index_markdown(entries, cfg))
    if source.exists():
        shutil.copyfile(source, reports_dir / f"{BACKGROUND}.qmd")
    else:
        (reports_dir / f"{BACKGROUND}.qmd").unlink(missing_ok=True)
    if engine == "auto":
        engine = "quarto" if quarto_executable() else "pandoc"
    if engine == "quarto":
        if not quarto_executable():
            raise PublishError("--engine quarto: no `quarto` executable on PATH (install it with environment.yml)")
        log(f"publish: engine quarto ({quarto_executable()}), {len(entries)} report(s)")
        build = render_with_quarto(reports_dir, entries, log)
    else:
        log(f"publish: engine pandoc + typst (quarto {'found but not chosen' if quarto_executable() else 'not found'}), "
            f"{len(entries)} report(s)")
        build = render_with_pandoc(reports_dir, entries, cfg, log)
    site = reports_dir / SITE_DIR
    old = reports_dir / "_site_old"
    shutil.rmtree(old, ignore_errors=True)
    if site.exists():
        site.rename(old)
    build.rename(site)
    shutil.rmtree(old, ignore_errors=True)
    return site
