"""The satisfaction-to-value report: parameters, the join, the bridge, sentences that follow their numbers,
and end-to-end runs through the command line (fast variant and a user's own survey + log)."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from textnumbers import assert_omits, assert_states
from crmresearch import config
from crmresearch.parameters import ParameterFileError, load_parameter_file
from crmresearch.parameters.satisfaction_to_value import IntentionBridge, SatisfactionToValueParameters
from crmresearch.parameters.sources import Scale
from crmresearch.value_chain import bridge, data as chain_data, sections, text
from crmresearch.value_chain.analyse import LifecycleRoute, analyse

FIXTURES = config.PROJECT_DIR / "tests" / "data" / "value_chain"
OWN = FIXTURES / "own_data.yaml"
FAST = config.PARAMS_DIR / "satisfaction_to_value" / "fast.yaml"


# ---------------------------------------------------------------- parameters

def test_parameter_sets_validate_and_routes_are_exclusive(tmp_path):
    for name in ("fast", "simulated_panel", "stated_intention_bridge"):
        pf = load_parameter_file(config.PARAMS_DIR / "satisfaction_to_value" / f"{name}.yaml")
        assert pf.variant == name
    assert load_parameter_file(OWN).validated.survey.id_column == "kundennr"
    with pytest.raises(ValueError, match="exactly one of"):
        SatisfactionToValueParameters(bridge=IntentionBridge())          # simulate is on by default
    with pytest.raises(ValueError, match="both 'survey' and 'transactions'"):
        SatisfactionToValueParameters(simulate=None, transactions={"dataset": "cdnow_sample"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebook: 04_satisfaction_to_value\nvariant: bad\nparameters:\n  margin: .nan\n")
    with pytest.raises(ParameterFileError, match="margin"):
        load_parameter_file(bad)
    bad.write_text("notebook: 04_satisfaction_to_value\nvariant: bad\nparameters:\n  simulate: {customers: 1e12}\n")
    with pytest.raises(ParameterFileError, match="customers"):
        load_parameter_file(bad)


def test_default_bands_follow_the_scale():
    assert chain_data.default_band_edges(Scale(low=1, high=10)) == [1, 7, 9, 10, 11]
    assert chain_data.default_band_edges(Scale(low=1, high=7)) == [1, 5, 6, 7, 8]
    assert chain_data.intention_cutoff(Scale(low=1, high=7), None) == 5
    assert chain_data.intention_cutoff(Scale(low=1, high=7), 6) == 6


# ---------------------------------------------------------------- the join and the log

def test_own_survey_and_log_are_joined_and_unmatched_ids_counted():
    params = load_parameter_file(OWN).validated
    data = chain_data.prepare(params)
    survey = pd.read_csv(FIXTURES / "survey_1to7.csv")
    log = pd.read_csv(FIXTURES / "purchases.csv")
    in_log = set(log["kunde"])
    assert data.join["survey_rows"] == len(survey)
    assert data.join["survey_unmatched"] == int((~survey["kundennr"].isin(in_log)).sum()) == 30
    assert data.join["log_unmatched"] == len(in_log - set(survey["kundennr"])) == 40
    assert data.join["missing_satisfaction"] == 2
    assert len(data.frame) == data.join["matched"] - 2
    assert data.scale.bounds == (1, 7) and list(data.levels) == [1, 2, 3, 4, 5, 6, 7]
    assert data.frame["wechselkosten"].isna().sum() == 3                  # the -9 codes
    row = data.frame.set_index("customer_id").loc["K223"]
    assert row["satisfaction"] == 3.0 and row["repurchase"] == 5


def test_log_from_summary_reproduces_the_summary():
    from crmresearch.clv import rfm

    from crmresearch import windows

    params = SatisfactionToValueParameters(simulate={"customers": 800})
    data = chain_data.prepare(params)
    params = windows.apply(params, data.windows)
    log = chain_data.log_from_summary(data.frame, params.calibration_end, data.holdout_weeks, np.random.default_rng(3))
    again = rfm.rfm_summary(log, params.calibration_end, params.holdout_end).loc[data.frame["customer_id"]]
    np.testing.assert_allclose(again["T"], data.frame["T"], atol=1 / 7)
    # same-day purchases merge in a log, so a few frequencies come out lower, never higher
    assert np.all(again["frequency"].to_numpy() <= data.frame["frequency"].to_numpy())
    assert np.mean(again["frequency"].to_numpy() == data.frame["frequency"].to_numpy()) > 0.9


# ---------------------------------------------------------------- sentences follow numbers

def _survival(stated_rise, alive_rise, bias):
    return {"lowest_band": "1-6", "top_band": "10", "stated_rise": stated_rise, "p_alive_rise": alive_rise,
            "holdout_buying_rise": alive_rise, "share_surviving": alive_rise / stated_rise,
            "mean_response_bias": bias}


def test_stated_actual_sentences_flip_with_the_numbers():
    """The sentences state the rises (percentage points), the surviving share or the ratio and the bias;
    opposite verdicts give different sentences (their numbers are checked, not their wording)."""
    weak = text.stated_actual_text(_survival(0.6, 0.06, 0.2), None, 0.95)
    assert_states(weak, 60, 6, 10, 20)            # stated and P(alive) rises, 10% survives, 20 points of bias
    strong = text.stated_actual_text(_survival(0.1, 0.3, -0.1), None, 0.95)
    assert_states(strong, 10, 30, 3.0)            # the ratio 0.3 / 0.1 instead of a surviving share
    assert_omits(strong, 300)
    falling = text.stated_actual_text(_survival(-0.2, -0.1, 0.0), None, 0.95)
    assert_states(falling, 20, 10, 50)
    assert len({weak, strong, falling}) == 3
    seg = {"band": "10", "high": "cost above 4", "low": "cost at most 4", "high_top": 0.7, "low_top": 0.4,
           "p_value": 0.001}
    beyond = text.stated_actual_text(_survival(0.6, 0.3, 0.1), seg, 0.95)
    chance = text.stated_actual_text(_survival(0.6, 0.3, 0.1), {**seg, "p_value": 0.4}, 0.95)
    assert_states(beyond, 70, 40, 0.001) and assert_states(chance, 70, 40, 0.4)
    assert beyond.replace("0.001", "0.4") != chance          # the verdict follows the p-value


def _steps(break_even, lower, upper):
    return pd.DataFrame({"from_level": ["1", "2", "3"], "to_level": ["2", "3", "4"], "break_even": break_even,
                         "break_even_lower": lower, "break_even_upper": upper})


def test_decision_sentence_names_the_band_the_numbers_support():
    clear = text.decision_text(_steps([1.0, 5.0, 2.0], [0.5, 2.0, 1.0], [2.0, 8.0, 3.0]),
                                   "from_level", "to_level", "level")
    assert "**2** to **3**" in clear
    assert_states(clear, 5.00, 2.00, 8.00)
    fallback = text.decision_text(_steps([1.0, 5.0, 2.0], [0.5, -1.0, 1.0], [2.0, 9.0, 3.0]),
                                      "from_level", "to_level", "level")
    assert_states(fallback, 5.00, -1.00, 9.00, 3, 4, 2.00)    # the best step, then the best one excluding zero
    none = text.decision_text(_steps([1.0, 5.0, 2.0], [-0.5, -1.0, -1.0], [2.0, 9.0, 3.0]),
                                  "from_level", "to_level", "level")
    assert_states(none, 5.00, -1.00, 9.00)
    assert_omits(none, 4)                                      # no fallback step is named


def test_join_sentence_counts_what_was_left_out():
    join = {"survey_rows": 10, "transaction_customers": 12, "matched": 9, "survey_unmatched": 1, "log_unmatched": 3,
            "missing_satisfaction": 0}
    sentence = text.join_text(join, "1–7", "data")
    assert_states(sentence, 10, 12, 9, 1, 3)
    everyone = text.join_text({**join, "survey_unmatched": 0}, "1–7", "data")
    assert_states(everyone, 10, 12, 9, 3) and everyone != sentence


# ---------------------------------------------------------------- the stated-intention bridge

def test_bridge_values_follow_stated_retention_and_overstatement():
    result = bridge.stated_intention_bridge(IntentionBridge(overstatement=[1.0, 2.0]), margin=0.3,
                                            annual_discount_rate=0.1, confidence=0.95, n_draws=300, seed=5)
    assert result.computed
    b, e = result.bands, result.economics
    assert list(b["band"]) == ["1-6", "7-8", "9", "10"] and b["respondents"].sum() == result.settings["respondents"]
    # value by hand for the first band: margin · rate · spend · Σ ρ^(t−1)/(1+d)^t
    rho = b["stated"].iloc[0]
    by_hand = e["annual_value_active"] * sum(rho ** (t - 1) / 1.1 ** t for t in range(1, 6))
    assert b["value"].iloc[0] == pytest.approx(by_hand)
    assert np.all((b["value_lower"] <= b["value"]) & (b["value"] <= b["value_upper"]))
    # an overstatement factor lowers every value and shrinks the gaps
    sens = result.sensitivity.set_index("factor")
    assert np.all(sens.loc[2.0] < sens.loc[1.0])
    assert (sens.loc[2.0, "7-8"] - sens.loc[2.0, "1-6"]) < (sens.loc[1.0, "7-8"] - sens.loc[1.0, "1-6"])
    # CDNOW's published BG/NBD (Fader, Hardie & Lee 2005) is the economics
    assert e["bgnbd"]["r"] == pytest.approx(0.243, abs=1e-3) and e["bgnbd"]["alpha0"] == pytest.approx(4.414, abs=1e-3)
    assert len(bridge.assumptions(result)) == 4


# ---------------------------------------------------------------- end to end

def _run(tmp_path, params_file):
    run = run_cli("run", params_file, "--reports-dir", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    pf = load_parameter_file(params_file)
    return json.loads((tmp_path / "satisfaction_to_value" / pf.variant / "results.json").read_text())


def test_fast_variant_runs_end_to_end_and_recovers_the_truth(published_overview):
    """The fast report of the session's shared run (conftest.published_overview), not executed again here."""
    doc = json.loads((published_overview / "satisfaction_to_value" / "fast" / "results.json").read_text())
    sections_ = doc["sections"]
    assert set(sections_) == {"data", "models", "stated_vs_actual", "value", "lifecycle", "decision"}
    assert all(s["source"] == "simulated" for s in sections_.values()), sections_
    r = doc["results"]
    assert r["truth_recovery"]["all_inside"] and r["truth_recovery"]["steps"] == 9
    assert all(step["true_inside"] for step in r["value_by_level"]["marginal"])
    assert r["value_by_level"]["best_step"]["from_level"] == 9.0
    assert r["lifecycle_route"]["agreement"]["same_order"]
    assert r["models"]["model_BG/NBD"]["converged"] and r["models"]["model_Gamma-Gamma"]["converged"]
    assert doc["finding"].startswith("Simulated illustration")            # the label of simulated numbers
    assert_states(doc["finding"], 9, 10)                                    # the best step, from level 9 to 10


