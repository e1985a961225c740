"""Every figure 01_satisfaction_loyalty states, read back from results.json and recomputed directly.

The notebook is not executed here: the tests read the fast report of the session's shared run
(`published_overview` in conftest.py, each fast variant run once per session); each test then
recomputes one group of numbers with the package and compares.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import crmresearch as crm
from crmresearch import config, parameters
from crmresearch.models import segmented
from crmresearch.satisfaction import ceiling, loyalty_types, simulation, topbox

pytestmark = pytest.mark.filterwarnings("ignore")

NOTEBOOK = "01_satisfaction_loyalty"


@pytest.fixture(scope="module")
def run(published_overview):
    doc = json.loads((published_overview / "satisfaction_loyalty" / "fast" / "results.json").read_text())
    params = parameters.schema_for(NOTEBOOK).model_validate(doc["provenance"]["parameters"])
    mobi = crm.datasets.load_mobi()
    sat = mobi[params.survey.satisfaction].mean(axis=1).to_numpy()
    loyalty = mobi[params.survey.loyalty].mean(axis=1).to_numpy()
    return {"results": doc["results"], "doc": doc, "params": params, "mobi": mobi, "sat": sat, "loyalty": loyalty}


def test_results_file_is_complete(run):
    doc = run["doc"]
    assert doc["notebook"] == NOTEBOOK and doc["variant"] == "fast" and doc["finding"]
    for key in ("respondents", "segmented", "davies", "flat_zone_test", "censored_regression", "ordered_logit",
                "jones_sasser_top_box", "nps_by_band", "trap_intention", "penalty_reward", "dick_basu",
                "switching_cost_removal", "competitiveness_retention"):
        assert key in doc["results"], key
    sources = {name: sec["source"] for name, sec in doc["sections"].items()}
    assert sources["curve"] == sources["ceiling"] == sources["trap"] == sources["attributes"] == "data"
    # mobi has no behaviour or switching-cost item: loyalty types are a simulated illustration (asked for
    # in fast.yaml), the survey's own switching-cost section is not computed
    assert sources["loyalty_types"] == sources["competitiveness"] == "simulated"
    assert sources["switching_cost"] == "not_computed" and doc["sections"]["switching_cost"]["note"]
    assert doc["sections"]["curve"]["rows_used"] == 250


def test_descriptives(run):
    r, sat, loyalty = run["results"], run["sat"], run["loyalty"]
    assert r["respondents"] == 250
    assert r["satisfaction_mean"] == pytest.approx(sat.mean())
    assert r["loyalty_mean"] == pytest.approx(loyalty.mean())
    assert r["loyalty_at_ceiling"]["estimate"] == pytest.approx(np.mean(loyalty >= 10))


def test_breakpoint_and_davies(run):
    r, p, sat, loyalty = run["results"], run["params"], run["sat"], run["loyalty"]
    fit = segmented.bootstrap_segmented(sat, loyalty, segmented.fit_segmented(sat, loyalty), p.bootstrap_resamples, seed=p.seed)
    got = r["segmented"]
    assert got["breakpoint"] == pytest.approx(fit.breakpoint)
    assert got["breakpoint_ci_lower"] == pytest.approx(fit.breakpoint_ci[0])
    assert got["breakpoint_ci_upper"] == pytest.approx(fit.breakpoint_ci[1])
    assert got["slope_before"] == pytest.approx(fit.slope_before)
    assert got["slope_after"] == pytest.approx(fit.slope_after)
    assert got["bootstrap_breakpoint_ci_lower"] == pytest.approx(fit.bootstrap["breakpoint_ci_lower"])
    assert r["davies"]["p_value"] == pytest.approx(segmented.davies_test(sat, loyalty, k=p.davies_k).p_value)


def test_flat_zone_verdict_on_mobi(run):
    """The known result, found by the report itself: mobi's bend is the ceiling, not a zone of indifference."""
    r, p, sat, loyalty = run["results"], run["params"], run["sat"], run["loyalty"]
    flat = ceiling.calibrated_flat_zone_test(sat, loyalty, (1, 10), n_sim=p.n_null_simulations, seed=p.seed,
                                             k=p.davies_k)
    assert r["flat_zone_test"]["calibrated_p_value"] == pytest.approx(flat.calibrated_p_value)
    assert r["flat_zone_test"]["naive_p_value"] == pytest.approx(flat.naive_p_value)
    assert r["flat_zone_test"]["naive_p_value"] < 0.05 < r["flat_zone_test"]["calibrated_p_value"]
    assert r["flat_zone_survives"] is False
    size = ceiling.flat_zone_size_check(sat, flat, (1, 10), n_samples=p.size_check_samples, n_sim=99, seed=p.seed,
                                        alpha=p.alpha, k=p.davies_k)
    assert r["flat_zone_size_check"]["naive"]["successes"] == size.naive.successes
    assert r["flat_zone_size_check"]["calibrated"]["successes"] == size.calibrated.successes
    censored = ceiling.fit_ceiling_aware(sat, loyalty, (1, 10))
    assert r["censored_regression"]["linear_slope"] == pytest.approx(censored.linear_slope, rel=1e-6)
    assert r["censored_regression"]["prefers_kink"] is False


