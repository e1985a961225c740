"""Users' logs end to end (tests/data/logs): a transaction log on which the Pareto/NBD cannot converge
and a stage panel with gaps, each run from its parameter file and published, with known answers.

* `pareto_boundary.csv` (own column names, day/month/year dates): 800 customers drawn from BG/NBD
  (r, α, a, b) = (0.8, 6, 5, 20) and Gamma-Gamma (6, 4, 15), seed 1. Dropout is nearly
  homogeneous, so the Pareto/NBD runs to its boundary (s and β towards infinity) from every
  starting point, while BG/NBD and Gamma-Gamma converge near the truth.
* `stage_panel_gaps.csv` (own column names): 1,500 members' monthly relationship stages drawn from
  a known matrix (the relationship_stages variant's base matrix), seed 8, with 680 interior
  member-months removed. A move is counted only between consecutive observed months; the gaps
  are reported (customers, missing member-months, moves not counted).
"""

from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from crmresearch import config
from crmresearch.sections import SOURCES

from conftest import run_cli
from textnumbers import assert_omits, assert_states

pytestmark = pytest.mark.slow

LOGS = config.PROJECT_DIR / "tests" / "data" / "logs"
TRUE_P = np.array([[0.50, 0.30, 0.00, 0.00, 0.20],
                   [0.05, 0.50, 0.30, 0.05, 0.10],
                   [0.00, 0.02, 0.80, 0.13, 0.05],
                   [0.00, 0.05, 0.20, 0.45, 0.30],
                   [0.00, 0.00, 0.00, 0.00, 1.00]])


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("user_logs")
    run = run_cli("run", LOGS / "pareto_boundary.yaml", LOGS / "stage_panel_gaps.yaml", "--reports-dir", out)
    assert run.returncode == 0, run.stdout + run.stderr
    published = run_cli("publish", "--reports-dir", out)
    assert published.returncode == 0, published.stdout + published.stderr
    return out


def _doc(reports, topic, variant):
    return json.loads((reports / topic / variant / "results.json").read_text())


def _markdown_outputs(reports, topic, variant) -> list[str]:
    nb = nbformat.read(reports / topic / variant / "report.ipynb", as_version=4)
    return ["".join(o.get("data", {}).get("text/markdown", "")) for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]


@pytest.mark.parametrize("topic, variant", [("customer_lifetime_value", "pareto_boundary"),
                                            ("lifecycle_transitions", "stage_panel_gaps")])
def test_every_section_names_its_source_and_no_table_shows_nan(reports, topic, variant):
    doc = _doc(reports, topic, variant)
    assert doc["sections"] and all(s["source"] in SOURCES for s in doc["sections"].values())
    for text in _markdown_outputs(reports, topic, variant):
        for line in text.splitlines():
            if line.startswith("|"):
                assert not re.search(r"\bnan\b", line, re.I), line
    page = (reports / "_site" / topic / variant / "report.html").read_text()
    assert not re.search(r"\bnan%|\| nan\b|>nan<", page)
    assert (reports / "_site" / topic / variant / "report.pdf").exists()


