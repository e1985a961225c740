"""The relationship-states report (06): a user's panel validated before any kernel (one line naming file,
column and expectation), customer ids kept as text, the simulated variant labelled and recovering its
truth, and the fast report's numbers (`check_fast_results`, also used by
tests/test_relationship_states_results.py on the session's shared run)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crmresearch import config
from crmresearch.checks import DataCheckError, check_data
from crmresearch.parameters import load_parameter_file
from crmresearch.parameters.relationship_states import RelationshipStatesParameters

FIXTURES = config.PROJECT_DIR / "tests" / "data" / "relationship_states"
NOTEBOOK = "06_relationship_states"


def panel_params(path, **panel) -> dict:
    spec = {"path": str(path), "id_column": "customer", "period_column": "month",
            "responses": {"purchased": {"type": "binary"}, "spend": {"type": "lognormal"},
                          "satisfaction": {"type": "ordinal", "scale": [1, 5], "missing_codes": [9]}},
            "initial_covariates": ["age"], "transition_covariates": ["contact"],
            "purchase_response": "purchased", "spend_response": "spend"}
    spec.update(panel)
    return {"transactions": None, "panel": spec, "states": [1, 2, 3]}


def test_user_panel_keeps_text_ids_and_reads_missing_codes():
    params = RelationshipStatesParameters(**panel_params(FIXTURES / "panel.csv"))
    frame = params.panel.load()
    assert frame["id"].iloc[0] == "00000" and frame["id"].str.len().eq(5).all()
    raw = pd.read_csv(FIXTURES / "panel.csv", dtype={"customer": str})
    assert (raw["satisfaction"] == 9).sum() > 0 and not (frame["satisfaction"] == 9).any()
    assert frame["satisfaction"].isna().sum() == ((raw["satisfaction"] == 9) | raw["satisfaction"].isna()).sum()


def edit_panel(tmp_path, change):
    df = pd.read_csv(FIXTURES / "panel.csv", dtype={"customer": str})
    df = change(df)
    path = tmp_path / "panel.csv"
    df.to_csv(path, index=False)
    return path


BAD = {
    "unknown column": (lambda df: df.rename(columns={"contact": "contacts"}), {}, "column 'contact'"),
    "wrong type": (lambda df: df.assign(purchased=df["purchased"].where(df.index != 5, 2)), {},
                   "column 'purchased': expected 0 or 1 for a binary response (found 2) (rows 6)"),
    "off the scale": (lambda df: df.assign(satisfaction=df["satisfaction"].where(df.index != 3, 7)), {},
                      "whole answers on the declared scale 1–5"),
    "repeated period": (lambda df: pd.concat([df, df.iloc[[0]]]), {},
                        "period 1 repeated for customer 00000"),
    "covariate missing": (lambda df: df.assign(contact=df["contact"].where(df.index != 10)), {},
                          "column 'contact': expected a value on every row for a covariate"),
    "too few customers": (lambda df: df[df["customer"].astype(int) < 40], {},
                          "expected at least 60 customers for up to 3 states"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_user_panels_are_refused_with_one_line(tmp_path, case):
    change, panel, expected = BAD[case]
    path = edit_panel(tmp_path, change)
    params = RelationshipStatesParameters(**panel_params(path, **panel))
    with pytest.raises(DataCheckError) as err:
        check_data(params)
    message = str(err.value)
    assert message.startswith("field 'parameters.panel.path':") and "\n" not in message
    assert expected in message, message


def test_schema_refuses_wrong_declarations():
    with pytest.raises(ValueError, match="scale"):
        RelationshipStatesParameters(**panel_params("x.csv", responses={"s": {"type": "ordinal"}},
                                                    purchase_response=None, spend_response=None))
    with pytest.raises(ValueError, match="binary response"):
        RelationshipStatesParameters(**panel_params("x.csv", purchase_response="spend"))
    with pytest.raises(ValueError, match="exactly one of"):
        RelationshipStatesParameters(simulate={"customers": 500})
    with pytest.raises(ValueError, match="type"):
        RelationshipStatesParameters(**panel_params("x.csv", responses={"purchased": {"type": "weibull"}}))


def test_a_bad_panel_stops_the_command_line_with_exit_2(tmp_path):
    from conftest import run_cli

    path = edit_panel(tmp_path, lambda df: pd.concat([df, df.iloc[[0]]]))
    params = tmp_path / "bad.yaml"
    params.write_text(f"notebook: {NOTEBOOK}\nvariant: bad\nparameters:\n  transactions: null\n  panel:\n"
                      f"    path: {path}\n    id_column: customer\n    period_column: month\n"
                      "    responses: {purchased: {type: binary}}\n")
    run = run_cli("run", params, "--reports-dir", tmp_path / "reports")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "parameters.panel.path" in run.stderr and "period 1 repeated for customer 00000" in run.stderr
    assert not (tmp_path / "reports" / "relationship_states").exists()


def test_simulated_variant_is_labelled_and_recovers_the_truth():
    from crmresearch.relationship_states import analyse, sections

    params = RelationshipStatesParameters(transactions=None, simulate={"customers": 1200, "months": 10},
                                          states=[3], ordered=True, parameter_draws=100, holdout_share=0.1, starts=2)
    a = analyse(params)
    rec = sections.recovery(a)
    assert rec.source == "simulated" and rec.heading.startswith("Simulated illustration")
    assert rec.table["caption"].startswith("Simulated illustration")
    table = rec.results["truth_recovery"]
    assert table["inside"].mean() >= 0.8
    assert rec.results["decoding_accuracy"]["viterbi_accuracy"] > 0.6
    sel = sections.selection(a)
    assert sel.results["model_settings"]["simulated"] is True and sel.source == "simulated"
    assert sections.finding(a).startswith("Simulated illustration")
    # contacts move customers up: the fitted effects on the upward moves are positive
    p = a.chosen.params
    assert p["transition[S1->S2]:contact"] > 0 and p["transition[S2->S3]:contact"] > 0
    assert sections.stages(a).source == "not_computed"


def check_fast_results(doc: dict) -> None:
    """The fast variant (CDNOW sample): BIC choice, profiles ordered, matrices are stochastic, the
    cross-tab and values recorded; every figure's numbers are in results.json."""
    assert doc["notebook"] == NOTEBOOK and doc["variant"] == "fast" and doc["finding"]
    res, src = doc["results"], doc["sections"]
    for name in ("selection", "profiles", "transitions", "occupancy", "stages", "value"):
        assert src[name]["source"] == "data", (name, src[name])
    assert src["recovery"]["source"] == "not_computed"
    sel = pd.DataFrame(res["state_selection"])
    chosen = sel[sel["chosen"]]
    assert len(chosen) == 1 and chosen["bic"].item() == sel.loc[~sel["failed"], "bic"].min()
    assert int(chosen["states"].item()) >= 2
    assert np.all(np.diff(sel["loglik"]) > 0)            # more states never fit worse
    prof = pd.DataFrame(res["state_profiles"])
    assert np.all(np.diff(prof["purchased: probability"]) > 0)
    assert prof["initial_share"].sum() == pytest.approx(1) and prof["long_run_share"].sum() == pytest.approx(1)
    trans = pd.DataFrame(res["transition_matrix"])
    assert trans.groupby(["scenario", "from"])["probability"].sum().to_numpy() == pytest.approx(1)
    assert (trans["lower"] <= trans["probability"] + 1e-12).all() and (trans["probability"] <= trans["upper"] + 1e-12).all()
    occ = pd.DataFrame(res["state_occupancy"])
    states = [c for c in occ.columns if c.startswith("S")]
    assert occ[states].sum(axis=1).to_numpy() == pytest.approx(1)
    cross = pd.DataFrame(res["stage_crosstab"])
    assert list(cross["stage"]) == ["recent", "lapsing", "dormant", "lost"]
    assert cross["customer_months"].sum() > 0
    least = cross["share_S1"].to_numpy()
    assert least[-1] > least[0]                           # the lost stage sits mostly in the least active state
    values = pd.DataFrame(res["state_values"])
    assert np.all(np.diff(values["value"]) > 0) and (values["lower"] <= values["value"]).all()