@pytest.mark.slow
def test_own_survey_and_log_run_and_report_the_unmatched(tmp_path):
    """A user's own survey and log end to end (a run of its own: make test-all)."""
    doc = _run(tmp_path, OWN)
    assert doc["results"]["join"]["survey_unmatched"] == 30
    assert doc["sections"]["data"]["rows_dropped"]["survey id without purchases in the cohort"] == 30
    assert all(s["source"] == "data" for s in doc["sections"].values())
    html_or_nb = tmp_path / "satisfaction_to_value" / "own_data" / "report.ipynb"
    text = html_or_nb.read_text()
    assert "**30 survey ids**" in text
    assert [v["level"] for v in doc["results"]["value_by_level"]["values"]] == [1, 2, 3, 4, 5, 6, 7]


def test_finding_follows_the_numbers():
    steps = _steps([1.0, 5.0, 2.0], [0.5, 2.0, 1.0], [2.0, 8.0, 3.0])
    simulated = text.finding_text(steps, "simulated", "from_level", "to_level", "level")
    assert_states(simulated, 2, 3, 5.00, 2.00, 8.00)
    line = text.finding_text(_steps([1.0, 5.0, 2.0], [0.5, -2.0, 1.0], [2.0, 8.0, 3.0]), "data",
                                 "from_level", "to_level", "level")
    assert_states(line, 2, 3, 5.00, -2.00, 8.00)
    assert simulated.startswith("Simulated illustration") and not line.startswith("Simulated")   # the label