def test_top_box_and_nps(run):
    r, p, mobi, sat = run["results"], run["params"], run["mobi"], run["sat"]
    top = mobi[p.survey.repurchase].to_numpy() >= p.top_box_min
    js = topbox.jones_sasser_ratio(sat, top, p.completely_satisfied_min, p.satisfied_min)
    assert r["jones_sasser_top_box"]["ratio"] == pytest.approx(js.ratio)
    complete = sat >= p.completely_satisfied_min
    assert r["jones_sasser_top_box"]["completely_satisfied"]["estimate"] == pytest.approx(top[complete].mean())
    nps = pd.DataFrame(r["nps_by_band"])
    band = (sat > 9) & (sat <= 10)
    assert nps.iloc[-1]["nps"] == pytest.approx(crm.stats.net_promoter_score(mobi[p.survey.recommendation][band]).nps)


def test_trap_counts(run):
    r, p, mobi, sat = run["results"], run["params"], run["mobi"], run["sat"]
    satisfied = sat >= p.satisfied_min
    would_defect = mobi[p.survey.repurchase].to_numpy() <= p.would_not_choose_again_max
    got = r["trap_intention"]
    assert got["satisfied_who_defect"]["successes"] == int((satisfied & would_defect).sum())
    assert got["satisfied_who_defect"]["n"] == int(satisfied.sum())
    assert got["defectors_who_were_satisfied"]["n"] == int(would_defect.sum())
    lo, hi = crm.stats.wilson_interval((satisfied & would_defect).sum(), satisfied.sum())
    assert got["satisfied_who_defect"]["ci_lower"] == pytest.approx(lo)
    assert got["satisfied_who_defect"]["ci_upper"] == pytest.approx(hi)


def test_simulated_sections(run):
    r, p = run["results"], run["params"]
    removal = loyalty_types.switching_cost_removal(simulation.scenario("monopoly", n=p.scenario_n), p.seed,
                                                   p.satisfied_min)
    got = pd.DataFrame(r["switching_cost_removal"])
    assert got["retention"].to_numpy() == pytest.approx(removal["table"]["retention"].to_numpy())
    curves, _ = loyalty_types.competitiveness_curves(
        {name: simulation.scenario(name, n=p.scenario_n) for name in simulation.SCENARIOS}, p.seed)
    got = pd.DataFrame(r["competitiveness_retention"])
    assert got["share"].to_numpy() == pytest.approx(curves["share"].to_numpy(), nan_ok=True)


def test_notebook_cells_only_call_the_package():
    """Logic lives in crmresearch.satisfaction: besides the parameters cell, no code cell is longer than
    ten lines (Quarto options not counted) or branches on the data."""
    nb = json.loads((config.NOTEBOOKS_DIR / f"{NOTEBOOK}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []):
            continue
        lines = [ln for ln in "".join(cell["source"]).splitlines() if ln.strip() and not ln.startswith("#|")]
        assert len(lines) <= 10, lines[0]
        assert not any(ln.lstrip().startswith(("if ", "else", "elif ")) for ln in lines), lines[0]


def test_structural_model_drivers_section(run):
    """The ECSI structural model's numbers in results.json: SmartPLS's path-weighting estimates, the stated
    bootstrap, intervals and importance-performance maps recomputed with the package (same seed), the driver
    to improve first, and the satisfaction -> loyalty path recorded next to the curve's breakpoint."""
    from pathlib import Path

    from crmresearch.models.plssem import PLSPathModel

    r, params, mobi = run["results"]["structural_model"], run["params"], run["mobi"]
    spec = params.survey.structural_model
    assert r["scheme"] == "path" and r["respondents"] == 250 and r["bootstrap_resamples"] == spec.bootstrap_resamples
    assert run["doc"]["sections"]["drivers"]["source"] == "data"
    published = pd.read_csv(Path(__file__).parent / "data" / "plssem" / "ecsi_mobi_smartpls.csv")
    published = published[(published["scheme"] == "path") & (published["quantity"] == "path_coefficient")]
    for _, row in published.iterrows():
        assert r["paths"][f"{row['from']} -> {row['to']}"]["estimate"] == pytest.approx(row["value"], abs=1e-6)
    fit = PLSPathModel(spec.constructs, spec.path_pairs, spec.modes, spec.scheme).fit(
        mobi, resamples=spec.bootstrap_resamples, seed=params.seed, confidence=params.confidence)
    paths = fit.intervals("path")
    for name, row in paths.iterrows():
        for key in ("std_error", "lower", "upper"):
            assert r["paths"][name][key] == pytest.approx(row[key], rel=1e-9), (name, key)
        assert r["paths"][name]["bca_lower"] < r["paths"][name]["bca_upper"]
    for target in ("Satisfaction", "Loyalty"):
        ipma = fit.ipma(target, 1, 10)
        shown = pd.DataFrame(r["ipma"][target]).set_index("construct")
        np.testing.assert_allclose(shown[["importance", "performance"]], ipma[["importance", "performance"]], rtol=1e-9)
    sat_map = fit.ipma("Satisfaction", 1, 10)
    assert r["priority_driver"]["Satisfaction"] == (sat_map["importance"] * (100 - sat_map["performance"])).idxmax()
    assert r["satisfaction_loyalty_path"]["estimate"] == r["paths"]["Satisfaction -> Loyalty"]["estimate"]
    assert r["curve_breakpoint"] == pytest.approx(run["results"]["segmented"]["breakpoint"])
    quality = pd.DataFrame(r["measurement"]).set_index("construct")
    np.testing.assert_allclose(quality["ave"], fit.reliability()["ave"], rtol=1e-12)
