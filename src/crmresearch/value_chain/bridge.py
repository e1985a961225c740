"""The stated-intention bridge: what a point of satisfaction is worth when no file joins survey and purchases.

Assumptions (each one printed in the report by `assumptions`):

1. The share of a satisfaction band that states it would choose the provider again (answer at or
   above the intention cut-off) is that band's yearly retention rate, divided by an overstatement
   factor k (stated intention overstates behaviour; Mittal & Kamakura 2001; Chandon, Morwitz &
   Reinartz 2005). The report shows k from 1 to 2 (`overstatement`).
2. While active, every customer buys like the average active customer of the fitted purchase
   log: 52·r/α repeat purchases a year (BG/NBD mean purchase rate), each worth the Gamma-Gamma
   mean spend p·γ/(q−1) — satisfaction moves retention only, not purchase rate or spend.
3. A customer is active in year 1, then retained from year to year with the band's rate:
   V_g = margin · A · Σ_{t=1}^{Y} ρ_g^{t−1} / (1+d)^t, with A the yearly revenue of an active customer.

Intervals combine the binomial uncertainty of each band's share (Jeffreys Beta draws) with the
parameter uncertainty of both fitted models (Krinsky & Robb draws).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import stats
from ..clv import rfm
from ..models.covariates import fit_bgnbd_covariates, fit_gamma_gamma_covariates
from .design import satisfaction_design
from .data import default_band_edges, intention_cutoff, load_survey


@dataclass
class BridgeResult:
    bands: pd.DataFrame            # band, respondents, mean_satisfaction, stated, lower, upper, value, value_lower, value_upper
    sensitivity: pd.DataFrame      # factor, then one column per band (value per customer)
    steps: pd.DataFrame            # from_band, to_band, points, gain, gain_lower, gain_upper, per_point, break_even...
    economics: dict
    settings: dict
    computed: bool = True
    note: str | None = None
    fits: dict = field(default_factory=dict)

    def results(self) -> dict:
        return {"bands": self.bands.to_dict("records"), "sensitivity": self.sensitivity.to_dict("records"),
                "steps": self.steps.to_dict("records"), "economics": self.economics, "settings": self.settings,
                "computed": self.computed, "note": self.note}


def assumptions(result: BridgeResult) -> list[str]:
    s, e = result.settings, result.economics
    return [
        f"A band's share answering at least {s['intention_cutoff']:g} to 'would choose the same provider again' "
        f"is its yearly retention rate divided by an overstatement factor (1 in the main table; "
        f"{', '.join(f'{k:g}' for k in s['overstatement'])} in the sensitivity table).",
        f"While active, a customer makes {e['purchases_per_year']:.2f} repeat purchases a year worth "
        f"{e['mean_spend']:.2f} each (the purchase log's fitted BG/NBD and Gamma-Gamma means); satisfaction "
        "moves only retention.",
        f"Every customer is active in year 1 and then kept year by year at the band's rate, over {s['years']} years, "
        f"discounted at {s['annual_discount_rate']:.0%} a year, at a margin of {s['margin']:.0%}.",
        "The survey's respondents and the log's customers are different people: the bridge borrows the economics "
        "of one market for the retention of another.",
    ]


def _value(annual, retention, years, discount):
    t = np.arange(1, years + 1)
    weights = np.asarray(retention, dtype=float)[..., None] ** (t - 1) / (1 + discount) ** t
    return np.asarray(annual, dtype=float) * weights.sum(axis=-1)


def stated_intention_bridge(bridge, margin: float, annual_discount_rate: float, confidence: float,
                            n_draws: int, seed: int, cutoff: float | None = None, band_edges=None,
                            success_rate: float = 1.0) -> BridgeResult:
    """Value per satisfaction band from stated intention (survey) and fitted purchase economics (log)."""
    survey = load_survey(bridge.survey)
    scale = bridge.survey.measure_scale("satisfaction")
    cut = intention_cutoff(bridge.survey.measure_scale("repurchase"), cutoff)
    edges = band_edges if band_edges is not None else default_band_edges(scale)
    design = satisfaction_design(survey, "satisfaction", kind="bands", band_edges=edges)
    survey = survey.dropna(subset=["satisfaction", "repurchase"])
    band = pd.Series(design.band_of(survey["satisfaction"].to_numpy()), index=survey.index)
    grouped = pd.DataFrame({"band": band, "sat": survey["satisfaction"], "yes": survey["repurchase"] >= cut})
    grouped = grouped[grouped["band"].notna()]
    table = grouped.groupby("band", sort=False).agg(respondents=("yes", "size"), stated_yes=("yes", "sum"),
                                                    mean_satisfaction=("sat", "mean"))
    table = table.reindex([b for b in design.band_names if b in set(grouped["band"])]).reset_index()
    table["stated"] = table["stated_yes"] / table["respondents"]
    table["lower"], table["upper"] = stats.wilson_interval(table["stated_yes"], table["respondents"], confidence)
    settings = {"intention_cutoff": cut, "overstatement": list(bridge.overstatement), "years": bridge.years,
                "annual_discount_rate": annual_discount_rate, "margin": margin, "confidence": confidence,
                "n_draws": n_draws, "seed": seed, "success_rate": success_rate, "band_edges": list(edges),
                "respondents": int(len(grouped)), "calibration_end": str(bridge.calibration_end)}

    log = bridge.transactions.load()
    summary = rfm.rfm_summary(log, bridge.calibration_end)
    bg = fit_bgnbd_covariates(summary["frequency"], summary["recency"], summary["T"])
    gg = fit_gamma_gamma_covariates(summary["frequency"], summary["monetary_value"])
    fits = {"BG/NBD": bg, "Gamma-Gamma": gg}
    failed = [f.name for f in (bg, gg) if not f.converged]
    if failed:
        note = f"the {' and '.join(failed)} fit of the purchase log did not converge"
        empty = pd.DataFrame()
        return BridgeResult(table, empty, empty, {"customers": int(len(summary))}, settings, False, note, fits)

    def annual(bg_params, gg_params):
        r, alpha = np.exp(bg_params[..., 0]), np.exp(bg_params[..., 1])
        p, q, gamma = (np.exp(gg_params[..., j]) for j in range(3))
        with np.errstate(divide="ignore", invalid="ignore"):
            spend = np.where(q > 1, p * gamma / (q - 1), np.nan)
        return 52 * r / alpha, spend

    rate, spend = annual(bg.params.to_numpy(), gg.params.to_numpy())
    A = margin * rate * spend
    d = annual_discount_rate
    rng = np.random.default_rng(seed)
    rate_draws, spend_draws = annual(bg.draw(n_draws, rng), gg.draw(n_draws, rng))
    A_draws = margin * rate_draws * spend_draws
    share_draws = rng.beta(table["stated_yes"].to_numpy() + 0.5,
                           table["respondents"].to_numpy() - table["stated_yes"].to_numpy() + 0.5,
                           size=(n_draws, len(table)))
    tail = (1 - confidence) / 2
    point = _value(np.full(len(table), A), table["stated"].to_numpy(), bridge.years, d)
    draws = _value(A_draws[:, None] * np.ones(len(table)), share_draws, bridge.years, d)
    table["value"] = point
    table["value_lower"] = np.nanquantile(draws, tail, axis=0)
    table["value_upper"] = np.nanquantile(draws, 1 - tail, axis=0)
    sens = {"factor": list(bridge.overstatement)}
    for j, name in enumerate(table["band"]):
        sens[name] = [float(_value(A, table["stated"].iloc[j] / k, bridge.years, d)) for k in bridge.overstatement]
    sensitivity = pd.DataFrame(sens)
    points = np.diff(table["mean_satisfaction"].to_numpy())
    gain, gain_draws = np.diff(point), np.diff(draws, axis=1)
    steps = pd.DataFrame({"from_band": table["band"].iloc[:-1].to_numpy(), "to_band": table["band"].iloc[1:].to_numpy(),
                          "points": points, "gain": gain, "gain_lower": np.nanquantile(gain_draws, tail, axis=0),
                          "gain_upper": np.nanquantile(gain_draws, 1 - tail, axis=0)})
    steps["per_point"] = steps["gain"] / steps["points"]
    steps["per_point_lower"] = steps["gain_lower"] / steps["points"]
    steps["per_point_upper"] = steps["gain_upper"] / steps["points"]
    steps["break_even"] = success_rate * steps["per_point"]
    steps["break_even_lower"] = success_rate * steps["per_point_lower"]
    steps["break_even_upper"] = success_rate * steps["per_point_upper"]
    economics = {"customers": int(len(summary)), "purchases_per_year": float(rate), "mean_spend": float(spend),
                 "annual_value_active": float(A), "bgnbd": bg.base.to_dict(), "gamma_gamma": gg.base.to_dict(),
                 "annual_value_lower": float(np.nanquantile(A_draws, tail)),
                 "annual_value_upper": float(np.nanquantile(A_draws, 1 - tail))}
    return BridgeResult(table, sensitivity, steps, economics, settings, True, None, fits)
