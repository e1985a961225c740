"""Bad parameter files and data files are rejected before any kernel starts (exit code 2)."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
import yaml

from crmresearch import config
from crmresearch.parameters import ParameterFileError, load_parameter_file

from conftest import run_cli


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
    ({"parameters": {"transactions": {"path": "data/nowhere.csv"}}}, "parameters.transactions.path",
     "existing data file"),
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
    result = run_cli("validate", "--all")
    assert result.returncode == 0, result.stderr


def test_parameter_files_only_use_names_of_the_notebooks_parameters_cell(tmp_path):
    from crmresearch.runner import parameters_cell_names

    names = parameters_cell_names(config.NOTEBOOKS_DIR / "00_crm_overview.ipynb")
    assert {"variant", "output_dir", "params_file", "survey", "transactions"} <= names


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
