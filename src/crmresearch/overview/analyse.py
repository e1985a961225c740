"""Every computation of the CRM overview, in one call: `analyse(params)`.

Survey side: satisfaction distribution, NPS (or, off the 0-10 scale, the net top-box score) and
its split, loyalty items, and the "satisfied but would not choose again" share (the satisfaction
trap in its plainest form). Transaction side: repeat-purchase rate within a window,
inter-purchase times and revenue concentration (Lorenz curve, share of the top customers). Each
survey figure uses the respondents who answer its own items. `overview.sections` turns the
`OverviewAnalysis` into the report's sections; `overview.text` writes the sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import config, datasets, stats
from ..clv.rfm import merge_same_day


def survey_scores(survey: pd.DataFrame, satisfaction_items, loyalty_items) -> pd.DataFrame:
    """Per respondent: satisfaction = mean of its items; loyalty = mean of its items (missing if one item is)."""
    out = survey[["respondent_id"]].copy()
    out["satisfaction"] = survey[list(satisfaction_items)].mean(axis=1, skipna=False)
    out["loyalty"] = survey[list(loyalty_items)].mean(axis=1, skipna=False)
    return out


def score_distribution(scores, low: int, high: int, satisfied_min: float | None = None) -> pd.DataFrame:
    """Counts and shares of each whole score from `low` to `high` (means rounded half up) and, with
    `satisfied_min`, the share of all respondents at that rounded score whose unrounded score counts as
    satisfied (so the bars of satisfied respondents add up to the satisfied share the text states)."""
    values = np.asarray(scores, dtype=float)
    values = values[~np.isnan(values)]
    rounded = np.floor(values + 0.5).astype(int)
    levels = np.arange(low, high + 1)
    cells = np.clip(rounded, low, high) - low
    counts = np.bincount(cells, minlength=levels.size)
    out = pd.DataFrame({"score": levels, "respondents": counts, "share": counts / counts.sum()})
    if satisfied_min is not None:
        satisfied = np.bincount(cells, weights=(values >= satisfied_min).astype(float), minlength=levels.size)
        out["satisfied_share"] = satisfied / counts.sum()
    return out


def satisfied_would_not_rechoose(satisfaction, repurchase, satisfied_min: float,
                                 not_again_max: float, confidence: float = config.CONFIDENCE):
    """Among satisfied respondents, the share whose repurchase intention is at or below `not_again_max`."""
    sat, rep = np.asarray(satisfaction, dtype=float), np.asarray(repurchase, dtype=float)
    keep = ~np.isnan(sat) & ~np.isnan(rep)
    satisfied = sat[keep] >= satisfied_min
    not_again = rep[keep] <= not_again_max
    return stats.proportion(not_again[satisfied], confidence)


def purchase_days(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and purchase day (same-day lines merged, amounts summed), sorted by customer and day."""
    daily = merge_same_day(transactions)
    return pd.DataFrame({"customer_id": daily.customer_ids[daily.customer_codes],
                         "day": pd.to_datetime(daily.days.astype("datetime64[D]")),
                         "amount": daily.amounts})


def repeat_purchase(transactions: pd.DataFrame, window_days: int, confidence: float = config.CONFIDENCE):
    """Share of customers with a second purchase day within `window_days` of their first.

    Only customers observed for the full window after their first purchase count (right-censoring).
    """
    days = purchase_days(transactions)
    first = days.groupby("customer_id", observed=True)["day"].transform("min")
    end = days["day"].max()
    eligible = days.loc[first + pd.Timedelta(days=window_days) <= end, "customer_id"].unique()
    in_window = days[(days["day"] > first) & (days["day"] <= first + pd.Timedelta(days=window_days))]
    repeaters = pd.Index(eligible).isin(in_window["customer_id"].unique())     # hash lookup, not pairwise
    return stats.proportion(repeaters, confidence)


def inter_purchase_days(transactions: pd.DataFrame) -> np.ndarray:
    """Days between consecutive purchase days of the same customer (never across customers)."""
    days = purchase_days(transactions)
    gaps = days["day"].diff().dt.days.to_numpy()
    same_customer = days["customer_id"].to_numpy()[1:] == days["customer_id"].to_numpy()[:-1]
    return gaps[1:][same_customer]


def revenue_per_customer(transactions: pd.DataFrame) -> pd.Series:
    return transactions.groupby("customer_id", observed=True)["amount"].sum()


