"""A joint simulation of a satisfaction survey and the same customers' purchases, with known truth.

Satisfaction is answered on a 1-10 scale with a ceiling: a latent normal judgement
N(`satisfaction_mean`, `satisfaction_sd`) rounded to the nearest point and clipped to [1, 10],
so the answers pile up at 10 (as survey answers near the top of a bounded scale do).
Satisfaction acts by band (default 1-6, 7-8, 9, 10; reference 1-6), nonlinearly, through the
covariate models of `covariates`: customer i in band g has

* purchase rate λ_i ~ Gamma(r, α0·exp(−β_g)) (mean rate × e^{β_g}),
* BG/NBD dropout p_i ~ Beta(a0·exp(γa_g), b0·exp(γb_g)) (or, for the Pareto/NBD, dropout rate
  μ_i ~ Gamma(s, β0·exp(−γ_g))),
* spend per transaction Gamma(p, ν_i), ν_i ~ Gamma(q, γ0·exp(δ_g)) (mean spend × e^{δ_g}).

Each band is drawn with the exact simulators of `crmresearch.clv.simulate` (a loop over the few
bands, never over customers), so the banded covariate model is the true model and its
coefficients are directly comparable with `PanelTruth.coefficients`. An optional second survey
measure (`switching_cost`, 1-7) has no effect, to show a covariate that should come out null.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..clv import simulate as clv_simulate
from .design import CovariateDesign, satisfaction_design

BANDS = (1, 7, 9, 10, 11)


@dataclass(frozen=True)
class PanelTruth:
    """The parameters of a simulated panel (band effects relative to the lowest band)."""

    model: str = "BG/NBD"
    purchase_base: tuple = (0.5, 6.0, 0.8, 2.5)   # (r, α0, a0, b0) or (r, α0, s, β0)
    spend_base: tuple = (6.0, 4.0, 15.0)          # (p, q, γ0)
    band_edges: tuple = BANDS
    purchase_effect: tuple = (0.0, 0.1, 0.3, 0.7)  # β_g by band (log of the mean-rate multiplier)
    dropout_a_effect: tuple = (0.0, 0.0, 0.0, 0.0)  # γa_g (BG/NBD) or γ_g (Pareto/NBD)
    dropout_b_effect: tuple = (0.0, 0.1, 0.5, 1.0)  # γb_g (BG/NBD only)
    spend_effect: tuple = (0.0, 0.05, 0.1, 0.2)    # δ_g
    satisfaction_mean: float = 7.8
    satisfaction_sd: float = 1.8
    weeks: float = 39.0
    acquisition_days: int = 84
    holdout: float = 39.0

    def design(self, survey: pd.DataFrame | None = None) -> CovariateDesign:
        """The banded design that matches the truth (reference: the lowest band)."""
        frame = survey if survey is not None else pd.DataFrame({"satisfaction": [1.0, 10.0]})
        return satisfaction_design(frame, "satisfaction", kind="bands", band_edges=self.band_edges)

    @property
    def coefficients(self) -> pd.Series:
        """True coefficients named as a banded fit names them (reference band left out)."""
        design = self.design()
        out = {}
        names = design.band_names
        blocks = ([("purchase", self.purchase_effect), ("dropout_a", self.dropout_a_effect),
                   ("dropout_b", self.dropout_b_effect)] if self.model == "BG/NBD"
                  else [("purchase", self.purchase_effect), ("dropout", self.dropout_a_effect)])
        for pname, effects in blocks:
            for band, value in zip(names[1:], effects[1:]):
                out[f"{pname}[sat[{band}]]"] = value
        for band, value in zip(names[1:], self.spend_effect[1:]):
            out[f"spend[sat[{band}]]"] = value
        return pd.Series(out, dtype=float)

    def level_parameters(self, levels) -> dict:
        """Exact natural parameters per satisfaction level: r, alpha, a, b (or s, beta), p, q, gamma."""
        band_index = np.searchsorted(np.asarray(self.band_edges, float), np.asarray(levels, float), side="right") - 1
        g = np.clip(band_index, 0, len(self.band_edges) - 2)
        r, alpha0, d1, d2 = self.purchase_base
        p, q, gamma0 = self.spend_base
        out = {"r": np.full(g.size, r), "alpha": alpha0 * np.exp(-np.asarray(self.purchase_effect)[g]),
               "p": np.full(g.size, p), "q": np.full(g.size, q),
               "gamma": gamma0 * np.exp(np.asarray(self.spend_effect)[g])}
        if self.model == "BG/NBD":
            out["a"] = d1 * np.exp(np.asarray(self.dropout_a_effect)[g])
            out["b"] = d2 * np.exp(np.asarray(self.dropout_b_effect)[g])
        else:
            out["s"] = np.full(g.size, d1)
            out["beta"] = d2 * np.exp(-np.asarray(self.dropout_a_effect)[g])
        return out

    def without_satisfaction_effect(self) -> "PanelTruth":
        zeros = (0.0,) * (len(self.band_edges) - 1)
        return replace(self, purchase_effect=zeros, dropout_a_effect=zeros, dropout_b_effect=zeros,
                       spend_effect=zeros)


@dataclass
class SimulatedPanel:
    """Survey answers, the purchase summary of the same customers, and the truth that made them."""

    survey: pd.DataFrame          # customer_id, satisfaction, switching_cost, band
    summary: pd.DataFrame         # customer_id, frequency, recency, T, monetary_value, frequency_holdout
    truth: PanelTruth
    latent: pd.DataFrame = field(repr=False, default=None)   # per-customer true rate, dropout, mean spend, alive


def simulate_panel(customers: int, truth: PanelTruth | None = None, seed: int = 20261130) -> SimulatedPanel:
    """Draw `customers` survey respondents and their purchases (calibration T, then `truth.holdout` weeks)."""
    truth = truth or PanelTruth()
    rng = np.random.default_rng(seed)
    latent = rng.normal(truth.satisfaction_mean, truth.satisfaction_sd, customers)
    satisfaction = np.clip(np.rint(latent), 1, 10)
    switching_cost = rng.integers(1, 8, customers).astype(float)
    T = truth.weeks - rng.integers(0, truth.acquisition_days, customers) / 7
    params = truth.level_parameters(satisfaction)
    edges = np.asarray(truth.band_edges, float)
    band = np.clip(np.searchsorted(edges, satisfaction, side="right") - 1, 0, edges.size - 2)
    columns = {k: np.zeros(customers) for k in ("frequency", "recency", "frequency_holdout", "monetary_value",
                                                 "rate", "dropout", "true_mean_spend")}
    alive = np.zeros(customers, dtype=bool)
    for g in np.unique(band):                       # a loop over the few bands, not over customers
        members = np.flatnonzero(band == g)
        i = members[0]
        if truth.model == "BG/NBD":
            theta = (params["r"][i], params["alpha"][i], params["a"][i], params["b"][i])
            d = clv_simulate.simulate_bgnbd(theta, T[members], truth.holdout, rng=rng)
        else:
            theta = (params["r"][i], params["alpha"][i], params["s"][i], params["beta"][i])
            d = clv_simulate.simulate_pareto_nbd(theta, T[members], truth.holdout, rng=rng)
            d = d.rename(columns={"death_rate": "dropout"})
        spend = clv_simulate.simulate_gamma_gamma((params["p"][i], params["q"][i], params["gamma"][i]),
                                                  d["frequency"].to_numpy(), rng=rng)
        for col in ("frequency", "recency", "frequency_holdout", "rate", "dropout"):
            columns[col][members] = d[col].to_numpy()
        columns["monetary_value"][members] = spend["monetary_value"].to_numpy()
        columns["true_mean_spend"][members] = spend["true_mean_spend"].to_numpy()
        alive[members] = d["alive"].to_numpy()
    ids = np.char.add("C", np.char.zfill(np.arange(customers).astype(str), len(str(customers))))
    names = np.asarray(truth.design().band_names, dtype=object)
    survey = pd.DataFrame({"customer_id": ids, "satisfaction": satisfaction, "switching_cost": switching_cost,
                           "band": names[band]})
    summary = pd.DataFrame({"customer_id": ids, "frequency": columns["frequency"].astype(int),
                            "recency": columns["recency"], "T": T, "monetary_value": columns["monetary_value"],
                            "frequency_holdout": columns["frequency_holdout"].astype(int)})
    latent_frame = pd.DataFrame({"customer_id": ids, "rate": columns["rate"], "dropout": columns["dropout"],
                                 "true_mean_spend": columns["true_mean_spend"], "alive": alive})
    return SimulatedPanel(survey=survey, summary=summary, truth=truth, latent=latent_frame)
