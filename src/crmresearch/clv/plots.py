"""Figures of the CLV report. Every function takes computed results and returns a Figure sized
by `crmresearch.report.new_figure` (no numbers are set by hand here)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config
from .. import report, stats


def dwyer_figure(table: pd.DataFrame, other: pd.DataFrame | None = None, label: str = "retention path",
                 other_label: str = "raised retention", unit: str = "year"):
    """Customers buying per period (bars) and cumulative NPV per acquired customer (lines), for one or two tables."""
    fig, (left, right) = report.new_figure(ncols=2)
    tables = [(table, label, "o")] + ([(other, other_label, "s")] if other is not None else [])
    width = 0.8 / len(tables)
    for i, (frame, name, marker) in enumerate(tables):
        counts = frame["customers"] if "customers" in frame else frame["buyers"]
        left.bar(frame["year"] + (i - (len(tables) - 1) / 2) * width, counts, width=width, label=name)
        right.plot(frame["year"], frame["clv_per_customer"], marker=marker, label=name)
    left.set_xlabel(f"{unit} since acquisition")
    left.set_ylabel(f"customers buying in the {unit}")
    right.set_xlabel(f"{unit} since acquisition")
    right.set_ylabel("cumulative NPV per acquired customer")
    right.axhline(0, color="grey", lw=0.8)
    for ax in (left, right):
        ax.set_xticks(table["year"])
        ax.legend()
    return fig


def tracking_figure(tracking: pd.DataFrame, calibration_periods: float, unit: str = "week"):
    """Actual vs model repeat transactions per period: cumulative (left) and incremental (right).

    `tracking` has `period`, `actual_cumulative`, `actual_incremental` and, per model,
    `<model> cumulative` / `<model> incremental` columns.
    """
    fig, (cum_ax, inc_ax) = report.new_figure(ncols=2)
    models = [c.removesuffix(" cumulative") for c in tracking if c.endswith(" cumulative") and c != "actual cumulative"]
    cum_ax.plot(tracking["period"], tracking["actual cumulative"], color="black", lw=1.6, label="actual")
    inc_ax.plot(tracking["period"], tracking["actual incremental"], color="black", lw=1.2, label="actual")
    for name, style in zip(models, ["--", ":", "-."]):
        cum_ax.plot(tracking["period"], tracking[f"{name} cumulative"], ls=style, lw=1.4, label=name)
        inc_ax.plot(tracking["period"], tracking[f"{name} incremental"], ls=style, lw=1.2, label=name)
    for ax in (cum_ax, inc_ax):
        ax.axvline(calibration_periods, color="grey", lw=0.8)
        ax.set_xlabel(f"{unit} since the cohort's start")
        ax.legend()
    cum_ax.set_ylabel("cumulative repeat transactions")
    inc_ax.set_ylabel(f"repeat transactions per {unit}")
    return fig


def frequency_histogram_figure(histogram: pd.DataFrame):
    """Customers by number of repeat purchases in calibration: actual against model (bars side by side)."""
    fig, ax = report.new_figure()
    models = [c for c in histogram.columns if c not in ("repeat purchases", "actual")]
    positions = np.arange(len(histogram))
    width = 0.8 / (1 + len(models))
    ax.bar(positions - width * len(models) / 2, histogram["actual"], width=width, color="black", label="actual")
    for i, name in enumerate(models, start=1):
        ax.bar(positions - width * len(models) / 2 + i * width, histogram[name], width=width, label=name)
    ax.set_xticks(positions, histogram["repeat purchases"])
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel("customers")
    ax.legend()
    return fig


def conditional_figure(table: pd.DataFrame, holdout_label: str = "holdout", band: pd.DataFrame | None = None,
                       band_model: str | None = None, confidence: float = config.CONFIDENCE):
    """Mean holdout transactions by calibration frequency: actual vs models, with the band of one model
    from its parameter draws when given."""
    fig, ax = report.new_figure()
    models = [c for c in table.columns if c not in ("frequency", "customers", "actual")]
    positions = np.arange(len(table))
    if band is not None:
        ax.fill_between(positions, band["lower"], band["upper"], color="C0", alpha=0.25, lw=0,
                        label=f"{band_model} {confidence:.0%} band (parameter draws)")
    ax.plot(positions, table["actual"], color="black", marker="o", label="actual")
    for name, marker in zip(models, ["s", "^", "d"]):
        ax.plot(positions, table[name], ls="--", marker=marker, label=name)
    ax.set_xticks(positions, table["frequency"])
    ax.set_xlabel("repeat transactions in calibration (x)")
    ax.set_ylabel(f"mean transactions in {holdout_label}")
    ax.legend()
    return fig


MAX_POINTS = 20_000      # points drawn per scatter or curve; more add nothing a reader can see


def shown_points(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Positions 0..n-1 to draw: all of them up to `limit`, else `limit` evenly spaced ones (a
    systematic sample in the given order: by rank for a ranked curve, by customer id for a scatter)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def _note_sample(ax, shown: int, total: int) -> None:
    if shown < total:
        ax.text(0.99, 0.01, f"{shown:,} of {total:,} customers drawn (evenly spaced)", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="grey")


def concentration_figure(revenue, profit, top_fraction: float = 0.2, curves: dict | None = None):
    """Lorenz curve of revenue (left) and the whale curve of profit after cost-to-serve (right), with the
    top `top_fraction` of customers marked and named in the legend. `curves`: both curves already
    evaluated at evenly spaced ranks by the engine (`clv.at_scale.concentration`), instead of the values."""
    fig, (lorenz_ax, whale_ax) = report.new_figure(ncols=2)
    if curves is not None:
        pop, share = curves["lorenz"]
        keep = np.arange(pop.size)
    else:
        pop, share = stats.lorenz_curve(revenue)
        keep = shown_points(pop.size)
    lorenz_ax.plot(100 * pop[keep], 100 * share[keep], label="customers")
    lorenz_ax.plot([0, 100], [0, 100], color="grey", lw=0.8, ls="--", label="equal spend")
    lorenz_ax.set_xlabel("customers, smallest spenders first (%)")
    lorenz_ax.set_ylabel("cumulative share of revenue (%)")
    lorenz_ax.legend()
    if curves is not None:
        pop, cum = curves["whale"]
        keep = np.arange(pop.size)
    else:
        pop, cum = stats.whale_curve(profit)
        keep = np.union1d(shown_points(pop.size), [int(np.argmax(cum))])       # the peak is always drawn
    whale_ax.plot(100 * pop[keep], 100 * cum[keep])
    whale_ax.axhline(100, color="grey", lw=0.8, ls="--")
    whale_ax.axvline(100 * top_fraction, color="grey", lw=0.8, ls=":", label=f"top {top_fraction:.0%}")
    whale_ax.legend()
    whale_ax.set_xlabel("customers, most profitable first (%)")
    whale_ax.set_ylabel("cumulative share of total profit (%)")
    return fig


def clv_distribution_figure(clv, tiers: pd.Series, currency: str = "$", ranked: pd.DataFrame | None = None):
    """Predicted CLV per customer, ranked, coloured by tier (log scale). `ranked`: the engine's evenly
    spaced sample of the ranked customers (`clv.at_scale.clv_rank_sample`) instead of every value."""
    fig, ax = report.new_figure()
    if ranked is not None:
        n = ranked.attrs["customers"]
        rank = 100 * (ranked["_position"].to_numpy() + 1) / n
        tier = ranked["tier"].astype(str).to_numpy()
        for name in pd.Series(tiers).cat.categories if tiers is not None else pd.unique(tier):
            mask = tier == str(name)
            ax.scatter(rank[mask], np.maximum(ranked["clv"].to_numpy(float)[mask], 1e-2), s=4, label=str(name))
        _note_sample(ax, len(ranked), n)
        report.log_axis(ax, "y")
        ax.set_xlabel("customers ranked by predicted CLV (%)")
        ax.set_ylabel(f"predicted discounted CLV ({currency}, log scale)")
        ax.legend(title="tier", markerscale=3)
        return fig
    clv = np.asarray(clv, float)
    order = np.argsort(-clv, kind="stable")
    rank = 100 * (np.arange(clv.size) + 1) / clv.size
    tier_sorted = pd.Series(tiers).to_numpy()[order]
    keep = np.zeros(clv.size, bool)
    keep[shown_points(clv.size)] = True
    for name in pd.Series(tiers).cat.categories:
        mask = (tier_sorted == name) & keep
        ax.scatter(rank[mask], np.maximum(clv[order][mask], 1e-2), s=4, label=str(name))
    _note_sample(ax, int(keep.sum()), clv.size)
    report.log_axis(ax, "y")
    ax.set_xlabel("customers ranked by predicted CLV (%)")
    ax.set_ylabel(f"predicted discounted CLV ({currency}, log scale)")
    ax.legend(title="tier", markerscale=3)
    return fig


def quadrant_figure(quadrant: pd.DataFrame, firm_label: str, customer_label: str, customer_floor: float = 0.01):
    """Value quadrant scatter; customer values below `customer_floor` are drawn at the floor (log axis)."""
    fig, ax = report.new_figure()
    sampled = "counts" in quadrant.attrs          # the engine's evenly spaced sample, with every count
    counts = pd.Series(quadrant.attrs["counts"]) if sampled else quadrant["quadrant"].value_counts()
    shown = quadrant if sampled else quadrant.iloc[shown_points(len(quadrant))]
    for name, group in shown.groupby("quadrant"):
        ax.scatter(np.maximum(group["customer_value"], customer_floor), group["firm_value"], s=5, alpha=0.6,
                   label=f"{name} ({counts[name]:,})")
    _note_sample(ax, len(shown), quadrant.attrs["customers"] if sampled else len(quadrant))
    ax.axhline(quadrant["firm_threshold"].iloc[0], color="grey", lw=0.8)
    ax.axvline(quadrant["customer_threshold"].iloc[0], color="grey", lw=0.8)
    report.log_axis(ax, "y", "symlog", linthresh=1)
    report.log_axis(ax, "x")
    ax.set_xlabel(customer_label)
    ax.set_ylabel(firm_label)
    ax.legend(markerscale=3)
    return fig


def probability_alive_figure(frequency, recency, T, p_alive, customers: int | None = None):
    """P(alive) against recency, by frequency (the BTYD 'recency matters' picture). `customers`: the
    cohort's size when the arrays are already the evenly spaced sample of it (`clv.at_scale`)."""
    fig, ax = report.new_figure()
    t_x, T = np.asarray(recency, float), np.asarray(T, float)
    # A customer first seen on the last calibration day (T = 0) bought at the end: recency share 1.
    rel = np.divide(t_x, T, out=np.ones_like(T), where=T > 0)
    frame = pd.DataFrame({"x": np.minimum(np.asarray(frequency), 5), "rel": rel, "p": np.asarray(p_alive)})
    shown = frame.iloc[shown_points(len(frame))] if customers is None else frame
    _note_sample(ax, len(shown), len(frame) if customers is None else customers)
    for x, group in shown.groupby("x"):
        ax.scatter(group["rel"], group["p"], s=5, alpha=0.6, label=f"x = {x}{'+' if x == 5 else ''}")
    ax.set_xlabel("recency as share of observation time (t_x / T)")
    ax.set_ylabel("P(alive) at the end of calibration")
    ax.legend(markerscale=3)
    return fig


