"""Loyalty types: attitude × behaviour, and why retention is not loyalty.

* Dick & Basu (1994, JAMS 22(2)): relative attitude (high/low) × repeat patronage (yes/no)
  gives true loyalty (high, yes), latent loyalty (high, no), spurious loyalty (low, yes) and
  no loyalty (low, no).
* Jones & Sasser (1995) satisfaction-loyalty map: apostles (satisfied, loyal), mercenaries
  (satisfied, not loyal), hostages (dissatisfied, loyal), defectors (dissatisfied, not loyal).
* The seed's six sources of loyalty (domain.md §1) are simulated segments
  (`simulation.simulate_loyalty_sources`); their mean satisfaction and retention place them on
  the map.
* Switching-cost removal: the same simulated customers with and without the barrier (common
  random numbers), so every change in retention is caused by the barrier alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from .simulation import MarketScenario, simulate_market
from .curves import binned_means
from .topbox import proportion_by_level

DICK_BASU_TYPES = ("true loyalty", "latent loyalty", "spurious loyalty", "no loyalty")
APOSTLE_TYPES = ("apostle", "mercenary", "hostage", "defector")


def _four_cells(first, second, names) -> pd.DataFrame:
    a, b = np.asarray(first, bool), np.asarray(second, bool)
    masks = (a & b, a & ~b, ~a & b, ~a & ~b)
    rows = []
    for name, mask in zip(names, masks):
        p = stats.proportion(mask)
        rows.append({"type": name, "count": p.successes, "share": p.estimate, "ci_lower": p.lower,
                     "ci_upper": p.upper})
    return pd.DataFrame(rows)


def dick_basu(attitude_high, repeat) -> pd.DataFrame:
    """Counts and shares (Wilson intervals) of the four Dick & Basu loyalty types."""
    return _four_cells(attitude_high, repeat, DICK_BASU_TYPES)


def apostle_map(satisfied, loyal) -> pd.DataFrame:
    """Counts and shares (Wilson intervals) of apostles, mercenaries, hostages and defectors."""
    return _four_cells(satisfied, loyal, APOSTLE_TYPES)


def source_positions(frame: pd.DataFrame, satisfaction: str = "satisfaction", retained: str = "repurchased",
                     attitude_high: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Mean satisfaction (t interval) and retention rate (Wilson) of each loyalty source."""
    from scipy import stats as sps

    rows = []
    for name, g in frame.groupby("source", sort=False):
        sat = g[satisfaction].to_numpy(float)
        half = sps.t.ppf(0.5 + confidence / 2, sat.size - 1) * sat.std(ddof=1) / np.sqrt(sat.size)
        ret = stats.proportion(g[retained].to_numpy(bool), confidence)
        row = {"source": name, "n": sat.size, "satisfaction": sat.mean(), "satisfaction_lower": sat.mean() - half,
               "satisfaction_upper": sat.mean() + half, "retention": ret.estimate, "retention_lower": ret.lower,
               "retention_upper": ret.upper}
        if attitude_high is not None:
            row["attitude_high"] = float(g[attitude_high].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _rounded_level(df: pd.DataFrame, sc: MarketScenario) -> np.ndarray:
    return np.clip(np.rint(df["satisfaction"].to_numpy()), sc.scale_low, sc.scale_high)


def switching_cost_removal(sc: MarketScenario, seed: int, satisfied_min: float) -> dict:
    """Retention with the scenario's barrier and without it, overall and among the dissatisfied.

    Returns the two simulated samples, a summary table and retention-by-satisfaction curves
    (Wilson intervals throughout).
    """
    with_barrier = simulate_market(sc, seed)
    without = simulate_market(sc, seed, switching_cost=0.0)
    rows, curves = [], []
    for label, df in (("with switching cost", with_barrier), ("switching cost removed", without)):
        dissatisfied = (df["satisfaction"] < satisfied_min).to_numpy()
        for group, mask in (("all customers", np.ones(len(df), bool)), ("dissatisfied", dissatisfied),
                            ("satisfied", ~dissatisfied)):
            p = stats.proportion(df.loc[mask, "repurchased"].to_numpy(bool))
            rows.append({"market": label, "customers": group, "n": p.n, "retention": p.estimate,
                         "ci_lower": p.lower, "ci_upper": p.upper})
        curve = proportion_by_level(_rounded_level(df, sc), df["repurchased"].to_numpy(bool))
        curve.insert(0, "market", label)
        curves.append(curve)
    return {"with": with_barrier, "without": without, "table": pd.DataFrame(rows),
            "curves": pd.concat(curves, ignore_index=True)}


def competitiveness_curves(scenarios: dict[str, MarketScenario], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per scenario and rounded satisfaction level: retention (Wilson CI) and mean 'would choose again' (t CI)."""
    retention, stated = [], []
    for i, (name, sc) in enumerate(scenarios.items()):
        df = simulate_market(sc, seed + i)
        level = _rounded_level(df, sc)
        curve = proportion_by_level(level, df["repurchased"].to_numpy(bool))
        curve.insert(0, "scenario", name)
        retention.append(curve)
        edges = np.arange(sc.scale_low - 0.5, sc.scale_high + 1)
        means = binned_means(level, df["choose_again"].to_numpy(float), edges)
        means.insert(0, "scenario", name)
        stated.append(means)
    return pd.concat(retention, ignore_index=True), pd.concat(stated, ignore_index=True)
