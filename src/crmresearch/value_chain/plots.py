"""Figures of the satisfaction-to-value report. Every function takes computed sections (or their
tables) and returns a Figure sized by `crmresearch.report.new_figure`; a section that was not
computed gives no figure (its text says why), and the publish step gives it no number."""

from __future__ import annotations

import numpy as np

from .. import report
from ..report import AbsentFigure, absent_figure
from ..sections import SIMULATED_LABEL
from .text import coefficient_label


def _first_table(section):
    tables = getattr(section, "tables", None) or []
    return tables[0]["df"] if tables else None


def value_figure(value_section, decision_section):
    """Left: value per satisfaction level (or band) with its interval, and the truth when known.
    Right: break-even spend per one-point step with its interval (and the true marginal value)."""
    if not (value_section.computed and decision_section.computed):
        return AbsentFigure()          # the sections' text says why
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


@report.section_figure
def stated_actual_figure(section):
    """Stated intention against P(alive) and observed repeat buying by satisfaction band."""
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


def coefficients_figure(models_section):
    """The satisfaction (and other measures') coefficients of each fitted model with their intervals:
    one panel per process (purchase, dropout, spend), one marker per model; crosses mark a simulated truth."""
    fitted = {name.removeprefix("model_"): fit for name, fit in (models_section.results.get("models") or {}).items()
              if isinstance(fit, dict) and fit.get("converged") and fit.get("coefficients")}
    if not fitted:
        return absent_figure(models_section.note or "no covariate model converged")
    processes = ("purchase", "dropout", "spend")
    fig, axes = report.new_figure(ncols=3, sharey=True)
    terms = []
    for fit in fitted.values():
        for c in fit["coefficients"]:
            term = c["parameter"].split("[", 1)[1][:-1]
            if term not in terms:
                terms.append(term)
    y = {term: i for i, term in enumerate(terms)}
    offsets = np.linspace(-0.25, 0.25, len(fitted)) if len(fitted) > 1 else [0.0]
    for ax, process in zip(axes, processes):
        for (name, fit), offset, marker in zip(fitted.items(), offsets, "osD"):
            rows = [c for c in fit["coefficients"] if c["parameter"].split("[", 1)[0].startswith(process)]
            if not rows:
                continue
            pos = np.array([y[c["parameter"].split("[", 1)[1][:-1]] for c in rows]) + offset
            est = np.array([c["estimate"] for c in rows])
            err = np.vstack([est - [c["lower"] for c in rows], [c["upper"] for c in rows] - est])
            ax.errorbar(est, pos, xerr=np.clip(err, 0, None), fmt=marker, capsize=2, label=name)
            truth = [c.get("truth") for c in rows]
            if any(t is not None for t in truth):
                ax.plot([np.nan if t is None else t for t in truth], pos, ls="none", marker="x", color="black",
                        label="truth" if process == "purchase" and name == next(iter(fitted)) else None)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(process)
    # the terms in words: sat[9] -> "satisfaction 9", switching_cost -> "switching cost"
    axes[0].set_yticks(range(len(terms)), [coefficient_label(f"x[{t}]").split(": ", 1)[-1] for t in terms])
    axes[0].invert_yaxis()
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    axes[-1].legend(handles, labels, fontsize=7)
    fig.supxlabel("coefficient (log scale of the model parameter it multiplies)", fontsize=9)
    if models_section.source == "simulated":
        fig.suptitle(f"{SIMULATED_LABEL} (simulated panel with known truth)", fontsize=10)
    return fig