def histogram_band_figure(band: pd.DataFrame, unit: str, model: str, confidence: float = config.CONFIDENCE):
    """Customers by number of transactions: actual bars against the model's expectation with the band
    from parameter draws as error bars."""
    fig, ax = report.new_figure()
    positions = np.arange(len(band))
    ax.bar(positions - 0.2, band["actual"], width=0.4, color="black", label="actual")
    ax.bar(positions + 0.2, band["expected"], width=0.4, color="C0", label=f"{model} expected")
    ax.errorbar(positions + 0.2, band["expected"], yerr=[band["expected"] - band["lower"], band["upper"] - band["expected"]],
                fmt="none", ecolor="C3", capsize=3, lw=1.2, label=f"{confidence:.0%} band (parameter draws)")
    ax.set_xticks(positions, band.iloc[:, 0])
    ax.set_xlabel(unit)
    ax.set_ylabel("customers")
    ax.legend()
    return fig


def alive_figure(frame: pd.DataFrame, kind: str, confidence: float = config.CONFIDENCE):
    """P(alive) with bands: the history of chosen customers through calibration (`kind` "history", purchases
    marked), or P(alive) of each discrete-time pattern against recency, one line per frequency ("patterns")."""
    fig, ax = report.new_figure()
    if kind == "history":
        for i, (name, part) in enumerate(frame.groupby("customer", sort=False)):
            ax.plot(part["weeks"], part["p_alive"], color=f"C{i}", label=f"customer {name}")
            ax.fill_between(part["weeks"], part["lower"], part["upper"], color=f"C{i}", alpha=0.2, lw=0)
            jumps = part["repeat purchases"].diff().fillna(0) > 0
            ax.plot(part.loc[jumps, "weeks"], np.ones(int(jumps.sum())) * 1.02, "|", color=f"C{i}", ms=8)
        ax.set_xlabel("weeks since the customer's first purchase (ticks at the top: repeat purchases)")
    else:
        for i, (x, part) in enumerate(frame[frame["frequency"] > 0].groupby("frequency")):
            ax.errorbar(part["t_x"] + (i - 2.5) * 0.05, part["p_alive"],
                        yerr=[part["p_alive"] - part["lower"], part["upper"] - part["p_alive"]], marker="o", ms=3,
                        capsize=2, label=f"x = {x:g}")
        none = frame[frame["frequency"] == 0]
        if len(none):
            ax.scatter([0], none["p_alive"].iloc[:1], color="black", marker="s", label="x = 0")
        ax.set_xlabel("period of the last transaction (t_x)")
    ax.set_ylim(0, 1.06)
    ax.set_ylabel(f"P(alive), {confidence:.0%} band from parameter draws")
    ax.legend(fontsize=8)
    return fig


