"""Transaction logs as Ibis tables: CSV or Parquet files, globs, hive-partitioned folders, a DuckDB table.

`open_log(con, source)` returns a table with exactly `customer_id` (string), `date` (date) and
`amount` (float64; 1.0 when the log has no amount column), after checking the user's columns:
a missing column, a value that is not a date in the given format or not a number, a missing
customer id and a negative or missing amount each raise `DataValidationError` naming the file,
the column and the expectation, with row numbers where the engine gives them (DuckDB's
`store_rejects` for CSV: 1-based data rows, header excluded, as the pandas loader numbers them;
Parquet: row numbers within the named file). Nothing is read into Python but a few counts.

A CSV column is read with an explicit type (DuckDB would otherwise turn a column with one bad
value into text silently) and dates with the user's `date_format` (strftime codes, as in
`pandas.to_datetime`).
"""

from __future__ import annotations

import glob as globlib
import re
from dataclasses import dataclass
from pathlib import Path

from .. import spend_sums
from ..datasets import DataValidationError, require_columns

TIME_CODES = re.compile(r"%[HIMSfpzZTRc]")
CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_ROWS_SHOWN = 10


@dataclass(frozen=True)
class LogSource:
    """Where a transaction log lives and which of its columns hold customer, date and amount.

    `path`: a file, a glob (`logs/*.parquet`) or a folder (hive-partitioned Parquet, read with
    its partition columns); or `table` (optionally in the DuckDB `database` file).
    """

    path: str | None = None
    table: str | None = None
    database: str | None = None
    customer_column: str = "customer_id"
    date_column: str = "date"
    amount_column: str | None = "amount"
    date_format: str | None = None

    def __post_init__(self):
        if (self.path is None) == (self.table is None):
            raise ValueError("a log source needs exactly one of 'path' or 'table'")

    @property
    def label(self) -> str:
        return self.path if self.path is not None else f"{self.database or 'duckdb'}:{self.table}"

    @classmethod
    def from_transactions(cls, transactions) -> LogSource:
        """From a `parameters.sources.TransactionSource` block (a user's file, folder, glob or table)."""
        return cls(path=None if transactions.path is None else str(transactions.path), table=transactions.table,
                   database=transactions.database, customer_column=transactions.customer_column,
                   date_column=transactions.date_column, amount_column=transactions.amount_column,
                   date_format=transactions.date_format)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _kind(path: str) -> tuple[str, str]:
    """('csv' | 'parquet', the path or glob DuckDB reads)."""
    p = Path(path)
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))]
        if not files:
            raise DataValidationError(path, None, "a folder holding CSV or Parquet files (it is empty)")
        kinds = {("parquet" if f.name.lower().endswith(PARQUET_SUFFIXES) else "csv"
                  if f.name.lower().endswith(CSV_SUFFIXES) else "other") for f in files}
        if kinds != {"parquet"} and kinds != {"csv"}:
            raise DataValidationError(path, None, "a folder of only Parquet or only CSV files")
        kind = kinds.pop()
        return kind, str(p / "**" / ("*.parquet" if kind == "parquet" else "*"))
    matches = globlib.glob(path, recursive=True) if globlib.has_magic(path) else ([path] if p.exists() else [])
    if not matches:
        raise DataValidationError(path, None, "an existing file, folder or glob matching files")
    name = matches[0].lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet", path
    if name.endswith(CSV_SUFFIXES):
        return "csv", path
    raise DataValidationError(path, None, "CSV (.csv, .txt) or Parquet (.parquet, .pq) files")


def _duck(con):
    """The DuckDB connection under an Ibis DuckDB backend."""
    return con.con


def _csv_scan(path: str, source: LogSource, typed: bool, rejects: bool = False) -> str:
    opts = ["header=true", "hive_partitioning=false"]
    if typed:
        types = {source.customer_column: "VARCHAR"}
        timestamp = source.date_format is None or TIME_CODES.search(source.date_format)
        types[source.date_column] = "TIMESTAMP" if timestamp else "DATE"
        if source.date_format:
            opts.append(("timestampformat=" if timestamp else "dateformat=") + _literal(source.date_format))
        if source.amount_column:
            types[source.amount_column] = "DOUBLE"
        opts.append("types={" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in types.items()) + "}")
    if rejects:
        opts += ["store_rejects=true", "rejects_table='crm_reject_errors'", "rejects_scan='crm_reject_scans'"]
    return f"read_csv({_literal(path)}, {', '.join(opts)})"


