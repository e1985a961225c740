"""Figures of the lifecycle report. Every function takes computed results and returns a Figure
sized by `crmresearch.report.new_figure` (6.3 in wide); captions come from the notebook.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config
from ..report import PALETTE, new_figure, section_figure
from .estimation import TransitionMatrix
from .panel import StagePanel


def _colors(states):
    """One colour per stage; crossed stages ("recency/count") share the hue of their recency
    group and get lighter with the count group, so the grouping stays visible."""
    from matplotlib.colors import to_rgb

    states = [str(s) for s in states]
    if len(states) <= len(PALETTE):
        return PALETTE[:len(states)]
    groups = list(dict.fromkeys(s.split("/")[0] for s in states))
    if len(groups) < len(states) and len(groups) <= len(PALETTE):
        levels = {g: [s for s in states if s.split("/")[0] == g] for g in groups}
        out = []
        for s in states:
            g = s.split("/")[0]
            k, n = levels[g].index(s), len(levels[g])
            base = np.array(to_rgb(PALETTE[groups.index(g)]))
            out.append(tuple(base + (1 - base) * 0.6 * k / max(n - 1, 1)))
        return out
    import matplotlib as mpl

    cmap = mpl.colormaps["tab20"]
    return [cmap(i % 20) for i in range(len(states))]


def transition_heatmap(matrix: TransitionMatrix, interval: str = "bootstrap"):
    """Heatmap of p_ij with the estimate and its interval in each possible cell.

    Structural zeros are grey and unlabelled. `interval`: "bootstrap" (customer-cluster) or "wilson".
    """
    import matplotlib.pyplot as plt

    s = matrix.n_states
    height = min(2.2 + 0.33 * s, 7.5)
    fig, ax = new_figure(height=height)
    p = np.where(matrix.allowed, matrix.probabilities, np.nan)
    cmap = plt.get_cmap("Blues").copy()
    cmap.set_bad("#e6e6e6")
    im = ax.imshow(p, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    if interval == "bootstrap" and matrix.boot_lower is not None:
        lo, hi = matrix.boot_lower, matrix.boot_upper
    else:
        lo, hi = matrix.wilson_lower, matrix.wilson_upper
    size = 7 if s <= 6 else (5.5 if s <= 10 else 4.8)
    for i in range(s):
        for j in range(s):
            if not matrix.allowed[i, j] or np.isnan(matrix.probabilities[i, j]):
                continue
            value = matrix.probabilities[i, j]
            colour = "white" if value > 0.55 else "black"
            # Small cells get the half-width of the interval instead of both ends.
            band = (f"[{lo[i, j]:.2f}, {hi[i, j]:.2f}]" if s <= 8
                    else f"±{max(value - lo[i, j], hi[i, j] - value):.3f}")
            ax.text(j, i, f"{value:.2f}\n{band}", ha="center", va="center", fontsize=size, color=colour,
                    linespacing=1.1)
    ax.set_xticks(range(s), matrix.states, rotation=45 if s > 5 else 0, ha="right" if s > 5 else "center",
                  fontsize=7 if s > 8 else 8)
    ax.set_yticks(range(s), matrix.states, fontsize=7 if s > 8 else 8)
    ax.set_xlabel("stage next period")
    ax.set_ylabel("stage this period")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="transition probability", shrink=0.8)
    return fig


def cohort_flows(panel: StagePanel, customers, n_steps: int, absorbing=()):
    """Occupancy by tenure step (steps+1 x S) and flows between steps (steps x S x S) of a cohort.

    `customers` selects the cohort (boolean over customer codes); each customer is aligned on its
    own entry period, and only customers observed for all steps are kept (a closed cohort). A
    customer who reached an `absorbing` stage stays there (panels record churn once), so churned
    customers remain in the cohort; customers with a gap within the steps are left out.
    """
    s = panel.n_states
    chosen = np.asarray(customers, bool)
    cust, entry, _ = panel.entries()
    entry_of = np.full(panel.n_customers, -1)
    entry_of[cust] = entry
    tenure = panel.period - entry_of[panel.customer]
    grid = np.full((panel.n_customers, n_steps + 1), -1, np.int64)
    rows = chosen[panel.customer] & (tenure <= n_steps)
    grid[panel.customer[rows], tenure[rows]] = panel.stage[rows]
    if len(absorbing):
        for k in range(1, n_steps + 1):       # carry an absorbing stage forward (loop over steps, not customers)
            carry = (grid[:, k] < 0) & np.isin(grid[:, k - 1], list(absorbing))
            grid[carry, k] = grid[carry, k - 1]
    complete = chosen & (grid >= 0).all(axis=1)
    g = grid[complete]
    occupancy = np.stack([np.bincount(g[:, k], minlength=s) for k in range(n_steps + 1)])
    flows = np.stack([np.bincount(g[:, k] * s + g[:, k + 1], minlength=s * s).reshape(s, s)
                      for k in range(n_steps)])
    return occupancy, flows


def cohort_alluvial(occupancy: np.ndarray, flows: np.ndarray, states, period_name: str = "month"):
    """Alluvial diagram of a cohort: stacked stage bars per step joined by bands of the flows."""
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path

    n_steps, s = flows.shape[0], flows.shape[1]
    total = occupancy[0].sum()
    share_occ = occupancy / total
    share_flow = flows / total
    colors = _colors(states)
    fig, ax = new_figure(height=3.8)
    bar = 0.18
    gap = 0.012
    # Bar segments stacked top-down in stage order with small gaps.
    tops = np.zeros_like(share_occ)
    for k in range(n_steps + 1):
        y = 1 + gap * (s - 1)
        for i in range(s):
            tops[k, i] = y
            if share_occ[k, i] > 0:
                ax.add_patch(Rectangle((k - bar / 2, y - share_occ[k, i]), bar, share_occ[k, i],
                                       color=colors[i], lw=0))
            y -= share_occ[k, i] + gap
    for k in range(n_steps):
        out_pos = tops[k].copy()
        in_pos = tops[k + 1].copy()
        # Inflows stacked in origin order within each destination segment.
        in_offsets = np.zeros((s, s))
        for j in range(s):
            acc = in_pos[j]
            for i in range(s):
                in_offsets[i, j] = acc
                acc -= share_flow[k, i, j]
        for i in range(s):
            for j in range(s):
                h = share_flow[k, i, j]
                if h <= 0:
                    continue
                y0a, y0b = out_pos[i], out_pos[i] - h
                y1a, y1b = in_offsets[i, j], in_offsets[i, j] - h
                x0, x1 = k + bar / 2, k + 1 - bar / 2
                xm = (x0 + x1) / 2
                verts = [(x0, y0a), (xm, y0a), (xm, y1a), (x1, y1a), (x1, y1b), (xm, y1b), (xm, y0b), (x0, y0b),
                         (x0, y0a)]
                codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO, Path.CURVE4,
                         Path.CURVE4, Path.CURVE4, Path.CLOSEPOLY]
                ax.add_patch(PathPatch(Path(verts, codes), facecolor=colors[i], alpha=0.35, lw=0))
                out_pos[i] -= h
    ax.set_xlim(-0.5, n_steps + 0.5)
    ax.set_ylim(-0.02, 1 + gap * s + 0.02)
    ax.set_xticks(range(n_steps + 1))
    ax.set_xlabel(f"{period_name}s since entry")
    ax.set_yticks([])
    ax.set_ylabel(f"share of the cohort (n = {total:,})")
    ax.grid(False)
    handles = [Rectangle((0, 0), 1, 1, color=colors[i]) for i in range(s)]
    ax.legend(handles, states, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
    return fig


def stage_occupancy(occupancy: np.ndarray, states, period_labels=None, shares: bool = True):
    """Stacked area of the number (or share) of customers in each stage by period (labels 0, 1, ...
    when the panel has no period labels)."""
    period_labels = range(len(occupancy)) if period_labels is None else period_labels
    values = occupancy / occupancy.sum(axis=1, keepdims=True) if shares else occupancy
    fig, ax = new_figure(height=3.2)
    x = np.arange(len(period_labels))
    ax.stackplot(x, values.T, labels=states, colors=_colors(states), alpha=0.9)
    step = max(1, int(np.ceil(len(x) / 6)))
    ax.set_xticks(x[::step], [str(p) for p in list(period_labels)[::step]], fontsize=7)
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel("period")
    ax.set_ylabel("share of customers observed" if shares else "customers")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
    return fig


def period_rate_panels(rates: pd.DataFrame, period_name: str = "month", confidence: float = config.CONFIDENCE):
    """Small multiples: retention, reactivation and churn by origin period with Wilson bands at `confidence`."""
    measures = list(dict.fromkeys(rates["measure"]))
    fig, axes = new_figure(ncols=len(measures), height=2.6, sharey=False)
    axes = np.atleast_1d(axes)
    for ax, measure, colour in zip(axes, measures, PALETTE):
        d = rates[rates["measure"] == measure]
        ax.plot(d["period"], d["rate"], color=colour, marker="o", ms=3)
        ax.fill_between(d["period"], d["lower"], d["upper"], color=colour, alpha=0.2, lw=0)
        ax.set_title(measure, fontsize=9)
        ax.set_xlabel(f"{period_name} (origin)")
        labels = d["label"].tolist()
        step = max(1, int(np.ceil(len(labels) / 3)))
        ax.set_xticks(d["period"].to_numpy()[::step], labels[::step], fontsize=6.5)
    axes[0].set_ylabel(f"rate per period ({confidence:.0%} Wilson band)")
    return fig


def sojourn_panels(sojourn: pd.DataFrame, period_name: str = "month"):
    """Time-in-stage survival (Kaplan-Meier) against the geometric law of the chain, per stage."""
    stages = list(dict.fromkeys(sojourn["stage"]))
    ncols = min(4, len(stages))
    nrows = int(np.ceil(len(stages) / ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, height=1.9 * nrows + 0.4, sharex=True, sharey=True,
                           squeeze=False)
    for ax, stage in zip(axes.ravel(), stages):
        d = sojourn[sojourn["stage"] == stage]
        ax.step(d["duration"], d["km_survival"], where="post", color=PALETTE[0], label="observed (Kaplan-Meier)")
        ax.step(d["duration"], d["geometric_survival"], where="post", color=PALETTE[1], ls="--",
                label="geometric (first-order chain)")
        ax.set_title(str(stage), fontsize=8)
        ax.set_ylim(0, 1.02)
    for ax in axes.ravel()[len(stages):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"{period_name}s in stage")
    for ax in axes[:, 0]:
        ax.set_ylabel("still in stage")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    return fig


def first_passage_panel(empirical: pd.DataFrame | None, curves: dict, target_name: str, period_name: str = "month"):
    """Share of customers who have reached the target stage k periods after entry: observed
    (Kaplan-Meier) against the curve each fitted chain implies. Without `empirical` (an engine's
    aggregates carry no customer histories) the chains' curves are drawn alone, with a note why."""
    import textwrap

    fig, ax = new_figure(height=3.0)
    if empirical is not None:
        ax.step(empirical["step"], empirical["reached"], where="post", color="black", lw=1.6,
                label="observed (Kaplan-Meier)")
    else:
        ax.text(0.98, 0.04, textwrap.fill("Observed curve not computed: it needs the customer-level stage panel, "
                                          "which a run with an engine does not bring into memory.", 60),
                ha="right", va="bottom", fontsize=7, color="#555555", transform=ax.transAxes)
    for (name, curve), colour in zip(curves.items(), PALETTE):
        ax.plot(np.arange(len(curve)), curve, color=colour, ls="--", marker="o", ms=2.5, label=name)
    ax.set_xlabel(f"{period_name}s since entry")
    ax.set_ylabel(f"share that has reached {target_name}")
    ax.set_ylim(0, 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return fig


def forecast_panels(forecast: pd.DataFrame, observed: pd.DataFrame | None = None, period_name: str = "month"):
    """Forecast stage mix by step with bootstrap bands; observed shares as points when given."""
    stages = list(dict.fromkeys(forecast["stage"]))
    fig, ax = new_figure(height=3.2)
    for stage, colour in zip(stages, _colors(stages)):
        d = forecast[forecast["stage"] == stage]
        ax.plot(d["step"], d["share"], color=colour, label=str(stage))
        ax.fill_between(d["step"], d["lower"], d["upper"], color=colour, alpha=0.25, lw=0)
        if observed is not None:
            o = observed[observed["stage"] == stage]
            ax.plot(o["step"], o["share"], "o", color=colour, ms=3)
    ax.set_xlabel(f"{period_name}s ahead")
    ax.set_ylabel("share of customers")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
    return fig


def backtest_panels(results: dict[str, pd.DataFrame], period_name: str = "month"):
    """Holdout error by horizon: each state space against the naive forecast; log score beside."""
    fig, (ax1, ax2) = new_figure(ncols=2, height=2.8)
    naive = None
    for (name, frame), colour in zip(results.items(), PALETTE):
        ax1.plot(frame["horizon"], frame["chain_error"], marker="o", ms=3, color=colour, label=name)
        ax2.plot(frame["horizon"], frame["log_score"], marker="o", ms=3, color=colour, label=name)
        naive = frame
    ax1.plot(naive["horizon"], naive["naive_error"], ls="--", color="#7f7f7f", label="naive (no change)")
    ax1.set_xlabel(f"horizon ({period_name}s)")
    ax1.set_ylabel("error of the stage mix (total variation)")
    ax2.set_xlabel(f"horizon ({period_name}s)")
    ax2.set_ylabel("mean log score per customer")
    ax1.legend(fontsize=7, frameon=False)
    return fig


def pattern_bars(probabilities, labels, lower=None, upper=None):
    """Bar chart of relationship-pattern probabilities, with interval whiskers when given."""
    fig, ax = new_figure(height=2.6)
    x = np.arange(len(labels))
    p = np.asarray(probabilities)
    err = None
    if lower is not None:
        err = np.vstack([p - np.asarray(lower), np.asarray(upper) - p])
    ax.bar(x, p, color=_colors(labels), yerr=err, capsize=3)
    ax.set_xticks(x, labels)
    ax.set_ylabel("probability from entry")
    ax.set_ylim(0, max(1e-9, float(np.max(upper if upper is not None else p))) * 1.15)
    return fig


# ---------------------------------------------------------------- one figure per report section

@section_figure
def pattern_section_figure(section):
    """Relationship-pattern probabilities of a pattern section (a panel saying why when not computed)."""
    patterns = section.frame
    return pattern_bars(patterns["probability"], patterns["pattern"], patterns.get("lower"), patterns.get("upper"))


@section_figure
def forecast_section_figure(section, period_name: str = "month"):
    return forecast_panels(section.forecast, period_name=period_name)


@section_figure
def cohort_section_figure(section, states, period_name: str = "month"):
    """Alluvial diagram of a cohort section (a panel saying why when not computed)."""
    return cohort_alluvial(section.occupancy, section.flows, states, period_name)


def occupancy_figure(data):
    """Stage mix of all customers observed in each period, from a `LifecycleData` (a customer-level
    panel or an engine's aggregates: both give the customers per period and stage)."""
    return stage_occupancy(data.panel.occupancy(), data.panel.states, data.panel.period_labels)


@section_figure
def sojourn_section_figure(section, period_name: str = "month"):
    return sojourn_panels(section.frame, period_name)


@section_figure
def backtest_section_figure(section, period_name: str = "month"):
    return backtest_panels(section.backtests, period_name)


@section_figure
def first_passage_section_figure(section, period_name: str = "month"):
    """The first-passage figure of a time-to-target section (without the observed curve in a run
    with an engine: the chains' curves are drawn alone and the panel says why)."""
    return first_passage_panel(section.observed, section.curves, section.target_names, period_name)