def heterogeneity_figure(frames: list, model: str, confidence: float = config.CONFIDENCE):
    """Densities of the model's mixing distributions at the estimates, with bands from parameter draws."""
    fig, axes = report.new_figure(ncols=len(frames))
    for ax, frame in zip(np.atleast_1d(axes), frames):
        a = frame.attrs
        ax.fill_between(frame["value"], frame["lower"], frame["upper"], color="C0", alpha=0.25, lw=0,
                        label=f"{confidence:.0%} band")
        ax.plot(frame["value"], frame["density"], color="C0", label=f"{a['kind']}({a['parameters'][0]}, {a['parameters'][1]})")
        ax.axvline(a["mean"], color="grey", lw=0.8, ls=":", label=f"mean {a['mean']:.3g}")
        ax.set_xlabel(a["label"])
        ax.set_ylabel("density")
        if a["kind"] == "gamma":
            report.log_axis(ax, "y")
        ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- one figure per report section
# Each takes the section that holds its numbers; a section that was not computed gives no figure
# (`report.section_figure`: its text says why), and the publish step gives it no number.

@report.section_figure
def dwyer_retention_figure(section):
    """Dwyer's retention path against every rate raised by the valued rise (`sections.dwyer_retention`)."""
    tables = section.frames
    return dwyer_figure(tables["retention"], tables["raised"],
                        other_label=f"+{tables['uplift']['uplift_points']:g} points", unit=tables["unit"])


