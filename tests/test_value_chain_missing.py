"""Missing answers in every measure of the satisfaction-to-value report, given as a declared code or
left blank: the report runs, leaves out only what each part cannot use, and names the missing answers
as they were given, with counts per kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmresearch import parameters
from crmresearch.value_chain import analyse, sections

FIXTURES = "tests/data/value_chain"


@pytest.fixture(scope="module")
def holey_survey(tmp_path_factory):
    survey = pd.read_csv(f"{FIXTURES}/survey_1to7.csv", dtype={"kundennr": str})
    rng = np.random.default_rng(4)
    rows = rng.permutation(len(survey))
    survey = survey.astype({c: object for c in ("zufr_1", "wiederwahl", "empfehlung")})
    survey.loc[rows[:6], "zufr_1"] = -99                    # codes in a satisfaction item
    survey.loc[rows[6:9], "zufr_1"] = None                   # blanks in it
    survey.loc[rows[9:20], "wiederwahl"] = -99               # 'would choose again' (also the loyalty item)
    survey.loc[rows[20:25], "empfehlung"] = -99              # 'would recommend'
    survey.loc[rows[25:27], "empfehlung"] = None
    path = tmp_path_factory.mktemp("survey") / "holes.csv"
    survey.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def analysis(holey_survey):
    pf = parameters.load_parameter_file(f"{FIXTURES}/own_data.yaml")
    values = {**pf.parameters, "survey": {**pf.parameters["survey"], "path": str(holey_survey), "missing_codes": [-99]},
              "parameter_draws": 100, "fit_pareto_nbd": False}
    return analyse(parameters.schema_for("04_satisfaction_to_value")(**values))


def test_missing_answers_never_crash_the_report(analysis):
    stated = sections.stated_actual_section(analysis)
    assert stated.computed
    table = stated.results["stated_vs_actual"]
    assert {"stated_again", "stated_recommend"} <= set(table.columns)


def test_missing_answers_are_named_as_given_with_counts(analysis):
    join = sections.data_section(analysis)
    missing = join.results["join"]["missing"]
    matched = analysis.data.join["matched"]
    assert sum(missing["satisfaction"].values()) == join.results["join"]["missing_satisfaction"] > 0
    assert set(missing["satisfaction"]) <= {"code -99", "blank"}
    assert set(missing["recommendation"]) <= {"code -99", "blank"} and matched > 0
    assert "with the missing code -99" in join.text and "left satisfaction blank" not in join.text
    if missing["satisfaction"].get("blank"):
        assert f"{missing['satisfaction']['blank']} blank" in join.text
