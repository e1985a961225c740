"""Loyalty types: attitude × behaviour, and why retention is not loyalty.

* Dick & Basu (1994, JAMS 22(2)): relative attitude (high/low) × repeat patronage (yes/no)
  gives true loyalty (high, yes), latent loyalty (high, no), spurious loyalty (low, yes) and
  no loyalty (low, no).
* Jones & Sasser (1995) satisfaction-loyalty map: apostles (satisfied, loyal), mercenaries
  (satisfied, not loyal), hostages (dissatisfied, loyal), defectors (dissatisfied, not loyal).
* The six sources of loyalty (monopoly, kinship, incentive, inertia, trust, latent) are simulated segments
  (`simulation.simulate_loyalty_sources`); their mean satisfaction and retention place them on
  the map.
* Switching-cost removal: the same simulated customers with and without the barrier (common
  random numbers), so every change in retention is caused by the barrier alone.
* Switching cost in a survey (`switching_cost_by_satisfaction`): loyalty regressed on SAT, a
  high-switching-cost indicator and their product (OLS, ``y = a + b SAT + c H + d SAT·H``), so
  ``d`` is how much the slope of loyalty on satisfaction differs when leaving is costly; and the
  outcome (retention or "would choose again") of the dissatisfied and satisfied in each group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import config
from .. import stats
from .simulation import MarketScenario, simulate_market
from .curves import binned_means
from .topbox import proportion_by_level

DICK_BASU_TYPES = ("true loyalty", "latent loyalty", "spurious loyalty", "no loyalty")
APOSTLE_TYPES = ("apostle", "mercenary", "hostage", "defector")


def _four_cells(first, second, names, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    a, b = np.asarray(first, bool), np.asarray(second, bool)
    masks = (a & b, a & ~b, ~a & b, ~a & ~b)
    rows = []
    for name, mask in zip(names, masks):
        p = stats.proportion(mask, confidence)
        rows.append({"type": name, "count": p.successes, "share": p.estimate, "ci_lower": p.lower,
                     "ci_upper": p.upper})
    return pd.DataFrame(rows)


def dick_basu(attitude_high, repeat, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """Counts and shares (Wilson intervals) of the four Dick & Basu loyalty types."""
    return _four_cells(attitude_high, repeat, DICK_BASU_TYPES, confidence)


def apostle_map(satisfied, loyal, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """Counts and shares (Wilson intervals) of apostles, mercenaries, hostages and defectors."""
    return _four_cells(satisfied, loyal, APOSTLE_TYPES, confidence)


def source_positions(frame: pd.DataFrame, satisfaction: str = "satisfaction", retained: str = "repurchased",
                     attitude_high: str | None = None, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
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


def switching_cost_removal(sc: MarketScenario, seed: int, satisfied_min: float, confidence: float = config.CONFIDENCE) -> dict:
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
            p = stats.proportion(df.loc[mask, "repurchased"].to_numpy(bool), confidence)
            rows.append({"market": label, "customers": group, "n": p.n, "retention": p.estimate,
                         "ci_lower": p.lower, "ci_upper": p.upper})
        curve = proportion_by_level(_rounded_level(df, sc), df["repurchased"].to_numpy(bool))
        curve.insert(0, "market", label)
        curves.append(curve)
    return {"with": with_barrier, "without": without, "table": pd.DataFrame(rows),
            "curves": pd.concat(curves, ignore_index=True)}


def competitiveness_curves(scenarios: dict[str, MarketScenario], seed: int,
                           confidence: float = config.CONFIDENCE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per scenario and rounded satisfaction level: retention (Wilson CI) and mean 'would choose again' (t CI)."""
    retention, stated = [], []
    for i, (name, sc) in enumerate(scenarios.items()):
        df = simulate_market(sc, seed + i)
        level = _rounded_level(df, sc)
        curve = proportion_by_level(level, df["repurchased"].to_numpy(bool))
        curve.insert(0, "scenario", name)
        retention.append(curve)
        edges = np.arange(sc.scale_low - 0.5, sc.scale_high + 1)
        means = binned_means(level, df["choose_again"].to_numpy(float), edges, confidence)
        means.insert(0, "scenario", name)
        stated.append(means)
    return pd.concat(retention, ignore_index=True), pd.concat(stated, ignore_index=True)


