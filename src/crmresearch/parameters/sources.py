"""Data-source blocks shared by the notebooks' schemas: a shipped data set or a user's file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import config


def resolve_data_path(value: str | None) -> str | None:
    """A data path as the reports read it: relative paths are taken from the project root (never the
    working directory). Only the name is resolved here (the schema reads no file); whether it names
    a usable file, folder or glob is checked after validation (`crmresearch.checks.check_files`)."""
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else config.PROJECT_DIR / p)


class DataSource(BaseModel):
    """A shipped data set (`dataset:`) or a user's file (`path:`), never both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str | None = None
    path: str | None = None

    _check_path = field_validator("path")(classmethod(lambda cls, v: resolve_data_path(v)))

    @model_validator(mode="after")
    def _one_source(self):
        if (self.dataset is None) == (self.path is None):
            raise ValueError("exactly one of 'dataset' or 'path'")
        return self

    def file(self) -> Path:
        from .. import datasets

        return datasets.SHIPPED[self.dataset].path if self.dataset else Path(self.path)


class TransactionSource(DataSource):
    """Either `dataset: cdnow_sample | cdnow_master`, or a user's log plus the column mapping:
    `path:` (a file; with an engine also a folder or a glob) or `table:` (a table of the DuckDB
    `database:` file, or of the Spark catalog), read in place by the report's `engine:`."""

    dataset: Literal["cdnow_sample", "cdnow_master"] | None = None
    path: str | None = None
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$",
                              max_length=200, description="a table name (schema.table allowed)")
    database: str | None = Field(None, max_length=1000, description="the DuckDB file holding `table`")
    customer_column: str = "customer_id"
    date_column: str = "date"
    amount_column: str | None = "amount"
    date_format: str | None = None

    _check_path = field_validator("path")(classmethod(lambda cls, v: resolve_data_path(v)))
    _check_database = field_validator("database")(classmethod(lambda cls, v: resolve_data_path(v)))

    @model_validator(mode="after")
    def _one_source(self):
        if sum(x is not None for x in (self.dataset, self.path, self.table)) != 1:
            raise ValueError("exactly one of 'dataset', 'path' or 'table'")
        if self.database is not None and self.table is None:
            raise ValueError("'database' only together with 'table'")
        return self

    @property
    def in_place(self) -> bool:
        """True when only an engine can read the log (a folder, a glob or a table)."""
        return self.table is not None or (self.path is not None and not Path(self.path).is_file())

    def file(self) -> Path:
        if self.table is not None:
            return Path(self.database) if self.database else Path(self.table)
        return super().file()

    def load(self):
        from .. import datasets

        if self.dataset:
            return datasets.load_cdnow(self.dataset.removeprefix("cdnow_"))
        if self.in_place:
            raise ValueError("a folder, glob or table is read by an engine (add an `engine:` block)")
        return datasets.load_transactions(self.path, self.customer_column, self.date_column,
                                          self.amount_column, self.date_format)


# Bounds of every number a scale declares (answers, missing-value codes).
SCALE_BOUND = 1e6
# A missing-value code: any finite number (codes such as -99, 999 or 9999 lie outside the scale).
MissingCode = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
MIN_RESPONDENTS = 10


class DiscreteSource(DataSource):
    """Discrete-time buying (one chance to buy per period, e.g. a yearly donation) for the BG/BB
    (Fader, Hardie & Shang 2010): `dataset: donations` (the shipped 11,104 donors) or a user's `path:`
    as a per-customer summary (`layout: summary`: frequency, recency, periods and an optional count)
    or a per-period 0/1 panel (`layout: panel`: customer, period 1..n, purchase)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dataset: Literal["donations"] | None = None
    path: str | None = None
    layout: Literal["summary", "panel"] = Field("summary", description="summary: one row per customer; panel: one row per customer and period")
    customer_column: str = Field("customer", min_length=1, max_length=200)
    frequency_column: str = Field("frequency", min_length=1, max_length=200, description="x: transactions after the first period")
    recency_column: str = Field("recency", min_length=1, max_length=200, description="t_x: period of the last transaction (0: none)")
    periods_column: str = Field("periods", min_length=1, max_length=200, description="n: opportunities observed")
    count_column: str | None = Field(None, max_length=200, description="customers a summary row stands for (default 1)")
    period_column: str = Field("period", min_length=1, max_length=200, description="panel: period 1, 2, ..., n")
    purchase_column: str = Field("purchase", min_length=1, max_length=200, description="panel: 1 bought, 0 did not")
    future_periods: int = Field(5, ge=1, le=100, description="periods ahead for the expected transactions")
    discount_rate: float = Field(0.10, ge=0, lt=1, description="discount rate per period for DERT")

    def load(self) -> pd.DataFrame:
        """BG/BB rows (frequency, recency, periods, count), validated."""
        from .. import datasets

        if self.dataset:
            return datasets.load_donations()
        return datasets.read_discrete_panel(self.path, self.layout, self.customer_column, self.frequency_column,
                                            self.recency_column, self.periods_column, self.count_column,
                                            self.period_column, self.purchase_column)

    @property
    def published(self) -> bool:
        return self.dataset == "donations"


class Scale(BaseModel):
    """One measure's answer scale: its ends and (optionally) its own missing-value codes.

    ``missing_codes: None`` means "the survey's global ``missing_codes``"; a list (even empty)
    replaces them for this measure. A code may not lie inside the scale (it would be an answer).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    low: float = Field(1, ge=-SCALE_BOUND, le=SCALE_BOUND)
    high: float = Field(10, ge=-SCALE_BOUND, le=SCALE_BOUND)
    missing_codes: list[MissingCode] | None = Field(None, max_length=20)

    @model_validator(mode="after")
    def _ordered(self):
        if self.high <= self.low:
            raise ValueError("'high' greater than 'low'")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.low, self.high)

    def label(self) -> str:
        return f"{self.low:g}–{self.high:g}"