def behaviour_summary(transactions: pd.DataFrame, window_days: int, top_fraction: float,
                      confidence: float = config.CONFIDENCE) -> dict:
    """The transaction-side figures of the overview, in one dict (all computed here)."""
    revenue = revenue_per_customer(transactions)
    gaps = inter_purchase_days(transactions)
    return {
        "customers": int(revenue.size),
        "transaction_lines": int(len(transactions)),
        "repeat_purchase": repeat_purchase(transactions, window_days, confidence),
        "inter_purchase_days_median": float(np.median(gaps)) if gaps.size else float("nan"),
        "top_share_of_revenue": stats.top_share(revenue, top_fraction),
        "gini_revenue": stats.gini(revenue),
    }


@dataclass(frozen=True)
class SatisfactionSummary:
    respondents: int
    answered: int
    mean: float
    scale: str
    satisfied_min: float
    satisfied: stats.Proportion
    confidence: float


@dataclass(frozen=True)
class RecommendationSummary:
    score: stats.NetPromoterScore
    is_nps: bool
    top_min: float
    bottom_max: float
    scale: str
    confidence: float


@dataclass(frozen=True)
class TrapSummary:
    share: stats.Proportion
    satisfied_min: float
    not_again_max: float
    item: str
    confidence: float


@dataclass
class OverviewAnalysis:
    """The overview's data and every number its sections and figures show, computed once."""

    params: object
    survey: pd.DataFrame                 # the validated survey answers
    transactions: pd.DataFrame           # the transaction log
    scores: pd.DataFrame                 # per respondent: satisfaction and loyalty scores
    satisfaction: SatisfactionSummary
    distribution: pd.DataFrame           # respondents by rounded satisfaction score
    recommendation: RecommendationSummary
    loyalty_items: pd.DataFrame          # per loyalty item: answers, mean, sd, top-box share
    loyalty_answers: pd.DataFrame        # the loyalty items' answers (for the figure's intervals)
    trap: TrapSummary
    behaviour: dict                      # repeat buying, inter-purchase median, concentration
    inter_purchase_days: np.ndarray
    revenue: pd.Series                   # revenue per customer
    labels: dict                         # question wording of the survey items
    rows_dropped: dict                   # section -> reason -> respondents left out


def analyse(params) -> OverviewAnalysis:
    """Load the survey and the log and compute the overview's numbers."""
    survey = params.survey.load()
    transactions = params.transactions.load()
    scale = params.scale_of("satisfaction")
    scores = survey_scores(survey, params.survey.satisfaction, params.survey.loyalty)
    sat = scores["satisfaction"].to_numpy(float)
    keep_sat = ~np.isnan(sat)
    satisfaction = SatisfactionSummary(len(scores), int(keep_sat.sum()), float(sat[keep_sat].mean()), scale.label(),
                                       params.satisfied_min,
                                       stats.proportion(sat[keep_sat] >= params.satisfied_min, params.confidence),
                                       params.confidence)
    rec = survey[params.survey.recommendation].to_numpy(float)
    keep_rec = ~np.isnan(rec)
    score = stats.net_promoter_score(rec[keep_rec], params.confidence, params.promoter_min, params.detractor_max)
    labels = datasets.MOBI_LABELS
    loyalty = survey[params.survey.loyalty]
    high = params.scale_of("loyalty").high
    items = loyalty.agg(["mean", "std"]).T.reset_index(names="item")
    items.insert(1, "question", items["item"].map(labels).fillna(""))
    items.insert(2, "answers", loyalty.notna().sum().to_numpy())
    items[f"share top box ({high:g})"] = ((loyalty == high).sum() / loyalty.notna().sum()).to_numpy()
    recommendation = RecommendationSummary(score, params.nps_defined, params.promoter_min, params.detractor_max,
                                           params.scale_of("recommendation").label(), params.confidence)
    rep = survey[params.survey.repurchase].to_numpy(float)
    keep_trap = ~np.isnan(sat) & ~np.isnan(rep)
    trap = TrapSummary(satisfied_would_not_rechoose(sat, rep, params.satisfied_min, params.would_not_choose_again_max,
                                                    params.confidence),
                       params.satisfied_min, params.would_not_choose_again_max, params.survey.repurchase,
                       params.confidence)
    dropped = {"satisfaction": {"missing a satisfaction item": int((~keep_sat).sum())},
               "recommendation": {"no recommendation answer": int((~keep_rec).sum())},
               "trap": {"missing satisfaction or 'choose again'": int((~keep_trap).sum())}}
    return OverviewAnalysis(
        params, survey, transactions, scores, satisfaction,
        score_distribution(scores["satisfaction"], int(scale.low), int(scale.high), params.satisfied_min),
        recommendation, items, loyalty,
        trap, behaviour_summary(transactions, params.repeat_window_days, params.top_fraction, params.confidence),
        inter_purchase_days(transactions), revenue_per_customer(transactions), labels,
        {k: {r: n for r, n in v.items() if n} for k, v in dropped.items()})