@dataclass(frozen=True)
class Estimate:
    estimate: float
    ci_lower: float
    ci_upper: float

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "ci_lower": self.ci_lower, "ci_upper": self.ci_upper}


@dataclass
class SwitchingCostEffect:
    """Loyalty on satisfaction by switching cost (module docstring) and the outcome by group."""

    n_low: int
    n_high: int
    high_min: float
    slope_low: Estimate
    slope_high: Estimate
    slope_difference: Estimate       # the interaction d
    table: pd.DataFrame              # switching cost x satisfied: n, outcome, interval
    outcome_label: str
    outcome_is_share: bool
    confidence: float

    def _cell(self, cost: str, group: str):
        row = self.table[(self.table["switching cost"] == cost) & (self.table["customers"] == group)]
        return float(row["outcome"].iloc[0]) if len(row) and row["n"].iloc[0] > 0 else None

    @property
    def dissatisfied_low(self):
        return self._cell("low", "dissatisfied")

    @property
    def dissatisfied_high(self):
        return self._cell("high", "dissatisfied")

    def as_dict(self) -> dict:
        return {"n_low": self.n_low, "n_high": self.n_high, "high_min": self.high_min,
                "slope_low": self.slope_low.as_dict(), "slope_high": self.slope_high.as_dict(),
                "slope_difference": self.slope_difference.as_dict(), "outcome": self.outcome_label,
                "by_group": self.table.to_dict(orient="records")}


def switching_cost_by_satisfaction(satisfaction, loyalty, switching_cost, outcome, high_min: float,
                                   satisfied_min: float, outcome_label: str, confidence: float = config.CONFIDENCE,
                                   min_group: int = 5) -> SwitchingCostEffect:
    """Slopes of loyalty on SAT for low and high switching cost, their difference with its interval,
    and ``outcome`` (0/1 retention: share with Wilson interval; else mean with t interval) per group."""
    import statsmodels.api as sm
    from scipy import stats as sps

    sat, loy = np.asarray(satisfaction, float), np.asarray(loyalty, float)
    high = np.asarray(switching_cost, float) >= high_min
    y = np.asarray(outcome, float)
    n_high, n_low = int(high.sum()), int((~high).sum())
    if min(n_high, n_low) < min_group:
        raise ValueError(f"{n_high} respondents have a high switching cost (≥ {high_min:g}) and {n_low} a low one; "
                         f"comparing them needs at least {min_group} in each")
    for group in (high, ~high):
        if np.unique(sat[group]).size < 2:
            raise ValueError("one switching-cost group has a single satisfaction value, so no slope can be estimated")
    design = np.column_stack([np.ones_like(sat), sat, high, sat * high])
    res = sm.OLS(loy, design).fit()
    t = sps.t.ppf(0.5 + confidence / 2, res.df_resid)
    cov = res.cov_params()

    def linear(c):
        est = float(c @ res.params)
        se = float(np.sqrt(c @ cov @ c))
        return Estimate(est, est - t * se, est + t * se)

    is_share = bool(np.isin(y, [0, 1]).all())
    rows = []
    satisfied = sat >= satisfied_min
    for cost, g in (("low", ~high), ("high", high)):
        for name, m in (("dissatisfied", ~satisfied), ("satisfied", satisfied)):
            vals = y[g & m]
            if is_share:
                p = stats.proportion(vals.astype(bool), confidence)
                est, lo, hi = p.estimate, p.lower, p.upper
            elif vals.size > 1:
                half = sps.t.ppf(0.5 + confidence / 2, vals.size - 1) * vals.std(ddof=1) / np.sqrt(vals.size)
                est, lo, hi = vals.mean(), vals.mean() - half, vals.mean() + half
            else:
                est = lo = hi = float(vals.mean()) if vals.size else float("nan")
            rows.append({"switching cost": cost, "customers": name, "n": int(vals.size), "outcome": est,
                         "ci_lower": lo, "ci_upper": hi})
    table = pd.DataFrame(rows)
    return SwitchingCostEffect(n_low, n_high, high_min, linear(np.array([0, 1, 0, 0.0])),
                               linear(np.array([0, 1, 0, 1.0])), linear(np.array([0, 0, 0, 1.0])), table,
                               outcome_label, is_share, confidence)