# ---------------------------------------------------------------- cut-offs relative to a scale
#
# A cut-off left at None resolves, after validation, to a whole answer point of its measure's
# scale L..H (R = H - L): "at least" cut-offs to L + ceil(f R), "at most" cut-offs to one point
# below the corresponding "at least" point. The shares reproduce the classic definitions:
# Jones & Sasser's 5-point scale (satisfied 4, completely satisfied 5), Reichheld's NPS on 0-10
# and 1-10 (promoters 9-10, detractors 0-6) and the report's earlier 1-10 values.
CUTOFF_RULES = {
    # rule name: (kind, share of the range, description)
    "satisfied": ("at_least", 2 / 3, "from two thirds of the range up"),
    "attitude_high": ("at_least", 7 / 9, "from seven ninths of the range up"),
    "top_two": ("at_least", 8 / 9, "from eight ninths of the range up"),
    "top_box": ("at_least", 1.0, "the top of the scale"),
    "midpoint": ("at_least", 1 / 2, "from half the range up"),
    "below_satisfied": ("at_most", 2 / 3, "below two thirds of the range"),
}


def relative_cutoff(scale: Scale, rule: str) -> float:
    """The whole answer point a rule of `CUTOFF_RULES` gives on ``scale``."""
    kind, share, _ = CUTOFF_RULES[rule]
    at_least = scale.low + min(np.ceil(share * (scale.high - scale.low) - 1e-9), scale.high - scale.low)
    return float(at_least if kind == "at_least" else at_least - 1)


def nps_defined(scale: Scale) -> bool:
    """NPS (Reichheld 2003) is defined on a 0-10 likelihood-to-recommend item (1-10 by convention)."""
    return scale.high == 10 and scale.low in (0, 1)


class SurveyCutoffs:
    """Mixin for a report's parameters whose cut-offs follow their measures' declared scales
    (`resolve_cutoffs` fills `_origins` in the report's own validator)."""

    def scale_of(self, measure: str):
        """The declared scale of a survey measure."""
        return self.survey.measure_scale(measure)

    @property
    def nps_defined(self) -> bool:
        return nps_defined(self.scale_of("recommendation"))

    @property
    def cutoff_origins(self) -> dict:
        """cut-off -> where its value comes from (its default rule and scale, or the parameter file)."""
        return dict(self._origins)


def check_cutoff(name: str, value: float, scale: Scale, measure: str) -> None:
    if not scale.low <= value <= scale.high:
        raise ValueError(f"'{name}' within the {measure} scale {scale.label()} (got {value:g}); a cut-off is "
                         f"a score on its measure's declared scale")


def resolve_cutoffs(model, specs: dict, scale_of) -> dict:
    """Fill cut-offs left at None from their rules and check explicit ones against their scale.

    ``specs``: field -> (measure, rule); ``scale_of(measure)`` -> Scale. Returns field ->
    description of where the value came from ("default: ..." or "set in the parameters").
    Uses ``object.__setattr__`` because the parameter models are frozen.
    """
    origin = {}
    for name, (measure, rule) in specs.items():
        scale = scale_of(measure)
        value = getattr(model, name)
        if value is None:
            value = relative_cutoff(scale, rule)
            object.__setattr__(model, name, value)
            origin[name] = f"default on the {measure} scale {scale.label()}: {CUTOFF_RULES[rule][2]}"
        else:
            check_cutoff(name, value, scale, measure)
            origin[name] = "set in the parameters"
    return origin


