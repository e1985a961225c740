"""Figures of the satisfaction-loyalty report; each takes computed results (a section record or the
`SatisfactionAnalysis`) and returns a Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..models.segmented import davies_critical_value
from ..report import PALETTE, new_figure, section_absent


def _errorbars(ax, x, mean, lower, upper, **kwargs):
    mean, lower, upper = (np.asarray(v, float) for v in (mean, lower, upper))
    # Wilson bounds at 0 or 1 can sit a rounding error beyond the estimate.
    ax.errorbar(x, mean, yerr=[np.maximum(mean - lower, 0), np.maximum(upper - mean, 0)], fmt="o", capsize=2,
                **kwargs)


def _margin(scale, share: float) -> float:
    return share * (scale[1] - scale[0]) / 9


def _answer_cloud(ax, x, y, scale, x_scale=None):
    """Respondents as bubbles sized by how many gave each (SAT, loyalty) pair."""
    x_scale = x_scale or scale
    pairs = pd.DataFrame({"x": x, "y": y}).value_counts().reset_index(name="count")
    ax.scatter(pairs["x"], pairs["y"], s=6 + 60 * pairs["count"] / pairs["count"].max(), color=PALETTE[6],
               alpha=0.35, linewidths=0, label="respondents (size = count)")
    ax.set_xlim(x_scale[0] - _margin(x_scale, 0.3), x_scale[1] + _margin(x_scale, 0.3))
    ax.set_ylim(scale[0] - _margin(scale, 0.3), scale[1] + _margin(scale, 0.5))


def plot_curves(x, y, binned: pd.DataFrame, linear, spline_prediction: pd.DataFrame, broken_line, scale,
                x_scale=None):
    """Loyalty against satisfaction: answers, binned means (95% CI), linear, spline and broken line
    (``scale`` is loyalty's, ``x_scale`` satisfaction's; the broken line is left out when it did not fit)."""
    fig, ax = new_figure()
    _answer_cloud(ax, x, y, scale, x_scale)
    grid = spline_prediction["x"].to_numpy()
    ax.fill_between(grid, spline_prediction["lower"], spline_prediction["upper"], color=PALETTE[0], alpha=0.15)
    ax.plot(grid, spline_prediction["fit"], color=PALETTE[0], label="natural spline (95% band)")
    ax.plot(grid, linear.params[0] + linear.params[1] * grid, color=PALETTE[6], ls=":", label="linear")
    if broken_line is not None:
        ax.plot(grid, broken_line.predict(grid), color=PALETTE[1], ls="--",
                label=f"broken line, breakpoint {broken_line.breakpoint:.2f}")
        ax.axvspan(*broken_line.breakpoint_ci, color=PALETTE[1], alpha=0.08)
    ok = binned["n"] > 1
    _errorbars(ax, binned.loc[ok, "x_mean"], binned.loc[ok, "mean"], binned.loc[ok, "lower"], binned.loc[ok, "upper"],
               color="black", label="band means (95% CI)", markersize=4)
    ax.axhline(scale[1], color="black", lw=0.6)
    ax.set_xlabel("Satisfaction SAT (scale points)")
    ax.set_ylabel("Loyalty (scale points)")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_marginal_effects(spline_slopes: pd.DataFrame, broken_line):
    """Slope of loyalty on satisfaction: spline derivative with 95% band and the broken line's two slopes."""
    fig, ax = new_figure()
    ax.fill_between(spline_slopes["x"], spline_slopes["lower"], spline_slopes["upper"], color=PALETTE[0], alpha=0.2)
    ax.plot(spline_slopes["x"], spline_slopes["slope"], color=PALETTE[0], label="spline slope (95% band)")
    lo, hi = spline_slopes["x"].min(), spline_slopes["x"].max()
    if broken_line is not None:
        psi = broken_line.breakpoint
        for (a, b), slope, ci in (((lo, psi), broken_line.slope_before, broken_line.slope_before_ci),
                                  ((psi, hi), broken_line.slope_after, broken_line.slope_after_ci)):
            ax.hlines(slope, a, b, color=PALETTE[1], lw=2)
            ax.fill_between([a, b], ci[0], ci[1], color=PALETTE[1], alpha=0.12)
        ax.plot([], [], color=PALETTE[1], lw=2, label="broken-line slopes (95% CI)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("Satisfaction SAT (scale points)")
    ax.set_ylabel("Loyalty points per satisfaction point")
    ax.legend(fontsize=7)
    return fig


def curves_figure(analysis):
    """`plot_curves` from the analysis: the respondents, band means, straight line, spline and broken line."""
    c, data = analysis.curve, analysis.data
    return plot_curves(c.sat, c.loyalty, c.binned, c.linear, c.spline_prediction, c.broken, data.scale,
                       data.satisfaction_scale)


def slopes_figure(analysis):
    """`plot_marginal_effects` from the analysis: the spline's slope and the broken line's two slopes."""
    return plot_marginal_effects(analysis.models.spline_slopes, analysis.curve.broken)


def ceiling_figure(section, analysis):
    """`plot_ceiling` from a ceiling section (a placeholder when the censored model did not fit)."""
    checks, c, data = section.checks, analysis.curve, analysis.data
    if checks.censored is None:
        return section_absent(section, "The ceiling figure")
    return plot_ceiling(c.sat, c.loyalty, c.binned, checks.expected, checks.censored, data.scale,
                        data.satisfaction_scale)


def null_figure(section, analysis):
    """The calibrated null distribution with the naive Davies critical value at level `alpha` beside it."""
    checks = section.checks
    if checks.flat is None:
        return section_absent(section, "The null distribution")
    return plot_null_distribution(checks.flat, davies_critical_value(analysis.curve.davies.variation,
                                                                     analysis.params.alpha))


def plot_ceiling(x, y, binned: pd.DataFrame, expected: pd.DataFrame, ceiling_fit, scale, x_scale=None):
    """Left: loyalty answers piling up at the top. Right: band means vs. what a straight latent line
    produces once answers are rounded and clipped (censored-regression fit)."""
    fig, (ax1, ax2) = new_figure(ncols=2)
    values, counts = np.unique(np.asarray(y, float), return_counts=True)
    label = f"{100 * ceiling_fit.share_at_ceiling:.0f}% at {scale[1]:g}"
    if values.size > 40:        # a continuous index: a histogram, not one bar per value
        counts, edges = np.histogram(y, bins=np.linspace(scale[0], scale[1], 21))
        values, width = (edges[:-1] + edges[1:]) / 2, 0.8 * (edges[1] - edges[0])
        values[-1] = max(values[-1], scale[1])
        # the last bar holds the whole top bin, so the label says both numbers
        label += f"\n({100 * counts[-1] / counts.sum():.0f}% in {edges[-2]:g}–{scale[1]:g})"
    else:
        width = 0.8 * (np.min(np.diff(values)) if values.size > 1 else 1)
    ax1.bar(values, 100 * counts / counts.sum(), width=width, color=PALETTE[0])
    ax1.set_xlabel("Loyalty answer (scale points)")
    ax1.set_ylabel("Respondents (%)")
    ax1.annotate(label,
                 xy=(values[-1], 100 * counts[-1] / counts.sum()),
                 xytext=(-75, -4), textcoords="offset points", fontsize=7, va="center",
                 arrowprops={"arrowstyle": "->", "color": "black"})
    ok = binned["n"] > 1
    _errorbars(ax2, binned.loc[ok, "x_mean"], binned.loc[ok, "mean"], binned.loc[ok, "lower"], binned.loc[ok, "upper"],
               color="black", markersize=4, label="band means (95% CI)")
    ax2.plot(expected["x"], expected["latent"], color=PALETTE[6], ls=":", label="latent straight line")
    ax2.plot(expected["x"], expected["expected_answer"], color=PALETTE[0],
             label="straight line after ceiling + rounding")
    ax2.axhline(scale[1], color="black", lw=0.6)
    ax2.set_xlabel("Satisfaction SAT (scale points)")
    ax2.set_ylabel("Loyalty (scale points)")
    ax2.set_ylim(scale[0] - _margin(scale, 0.3), scale[1] + _margin(scale, 1.5))
    ax2.legend(fontsize=6.5, loc="upper left")
    return fig


def plot_null_distribution(flat_test, naive_critical: float):
    """Davies' statistic under "linear + ceiling + rounding" vs. the observed value."""
    fig, ax = new_figure()
    ax.hist(flat_test.null_statistics, bins=40, color=PALETTE[0], alpha=0.7, label="simulated null (linear + ceiling)")
    ax.axvline(flat_test.statistic, color=PALETTE[1], lw=2, label=f"observed M = {flat_test.statistic:.2f}")
    ax.axvline(np.quantile(flat_test.null_statistics, 0.95), color=PALETTE[0], ls="--",
               label="calibrated 5% critical value")
    ax.axvline(naive_critical, color=PALETTE[6], ls=":", label="naive (Davies) 5% critical value")
    ax.set_xlabel("Davies statistic M = max |t| of the slope change")
    ax.set_ylabel("Simulated data sets")
    ax.legend(fontsize=7)
    return fig


def plot_top_box(series: list[tuple[str, pd.DataFrame, pd.DataFrame]]):
    """Share reaching an outcome (top-box loyalty, promoter) per satisfaction level, Wilson CI,
    with a logistic fit; ``series`` holds (label, levels, curve) per outcome."""
    fig, ax = new_figure()
    for i, (label, levels, curve) in enumerate(series):
        colour = PALETTE[i]
        ax.fill_between(curve["x"], 100 * curve["lower"], 100 * curve["upper"], color=colour, alpha=0.15)
        ax.plot(curve["x"], 100 * curve["probability"], color=colour, label=f"{label}: logistic fit (95% band)")
        ok = levels["n"] > 0
        offset = 0.08 * (i - (len(series) - 1) / 2)   # side by side, so the intervals stay readable
        _errorbars(ax, levels.loc[ok, "x_mean"] + offset, 100 * levels.loc[ok, "share"],
                   100 * levels.loc[ok, "lower"], 100 * levels.loc[ok, "upper"], color=colour, markersize=4,
                   label=f"{label}: observed (95% Wilson CI)")
    ax.set_xlabel("Satisfaction SAT (scale points)")
    ax.set_ylabel("Respondents (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def top_box_figure(analysis):
    """`plot_top_box` from the analysis: shares by SAT level and logistic curves of both outcomes."""
    return plot_top_box(analysis.top_box.series)


def plot_nps_by_band(table: pd.DataFrame, is_nps: bool = True):
    """NPS (or the net top-box score) per satisfaction band with its interval, and the band sizes."""
    fig, ax = new_figure()
    t = table[table["n"] > 0].reset_index(drop=True)
    pos = np.arange(len(t))
    colours = [PALETTE[2] if v >= 0 else PALETTE[1] for v in t["nps"]]
    ax.bar(pos, t["nps"], color=colours, alpha=0.8)
    ax.errorbar(pos, t["nps"], yerr=[np.maximum(t["nps"] - t["ci_lower"], 0), np.maximum(t["ci_upper"] - t["nps"], 0)],
                fmt="none", color="black", capsize=3)
    ax.set_xticks(pos, [f"{b}\n(n={n})" for b, n in zip(t["band"], t["n"])], fontsize=7)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylim(-105, 105)
    ax.set_xlabel("Satisfaction band (SAT)")
    ax.set_ylabel("Net Promoter Score (points)" if is_nps else "Net top-box score (points)")
    return fig


def plot_penalty_reward(table: pd.DataFrame, labels: dict, outcome_label: str):
    """Penalty of poor and reward of excellent performance per attribute (95% CI), with Kano class."""
    t = table.dropna(subset=["penalty", "reward"]).reset_index(drop=True)
    fig, ax = new_figure(height=0.9 + 0.35 * len(t))
    pos = np.arange(len(t))
    z = table.attrs.get("z", 1.959964)
    ax.barh(pos - 0.2, t["penalty"], height=0.38, color=PALETTE[1], xerr=z * t["penalty_se"], capsize=2,
            label="penalty (poor vs. middle)")
    ax.barh(pos + 0.2, t["reward"], height=0.38, color=PALETTE[2], xerr=z * t["reward_se"], capsize=2,
            label="reward (excellent vs. middle)")
    ax.set_yticks(pos, [f"{labels.get(a, a)} [{k}]" for a, k in zip(t["attribute"], t["kano_class"])], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel(f"Effect on {outcome_label} (scale points)")
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)   # above the bars
    return fig


def plot_attribute_curves(curves: pd.DataFrame, kano: dict, labels: dict, outcome_label: str):
    """Mean outcome by attribute performance, one line per attribute, coloured by Kano class."""
    fig, ax = new_figure()
    colour = {"basic": PALETTE[1], "attractive": PALETTE[2], "performance": PALETTE[0], "indifferent": PALETTE[6]}
    seen = set()
    for name, g in curves.groupby("attribute", sort=False):
        g = g[g["n"] >= 5]
        cls = kano.get(name, "indifferent")
        ax.plot(g["x_mean"], g["mean"], marker="o", ms=3, color=colour.get(cls, PALETTE[6]), alpha=0.8,
                label=cls if cls not in seen else None)
        seen.add(cls)
    ax.set_xlabel("Attribute performance score (scale points)")
    ax.set_ylabel(f"Mean {outcome_label} (scale points)")
    ax.legend(title="Kano class", fontsize=7, title_fontsize=7)
    return fig


def plot_loyalty_map(positions: pd.DataFrame, satisfied_min: float, retention_line: float):
    """The apostle/mercenary/hostage/defector map with the six loyalty sources placed on it."""
    fig, ax = new_figure()
    ax.axvline(satisfied_min, color="black", lw=0.6)
    ax.axhline(100 * retention_line, color="black", lw=0.6)
    for i, row in positions.reset_index(drop=True).iterrows():
        ax.errorbar(row["satisfaction"], 100 * row["retention"],
                    xerr=[[row["satisfaction"] - row["satisfaction_lower"]],
                          [row["satisfaction_upper"] - row["satisfaction"]]],
                    yerr=[[max(100 * (row["retention"] - row["retention_lower"]), 0)],
                          [max(100 * (row["retention_upper"] - row["retention"]), 0)]],
                    fmt="o", color=PALETTE[i % len(PALETTE)], capsize=2)
        ax.annotate(row["source"], (row["satisfaction"], 100 * row["retention"]), xytext=(5, 4),
                    textcoords="offset points", fontsize=8)
    x0, x1 = ax.get_xlim()
    y0, y1 = -2, 105
    ax.set_ylim(y0, y1)
    for text, x, y, ha in (("hostages", x0, y1, "left"), ("apostles", x1, y1, "right"),
                           ("defectors", x0, y0, "left"), ("mercenaries", x1, y0, "right")):
        ax.text(x, y, text, ha=ha, va="top" if y == y1 else "bottom", fontsize=8, style="italic", color=PALETTE[6])
    ax.set_xlabel("Mean satisfaction SAT (scale points, 95% CI)")
    ax.set_ylabel("Retention: repurchased (%, 95% CI)")
    return fig


def plot_switching_cost(curves: pd.DataFrame):
    """Retention by satisfaction level with the switching cost and with it removed (same customers)."""
    fig, ax = new_figure()
    for i, (name, g) in enumerate(curves.groupby("market", sort=False)):
        g = g[g["n"] >= 5]
        ax.plot(g["x_mean"], 100 * g["share"], marker="o", ms=3, color=PALETTE[i], label=name)
        ax.fill_between(g["x_mean"], 100 * g["lower"], 100 * g["upper"], color=PALETTE[i], alpha=0.15)
    ax.set_xlabel("Satisfaction SAT, rounded (scale points)")
    ax.set_ylabel("Retention: repurchased (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=7)
    return fig


def plot_competitiveness(curves: pd.DataFrame, stated: pd.DataFrame):
    """Left: retention by satisfaction per market. Right: stated 'would choose again' by satisfaction."""
    fig, (ax1, ax2) = new_figure(ncols=2)
    for i, (name, g) in enumerate(curves.groupby("scenario", sort=False)):
        g = g[g["n"] >= 5]
        ax1.plot(g["x_mean"], 100 * g["share"], marker="o", ms=3, color=PALETTE[i], label=name)
        ax1.fill_between(g["x_mean"], 100 * g["lower"], 100 * g["upper"], color=PALETTE[i], alpha=0.15)
    for i, (name, g) in enumerate(stated.groupby("scenario", sort=False)):
        g = g[g["n"] >= 5]
        yerr = [(g["mean"] - g["lower"]).fillna(0), (g["upper"] - g["mean"]).fillna(0)]
        ax2.errorbar(g["x_mean"], g["mean"], yerr=yerr, marker="o", ms=3, color=PALETTE[i], capsize=2, label=name)
    ax1.set_xlabel("Satisfaction SAT, rounded")
    ax1.set_ylabel("Retention: repurchased (%)")
    ax1.set_ylim(-2, 102)
    ax1.legend(fontsize=7)
    ax2.set_xlabel("Satisfaction SAT, rounded")
    ax2.set_ylabel("'Would choose again' (mean, 95% CI)")
    return fig


# ---------------------------------------------------------------- figures of sections that may not be computed

def penalty_reward_figure(section):
    if not section.computed:
        return section_absent(section, "The penalty-reward figure")
    return plot_penalty_reward(section.pr, section.labels, section.outcome_label)


def attribute_curves_figure(section):
    if not section.computed:
        return section_absent(section, "The attribute curves")
    return plot_attribute_curves(section.curves, section.kano, section.labels, section.outcome_label)


def loyalty_map_figure(section):
    if not section.computed:
        return section_absent(section, "The loyalty map")
    return plot_loyalty_map(section.positions, section.satisfied_min, section.overall_retention)


def switching_cost_figure(section):
    if not section.computed:
        return section_absent(section, "The switching-cost figure")
    return plot_switching_cost(section.removal["curves"])


def competitiveness_figure(section):
    if not section.computed:
        return section_absent(section, "The market comparison")
    return plot_competitiveness(section.curves, section.stated)


def nps_figure(section):
    if not section.computed:
        return section_absent(section, "The net recommendation score by band")
    return plot_nps_by_band(section.bands, section.score.is_nps)


# ---------------------------------------------------------------- what drives satisfaction and loyalty

def _layers(layout) -> dict:
    """Column of each construct in the path diagram: the length of the longest route into it."""
    depth = {}
    for _ in range(len(layout.constructs)):
        for j in range(len(layout.constructs)):
            preds = layout.predecessors(j)
            depth[j] = 0 if preds.size == 0 else 1 + max(depth.get(k, 0) for k in preds)
    return depth


def plot_structural_model(fit, paths: pd.DataFrame, r_squared: pd.DataFrame, confidence: float):
    """The structural model: constructs in columns by their distance from the exogenous ones (R² under
    each endogenous one), arrows labelled with the path coefficient and its bootstrap interval; an arrow
    whose interval includes zero is grey and dashed."""
    from matplotlib.patches import FancyArrowPatch

    lay = fit.layout
    depth = _layers(lay)
    columns = {}
    for j, d in depth.items():
        columns.setdefault(d, []).append(j)
    pos = {}
    n_cols = max(columns) + 1
    for d, members in columns.items():
        for rank, j in enumerate(members):
            # a lone construct in its column alternates above and below the middle, so that a chain of
            # single constructs (as in ECSI) does not put every arrow on one line
            y = 0.5 + 0.3 * (-1) ** d if len(members) == 1 else 1 - (rank + 1) / (len(members) + 1)
            pos[j] = (d / max(n_cols - 1, 1), y)
    fig, ax = new_figure(height=4.0)
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(0.05, 0.95)
    ax.axis("off")
    level = f"{confidence:.0%}"
    for name, row in paths.iterrows():
        a, b = (lay.constructs.index(x) for x in name.split(" -> "))
        clear = row["lower"] > 0 or row["upper"] < 0
        rad = 0.12 if depth[b] - depth[a] == 1 else 0.3        # a long arrow bows further, away from the middle
        arrow = FancyArrowPatch(pos[a], pos[b], arrowstyle="-|>", mutation_scale=10, shrinkA=22, shrinkB=22,
                                connectionstyle=f"arc3,rad={rad}", color=PALETTE[0] if clear else PALETTE[6],
                                ls="-" if clear else "--", lw=0.6 + 3 * abs(row["estimate"]))
        ax.add_patch(arrow)
        # the label sits on the arc's midpoint: mid + rad/2 · (dy, -dx) in display coordinates (arc3)
        (x1, y1), (x2, y2) = ax.transData.transform([pos[a], pos[b]])
        mx, my = ax.transData.inverted().transform(((x1 + x2) / 2 + rad / 2 * (y2 - y1),
                                                    (y1 + y2) / 2 - rad / 2 * (x2 - x1)))
        ax.text(mx, my, f"{row['estimate']:.2f}\n[{row['lower']:.2f}, {row['upper']:.2f}]", fontsize=5.5,
                ha="center", va="center", color="black" if clear else PALETTE[6],
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    for j, (x, y) in pos.items():
        name = lay.constructs[j]
        label = name if name not in r_squared.index else f"{name}\nR² = {r_squared.loc[name, 'estimate']:.2f}"
        ax.text(x, y, label, ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round,pad=0.4", "fc": "#eef3f8", "ec": PALETTE[0]})
    ax.set_title(f"Path coefficients with {level} bootstrap intervals (grey dashed: the interval includes 0)",
                 fontsize=8)
    return fig


def plot_ipma(maps: dict):
    """Importance-performance maps, one panel per target: importance (unstandardised total effect) across,
    performance (0-100) up, dashed lines at the drivers' means."""
    fig, axes = new_figure(ncols=len(maps), height=3.4)
    axes = np.atleast_1d(axes)
    for ax, (target, table) in zip(axes, maps.items()):
        ax.scatter(table["importance"], table["performance"], color=PALETTE[0], s=25, zorder=3)
        for name, row in table.iterrows():
            ax.annotate(name, (row["importance"], row["performance"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        ax.axvline(table["importance"].mean(), color=PALETTE[6], ls="--", lw=0.8)
        ax.axhline(table["performance"].mean(), color=PALETTE[6], ls="--", lw=0.8)
        ax.set_xlabel("Importance (total effect, points per point)", fontsize=8)
        ax.set_ylabel("Performance (0–100)", fontsize=8)
        ax.set_title(f"Target: {target}", fontsize=9)
        span = table["importance"].max() - min(table["importance"].min(), 0)
        ax.set_xlim(min(table["importance"].min(), 0) - 0.05 * span, table["importance"].max() + 0.3 * span)
    return fig


def structural_model_figure(section):
    if not section.computed:
        return section_absent(section, "The structural model")
    d = section.drivers
    return plot_structural_model(d.fit, d.paths, d.r_squared, d.confidence)


def ipma_figure(section):
    if not section.computed:
        return section_absent(section, "The importance-performance maps")
    return plot_ipma(section.drivers.ipma)
