"""Checks of the data files a validated parameter model names, before any analysis.

The parameter schemas (`crmresearch.parameters`) are data only: they check types, ranges and the
consistency of the values, and read no file. What depends on the files themselves is checked
here, after schema validation, by the runner's pre-flight (`crmresearch validate` and `run`,
before any kernel starts) and by a notebook's own `parameters.from_namespace` (so a notebook
opened in JupyterLab refuses bad data with the same line):

* a data path names an existing regular .csv/.parquet file (a link only to such a file); a log
  an engine reads in place may be a folder or a glob of such files, or a table of a DuckDB file;
* a log read in place needs the report's `engine:` block (and a report without one a data file);
* the file loads with its source's validated loader (`DataValidationError`: file, column,
  expectation, rows), has at least `MIN_DATA_ROWS` rows, and its survey items vary;
* survey columns a report names besides the measures (`other_measures`) exist.

Every problem is one `DataCheckError` whose text is "field 'parameters.<field>': <expectation>";
the caller names the parameter file. Logs read in place are checked by the engine
(`runner.check_data_files`), which this module does not import.
"""

from __future__ import annotations

import glob as globlib
from pathlib import Path

from .datasets import DataValidationError

DATA_SUFFIXES = (".csv", ".parquet", ".pq", ".txt")
# Fewer rows than this and no estimate in any report means anything; said before a kernel starts.
MIN_DATA_ROWS = 10


class DataCheckError(ValueError):
    """One problem with a data file a parameter names: "field 'parameters.<field>': <expectation>"."""


def data_sources(model, prefix: str = ""):
    """(dotted field name, source) for every data source in a parameter model, nested blocks included
    (a source is a block with a `file()` method: a shipped data set or a user's file)."""
    from pydantic import BaseModel

    for name in type(model).model_fields:
        value = getattr(model, name)
        if hasattr(value, "file"):
            yield f"{prefix}{name}", value
        elif isinstance(value, BaseModel):
            yield from data_sources(value, f"{prefix}{name}.")


def _shown(path) -> str:
    text = str(path)
    return text if len(text) <= 200 else text[:199] + "…"


def data_path_problem(path: str) -> str | None:
    """Why `path` is not a usable data file, or None.

    Policy for what a data path may name: a regular file whose name ends in .csv, .txt, .parquet
    or .pq. A symbolic link is followed only when its final target is such a file too (a link to
    `/etc/passwd`, a device, a pipe or a folder is refused), so the name a user sees is what is read.
    """
    p = Path(path)
    try:
        if not p.exists():
            return f"an existing data file (not found: {_shown(p)})"
        target = p.resolve()
    except (OSError, RuntimeError) as exc:        # name too long, link loop, ...
        return f"a readable data path ({type(exc).__name__} for {_shown(p)})"
    if p.suffix.lower() not in DATA_SUFFIXES or target.suffix.lower() not in DATA_SUFFIXES:
        what = p.name if target == p else f"{p.name}, a link to {target.name}"
        return f"a .csv or .parquet file (got {what[:120]})"
    if not target.is_file():
        return f"a regular data file ({_shown(p)} is a folder, device or pipe)"
    return None


def log_path_problem(path: str) -> str | None:
    """Why a transaction log's `path` is unusable, or None: a data file (`data_path_problem`), or, for a
    log an engine reads in place, a folder of CSV or Parquet files (hive-partitioned folders included)
    or a glob such as `logs/2025-*.parquet` that matches at least one such file."""
    p = Path(path)
    if not (globlib.has_magic(str(p)) or p.is_dir()):
        return data_path_problem(path)
    if globlib.has_magic(str(p)):
        matches = (m for m in globlib.iglob(str(p), recursive=True) if Path(m).is_file())
    else:
        matches = (m for m in p.rglob("*") if m.is_file() and not m.name.startswith((".", "_")))
    if next((m for m in matches if str(m).lower().endswith(DATA_SUFFIXES)), None) is None:
        return f"a regular data file, or a folder or glob of .csv or .parquet files (none in {_shown(p)})"
    return None


def _engine_problem(model, source) -> str | None:
    """A log read in place (folder, glob, table) needs the report's `engine:` block; a report without
    one needs a data file."""
    if not getattr(source, "in_place", False):
        return None
    if "engine" not in type(model).model_fields:
        return ("transactions as one .csv or .parquet file: this report reads its log into memory (a folder, "
                "glob or table is read in place only by the CLV and lifecycle reports, with an `engine:` block)")
    if model.engine is None:
        return ("transactions given as a folder, glob or table need an `engine:` block (e.g. engine: "
                "{backend: duckdb}) to be read in place")
    return None


def check_files(model) -> None:
    """Every file, folder, glob and database a source of `model` names exists and is of a usable
    kind, and a log read in place has an engine to read it (no file is read)."""
    for name, source in data_sources(model):
        path = getattr(source, "path", None)
        if path is not None:
            problem = log_path_problem(path) if hasattr(source, "in_place") else data_path_problem(path)
            if problem:
                raise DataCheckError(f"field 'parameters.{name}.path': expected {problem}")
        database = getattr(source, "database", None)
        if database is not None and not Path(database).is_file():
            raise DataCheckError(f"field 'parameters.{name}.database': expected an existing DuckDB database file "
                                 f"(not found: {_shown(database)})")
        problem = _engine_problem(model, source)
        if problem:
            raise DataCheckError(f"field 'parameters.{name}': expected {problem}")


