"""Figures that agree with their text: labels computed from the numbers drawn, band labels that do not
overlap, legends that do not cover the data."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")

from crmresearch.satisfaction import plots  # noqa: E402
from crmresearch.satisfaction.curves import band_labels, satisfaction_bands  # noqa: E402


def test_band_labels_do_not_overlap():
    assert band_labels([1, 5, 6, 7, 10], whole_answers=True) == ["1–5", "6", "7", "8–10"]
    assert band_labels([0, 6, 8, 10], whole_answers=True) == ["0–6", "7–8", "9–10"]
    assert band_labels([1, 5, 6, 10], whole_answers=False) == ["1–5", "over 5 to 6", "over 6 to 10"]
    whole = satisfaction_bands([1, 5, 6, 9], [1, 5, 6, 10])
    assert list(whole) == ["1–5", "1–5", "6", "7–10"]
    means = satisfaction_bands([1.5, 5.5, 9.25], [1, 5, 6, 10])       # means of several items
    assert list(means) == ["1–5", "over 5 to 6", "over 6 to 10"]


def test_the_ceiling_label_states_what_the_bar_shows():
    """On a 0-100 index the last bar holds a whole bin (95-100), so the label gives the share exactly at
    100 and the share in the bin: both numbers match what is drawn."""
    rng = np.random.default_rng(3)
    y = np.r_[np.full(60, 100.0), rng.uniform(95, 99.9, 30), rng.uniform(0, 95, 910)]
    fit = SimpleNamespace(share_at_ceiling=float(np.mean(y >= 100)))
    binned = pd.DataFrame({"n": [2], "x_mean": [50.0], "mean": [50.0], "lower": [40.0], "upper": [60.0]})
    expected = pd.DataFrame({"x": [0.0, 100.0], "latent": [0.0, 100.0], "expected_answer": [0.0, 100.0]})
    fig = plots.plot_ceiling(y, y, binned, expected, fit, (0, 100))
    left = fig.axes[0]
    label = left.texts[0].get_text()
    last_bar = max(left.patches, key=lambda p: p.get_x()).get_height()
    assert label.startswith("6% at 100") and f"{last_bar:.0f}% in 95–100" in label and round(last_bar) == 9


def test_the_penalty_reward_legend_sits_above_the_bars():
    table = pd.DataFrame({"attribute": ["a", "b", "c"], "penalty": [-0.5, -0.2, -0.1], "reward": [0.1, 0.3, 0.6],
                          "penalty_se": [0.05] * 3, "reward_se": [0.05] * 3, "kano_class": ["basic"] * 3})
    fig = plots.plot_penalty_reward(table, {}, "loyalty")
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.y0 >= ax.get_window_extent().y1 - 1, "the legend is outside the plotting area, above it"


def test_log_axes_print_plain_numbers():
    """Mathtext is off (labels from data print as written), so log axes carry their own plain tick labels."""
    from crmresearch.clv import plots as clv_plots

    rng = np.random.default_rng(0)
    n = 400
    quadrant = pd.DataFrame({"quadrant": rng.choice(["strategic", "lost"], n), "customer_value": rng.lognormal(2, 2, n),
                             "firm_value": rng.normal(0, 50, n), "firm_threshold": 0.0, "customer_threshold": 5.0})
    fig = clv_plots.quadrant_figure(quadrant, "value to the firm", "value to the customer")
    fig.canvas.draw()
    labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert labels and not any("$" in t or "mathdefault" in t for t in labels), labels