def _csv_rejects(db, path, source) -> None:
    """Scan every needed column once with DuckDB's reject store; raise on the first bad column."""
    c, d = _quote(source.customer_column), _quote(source.date_column)
    a = _quote(source.amount_column) if source.amount_column else "NULL"
    for table in ("crm_reject_errors", "crm_reject_scans"):      # keep only this scan's rejects
        db.execute(f"DROP TABLE IF EXISTS {table}")
    db.execute(f"SELECT count({c}), count({d}), count({a}) FROM {_csv_scan(path, source, True, True)}").fetchall()
    rows = db.execute("SELECT column_name, error_type, line, file_id FROM crm_reject_errors "
                      "ORDER BY line").fetchall()
    if not rows:
        return
    column, error_type = rows[0][0], rows[0][1]
    lines = [r[2] - 1 for r in rows if r[0] == column][:MAX_ROWS_SHOWN]
    if error_type == "CAST":
        expected = ("dates" + (f" in format {source.date_format}" if source.date_format else " (YYYY-MM-DD)")
                    if column == source.date_column else "numeric values")
    else:
        expected = f"a well-formed CSV row ({error_type.lower()})"
        column = None
    raise DataValidationError(path, column, expected, lines)


def _no_null_ids(db, scan_path: str, source) -> bool:
    """Whether the Parquet files' own statistics show no missing customer id: every row group of every
    file has a null count for the id column, and they are all 0 (0.1 s for 1,440 files, against a
    second to read 100 million ids). Anything else (no statistics, a file without the column, an id
    that is a hive partition key) leaves the check to the scan, which names the rows."""
    try:
        groups, counted, nulls = db.execute(
            "SELECT count(DISTINCT (file_name, row_group_id)), count(stats_null_count) FILTER (WHERE path_in_schema = ?), "
            "sum(stats_null_count) FILTER (WHERE path_in_schema = ?) FROM parquet_metadata(?)",
            [source.customer_column, source.customer_column, scan_path]).fetchone()
    except Exception:  # noqa: BLE001 - no statistics to read: the scan checks
        return False
    return bool(groups) and counted == groups and nulls == 0


def _check_values(db, relation: str, path, source, row_numbers: bool, ids_known_present: bool = False) -> None:
    """Missing customer ids, missing or negative amounts: raise with file and row numbers.
    `ids_known_present`: the files' statistics showed no missing id (`_no_null_ids`), so the scan
    does not read the ids."""
    c = _quote(source.customer_column)
    checks = [] if ids_known_present else [(source.customer_column, f"{c} IS NULL", "a customer id on every row")]
    checks.append((source.date_column, f"{_quote(source.date_column)} IS NULL",
                   "dates" + (f" in format {source.date_format}" if source.date_format else "")))
    if source.amount_column:
        a = _quote(source.amount_column)
        checks += [(source.amount_column, f"{a} IS NULL", "no missing values"),
                   (source.amount_column, f"{a} < 0", "values at least 0"),
                   (source.amount_column, f"{a} > {spend_sums.MAX_AMOUNT}", f"values at most {spend_sums.MAX_AMOUNT:.0e}")]
    sums = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond, _ in checks)
    counts = db.execute(f"SELECT {sums} FROM {relation}").fetchone()
    for (column, cond, expected), n in zip(checks, counts):
        if not n:
            continue
        where, rows = path, []
        if row_numbers:
            found = db.execute(f"SELECT filename, file_row_number + 1 FROM {relation} WHERE {cond} "
                               f"ORDER BY filename, file_row_number LIMIT {MAX_ROWS_SHOWN}").fetchall()
            where, rows = found[0][0], [r[1] for r in found if r[0] == found[0][0]]
        raise DataValidationError(where, column, f"{expected} ({_rows_fail(n)})", rows)


def _rows_fail(n: int) -> str:
    return f"{n:,} row fails" if n == 1 else f"{n:,} rows fail"


def _date_expression(source: LogSource, dtype: str) -> str:
    d = _quote(source.date_column)
    if dtype.startswith(("DATE", "TIMESTAMP")):
        return f"CAST({d} AS DATE)"
    if source.date_format:
        return f"CAST(try_strptime(CAST({d} AS VARCHAR), {_literal(source.date_format)}) AS DATE)"
    return f"TRY_CAST(CAST({d} AS VARCHAR) AS DATE)"


