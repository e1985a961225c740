"""Report styling, tables, figures, results.json and provenance: everything a notebook shows.

Quarto injects figure size, DPI and table handling only when it executes a notebook itself;
here papermill executes, so this module fixes them once for HTML and PDF alike.
Notebook conventions (see notebooks/README.md):

* call `setup()` once after the imports;
* one figure per cell, shown with `show_figure(fig)`, the cell carrying Quarto options
  `#| label: fig-...`, `#| fig-cap: ...` and `#| fig-alt: ...`;
* tables with `show_table(df, caption, label="tbl-...")`, emitted as a Markdown pipe table,
  which becomes a real table in Quarto's HTML and Typst output and in the pandoc fallback;
* every number the text states goes through `Results.add` and ends up in results.json.
"""

from __future__ import annotations

import json
import math
import re
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, config

PALETTE = ["#1f4e79", "#c0504d", "#9bbb59", "#8064a2", "#f79646", "#4bacc6", "#7f7f7f"]


def setup() -> None:
    """Apply the suite's figure and table style (same in JupyterLab, HTML and PDF)."""
    import matplotlib
    import seaborn as sns

    matplotlib.use("module://matplotlib_inline.backend_inline")
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.9)
    matplotlib.rcParams.update({
        "figure.figsize": (config.FIGURE_WIDTH_IN, config.FIGURE_HEIGHT_IN),
        "figure.dpi": config.FIGURE_DPI,
        "savefig.dpi": config.FIGURE_DPI,
        "savefig.bbox": "tight",
        "figure.constrained_layout.use": True,
        # Labels may come from data files (tiers, segments, ids): "$...$" in one must print as written,
        # never be parsed as mathtext (which raises on malformed input).
        "text.parse_math": False,
        "font.family": "DejaVu Sans",
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
    })
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - outside IPython
        pass
    pd.set_option("display.precision", 3)
    _progress_log()


PROGRESS_LOGGERS = ("crmresearch.engine",)


def _progress_log() -> None:
    """Under `crmresearch run`, long engine work logs its progress (step, rows, elapsed) to the file
    the runner names, which prints it in the run log; never into the notebook's output."""
    import logging
    import os

    path = os.environ.get("CRMRESEARCH_PROGRESS_FILE")
    for name in PROGRESS_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = False
        if path and not any(getattr(h, "crm_progress", False) for h in logger.handlers):
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(message)s"))
            handler.crm_progress = True
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)


def log_axis(ax, which: str = "y", scale: str = "log", **kwargs) -> None:
    """A log (or symlog) axis with ticks as plain numbers ("0.01", "10", "1,000"). Matplotlib's default
    log ticks are mathtext, which `setup` turns off so that labels from data print as written."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)(scale, **kwargs)
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    axis.set_minor_formatter(NullFormatter())


def new_figure(ncols: int = 1, nrows: int = 1, height: float | None = None, **kwargs):
    """A figure at the report width; `height` in inches."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(config.FIGURE_WIDTH_IN, height or config.FIGURE_HEIGHT_IN),
                        **kwargs)


class AbsentFigure:
    """A figure that was not drawn. `show_figure` shows its reason as one sentence (nothing when the
    section's own text already says why), and publishing drops the cell's figure label and caption, so
    a figure that is not there never takes a figure number (on either route)."""

    def __init__(self, text: str = ""):
        self.text = text

    def __repr__(self) -> str:
        return f"AbsentFigure({self.text!r})"


def absent_figure(reason: str | None, what: str | None = None) -> AbsentFigure:
    """The figure of a section that was not computed: the reason, said once in a sentence."""
    reason = str(reason or "the section was not computed").replace("`", "").rstrip(".")
    return AbsentFigure(f"*{what} is not shown: {reason}.*" if what else f"*No figure: {reason}.*")


def section_absent(section, what: str | None = None) -> AbsentFigure:
    """No figure for a section: nothing more when it was not computed (its text says why), else
    the reason in its note (`absent_figure`)."""
    if not getattr(section, "computed", True):
        return AbsentFigure()
    return absent_figure(getattr(section, "note", None), what)


