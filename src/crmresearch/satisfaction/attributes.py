"""Basic vs. potential expectations: asymmetric (penalty-reward) effects of attribute performance.

Penalty-reward contrast analysis (Brandt 1987; Mittal, Ross & Baldasare 1998, Journal of
Marketing 62(1); Anderson & Mittal 2000): each attribute score is coded into two dummies,
``low_j = 1(score ≤ low_max)`` and ``high_j = 1(score ≥ high_min)`` (the middle is the
reference), and the outcome is regressed on all of them at once::

    y = α + Σ_j (π_j low_j + ρ_j high_j) + ε

``π_j`` (usually < 0) is the *penalty* of poor performance, ``ρ_j`` the *reward* of excellent
performance. The asymmetry ``A_j = ρ_j + π_j`` (reward minus the size of the penalty) is tested
by its Wald t-statistic, giving the Kano-style class (Kano et al. 1984; Matzler & Sauerwein 2002):

* basic / must-be: the penalty outweighs the reward (A_j < 0): diminishing marginal effect;
* attractive / excitement: the reward outweighs the penalty (A_j > 0): increasing marginal effect;
* performance / one-dimensional: no significant asymmetry, at least one effect significant;
* indifferent: neither penalty nor reward significant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import config
from .curves import binned_means

KANO_CLASSES = ("basic", "performance", "attractive", "indifferent")


def penalty_reward(attributes: pd.DataFrame, outcome, low_max: float, high_min: float,
                   alpha: float = 0.05, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """Penalties, rewards, asymmetry test and Kano class per attribute column (module docstring).

    Attributes with no answer in the low or the high group get no estimate for that side.
    """
    import statsmodels.api as sm

    y = np.asarray(outcome, float)
    cols, names = [], []
    for name in attributes.columns:
        score = attributes[name].to_numpy(float)
        for side, dummy in (("low", score <= low_max), ("high", score >= high_min)):
            if dummy.any() and not dummy.all():
                cols.append(dummy.astype(float))
                names.append((name, side))
    if not cols:
        raise ValueError(f"no attribute has answers both at or below {low_max:g} and above it, or at or above "
                         f"{high_min:g} and below it, so no penalty or reward can be estimated")
    design = sm.add_constant(np.column_stack(cols))
    res = sm.OLS(y, design).fit()
    params, cov = res.params[1:], res.cov_params()[1:, 1:]
    position = {key: i for i, key in enumerate(names)}
    crit = sps.t.ppf(1 - alpha / 2, res.df_resid)
    rows = []
    for name in attributes.columns:
        lo, hi = position.get((name, "low")), position.get((name, "high"))
        row = {"attribute": name,
               "share_low": float(np.mean(attributes[name] <= low_max)),
               "share_high": float(np.mean(attributes[name] >= high_min))}
        row["penalty"] = params[lo] if lo is not None else np.nan
        row["penalty_se"] = np.sqrt(cov[lo, lo]) if lo is not None else np.nan
        row["reward"] = params[hi] if hi is not None else np.nan
        row["reward_se"] = np.sqrt(cov[hi, hi]) if hi is not None else np.nan
        if lo is not None and hi is not None:
            asym = params[lo] + params[hi]
            se = np.sqrt(cov[lo, lo] + cov[hi, hi] + 2 * cov[lo, hi])
            t = asym / se
            row.update(asymmetry=asym, asymmetry_se=se, asymmetry_p=2 * sps.t.sf(abs(t), res.df_resid))
            penalty_sig = params[lo] / row["penalty_se"] < -crit
            reward_sig = params[hi] / row["reward_se"] > crit
            if row["asymmetry_p"] < alpha:
                row["kano_class"] = "basic" if asym < 0 else "attractive"
            elif penalty_sig or reward_sig:
                row["kano_class"] = "performance"
            else:
                row["kano_class"] = "indifferent"
        else:
            row.update(asymmetry=np.nan, asymmetry_se=np.nan, asymmetry_p=np.nan, kano_class="not classified")
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["z"] = float(sps.norm.ppf(0.5 + confidence / 2))
    return out


def attribute_response_curves(attributes: pd.DataFrame, outcome, edges) -> pd.DataFrame:
    """Mean outcome per attribute band, stacked over attributes (for the concave/convex curves)."""
    frames = []
    for name in attributes.columns:
        frame = binned_means(attributes[name].to_numpy(float), outcome, edges)
        frame.insert(0, "attribute", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def kano_summary(table: pd.DataFrame, alpha: float = 0.05, outcome: str = "loyalty") -> str:
    """One paragraph naming the basic and attractive attributes found (or saying none were)."""
    label = table["label"] if "label" in table else table["attribute"]
    named = {cls: ", ".join(label[table["kano_class"] == cls]) for cls in ("basic", "attractive")}
    counts = table["kano_class"].value_counts()
    parts = [f"{counts[c]} {c}" for c in (*KANO_CLASSES, "not classified") if c in counts]
    text = f"Classes at α = {alpha:g}: " + ", ".join(parts) + "."
    if named["basic"]:
        text += (f" Basic expectations: {named['basic']}; poor performance costs more {outcome} than excellent "
                 "performance adds, so raising them further from an already good level buys little (the trap).")
    if named["attractive"]:
        text += (f" Potential (attractive) expectations: {named['attractive']}; excellence adds more than "
                 f"poor performance costs, so these are the attributes that lift {outcome} above the average.")
    if not (named["basic"] or named["attractive"]):
        text += (" No attribute's penalty and reward differ significantly, so these data do not separate "
                 "basic from potential expectations.")
    return text
