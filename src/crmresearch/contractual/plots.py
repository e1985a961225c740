"""Figures of the contractual report. Each takes a table the report recorded in results.json and
returns a Figure sized by `crmresearch.report.new_figure`; no number is set by hand here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import report
from ..sections import SIMULATED_LABEL


def _frame(section, key: str):
    """The table `key` of a section's results, or None when the section was not computed."""
    value = section.results.get(key) if hasattr(section, "results") else section
    return None if value is None else pd.DataFrame(value)


def _label(fig, section):
    """A simulated section's figure says so on the figure itself."""
    if getattr(section, "source", None) == "simulated":
        fig.suptitle(SIMULATED_LABEL, fontsize=9, color="#c0504d")
    return fig


def survival_figure(section):
    """Left: observed and projected survival with interval bands; right: retention rates likewise."""
    projection = _frame(section, "projection")
    if projection is None:
        return report.section_absent(section)
    fig, (left, right) = report.new_figure(ncols=2)
    for i, (name, part) in enumerate(projection.groupby("segment", sort=False)):
        colour = report.PALETTE[i % len(report.PALETTE)]
        model = str(part["model"].iloc[0]) if "model" in part else "sBG"      # each segment's chosen model
        left.plot(part["t"], part["survival"], color=colour, label=f"{name}: {model}")
        left.fill_between(part["t"], part["survival_lower"], part["survival_upper"], color=colour, alpha=0.2, lw=0)
        left.plot(part["t"], part["observed_survival"], "o", color=colour, ms=3, label=f"{name}: observed")
        right.plot(part["t"], part["retention"], color=colour, label=f"{name}: {model}")
        right.fill_between(part["t"], part["retention_lower"], part["retention_upper"], color=colour, alpha=0.2, lw=0)
        right.plot(part["t"], part["observed_retention"], "o", color=colour, ms=3)
        last = part.loc[part["observed"], "t"].max()
        left.axvline(last, color="grey", lw=0.6, ls=":")
    left.set_xlabel("period")
    left.set_ylabel("share of the cohort still a customer")
    right.set_xlabel("renewal")
    right.set_ylabel("retention rate (share renewing)")
    left.set_ylim(0, 1.02)
    left.legend(fontsize=7)
    return _label(fig, section)


def churn_density_figure(section):
    """Density of the churn probability θ ~ Beta(α, β) in each segment, at the estimates (the heterogeneity
    the sBG infers), with the mean churn marked."""
    from scipy import stats as sps

    table = _frame(section, "sbg_parameters")
    if table is None:
        return report.section_absent(section)
    fig, ax = report.new_figure()
    grid = np.linspace(0.0005, 0.9995, 400)
    top = 0.0
    for i, (name, part) in enumerate(table.groupby("segment", sort=False)):
        est = part.set_index("parameter")["estimate"]
        colour = report.PALETTE[i % len(report.PALETTE)]
        density = sps.beta.pdf(grid, est["alpha"], est["beta"])
        top = max(top, float(density[grid >= 0.02].max()))
        ax.plot(grid, density, color=colour, label=name)
        ax.axvline(est["alpha"] / (est["alpha"] + est["beta"]), color=colour, ls=":", lw=0.8)
    ax.set_xlabel("churn probability per renewal θ")
    ax.set_ylabel("density across customers")
    ax.set_ylim(0, 1.15 * top)          # densities with α < 1 rise without bound at θ = 0
    ax.legend()
    return _label(fig, section)


def sorting_figure(section):
    """Mean churn probability among the customers still there, by period, under each segment's chosen model
    (named in the legend)."""
    projection = _frame(section, "projection")
    if projection is None:
        return report.section_absent(section)
    fig, ax = report.new_figure()
    for i, (name, part) in enumerate(projection.groupby("segment", sort=False)):
        ax.plot(part["t"], part["mean_churn_survivors"], marker=".", color=report.PALETTE[i % len(report.PALETTE)],
                label=f"{name}: {part['model'].iloc[0]}")         # as the survival figure names them
    ax.set_xlabel("renewals survived")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))          # renewals are whole numbers
    ax.set_ylabel("mean churn probability of survivors")
    ax.set_ylim(bottom=0)
    ax.legend()
    return _label(fig, section)


def tier_value_figure(section):
    """Shares of customers, revenue and residual value by tier (left); value per customer with intervals (right)."""
    tier_values = _frame(section, "tier_values")
    if tier_values is None:
        return report.section_absent(section)
    fig, (left, right) = report.new_figure(ncols=2)
    x = np.arange(len(tier_values))
    for k, (col, label) in enumerate((("customer_share", "customers"), ("revenue_share", "revenue per period"),
                                      ("value_share", "residual value"))):
        left.bar(x + (k - 1) * 0.27, tier_values[col], width=0.27, label=label, color=report.PALETTE[k])
    left.set_xticks(x, tier_values["tier"])
    left.set_ylabel("share of the active base")
    left.legend(fontsize=7)
    per = tier_values["customers"].to_numpy()
    est = tier_values["value_per_customer"].to_numpy()
    err = np.vstack([est - tier_values["value_lower"].to_numpy() / per, tier_values["value_upper"].to_numpy() / per - est])
    right.bar(x, est, yerr=err, color=report.PALETTE[3], capsize=3)
    right.set_xticks(x, tier_values["tier"])
    right.set_ylabel("residual value per active customer")
    return _label(fig, section)


def programme_figure(section):
    """DERL by renewals so far, before and after the retention programme."""
    derl_curve = _frame(section, "programme_derl")
    if derl_curve is None:
        return report.section_absent(section)
    tier = section.results["retention_programme"]["tier"]
    fig, ax = report.new_figure()
    ax.plot(derl_curve["renewals"], derl_curve["derl_before"], label=f"{tier}: now")
    ax.plot(derl_curve["renewals"], derl_curve["derl_after"], ls="--", label=f"{tier}: with the programme")
    ax.set_xlabel("renewals made so far")
    ax.set_ylabel("DERL (discounted future payments)")
    ax.legend()
    return _label(fig, section)


def bgbb_histogram_figure(section):
    """Donors by number of transactions: actual and expected under the fitted BG/BB."""
    histogram = _frame(section, "bgbb_histogram")
    if histogram is None:
        return report.section_absent(section)
    fig, ax = report.new_figure()
    x = histogram["transactions"].to_numpy()
    ax.bar(x - 0.2, histogram["actual"], width=0.4, label="actual")
    ax.bar(x + 0.2, histogram["expected"], width=0.4, label="BG/BB")
    ax.set_xlabel("repeat transactions in the observed years")
    ax.set_ylabel("donors")
    ax.legend()
    return _label(fig, section)
