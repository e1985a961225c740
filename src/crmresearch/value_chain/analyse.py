"""Every fit and computation of the satisfaction-to-value report, in one call: `analyse(params)`.

It reads the data (a user's survey joined to their log, a simulated panel with known truth, or the
stated-intention bridge), fits the covariate models, values each satisfaction level and follows
the lifecycle route, and returns one `Analysis`; `value_chain.sections` turns it into the
report's sections and fits nothing, `value_chain.text` writes the sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import config
from .. import sections as sec
from .. import windows
from ..models.covariates import fit_bgnbd_covariates, fit_gamma_gamma_covariates, fit_pareto_nbd_covariates, prob_alive
from ..parameters.sources import relative_cutoff
from . import bridge as bridge_module
from . import data as data_module
from .design import CovariateDesign
from .marginal import ValueByLevel, value_by_level



LIFECYCLE_BRIDGE = ("the stated-intention bridge has no purchases of the surveyed customers, so their stages "
                    "cannot be followed")


RECONSTRUCTED_NOTE = ("the simulated panel's purchase dates are reconstructed from its summary (repeat purchases "
                      "uniform before the last one, holdout purchases uniform over the holdout)")


@dataclass
class Analysis:
    """Everything the sections need, computed once."""

    source: str                              # "data" | "simulated" (bridge: "data")
    route: str                               # "joined" | "simulated" | "bridge"
    data: data_module.ChainData | None = None
    design: CovariateDesign | None = None
    bands: CovariateDesign | None = None              # the band design of by-band tables (= design when banded)
    fits: dict = field(default_factory=dict)          # name -> CovariateFit
    nulls: dict = field(default_factory=dict)         # name -> covariate-free CovariateFit
    p_alive: np.ndarray | None = None
    value: ValueByLevel | None = None
    bridge: bridge_module.BridgeResult | None = None
    cutoff: float | None = None
    satisfied_from: float | None = None
    confidence: float = config.CONFIDENCE
    purchase_model: str = "BG/NBD"
    lifecycle: object = None                          # LifecycleRoute, or the reason it failed (str)

    @property
    def simulated(self) -> bool:
        return self.source == "simulated"

    def heading(self, title: str) -> str | None:
        return sec.simulated_heading(title) if self.simulated else None

    def caption(self, caption: str) -> str:
        return sec.simulated_caption(caption) if self.simulated else caption


def fit_models(data: data_module.ChainData, design: CovariateDesign, with_pareto: bool, dropout_on) -> tuple:
    """Covariate BG/NBD (and Pareto/NBD) and Gamma-Gamma with the satisfaction design, and covariate-free fits."""
    f = data.frame
    Z = design.transform(f)
    # each covariate-free fit is made once: it is the null of the report's tests and the covariate fit's start
    nulls = {"BG/NBD": fit_bgnbd_covariates(f["frequency"], f["recency"], f["T"])}
    fits = {"BG/NBD": fit_bgnbd_covariates(f["frequency"], f["recency"], f["T"], Z, Z, dropout_on=dropout_on,
                                           covariate_free=nulls["BG/NBD"])}
    if with_pareto:
        nulls["Pareto/NBD"] = fit_pareto_nbd_covariates(f["frequency"], f["recency"], f["T"])
        fits["Pareto/NBD"] = fit_pareto_nbd_covariates(f["frequency"], f["recency"], f["T"], Z, Z,
                                                       covariate_free=nulls["Pareto/NBD"])
    nulls["Gamma-Gamma"] = fit_gamma_gamma_covariates(f["frequency"], f["monetary_value"])
    fits["Gamma-Gamma"] = fit_gamma_gamma_covariates(f["frequency"], f["monetary_value"], Z,
                                                     covariate_free=nulls["Gamma-Gamma"])
    return {k: fits[k] for k in ("BG/NBD", "Pareto/NBD", "Gamma-Gamma") if k in fits}, nulls, Z


def analyse(params) -> Analysis:
    """Read the data, fit the models and value each satisfaction level (or run the bridge)."""
    if params.bridge is not None:
        result = bridge_module.stated_intention_bridge(
            params.bridge, params.margin, params.annual_discount_rate, params.confidence, params.parameter_draws,
            params.seed, params.intention_cutoff, params.band_edges, params.success_rate)
        return Analysis("data", "bridge", bridge=result, cutoff=result.settings["intention_cutoff"],
                        confidence=params.confidence)
    data = data_module.prepare(params)
    params = windows.apply(params, data.windows)       # the dates every later step uses
    design = data_module.design_for(data, params.satisfaction_design, params.band_edges)
    dropout_on = ("b",) if params.dropout_covariates_on == "b" else ("a", "b")
    fits, nulls, Z = fit_models(data, design, params.fit_pareto_nbd, dropout_on)
    purchase = "BG/NBD" if fits["BG/NBD"].converged or "Pareto/NBD" not in fits else "Pareto/NBD"
    if not fits[purchase].converged and "Pareto/NBD" in fits and fits["Pareto/NBD"].converged:
        purchase = "Pareto/NBD"
    f = data.frame
    alive = prob_alive(fits[purchase], f["frequency"], f["recency"], f["T"], Z, Z)
    value = value_by_level(fits[purchase], fits["Gamma-Gamma"], design, levels=data.levels,
                           horizon=params.clv_horizon_weeks, step=params.clv_step_weeks,
                           annual_discount_rate=params.annual_discount_rate, margin=params.margin,
                           success_rate=params.success_rate, confidence=params.confidence, n_draws=params.parameter_draws,
                           seed=params.seed, truth=data.truth)
    a = Analysis(data.source, "simulated" if data.truth is not None else "joined", data=data, design=design,
                 fits=fits, nulls=nulls, p_alive=alive, value=value, cutoff=data_module.intention_cutoff(data.scale, params.intention_cutoff),
                 satisfied_from=relative_cutoff(data.scale, "satisfied"), confidence=params.confidence,
                 purchase_model=purchase)
    a.bands = design if design.kind == "bands" else data_module.design_for(data, "bands", params.band_edges)
    try:
        a.lifecycle = lifecycle_route(a, params)
    except (ValueError, np.linalg.LinAlgError) as exc:     # reported in its section; the report goes on
        a.lifecycle = f"{type(exc).__name__}: {str(exc)[:200]}"
    return a


@dataclass
class LifecycleRoute:
    """Satisfaction in the stage-transition model and the Markov-chain value by satisfaction band."""

    effects: pd.DataFrame          # origin, destination, term, coef, se, p_value, odds_ratio (satisfaction terms)
    values: pd.DataFrame           # band, customers, rows, markov_value, repeat_buying_value
    agreement: dict
    settings: dict
    reconstructed: bool

    def results(self) -> dict:
        return {"effects": self.effects.to_dict("records"), "values": self.values.to_dict("records"),
                "agreement": self.agreement, "settings": self.settings, "reconstructed_log": self.reconstructed}


def lifecycle_route(a: Analysis, params) -> LifecycleRoute:
    """Monthly recency stages (the lifecycle report's rules), satisfaction bands as covariates of each origin
    stage's multinomial logit, and the Markov-chain value of a customer who has just bought, per band."""
    from ..lifecycle import (StageRules, assign_stages, estimate_transition_matrix, markov_chain_value,
                             stage_revenue)
    from ..lifecycle.covariates import mnlogit_by_origin

    d = a.data
    ids = set(d.frame["customer_id"])
    if d.log is not None:
        log = d.log.assign(customer_id=d.log["customer_id"].astype(str).str.strip())
        log = log[log["customer_id"].isin(ids)]
    else:
        log = data_module.log_from_summary(d.frame, params.calibration_end, d.holdout_weeks,
                                           np.random.default_rng(params.seed + 2))
    rules = StageRules()
    panel = assign_stages(log, rules, end=params.holdout_end)
    bands = a.bands
    per_row = d.frame.set_index("customer_id").reindex(panel.customer_ids[panel.customer])
    Z = bands.transform(per_row.reset_index(drop=True))[bands.satisfaction_columns]
    effects = mnlogit_by_origin(panel, Z)
    effects = effects[effects["term"] != "const"].reset_index(drop=True) if len(effects) else effects
    row_band = bands.band_of(per_row["satisfaction"].to_numpy())
    allowed = rules.allowed_transitions()
    monthly = (1 + params.annual_discount_rate) ** (1 / 12) - 1
    months = max(int(round(params.clv_horizon_weeks / 52 * 12)), 1)
    level_value = a.value.values.set_index("level")["value"] if a.value.computed else None
    rows = []
    for band in bands.band_names:                      # a loop over the few bands, not over customers
        mask = row_band == band
        if not mask.any():
            continue
        sub = panel.select(mask)
        P = estimate_transition_matrix(sub, allowed=allowed).probabilities
        empty = ~np.isfinite(P).all(axis=1)
        P = np.where(empty[:, None], np.eye(P.shape[0]), P)
        R = params.margin * np.nan_to_num(stage_revenue(sub))
        V = markov_chain_value(P, R, monthly, months)
        mean_sat = float(np.nanmean(per_row["satisfaction"].to_numpy()[mask]))
        repeat = (float(np.interp(mean_sat, level_value.index.to_numpy(float), level_value.to_numpy()))
                  if level_value is not None else float("nan"))
        rows.append({"band": band, "customers": int(np.unique(sub.customer).size), "customer_months": int(sub.n_rows),
                     "mean_satisfaction": mean_sat, "markov_value": float(V[0] - R[0]), "repeat_buying_value": repeat})
    values = pd.DataFrame(rows)
    mv, rv = values["markov_value"].to_numpy(), values["repeat_buying_value"].to_numpy()
    comparable = bool(np.isfinite(rv).all())
    agreement = {"same_order": bool(np.array_equal(np.argsort(mv, kind="stable"), np.argsort(rv, kind="stable")))
                 if comparable else None,
                 "markov_ratio": float(mv[-1] / mv[0]) if mv[0] > 0 else float("nan"),
                 "repeat_buying_ratio": float(rv[-1] / rv[0]) if rv[0] > 0 else float("nan"),
                 "correlation": float(np.corrcoef(mv, rv)[0, 1]) if len(values) > 2 and np.isfinite(rv).all() else None}
    settings = {"stages": list(rules.states), "recency_bounds_months": list(rules.recency_bounds),
                "horizon_months": months, "monthly_discount": monthly, "margin": params.margin,
                "start_stage": rules.states[0]}
    return LifecycleRoute(effects, values, agreement, settings, d.log is None)
