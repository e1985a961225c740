"""Check parameter files before any kernel starts (`crmresearch validate`, and `run`'s pre-flight).

A file is checked against its schema, its notebook's `parameters` cell, the machine (an engine
backend's needs) and its input data (`checks.check_data`; a log read in place is opened by the
engine); nothing is executed here.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from ..parameters import CELL_NAMES, ParameterFile, ParameterFileError, load_parameter_file


def parameters_cell_names(notebook_path: Path) -> set[str]:
    """Names assigned in the notebook's single `parameters` cell (error unless exactly one)."""
    nb = json.loads(notebook_path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterFileError(notebook_path, f"expected exactly one cell tagged 'parameters' (found {len(cells)})")
    source = "".join(cells[0]["source"]) if isinstance(cells[0]["source"], list) else cells[0]["source"]
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def validate_files(paths) -> tuple[list[ParameterFile], list[ParameterFileError]]:
    """Validate every file; return the good ones and all errors (nothing is executed).

    One bad file never stops the others from being checked: whatever goes wrong while checking a
    file becomes that file's error.
    """
    good, errors = [], []
    seen = {}
    for path in paths:
        try:
            pf = load_parameter_file(path)
            check_environment(pf)
            if not pf.notebook_path.exists():
                raise ParameterFileError(path, f"field 'notebook': no notebook at {pf.notebook_path}")
            try:
                declared = parameters_cell_names(pf.notebook_path)
            except (OSError, ValueError, KeyError, TypeError, SyntaxError) as exc:
                raise ParameterFileError(path, f"field 'notebook': {pf.notebook_path} is not a readable notebook "
                                               f"({type(exc).__name__})") from None
            missing = set(CELL_NAMES) - declared
            if missing:
                raise ParameterFileError(path, [f"field 'notebook': {pf.notebook_path.name}'s parameters cell does "
                                                f"not define '{m}' (it defines {', '.join(sorted(declared))})"
                                                for m in sorted(missing)])
            check_data_files(pf)
            key = (pf.topic, pf.variant)
            if key in seen:
                raise ParameterFileError(path, f"field 'variant': '{pf.variant}' is also used by {seen[key]}")
            seen[key] = path
            good.append(pf)
        except ParameterFileError as exc:
            errors.append(exc)
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not hide the others
            errors.append(ParameterFileError(path, f"could not be checked ({type(exc).__name__}: {str(exc)[:160]})"))
    return good, errors


def temp_directory_problem(folder: str) -> str | None:
    """What is wrong with an engine's `temp_directory` (None when it is usable): an existing folder this
    user can write in, or a new one directly inside such a folder; never a file, never a chain of new
    folders created anywhere."""
    path = Path(folder)
    if path.exists():
        if not path.is_dir():
            return "a folder for the engine's spill files (this is a file)"
        return None if os.access(path, os.W_OK | os.X_OK) else "a folder this user can write in"
    if not path.parent.is_dir():
        return "an existing folder, or a new one inside an existing folder (its parent does not exist)"
    return None if os.access(path.parent, os.W_OK | os.X_OK) else "a new folder inside a folder this user can write in"


def check_environment(pf: ParameterFile) -> None:
    """What the machine must provide for the file's settings, checked before any kernel starts: an
    `engine:` block's `temp_directory` must be a usable folder, and `backend: pyspark` needs Java and
    PySpark (`engine.spark.check_spark`)."""
    from pydantic import BaseModel

    def engines(model, prefix="parameters."):
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                if hasattr(value, "backend"):
                    yield f"{prefix}{name}", value
                yield from engines(value, f"{prefix}{name}.")

    for where, engine in engines(pf.validated):
        if getattr(engine, "temp_directory", None):
            problem = temp_directory_problem(engine.temp_directory)
            if problem:
                raise ParameterFileError(pf.path, f"field '{where}.temp_directory': expected {problem} "
                                                  f"(got {Path(engine.temp_directory).name or engine.temp_directory})")
        if engine.backend != "pyspark":
            continue
        from ..engine.spark import SparkUnavailable, check_spark

        try:
            check_spark()
        except SparkUnavailable as exc:
            raise ParameterFileError(pf.path, f"field '{where}': backend 'pyspark' needs Java and PySpark on this "
                                              f"machine: {exc}") from None


def check_data_files(pf: ParameterFile) -> None:
    """The data checks of the input layer (`checks.check_data`: files exist and are of a usable kind,
    load with their loaders, enough rows, survey items that vary), so a problem stops the run before
    any kernel starts; a log read in place is checked by the engine (`_check_log_in_place`)."""
    from ..checks import DataCheckError, check_data

    try:
        check_data(pf.validated, lambda name, source: _check_log_in_place(pf, name, source))
    except DataCheckError as exc:
        raise ParameterFileError(pf.path, str(exc)) from None


def _check_log_in_place(pf: ParameterFile, name: str, source) -> None:
    """A log the report's engine reads in place (folder, glob, table): the engine checks its columns
    and values now (`engine.sources.open_log`), with row numbers where the engine gives them."""
    from ..checks import MIN_DATA_ROWS
    from ..datasets import DataValidationError
    from ..engine import sources, spark
    from ..parameters.engine import EngineSettings

    what = "path" if source.path is not None else "table"
    try:
        con = spark.connect(getattr(pf.validated, "engine", None) or EngineSettings())
        try:
            table = sources.open_log(con, sources.LogSource.from_transactions(source), name="crm_check_log")
            rows = int(table.count().to_pyarrow().as_py())
        finally:
            if con.name == "duckdb":
                con.disconnect()
    except DataValidationError as exc:
        raise ParameterFileError(pf.path, f"field 'parameters.{name}.{what}': {exc}") from None
    except Exception as exc:  # noqa: BLE001 - engines raise many types for unreadable data
        raise ParameterFileError(pf.path, f"field 'parameters.{name}.{what}': {getattr(source, what)}: could not be "
                                          f"read ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
    if rows < MIN_DATA_ROWS:
        raise ParameterFileError(pf.path, f"field 'parameters.{name}.{what}': expected at least {MIN_DATA_ROWS} data "
                                          f"rows (found {rows})")