def test_pareto_nbd_failure_is_a_section_and_the_report_goes_on(reports):
    doc = _doc(reports, "customer_lifetime_value", "pareto_boundary")
    sections, results = doc["sections"], doc["results"]
    assert sections["fit_paretonbd"]["source"] == "failed"
    assert_states(sections["fit_paretonbd"]["note"], 7)            # every one of the 7 starting points was tried
    assert re.search(r"\bs\b.*beta|beta.*\bs\b", sections["fit_paretonbd"]["note"])   # ran to the boundary
    assert results["fit_paretonbd"]["failed"] is True
    for name in ("fit_bgnbd", "fit_gamma_gamma", "models", "tracking", "holdout", "clv", "concentration", "tiers"):
        assert sections[name]["source"] == "data", name
    for name in ("dwyer_retention", "dwyer_uplift", "dwyer_migration"):
        assert sections[name]["source"] == "published"
    bg = results["fit_bgnbd"]["params"]       # the truth is (0.8, 6, 5, 20); a and b are loosely identified
    assert bg["r"] == pytest.approx(0.8, rel=0.15) and bg["alpha"] == pytest.approx(6, rel=0.2)
    assert {row["model"] for row in results["parameters"]} == {"BG/NBD", "Gamma-Gamma"}
    assert [row["model"] for row in results["tracking_errors"]] == ["BG/NBD"]
    # The finding uses only fitted models, and the parameter file's settings (top 10%, +10 points, 90%).
    assert "Pareto" not in doc["finding"] and "BG/NBD" in doc["finding"]
    # With a holdout period the lead judges the forecast there, on the totals the holdout table gives.
    check = results["holdout_check"][0]
    assert check["model"] == "BG/NBD"
    assert_states(doc["finding"], 10, round(check["predicted total"]), check["actual total"], round(check["error (%)"], 1))
    assert_omits(doc["finding"], 20)
    text = "\n".join(_markdown_outputs(reports, "customer_lifetime_value", "pareto_boundary"))
    assert "*Model failed:* Pareto/NBD" in text
    assert_states(text, 90) and not re.search(r"\b95%", text)        # the file's 90% intervals, never 95%
    page = (reports / "_site" / "customer_lifetime_value" / "pareto_boundary" / "report.html").read_text()
    assert "Model failed" in page


def test_stage_panel_gaps_are_reported_and_moves_never_bridge_them(reports):
    doc = _doc(reports, "lifecycle_transitions", "stage_panel_gaps")
    results, sections = doc["results"], doc["sections"]
    # Known answers, computed here from the file with pandas.
    df = pd.read_csv(LOGS / "stage_panel_gaps.csv")
    month = pd.PeriodIndex(df["month"], freq="M").astype("int64")
    df = df.assign(t=month).sort_values(["member", "t"])
    step = df.groupby("member")["t"].diff()
    span = df.groupby("member")["t"].agg(lambda t: t.max() - t.min() + 1)
    missing = span - df.groupby("member").size()
    assert results["panel_gaps"] == {"customers_with_gaps": int((missing > 0).sum()),
                                     "missing_periods": int(missing.sum()), "moves_not_counted": int((step > 1).sum())}
    assert results["panel_gaps"]["missing_periods"] == 680
    assert results["transitions"] == int((step == 1).sum())
    assert sections["panel"]["rows_dropped"] == {
        "customer-periods missing inside histories (moves across them not counted)": 680}
    P = np.array(results["transition_matrix"]["probabilities"], float)
    assert np.max(np.abs(P - TRUE_P)) < 0.03
    assert sections["relationship_patterns"]["source"] == "data"
    assert sections["covariates"]["source"] == "not_computed" and sections["truth"]["source"] == "not_computed"
    text = "\n".join(_markdown_outputs(reports, "lifecycle_transitions", "stage_panel_gaps"))
    gaps = results["panel_gaps"]
    assert_states(text, gaps["customers_with_gaps"], gaps["missing_periods"], gaps["moves_not_counted"], 90)
    assert not re.search(r"\b95%", text)
    # Continuation tables each carry their own label; churned customers stay in the cohort flows.
    assert all(f"{{#tbl-matrix-{k}}}" in text for k in (1, 2, 3))
    first = df.groupby("member")["t"].transform("min")
    cohort = df[first == df["t"].min()].assign(k=lambda d: d["t"] - d["t"].min())

    def complete(member) -> bool:          # observed at every step 0..8, or churned (and so churned ever after)
        churned = member.loc[member["status"] == "churn", "k"].min()
        return all(k in set(member["k"]) or (pd.notna(churned) and k >= churned) for k in range(9))

    closed = int(cohort.groupby("member").apply(complete).sum())
    assert sections["cohort_flows"]["rows_used"] == closed and closed > 0.7 * cohort["member"].nunique()