def section_figure(draw):
    """Decorator for a figure function whose first argument is a `Section`: a section that was not
    computed gives an empty `AbsentFigure` (its text already says why), so notebooks call one function
    either way."""
    import functools

    @functools.wraps(draw)
    def figure(section, *args, **kwargs):
        if not section.computed:
            return AbsentFigure()
        return draw(section, *args, **kwargs)

    return figure


def show_figure(fig) -> None:
    """Display a figure once as PNG and close it (so it is not drawn twice); an `AbsentFigure` shows
    its sentence instead (no image, so no figure number)."""
    from IPython.display import display

    if isinstance(fig, AbsentFigure):
        if fig.text:
            show_markdown(fig.text)
        return
    import matplotlib.pyplot as plt

    display(fig)
    plt.close(fig)


def _format_cell(value, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value != 0 and abs(value) < 0.5 * 10.0**-decimals:     # never a bare 0.0000 for a number that is not 0
            return f"{'> -' if value < 0 else '< '}{10.0**-decimals:.{decimals}f}"
        # Significant digits, not spurious ones: thousands whole, hundreds to one decimal at most
        # (42,416 rather than 42,415.943); results.json keeps every digit.
        decimals = 0 if abs(value) >= 1000 else min(decimals, 1) if abs(value) >= 100 else decimals
        return f"{value:,.{decimals}f}".replace("-", "−")
    # Text may come from a user's data (segment labels, column names): inert in Markdown and HTML, and
    # neither code nor a new column.
    return _inert(" ".join(str(value).split()), "\\`[]|$@")


P_VALUE_COLUMNS = {"p", "p_value", "p-value", "p value", "p_values"}


def is_p_value_column(name) -> bool:
    return str(name).strip().lower() in P_VALUE_COLUMNS or str(name).lower().endswith(("_p", " p"))


def p_value_cell(p: float) -> str:
    """A p-value as a reader reads it: '< 0.001' below a thousandth, else three decimals."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


# Column names a table may carry from code, as a reader reads them; any other name has its underscores
# turned into spaces (`column_label`). Model symbols (x, t_x, n, T) stay as they are.
COLUMN_LABELS = {"ci_lower": "lower", "ci_upper": "upper", "std_error": "std. error", "p_value": "p",
                 "p_alive": "P(alive)", "cv_rmse": "CV RMSE", "asymmetry_p": "asymmetry p", "kano_class": "Kano class",
                 "wilson_lower": "Wilson lower", "wilson_upper": "Wilson upper", "bca_lower": "BCa lower",
                 "bca_upper": "BCa upper", "f_squared": "f²", "r_squared": "R²", "npv_change_pct": "NPV change (%)",
                 "loglike": "log-likelihood", "mean_derl": "mean DERL", "derl": "DERL",
                 "loglike_sbg": "log-likelihood sBG", "loglike_bdw": "log-likelihood BdW", "htmt_max": "HTMT max",
                 "htmt_with": "HTMT with", "rho_a": "ρA", "rho_c": "ρC", "ave": "AVE", "cronbach_alpha": "Cronbach's α",
                 "se": "std. error", "coef": "coefficient", "std": "SD", "odds_ratio": "odds ratio", "aic": "AIC", "bic": "BIC", "n": "n", "t_x": "t_x", "x": "x", "T": "T"}


SHARE_WORD = re.compile(r"\bshares?\b", re.I)


def is_share_column(name, values) -> bool:
    """A column of shares (its label says "share", not already "%", every value a fraction in [0, 1]):
    shown in percent, as the text states shares."""
    label = column_label(name)
    if not SHARE_WORD.search(label) or "%" in label:
        return False
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(finite)) and bool(((finite >= 0) & (finite <= 1)).all())


def column_label(name) -> str:
    """A table header in words: `COLUMN_LABELS`, else the name with underscores as spaces."""
    text = str(name)
    return COLUMN_LABELS.get(text, text.replace("_", " ") if "_" in text and not text.startswith("_") else text)


def markdown_table(df: pd.DataFrame, decimals: int | dict = 2, index: bool = False, percent=()) -> str:
    """A pipe table; numbers right-aligned, `decimals` per column when a dict is given."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    shares = [num and (c in percent or is_share_column(c, frame[c])) for c, num in zip(frame.columns, numeric)]
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for col, value, share in zip(frame.columns, row, shares):
            if is_p_value_column(col) and isinstance(value, (float, np.floating)) and not math.isnan(value):
                cells.append(p_value_cell(float(value)))
                continue
            d = decimals.get(col, 2) if isinstance(decimals, dict) else decimals
            if share and value is not None and not pd.isna(value):
                cells.append(_format_cell(100 * float(value), max(d - 2, 1)) + "%")
                continue
            cells.append(_format_cell(value, d))
        rows.append(cells)
    # Pandoc sizes wide pipe-table columns by the dashes of the separator row, so the dashes follow
    # what each column must hold on one line: its longest value (capped) or the longest word of its
    # header (headers wrap between words), plus two for the cell padding, so that a short column
    # beside many others never gets narrower than its text.
    headers = [_format_cell(column_label(c), 0) for c in cols]
    widths = [min(max([max(map(len, h.split()), default=0)] + [len(r[i]) for r in rows]), 40) + 2
              for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join(("-" * max(w, 3) + ":") if num else (":" + "-" * max(w, 3))
                            for w, num in zip(widths, numeric)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def show_table(df: pd.DataFrame, caption: str, label: str | None = None, decimals: int | dict = 2,
               index: bool = False, full_table: str | None = None, percent=()) -> None:
    """Display a table as Markdown with a Quarto caption (`: caption {#tbl-label}`). A table longer than
    `config.TABLE_MAX_ROWS` that `Results.add_section` wrote whole as CSV (`full_table`, its path relative
    to the report) shows its first rows and links to the file."""
    from IPython.display import Markdown, display

    if label is not None and not label.startswith("tbl-"):
        raise ValueError("table labels start with 'tbl-' (Quarto cross-reference convention)")
    caption = markdown_safe(caption)
    if full_table and len(df) > config.TABLE_MAX_ROWS:
        caption += (f" The first {config.TABLE_MAX_ROWS} of {len(df):,} rows; all rows are in "
                    f"[{Path(full_table).name}]({full_table}) (CSV, beside this report).")
        df = df.head(config.TABLE_MAX_ROWS)
    tail = f": {caption}" + (f" {{#{label}}}" if label else "")
    display(Markdown(markdown_table(df, decimals, index, percent) + "\n\n" + tail + "\n"))


def section_tables(section) -> list[dict]:
    """The table specs (`sections.table_spec`) of a section, in order."""
    tables = getattr(section, "tables", None)
    if tables:
        return list(tables)
    table = getattr(section, "table", None)
    return [table] if table else []


def write_full_table(spec: dict, path: Path) -> None:
    """A table as CSV with its headers in words (`column_label`), every row and full precision."""
    frame = spec["df"].reset_index() if spec.get("index") else spec["df"]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.rename(columns=column_label).to_csv(path, index=False)


# Characters a value from a data file could use to become live markup: raw HTML (a <script>, an onerror
# attribute), a link or image ([..](javascript:..)), math ($..$), a citation (@key), a Quarto shortcode
# ({{< .. >}}). Computed prose never uses them as markup (its own markup is emphasis, headings and code
# spans), so all of them are escaped wherever report text is displayed: the one place every text passes.
_CROSS_REF = re.compile(r"\\@((?:fig|tbl|sec)-[A-Za-z0-9_-]+)")


def _inert(text: str, specials: str) -> str:
    """&, < and > as HTML entities, and a backslash before each of `specials`."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(f"([{re.escape(specials)}])", r"\\\1", text)


def markdown_safe(text: str) -> str:
    """Report text with every character that could turn a data value into markup made literal:
    &, < and > as HTML entities (which pandoc turns back into the characters in the PDF), and
    [, ], $, @ and \\ backslash-escaped; emphasis, headings and code spans are left as written."""
    # The report's own cross-references (@fig-x, @tbl-x, @sec-x) stay live: they only ever number a
    # figure, table or section of the same report.
    return _CROSS_REF.sub(r"@\1", _inert(text, "\\[]$@"))


def show_markdown(text: str) -> None:
    """Display computed prose (numbers formatted from results, never typed by hand), made safe for
    values from data files (`markdown_safe`)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_safe(text)))


def show_lead(lead) -> None:
    """Show a report's findings (`crmresearch.sections.Lead`) as its first section."""
    show_markdown(lead.markdown())


def show_section(section) -> None:
    """Show a `crmresearch.sections.Section`: its computed heading, text and table(s), in that order.
    A section that was not computed is one sentence under no heading (it adds nothing to the contents)."""
    heading = getattr(section, "heading", None)
    if heading and getattr(section, "source", None) == "not_computed" and section.note:
        note = section.note.strip()
        note = note[:1].upper() + note[1:] + ("" if note.endswith(".") else ".")
        show_markdown(f"*{heading}: not computed.* {note}")
        return
    if heading:
        show_markdown(f"### {heading}")
    if section.text:
        show_markdown(section.text)
    for spec in section_tables(section):
        show_table(**spec)


# ---------------------------------------------------------------- results.json

def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict(orient="records"))
    if isinstance(value, pd.Series):
        return _jsonable(value.to_dict())
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_dict"):
        return _jsonable(value.as_dict())
    return value


