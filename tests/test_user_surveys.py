"""Users' own surveys: declared scales and missing codes, honest sections, sentences that follow numbers.

The fixtures in tests/data/surveys/ are drawn from known models (see make_surveys.py there):
a 1-7 survey with -99 codes and blanks and no real bend; a 5-point survey with a real bend,
churn and attributes; loyalty as a continuous 0-100 index; a survey with a switching-cost item
and no attributes. The slow test runs all four end to end (run, publish) and checks verdicts,
section sources and rows in results.json, and that no table or sentence shows "nan".
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmresearch import config, datasets, parameters, stats
from crmresearch.parameters import ParameterFileError
from crmresearch.satisfaction import data as survey_data, sections as sat_sections, text as sat_text, topbox
from crmresearch.satisfaction.analyse import SatisfactionAnalysis
from crmresearch.sections import Section

from conftest import run_cli
from textnumbers import assert_omits, assert_states, numbers

analyse_module = importlib.import_module("crmresearch.satisfaction.analyse")   # the module, not the function
SURVEYS = config.PROJECT_DIR / "tests" / "data" / "surveys"
PARAMS = sorted(SURVEYS.glob("*.yaml"))


# ---------------------------------------------------------------- scales, cut-offs, validation (fast)

def _params(**survey):
    from crmresearch.parameters.satisfaction_loyalty import SatisfactionLoyaltyParameters

    if not survey:
        return SatisfactionLoyaltyParameters(survey={"dataset": "mobi"})
    # validation reads only the parameters (the file's columns are checked when it is loaded)
    return SatisfactionLoyaltyParameters(survey={"path": str(SURVEYS / "likert5.csv"), **survey})


def test_default_cutoffs_follow_each_measures_scale():
    p = _params()   # 1-10: the report's earlier values
    assert (p.satisfied_min, p.completely_satisfied_min, p.would_not_choose_again_max, p.top_box_min,
            p.attitude_high_min, p.attribute_low_max, p.attribute_high_min, p.promoter_min, p.detractor_max) == \
        (7, 9, 6, 10, 8, 6, 9, 9, 6)
    assert p.satisfaction_bands == [1, 5, 6, 7, 8, 9, 10] and p.nps_defined
    five = _params(scale={"low": 1, "high": 5})        # Jones & Sasser's own 5-point definitions
    assert (five.satisfied_min, five.completely_satisfied_min, five.top_box_min) == (4, 5, 5)
    assert not five.nps_defined
    mixed = _params(scale={"low": 1, "high": 7}, scales={"recommendation": {"low": 0, "high": 10},
                                                         "loyalty": {"low": 0, "high": 100}})
    assert (mixed.satisfied_min, mixed.promoter_min, mixed.detractor_max) == (5, 9, 6) and mixed.nps_defined
    assert mixed.scale_of("loyalty").bounds == (0, 100) and mixed.scale_of("repurchase").bounds == (1, 7)
    assert "default on the satisfaction scale 1–7" in mixed.cutoff_origins["satisfied_min"]


def test_the_overview_and_the_satisfaction_report_share_one_definition_of_satisfied():
    from crmresearch.parameters.crm_overview import CrmOverviewParameters

    assert CrmOverviewParameters().satisfied_min == _params().satisfied_min == 7
    seven = CrmOverviewParameters(survey={"path": str(SURVEYS / "likert7_codes.csv"), "scale": {"low": 1, "high": 7}})
    assert seven.satisfied_min == 5 and not seven.nps_defined


def _write_params(tmp_path, parameters_block: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("notebook: 01_satisfaction_loyalty\nvariant: t\nparameters:\n" + parameters_block)
    return path


def test_a_cutoff_off_its_scale_names_file_field_scale_and_value(tmp_path):
    csv = SURVEYS / "likert7_codes.csv"
    path = _write_params(tmp_path, f"  survey: {{path: {csv}, scale: {{low: 1, high: 7}}}}\n  satisfied_min: 8\n")
    with pytest.raises(ParameterFileError) as info:
        parameters.load_parameter_file(path)
    message = str(info.value)
    assert str(path) in message and "satisfied_min" in message and "1–7" in message and "got 8" in message
    path = _write_params(tmp_path, f"  survey: {{path: {csv}, scale: {{low: 0, high: 100}}, missing_codes: [99]}}\n")
    with pytest.raises(ParameterFileError, match="99, which is a possible answer"):
        parameters.load_parameter_file(path)
    path = _write_params(tmp_path, f"  survey: {{path: {csv}, scale: {{low: 1, high: .inf}}}}\n")
    with pytest.raises(ParameterFileError):
        parameters.load_parameter_file(path)
    path = _write_params(tmp_path, "  survey: {dataset: mobi, scale: {low: 1, high: 7}}\n")
    with pytest.raises(ParameterFileError, match="1-10 scale"):
        parameters.load_parameter_file(path)


def test_validation_lists_every_bad_column_with_counts_and_rows(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"q1": [1, 9, 3, -99, 8, 2, 2, 2, 2, 2, 2, 2], "q2": ["x", 2, 3, "", "y", 1, 1, 1, 1, 1, 1, 2],
                  "q3": [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5]}).to_csv(path, index=False)
    with pytest.raises(datasets.DataValidationError) as info:
        datasets.load_survey_columns(path, {"q1": (1, 7, [-99]), "q2": (1, 7, [-99]), "q3": (1, 7, [-99])})
    message = str(info.value)
    assert "column 'q1': 2 values outside the scale (rows 2, 5)" in message
    assert "column 'q2': 2 non-numeric values (rows 1, 5)" in message and "q3" not in message
    ok = datasets.load_survey_columns(path, {"q3": (1, 7, [])})
    assert ok["q3"].notna().all()
    codes = tmp_path / "codes.csv"
    pd.DataFrame({"q": [1, -99, "", 7]}).to_csv(codes, index=False)
    values = datasets.load_survey_columns(codes, {"q": (1, 7, [-99])})["q"]
    assert values.isna().tolist() == [False, True, True, False]      # codes and blanks are missing, not errors


@pytest.mark.parametrize("rows, expected", [
    (0, "at least 10 respondents with satisfaction and loyalty"),
    (1, "at least 10 respondents"),
    (30, "more than one distinct score"),
])
def test_surveys_that_cannot_support_the_report_stop_before_any_kernel(tmp_path, rows, expected):
    path = tmp_path / "s.csv"
    pd.DataFrame({"s": [6] * rows, "l": np.arange(rows) % 7 + 1, "r": [5] * rows, "n": [5] * rows}).to_csv(
        path, index=False)
    pf = _write_params(tmp_path, f"  survey: {{path: {path}, satisfaction: [s], loyalty: [l], repurchase: r, "
                                 "recommendation: n, scale: {low: 1, high: 7}}\n")
    result = run_cli("validate", pf)
    assert result.returncode == 2 and expected in result.stderr and str(pf) in result.stderr


# ---------------------------------------------------------------- sentences follow their numbers (fast)

def _broken(breakpoint=7.4, ci=(6.4, 8.3)):
    from crmresearch.models.segmented import SegmentedFit

    return SegmentedFit(250, breakpoint, 0.4, ci, 1.0, 0.8, 0.3, -0.5, (0.6, 1.0), (0.1, 0.5), (-0.8, -0.2), 1.0, 1.0,
                        1.0, 1.0, True, 0.95, {"breakpoint_ci_lower": ci[0], "breakpoint_ci_upper": ci[1],
                                               "n_valid": 10, "n_boot": 10})


def _checks(survives: bool, naive: bool, failed: bool = False):
    from types import SimpleNamespace

    if failed:
        return analyse_module.CeilingChecks(None, None, None, None, None, None, "no convergence")
    flat = SimpleNamespace(naive_p_value=0.001 if naive else 0.4, calibrated_p_value=0.01 if survives else 0.3)
    return analyse_module.CeilingChecks(None, None, flat, {"survives": survives, "naive_rejects": naive, "text": "v"},
                                        None)


def _trap(successes=30, n=100):
    from types import SimpleNamespace

    p = stats.Proportion(successes, n, successes / n if n else float("nan"), 0.1, 0.4)
    return SimpleNamespace(intention=SimpleNamespace(satisfied_who_defect=p))


def test_the_one_line_finding_follows_the_verdict():
    """A ceiling verdict quotes the naive and calibrated p-values, not the breakpoint; a real bend quotes the
    breakpoint and its interval; each states the trap share and its cut-off (numbers, not wording)."""
    ceiling = sat_text.finding_text(_broken(), _checks(False, True), _trap(), 7)
    assert numbers(ceiling) == [0.001, 0.300, 30, 7]
    real = sat_text.finding_text(_broken(), _checks(True, True), _trap(), 7)
    assert numbers(real)[:4] == [7.4, 95, 6.4, 8.3] and numbers(real)[-2:] == [30, 7]
    assert_states(real, 0.010)
    none = sat_text.finding_text(_broken(), _checks(False, False), _trap(), 7)
    assert numbers(none) == [0.400, 0.300, 30, 7]
    assert none != ceiling.replace("0.001", "0.400")            # no bend is not the ceiling verdict
    failed = sat_text.finding_text(_broken(), _checks(False, False, failed=True), _trap(0, 0), 5)
    assert numbers(failed) == [5] and "nan" not in failed


def test_the_breakpoint_sentence_never_says_flattens_and_flags_an_undetermined_breakpoint():
    from types import SimpleNamespace

    davies = SimpleNamespace(p_value=0.01, statistic=3.0, grid=np.arange(10))
    text = sat_text.breakpoint_text(_broken(), davies, (1, 10))
    assert "flattens" not in text
    assert_states(text, 7.40, 6.40, 8.30, 0.80, 0.60, 1.00, 0.30, 0.10, 0.50, 0.010, 3.00, 10)
    loose = sat_text.breakpoint_text(_broken(4.0, (-30.8, 38.8)), davies, (1, 7))
    assert_states(loose, 4.00, -30.80, 38.80, 1, 7)      # the interval and the observed range it leaves
    assert len(loose) > len(text)                        # the undetermined breakpoint is flagged


def test_undefined_ratios_are_written_as_undefined():
    nobody = topbox.jones_sasser_ratio(np.array([5.0, 6, 6]), np.array([True, False, True]), 7, 5)
    assert nobody.undefined_reason == "no respondent is completely satisfied"
    assert nobody.as_dict()["ratio"] is None
    text = sat_text.jones_sasser_text(nobody, None, 7, 5, 7, 0.95)
    assert "**undefined**" in text and "nan" not in text
    assert_states(text, 0, 7, 66.7, 3, 5)
    defined = topbox.jones_sasser_ratio(np.array([7.0, 7, 6, 6, 5]), np.array([True, True, True, False, False]), 7, 5)
    assert defined.undefined_reason is None
    shown = sat_text.jones_sasser_text(defined, None, 7, 5, 7, 0.9)
    r = defined.as_dict()
    assert_states(shown, 2, 100.0, 33.3, 3, 90)
    assert_states(shown, r["ratio"], r["ci_lower"], r["ci_upper"], places=1)     # 3.0 (90% CI 0.6–14.9)


def test_nps_only_on_a_0_to_10_item_otherwise_the_net_top_box_score():
    score = stats.net_promoter_score(np.array([7, 7, 1, 4, 6]), 0.95, 7, 4)
    nps = sat_text.net_score_text(analyse_module.NetScore(score, True, 9, 6, "0–10", 0, 0.95))
    net = sat_text.net_score_text(analyse_module.NetScore(score, False, 7, 4, "1–7", 1, 0.95))
    assert_states(nps, score.nps, score.lower, score.upper, score.promoters, score.detractors, places=1)
    assert_states(nps, 9, 6)                                  # the NPS cut-offs on 0-10
    assert_states(net, score.nps, score.lower, score.upper, places=1)
    assert_states(net, 7, 4, 1)                               # the top-box cut-offs and the empty band
    assert_omits(net, 9)
    assert nps != net


def test_the_switching_cost_sentence_follows_the_interaction():
    from crmresearch.satisfaction.loyalty_types import switching_cost_by_satisfaction

    rng = np.random.default_rng(3)
    sat = rng.uniform(1, 10, 400)
    cost = np.r_[np.full(200, 2.0), np.full(200, 9.0)]
    for high_slope, word in ((0.1, "**less**"), (1.5, "**more**")):
        loyalty = np.where(cost > 5, 2 + high_slope * sat, 2 + 0.8 * sat) + 0.3 * rng.standard_normal(400)
        r = switching_cost_by_satisfaction(sat, loyalty, cost, loyalty, 6, 7, "'would choose again'")
        assert word in sat_text.switching_cost_text(r)
    same = np.where(cost > 5, 2 + 0.8 * sat, 2 + 0.8 * sat) + 2 * rng.standard_normal(400)
    r = switching_cost_by_satisfaction(sat, same, cost, same, 6, 7, "'would choose again'")
    assert "cannot tell the two slopes apart" in sat_text.switching_cost_text(r)
    with pytest.raises(ValueError, match="at least 5 in each"):
        switching_cost_by_satisfaction(sat, same, np.full(400, 2.0), same, 6, 7, "x")


def test_overview_text_uses_the_shares_and_confidence_as_given():
    from crmresearch.overview import sections as overview_sections, text as overview_text
    from crmresearch.overview.analyse import TrapSummary

    sec = lambda **r: Section(results=r)   # noqa: E731 - small test helper
    rep = stats.Proportion(10, 40, 0.25, 0.1, 0.4)
    text = overview_text.finding(sec(nps=stats.NetPromoterScore(50, 30, 40, 30, 0.0, -5, 5)),
                                     sec(satisfied_would_not_choose_again=rep),
                                     sec(repeat_purchase=rep, top_share_of_revenue=0.6), 180, 0.125)
    assert numbers(text) == [0, 25, 25, 180, 12.5, 60]     # NPS, trap share, repeat share, window, top share, revenue
    lead = overview_text.lead_sentences(sec(nps=stats.NetPromoterScore(50, 30, 40, 30, 0.0, -5, 5)),
                                        sec(satisfied_would_not_choose_again=rep),
                                        sec(repeat_purchase=rep, top_share_of_revenue=0.6), 180, 0.125, 0.95)
    assert lead[1].endswith("(95% CI -5 to +5): the data cannot tell whether promoters or detractors are more "
                            "numerous.") and "balance" not in lead[1]      # an interval around 0 is no balance
    # The repeat share says "most" only when its interval is on one side of a half.
    endings = {}
    for share in (stats.Proportion(10, 40, 0.25, 0.1, 0.4), stats.Proportion(22, 40, 0.55, 0.4, 0.7),
                  stats.Proportion(30, 40, 0.75, 0.6, 0.9)):
        said = overview_text.lead_sentences(sec(nps=stats.NetPromoterScore(50, 30, 40, 30, 0.0, -5, 5)),
                                            sec(satisfied_would_not_choose_again=rep),
                                            sec(repeat_purchase=share, top_share_of_revenue=0.6), 180, 0.125, 0.95)
        endings[share.estimate] = said[2].split(": ", 1)[1]
    assert endings == {0.25: "most buyers did not return within that window.",
                       0.55: "the data cannot tell whether most buyers came back within that window.",
                       0.75: "most buyers came back within that window."}
    table = overview_sections.behaviour_table({"customers": 40, "transaction_lines": 90, "repeat_purchase": rep,
                                      "inter_purchase_days_median": float("nan"), "top_share_of_revenue": 0.6,
                                      "gini_revenue": 0.4}, 180, 0.25, 0.9)
    measures = table.set_index("measure")["value"]
    assert [numbers(m) for m in table["measure"]] == [[], [], [180, 90], [], [25], []]   # the window, CI level, top share
    assert numbers(measures.iloc[2]) == [25.0, 10.0, 40.0] and numbers(measures.iloc[4]) == [60.0]
    assert "nan" not in table.to_string().lower()
    trap = overview_text.trap_text(TrapSummary(stats.Proportion(0, 0, float("nan"), float("nan"), float("nan")),
                                                   8, 6, "q", 0.95))
    assert numbers(trap) == [8] and "nan" not in trap      # the cut-off only: no share of nobody


# ---------------------------------------------------------------- end to end (slow)

NAN = re.compile(r"\bnan\b|nan%|\bNaN\b")


def _outputs_text(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            parts.append("".join(data.get("text/markdown", "")))
            parts.append("".join(out.get("text", "")) if out.get("name") == "stdout" else "")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def user_reports(tmp_path_factory) -> Path:
    reports = tmp_path_factory.mktemp("user_reports")
    run = run_cli("run", *PARAMS, "-j", "2", "--reports-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    pub = run_cli("publish", "--reports-dir", reports)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    return reports


def _report(reports: Path, variant: str):
    folder = reports / "satisfaction_loyalty" / variant
    return (json.loads((folder / "results.json").read_text()),
            json.loads((folder / "report.ipynb").read_text()), folder)


EXPECTED_SOURCES = {
    "user_likert7_codes": {"attributes": "not_computed", "loyalty_types": "not_computed",
                           "switching_cost": "not_computed", "loyalty_sources": "not_computed",
                           "switching_cost_removal": "not_computed", "competitiveness": "not_computed"},
    "user_likert5": {"attributes": "data", "loyalty_types": "data", "switching_cost": "not_computed"},
    "user_index100": {"attributes": "not_computed", "loyalty_types": "not_computed", "ceiling": "data"},
    "user_switching": {"attributes": "not_computed", "loyalty_types": "data", "switching_cost": "data"},
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(EXPECTED_SOURCES))
def test_user_survey_runs_end_to_end_honestly(user_reports, variant):
    doc, nb, folder = _report(user_reports, variant)
    sections = doc["sections"]
    for name in ("data", "curve", "ceiling", "top_box", "jones_sasser", "nps", "trap", "attributes", "loyalty_types",
                 "switching_cost", "switching_cost_removal", "competitiveness"):
        assert name in sections, name
        assert sections[name]["source"] in ("data", "not_computed", "failed"), (name, sections[name])
    for name, source in EXPECTED_SOURCES[variant].items():
        assert sections[name]["source"] == source, (name, sections[name])
    for name, sec in sections.items():
        if sec["source"] == "not_computed":
            assert sec["note"], name
        elif name not in ("loyalty_sources", "switching_cost_removal", "competitiveness"):
            assert sec["rows_used"] and sec["rows_used"] > 0, name
    text = _outputs_text(nb)
    assert not NAN.search(text), NAN.search(text)
    # no simulated section heading or caption (sections.simulated_heading / simulated_caption)
    assert "Simulated illustration:" not in text and "Simulated illustration (" not in text
    assert "simulated competitive market" not in text and "switched off" in text
    assert doc["finding"] and "nan" not in doc["finding"]
    site_page = user_reports / "_site" / "satisfaction_loyalty" / variant / "report.html"
    assert site_page.exists()
    assert not NAN.search(re.sub(r"<[^>]+>", " ", site_page.read_text()))


@pytest.mark.slow
def test_user_survey_verdicts_and_numbers(user_reports):
    seven, nb7, _ = _report(user_reports, "user_likert7_codes")
    r = seven["results"]
    assert r["flat_zone_survives"] is False                           # straight latent line + 1-7 ceiling
    assert "nps_by_band" not in r and "net_top_box_by_band" in r    # 1-7 recommendation: no NPS
    assert seven["provenance"]["parameters"]["satisfied_min"] == 5
    raw = pd.read_csv(SURVEYS / "likert7_codes.csv", dtype=str, keep_default_na=False)
    bad = raw[["sat_a", "sat_b", "again", "recommend"]].isin(["-99", ""]).any(axis=1)
    assert seven["sections"]["curve"]["rows_used"] == int((~raw[["sat_a", "sat_b", "again", "recommend"]]
                                                           .isin(["-99", ""]).any(axis=1)).sum())
    assert sum(seven["sections"]["curve"]["rows_dropped"].values()) == int(bad.sum())
    assert "NPS is not defined on the 1–7 recommendation scale" in _outputs_text(nb7)

    five = _report(user_reports, "user_likert5")[0]["results"]
    assert five["flat_zone_survives"] is True                         # a real bend at SAT 3.5
    assert 3.2 < five["segmented"]["breakpoint"] < 3.8
    assert "nps_by_band" in five                                      # 0-10 recommendation item
    kano = {row["attribute"]: row["kano_class"] for row in five["penalty_reward"]}
    assert kano["design"] in ("performance", "indifferent")

    index = _report(user_reports, "user_index100")[0]
    assert "ordered_logit" not in index["results"] and "distinct values" in index["results"]["ordered_logit_skipped"]
    assert index["results"]["flat_zone_survives"] is False
    assert index["sections"]["curve"]["rows_used"] == 400 - int((pd.read_csv(SURVEYS / "index100.csv")
                                                                 ["loyalty_index"] == 999).sum())

    overview = json.loads((user_reports / "crm_overview" / "user_likert7" / "results.json").read_text())
    assert "nps" not in overview["results"] and "net_top_box" in overview["results"]
    assert overview["provenance"]["parameters"]["satisfied_min"] == 5            # the same rule as report 01
    assert overview["sections"]["satisfaction"]["rows_dropped"]
    assert_states(overview["finding"], 12.5) and "Net top-box score" in overview["finding"]   # the file's top share
    page = _outputs_text(json.loads((user_reports / "crm_overview" / "user_likert7" / "report.ipynb").read_text()))
    assert "90% CI" in page and "95%" not in page and not NAN.search(page)

    switching = _report(user_reports, "user_switching")[0]["results"]["switching_cost_by_satisfaction"]
    assert switching["slope_difference"]["ci_upper"] < 0                # loyalty flatter with a high switching cost
    assert 0.6 < switching["slope_low"]["estimate"] < 0.9 and 0.1 < switching["slope_high"]["estimate"] < 0.3


# ---------------------------------------------------------------- robust estimation (fast)

def test_a_continuous_index_skips_the_ordered_logit_at_once():
    from crmresearch.satisfaction import ceiling

    rng = np.random.default_rng(0)
    x = rng.uniform(1, 10, 1500)
    y = np.clip(10 * x + 8 * rng.standard_normal(1500), 0, 100).round(2)
    ordinal, reason = ceiling.is_ordinal(y)
    assert not ordinal and "distinct values" in reason
    with pytest.raises(ceiling.ModelFitError, match="distinct values"):   # a size guard, not an 8-minute Hessian
        ceiling.ordered_logit_kink(x, y, 7.0)


def test_a_model_that_does_not_fit_is_reported_and_the_finding_does_without_it(monkeypatch):
    from crmresearch.parameters.satisfaction_loyalty import SatisfactionLoyaltyParameters
    from crmresearch.satisfaction import ceiling

    def no_fit(*args, **kwargs):
        raise ceiling.ModelFitError("the censored regression did not converge from 3 starting points")

    monkeypatch.setattr(analyse_module, "fit_ceiling_aware", no_fit)
    params = SatisfactionLoyaltyParameters(n_null_simulations=99, size_check_samples=5)
    x = np.repeat(np.arange(1.0, 11), 5)
    checks = analyse_module.ceiling_checks(x, np.clip(x + 1, 1, 10), (1, 10), 6.0, np.linspace(1, 10, 5), params)
    section = sat_sections.ceiling(SatisfactionAnalysis(params, checks=checks))
    assert section.source == "failed" and "did not converge" in section.note and "tried" in section.note
    assert section.results == {} and "Verdict.** None" in sat_text.verdict_text(checks)
    size = sat_sections.size_check(SatisfactionAnalysis(params, size=analyse_module.check_size(x, checks.flat, (1, 10),
                                                                                               params)))
    assert size.source == "not_computed"
    finding = sat_text.finding_text(_broken(), checks, _trap(), 7)
    assert "did not fit" in finding and "7.4" not in finding


def test_the_introduction_says_what_this_variant_does():
    import dataclasses

    from crmresearch.parameters.satisfaction_loyalty import SatisfactionLoyaltyParameters

    mobi = survey_data.load_report_data(SatisfactionLoyaltyParameters())
    off = sat_text.introduction_text(mobi, False)
    assert "no observed behaviour and no switching-cost item" in off and "say so where they would be" in off
    assert "switched off" in off and "show a simulated market" not in off
    assert "shows a simulated market instead" in sat_text.introduction_text(mobi, True)
    full = dataclasses.replace(mobi, has_behaviour=True, frame=mobi.frame.assign(switching_cost=1.0))
    assert "The data have no" not in sat_text.introduction_text(full, False)
    simulated = survey_data.load_report_data(SatisfactionLoyaltyParameters(survey=None,
                                                                       simulation={"scenario": "monopoly"}))
    assert "The data are simulated" in sat_text.introduction_text(simulated, True)


def test_sections_with_too_few_complete_rows_are_not_computed(tmp_path):
    from crmresearch.parameters.satisfaction_loyalty import SatisfactionLoyaltyParameters

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"s": rng.integers(1, 8, 40), "l": rng.integers(1, 8, 40), "r": pd.Series([""] * 40, dtype=object),
                       "n": [-99] * 40})
    df.loc[:2, "r"] = [1, 4, 7]
    path = tmp_path / "sparse.csv"
    df.to_csv(path, index=False)
    params = SatisfactionLoyaltyParameters(survey={
        "path": str(path), "satisfaction": ["s"], "loyalty": ["l"], "repurchase": "r", "recommendation": "n",
        "scale": {"low": 1, "high": 7}, "missing_codes": [-99]})
    data = survey_data.load_report_data(params)
    summary = sat_sections.data(SatisfactionAnalysis(params, data, summary=analyse_module.describe_data(data, params)))
    assert summary.rows_used == 40 and "of the 3 who answer 'would choose again'" in summary.text
    top = analyse_module.top_box_shares(data, np.linspace(1, 7, 121), params)
    parts = SatisfactionAnalysis(params, data, nps=analyse_module.net_scores(data, params),
                                 jones_sasser=analyse_module.jones_sasser_ratios(data, top.choose_top, params),
                                 trap=analyse_module.count_trap(data, params))
    for section in (sat_sections.jones_sasser(parts), sat_sections.nps(parts), sat_sections.trap(parts)):
        assert section.source == "not_computed" and "at least 10" in section.note and section.results == {}
    trap = analyse_module.count_trap(data, params)
    assert "too few respondents" in sat_text.finding_text(None, _checks(False, False, failed=True), trap, 5)