def _duckdb_log(con, source: LogSource, validate: bool, name: str):
    db = _duck(con)
    if source.table is not None:
        if source.database:
            db.execute(f"ATTACH IF NOT EXISTS {_literal(source.database)} AS crm_source (READ_ONLY)")
            relation = f"crm_source.{_quote(source.table)}"
        else:
            relation = _quote(source.table)
        path, kind, file_rows = source.label, "table", False
    else:
        kind, scan_path = _kind(source.path)
        path = source.path
        if kind == "parquet":
            relation = (f"read_parquet({_literal(scan_path)}, hive_partitioning=true, union_by_name=true, "
                        f"filename=true, file_row_number=true)")
            file_rows = True
        else:
            relation, file_rows = None, False
    wanted = [c for c in (source.customer_column, source.date_column, source.amount_column) if c]
    if kind == "csv":
        described = db.execute(f"DESCRIBE SELECT * FROM {_csv_scan(scan_path, source, False)}").fetchall()
        require_columns(path, [r[0] for r in described], wanted)
        if validate:
            _csv_rejects(db, scan_path, source)
        relation = _csv_scan(scan_path, source, True)
    try:
        described = db.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except Exception as exc:  # noqa: BLE001 - DuckDB raises many types for unreadable files
        raise DataValidationError(path, None, f"readable {kind} data ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200]})") from None
    types = {r[0]: r[1] for r in described}
    require_columns(path, [c for c in types if c not in ("filename", "file_row_number")], wanted)
    amount_type = types.get(source.amount_column, "DOUBLE") if source.amount_column else None
    if amount_type is not None and not re.match(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|"
                                                r"UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)", amount_type):
        amount_sql = f"TRY_CAST({_quote(source.amount_column)} AS DOUBLE)"
    else:
        amount_sql = f"CAST({_quote(source.amount_column)} AS DOUBLE)" if source.amount_column else "1.0"
    select = (f"CAST({_quote(source.customer_column)} AS VARCHAR) AS customer_id, "
              f"{_date_expression(source, types[source.date_column])} AS date, {amount_sql} AS amount")
    if validate:
        extra = ", filename, file_row_number" if file_rows else ""
        if amount_type is not None and amount_sql.startswith("TRY_CAST"):
            bad = db.execute(f"SELECT count(*) FROM {relation} WHERE {amount_sql} IS NULL AND "
                             f"{_quote(source.amount_column)} IS NOT NULL").fetchone()[0]
            if bad:
                raise DataValidationError(path, source.amount_column, f"numeric values ({_rows_fail(bad)})")
        renamed = (f"CAST({_quote(source.customer_column)} AS VARCHAR) AS {_quote(source.customer_column)}, "
                   f"{_date_expression(source, types[source.date_column])} AS {_quote(source.date_column)}")
        if source.amount_column:
            renamed += f", {amount_sql} AS {_quote(source.amount_column)}"
        checked = f"(SELECT {renamed}{extra} FROM {relation})"
        _check_values(db, checked, path, source, file_rows,
                      ids_known_present=kind == "parquet" and source.table is None and _no_null_ids(db, scan_path, source))
    db.execute(f"CREATE OR REPLACE TEMP VIEW {_quote(name)} AS SELECT {select} FROM {relation}")
    sample_files = _spread_files(scan_path) if kind == "parquet" and source.table is None else []
    if len(sample_files) > 1:
        # A few files spread over the log, for choosing ranges of customer ids (`id_sample`): reading
        # every file's ids to sample them takes 2 s on 100 million rows, these take a tenth of it.
        db.execute(f"CREATE OR REPLACE TEMP VIEW {_quote(name + ID_SAMPLE)} AS SELECT "
                   f"CAST({_quote(source.customer_column)} AS VARCHAR) AS customer_id FROM read_parquet("
                   f"[{', '.join(_literal(f) for f in sample_files)}], hive_partitioning=true, union_by_name=true)")
    else:
        db.execute(f"DROP VIEW IF EXISTS {_quote(name + ID_SAMPLE)}")      # none from an earlier log of this name
    return con.table(name)


ID_SAMPLE = "_id_sample"
SAMPLE_FILES = 64


def _spread_files(scan_path: str, n: int = SAMPLE_FILES) -> list[str]:
    """Up to `n` files evenly spread over the sorted files of a glob (none if it matches fewer than 2n)."""
    files = sorted(globlib.glob(scan_path, recursive=True))
    if len(files) < 2 * n:
        return []
    step = len(files) / n
    return [files[int(i * step)] for i in range(n)]


