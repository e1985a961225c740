"""Bad parameter files and data files are rejected before any kernel starts (exit code 2)."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
import yaml

from crmresearch import config
from crmresearch.parameters import ParameterFileError, load_parameter_file

from conftest import project_parameter_files, run_cli


def write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
notebook: 00_crm_overview
variant: check
parameters:
  survey: {dataset: mobi}
  transactions: {dataset: cdnow_sample}
"""


def test_good_file_validates(tmp_path):
    pf = load_parameter_file(write(tmp_path, GOOD))
    assert pf.validated.survey.dataset == "mobi" and pf.topic == "crm_overview"


@pytest.mark.parametrize("change, field, expected", [
    ({"parameters": {"survey": {"dataset": "mobi"}, "colour": "red"}}, "parameters.colour", "unknown key"),
    ({"parameters": {"repeat_window_days": "a year"}}, "parameters.repeat_window_days", "valid integer"),
    ({"parameters": {"top_fraction": 1.5}}, "parameters.top_fraction", "less than 1"),
    ({"notebook": "99_nothing"}, "notebook", "expected one of"),
    ({"variant": "Bad Name"}, "variant", "lower-case slug"),
    ({"parameters": {"output_dir": "/tmp"}}, "parameters.output_dir", "reserved"),
    ({"extra_top_level": 1}, "extra_top_level", "unknown key"),
])
def test_bad_files_name_file_field_and_expectation(tmp_path, change, field, expected):
    doc = {**yaml.safe_load(GOOD), **change}
    path = write(tmp_path, yaml.safe_dump(doc))
    with pytest.raises(ParameterFileError) as info:
        load_parameter_file(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message and expected in message, message


def test_a_missing_data_file_is_named_by_the_pre_flight(tmp_path):
    """The schema reads no file: the input layer's checks (`checks.check_data`), run by the runner's
    pre-flight and by a notebook's `from_namespace`, name file, field and expectation."""
    from crmresearch.parameters import from_namespace
    from crmresearch.runner import validate_files

    doc = {**yaml.safe_load(GOOD), "parameters": {"transactions": {"path": "data/nowhere.csv"}}}
    path = write(tmp_path, yaml.safe_dump(doc))
    assert load_parameter_file(path).validated.transactions.path == str(config.PROJECT_DIR / "data/nowhere.csv")
    good, errors = validate_files([path])
    message = str(errors[0])
    assert not good and str(path) in message and "'parameters.transactions.path'" in message, message
    assert "existing data file" in message and "nowhere.csv" in message, message
    with pytest.raises(ParameterFileError) as info:
        from_namespace("00_crm_overview", {"params_file": str(path)})
    assert str(info.value) == message


def test_cli_exits_2_before_any_kernel_starts(tmp_path):
    bad = write(tmp_path, GOOD.replace("variant: check", "variant: check\ncolour: red"), "bad.yaml")
    good = write(tmp_path, GOOD, "good.yaml")
    reports = tmp_path / "reports"
    result = run_cli("run", good, bad, "--reports-dir", reports)
    assert result.returncode == 2
    assert f"{bad}: field 'colour': unknown key" in result.stderr
    assert "nothing was run" in result.stderr
    assert not reports.exists() or not any(reports.rglob("report.ipynb"))


def test_cli_rejects_user_data_with_schema_violations(tmp_path):
    survey = tmp_path / "survey.csv"
    pd.DataFrame({"rid": [1, 2, 3], "s1": [5, 12, 7], "l1": [5, 6, 7], "rec": [9, 9, 9]}).to_csv(survey, index=False)
    params = write(tmp_path, f"""
        notebook: 00_crm_overview
        variant: own_survey
        parameters:
          survey:
            path: {survey}
            id_column: rid
            satisfaction: [s1]
            loyalty: [l1]
            repurchase: l1
            recommendation: rec
        """)
    result = run_cli("validate", params)
    assert result.returncode == 2
    assert str(survey) in result.stderr and "'s1'" in result.stderr and "between 1" in result.stderr
    assert "rows 2" in result.stderr


def test_every_shipped_parameter_file_is_valid():
    result = run_cli("validate", *project_parameter_files())
    assert result.returncode == 0, result.stderr


def test_the_parameters_cell_defines_the_reserved_names_and_overrides_only():
    from crmresearch.parameters import CELL_NAMES
    from crmresearch.runner import parameters_cell_names

    names = parameters_cell_names(config.NOTEBOOKS_DIR / "00_crm_overview.ipynb")
    assert names == {"variant", "output_dir", "params_file", "overrides"} == set(CELL_NAMES)


# ---------------------------------------------------------------- a notebook on a parameter file (JupyterLab)

def test_the_kernel_gets_exactly_what_the_runner_validated(tmp_path):
    """The runner's injection, read back by `from_namespace`, is the validated model (output_dir aside)."""
    from crmresearch.parameters import from_namespace

    for path in project_parameter_files("*/fast.yaml") + project_parameter_files("customer_lifetime_value/*.yaml"):
        pf = load_parameter_file(path)
        injected = pf.papermill_parameters(tmp_path)
        assert set(injected) == {"variant", "output_dir", "params_file", "overrides"}
        assert set(injected["overrides"]) == set(pf.parameters)
        params = from_namespace(pf.notebook, injected)
        assert params.model_dump() == {**pf.validated.model_dump(), "output_dir": str(tmp_path)}, path


def test_a_notebook_opened_on_a_parameter_file(tmp_path):
    """`params_file` (relative to the project root or absolute) and `overrides`, as a researcher sets them."""
    from crmresearch.parameters import from_namespace

    cell = {"variant": None, "output_dir": None, "params_file": None, "overrides": {}}
    fast = config.PARAMS_DIR / "crm_overview" / "fast.yaml"
    default = from_namespace("00_crm_overview", cell)
    on_file = from_namespace("00_crm_overview", {**cell, "params_file": "params/crm_overview/fast.yaml"})
    assert on_file == load_parameter_file(fast).validated and on_file.variant == "fast"
    assert on_file.params_file == str(fast) and default.params_file is None and default.variant == "default"
    changed = from_namespace("00_crm_overview", {**cell, "params_file": str(fast), "overrides": {"top_fraction": 0.1}})
    assert changed.top_fraction == 0.1 and changed.survey == on_file.survey
    assert from_namespace("00_crm_overview", {**cell, "overrides": {"seed": 7}}).seed == 7


@pytest.mark.parametrize("cell, field, expected", [
    ({"params_file": "params/customer_lifetime_value/fast.yaml"}, "notebook", "for 03_customer_lifetime_value"),
    ({"params_file": "params/crm_overview/nothing.yaml"}, None, "file not found"),
    ({"overrides": {"colour": "red"}}, "overrides.colour", "unknown key"),
    ({"overrides": {"top_fraction": 1.5}}, "overrides.top_fraction", "less than 1"),
    ({"overrides": {"variant": "x"}}, "overrides.variant", "reserved"),
    ({"overrides": [("seed", 1)]}, "overrides", "expected a dict"),
])
def test_a_notebook_on_a_bad_file_or_override_names_the_field(cell, field, expected):
    from crmresearch.parameters import from_namespace

    with pytest.raises(ParameterFileError) as info:
        from_namespace("00_crm_overview", {"variant": None, "output_dir": None, "params_file": None,
                                           "overrides": {}, **cell})
    message = str(info.value)
    assert (field is None or f"'{field}'" in message) and expected in message, message


def test_cli_rejects_a_stage_panel_with_unknown_stages_and_duplicates(tmp_path):
    panel = tmp_path / "panel.csv"
    pd.DataFrame({"cust": [1, 1, 2, 2], "month": [1, 2, 1, 1],
                  "stage": ["new", "lost", "new", "new"]}).to_csv(panel, index=False)
    params = write(tmp_path, f"""
        notebook: 02_lifecycle_transitions
        variant: own_panel
        parameters:
          transactions: null
          panel:
            path: {panel}
            customer_column: cust
            period_column: month
            states: [new, active, lost]
            absorbing: [lost]
        """)
    result = run_cli("validate", params)
    assert result.returncode == 2 and str(panel) in result.stderr
    assert "'month'" in result.stderr and "one row per cust and month" in result.stderr and "rows 4" in result.stderr
    panel.write_text("cust,month,stage\n1,1,new\n1,2,gone\n")
    result = run_cli("validate", params)
    assert result.returncode == 2 and "'stage'" in result.stderr and "declared stages" in result.stderr


def test_error_hints_keep_their_case_and_numbers_print_plainly():
    """A hint is shown as written ('64MiB', not '64mib'), and a NumPy number as the number it is."""
    import numpy as np
    from pydantic import ValidationError

    from crmresearch.parameters import _describe, shorten
    from crmresearch.parameters.engine import EngineSettings

    with pytest.raises(ValidationError) as err:
        EngineSettings(memory_limit="1KB")
    text = " ".join(_describe(err.value))
    assert "64MiB" in text and "value error" not in text.lower()
    assert shorten(np.float64(7.0)) == "7.0"


# ---------------------------------------------------------------- a researcher's structural model (PLS-SEM)

ECSI_SMALL = {"constructs": {"Quality": ["PERQ1", "PERQ2"], "Satisfaction": ["CUSA1", "CUSA2", "CUSA3"],
                             "Loyalty": ["CUSL1", "CUSL3"]},
              "paths": [["Quality", "Satisfaction"], ["Satisfaction", "Loyalty"]]}


def structural_file(tmp_path, name, survey_extra=None, **model):
    survey = {"dataset": "mobi", "structural_model": {**ECSI_SMALL, **model}, **(survey_extra or {})}
    return write(tmp_path, yaml.safe_dump({"notebook": "01_satisfaction_loyalty", "variant": name.replace("_", "-"),
                                           "parameters": {"survey": survey}}, sort_keys=False), f"{name}.yaml")


@pytest.mark.parametrize("name, model, expected", [
    ("unknown_item", {"constructs": {**ECSI_SMALL["constructs"], "Quality": ["PERQ1", "PERQ9"]}},
     "item 'PERQ9' of construct 'Quality' is not one of them"),
    ("no_items", {"constructs": {**ECSI_SMALL["constructs"], "Quality": []}}, "construct 'Quality' has no items"),
    ("item_twice", {"constructs": {**ECSI_SMALL["constructs"], "Loyalty": ["CUSL1", "CUSA3"]}},
     "item 'CUSA3' is in two constructs ('Satisfaction' and 'Loyalty')"),
    ("cycle", {"paths": [["Quality", "Satisfaction"], ["Satisfaction", "Loyalty"], ["Loyalty", "Quality"]]},
     "the paths Quality -> Satisfaction -> Loyalty -> Quality form a cycle"),
    ("unknown_construct", {"paths": [["Quality", "Satisfaction"], ["Satisfaction", "Loyality"]]},
     "'Loyality' is not a declared construct"),
    ("markup_name", {"constructs": {**ECSI_SMALL["constructs"], "<b>Q</b>": ["PERQ3"]}}, "plain text"),
])
def test_a_bad_structural_model_is_one_line_before_any_kernel(tmp_path, name, model, expected):
    path = structural_file(tmp_path, name, **model)
    with pytest.raises(ParameterFileError) as info:
        load_parameter_file(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and "'parameters.survey" in lines[0] and expected in lines[0], lines


def test_the_cli_refuses_bad_structural_models_and_too_few_complete_respondents(tmp_path):
    """Every problem one line, exit 2, no kernel: the schema's checks and, for a user's file, too few
    respondents complete on the model's items for its bootstrap (missing codes count as missing)."""
    from crmresearch import datasets

    survey = datasets.load_mobi().drop(columns="respondent_id")
    survey.loc[survey.index[20:], "PERQ2"] = -9          # a declared missing code for all but 20 respondents
    data = tmp_path / "survey.csv"
    survey.to_csv(data, index=False)
    files = [structural_file(tmp_path, "cycle", paths=[["Quality", "Satisfaction"], ["Satisfaction", "Quality"],
                                                       ["Satisfaction", "Loyalty"]]),
             structural_file(tmp_path, "no_items", constructs={**ECSI_SMALL["constructs"], "Loyalty": []})]
    few = write(tmp_path, yaml.safe_dump({"notebook": "01_satisfaction_loyalty", "variant": "few", "parameters": {
        "survey": {"path": str(data), "missing_codes": [-9], "structural_model": ECSI_SMALL}}}), "few.yaml")
    unknown = write(tmp_path, yaml.safe_dump({"notebook": "01_satisfaction_loyalty", "variant": "unknown", "parameters": {
        "survey": {"path": str(data), "structural_model": {**ECSI_SMALL, "constructs": {
            **ECSI_SMALL["constructs"], "Quality": ["PERQ1", "PERQ9"]}}}}}, sort_keys=False), "unknown.yaml")
    reports = tmp_path / "reports"
    result = run_cli("run", *files, few, unknown, "--reports-dir", reports)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 4, result.stderr
    assert any(f"{unknown}:" in ln and "column 'PERQ9'" in ln for ln in errors), errors
    assert any("form a cycle" in ln for ln in errors) and any("'Loyalty' has no items" in ln for ln in errors)
    assert any("every item of the structural model" in ln and "found 20 of 250" in ln for ln in errors), errors
    assert not reports.exists() or not any(reports.rglob("report.ipynb"))
