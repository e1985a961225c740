"""Data-source blocks shared by the notebooks' schemas: a shipped data set or a user's file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import config


def resolve_data_path(value: str | None) -> str | None:
    """Relative paths are taken from the project root (never the working directory)."""
    if value is None:
        return None
    p = Path(value).expanduser()
    p = p if p.is_absolute() else config.PROJECT_DIR / p
    if not p.exists():
        raise ValueError(f"an existing data file (not found: {p})")
    if p.suffix.lower() not in (".csv", ".parquet", ".pq", ".txt"):
        raise ValueError(f"a .csv or .parquet file (got {p.name})")
    return str(p)


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
    """Either `dataset: cdnow_sample | cdnow_master` or `path:` plus the column mapping."""

    dataset: Literal["cdnow_sample", "cdnow_master"] | None = None
    path: str | None = None
    customer_column: str = "customer_id"
    date_column: str = "date"
    amount_column: str | None = "amount"
    date_format: str | None = None

    def load(self):
        from .. import datasets

        if self.dataset:
            return datasets.load_cdnow(self.dataset.removeprefix("cdnow_"))
        return datasets.load_transactions(self.path, self.customer_column, self.date_column,
                                          self.amount_column, self.date_format)


class Scale(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float = 1
    high: float = 10

    @model_validator(mode="after")
    def _ordered(self):
        if self.high <= self.low:
            raise ValueError("'high' greater than 'low'")
        return self


class SurveySource(DataSource):
    """Either `dataset: mobi` or `path:` with the item columns named.

    `satisfaction` items are averaged into one score; `loyalty` items likewise;
    `recommendation` is a 0-10 (or scale) likelihood-to-recommend item for NPS.
    """

    dataset: Literal["mobi"] | None = None
    path: str | None = None
    id_column: str | None = None
    satisfaction: list[str] = Field(default_factory=lambda: ["CUSA1", "CUSA2", "CUSA3"], min_length=1)
    loyalty: list[str] = Field(default_factory=lambda: ["CUSL1", "CUSL2", "CUSL3"], min_length=1)
    repurchase: str = "CUSL1"
    recommendation: str = "CUSL3"
    scale: Scale = Scale()

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([*self.satisfaction, *self.loyalty, self.repurchase, self.recommendation]))

    def load(self):
        from .. import datasets

        if self.dataset:
            df = datasets.load_mobi()
            return df[["respondent_id", *self.columns]]
        return datasets.load_survey(self.path, self.columns, (self.scale.low, self.scale.high), self.id_column)
