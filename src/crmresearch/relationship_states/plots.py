"""Figures of the relationship-states report. Each takes a section whose tables are recorded in
results.json and returns a Figure sized by `crmresearch.report.new_figure`; no number is set by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import report
from ..sections import SIMULATED_LABEL


def _label(fig, section):
    """A simulated section's figure says so on the figure itself."""
    if getattr(section, "source", None) == "simulated":
        fig.suptitle(SIMULATED_LABEL, fontsize=9, color="#c0504d")

    return fig


def _states(frame) -> list[str]:
    return [c for c in frame.columns if c.startswith("S") and c[1:].isdigit()]


@report.section_figure
def selection_figure(section):
    table = pd.DataFrame(section.results["state_selection"])
    table = table[~table["failed"]]
    fig, (left, right) = report.new_figure(ncols=2)
    left.plot(table["states"], table["bic"], "o-", color=report.PALETTE[0], label="BIC")
    left.plot(table["states"], table["aic"], "s--", color=report.PALETTE[1], label="AIC")
    chosen = table[table["chosen"]]
    left.plot(chosen["states"], chosen["bic"], "o", ms=11, mfc="none", color="black", label="chosen")
    left.set_xlabel("number of states")
    left.set_ylabel("information criterion (lower is better)")
    left.legend(fontsize=7)
    hold = table.dropna(subset=["holdout_loglik"])
    if len(hold):
        right.plot(hold["states"], hold["holdout_loglik"], "o-", color=report.PALETTE[2])
        right.set_ylabel("holdout log-likelihood (higher is better)")
    else:
        right.text(0.5, 0.5, "no customers held out", ha="center", va="center", transform=right.transAxes)
    right.set_xlabel("number of states")
    for ax in (left, right):
        ax.set_xticks(table["states"])
    return _label(fig, section)


@report.section_figure
def occupancy_figure(section):
    occ = pd.DataFrame(section.results["state_occupancy"])
    states = _states(occ)
    fig, ax = report.new_figure()
    x = np.arange(len(occ))
    ax.stackplot(x, occ[states].to_numpy().T, labels=states, colors=report.PALETTE[:len(states)], alpha=0.85)
    labels = occ["label"] if "label" in occ else occ["period"]
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([str(v) for v in labels.iloc[::step]], rotation=45, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of customers observed")
    ax.set_xlabel("period")
    ax.legend(fontsize=7, loc="upper right")
    return _label(fig, section)


@report.section_figure
def transitions_figure(section):
    table = pd.DataFrame(section.results["transition_matrix"])
    scenarios = list(dict.fromkeys(table["scenario"]))
    fig, axes = report.new_figure(ncols=len(scenarios))
    axes = np.atleast_1d(axes)
    states = list(dict.fromkeys(table["from"]))
    K = len(states)
    for ax, scenario in zip(axes, scenarios):
        part = table[table["scenario"] == scenario]
        P = part["probability"].to_numpy().reshape(K, K)
        ax.imshow(P, cmap="Blues", vmin=0, vmax=1)
        ax.grid(False)
        for i in range(K):
            for j in range(K):
                row = part.iloc[i * K + j]
                shown = f"{P[i, j]:.2f}" if row["allowed"] else "–"
                ax.text(j, i, shown, ha="center", va="center", fontsize=8, color="white" if P[i, j] > 0.6 else "black")
        ax.set_xticks(range(K))
        ax.set_xticklabels(states)
        ax.set_yticks(range(K))
        ax.set_yticklabels(states)
        ax.set_xlabel("to")
        ax.set_ylabel("from")
        ax.set_title(scenario, fontsize=9)
    return _label(fig, section)


@report.section_figure
def value_figure(section):
    values = pd.DataFrame(section.results["state_values"])
    fig, ax = report.new_figure()
    x = np.arange(len(values))
    err = np.vstack([values["value"] - values["lower"], values["upper"] - values["value"]])
    ax.bar(x, values["value"], color=report.PALETTE[:len(values)], yerr=err, capsize=4)
    ax.set_xticks(x)
    ax.set_xticklabels(values["state"])
    ax.set_ylabel(f"discounted value, next {int(values['horizon'].iloc[0])} periods")
    ax.set_xlabel("state now")
    return _label(fig, section)


@report.section_figure
def stages_figure(section):
    table = pd.DataFrame(section.results["stage_crosstab"])
    shares = [c for c in table.columns if c.startswith("share_")]
    fig, ax = report.new_figure()
    bottom = np.zeros(len(table))
    for i, c in enumerate(shares):
        values = table[c].fillna(0).to_numpy()
        ax.bar(table["stage"], values, bottom=bottom, color=report.PALETTE[i % len(report.PALETTE)],
               label=c.removeprefix("share_"))
        bottom += values
    ax.set_ylabel("share of the stage's customer-months")
    ax.set_xlabel("recency stage (lifecycle rules)")
    ax.legend(fontsize=7, title="decoded state", title_fontsize=7)
    return _label(fig, section)


@report.section_figure
def recovery_figure(section):
    table = pd.DataFrame(section.results["truth_recovery"])
    fig, ax = report.new_figure(height=4.2)
    y = np.arange(len(table))[::-1]
    ax.errorbar(table["estimate"], y, xerr=np.vstack([table["estimate"] - table["ci_lower"],
                                                      table["ci_upper"] - table["estimate"]]),
                fmt="o", color=report.PALETTE[0], ms=3, label="estimate and interval")
    ax.plot(table["true_value"], y, "x", color=report.PALETTE[1], label="truth")
    ax.set_yticks(y)
    ax.set_yticklabels(table["parameter"], fontsize=6)
    ax.set_xlabel("value on the estimation scale (logits, log-means, log-sds)")
    ax.legend(fontsize=7)
    return _label(fig, section)