def check_loaded(name: str, source) -> None:
    """Load a user's file with its source's loader: the loader's own checks, at least `MIN_DATA_ROWS`
    rows, and survey items that vary (a constant item has no correlation, no curve and no test)."""
    field = f"field 'parameters.{name}.path'"
    try:
        data = source.load()
    except DataValidationError as exc:
        raise DataCheckError(f"{field}: {exc}") from None
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise DataCheckError(f"{field}: {source.path}: could not be read "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from None
    rows = len(data) if hasattr(data, "columns") else None      # a table of rows (not a cohort table's dict)
    if rows is not None and rows < MIN_DATA_ROWS:
        raise DataCheckError(f"{field}: {source.path}: expected at least {MIN_DATA_ROWS} data rows (found {rows}); "
                             "no estimate in the report would mean anything")
    columns = [c for c in (getattr(source, "columns", None) or []) if c in getattr(data, "columns", [])]
    _check_items_vary(name, source, data, columns)
    return data


def _check_items_vary(name: str, source, data, columns) -> None:
    for column in columns:
        values = data[column].dropna()
        if values.nunique() < 2:
            shown = f"every answer is {values.iloc[0]!r}"[:60] if len(values) else "no answers"
            raise DataCheckError(f"field 'parameters.{name}': {source.path}: column '{column}': expected answers "
                                 f"that vary ({shown}); a constant item supports no correlation, curve or test")


def file_columns(path: str) -> list[str] | None:
    """Column names of a CSV or Parquet file (None when it cannot be read: its loader says why)."""
    import pandas as pd

    try:
        if path.lower().endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return [str(c) for c in pd.read_csv(path, nrows=0, encoding="utf-8").columns]
    except Exception:  # noqa: BLE001 - the loader reports unreadable files with their own message
        return None


def check_other_columns(model) -> None:
    """Survey columns a report names besides its measures (`other_measures`) are in the survey file."""
    others, survey = getattr(model, "other_measures", None), getattr(model, "survey", None)
    if not others or survey is None or getattr(survey, "path", None) is None:
        return
    header = file_columns(survey.path)
    missing = [c for c in others if header is not None and c not in header]
    if missing:
        raise DataCheckError(f"field 'parameters.other_measures': expected the survey's columns (no column "
                             f"'{missing[0][:60]}' in {survey.path[-80:]})")


def check_data(model, log_in_place=None) -> None:
    """Every data check of a validated parameter model, in order; the first problem raises
    `DataCheckError`. Sources read in place are passed to `log_in_place(name, source)` (the runner's
    engine check), or skipped when it is None; the others are loaded (`check_loaded`)."""
    check_files(model)
    check_other_columns(model)
    loaded = {}
    for name, source in data_sources(model):
        if getattr(source, "in_place", False):
            if log_in_place is not None:
                log_in_place(name, source)
        elif getattr(source, "path", None) and hasattr(source, "load"):
            loaded[name] = check_loaded(name, source)
    cross_check = getattr(model, "check_against_data", None)
    if cross_check is not None and loaded:
        problem = cross_check(loaded)              # (field, expectation) or None: the files together
        if problem:
            raise DataCheckError(f"field 'parameters.{problem[0]}': expected {problem[1]}")


# ---------------------------------------------------------------- a log against the report's windows

def log_window_problem(log, resolved_windows, minimum: int = MIN_DATA_ROWS) -> str | None:
    """Why a transaction log cannot feed a cohort report with these windows, or None: at least `minimum`
    customers whose first purchase falls in the cohort window, and at least one of them with a repeat
    purchase in calibration (without one, no purchase model is identified)."""
    import pandas as pd

    start, cal_end = pd.Timestamp(resolved_windows.cohort_start), pd.Timestamp(resolved_windows.calibration_end)
    dates = pd.to_datetime(log["date"]).dt.normalize()
    first = dates.groupby(log["customer_id"].to_numpy()).min()
    cohort = first[(first >= start) & (first <= cal_end)].index
    span = f"the log runs from {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}" if len(dates) else "the log is empty"
    if len(cohort) < minimum:
        return (f"at least {minimum} customers whose first purchase falls between cohort_start and calibration_end "
                f"({start:%Y-%m-%d} to {cal_end:%Y-%m-%d}: found {len(cohort)}; {span})")
    in_cal = log["customer_id"].isin(cohort).to_numpy() & (dates <= cal_end).to_numpy()
    days = pd.DataFrame({"c": log["customer_id"].to_numpy()[in_cal], "d": dates.to_numpy()[in_cal]}).drop_duplicates()
    if not days["c"].duplicated().any():
        return (f"at least one customer with a repeat purchase (on a later day) by calibration_end {cal_end:%Y-%m-%d}: "
                f"every one of the {len(cohort):,} cohort customers bought on one day only, so no purchase model can "
                "be fitted")
    return None


def windows_problem(model, log) -> tuple[str, str] | None:
    """A report's windows (its parameters, completed from the log as `windows.resolve` does) against a
    user's log: (field, expectation) of the first problem, or None."""
    from . import windows

    try:
        resolved = windows.resolve(model, log["date"].min(), log["date"].max(), dataset=model.transactions.dataset)
    except windows.WindowError as exc:
        return exc.field, exc.expected
    problem = log_window_problem(log, resolved)
    return ("calibration_end", problem) if problem else None