class Results:
    """Collects a report's key figures; `write()` puts them in results.json beside the report."""

    def __init__(self, notebook: str, params):
        self.notebook = notebook
        self.params = params
        self.values: dict = {}
        self.finding: str | None = None
        self.lead: dict | None = None
        self.sections: dict = {}
        self.started = datetime.now(timezone.utc)

    def add(self, key: str, value):
        if key in self.values:
            raise KeyError(f"result '{key}' recorded twice")
        self.values[key] = _jsonable(value)
        return value

    def add_section(self, name: str, section) -> None:
        """Record a `crmresearch.sections.Section`: its results in order, and under `sections.<name>`
        where its numbers come from (data, simulated, published, not_computed, failed) and the rows used."""
        for key, value in section.results.items():
            self.add(key, value)
        if name in self.sections:
            raise KeyError(f"section '{name}' recorded twice")
        for i, spec in enumerate(section_tables(section)):      # long tables: whole, as CSV beside the report
            if len(spec["df"]) > config.TABLE_MAX_ROWS:
                stem = (spec.get("label") or f"tbl-{name}-{i + 1}").removeprefix("tbl-")
                relative = f"{config.TABLES_DIR}/{stem}.csv"
                write_full_table(spec, self.output_dir / relative)
                spec["full_table"] = relative
        self.sections[name] = _jsonable(section.provenance())

    def set_finding(self, text: str) -> None:
        """The one-line finding shown on the site's index page."""
        self.finding = text

    def set_lead(self, lead) -> None:
        """The report's findings (`sections.Lead`): recorded as `lead` (sentences and kind) in results.json,
        and their text is the report's entry on the index page."""
        self.lead = {"sentences": list(lead.sentences), "kind": lead.kind}
        self.finding = lead.text

    @property
    def output_dir(self) -> Path:
        out = getattr(self.params, "output_dir", None)
        return Path(out) if out else config.scratch_dir(self.notebook) / self.params.variant

    def write(self, provenance_info: dict | None = None) -> Path:
        path = self.output_dir / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "notebook": self.notebook,
            "variant": self.params.variant,
            "finding": self.finding,
            "lead": self.lead,
            "results": self.values,
            "sections": self.sections,
            "provenance": _jsonable(provenance_info or {}),
        }
        path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False))
        return path


