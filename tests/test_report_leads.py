"""Every report opens with its findings: a lead of plain sentences written from the computed sections,
recorded in results.json (`lead`) and used as the index entry (`finding`). Each number a lead states
is checked against the numbers of the same results.json, and the published page shows the lead before
the methods."""

from __future__ import annotations

import json
import math
import re

import pytest

LEAD_REPORTS = ["crm_overview", "satisfaction_loyalty", "lifecycle_transitions", "customer_lifetime_value",
                "satisfaction_to_value", "contractual_retention", "relationship_states"]
NUMBER = re.compile(r"(?<![\w.])([+\-−]?\d[\d,]*(?:\.\d+)?)(%| percentage points)?")


def _numbers(value, out):
    """Every number anywhere in a results.json document (parameters and provenance included)."""
    if isinstance(value, bool):
        return out
    if isinstance(value, (int, float)):
        out.append(float(value))
    elif isinstance(value, dict):
        for v in value.values():
            _numbers(v, out)
    elif isinstance(value, list):
        for v in value:
            _numbers(v, out)
    elif isinstance(value, str):
        for token in re.findall(r"\d+(?:\.\d+)?", value):
            out.append(float(token))
    return out


def _stated(sentence: str):
    """(value, decimals, is_percent) of each number a sentence states (not p-value exponents)."""
    sentence = re.sub(r"p [<=] [\d.e\-]+", "", sentence)
    for m in NUMBER.finditer(sentence):
        raw = m.group(1).replace(",", "").replace("−", "-")
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        yield float(raw), decimals, m.group(2) is not None


def _matches(value: float, decimals: int, percent: bool, known) -> bool:
    tol = 0.5 * 10.0 ** -decimals + 1e-9
    for k in known:
        for candidate in ((100 * k, k) if percent else (k, 100 * k)):
            if abs(abs(candidate) - abs(value)) <= tol:
                return True
    return False


@pytest.mark.parametrize("topic", LEAD_REPORTS)
def test_the_lead_states_only_numbers_the_report_computed(published_overview, topic):
    doc = json.loads((published_overview / topic / "fast" / "results.json").read_text())
    lead = doc.get("lead")
    assert lead and 2 <= len(lead["sentences"]) <= 6, topic
    assert doc["finding"].endswith(lead["sentences"][-1])
    known = _numbers(doc, [])
    missing = [(v, s) for s in lead["sentences"] for v, d, pct in _stated(s) if not _matches(v, d, pct, known)]
    assert not missing, missing


@pytest.mark.parametrize("topic", LEAD_REPORTS)
def test_the_published_page_opens_with_the_findings(published_overview, topic):
    page = (published_overview / "_site" / topic / "fast" / "report.html").read_text()
    findings = page.find(">Findings<")
    assert findings > 0
    for later in ("What this report answers", "Parameters and provenance"):
        position = page.find(later)
        assert position < 0 or findings < position, later


def test_simulated_and_example_variants_say_so_in_the_first_words(published_overview):
    """The fast satisfaction-to-value variant is simulated, the fast contractual one mixes the published
    cohorts with simulated subscribers: their leads say so first."""
    kinds = {t: json.loads((published_overview / t / "fast" / "results.json").read_text())["lead"]["kind"]
             for t in ("satisfaction_to_value", "contractual_retention", "customer_lifetime_value")}
    assert kinds == {"satisfaction_to_value": "simulated", "contractual_retention": "examples",
                     "customer_lifetime_value": None}
    for topic in LEAD_REPORTS:
        doc = json.loads((published_overview / topic / "fast" / "results.json").read_text())
        kind = doc["lead"]["kind"]
        assert kind in (None, "simulated", "published", "examples"), topic
        if kind:
            assert doc["finding"].split(":")[0] in ("Simulated illustration, not real customers",
                                                    "Published data (a replication), not a user's own data",
                                                    "Published and simulated examples, not a user's own data")