@report.section_figure
def dwyer_migration_figure(section):
    """Dwyer's migration case next to the retention case (`sections.dwyer_retention`)."""
    tables = section.frames
    return dwyer_figure(tables["retention"], tables["migration"], label="retention case",
                        other_label="migration case", unit=tables["unit"])


@report.section_figure
def heterogeneity_section_figure(section, confidence: float = config.CONFIDENCE):
    return heterogeneity_figure(section.frames, section.results["heterogeneity_model"], confidence)


@report.section_figure
def histogram_section_figure(section, confidence: float = config.CONFIDENCE):
    return histogram_band_figure(section.band, section.unit, section.model, confidence)


@report.section_figure
def tracking_section_figure(section):
    return tracking_figure(section.tracking, section.calibration_weeks)


@report.section_figure
def conditional_section_figure(section, confidence: float = config.CONFIDENCE):
    return conditional_figure(section.by_frequency, band=section.band, band_model=section.band_model,
                              confidence=confidence)


@report.section_figure
def probability_alive_section_figure(value_section, summary: pd.DataFrame):
    table = value_section.clv_table
    if "customers" in table.attrs:               # the engine's sample of a cohort it summarised
        return probability_alive_figure(table["frequency"], table["recency"], table["T"], table["p_alive"],
                                        customers=table.attrs["customers"])
    return probability_alive_figure(summary["frequency"], summary["recency"], summary["T"], table["p_alive"])


@report.section_figure
def alive_section_figure(section, confidence: float = config.CONFIDENCE):
    return alive_figure(section.frames[0], section.kind, confidence)


@report.section_figure
def concentration_section_figure(section):
    if isinstance(section.customer_value, dict):     # curves evaluated by the engine (`clv.at_scale`)
        return concentration_figure(None, None, section.top_fraction, curves=section.customer_value)
    return concentration_figure(section.customer_value["revenue"], section.customer_value["profit"],
                                section.top_fraction)


@report.section_figure
def clv_distribution_section_figure(value_section, concentration):
    if isinstance(concentration.customer_value, dict):
        ranked = concentration.customer_value["ranked"]
        return clv_distribution_figure(None, pd.Series(pd.Categorical([], categories=list(
            value_section.clv_table.attrs.get("tiers", pd.unique(ranked["tier"].astype(str)))))), ranked=ranked)
    return clv_distribution_figure(concentration.customer_value["clv"], concentration.customer_value["tier"])


@report.section_figure
def quadrant_section_figure(section):
    return quadrant_figure(section.quadrant, "net predicted CLV (symlog scale)",
                           "expected purchases over the horizon (log scale, floor 0.01)")
