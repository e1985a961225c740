"""Structural checks on the committed notebooks and their parameter sets (the conventions of notebooks/README.md)."""

from __future__ import annotations

import json

import pytest
import yaml

from crmresearch import config, parameters
from crmresearch.runner import parameters_cell_names

from conftest import project_parameter_files

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


def load(path):
    return json.loads(path.read_text())


def source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_tagged(path):
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == config.KERNEL_NAME
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, "commit without outputs"
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_the_skeleton(path):
    nb = load(path)
    front = yaml.safe_load(source(nb["cells"][0]).strip().strip("-"))
    assert nb["cells"][0]["cell_type"] == "raw" and {"title", "subtitle", "abstract"} <= set(front)
    assert parameters_cell_names(path) == set(parameters.CELL_NAMES)
    code = [source(c) for c in nb["cells"] if c["cell_type"] == "code"]
    idx = next(i for i, c in enumerate(nb["cells"]) if "parameters" in c.get("metadata", {}).get("tags", []))
    assert f'from_namespace("{path.stem}", globals())' in source(nb["cells"][idx + 1])
    assert "crm.report.provenance(" in code[-1], "the provenance cell comes last"
    assert "results.set_lead(" in "\n".join(code) or "results.set_finding(" in "\n".join(code)
    assert not any("def " in c.split("\n", 1)[0] or "\ndef " in c for c in code), "functions belong in the package"
    for cell in code:
        if "show_figure(" in cell:
            assert cell.startswith("#| label: fig-") and "#| fig-cap:" in cell and "#| fig-alt:" in cell


TOPIC_PACKAGES = {"00_crm_overview": "overview", "01_satisfaction_loyalty": "satisfaction",
                  "02_lifecycle_transitions": "lifecycle", "03_customer_lifetime_value": "clv",
                  "04_satisfaction_to_value": "value_chain", "05_contractual_retention": "contractual",
                  "06_relationship_states": "relationship_states"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_report_is_built_in_the_same_three_steps(path):
    """The validation cell computes everything with `crm.<topic>.analyse(params)`; every later cell only shows
    sections and figures built from that analysis: no data loaded, no model fitted, no random numbers drawn."""
    import re

    nb = load(path)
    idx = next(i for i, c in enumerate(nb["cells"]) if "parameters" in c.get("metadata", {}).get("tags", []))
    topic = TOPIC_PACKAGES[path.stem]
    assert f"analysis = crm.{topic}.analyse(params)" in source(nb["cells"][idx + 1])
    later = "\n".join(source(c) for c in nb["cells"][idx + 2:] if c["cell_type"] == "code")
    for forbidden in (r"\.fit\(", r"\.load\(", r"default_rng", r"\bnp\.", r"\bpd\.", r"(?<!sections\.)\bfit_\w+\("):
        assert not re.search(forbidden, later), f"{path.name}: a cell after the analysis matches {forbidden!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_parameter_sets_including_a_fast_one(path):
    topic = parameters.topic(path.stem)
    files = project_parameter_files(f"{topic}/*.yaml")
    assert len(files) >= 2 and (config.PARAMS_DIR / topic / "fast.yaml").exists()
    for f in files:
        pf = parameters.load_parameter_file(f)
        assert pf.notebook == path.stem and pf.variant == f.stem


# ---------------------------------------------------------------- one source of defaults, cells that only call

def _parameters_cell(nb) -> str:
    return next(source(c) for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_cannot_disagree_with_the_schema(path):
    """The pydantic schema is the only source of defaults: the parameters cell sets the reserved names
    to None and `overrides` to an empty dict, once each, and no parameter of the schema."""
    import ast

    body = ast.parse(_parameters_cell(load(path))).body
    assigned = {}
    for node in body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), \
            f"{path.stem}: only `name = value` lines in the parameters cell"
        assert node.targets[0].id not in assigned, f"{path.stem}: {node.targets[0].id} set twice"
        assigned[node.targets[0].id] = ast.literal_eval(node.value)
    assert assigned == {**dict.fromkeys(parameters.RESERVED), parameters.OVERRIDES: {}}, assigned
    schema = parameters.schema_for(path.stem)
    assert set(parameters.RESERVED) <= set(schema.model_fields) and parameters.OVERRIDES not in schema.model_fields


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_cell_as_it_stands_gives_the_schema_defaults(path):
    """Run as committed (JupyterLab, nbval), the notebook's parameters are exactly the schema's defaults."""
    namespace = {}
    exec(_parameters_cell(load(path)), namespace)   # noqa: S102 - the committed cell: four literal lines
    params = parameters.from_namespace(path.stem, namespace)
    assert params == parameters.schema_for(path.stem)(), path.stem


FORBIDDEN_IN_CELLS = ("FunctionDef", "AsyncFunctionDef", "ClassDef", "Lambda", "For", "While", "If", "IfExp", "Try", "With",
                      "ListComp", "DictComp", "SetComp", "GeneratorExp")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_only_narrate_and_call_the_package(path):
    """Body cells call `crmresearch` and show what it returns: no control flow, no prose built in the cell."""
    import ast

    nb = load(path)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        body = "\n".join(ln for ln in source(cell).splitlines() if not ln.startswith("#|"))
        tree = ast.parse(body)
        kinds = {type(n).__name__ for n in ast.walk(tree)}
        assert not kinds & set(FORBIDDEN_IN_CELLS), f"{path.stem}: logic in a cell ({kinds & set(FORBIDDEN_IN_CELLS)}):\n{body}"
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                n_values = sum(isinstance(v, ast.FormattedValue) for v in node.values)
                assert n_values <= 1, f"{path.stem}: prose assembled in a cell (belongs in a text function):\n{body}"
        assert len([ln for ln in body.splitlines() if ln.strip()]) <= 12, f"{path.stem}: cell too long:\n{body}"
