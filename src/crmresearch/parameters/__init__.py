"""Typed parameter schemas, one per notebook, and the parameter-file format.

A parameter file (`params/<topic>/<variant>.yaml`) looks like::

    notebook: 00_crm_overview        # which notebook runs
    variant: real_data               # report folder name: reports/crm_overview/real_data/
    description: One line for the index page (optional)
    parameters:                      # validated by the notebook's schema
      survey: {dataset: mobi}
      seed: 20261123

Every notebook also receives three reserved parameters from the runner: `variant`,
`output_dir` and `params_file`. Unknown keys, wrong types, out-of-range values and missing
data files are rejected before any kernel starts (`ParameterFileError`, exit code 2).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import config

# Notebook name -> "module:Class" of its schema (imported lazily so the CLI starts fast).
SCHEMAS = {
    "00_crm_overview": "crmresearch.parameters.crm_overview:CrmOverviewParameters",
    "01_satisfaction_loyalty": "crmresearch.parameters.satisfaction_loyalty:SatisfactionLoyaltyParameters",
    "02_lifecycle_transitions": "crmresearch.parameters.lifecycle_transitions:LifecycleParameters",
    "03_customer_lifetime_value": "crmresearch.parameters.customer_lifetime_value:ClvParameters",
}

RESERVED = ("variant", "output_dir", "params_file")


class ReportParameters(BaseModel):
    """Fields every notebook has. Subclasses add their own; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variant: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    output_dir: str | None = None
    params_file: str | None = None
    seed: int = Field(config.DEFAULT_SEED, ge=0, description="seed of every random draw in the report")


def topic(notebook: str) -> str:
    """`01_satisfaction_loyalty` -> `satisfaction_loyalty` (the reports/ and params/ folder name)."""
    return re.sub(r"^\d+_", "", notebook)


def schema_for(notebook: str) -> type[ReportParameters]:
    if notebook not in SCHEMAS:
        raise KeyError(notebook)
    module, cls = SCHEMAS[notebook].split(":")
    return getattr(importlib.import_module(module), cls)


def from_namespace(notebook: str, namespace: dict) -> ReportParameters:
    """Validate a notebook's parameter variables (its `globals()`) against its schema.

    Called in the cell after `parameters`, so values injected by papermill are what is checked.
    """
    schema = schema_for(notebook)
    values = {name: namespace[name] for name in schema.model_fields if name in namespace}
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise ParameterFileError(namespace.get("params_file") or f"notebook {notebook}",
                                 _describe(exc)) from None


class ParameterFileError(ValueError):
    def __init__(self, path, problems: list[str] | str):
        self.path = str(path)
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(f"{self.path}: {p}" for p in self.problems))


def _describe(exc: ValidationError, prefix: str = "parameters") -> list[str]:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        if err["type"] == "extra_forbidden":
            problems.append(f"field '{field}': unknown key (not a parameter of this notebook)")
        elif err["type"] == "missing":
            problems.append(f"field '{field}': required but missing")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
            problems.append(f"field '{field}': expected {err['msg'].lower()} (got {shown})")
    return problems


class ParameterFile(BaseModel):
    """A validated parameter file."""

    model_config = ConfigDict(frozen=True)

    path: Path
    notebook: str
    variant: str
    description: str | None
    parameters: dict[str, Any]     # as written in the file
    validated: ReportParameters    # with defaults filled in

    @property
    def topic(self) -> str:
        return topic(self.notebook)

    @property
    def notebook_path(self) -> Path:
        return config.NOTEBOOKS_DIR / f"{self.notebook}.ipynb"

    def report_dir(self, reports_dir: Path) -> Path:
        return reports_dir / self.topic / self.variant

    def papermill_parameters(self, output_dir: Path) -> dict:
        """What papermill injects: the file's values (defaults left to the notebook) plus the reserved ones."""
        values = self.validated.model_dump(mode="json", exclude=set(RESERVED))
        injected = {k: v for k, v in values.items() if k in self.parameters}
        return {**injected, "variant": self.variant, "output_dir": str(output_dir),
                "params_file": str(self.path)}


def load_parameter_file(path) -> ParameterFile:
    """Read and validate one parameter file; raises ParameterFileError naming file and field."""
    path = Path(path).resolve()
    if not path.exists():
        raise ParameterFileError(path, "file not found")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParameterFileError(path, f"not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ParameterFileError(path, "expected a mapping with keys notebook, variant, parameters")
    problems = []
    unknown = set(doc) - {"notebook", "variant", "description", "parameters"}
    for key in sorted(unknown):
        problems.append(f"field '{key}': unknown key (expected notebook, variant, description, parameters)")
    notebook = doc.get("notebook")
    if notebook not in SCHEMAS:
        problems.append(f"field 'notebook': expected one of {', '.join(SCHEMAS)} (got {notebook!r})")
    variant = doc.get("variant")
    if not isinstance(variant, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", variant):
        problems.append(f"field 'variant': expected a lower-case slug like 'real_data' (got {variant!r})")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        problems.append("field 'parameters': expected a mapping of parameter names to values")
        params = {}
    reserved = set(params) & set(RESERVED)
    for key in sorted(reserved):
        problems.append(f"field 'parameters.{key}': reserved, set by the runner")
    if problems:
        raise ParameterFileError(path, problems)
    schema = schema_for(notebook)
    try:
        validated = schema.model_validate({**params, "variant": variant, "params_file": str(path)})
    except ValidationError as exc:
        raise ParameterFileError(path, _describe(exc)) from None
    return ParameterFile(path=path, notebook=notebook, variant=variant, description=doc.get("description"),
                         parameters=params, validated=validated)


def discover(params_dir: Path | None = None) -> list[Path]:
    return sorted((params_dir or config.PARAMS_DIR).glob("*/*.yaml"))