def load_results(path) -> dict:
    return json.loads(Path(path).read_text())


# ---------------------------------------------------------------- provenance

def git_state() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=config.PROJECT_DIR, capture_output=True, text=True,
                              timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


KEY_LIBRARIES = ("numpy", "scipy", "pandas", "statsmodels", "matplotlib", "seaborn", "papermill", "pydantic")


def shown_path(path, params_file=None) -> str:
    """A file as a published report names it: relative to the project, else to the parameter file's
    folder, else by its name alone, so no local directory reaches a page or results.json (the
    environment variable CRMRESEARCH_ABSOLUTE_PATHS=1 keeps absolute paths)."""
    path = Path(path)
    if os.environ.get("CRMRESEARCH_ABSOLUTE_PATHS") == "1" or not path.is_absolute():
        return str(path)
    for base in (config.PROJECT_DIR, Path(params_file).resolve().parent if params_file else None):
        if base is not None and path.is_relative_to(base):
            return str(path.relative_to(base))
    return path.name


def provenance(params, data_files: dict | None = None, results: Results | None = None) -> dict:
    """Gather provenance, display it as tables and, when `results` is given, write results.json.

    `data_files` maps a label to a file path; each gets its sha256.
    """
    from importlib.metadata import PackageNotFoundError, version

    from .datasets import sha256_file

    libs = {}
    for lib in KEY_LIBRARIES:
        try:
            libs[lib] = version(lib)
        except PackageNotFoundError:
            libs[lib] = None
    started_with = json.loads(os.environ.get(config.INPUT_DIGESTS_ENV) or "{}")   # the runner's, at start

    def digest(path) -> str:
        return started_with.get(str(path)) or sha256_file(path)

    params_file = getattr(params, "params_file", None)
    parameters = _jsonable(params.model_dump(mode="json", exclude={"output_dir"}))
    if parameters.get("params_file"):
        parameters["params_file"] = shown_path(parameters["params_file"], params_file)
    info = {
        "parameters": parameters,
        "parameter_file": shown_path(params_file, params_file) if params_file else None,
        "parameter_file_sha256": digest(params_file) if params_file and Path(params_file).exists() else None,
        "data": {label: {"path": shown_path(p, params_file), "sha256": digest(p)}
                 for label, p in (data_files or {}).items()},
        "crmresearch_version": __version__,
        "git": git_state(),
        "python": platform.python_version(),
        "libraries": libs,
        "started": results.started.isoformat(timespec="seconds") if results else None,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node() if os.environ.get("CRMRESEARCH_RECORD_HOST") else None,
    }
    _display_provenance(info)
    if results is not None:
        results.write(info)
    return info


