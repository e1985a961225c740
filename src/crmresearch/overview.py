"""The four CRM degrees (domain.md §1-2): satisfaction, loyalty, recommendation, behaviour.

Survey side: satisfaction distribution, NPS and its split, loyalty items, and the
"satisfied but would not choose again" share (the satisfaction trap in its plainest form).
Transaction side: repeat-purchase rate within a window, inter-purchase times and revenue
concentration (Lorenz curve, top-20% share).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats


def survey_scores(survey: pd.DataFrame, satisfaction_items, loyalty_items) -> pd.DataFrame:
    """Per respondent: satisfaction = mean of its items; loyalty = mean of its items."""
    out = survey[["respondent_id"]].copy()
    out["satisfaction"] = survey[list(satisfaction_items)].mean(axis=1)
    out["loyalty"] = survey[list(loyalty_items)].mean(axis=1)
    return out


def score_distribution(scores, low: int, high: int) -> pd.DataFrame:
    """Counts and shares of each whole score from `low` to `high` (means rounded half up)."""
    rounded = np.floor(np.asarray(scores, dtype=float) + 0.5).astype(int)
    levels = np.arange(low, high + 1)
    counts = np.bincount(np.clip(rounded, low, high) - low, minlength=levels.size)
    return pd.DataFrame({"score": levels, "respondents": counts, "share": counts / counts.sum()})


def satisfied_would_not_rechoose(satisfaction, repurchase, satisfied_threshold: float,
                                 not_again_max: float, confidence: float = 0.95):
    """Among satisfied respondents, the share whose repurchase intention is at or below `not_again_max`."""
    sat = np.asarray(satisfaction, dtype=float) >= satisfied_threshold
    not_again = np.asarray(repurchase, dtype=float) <= not_again_max
    return stats.proportion(not_again[sat], confidence)


def purchase_days(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and purchase day (same-day lines merged, amounts summed), sorted by customer and day."""
    from .clv.rfm import merge_same_day

    daily = merge_same_day(transactions)
    return pd.DataFrame({"customer_id": daily.customer_ids[daily.customer_codes],
                         "day": pd.to_datetime(daily.days.astype("datetime64[D]")),
                         "amount": daily.amounts})


def repeat_purchase(transactions: pd.DataFrame, window_days: int, confidence: float = 0.95):
    """Share of customers with a second purchase day within `window_days` of their first.

    Only customers observed for the full window after their first purchase count (right-censoring).
    """
    days = purchase_days(transactions)
    first = days.groupby("customer_id", observed=True)["day"].transform("min")
    end = days["day"].max()
    eligible = days.loc[first + pd.Timedelta(days=window_days) <= end, "customer_id"].unique()
    in_window = days[(days["day"] > first) & (days["day"] <= first + pd.Timedelta(days=window_days))]
    repeaters = np.isin(eligible, in_window["customer_id"].unique())
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

def plot_score_distribution(dist: pd.DataFrame, satisfied_threshold: float, label: str = "Satisfaction"):
    from .report import PALETTE, new_figure

    fig, ax = new_figure()
    colours = [PALETTE[0] if s >= satisfied_threshold else PALETTE[6] for s in dist["score"]]
    ax.bar(dist["score"], 100 * dist["share"], color=colours)
    ax.set_xticks(dist["score"])
    ax.set_xlabel(f"{label} score (mean of items, rounded)")
    ax.set_ylabel("Respondents (%)")
    ax.axvline(satisfied_threshold - 0.5, color="black", lw=0.8, ls="--")
    ax.text(satisfied_threshold - 0.4, ax.get_ylim()[1] * 0.92, "satisfied", fontsize=8)
    return fig


def plot_nps(nps, loyalty_items: pd.DataFrame, labels: dict):
    """Left: promoter/passive/detractor split; right: mean of each loyalty item with 95% CI."""
    from .report import PALETTE, new_figure

    fig, (ax1, ax2) = new_figure(ncols=2, gridspec_kw={"width_ratios": [1, 1.6]})
    parts = [("Detractors", nps.detractors, PALETTE[1]), ("Passives", nps.passives, PALETTE[6]),
             ("Promoters", nps.promoters, PALETTE[2])]
    left = 0.0
    for name, share, colour in parts:
        ax1.barh([0], [share], left=left, color=colour, label=f"{name} {share:.0f}%")
        left += share
    ax1.set_xlim(0, 100)
    ax1.set_yticks([])
    ax1.set_xlabel("Respondents (%)")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7, frameon=False)
    ax1.set_title(f"NPS {nps.nps:+.1f} [{nps.lower:+.1f}, {nps.upper:+.1f}]")
    means = loyalty_items.mean()
    se = loyalty_items.std(ddof=1) / np.sqrt(len(loyalty_items))
    y = np.arange(len(means))
    ax2.errorbar(means.to_numpy(), y, xerr=1.96 * se.to_numpy(), fmt="o", color=PALETTE[0])
    ax2.set_yticks(y, [f"{c}: {labels.get(c, c)}" for c in means.index], fontsize=7)
    ax2.set_xlabel("Mean score (95% CI)")
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
    ax.annotate(f"top {top_fraction:.0%}: {top:.0%} of revenue", xy=(1 - top_fraction, 1 - top),
                xytext=(0.15, 0.7), arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.8}, fontsize=8)
    ax.set_xlabel("Share of customers (smallest to largest spend)")
    ax.set_ylabel("Share of revenue")
    ax.legend(loc="upper left")
    return fig


def behaviour_summary(transactions: pd.DataFrame, window_days: int, top_fraction: float,
                      confidence: float = 0.95) -> dict:
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


def behaviour_table(summary: dict, window_days: int, top_fraction: float) -> pd.DataFrame:
    rep = summary["repeat_purchase"]
    return pd.DataFrame({
        "measure": ["customers", "transaction lines", f"repeat purchase within {window_days} days (95% CI)",
                    "median days between purchase days", f"revenue share of the top {top_fraction:.0%}",
                    "Gini coefficient of revenue"],
        "value": [f"{summary['customers']:,}", f"{summary['transaction_lines']:,}",
                  f"{rep.estimate:.1%} ({rep.lower:.1%}–{rep.upper:.1%})",
                  f"{summary['inter_purchase_days_median']:.0f}", f"{summary['top_share_of_revenue']:.1%}",
                  f"{summary['gini_revenue']:.2f}"],
    })
