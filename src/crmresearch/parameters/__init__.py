"""Typed parameter schemas, one per notebook, and the parameter-file format.

A parameter file (`params/<topic>/<variant>.yaml`) looks like::

    notebook: 00_crm_overview        # which notebook runs
    variant: real_data               # report folder name: reports/crm_overview/real_data/
    description: One line for the index page (optional)
    parameters:                      # validated by the notebook's schema
      survey: {dataset: mobi}
      seed: 20261123

A notebook's `parameters` cell defines only the reserved names `variant`, `output_dir` and
`params_file`, and `overrides`; every other value comes from the parameter file or the schema
(`from_namespace`). The runner sets all four. Unknown keys, wrong types, out-of-range values and
missing data files are rejected before any kernel starts (`ParameterFileError`, exit code 2).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .. import config

# Notebook name -> "module:Class" of its schema (imported lazily so the CLI starts fast).
SCHEMAS = {
    "00_crm_overview": "crmresearch.parameters.crm_overview:CrmOverviewParameters",
    "01_satisfaction_loyalty": "crmresearch.parameters.satisfaction_loyalty:SatisfactionLoyaltyParameters",
    "02_lifecycle_transitions": "crmresearch.parameters.lifecycle_transitions:LifecycleParameters",
    "03_customer_lifetime_value": "crmresearch.parameters.customer_lifetime_value:ClvParameters",
    "04_satisfaction_to_value": "crmresearch.parameters.satisfaction_to_value:SatisfactionToValueParameters",
    "05_contractual_retention": "crmresearch.parameters.contractual_retention:ContractualParameters",
    "06_relationship_states": "crmresearch.parameters.relationship_states:RelationshipStatesParameters",
}

RESERVED = ("variant", "output_dir", "params_file")
OVERRIDES = "overrides"
CELL_NAMES = (*RESERVED, OVERRIDES)    # what a notebook's `parameters` cell defines, and nothing else

MAX_PARAMETER_FILE_BYTES = 64 * 1024   # a parameter file is a few hundred bytes; refuse anything huge
MAX_DESCRIPTION_CHARS = 500


def shorten(value, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters: error messages never echo unbounded input (a NumPy
    number shows as the plain number it is)."""
    text = repr(value.item() if hasattr(value, "item") and getattr(value, "ndim", None) == 0 else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` without anchors/aliases (no expansion bombs) and without duplicate keys."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "anchors and aliases (& and *) are not allowed",
                                              event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "mapping keys must be plain values",
                                                        key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {shorten(key, 40)}",
                                                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class YamlError(ValueError):
    """Unreadable, oversized or invalid YAML; the message is one short line."""


def strict_yaml_load(text: str, max_bytes: int = MAX_PARAMETER_FILE_BYTES):
    """Parse YAML with `StrictLoader`, refusing more than `max_bytes`; errors are short `YamlError`s."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise YamlError(f"larger than {max_bytes // 1024} KiB")
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(exc.problem or exc.context or "syntax error")[:120]
        raise YamlError(f"not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {str(exc)[:120]}") from None
    except RecursionError:
        raise YamlError("not valid YAML: nested too deeply") from None


class ReportParameters(BaseModel):
    """Fields every notebook has. Subclasses add their own; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    variant: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)
    output_dir: str | None = None
    params_file: str | None = None
    seed: int = Field(config.DEFAULT_SEED, ge=0, le=2**32 - 1, description="seed of every random draw in the report")

    @model_validator(mode="after")
    def _plain_text(self):
        # Names a user gives (columns, stages, tiers, file names) reach the report's prose, captions and
        # figures; refusing markup characters here keeps every page inert whichever engine renders it.
        problems = [f"'{where}': expected plain text without any of {MARKUP_CHARACTERS} (got {shorten(text)})"
                    for where, text in _user_strings(self.model_dump(exclude=set(RESERVED)))
                    if MARKUP.search(text)]
        if problems:
            raise PlainTextError(problems)
        return self


class PlainTextError(ValueError):
    """Markup characters in names a user gave; `problems` are "'field': expected ..." texts."""

    def __init__(self, problems: list[str]):
        self.problems = [p.lstrip("'") for p in problems]
        super().__init__("; ".join(problems))


# Markup, line breaks, and the invisible control and bidirectional-override characters that would make a
# page show text in another order than it is stored (a bidi override can disguise a name or a link).
MARKUP = re.compile("[<>\\[\\]`|$@\\\\{}\n\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
MARKUP_CHARACTERS = "< > [ ] ` | $ @ \\ { }, a line break, or a control or bidi character"
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# strftime patterns and the engine's Spark settings (validated by `engine.EngineSettings`): never shown as text
FREE_TEXT_FIELDS = {"date_format", "spark_master", "spark_config"}
PATH_FIELDS = {"path", "temp_directory"}   # only the file or folder name is shown


def _user_strings(value, where: str = ""):
    """(dotted field, text) for every string in a dumped parameter model."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in FREE_TEXT_FIELDS:
                continue
            if key in PATH_FIELDS and isinstance(item, str):
                yield f"{where}{key}", Path(item).name
                continue
            yield from _user_strings(item, f"{where}{key}.")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _user_strings(item, f"{where}{i}.")
    elif isinstance(value, str):
        yield where.rstrip("."), value


def topic(notebook: str) -> str:
    """`01_satisfaction_loyalty` -> `satisfaction_loyalty` (the reports/ and params/ folder name)."""
    return re.sub(r"^\d+_", "", notebook)


def schema_for(notebook: str) -> type[ReportParameters]:
    if notebook not in SCHEMAS:
        raise KeyError(notebook)
    module, cls = SCHEMAS[notebook].split(":")
    return getattr(importlib.import_module(module), cls)


def from_namespace(notebook: str, namespace: dict) -> ReportParameters:
    """The validated parameters of a notebook run, from the names of its `parameters` cell.

    Called with the notebook's `globals()` in the cell after `parameters`, so values injected by
    papermill are what is read, and only the names in `CELL_NAMES`:

    - `params_file`: None for the schema's defaults, or a parameter file of this notebook (relative
      to the project root, or absolute), read and validated by `load_parameter_file`;
    - `overrides`: a dict of parameter names to values that replace the file's (or the default)
      values one by one;
    - `variant`: None for the file's variant (`default` without a file); `output_dir`: where
      results.json goes (None: `reports/_scratch/<notebook>/<variant>/`).

    Every other value is the schema's default. The runner injects `params_file`, and `overrides`
    holding every value the file sets as the runner validated it, so the kernel uses those values.
    """
    schema = schema_for(notebook)
    params_file = namespace.get("params_file")
    overrides = namespace.get(OVERRIDES)
    overrides = {} if overrides is None else overrides
    where = params_file or f"notebook {notebook}"
    if not isinstance(overrides, dict) or not all(isinstance(k, str) for k in overrides):
        raise ParameterFileError(where, f"field '{OVERRIDES}': expected a dict of parameter names to values "
                                        f"(got {shorten(overrides)})")
    reserved = sorted(set(overrides) & set(RESERVED))
    if reserved:
        raise ParameterFileError(where, [f"field '{OVERRIDES}.{k}': reserved, set `{k} = ...` in the parameters "
                                         "cell instead" for k in reserved])
    values, variant = {}, namespace.get("variant")
    if params_file:
        path = Path(str(params_file)).expanduser()
        pf = load_parameter_file(path if path.is_absolute() else config.PROJECT_DIR / path)
        if pf.notebook != notebook:
            raise ParameterFileError(pf.path, f"field 'notebook': this file is for {pf.notebook}, not {notebook}; "
                                              f"choose a file in params/{topic(notebook)}/")
        values, params_file, variant = dict(pf.parameters), str(pf.path), variant or pf.variant
    values.update(overrides)
    values.update(output_dir=namespace.get("output_dir"), params_file=params_file)
    if variant is not None:
        values["variant"] = variant
    try:
        return _data_checked(where, schema.model_validate(values))
    except ValidationError as exc:
        problems = _describe(exc)
        for key in overrides:       # name the dict a value came from
            problems = [p.replace(f"'parameters.{key}'", f"'{OVERRIDES}.{key}'")
                        .replace(f"'parameters.{key}.", f"'{OVERRIDES}.{key}.") for p in problems]
        raise ParameterFileError(where, problems) from None


def _data_checked(where, validated: ReportParameters) -> ReportParameters:
    """`validated` once its data files pass the runner's checks (`checks.check_data`), so a notebook opened
    in JupyterLab refuses bad data with the runner's line (logs read in place: the engine checks them)."""
    from ..checks import DataCheckError, check_data

    try:
        check_data(validated)
    except DataCheckError as exc:
        raise ParameterFileError(where, str(exc)) from None
    return validated


