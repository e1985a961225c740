"""Figures of the CRM overview, drawn from the numbers `overview.analyse` computed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config, stats
from ..report import PALETTE, absent_figure, new_figure
from .analyse import OverviewAnalysis
from ..stats import ci_label, share_label


def plot_score_distribution(dist: pd.DataFrame, satisfied_min: float, label: str = "Satisfaction"):
    """Respondents by rounded score; the dark part of each bar is those whose unrounded score counts as
    satisfied, so the dark parts add up to the satisfied share of the text (`score_distribution`)."""
    fig, ax = new_figure()
    satisfied = dist["satisfied_share"] if "satisfied_share" in dist else dist["share"].where(dist["score"] >= satisfied_min, 0)
    ax.bar(dist["score"], 100 * satisfied, color=PALETTE[0], label=f"satisfied ({100 * satisfied.sum():.1f}% in all)")
    ax.bar(dist["score"], 100 * (dist["share"] - satisfied), bottom=100 * satisfied, color=PALETTE[6],
           label="not satisfied")
    ax.set_xticks(dist["score"])
    ax.set_xlabel(f"{label} score (mean of items, rounded)")
    ax.set_ylabel("Respondents (%)")
    ax.legend(loc="upper left", frameon=False)
    return fig


def plot_nps(nps, loyalty_items: pd.DataFrame, labels: dict, confidence: float = config.CONFIDENCE, is_nps: bool = True):
    """Left: promoter/passive/detractor split (top/middle/bottom answers off the 0-10 scale);
    right: mean of each loyalty item with its interval."""
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
    gaps = np.asarray(gaps, dtype=float)
    if gaps.size == 0:
        return absent_figure("no customer bought on more than one day, so there is no time between purchases",
                                    "The time between purchases")
    fig, ax = new_figure()
    ax.hist(gaps, bins=np.arange(0, gaps.max() + 15, 15), color=PALETTE[0])
    ax.axvline(np.median(gaps), color=PALETTE[1], ls="--", label=f"median {np.median(gaps):.0f} days")
    ax.set_xlabel("Days between consecutive purchase days")
    ax.set_ylabel("Repeat purchases")
    ax.legend()
    return fig


def plot_lorenz(revenue, top_fraction: float):
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


def score_distribution_figure(a: OverviewAnalysis):
    return plot_score_distribution(a.distribution, a.params.satisfied_min)


def recommendation_figure(a: OverviewAnalysis):
    return plot_nps(a.recommendation.score, a.loyalty_answers, a.labels, a.params.confidence, a.recommendation.is_nps)


def inter_purchase_figure(a: OverviewAnalysis):
    return plot_inter_purchase(a.inter_purchase_days)


def lorenz_figure(a: OverviewAnalysis):
    return plot_lorenz(a.revenue, a.params.top_fraction)