def parameter_text(value) -> str:
    """A parameter value as a reader reads it: "not set" for None, yes/no, lists comma-separated and
    nested blocks as "key: value; ..." without their unset keys (never Python's None/True)."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        parts = [f"{k}: ({parameter_text(v)})" if isinstance(v, dict) else f"{k}: {parameter_text(v)}"
                 for k, v in value.items() if v is not None]
        return "; ".join(parts) if parts else "not set"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(parameter_text(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _display_provenance(info: dict) -> None:
    params = pd.DataFrame(
        [(k, parameter_text(v)) for k, v in info["parameters"].items()],
        columns=["parameter", "value"])
    show_table(params, "Effective parameter values of this run.", label="tbl-provenance-parameters")
    rows = [("parameter file", info["parameter_file"] or "(notebook defaults)"),
            ("parameter file sha256", info["parameter_file_sha256"] or "–")]
    rows += [(f"data: {k}", f"{Path(v['path']).name} sha256 {v['sha256']}") for k, v in info["data"].items()]
    git = info["git"]
    rows += [("crmresearch", info["crmresearch_version"]),
             ("git commit", f"{git['commit'] or 'unknown'}{' (uncommitted changes)' if git['dirty'] else ''}"),
             ("python", info["python"])]
    rows += [(lib, v or "–") for lib, v in info["libraries"].items()]
    rows += [("started (UTC)", info["started"] or "–"), ("finished (UTC)", info["finished"])]
    show_table(pd.DataFrame(rows, columns=["item", "value"]), "Provenance: inputs, code and library versions.",
               label="tbl-provenance")