class ParameterFileError(ValueError):
    def __init__(self, path, problems: list[str] | str):
        self.path = str(path)
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(f"{self.path}: {p}" for p in self.problems))


def _describe(exc: ValidationError, prefix: str = "parameters") -> list[str]:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        field = field if len(field) <= 80 else field[:79] + "…"
        if err["type"] == "extra_forbidden":
            problems.append(f"field '{field}': unknown key (not a parameter of this notebook)")
        elif err["type"] == "missing":
            problems.append(f"field '{field}': required but missing")
        elif isinstance(err.get("ctx", {}).get("error"), PlainTextError):
            problems += [f"field '{prefix}.{item}" for item in err["ctx"]["error"].problems]
        else:
            got = err.get("input")
            shown = shorten(got) if not isinstance(got, (dict, list)) else type(got).__name__
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"field '{field}': expected {msg[:1].lower() + msg[1:200]} (got {shown})")
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
        """What papermill injects: the reserved names, and as `overrides` every value the file sets, as
        validated here (the notebook's `from_namespace` takes these over the file it reads again, and
        fills the rest from the schema, as `load_parameter_file` did)."""
        values = self.validated.model_dump(mode="json", exclude=set(RESERVED))
        overrides = {k: v for k, v in values.items() if k in self.parameters}
        return {"variant": self.variant, "output_dir": str(output_dir), "params_file": str(self.path),
                OVERRIDES: overrides}


