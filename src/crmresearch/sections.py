"""One design for every report section: numbers in a result object, sentences from those numbers.

Every report (overview, satisfaction-loyalty, lifecycle, CLV, and the ones built on them) is a
sequence of sections. A section function in the topic's module takes data and the validated
parameters, runs the estimators (which return results objects, in the manner of statsmodels) and
returns a `Section`:

* `results`: key -> value recorded in results.json (`Results.add_section` adds them in order);
* `text`: computed Markdown, written by a *text function* that takes result objects (never the
  parameter object) and whose every clause is conditional on the numbers it states;
* `table` / `tables`: keyword arguments of `crm.report.show_table`;
* `source`: where the numbers come from: ``"data"`` (the report's own data), ``"simulated"``
  (a simulated illustration the parameter file asked for, or a simulation variant),
  ``"published"`` (a published worked example), ``"not_computed"`` (the data cannot support the
  section; `note` says why) or ``"failed"`` (a model did not fit; `note` says what failed and
  what was tried);
* `rows_used` and `rows_dropped` (reason -> count): the complete cases this section used.

The notebook shows a section with `crm.report.show_section(section)` and records it with
`results.add_section(name, section)`, which also writes `sections.<name>` =
{source, rows_used, rows_dropped, note} into results.json. A simulated section's heading and
caption carry `SIMULATED_LABEL`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCES = ("data", "simulated", "published", "not_computed", "failed")
SIMULATED_LABEL = "Simulated illustration"


@dataclass
class Section:
    results: dict = field(default_factory=dict)    # key -> value for Results.add, in this order
    text: str | None = None                        # computed prose for show_markdown
    table: dict | None = None                      # keyword arguments of show_table
    source: str = "data"
    rows_used: int | None = None
    rows_dropped: dict = field(default_factory=dict)   # reason -> rows left out
    note: str | None = None                        # why not computed / what failed / what was assumed
    heading: str | None = None                     # a computed heading (e.g. a simulated illustration)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"section source must be one of {SOURCES} (got {self.source!r})")

    @property
    def computed(self) -> bool:
        return self.source in ("data", "simulated", "published")

    def provenance(self) -> dict:
        """What results.json records about the section under `sections.<name>`."""
        return {"source": self.source, "rows_used": self.rows_used,
                "rows_dropped": dict(self.rows_dropped), "note": self.note}


LEAD_PREFIX = {"simulated": "Simulated illustration, not real customers: ",
               "published": "Published data (a replication), not a user's own data: ",
               "examples": "Published and simulated examples, not a user's own data: "}


@dataclass
class Lead:
    """A report's findings, first: a few plain sentences, each with its number, its uncertainty and what
    it means for the business, written from the sections' computed results by the topic's `lead(a)`.
    `kind` ("simulated", "published", "examples" or None for the report's own data) puts what the data are in the
    first words. The same text is the report's entry on the index page (`Results.set_lead`)."""

    sentences: list
    kind: str | None = None

    @property
    def text(self) -> str:
        body = " ".join(s for s in self.sentences if s)
        prefix = LEAD_PREFIX.get(self.kind, "")
        if prefix and len(body) > 1 and body[0].isupper() and body[1].islower():   # "…customers: of the …"
            body = body[0].lower() + body[1:]
        return prefix + body

    def markdown(self) -> str:
        items = [s for s in self.sentences if s]
        if items and self.kind in LEAD_PREFIX:
            items.insert(0, "*" + LEAD_PREFIX[self.kind].rstrip(": ") + ".*")
        return "## Findings\n\n" + "\n".join(f"- {s}" for s in items)


def lead_kind(*sections) -> str | None:
    """The kind of a lead from the sources of the sections it states: simulated when any is simulated,
    published when all are published examples, else the report's own data."""
    sources = {s.source for s in sections if s is not None and s.computed}
    if {"simulated", "published"} <= sources:
        return "examples"
    if "simulated" in sources:
        return "simulated"
    return "published" if sources == {"published"} else None


def table_spec(df, caption: str, label: str | None = None, decimals: int | dict = 2, percent=()) -> dict:
    """Keyword arguments of `crm.report.show_table`; `percent`: columns of fractions shown in percent
    (columns whose header says "share" are shown so without being named)."""
    spec = {"df": df, "caption": caption, "label": label, "decimals": decimals}
    if percent:
        spec["percent"] = tuple(percent)
    return spec


def not_computed(reason: str, rows_used: int | None = None, rows_dropped: dict | None = None) -> Section:
    """A section the data cannot support: it says so where it would be, and records why."""
    sentence = reason.strip() + ("" if reason.strip().endswith((".", "!", "?")) else ".")
    return Section(text=f"*Not computed:* {sentence}", source="not_computed", rows_used=rows_used,
                   rows_dropped=rows_dropped or {}, note=reason)


def failed(what: str, tried: str, error: str, rows_used: int | None = None) -> Section:
    """A model that did not fit: reported in its section; the report goes on with what did fit."""
    note = f"{what} did not fit ({error}); tried {tried}."
    return Section(text=f"*Model failed:* {note}", source="failed", rows_used=rows_used, note=note)


def simulated_heading(title: str) -> str:
    """The heading of a section that shows a simulated market rather than the user's data."""
    return f"{SIMULATED_LABEL}: {title}"


def simulated_caption(caption: str) -> str:
    return f"{SIMULATED_LABEL} (simulated data, not real customers). {caption}"
