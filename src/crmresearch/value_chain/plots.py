"""Figures of the satisfaction-to-value report. Every function takes computed sections (or their
tables) and returns a Figure sized by `crmresearch.report.new_figure`; a section that was not
computed gives a figure saying why, so the figure numbers stay the same in every variant."""

from __future__ import annotations

import numpy as np

from .. import report
from ..clv.plots import absent_figure
from ..sections import SIMULATED_LABEL


def _first_table(section):
    tables = getattr(section, "tables", None) or []
    return tables[0]["df"] if tables else None


def value_figure(value_section, decision_section):
    """Left: value per satisfaction level (or band) with its interval, and the truth when known.
    Right: break-even spend per one-point step with its interval (and the true marginal value)."""
    if not (value_section.computed and decision_section.computed):
        return absent_figure(value_section.note or decision_section.note or "value not computed")
    values, steps = _first_table(value_section), decision_section.results["decision"]
    fig, (left, right) = report.new_figure(ncols=2)
    x_col = "level" if "level" in values else "band"
    x = np.arange(len(values)) if x_col == "band" else values[x_col].to_numpy()
    left.fill_between(x, values["value_lower"], values["value_upper"], alpha=0.25, step="mid" if x_col == "level" else None,
                      label="interval")
    left.plot(x, values["value"], marker="o", label="estimate")
    if "true_value" in values:
        left.plot(x, values["true_value"], ls="none", marker="x", color="black", label="truth")
    if x_col == "band":
        left.set_xticks(x, values["band"])
    left.set_xlabel("satisfaction" + (" band" if x_col == "band" else ""))
    left.set_ylabel("expected discounted value per customer")
    labels = (steps["from_level"].map("{:g}".format) + "→" + steps["to_level"].map("{:g}".format)
              if "from_level" in steps else steps["from_band"].astype(str) + "→" + steps["to_band"].astype(str))
    pos = np.arange(len(steps))
    err = np.vstack([steps["break_even"] - steps["break_even_lower"], steps["break_even_upper"] - steps["break_even"]])
    right.errorbar(pos, steps["break_even"], yerr=np.clip(err, 0, None), fmt="o", capsize=3, label="estimate")
    if "true_break_even" in steps:
        right.plot(pos, steps["true_break_even"], ls="none", marker="x", color="black", label="truth")
    right.axhline(0, color="grey", lw=0.8)
    right.set_xticks(pos, labels, rotation=45 if len(pos) > 5 else 0)
    right.set_xlabel("one more point of satisfaction")
    right.set_ylabel("break-even spend per customer")
    for ax in (left, right):
        ax.legend()
    if value_section.source == "simulated":
        fig.suptitle(f"{SIMULATED_LABEL} (simulated panel with known truth)", fontsize=10)
    return fig


def stated_actual_figure(section):
    """Stated intention against P(alive) and observed repeat buying by satisfaction band."""
    if not section.computed:
        return absent_figure(section.note or "not computed")
    table = section.results.get("stated_vs_actual", section.results.get("stated_by_band"))
    fig, ax = report.new_figure()
    x = np.arange(len(table))
    if "stated_again" in table:
        ax.plot(x, table["stated_again"], marker="o", label="stated: would choose again")
        ax.plot(x, table["p_alive"], marker="s", label="model: P(alive)")
        ax.plot(x, table["bought_in_holdout"], marker="^", label="actual: bought in the holdout")
        if "actually_alive" in table:
            ax.plot(x, table["actually_alive"], ls="none", marker="x", color="black", label="truth: alive")
    else:
        err = np.vstack([table["stated"] - table["lower"], table["upper"] - table["stated"]])
        ax.errorbar(x, table["stated"], yerr=err, fmt="o-", capsize=3, label="stated: would choose again")
    ax.set_xticks(x, table["band"])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("satisfaction band")
    ax.set_ylabel("share of customers")
    ax.legend()
    if section.source == "simulated":
        fig.suptitle(f"{SIMULATED_LABEL} (simulated panel with known truth)", fontsize=10)
    return fig
