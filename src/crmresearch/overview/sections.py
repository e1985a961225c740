"""The CRM overview's sections: each function takes the `OverviewAnalysis` that `overview.analyse`
computed and returns a `crmresearch.sections.Section`; nothing here computes a statistic."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config
from ..sections import Lead, Section, lead_kind, table_spec
from . import text
from .analyse import OverviewAnalysis
from ..stats import ci_label, share_label


def satisfaction(a: OverviewAnalysis) -> Section:
    s = a.satisfaction
    return Section(results={"respondents": s.respondents, "satisfaction_mean": s.mean, "satisfied_share": s.satisfied},
                   text=text.satisfaction_text(s), rows_used=s.answered, rows_dropped=a.rows_dropped["satisfaction"])


def recommendation(a: OverviewAnalysis) -> Section:
    """NPS on a 0-10 / 1-10 recommendation item (net top-box score otherwise) and the loyalty items."""
    r = a.recommendation
    key = "nps" if r.is_nps else "net_top_box"
    answered = int(a.survey[a.params.survey.recommendation].notna().sum())
    return Section(results={key: r.score, "loyalty_items": a.loyalty_items}, text=text.recommendation_text(r),
                   table=table_spec(a.loyalty_items, "Loyalty items: answers, mean, standard deviation and share "
                                    "answering the top of the scale.", "tbl-loyalty-items"),
                   rows_used=answered, rows_dropped=a.rows_dropped["recommendation"])


def trap(a: OverviewAnalysis) -> Section:
    t = a.trap
    used = int((a.scores["satisfaction"].notna() & a.survey[t.item].notna()).sum())
    return Section(results={"satisfied_would_not_choose_again": t.share}, text=text.trap_text(t), rows_used=used,
                   rows_dropped=a.rows_dropped["trap"])


def behaviour_table(summary: dict, window_days: int, top_fraction: float, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    rep = summary["repeat_purchase"]
    median = summary["inter_purchase_days_median"]
    return pd.DataFrame({
        "measure": ["customers", "transaction lines", f"repeat purchase within {window_days} days "
                    f"({ci_label(confidence)})", "median days between purchase days",
                    f"revenue share of the top {share_label(top_fraction)}",
                    "Gini coefficient of revenue"],
        "value": [f"{summary['customers']:,}", f"{summary['transaction_lines']:,}",
                  f"{rep.estimate:.1%} ({rep.lower:.1%}–{rep.upper:.1%})" if rep.n else "undefined (no customer "
                  "observed for the whole window)",
                  f"{median:.0f}" if np.isfinite(median) else "undefined (no repeat purchase)",
                  f"{summary['top_share_of_revenue']:.1%}",
                  f"{summary['gini_revenue']:.2f}" if np.isfinite(summary["gini_revenue"]) else "undefined"],
    })


def behaviour(a: OverviewAnalysis) -> Section:
    p = a.params
    table = behaviour_table(a.behaviour, p.repeat_window_days, p.top_fraction, p.confidence)
    return Section(results=a.behaviour, rows_used=a.behaviour["customers"],
                   table=table_spec(table, "Repeat buying and revenue concentration.", "tbl-behaviour"))


def finding(a: OverviewAnalysis, recommendation_section: Section, trap_section: Section,
            behaviour_section: Section) -> str:
    """The one-line finding for the index page."""
    return text.finding(recommendation_section, trap_section, behaviour_section, a.params.repeat_window_days,
                        a.params.top_fraction)


def lead(a: OverviewAnalysis) -> Lead:
    """The report's findings first (`crmresearch.sections.Lead`), from the sections' computed results."""
    rec, tr, beh = recommendation(a), trap(a), behaviour(a)
    return Lead(text.lead_sentences(rec, tr, beh, a.params.repeat_window_days, a.params.top_fraction,
                                    a.params.confidence), lead_kind(rec, tr, beh))