@pytest.mark.slow
def test_fast_report_end_to_end(tmp_path):
    from conftest import run_cli

    run = run_cli("run", config.PARAMS_DIR / "relationship_states" / "fast.yaml", "--reports-dir", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    check_fast_results(json.loads((tmp_path / "relationship_states" / "fast" / "results.json").read_text()))


@pytest.mark.slow
def test_a_users_panel_runs_end_to_end(tmp_path):
    """tests/data/relationship_states/own_panel.yaml through the command line, as a user would run it."""
    from conftest import run_cli

    run = run_cli("run", FIXTURES / "own_panel.yaml", "--reports-dir", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads((tmp_path / "relationship_states" / "own_panel" / "results.json").read_text())
    src = doc["sections"]
    for name in ("selection", "profiles", "transitions", "occupancy", "value"):
        assert src[name]["source"] == "data", (name, src[name])
    assert src["stages"]["source"] == "not_computed" and src["recovery"]["source"] == "not_computed"
    prof = pd.DataFrame(doc["results"]["state_profiles"])
    assert any(c.startswith("satisfaction: P(") for c in prof.columns)
    assert run_cli("publish", "--reports-dir", tmp_path).returncode == 0


def test_parameter_files_validate():
    for path in sorted((config.PARAMS_DIR / "relationship_states").glob("*.yaml")):
        assert load_parameter_file(path).notebook == NOTEBOOK
