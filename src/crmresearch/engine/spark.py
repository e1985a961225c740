"""Backend selection: an Ibis connection to DuckDB (embedded, default) or to Spark through PySpark.

`check_spark()` is the pre-kernel check of `engine: {backend: pyspark}` (run by the runner's pre-flight,
`runner.check_environment`; the parameter schema itself is data only): it finds PySpark (in the
version range the Ibis PySpark backend accepts) and a Java runtime (Spark 4 needs Java 17 or
newer) without starting a JVM, and raises `SparkUnavailable` with the reason otherwise.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

# ibis-framework 12 accepts pyspark >=3.5,<4.1; Spark 4.0 runs on Java 17 and 21.
PYSPARK_RANGE = ((3, 5), (4, 1))
MIN_JAVA = {3: 8, 4: 17}


class SparkUnavailable(RuntimeError):
    """PySpark or Java is missing or of an unusable version."""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def java_executable() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@lru_cache(maxsize=4)
def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if out.returncode != 0 or not m:
        raise SparkUnavailable(f"'{java} -version' failed (exit {out.returncode})")
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major   # "1.8.0" is Java 8


def unavailable_reason() -> str | None:
    """Why the Spark route cannot run here (None when PySpark and Java are usable)."""
    try:
        check_spark()
    except SparkUnavailable as exc:
        return str(exc)
    return None


def check_spark() -> str:
    """A one-line description of the usable PySpark + Java, or `SparkUnavailable` with the reason."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailable("PySpark is not installed (pip install 'crmresearch[spark]')")
    version = importlib.metadata.version("pyspark")
    v = _version_tuple(version)[:2]
    if not PYSPARK_RANGE[0] <= v < PYSPARK_RANGE[1]:
        raise SparkUnavailable(f"PySpark {version} is installed; the Ibis PySpark backend needs >=3.5,<4.1")
    java = java_executable()
    if java is None:
        raise SparkUnavailable("no Java runtime found (set JAVA_HOME or put 'java' on PATH; Spark 4 needs Java 17+)")
    try:
        major = _java_major(java)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SparkUnavailable(f"Java at {java} cannot be run ({type(exc).__name__})") from None
    need = MIN_JAVA.get(v[0], 17)
    if major < need:
        raise SparkUnavailable(f"Java {major} found at {java}; PySpark {version} needs Java {need} or newer")
    return f"PySpark {version}, Java {major} ({java})"


def duckdb_connection(settings, database: str = ":memory:"):
    """An Ibis DuckDB connection with the memory limit, threads and spill folder of `settings` (a
    validated `engine:` block; the engine layer reads its values and never builds one)."""
    import ibis

    # Progress is tracked (for the run log's heartbeat) but never printed into a notebook's output.
    config = {"memory_limit": settings.memory_limit, "preserve_insertion_order": False}
    if settings.threads:
        config["threads"] = settings.threads
    if settings.temp_directory:
        Path(settings.temp_directory).mkdir(exist_ok=True)     # its parent exists (the runner's pre-flight)
        config["temp_directory"] = settings.temp_directory
    else:
        # DuckDB's own default is `.tmp` in the working directory, i.e. inside the report's folder;
        # spill instead to a private folder of the system's temporary space, removed at exit (and, in a
        # report run, with the run's scratch folder, which the runner removes after the kernel).
        import atexit
        import shutil
        import tempfile

        from ..config import SCRATCH_ENV

        folder = tempfile.mkdtemp(prefix="crmresearch-spill-", dir=os.environ.get(SCRATCH_ENV) or None)
        atexit.register(shutil.rmtree, folder, True)
        config["temp_directory"] = folder
    con = ibis.duckdb.connect(database, **config)
    # The footers of a many-file Parquet log are read once, not by every query (0.1 s a query at 1,440 files).
    con.con.execute("SET parquet_metadata_cache = true")
    try:
        # Track progress for the run log's heartbeat without printing a bar into any output; inside a
        # Jupyter kernel DuckDB refuses the setting (it wants ipywidgets) and progress shows as "running".
        con.con.execute("SET enable_progress_bar_print = false")
        con.con.execute("SET enable_progress_bar = true")
    except Exception:  # noqa: BLE001 - progress is best effort
        pass
    return con


def spark_session(settings):
    """A (possibly shared) SparkSession for `settings.spark_master` and `settings.spark_config`."""
    check_spark()
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(settings.spark_master).appName("crmresearch")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.ansi.enabled", "false")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if settings.threads:
        builder = builder.config("spark.sql.shuffle.partitions", str(max(2, 2 * settings.threads)))
    for key, value in settings.spark_config.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    return builder.getOrCreate()


def connect(settings):
    """The Ibis backend named by `settings.backend`, a validated `engine:` block."""
    import ibis

    if settings.backend == "pyspark":
        return ibis.pyspark.connect(spark_session(settings))
    return duckdb_connection(settings)
