"""The top-box view and the satisfaction trap in counts.

* Top-box curve: share of customers giving the top loyalty answer (or promoters) at each
  satisfaction level, with Wilson intervals (Wilson 1927), and a logistic fit
  ``logit P(top | x) = α + βx`` with a delta-method band on the link scale.
* Jones & Sasser (1995) ratio: the outcome rate (repurchase or top-box loyalty) of the
  *completely satisfied* (satisfaction at the top of the scale) divided by that of the *merely
  satisfied* (satisfied but below the top); at Xerox it was about 6. Interval by Katz et al.
  (1978): ``log RR ± z √(1/a - 1/n₁ + 1/c - 1/n₂)``.
* NPS per satisfaction band (Reichheld 2003): %promoters − %detractors with its trinomial
  interval (``crmresearch.stats.net_promoter_score``).
* Trap counts (Bain's "65–85% of defectors were satisfied"): the share of
  satisfied customers who defect (or would not choose again) and the share of defectors who
  were satisfied, each with its Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import config
from .. import stats
from .curves import satisfaction_bands


def proportion_by_level(x, event, edges=None) -> pd.DataFrame:
    """Share of ``event`` per satisfaction level (or band when ``edges`` is given), Wilson interval."""
    x = np.asarray(x, float)
    event = np.asarray(event, bool)
    key = satisfaction_bands(x, edges) if edges is not None else x
    frame = pd.DataFrame({"level": key, "x": x, "event": event})
    g = frame.groupby("level", observed=False)
    out = pd.DataFrame({"n": g["event"].size(), "x_mean": g["x"].mean(), "events": g["event"].sum()})
    out["share"] = out["events"] / out["n"].where(out["n"] > 0)
    out["lower"], out["upper"] = stats.wilson_interval(out["events"].to_numpy(), out["n"].to_numpy())
    return out.reset_index()


def logistic_curve(x, event, grid, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """P(event | x) from ``logit P = α + βx``, with a pointwise band transformed from the link scale."""
    import statsmodels.api as sm

    x = np.asarray(x, float)
    event = np.asarray(event, bool)
    if event.all() or not event.any() or np.unique(x).size < 2:
        # No logistic slope can be fitted (all or none reach the outcome): the curve is the overall share.
        p = stats.proportion(event, confidence)
        grid = np.asarray(grid, float)
        return pd.DataFrame({"x": grid, "probability": p.estimate, "lower": p.lower, "upper": p.upper})
    res = sm.GLM(np.asarray(event, float), sm.add_constant(x), family=sm.families.Binomial()).fit()
    design = sm.add_constant(np.asarray(grid, float), has_constant="add")
    eta = design @ res.params
    se = np.sqrt(np.einsum("ij,jk,ik->i", design, res.cov_params(), design))
    z = sps.norm.ppf(0.5 + confidence / 2)
    expit = lambda v: 1 / (1 + np.exp(-v))
    return pd.DataFrame({"x": np.asarray(grid, float), "probability": expit(eta),
                         "lower": expit(eta - z * se), "upper": expit(eta + z * se)})


@dataclass(frozen=True)
class JonesSasserRatio:
    completely_satisfied: stats.Proportion
    merely_satisfied: stats.Proportion
    ratio: float
    lower: float
    upper: float

    @property
    def undefined_reason(self) -> str | None:
        """Why the ratio cannot be computed (None when it can)."""
        cs, ms = self.completely_satisfied, self.merely_satisfied
        if cs.n == 0:
            return "no respondent is completely satisfied"
        if ms.n == 0:
            return "no respondent is merely satisfied"
        if cs.successes == 0 and ms.successes == 0:
            return "no respondent in either group reaches the outcome"
        if ms.successes == 0:
            return "no merely satisfied respondent reaches the outcome (division by zero)"
        return None

    def as_dict(self) -> dict:
        undefined = self.undefined_reason
        return {"completely_satisfied": self.completely_satisfied.as_dict(),
                "merely_satisfied": self.merely_satisfied.as_dict(),
                "ratio": None if undefined else self.ratio, "ci_lower": None if undefined else self.lower,
                "ci_upper": None if undefined else self.upper, "undefined": undefined}


def risk_ratio(a: int, n1: int, c: int, n2: int, confidence: float = config.CONFIDENCE) -> tuple[float, float, float]:
    """(a/n1)/(c/n2) with the Katz log interval; 0.5 is added to every cell when a or c is 0."""
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan"), float("nan")
    if a == 0 or c == 0:
        a, c, n1, n2 = a + 0.5, c + 0.5, n1 + 1, n2 + 1
    rr = (a / n1) / (c / n2)
    se = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
    z = sps.norm.ppf(0.5 + confidence / 2)
    return float(rr), float(rr * np.exp(-z * se)), float(rr * np.exp(z * se))


def jones_sasser_ratio(satisfaction, outcome, top_level: float, satisfied_min: float,
                       confidence: float = config.CONFIDENCE) -> JonesSasserRatio:
    """Outcome rate of the completely satisfied (x ≥ top_level) over the merely satisfied
    (satisfied_min ≤ x < top_level)."""
    x = np.asarray(satisfaction, float)
    y = np.asarray(outcome, bool)
    complete = x >= top_level
    merely = (x >= satisfied_min) & ~complete
    p1, p2 = stats.proportion(y[complete], confidence), stats.proportion(y[merely], confidence)
    rr, lo, hi = risk_ratio(p1.successes, p1.n, p2.successes, p2.n, confidence)
    return JonesSasserRatio(p1, p2, rr, lo, hi)


def nps_by_band(satisfaction, recommendation, edges, promoter_min: float = stats.PROMOTER_MIN,
                detractor_max: float = stats.DETRACTOR_MAX, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """Net Promoter Score (or, off the 0-10 scale, the net top-box score) per satisfaction band, with its interval."""
    bands = satisfaction_bands(satisfaction, edges)
    rec = np.asarray(recommendation, float)
    rows = []
    for band in bands.categories:
        scores = rec[np.asarray(bands == band)]
        if scores.size == 0:
            rows.append({"band": band, "n": 0})
            continue
        nps = stats.net_promoter_score(scores, confidence, promoter_min=promoter_min, detractor_max=detractor_max)
        rows.append({"band": band, **nps.as_dict()})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TrapCounts:
    """The satisfaction trap as two conditional shares (module docstring)."""

    satisfied: int
    defectors: int
    satisfied_who_defect: stats.Proportion
    defectors_who_were_satisfied: stats.Proportion
    satisfied_share: stats.Proportion

    def as_dict(self) -> dict:
        return {"satisfied": self.satisfied, "defectors": self.defectors,
                "satisfied_who_defect": self.satisfied_who_defect.as_dict(),
                "defectors_who_were_satisfied": self.defectors_who_were_satisfied.as_dict(),
                "satisfied_share": self.satisfied_share.as_dict()}

    def table(self) -> pd.DataFrame:
        rows = [("satisfied customers who defect", self.satisfied_who_defect),
                ("defectors who were satisfied", self.defectors_who_were_satisfied),
                ("customers who are satisfied", self.satisfied_share)]
        return pd.DataFrame([{"share": name, "count": p.successes, "of": p.n, "estimate": p.estimate,
                              "ci_lower": p.lower, "ci_upper": p.upper} for name, p in rows])


def trap_counts(satisfied, defected, confidence: float = config.CONFIDENCE) -> TrapCounts:
    s = np.asarray(satisfied, bool)
    d = np.asarray(defected, bool)
    return TrapCounts(int(s.sum()), int(d.sum()), stats.proportion(d[s], confidence),
                      stats.proportion(s[d], confidence), stats.proportion(s, confidence))
