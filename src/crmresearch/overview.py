"""The four CRM degrees: satisfaction, loyalty, recommendation, behaviour.

Survey side: satisfaction distribution, NPS (or, off the 0-10 scale, the net top-box score) and
its split, loyalty items, and the "satisfied but would not choose again" share (the satisfaction
trap in its plainest form). Transaction side: repeat-purchase rate within a window,
inter-purchase times and revenue concentration (Lorenz curve, share of the top customers).

The notebook `00_crm_overview` calls one section function per section; each returns a
`crmresearch.sections.Section` whose sentences come from a text function taking result objects
(never the parameters). Each survey section uses the respondents who answer its own items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import config
from . import stats
from .sections import Section, table_spec


def share_label(fraction: float) -> str:
    """A share as the parameters give it: 0.2 -> "20%", 0.125 -> "12.5%"."""
    return f"{100 * fraction:g}%"


def ci_label(confidence: float) -> str:
    return f"{share_label(confidence)} CI"


def survey_scores(survey: pd.DataFrame, satisfaction_items, loyalty_items) -> pd.DataFrame:
    """Per respondent: satisfaction = mean of its items; loyalty = mean of its items (missing if one item is)."""
    out = survey[["respondent_id"]].copy()
    out["satisfaction"] = survey[list(satisfaction_items)].mean(axis=1, skipna=False)
    out["loyalty"] = survey[list(loyalty_items)].mean(axis=1, skipna=False)
    return out


def score_distribution(scores, low: int, high: int) -> pd.DataFrame:
    """Counts and shares of each whole score from `low` to `high` (means rounded half up)."""
    values = np.asarray(scores, dtype=float)
    rounded = np.floor(values[~np.isnan(values)] + 0.5).astype(int)
    levels = np.arange(low, high + 1)
    counts = np.bincount(np.clip(rounded, low, high) - low, minlength=levels.size)
    return pd.DataFrame({"score": levels, "respondents": counts, "share": counts / counts.sum()})


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
    from .clv.rfm import merge_same_day

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


# ---------------------------------------------------------------- figures

def plot_score_distribution(dist: pd.DataFrame, satisfied_min: float, label: str = "Satisfaction"):
    from .report import PALETTE, new_figure

    fig, ax = new_figure()
    colours = [PALETTE[0] if s >= satisfied_min else PALETTE[6] for s in dist["score"]]
    ax.bar(dist["score"], 100 * dist["share"], color=colours)
    ax.set_xticks(dist["score"])
    ax.set_xlabel(f"{label} score (mean of items, rounded)")
    ax.set_ylabel("Respondents (%)")
    ax.axvline(satisfied_min - 0.5, color="black", lw=0.8, ls="--")
    ax.text(satisfied_min - 0.4, ax.get_ylim()[1] * 0.92, "satisfied", fontsize=8)
    return fig


def plot_nps(nps, loyalty_items: pd.DataFrame, labels: dict, confidence: float = config.CONFIDENCE, is_nps: bool = True):
    """Left: promoter/passive/detractor split (top/middle/bottom answers off the 0-10 scale);
    right: mean of each loyalty item with its interval."""
    from .report import PALETTE, new_figure

    fig, (ax1, ax2) = new_figure(ncols=2, gridspec_kw={"width_ratios": [1, 1.6]})
    names = ("Detractors", "Passives", "Promoters") if is_nps else ("Bottom answers", "Middle", "Top answers")
    parts = [(names[0], nps.detractors, PALETTE[1]), (names[1], nps.passives, PALETTE[6]),
             (names[2], nps.promoters, PALETTE[2])]
    left = 0.0
    for name, share, colour in parts:
        ax1.barh([0], [share], left=left, color=colour, label=f"{name} {share:.0f}%")
        left += share
    ax1.set_xlim(0, 100)
    ax1.set_yticks([])
    ax1.set_xlabel("Respondents (%)")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7, frameon=False)
    ax1.set_title(f"{'NPS' if is_nps else 'Net top-box score'} {nps.nps:+.1f} [{nps.lower:+.1f}, {nps.upper:+.1f}]")
    means = loyalty_items.mean()
    se = loyalty_items.std(ddof=1) / np.sqrt(loyalty_items.notna().sum())
    y = np.arange(len(means))
    ax2.errorbar(means.to_numpy(), y, xerr=stats.z_value(confidence) * se.to_numpy(), fmt="o", color=PALETTE[0])
    ax2.set_yticks(y, [f"{c}: {labels.get(c, c)}" for c in means.index], fontsize=7)
    ax2.set_xlabel(f"Mean score ({ci_label(confidence)})")
    ax2.invert_yaxis()
    return fig


def plot_inter_purchase(gaps: np.ndarray):
    from .report import PALETTE, new_figure

    fig, ax = new_figure()
    ax.hist(gaps, bins=np.arange(0, gaps.max() + 15, 15), color=PALETTE[0])
    ax.axvline(np.median(gaps), color=PALETTE[1], ls="--", label=f"median {np.median(gaps):.0f} days")
    ax.set_xlabel("Days between consecutive purchase days")
    ax.set_ylabel("Repeat purchases")
    ax.legend()
    return fig


def plot_lorenz(revenue, top_fraction: float):
    from .report import PALETTE, new_figure

    pop, share = stats.lorenz_curve(revenue)
    top = stats.top_share(revenue, top_fraction)
    fig, ax = new_figure()
    ax.plot(pop, share, color=PALETTE[0], label="Revenue (Lorenz curve)")
    ax.plot([0, 1], [0, 1], color=PALETTE[6], ls=":", label="Equal revenue")
    ax.axvline(1 - top_fraction, color=PALETTE[1], ls="--", lw=0.8)
    ax.annotate(f"top {share_label(top_fraction)}: {top:.0%} of revenue", xy=(1 - top_fraction, 1 - top),
                xytext=(0.15, 0.7), arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.8}, fontsize=8)
    ax.set_xlabel("Share of customers (smallest to largest spend)")
    ax.set_ylabel("Share of revenue")
    ax.legend(loc="upper left")
    return fig


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


# ---------------------------------------------------------------- sections of 00_crm_overview

@dataclass(frozen=True)
class SatisfactionSummary:
    respondents: int
    answered: int
    mean: float
    scale: str
    satisfied_min: float
    satisfied: stats.Proportion
    confidence: float


def satisfaction_section(scores: pd.DataFrame, params) -> Section:
    sat = scores["satisfaction"].to_numpy(float)
    keep = ~np.isnan(sat)
    satisfied = stats.proportion(sat[keep] >= params.satisfied_min, params.confidence)
    summary = SatisfactionSummary(len(scores), int(keep.sum()), float(sat[keep].mean()),
                                  params.scale_of("satisfaction").label(), params.satisfied_min, satisfied,
                                  params.confidence)
    dropped = int((~keep).sum())
    return Section(results={"respondents": len(scores), "satisfaction_mean": summary.mean,
                            "satisfied_share": satisfied},
                   text=satisfaction_text(summary), rows_used=int(keep.sum()),
                   rows_dropped={"missing a satisfaction item": dropped} if dropped else {})


def satisfaction_text(s: SatisfactionSummary) -> str:
    p = s.satisfied
    answered = "" if s.answered == s.respondents else f", {s.answered} of whom answer every satisfaction item"
    return (f"The survey has **{s.respondents} respondents**{answered}. Mean satisfaction is **{s.mean:.2f}** on the "
            f"{s.scale} scale, and **{p.estimate:.1%}** ({ci_label(s.confidence)}, Wilson: {p.lower:.1%}–"
            f"{p.upper:.1%}) score {s.satisfied_min:g} or more, the report's definition of *satisfied*.")


@dataclass(frozen=True)
class RecommendationSummary:
    score: stats.NetPromoterScore
    is_nps: bool
    top_min: float
    bottom_max: float
    scale: str
    confidence: float


def recommendation_section(survey: pd.DataFrame, params, labels: dict | None = None) -> Section:
    """NPS on a 0-10 / 1-10 recommendation item (net top-box score otherwise) and the loyalty items."""
    rec = survey[params.survey.recommendation].to_numpy(float)
    keep = ~np.isnan(rec)
    score = stats.net_promoter_score(rec[keep], params.confidence, params.promoter_min, params.detractor_max)
    loyalty = survey[params.survey.loyalty]
    high = params.scale_of("loyalty").high
    table = loyalty.agg(["mean", "std"]).T.reset_index(names="item")
    table.insert(1, "question", table["item"].map(labels or {}).fillna(""))
    table.insert(2, "answers", loyalty.notna().sum().to_numpy())
    table[f"share top box ({high:g})"] = ((loyalty == high).sum() / loyalty.notna().sum()).to_numpy()
    summary = RecommendationSummary(score, params.nps_defined, params.promoter_min, params.detractor_max,
                                    params.scale_of("recommendation").label(), params.confidence)
    key = "nps" if summary.is_nps else "net_top_box"
    dropped = int((~keep).sum())
    return Section(results={key: score, "loyalty_items": table}, text=recommendation_text(summary),
                   table=table_spec(table, "Loyalty items: answers, mean, standard deviation and share answering the "
                                    "top of the scale.", "tbl-loyalty-items"),
                   rows_used=int(keep.sum()), rows_dropped={"no recommendation answer": dropped} if dropped else {})


def recommendation_text(r: RecommendationSummary) -> str:
    n = r.score
    ci = ci_label(r.confidence)
    if r.is_nps:
        return (f"NPS is **{n.nps:+.1f}** points ({ci} {n.lower:+.1f} to {n.upper:+.1f}): {n.promoters:.1f}% "
                f"promoters ({r.top_min:g} or more), {n.passives:.1f}% passives and {n.detractors:.1f}% detractors "
                f"({r.bottom_max:g} or less).")
    return (f"NPS is not defined on the {r.scale} recommendation scale (it needs a 0–10 or 1–10 item); the net "
            f"top-box score, the share answering {r.top_min:g} or more minus the share answering {r.bottom_max:g} or "
            f"less, is **{n.nps:+.1f}** points ({ci} {n.lower:+.1f} to {n.upper:+.1f}): {n.promoters:.1f}% top, "
            f"{n.passives:.1f}% middle and {n.detractors:.1f}% bottom answers.")


@dataclass(frozen=True)
class TrapSummary:
    share: stats.Proportion
    satisfied_min: float
    not_again_max: float
    item: str
    confidence: float


def trap_section(scores: pd.DataFrame, survey: pd.DataFrame, params) -> Section:
    rep = survey[params.survey.repurchase].to_numpy(float)
    sat = scores["satisfaction"].to_numpy(float)
    trap = satisfied_would_not_rechoose(sat, rep, params.satisfied_min, params.would_not_choose_again_max,
                                        params.confidence)
    keep = ~np.isnan(sat) & ~np.isnan(rep)
    dropped = int((~keep).sum())
    summary = TrapSummary(trap, params.satisfied_min, params.would_not_choose_again_max, params.survey.repurchase,
                          params.confidence)
    return Section(results={"satisfied_would_not_choose_again": trap}, text=trap_text(summary),
                   rows_used=int(keep.sum()),
                   rows_dropped={"missing satisfaction or 'choose again'": dropped} if dropped else {})


def trap_text(t: TrapSummary) -> str:
    p = t.share
    if not p.n:
        return (f"No respondent scores {t.satisfied_min:g} or more on satisfaction, so the share of satisfied "
                "respondents who would not choose the provider again is undefined.")
    return (f"Of the **{p.n}** satisfied respondents (SAT ≥ {t.satisfied_min:g}), **{p.successes}** ({p.estimate:.1%}, "
            f"{ci_label(t.confidence)} {p.lower:.1%}–{p.upper:.1%}) would not choose the provider again "
            f"(score ≤ {t.not_again_max:g} on '{t.item}').")


def behaviour_section(transactions: pd.DataFrame, params) -> Section:
    summary = behaviour_summary(transactions, params.repeat_window_days, params.top_fraction, params.confidence)
    table = behaviour_table(summary, params.repeat_window_days, params.top_fraction, params.confidence)
    return Section(results=summary, rows_used=summary["customers"],
                   table=table_spec(table, "Repeat buying and revenue concentration.", "tbl-behaviour"))


def one_line_finding(recommendation: Section, trap: Section, behaviour: Section, window_days: int,
                     top_fraction: float) -> str:
    """Recommendation score, the satisfied who would not choose again, repeat buying and concentration."""
    score = recommendation.results.get("nps") or recommendation.results.get("net_top_box")
    name = "NPS" if "nps" in recommendation.results else "Net top-box score"
    t = trap.results["satisfied_would_not_choose_again"]
    rep = behaviour.results["repeat_purchase"]
    parts = [f"{name} {score.nps:+.0f}",
             f"{t.estimate:.0%} of satisfied respondents would not choose again" if t.n else
             "no respondent counts as satisfied",
             f"{rep.estimate:.0%} of buyers return within {window_days} days" if rep.n else
             f"no buyer is observed for a whole {window_days}-day window",
             f"the top {share_label(top_fraction)} of customers bring "
             f"{behaviour.results['top_share_of_revenue']:.0%} of revenue"]
    return "; ".join(parts) + "."