def id_sample(con, name: str = "crm_log"):
    """The table of customer ids from a spread of the files of the log opened as `name` (DuckDB,
    Parquet logs of at least 128 files), or None: the log itself is then sampled
    (`ranges.customer_ranges` looks it up)."""
    if con.name != "duckdb":
        return None
    found = _duck(con).execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name + ID_SAMPLE]).fetchall()[0][0]
    return con.table(name + ID_SAMPLE) if found else None


def _spark_log(con, source: LogSource, validate: bool):
    import ibis

    if source.table is not None:
        t = con.table(source.table)
        path = source.label
    else:
        kind, _ = _kind(source.path)
        path = source.path
        t = (con.read_parquet(source.path) if kind == "parquet"
             else con.read_csv(source.path, header=True, inferSchema=False))
    wanted = [c for c in (source.customer_column, source.date_column, source.amount_column) if c]
    require_columns(path, list(t.columns), wanted)
    d = t[source.date_column]
    if d.type().is_string():
        # Ibis passes the strftime format to sqlglot, which writes Spark's Java pattern.
        d = d.as_date(source.date_format) if source.date_format else d.cast("date")
    else:
        d = d.cast("date")
    amount = t[source.amount_column].cast("float64") if source.amount_column else ibis.literal(1.0, "float64")
    out = t.select(customer_id=t[source.customer_column].cast("string"), date=d, amount=amount)
    if validate:
        counts = out.aggregate(c=out.customer_id.isnull().sum(), d=out.date.isnull().sum(),
                               a=out.amount.isnull().sum(), n=(out.amount < 0).sum(),
                               m=(out.amount > spend_sums.MAX_AMOUNT).sum()).to_pandas().iloc[0]
        checks = [("c", source.customer_column, "a customer id on every row"),
                  ("d", source.date_column, "dates" + (f" in format {source.date_format}" if source.date_format else "")),
                  ("a", source.amount_column, "numeric values with none missing"),
                  ("n", source.amount_column, "values at least 0"),
                  ("m", source.amount_column, f"values at most {spend_sums.MAX_AMOUNT:.0e}")]
        for key, column, expected in checks:
            if counts[key]:
                raise DataValidationError(path, column, f"{expected} ({_rows_fail(int(counts[key]))})")
    return out


CHECKED_ENV = "CRMRESEARCH_DATA_CHECKED"


def checked_by_runner() -> bool:
    """True inside a kernel started by `crmresearch run`, which has already checked the report's data
    files before the kernel started (`runner.check_data_files`): the kernel need not scan a large log
    a second time. A notebook run any other way (JupyterLab, papermill) checks it itself."""
    import os

    return os.environ.get(CHECKED_ENV) == "1"


def open_log(con, source: LogSource, validate: bool = True, name: str = "crm_log"):
    """The log of `source` on the Ibis backend `con` as (customer_id string, date date, amount float64)."""
    if con.name == "duckdb":
        return _duckdb_log(con, source, validate, name)
    if con.name == "pyspark":
        return _spark_log(con, source, validate)
    raise ValueError(f"unsupported engine backend {con.name!r}")


def open_frame(con, frame, name: str = "crm_frame"):
    """A transaction log already in pandas (customer_id, date, amount; e.g. a shipped data set or a
    simulated log) as a table of the engine `con`, with the same column types as `open_log`."""
    import pandas as pd
    import pyarrow as pa

    amount = frame["amount"].to_numpy(float) if "amount" in frame else 1.0
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str).to_numpy(),
                        "date": pd.to_datetime(frame["date"]).dt.floor("D").dt.date, "amount": amount})
    table = pa.Table.from_pandas(out, preserve_index=False, schema=pa.schema(
        [("customer_id", pa.string()), ("date", pa.date32()), ("amount", pa.float64())]))
    if con.name == "duckdb":
        con.con.register(name, table)
        return con.table(name)
    if con.name == "pyspark":
        con._session.createDataFrame(out).createOrReplaceTempView(name)
        t = con.table(name)
        return t.select(customer_id=t.customer_id.cast("string"), date=t.date.cast("date"),
                        amount=t.amount.cast("float64"))
    raise ValueError(f"unsupported engine backend {con.name!r}")