@pytest.mark.parametrize("topic", LEAD_REPORTS)
def test_published_tables_read_as_words_not_code(published_overview, topic):
    """No raw identifier (snake_case) in a published table header, and no 0.0000 or p = 0.000 anywhere."""
    import html as html_lib

    page = (published_overview / "_site" / topic / "fast" / "report.html").read_text()
    headers = [html_lib.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", page, re.S)]
    raw = [h for h in headers if re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", h) and h != "t_x"]
    assert not raw, raw
    # abbreviations from code, shown in lower case where a reader expects a word or the usual capitals
    code_words = {"loglike", "coef", "se", "std", "derl", "sbg", "bdw", "htmt", "rho", "ave", "pct", "ci"}
    coded = [h for h in headers if code_words & set(re.findall(r"[a-z]+", h.replace("std. error", "")))]
    assert not coded, coded
    cells = [html_lib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", page, re.S)]
    assert "0.0000" not in cells and not re.search(r"p = 0\.0+\b(?!\d*[1-9])", html_lib.unescape(page))


def test_a_long_table_is_written_whole_as_csv_and_the_page_links_to_it(tmp_path, monkeypatch):
    """A table longer than `config.TABLE_MAX_ROWS` shows its first rows and links to the whole table,
    written as CSV beside the report with headers in words."""
    from types import SimpleNamespace

    import IPython.display
    import pandas as pd

    from crmresearch import config, report
    from crmresearch.sections import Section, table_spec

    n = config.TABLE_MAX_ROWS + 12
    frame = pd.DataFrame({"stage": [f"s{i}" for i in range(n)], "p_value": [0.5] * n, "ci_lower": range(n)})
    section = Section({}, "Text.", table_spec(frame, "All cells.", "tbl-cells", 3))
    results = report.Results("02_lifecycle_transitions", SimpleNamespace(variant="v", output_dir=str(tmp_path)))
    results.add_section("cells", section)
    written = pd.read_csv(tmp_path / config.TABLES_DIR / "cells.csv")
    assert len(written) == n and list(written.columns) == ["stage", "p", "lower"]
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj.data))
    report.show_section(section)
    table = shown[-1]
    assert table.count("\n| s") == config.TABLE_MAX_ROWS, "only the first rows on the page"
    assert f"[cells.csv]({config.TABLES_DIR}/cells.csv)" in table and f"of {n:,} rows" in table


def test_the_discrete_time_clv_lead_states_each_total_with_its_interval():
    """The BG/BB lead (a discrete-time summary such as the donations data): expected transactions, the
    chance of being active and the discounted transactions, each with its interval and meaning."""
    from crmresearch.clv import text

    bgbb = {"customers": 11104, "future_periods": 5, "discount_rate": 0.1, "confidence": 0.95,
            "expected_transactions": 12884.2, "expected_transactions_interval": (12600.5, 13185.9),
            "expected_transactions_per_customer": 1.1603, "dert": 20291.3, "dert_interval": (19402.4, 21222.0),
            "dert_per_customer": 1.8274, "mean_p_alive": 0.42585, "mean_p_alive_interval": (0.41784, 0.43406)}
    sentences = text.lead_sentences(None, None, None, None, None, bgbb, 0.95)
    assert len(sentences) == 3
    assert "12,884" in sentences[0] and "12,600–13,186" in sentences[0] and "1.16 per customer" in sentences[0]
    assert "42.6% (95% interval 41.8%–43.4%)" in sentences[1]
    assert "20,291" in sentences[2] and "19,402–21,222" in sentences[2]


def test_the_relationship_states_odds_sentence_words_the_covariate_as_it_is():
    """A 0/1 covariate reads as its presence in a period ("A contact in a month"), any other as one unit
    more ("A one-unit higher price_index"); the direction is stated only when the interval excludes 1, and
    the frame marks which covariates are 0/1 in the data."""
    import pandas as pd

    from crmresearch.relationship_states import text
    from crmresearch.relationship_states.data import StatesData

    def odds(ratio, lower, upper, binary, covariate="price_index"):
        return pd.DataFrame([{"from": "quiet", "to": "active", "covariate": covariate, "odds_ratio": ratio,
                              "lower": lower, "upper": upper, "binary": binary}])

    up = text.odds_sentence(odds(2.5, 1.8, 3.4, False), "quiet", 0.95, "week")
    assert up.startswith("A one-unit higher price_index in a week goes with 2.50 times the odds of moving from quiet "
                         "to active (95% interval 1.80–3.40)")
    assert up.endswith(": customers make this move more often when price_index is higher.")
    down = text.odds_sentence(odds(0.5, 0.3, 0.8, False), "quiet", 0.95, "week")
    assert down.endswith(": customers make this move less often when price_index is higher.")
    unclear = text.odds_sentence(odds(1.1, 0.8, 1.5, False), "quiet", 0.95, "week")
    assert unclear.endswith(": the data cannot tell whether it changes such moves.")
    contact = text.odds_sentence(odds(2.5, 1.8, 3.4, True, "contact"), "quiet", 0.95)
    assert contact.startswith("A contact in a month goes with 2.50 times the odds")
    assert contact.endswith(": customers make this move more often in months with a contact.")
    assert not any("encounter" in s for s in (up, down, unclear, contact))

    table = pd.DataFrame({"parameter": ["transition[quiet->active]:const", "transition[quiet->active]:contact",
                                        "transition[quiet->active]:price_index"],
                          "estimate": [0.0, 1.0, -0.5], "ci_lower": [-0.2, 0.6, -0.9], "ci_upper": [0.2, 1.4, -0.1]})
    frame = pd.DataFrame({"id": ["a", "a", "b"], "period": [1, 2, 1], "contact": [0.0, 1.0, 0.0],
                          "price_index": [0.0, 1.0, 1.5]})
    data = StatesData(frame=frame, responses={}, codes={}, source="data", description="",
                      transition_covariates=("contact", "price_index"))
    assert data.binary_covariates == ("contact",)
    ratios = text.transition_odds_ratios(table, data.binary_covariates)
    assert ratios["binary"].tolist() == [True, False]
    assert ratios["odds_ratio"].tolist() == pytest.approx([math.e, math.exp(-0.5)])
    lead = text.lead_sentences(pd.DataFrame({"states": [2], "failed": [False], "chosen": [True]}), None, None, None,
                               None, 0.95, None, "week", ratios)
    assert lead[-1].startswith("A contact in a week goes with")        # the unit passed in, no placeholder left
