"""What a point of satisfaction is worth: expected discounted value by satisfaction level.

For a customer whose satisfaction is at level l (other survey measures at their mean or
reference), with the level's natural parameters from the covariate fits,

    V(l) = margin · E[spend | l] · Σ_{k=1}^{K} (E[X_l(kΔ)] − E[X_l((k−1)Δ)]) / (1+d)^k,

the expected discounted contribution of the repeat purchases of a customer who starts today
(Fader, Hardie & Lee 2005, JMR, in discrete steps, as `clv.predictions.customer_lifetime_value`
does per customer). E[X(t)] is the unconditional expected number of repeat transactions
(`models.bgnbd.bgnbd_expected_repeat` / `models.paretonbd.pareto_expected_repeat`, which broadcast over
levels and draws), E[spend | l] = p·γ_l/(q−1) the Gamma-Gamma mean spend per transaction, Δ the
step, K = horizon/Δ and d = (1 + annual rate)^(Δ/periods per year) − 1.

* The marginal value of one more point at level l is V(l+1) − V(l).
* The break-even spend per customer for raising satisfaction by one point from level l is
  `success_rate` · (V(l+1) − V(l)): the most a programme can cost per customer it targets if it
  lifts a share `success_rate` of them by one point and is to pay for itself over the horizon.
* Intervals are parametric (Krinsky & Robb 1986): parameter draws from the asymptotic normal of
  each fit (purchase and spend fits taken as independent), the value curve computed for every
  draw, and the percentile interval at the given confidence (draws with q ≤ 1, which have no
  finite mean spend, are left out and their share recorded in `settings`).
* The true curve of a simulated panel (`true_value_by_level`) is the same function evaluated at
  the simulation's exact parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import config
from ..models.bgnbd import bgnbd_expected_repeat
from ..models.paretonbd import pareto_expected_repeat
from ..models.covariates import CovariateFit
from .design import CovariateDesign

_NATURAL = {"alpha0": "alpha", "a0": "a", "b0": "b", "beta0": "beta", "gamma0": "gamma"}


def discount_per_step(annual_discount_rate: float, step: float, periods_per_year: float = 52.0) -> float:
    return (1 + annual_discount_rate) ** (step / periods_per_year) - 1


def level_values(model: str, params: dict, horizon: float, step: float, discount: float,
                 margin: float = 1.0) -> np.ndarray:
    """V(l) for natural parameters given per level (arrays of shape (levels,) or (draws, levels)).

    `params` has r, alpha, a, b (BG/NBD) or r, alpha, s, beta (Pareto/NBD), and p, q, gamma.
    """
    grid = np.arange(0, int(round(horizon / step)) + 1) * step
    p = {k: np.asarray(v, dtype=float)[..., None] for k, v in params.items()}
    if model == "BG/NBD":
        cumulative = bgnbd_expected_repeat((p["r"], p["alpha"], p["a"], p["b"]), grid)
    elif model == "Pareto/NBD":
        cumulative = pareto_expected_repeat((p["r"], p["alpha"], p["s"], p["beta"]), grid)
    else:
        raise ValueError(f"model must be 'BG/NBD' or 'Pareto/NBD' (got {model!r})")
    increments = np.diff(cumulative, axis=-1)
    weights = (1 + discount) ** -np.arange(1, grid.size)
    transactions = increments @ weights
    q = np.asarray(params["q"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        spend = np.where(q > 1, np.asarray(params["p"]) * np.asarray(params["gamma"]) / (q - 1), np.nan)
    return margin * spend * transactions


@dataclass
class ValueByLevel:
    """Value per satisfaction level and the marginal value of a point, with intervals (and truth if known)."""

    values: pd.DataFrame          # level, value, value_lower, value_upper[, true_value]
    marginal: pd.DataFrame        # from_level, to_level, marginal, lower, upper, break_even..., [true_marginal]
    settings: dict = field(default_factory=dict)
    computed: bool = True
    note: str | None = None

    @property
    def best_step(self) -> dict | None:
        """The one-point step with the largest estimated marginal value, with its interval."""
        if not self.computed or self.marginal.empty:
            return None
        row = self.marginal.loc[self.marginal["marginal"].idxmax()]
        return {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v) for k, v in row.items()}

    def results(self) -> dict:
        """Numbers for results.json: the settings, both tables as records, and the best step."""
        return {"settings": self.settings, "values": self.values.to_dict("records"),
                "marginal": self.marginal.to_dict("records"), "best_step": self.best_step,
                "computed": self.computed, "note": self.note}


def _natural(fit: CovariateFit, frame: pd.DataFrame, params=None) -> dict:
    return {_NATURAL.get(k, k): v for k, v in fit.natural_parameters(frame, params).items()}


def _tables(levels, point, draws, confidence, success_rate, true=None):
    tail = (1 - confidence) / 2
    levels = np.asarray(levels, dtype=float)
    values = pd.DataFrame({"level": levels, "value": point,
                           "value_lower": np.nanquantile(draws, tail, axis=0) if draws is not None else np.nan,
                           "value_upper": np.nanquantile(draws, 1 - tail, axis=0) if draws is not None else np.nan})
    step_point = np.diff(point)
    step_draws = np.diff(draws, axis=1) if draws is not None else None
    marginal = pd.DataFrame({"from_level": levels[:-1], "to_level": levels[1:], "marginal": step_point,
                             "lower": np.nanquantile(step_draws, tail, axis=0) if draws is not None else np.nan,
                             "upper": np.nanquantile(step_draws, 1 - tail, axis=0) if draws is not None else np.nan})
    marginal["break_even"] = success_rate * marginal["marginal"]
    marginal["break_even_lower"] = success_rate * marginal["lower"]
    marginal["break_even_upper"] = success_rate * marginal["upper"]
    if true is not None:
        values["true_value"] = true
        marginal["true_marginal"] = np.diff(true)
        marginal["true_inside"] = (marginal["true_marginal"] >= marginal["lower"] - 1e-12) & (
            marginal["true_marginal"] <= marginal["upper"] + 1e-12)
    return values, marginal


def true_value_by_level(truth, levels=range(1, 11), horizon: float = 104.0, step: float = 1.0,
                        annual_discount_rate: float = 0.1, periods_per_year: float = 52.0,
                        margin: float = 1.0) -> np.ndarray:
    """V(l) at the exact parameters of a simulated panel (`simulate.PanelTruth`)."""
    d = discount_per_step(annual_discount_rate, step, periods_per_year)
    return level_values(truth.model, truth.level_parameters(np.asarray(levels, float)), horizon, step, d, margin)


def value_by_level(purchase_fit: CovariateFit, spend_fit: CovariateFit, design: CovariateDesign,
                   levels=range(1, 11), horizon: float = 104.0, step: float = 1.0,
                   annual_discount_rate: float = 0.1, periods_per_year: float = 52.0, margin: float = 1.0,
                   success_rate: float = 1.0, confidence: float = config.CONFIDENCE, n_draws: int = 1000, seed: int = 20261130,
                   truth=None) -> ValueByLevel:
    """Expected discounted value per satisfaction level, marginal value of a point and break-even spend.

    `horizon` and `step` are in the models' time unit (weeks when `periods_per_year` = 52).
    With `truth` (a `simulate.PanelTruth`) the tables also carry the exact true values and
    whether each true marginal value lies inside its interval. A failed fit gives a result with
    `computed=False` and the reason in `note` (never an exception).
    """
    levels = np.asarray(list(levels), dtype=float)
    settings = {"horizon": horizon, "step": step, "annual_discount_rate": annual_discount_rate,
                "periods_per_year": periods_per_year, "margin": margin, "success_rate": success_rate,
                "confidence": confidence, "n_draws": n_draws, "seed": seed, "model": purchase_fit.name,
                "population": "a customer who starts today at the given satisfaction level (repeat purchases)"}
    failed = [f.name for f in (purchase_fit, spend_fit) if not f.converged]
    if failed:
        note = f"value by level not computed: the {' and '.join(failed)} fit did not converge"
        empty = pd.DataFrame(columns=["level", "value", "value_lower", "value_upper"])
        return ValueByLevel(empty, pd.DataFrame(columns=["from_level", "to_level", "marginal"]), settings, False, note)
    d = discount_per_step(annual_discount_rate, step, periods_per_year)
    frame = design.level_frame(levels)
    rng = np.random.default_rng(seed)

    def curve(purchase_params=None, spend_params=None):
        params = {**_natural(purchase_fit, frame, purchase_params), **_natural(spend_fit, frame, spend_params)}
        return level_values(purchase_fit.name, params, horizon, step, d, margin)

    point = curve()
    draws = curve(purchase_fit.draw(n_draws, rng), spend_fit.draw(n_draws, rng)) if n_draws else None
    if draws is not None:
        # a draw with q ≤ 1 has no finite mean spend; such draws are left out of the intervals
        settings["invalid_draw_share"] = float(np.mean(~np.all(np.isfinite(draws), axis=1)))
    true = None
    if truth is not None:
        true = true_value_by_level(truth, levels, horizon, step, annual_discount_rate, periods_per_year, margin)
    values, marginal = _tables(levels, point, draws, confidence, success_rate, true)
    return ValueByLevel(values, marginal, settings)