def default_bands(scale: Scale) -> list[float]:
    """Band edges for a SAT scale: the whole points of the top five units on a short scale (1, 5, 6, ..., 10
    on 1-10), six equal bands on a wide one (e.g. 0-100)."""
    low, high = scale.low, scale.high
    if high - low <= 10:
        return [float(low), *[float(v) for v in np.arange(max(low + 1, high - 5), high + 0.5)]]
    return [round(float(v), 6) for v in np.linspace(low, high, 7)]


class SurveySource(DataSource):
    """Either `dataset: mobi` or `path:` with the item columns named.

    `satisfaction` items are averaged into one score; `loyalty` items likewise;
    `repurchase` is the "would choose again" item and `recommendation` a likelihood-to-recommend
    item (NPS on a 0-10 or 1-10 scale, a net top-box score otherwise).

    Scales and missing values: `scale` (default 1-10) is every measure's scale unless `scales`
    gives a measure its own (`scales: {loyalty: {low: 0, high: 100}}`); `missing_codes` (e.g.
    `[-99]`) are read as missing in every measure whose scale does not list its own; blank cells are
    missing. Each analysis then uses the respondents complete for its own measures.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    MEASURES: ClassVar[tuple] = ("satisfaction", "loyalty", "repurchase", "recommendation")

    dataset: Literal["mobi"] | None = None
    path: str | None = None
    id_column: str | None = None
    satisfaction: list[str] = Field(default_factory=lambda: ["CUSA1", "CUSA2", "CUSA3"], min_length=1)
    loyalty: list[str] = Field(default_factory=lambda: ["CUSL1", "CUSL2", "CUSL3"], min_length=1)
    repurchase: str = "CUSL1"
    recommendation: str = "CUSL3"
    scale: Scale = Scale()
    scales: dict[str, Scale] = Field(default_factory=dict)
    missing_codes: list[MissingCode] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _known_measures(self):
        if self.dataset == "mobi" and (self.scale.bounds != (1, 10) or
                                       any(sc.bounds != (1, 10) for sc in self.scales.values())):
            raise ValueError("the shipped ECSI mobile survey's 1-10 scale (its items are all 1-10; declare scales "
                             "only for a survey file given by 'path')")
        unknown = sorted(set(self.scales) - set(self.MEASURES))
        if unknown:
            raise ValueError(f"'scales' keys among {', '.join(self.MEASURES)} (got {', '.join(unknown)})")
        for measure in self.MEASURES:
            sc = self.measure_scale(measure)
            inside = [c for c in self.missing_codes_of(measure) if sc.low <= c <= sc.high]
            if inside:
                raise ValueError(f"missing codes outside the {measure} scale {sc.label()} (got {inside[0]:g}, which "
                                 f"is a possible answer; give '{measure}' its own missing_codes under 'scales')")
        return self

    def measure_scale(self, measure: str) -> Scale:
        """The declared scale of one measure (its own under `scales`, else `scale`)."""
        return self.scales.get(measure, self.scale)

    def missing_codes_of(self, measure: str) -> list[float]:
        own = self.scales.get(measure)
        return list(own.missing_codes) if own is not None and own.missing_codes is not None else list(self.missing_codes)

    def measure_columns(self) -> dict[str, list[str]]:
        """measure -> its columns in the file."""
        return {"satisfaction": list(self.satisfaction), "loyalty": list(self.loyalty),
                "repurchase": [self.repurchase], "recommendation": [self.recommendation]}

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([*self.satisfaction, *self.loyalty, self.repurchase, self.recommendation]))

    def column_specs(self) -> dict:
        """column -> (low, high, missing codes) for `datasets.load_survey_columns`; a column named by two
        measures must satisfy both scales (the narrower one)."""
        specs = {}
        for measure, cols in self.measure_columns().items():
            sc, codes = self.measure_scale(measure), self.missing_codes_of(measure)
            for col in cols:
                if col in specs:
                    lo, hi, old = specs[col]
                    specs[col] = (max(lo, sc.low), min(hi, sc.high), sorted(set(old) | set(codes)))
                else:
                    specs[col] = (sc.low, sc.high, codes)
        return specs

    def load(self):
        from .. import datasets

        if self.dataset:
            df = datasets.load_mobi()
            return df[["respondent_id", *self.columns]]
        df = datasets.load_survey_columns(self.path, self.column_specs(), self.id_column)
        datasets.require_respondents(self.path, df, [self.satisfaction, self.loyalty], MIN_RESPONDENTS,
                                     "satisfaction and loyalty")
        return df
