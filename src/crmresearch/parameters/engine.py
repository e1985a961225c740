"""The `engine:` block of a parameter file: where large transaction logs are summarised.

    engine:
      backend: duckdb            # duckdb (embedded, default) | pyspark (a Spark session or cluster)
      memory_limit: 2GB          # DuckDB spills to temp_directory beyond this (default: 60% of RAM)
      threads: 2                 # engine worker threads (default: all cores)
      temp_directory: /scratch   # where DuckDB spills (default: DuckDB's own, beside the database)
      spark_master: local[2]     # or spark://host:7077, yarn, k8s://...
      spark_config: {spark.executor.memory: 4g}

The schema is data only: whether Java and PySpark are present for `backend: pyspark` is checked
by the runner's pre-flight (`crmresearch.runner.check_environment`, before any kernel starts),
which rejects the file with the reason.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MEMORY_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_UNIT_BYTES = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MIN_MEMORY_BYTES = 64 * 2**20            # DuckDB cannot run a grouped aggregate in much less
MAX_MEMORY_BYTES = 2**50
DEFAULT_MEMORY_FRACTION = 0.6             # of the machine's physical memory
MAX_THREADS = 1024
SPARK_MASTER_PATTERN = re.compile(r"^(local(\[(\d+|\*)\])?|spark://[\w.\-]+(:\d+)?(,[\w.\-]+(:\d+)?)*|yarn|"
                                  r"k8s://[\w.\-:/]+|sc://[\w.\-]+(:\d+)?(/[\w;=.\-]*)?)$")
SPARK_KEY_PATTERN = re.compile(r"^spark\.[A-Za-z0-9_.\-]{1,200}$")
# Resource and tuning settings only: a parameter file may size and tune Spark, never add JVM options,
# class paths, jars, packages or Python executables (which would run code a parameter file names).
SPARK_ALLOWED_PREFIXES = ("spark.executor.memory", "spark.executor.cores", "spark.executor.instances",
                          "spark.executor.memoryOverhead", "spark.driver.memory", "spark.driver.cores",
                          "spark.driver.maxResultSize", "spark.default.parallelism", "spark.sql.shuffle.partitions",
                          "spark.sql.adaptive.", "spark.sql.files.maxPartitionBytes", "spark.sql.session.timeZone",
                          "spark.memory.fraction", "spark.memory.storageFraction", "spark.network.timeout",
                          "spark.dynamicAllocation.")
# Numeric Spark settings (partitions, sizes in bytes, fractions), bounded like every numeric parameter.
SparkInt = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
SparkFloat = Annotated[float, Field(ge=-1e18, le=1e18)]


def machine_memory_bytes() -> int:
    """Physical memory of this machine (cgroup limits are left to the engine itself)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def memory_bytes(text: str) -> int:
    m = MEMORY_PATTERN.match(text)
    if not m:
        raise ValueError("a memory size such as '2GB', '512MB' or '1.5GiB'")
    return int(float(m.group(1)) * _UNIT_BYTES[m.group(2).lower()])


def default_memory_limit() -> str:
    return f"{max(MIN_MEMORY_BYTES, int(DEFAULT_MEMORY_FRACTION * machine_memory_bytes())) // 2**20}MiB"


class EngineSettings(BaseModel):
    """Backend and resource limits of the engine that summarises transaction logs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    backend: Literal["duckdb", "pyspark"] = "duckdb"
    memory_limit: str = Field(default_factory=default_memory_limit, max_length=32)
    threads: int | None = Field(None, ge=1, le=MAX_THREADS)
    temp_directory: str | None = Field(None, max_length=1000)
    spark_master: str = Field("local[*]", max_length=300)
    spark_config: dict[str, bool | SparkInt | SparkFloat | str] = Field(default_factory=dict, max_length=100)

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, v: str) -> str:
        n = memory_bytes(v)
        if not MIN_MEMORY_BYTES <= n <= MAX_MEMORY_BYTES:
            raise ValueError(f"a memory limit between 64MiB and 1PiB (got {v})")
        return v.strip()

    @field_validator("temp_directory")
    @classmethod
    def _temp(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "\x00" in v or not v.strip():
            raise ValueError("a folder path")
        return v

    @field_validator("spark_master")
    @classmethod
    def _master(cls, v: str) -> str:
        if not SPARK_MASTER_PATTERN.match(v):
            raise ValueError("a Spark master URL: local[N], local[*], spark://host:port, yarn, k8s://... or sc://host")
        return v

    @field_validator("spark_config", mode="before")
    @classmethod
    def _spark_numbers(cls, v):
        # One clear message instead of one per member of the value union.
        if isinstance(v, dict) and any(isinstance(x, (int, float)) and not isinstance(x, bool)
                                       and not (-1e18 <= x <= 1e18) for x in v.values()):
            raise ValueError("Spark configuration numbers between -1e18 and 1e18")
        return v

    @field_validator("spark_config")
    @classmethod
    def _spark_keys(cls, v: dict) -> dict:
        bad = [k for k in v if not SPARK_KEY_PATTERN.match(k)]
        if bad:
            raise ValueError(f"Spark configuration keys starting with 'spark.' (got {bad[0][:60]!r})")
        foreign = [k for k in v if not k.startswith(SPARK_ALLOWED_PREFIXES)]
        if foreign:
            raise ValueError(f"Spark resource and tuning settings only ({', '.join(p.rstrip('.') for p in SPARK_ALLOWED_PREFIXES[:4])}, "
                             f"...; got {foreign[0][:60]!r})")
        if any(isinstance(x, str) and len(x) > 1000 for x in v.values()):
            raise ValueError("Spark configuration values of at most 1000 characters")
        return v

    @property
    def memory_limit_bytes(self) -> int:
        return memory_bytes(self.memory_limit)
