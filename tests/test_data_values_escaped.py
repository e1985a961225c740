"""Values from a data file (tier and cohort names, customer ids) never become live markup: every report
text passes `report.markdown_safe` (in `show_markdown` and table captions), table cells pass
`_format_cell`, and figures print "$...$" as written (mathtext off)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pypandoc
import pytest

from crmresearch import parameters, report
from crmresearch.contractual import analyse, sections

HOSTILE = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '[click](javascript:alert(1))',
           '$\\frac{1}{0}$', '@fake2020', '{{< include /etc/passwd >}}']


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_safe_makes_every_hostile_value_inert_in_html_and_typst(value):
    text = f"For **{value}** the retention rises (p < 0.001)."
    html = pypandoc.convert_text(report.markdown_safe(text), "html", format="markdown")
    assert "<script" not in html and "<img" not in html and "href=" not in html and "math" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;" in html or "[" in html or "$" in html or "@" in html or "{{" in html
    typst = pypandoc.convert_text(report.markdown_safe(text), "typst", format="markdown")
    assert "#link" not in typst and "#image" not in typst and "$" not in typst.replace("\\$", "")


def test_hostile_tier_names_reach_the_report_text_only_escaped(tmp_path):
    rng = np.random.default_rng(1)
    table = {"period": np.arange(6)}
    for name in ('<script>alert(1)</script>', '[x](javascript:alert(1))'):
        table[name] = np.round(1000 * np.r_[1.0, np.cumprod(rng.uniform(0.6, 0.9, 5))])
    pd.DataFrame(table).to_csv(tmp_path / "cohorts.csv", index=False)
    params = parameters.schema_for("05_contractual_retention")(
        cohorts={"path": str(tmp_path / "cohorts.csv")}, parameter_draws=100, bootstrap_resamples=20,
        size_check_cohorts=20, coverage_replications=20)
    analysis = analyse(params)
    for section in (sections.sbg(analysis), sections.projection(analysis), sections.duration(analysis),
                    sections.value(analysis)):
        html = pypandoc.convert_text(report.markdown_safe(section.text), "html", format="markdown")
        assert "<script" not in html and "javascript:" not in html.replace("(javascript:", "")
        assert "href" not in html


def test_figure_labels_from_data_print_as_written():
    import matplotlib

    report.setup()
    assert matplotlib.rcParams["text.parse_math"] is False
    fig = matplotlib.figure.Figure()
    ax = fig.add_subplot()
    ax.bar(["$\\frac{1}{0", "tier $x$"], [1, 2])
    fig.canvas.draw()                           # malformed mathtext would raise here with parsing on


def test_the_overview_figure_of_satisfied_respondents_agrees_with_its_text():
    """The dark bars add up to the satisfied share the text states (unrounded scores), not to the bars
    of rounded scores at or above the cut-off."""
    from crmresearch.overview import analyse as overview_analyse
    from crmresearch.overview import plots as overview_plots

    analysis = overview_analyse(parameters.schema_for("00_crm_overview")())
    stated = analysis.satisfaction.satisfied.estimate
    assert analysis.distribution["satisfied_share"].sum() == pytest.approx(stated, abs=1e-12)
    fig = overview_plots.score_distribution_figure(analysis)
    dark = sum(p.get_height() for p in fig.axes[0].containers[0])
    assert dark == pytest.approx(100 * stated, abs=1e-9)