def test_trap_sentence_concludes_only_what_the_share_gone_supports():
    """The satisfied customers the purchase model expects to have left: the lead says satisfaction scores
    overstate the base only from `config.SATISFIED_LOSS_SHARE` up; below it, that few have left."""
    from crmresearch import config

    def lead(share):
        trap = {"satisfied_customers": 1000, "satisfied_from": 6.0, "expected_gone": 1000 * share,
                "share_gone": share, "value_lost": 12345.0}
        return text.lead_sentences(None, "from_level", "to_level", "level", "cross-section", None, None, trap)[0]

    many, few = lead(config.SATISFIED_LOSS_SHARE + 0.15), lead(config.SATISFIED_LOSS_SHARE / 2)
    assert many.endswith(": satisfied customers are lost too, so satisfaction scores alone overstate the base.")
    assert few.endswith(": few satisfied customers are expected to have left.") and "overstate" not in few
    assert "Of the 1,000 customers answering 6 or more" in few and "12,345 of expected value" in few
    assert lead(config.SATISFIED_LOSS_SHARE).endswith("overstate the base.")          # the threshold itself


def test_a_missing_other_measure_stops_before_any_kernel(tmp_path):
    text = OWN.read_text().replace("other_measures: [wechselkosten]", "other_measures: [kosten]")
    bad = tmp_path / "own.yaml"
    bad.write_text(text)
    from crmresearch.runner import check_data_files

    with pytest.raises(ParameterFileError, match="no column 'kosten'"):
        check_data_files(load_parameter_file(bad))