def load_parameter_file(path) -> ParameterFile:
    """Read and validate one parameter file; raises ParameterFileError naming file and field."""
    path = Path(path).resolve()
    if not path.exists():
        raise ParameterFileError(path, "file not found")
    if not path.is_file():
        raise ParameterFileError(path, "expected a YAML file (this is not a regular file)")
    try:
        if path.stat().st_size > MAX_PARAMETER_FILE_BYTES:
            raise YamlError(f"larger than {MAX_PARAMETER_FILE_BYTES // 1024} KiB")
        doc = strict_yaml_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParameterFileError(path, f"expected UTF-8 text (byte {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise ParameterFileError(path, f"cannot read the file ({exc.strerror})") from None
    except YamlError as exc:
        raise ParameterFileError(path, str(exc)) from None
    if not isinstance(doc, dict):
        raise ParameterFileError(path, "expected a mapping with keys notebook, variant, parameters")
    problems = []
    unknown = [k for k in doc if k not in ("notebook", "variant", "description", "parameters")]
    for key in sorted(map(str, unknown)):
        problems.append(f"field {shorten(key, 40)}: unknown key (expected notebook, variant, description, parameters)")
    notebook = doc.get("notebook")
    if not isinstance(notebook, str) or notebook not in SCHEMAS:
        problems.append(f"field 'notebook': expected one of {', '.join(SCHEMAS)} (got {shorten(notebook)})")
    variant = doc.get("variant")
    if not isinstance(variant, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,63}", variant):
        problems.append(f"field 'variant': expected a lower-case slug like 'real_data', at most 64 characters "
                        f"(got {shorten(variant)})")
    description = doc.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(f"field 'description': expected one line of text (got {type(description).__name__})")
    elif description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(f"field 'description': expected at most {MAX_DESCRIPTION_CHARS} characters "
                        f"(got {len(description)})")
    elif description is not None and CONTROL.search(description):
        problems.append("field 'description': expected text without control or bidi characters "
                        f"(found U+{ord(CONTROL.search(description).group()):04X})")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        problems.append("field 'parameters': expected a mapping of parameter names to values")
        params = {}
    for key in params:
        if not isinstance(key, str):
            problems.append(f"field 'parameters': expected parameter names as text (got {shorten(key, 40)})")
    reserved = {k for k in params if isinstance(k, str)} & set(RESERVED)
    for key in sorted(reserved):
        problems.append(f"field 'parameters.{key}': reserved, set by the runner")
    if problems:
        raise ParameterFileError(path, problems)
    schema = schema_for(notebook)
    try:
        validated = schema.model_validate({**params, "variant": variant, "params_file": str(path)})
    except ValidationError as exc:
        raise ParameterFileError(path, _describe(exc)) from None
    return ParameterFile(path=path, notebook=notebook, variant=variant, description=description,
                         parameters=params, validated=validated)


ON_DEMAND_DIR = "on_demand"


def discover(params_dir: Path | None = None, on_demand: bool = False) -> list[Path]:
    """Parameter files under `params/<topic>/`. Files in `params/on_demand/` (long runs on data a
    user makes first, such as the 100-million-transaction log) are run only when named, so
    `run --all` and `make reports` leave them out; `on_demand=True` lists them instead."""
    root = params_dir or config.PARAMS_DIR
    if on_demand:
        return sorted((root / ON_DEMAND_DIR).glob("*.yaml"))
    return sorted(p for p in root.glob("*/*.yaml") if p.parent.name != ON_DEMAND_DIR)