def test_a_failed_purchase_model_is_reported_and_the_report_goes_on(monkeypatch):
    """With the covariate BG/NBD failing (and no Pareto/NBD), the models section says so, the sections that need
    the model are not computed, and the lifecycle route still runs."""
    from crmresearch.models import covariates

    def failing(frequency, recency, T, *args, **kwargs):
        n = len(frequency)
        return covariates.fit_bgnbd_covariates(np.zeros(n), np.zeros(n), np.full(n, 39.0), *args, **kwargs)

    monkeypatch.setattr(importlib.import_module("crmresearch.value_chain.analyse"), "fit_bgnbd_covariates", failing)
    params = SatisfactionToValueParameters(simulate={"customers": 800}, fit_pareto_nbd=False, parameter_draws=50)
    a = analyse(params)
    models = sections.models_section(a)
    assert "*Model failed:* the BG/NBD with covariates did not converge" in models.text
    assert models.source == "simulated" and "BG/NBD" in models.note        # Gamma-Gamma still fitted
    assert sections.value_section(a).source == "failed"
    assert sections.stated_actual_section(a).source == "not_computed"
    decision = sections.decision_section(a)
    assert decision.source == "not_computed" and sections.finding(decision).startswith("The value of a point")
    life = sections.lifecycle_section(a)
    assert life.source == "simulated" and "repeat-buying route was not computed" in life.text


def test_lifecycle_sentence_says_whether_the_routes_agree():
    values = pd.DataFrame({"band": ["1-6", "10"], "markov_value": [20.0, 60.0], "repeat_buying_value": [25.0, 70.0]})
    effects = pd.DataFrame({"p_value": [0.001, 0.5, 0.2]})
    route = LifecycleRoute(effects, values, {"same_order": True, "markov_ratio": 3.0,
                                                      "repeat_buying_ratio": 2.8}, {}, False)
    agree = text.lifecycle_text(route, 0.95)
    assert "**1**" in agree
    assert_states(agree, 3, 95, 20.00, 60.00, 25.00, 70.00, 3.00, 2.80)
    route.agreement = {"same_order": False, "markov_ratio": 3.0, "repeat_buying_ratio": 0.9}
    route.effects = effects.assign(p_value=[0.001, 0.01, 0.2])
    disagree = text.lifecycle_text(route, 0.95)
    assert "**2**" in disagree
    assert_states(disagree, 3.00, 0.90)
    assert agree.replace("2.80", "0.90").replace("**1**", "**2**") != disagree   # the verdict follows the ratios


def test_spline_design_runs_and_is_compared_with_the_truth():
    params = SatisfactionToValueParameters(simulate={"customers": 4000}, satisfaction_design="spline",
                                           fit_pareto_nbd=False, parameter_draws=100)
    a = analyse(params)
    assert a.design.kind == "spline" and a.bands.band_names == ["1-6", "7-8", "9", "10"]
    models = sections.models_section(a)
    assert models.source == "simulated" and "satisfaction (linear)" in models.tables[0]["df"]["parameter"].iloc[0]
    assert "truth" not in models.tables[0]["df"]          # spline coefficients have no true counterpart
    value = sections.value_section(a)
    assert value.source == "simulated" and value.results["truth_recovery"]["steps"] == 9
    # the spline's value rises from the bottom to the top of the scale, as the truth does
    v = a.value.values
    assert v["value"].iloc[-1] > v["value"].iloc[0] and v["true_value"].iloc[-1] > v["true_value"].iloc[0]
    assert sections.stated_actual_section(a).source == "simulated"
