"""The sections of 04_satisfaction_to_value: from a survey wave to what a point of satisfaction is worth.

`analyse(params)` reads the data (a user's survey joined to their log, a simulated panel with
known truth, or the stated-intention bridge), fits the covariate models and computes the value
per satisfaction level once; each *section function* then returns a `crmresearch.sections.Section`
for one part of the report, and each *text function* (`*_text`) writes sentences from result
objects only, every clause conditional on the numbers it states.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import sections as sec
from .. import stats
from ..parameters.sources import relative_cutoff
from ..sections import Section, table_spec
from . import bridge as bridge_module
from . import data as data_module
from .covariates import (CovariateDesign, CovariateFit, fit_bgnbd_covariates, fit_gamma_gamma_covariates,
                         fit_pareto_nbd_covariates, likelihood_ratio_test, prob_alive)
from .marginal import ValueByLevel, value_by_level

LIFECYCLE_BRIDGE = ("the stated-intention bridge has no purchases of the surveyed customers, so their stages "
                    "cannot be followed")
RECONSTRUCTED_NOTE = ("the simulated panel's purchase dates are reconstructed from its summary (repeat purchases "
                      "uniform before the last one, holdout purchases uniform over the holdout)")


@dataclass
class MultiSection(Section):
    tables: list = field(default_factory=list)


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
    confidence: float = 0.95
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
    fits = {"BG/NBD": fit_bgnbd_covariates(f["frequency"], f["recency"], f["T"], Z, Z, dropout_on=dropout_on)}
    nulls = {"BG/NBD": fit_bgnbd_covariates(f["frequency"], f["recency"], f["T"])}
    if with_pareto:
        fits["Pareto/NBD"] = fit_pareto_nbd_covariates(f["frequency"], f["recency"], f["T"], Z, Z)
        nulls["Pareto/NBD"] = fit_pareto_nbd_covariates(f["frequency"], f["recency"], f["T"])
    fits["Gamma-Gamma"] = fit_gamma_gamma_covariates(f["frequency"], f["monetary_value"], Z)
    nulls["Gamma-Gamma"] = fit_gamma_gamma_covariates(f["frequency"], f["monetary_value"])
    return fits, nulls, Z


def analyse(params) -> Analysis:
    """Read the data, fit the models and value each satisfaction level (or run the bridge)."""
    if params.bridge is not None:
        result = bridge_module.stated_intention_bridge(
            params.bridge, params.margin, params.annual_discount_rate, params.confidence, params.n_draws,
            params.seed, params.intention_cutoff, params.band_edges, params.success_rate)
        return Analysis("data", "bridge", bridge=result, cutoff=result.settings["intention_cutoff"],
                        confidence=params.confidence)
    data = data_module.prepare(params)
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
                           success_rate=params.success_rate, confidence=params.confidence, n_draws=params.n_draws,
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


STATED_NAMES = {"stated_again": "stated again", "stated_recommend": "stated recommend",
                "bought_in_holdout": "bought in holdout", "p_alive": "P(alive)", "actually_alive": "truly alive",
                "response_bias": "bias"}
DECISION_NAMES = {"from_level": "from", "to_level": "to", "from_band": "from", "to_band": "to", "per_point": "per point",
                  "break_even": "break-even", "break_even_lower": "lower", "break_even_upper": "upper",
                  "true_break_even": "true break-even", "true_inside": "true inside"}
LIFECYCLE_NAMES = {"customer_months": "customer months", "mean_satisfaction": "mean satisfaction",
                   "markov_value": "Markov value", "repeat_buying_value": "repeat-buying value"}
JOIN_NAMES = {"mean_satisfaction": "mean satisfaction", "repeat_buyers": "share repeat", "mean_repeat_purchases":
              "mean x", "mean_spend": "mean spend"}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- 1. the data

def join_text(join: dict, scale_label: str, source: str) -> str:
    if source == "simulated":
        return (f"The simulated panel has **{_plural(join['matched'], 'customer')}**, each with a satisfaction "
                f"answer on a {scale_label} scale and their purchases; every survey id has a purchase history.")
    text = (f"The survey has **{_plural(join['survey_rows'], 'respondent')}** and the log's calibration cohort "
            f"**{_plural(join['transaction_customers'], 'customer')}**; **{join['matched']:,}** are in both. ")
    if join["survey_unmatched"]:
        text += (f"**{_plural(join['survey_unmatched'], 'survey id')}** had no purchase in the cohort and "
                 f"{'is' if join['survey_unmatched'] == 1 else 'are'} left out (counted, not guessed). ")
    else:
        text += "Every survey id was found in the log. "
    if join["log_unmatched"]:
        text += (f"{_plural(join['log_unmatched'], 'customer')} of the log did not answer the survey and "
                 f"{'is' if join['log_unmatched'] == 1 else 'are'} not part of this analysis. ")
    if join.get("missing_satisfaction"):
        text += f"{_plural(join['missing_satisfaction'], 'matched respondent')} left satisfaction blank. "
    return text.strip()


def satisfaction_table(frame: pd.DataFrame, design: CovariateDesign) -> pd.DataFrame:
    band = pd.Series(design.band_of(frame["satisfaction"].to_numpy()) if design.kind == "bands"
                     else np.full(len(frame), "all"), index=frame.index)
    g = frame.assign(band=band).groupby("band", sort=False)
    out = g.agg(customers=("satisfaction", "size"), mean_satisfaction=("satisfaction", "mean"),
                repeat_buyers=("frequency", lambda x: float((x > 0).mean())),
                mean_repeat_purchases=("frequency", "mean"), mean_spend=("monetary_value", "mean"))
    order = design.band_names if design.kind == "bands" else ["all"]
    return out.reindex([b for b in order if b in out.index]).reset_index()


def data_section(a: Analysis) -> Section:
    if a.route == "bridge":
        b = a.bridge
        text = (f"No file joins these survey answers to purchases, so the report *bridges* two data sets: the "
                f"survey's **{_plural(b.settings['respondents'], 'respondent')}** give the share that would choose "
                f"the provider again by satisfaction band, and the purchase log's "
                f"**{_plural(b.economics['customers'], 'customer')}** give the money. Every assumption is listed "
                "below.")
        assumptions = "\n".join(f"{i}. {s}" for i, s in enumerate(bridge_module.assumptions(b), 1)) if b.computed else ""
        return Section({"join": {"route": "bridge", "respondents": b.settings["respondents"],
                                 "log_customers": b.economics["customers"]}},
                       text + ("\n\n" + assumptions if assumptions else ""), source="data",
                       rows_used=b.settings["respondents"], note="stated-intention bridge: survey and log not joined")
    d = a.data
    table = table_spec(satisfaction_table(d.frame, a.bands).rename(columns=JOIN_NAMES),
                       a.caption("Matched customers by satisfaction band: how many, their mean satisfaction, the "
                                 "share with a repeat purchase in calibration, mean repeat purchases and mean "
                                 "repeat spend."), label="tbl-join",
                       decimals={"customers": 0, "mean satisfaction": 2, "share repeat": 2, "mean x": 2,
                                 "mean spend": 2})
    dropped = {k: v for k, v in (("survey id without purchases in the cohort", d.join["survey_unmatched"]),
                                 ("satisfaction missing", d.join["missing_satisfaction"])) if v}
    return Section({"join": d.join, "scale": {"low": d.scale.low, "high": d.scale.high}},
                   join_text(d.join, d.scale.label(), d.source), table, source=d.source,
                   rows_used=int(len(d.frame)), rows_dropped=dropped, heading=a.heading("the joined panel"))


# ---------------------------------------------------------------- 2. the covariate models

def coefficient_frame(fit: CovariateFit, confidence: float, truth: pd.Series | None = None) -> pd.DataFrame:
    t = fit.table(confidence)
    t = t[~t["parameter"].isin(fit.base_names)]
    out = pd.DataFrame({"parameter": t["parameter"], "estimate": t["estimate"],
                        "lower": t["ci_lower"], "upper": t["ci_upper"], "p_value": t["p_value"],
                        "multiplier": t["multiplier"]})
    if truth is not None:
        out["truth"] = truth.reindex(out["parameter"]).to_numpy()
    return out.reset_index(drop=True)


def models_text(tests: dict, failed: dict, confidence: float) -> str:
    sentences = []
    alpha = 1 - confidence
    for name, test in tests.items():
        p = test["p_value"]
        if not np.isfinite(p):
            continue
        verdict = "does" if p < alpha else "does not detectably"
        sentences.append(f"In the {name}, satisfaction {verdict} change {test['what']} (likelihood-ratio test "
                         f"against the model without covariates: χ² = {test['statistic']:.1f} on {test['df']} df, "
                         f"{stats.p_text(p)}).")
    for name, note in failed.items():
        sentences.append(f"*Model failed:* the {name} with covariates {note}.")
    return " ".join(sentences) if sentences else "No covariate model converged."


WHAT = {"BG/NBD": "purchasing and dropout", "Pareto/NBD": "purchasing and dropout", "Gamma-Gamma": "spend"}


def models_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        return MultiSection(**vars(sec.not_computed(
            "the stated-intention bridge has no file joining survey answers to purchases, so satisfaction cannot "
            "enter the purchase models as a covariate")))
    truth = a.data.truth.coefficients if a.data.truth is not None and a.design.kind == "bands" else None
    tests, failed, tables, results = {}, {}, [], {}
    for name, fit in a.fits.items():
        if not fit.converged:
            failed[name] = f"did not converge ({fit.error}); tried {len(fit.tried)} starts"
            results[f"model_{name}"] = {"converged": False, "error": fit.error, "tried": len(fit.tried)}
            continue
        test = likelihood_ratio_test(a.nulls[name], fit)
        tests[name] = {**test, "what": WHAT[name]}
        frame = coefficient_frame(fit, a.confidence, truth)
        results[f"model_{name}"] = {"converged": True, "n_customers": fit.n_customers, "loglike": fit.loglike,
                                    "base": fit.base.to_dict(), "coefficients": frame.to_dict("records"),
                                    "lr_test": test, "rows_dropped": fit.rows_dropped}
        tables.append(table_spec(frame, a.caption(
            f"{name} with satisfaction as covariates: coefficients ("
            + (f"log multipliers against the reference band {a.design.reference}" if a.design.kind == "bands" else
               "natural cubic spline of satisfaction: the value curve, not a single coefficient, carries the meaning")
            + f"), {a.confidence:.0%} intervals, p-values and multipliers"
            + ("; the simulation's true values in the last column." if truth is not None else ".")),
            label=f"tbl-coef-{name.lower().replace('/', '').replace('-', '')}",
            decimals={"estimate": 3, "lower": 3, "upper": 3, "p_value": 4, "multiplier": 3, "truth": 3}))
    source = a.source if tests else "failed"
    text = models_text(tests, failed, a.confidence)
    note = "; ".join(f"{k}: {v}" for k, v in failed.items()) or None
    return MultiSection({"models": results}, text, source=source, rows_used=int(len(a.data.frame)), note=note,
                        heading=a.heading("satisfaction in the purchase and spend models"), tables=tables)


# ---------------------------------------------------------------- 3. stated versus actual

def stated_actual_table(frame: pd.DataFrame, design: CovariateDesign, cutoff: float, p_alive: np.ndarray,
                        alive: np.ndarray | None) -> pd.DataFrame:
    band = design.band_of(frame["satisfaction"].to_numpy())
    d = pd.DataFrame({"band": band, "stated_again": (frame["repurchase"] >= cutoff).where(frame["repurchase"].notna()),
                      "stated_recommend": (frame["recommendation"] >= cutoff).where(frame["recommendation"].notna()),
                      "bought_in_holdout": (frame["frequency_holdout"] > 0).astype(float), "p_alive": p_alive})
    if alive is not None:
        d["actually_alive"] = alive.astype(float)
    g = d[d["band"].notna()].groupby("band", sort=False)
    out = g.mean(numeric_only=True)
    out.insert(0, "customers", g.size())
    out = out.reindex([b for b in design.band_names if b in out.index]).reset_index()
    out["response_bias"] = out["stated_again"] - out["p_alive"]
    return out


def trap_survival(table: pd.DataFrame) -> dict:
    """How much of the rise of stated intention from the lowest to the top band shows in behaviour."""
    first, last = table.iloc[0], table.iloc[-1]
    stated_rise = float(last["stated_again"] - first["stated_again"])
    alive_rise = float(last["p_alive"] - first["p_alive"])
    bought_rise = float(last["bought_in_holdout"] - first["bought_in_holdout"])
    ratio = alive_rise / stated_rise if abs(stated_rise) > 1e-9 else float("nan")
    return {"lowest_band": first["band"], "top_band": last["band"], "stated_rise": stated_rise,
            "p_alive_rise": alive_rise, "holdout_buying_rise": bought_rise, "share_surviving": ratio,
            "mean_response_bias": float(np.average(table["response_bias"], weights=table["customers"]))}


def segment_table(frame: pd.DataFrame, design: CovariateDesign, measure: str) -> pd.DataFrame:
    """Mittal & Kamakura (2001): holdout buying by satisfaction band in the low and high halves of a measure."""
    median = frame[measure].median()
    seg = np.where(frame[measure] > median, f"{measure} above {median:g}", f"{measure} at most {median:g}")
    d = pd.DataFrame({"band": design.band_of(frame["satisfaction"].to_numpy()), "segment": seg,
                      "bought": (frame["frequency_holdout"] > 0).astype(float)})
    out = d[d["band"].notna()].pivot_table(index="band", columns="segment", values="bought", aggfunc="mean")
    return out.reindex([b for b in design.band_names if b in out.index]).reset_index()


def segment_gap(frame: pd.DataFrame, design: CovariateDesign, measure: str) -> dict | None:
    """Holdout buying at the top band in the two halves of `measure`, with a two-proportion z-test."""
    top = design.band_of(frame["satisfaction"].to_numpy()) == design.band_names[-1]
    values = frame[measure].to_numpy(dtype=float)
    median = float(np.nanmedian(values))
    high = values > median
    bought = (frame["frequency_holdout"] > 0).to_numpy()
    n1, n2 = int((top & high).sum()), int((top & ~high & np.isfinite(values)).sum())
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = bought[top & high].mean(), bought[top & ~high & np.isfinite(values)].mean()
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = float(2 * sps.norm.sf(abs(p1 - p2) / se)) if se > 0 else float("nan")
    return {"measure": measure, "median": median, "band": design.band_names[-1], "high": f"{measure} above {median:g}",
            "low": f"{measure} at most {median:g}", "high_top": float(p1), "low_top": float(p2), "n_high": n1,
            "n_low": n2, "p_value": p_value}


def _points(x: float) -> str:
    return f"{abs(x) * 100:.0f} percentage point{'' if round(abs(x) * 100) == 1 else 's'}"


def stated_actual_text(survival: dict, segments: dict | None, confidence: float) -> str:
    s = survival

    def move(x):
        return ("rises by " if x > 0 else "falls by " if x < 0 else "stays level, ") + _points(x)

    text = (f"From the {s['lowest_band']} band to the {s['top_band']} band the share stating they would choose "
            f"again {move(s['stated_rise'])}, the model's P(alive) {move(s['p_alive_rise'])} and the share buying in "
            f"the holdout {move(s['holdout_buying_rise'])}. ")
    ratio = s["share_surviving"]
    if np.isfinite(ratio):
        if ratio < 0.5:
            text += (f"Only **{ratio:.0%}** of the intention gap survives in predicted survival: stated intentions "
                     "overstate what satisfaction does to behaviour. ")
        elif ratio <= 1.5:
            text += f"**{ratio:.0%}** of the intention gap survives in predicted survival. "
        else:
            text += (f"Predicted survival differs **{ratio:.1f} times** as much as stated intention: behaviour "
                     "responds to satisfaction more steeply than the answers suggest. ")
    bias = s["mean_response_bias"]
    if abs(bias) < 0.005:
        text += "Averaged over all customers, the stated share and P(alive) are about equal."
    else:
        text += (f"Averaged over all customers, the stated share is {_points(bias)} "
                 f"{'above' if bias > 0 else 'below'} P(alive)" + (" (response bias)." if bias > 0 else "."))
    if segments:
        differs = np.isfinite(segments["p_value"]) and segments["p_value"] < 1 - confidence
        text += (f" Same rating, different behaviour? In the {segments['band']} band, customers with "
                 f"{segments['high']} bought again in the holdout at {segments['high_top']:.0%} and those with "
                 f"{segments['low']} at {segments['low_top']:.0%}: "
                 + ("a difference beyond chance (p = " if differs else "no difference beyond chance (p = ")
                 + f"{segments['p_value']:.2g}; Mittal & Kamakura 2001).")
    return text


def stated_actual_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        b = a.bridge
        table = b.bands[["band", "respondents", "mean_satisfaction", "stated", "lower", "upper"]]
        top, low = table.iloc[-1], table.iloc[0]
        text = (f"The share stating they would choose the provider again (answer ≥ {a.cutoff:g}) is "
                f"{low['stated']:.0%} in the {low['band']} band and {top['stated']:.0%} in the {top['band']} band. "
                "No purchases of these respondents are observed, so how much of this survives in behaviour cannot "
                "be measured here: the value section treats it as retention with an overstatement factor.")
        spec = table_spec(table, f"Stated intention by satisfaction band with {a.confidence:.0%} Wilson intervals.",
                          label="tbl-stated", decimals={"respondents": 0, "mean_satisfaction": 2, "stated": 2,
                                                        "lower": 2, "upper": 2})
        return MultiSection({"stated_by_band": table}, text, source="data", rows_used=int(table["respondents"].sum()),
                            note="stated intention only: behaviour of these respondents not observed", tables=[spec])
    if not a.fits[a.purchase_model].converged:
        return MultiSection(**vars(sec.not_computed("no purchase model converged, so P(alive) is unknown")))
    d = a.data
    table = stated_actual_table(d.frame, a.bands, a.cutoff, a.p_alive, d.alive)
    survival = trap_survival(table)
    segments, tables = None, []
    tables.append(table_spec(table.rename(columns=STATED_NAMES), a.caption(
        f"Stated against actual by satisfaction band: share stating they would choose again and would recommend "
        f"(answer ≥ {a.cutoff:g}), share buying in the {d.holdout_weeks:.0f}-week holdout, mean P(alive) at the end of "
        "calibration (covariate model)" + (", share actually alive (the simulation knows)" if d.alive is not None
                                            else "") + " and the response bias (stated − P(alive))."),
        label="tbl-stated", decimals=2))
    if d.others:
        seg = segment_table(d.frame, a.bands, d.others[0])
        segments = segment_gap(d.frame, a.bands, d.others[0])
        tables.append(table_spec(seg, a.caption(f"Share buying in the holdout by satisfaction band, in the two halves "
                                                f"of {d.others[0]} (Mittal & Kamakura 2001: same rating, different "
                                                "behaviour)."), label="tbl-segments", decimals=2))
    return MultiSection({"stated_vs_actual": table, "trap_survival": survival, "segments": segments},
                        stated_actual_text(survival, segments, a.confidence), source=a.source, rows_used=int(table["customers"].sum()),
                        heading=a.heading("stated versus actual"), tables=tables)


# ---------------------------------------------------------------- 4. value per level

def trap_in_currency(a: Analysis) -> dict:
    """Expected value of the satisfied customers predicted to have left: Σ (1 − P(alive)) · V(satisfaction)."""
    f = a.data.frame
    v = a.value.values
    worth = np.interp(f["satisfaction"].to_numpy(), v["level"].to_numpy(), v["value"].to_numpy())
    satisfied = (f["satisfaction"] >= a.satisfied_from).to_numpy() & np.isfinite(a.p_alive)
    gone = 1 - a.p_alive[satisfied]
    return {"satisfied_from": a.satisfied_from, "satisfied_customers": int(satisfied.sum()),
            "expected_gone": float(gone.sum()), "share_gone": float(gone.mean()) if gone.size else float("nan"),
            "value_lost": float((gone * worth[satisfied]).sum()),
            "value_lost_per_customer": float((gone * worth[satisfied]).mean()) if gone.size else float("nan")}


def value_text(value: ValueByLevel, trap: dict | None, truth: dict | None) -> str:
    v = value.values
    low, high = v.iloc[0], v.iloc[-1]
    text = (f"A customer starting today at satisfaction {low['level']:g} is worth **{low['value']:,.2f}** "
            f"({value.settings['confidence']:.0%} interval {low['value_lower']:,.2f} to {low['value_upper']:,.2f}); at "
            f"{high['level']:g} **{high['value']:,.2f}** ({high['value_lower']:,.2f} to {high['value_upper']:,.2f}), "
            f"over {value.settings['horizon'] / 52:g} years discounted at {value.settings['annual_discount_rate']:.0%}. ")
    best = value.best_step
    if best is not None and best["marginal"] > 0:
        text += (f"A point is worth most from **{best['from_level']:g} to {best['to_level']:g}**: {best['marginal']:,.2f} "
                 f"per customer ({best['lower']:,.2f} to {best['upper']:,.2f}). ")
    elif best is not None:
        text += "No one-point step raises the expected value. "
    if truth is not None:
        text += (f"The true marginal value of a point lies inside its interval at **{truth['inside']} of "
                 f"{truth['steps']}** steps. ")
    if trap is not None and trap["satisfied_customers"]:
        text += (f"The satisfaction trap in currency: of {trap['satisfied_customers']:,} customers answering "
                 f"{trap['satisfied_from']:g} or more, an expected {trap['expected_gone']:,.0f} "
                 f"({trap['share_gone']:.0%}) have already left, taking an expected **{trap['value_lost']:,.0f}** of "
                 f"value with them ({trap['value_lost_per_customer']:,.2f} per satisfied customer).")
    return text.strip()


def bridge_value_text(b: bridge_module.BridgeResult) -> str:
    bands = b.bands
    low, high = bands.iloc[0], bands.iloc[-1]
    sens = b.sensitivity
    text = (f"Taking stated intention at face value, a customer in the {low['band']} band is worth "
            f"**{low['value']:,.2f}** ({b.settings['confidence']:.0%} interval {low['value_lower']:,.2f} to "
            f"{low['value_upper']:,.2f}) and one in the {high['band']} band **{high['value']:,.2f}** "
            f"({high['value_lower']:,.2f} to {high['value_upper']:,.2f}). ")
    if len(sens) > 1:
        worst = sens.iloc[-1]
        gap1 = sens.iloc[0][high["band"]] - sens.iloc[0][low["band"]]
        gapk = worst[high["band"]] - worst[low["band"]]
        text += (f"If intention overstates retention by a factor of {worst['factor']:g}, the gap between these bands "
                 f"{'shrinks' if gapk < gap1 else 'grows'} from {gap1:,.2f} to {gapk:,.2f}.")
    return text.strip()


def value_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        b = a.bridge
        if not b.computed:
            return MultiSection(**vars(sec.failed("the purchase log's BG/NBD or Gamma-Gamma", "the covariate-free "
                                                  "estimates and three other starts", b.note)))
        tables = [table_spec(b.bands[["band", "stated", "value", "value_lower", "value_upper"]],
                             f"Value per customer by satisfaction band (stated intention as retention, "
                             f"{b.settings['years']} years) with {b.settings['confidence']:.0%} intervals.",
                             label="tbl-value", decimals=2),
                  table_spec(b.sensitivity, "Sensitivity: value per customer by band when stated intention overstates "
                             "retention by the factor in the first column.", label="tbl-sensitivity", decimals=2)]
        return MultiSection({"bridge": b.results()}, bridge_value_text(b), source="data",
                            rows_used=b.settings["respondents"], note="stated-intention bridge; assumptions in the "
                            "data section", tables=tables)
    if not a.value.computed:
        return MultiSection(**vars(sec.failed("value by satisfaction level", "the purchase and spend fits",
                                              a.value.note)))
    v = a.value.values.copy()
    truth = None
    if "true_inside" in a.value.marginal:
        m = a.value.marginal
        truth = {"steps": int(len(m)), "inside": int(m["true_inside"].sum()), "all_inside": bool(m["true_inside"].all())}
    trap = trap_in_currency(a)
    spec = table_spec(v, a.caption(f"Expected discounted value of a customer starting at each satisfaction level "
                                   f"({a.purchase_model} and Gamma-Gamma with covariates) and its "
                                   f"{a.confidence:.0%} interval" + ("; the simulation's true value last."
                                                                     if truth else ".")),
                      label="tbl-value", decimals={"level": 0, "value": 2, "value_lower": 2, "value_upper": 2,
                                                   "true_value": 2})
    return MultiSection({"value_by_level": a.value.results(), "truth_recovery": truth, "trap_in_currency": trap},
                        value_text(a.value, trap, truth), source=a.source, rows_used=int(len(a.data.frame)),
                        heading=a.heading("value per satisfaction level"), tables=[spec])


# ---------------------------------------------------------------- 5. the lifecycle route

def lifecycle_text(route: LifecycleRoute, confidence: float) -> str:
    e, v, g = route.effects, route.values, route.agreement
    text = ""
    if len(e):
        sig = int((e["p_value"] < 1 - confidence).sum())
        text += (f"Of the {len(e)} satisfaction coefficients of the stage-transition model, **{sig}** "
                 f"{'is' if sig == 1 else 'are'} different from zero at the {confidence:.0%} level. ")
    else:
        text += "No origin stage had enough transitions for the multinomial logit. "
    low, high = v.iloc[0], v.iloc[-1]
    text += (f"By the Markov chain, a customer who has just bought is worth {low['markov_value']:,.2f} in the "
             f"{low['band']} band and {high['markov_value']:,.2f} in the {high['band']} band")
    if not np.isfinite(v["repeat_buying_value"]).all():
        return text + "; the repeat-buying route was not computed, so the two cannot be compared."
    text += (f" (repeat-buying route: {low['repeat_buying_value']:,.2f} and {high['repeat_buying_value']:,.2f}). ")
    if np.isfinite(g["markov_ratio"]) and np.isfinite(g["repeat_buying_ratio"]):
        close = abs(np.log(g["markov_ratio"] / g["repeat_buying_ratio"])) < np.log(1.25)
        text += (f"The routes {'agree' if g['same_order'] else 'disagree'} on the order of the bands, and the top band "
                 f"is worth {g['markov_ratio']:.2f} times the lowest by the chain against {g['repeat_buying_ratio']:.2f} "
                 f"times by the repeat-buying models ({'within' if close else 'more than'} a quarter of each other). ")
    text += ("The two routes value different things: the chain a customer who has just bought, in monthly "
             "recency stages with each band's average monthly revenue; the repeat-buying models a customer starting "
             "today.")
    return text


def lifecycle_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        return MultiSection(**vars(sec.not_computed(LIFECYCLE_BRIDGE)))
    if isinstance(a.lifecycle, str) or a.lifecycle is None:
        return MultiSection(**vars(sec.failed("the stage-transition route", "monthly recency stages with "
                                              "satisfaction bands as covariates", a.lifecycle or "not run")))
    route = a.lifecycle
    tables = []
    if len(route.effects):
        shown = route.effects[["origin", "destination", "term", "coef", "se", "p_value", "odds_ratio"]]
        tables.append(table_spec(shown, a.caption(
            "Satisfaction bands in the stage-transition model: multinomial logit per origin stage (base: staying), "
            "coefficients with customer-clustered standard errors, p-values and odds ratios."), label="tbl-lifecycle-mnl",
            decimals={"coef": 3, "se": 3, "p_value": 4, "odds_ratio": 3}))
    tables.append(table_spec(route.values.rename(columns=LIFECYCLE_NAMES), a.caption(
        f"Markov-chain value of a customer who has just bought (stage '{route.settings['start_stage']}', future "
        f"{route.settings['horizon_months']} months) per satisfaction band, beside the repeat-buying route's value at "
        "the band's mean satisfaction."), label="tbl-lifecycle-value",
        decimals={"customers": 0, "customer months": 0, "mean satisfaction": 2, "Markov value": 2,
                  "repeat-buying value": 2}))
    return MultiSection({"lifecycle_route": route.results()}, lifecycle_text(route, a.confidence), source=a.source,
                        rows_used=int(route.values["customers"].sum()),
                        note=RECONSTRUCTED_NOTE if route.reconstructed else None,
                        heading=a.heading("the lifecycle route"), tables=tables)


# ---------------------------------------------------------------- 6. the decision

def decision_text(steps: pd.DataFrame, from_col: str, to_col: str, unit: str) -> str:
    positive = steps[steps["break_even_lower"] > 0]
    best = steps.loc[steps["break_even"].idxmax()]
    text = (f"The most a programme may cost per targeted customer to pay for itself is highest for the step from "
            f"{unit} **{best[from_col]}** to **{best[to_col]}**: {best['break_even']:,.2f} "
            f"(interval {best['break_even_lower']:,.2f} to {best['break_even_upper']:,.2f}). ")
    if best["break_even_lower"] > 0:
        text += f"Its interval excludes zero: invest in customers at {unit} {best[from_col]}."
    elif len(positive):
        alt = positive.loc[positive["break_even"].idxmax()]
        text += (f"Its interval includes zero; the best step whose interval excludes zero is from {alt[from_col]} "
                 f"to {alt[to_col]} ({alt['break_even']:,.2f}).")
    else:
        text += "No step's interval excludes zero: the data do not single out a band to invest in."
    return text


def decision_section(a: Analysis) -> MultiSection:
    if a.route == "bridge":
        b = a.bridge
        if not b.computed:
            return MultiSection(**vars(sec.not_computed(f"the value per band was not computed ({b.note})")))
        steps = b.steps.copy()
        shown = steps[["from_band", "to_band", "points", "per_point", "break_even", "break_even_lower",
                       "break_even_upper"]]
        text = decision_text(steps.astype({"from_band": str, "to_band": str}), "from_band", "to_band", "band")
        spec = table_spec(shown.rename(columns=DECISION_NAMES), f"Break-even spend per customer for one more point of satisfaction between adjacent "
                          f"bands (stated intention at face value; success rate {b.settings['success_rate']:.0%}).",
                          label="tbl-decision", decimals=2)
        return MultiSection({"decision": shown}, text, source="data", rows_used=b.settings["respondents"],
                            note="stated-intention bridge", tables=[spec])
    if not a.value.computed:
        return MultiSection(**vars(sec.not_computed(f"the value per level was not computed ({a.value.note})")))
    m = a.value.marginal.copy()
    cols = ["from_level", "to_level", "marginal", "break_even", "break_even_lower", "break_even_upper"]
    if "true_marginal" in m:
        m["true_break_even"] = a.value.settings["success_rate"] * m["true_marginal"]
        cols += ["true_break_even", "true_inside"]
    shown = m[cols].copy()
    labels = m.assign(from_level=m["from_level"].map("{:g}".format), to_level=m["to_level"].map("{:g}".format))
    spec = table_spec(shown.rename(columns=DECISION_NAMES), a.caption(f"Break-even spend per customer for raising satisfaction by one point from each "
                                       f"level, with {a.confidence:.0%} intervals (success rate "
                                       f"{a.value.settings['success_rate']:.0%})"
                                       + ("; the true break-even spend and whether the true marginal value lies "
                                          "inside its interval." if "true_inside" in m else ".")),
                      label="tbl-decision", decimals={"from": 0, "to": 0, "marginal": 2, "break-even": 2, "lower": 2,
                                                      "upper": 2, "true break-even": 2})
    return MultiSection({"decision": shown}, decision_text(labels, "from_level", "to_level", "level"), source=a.source,
                        rows_used=int(len(a.data.frame)), heading=a.heading("the decision"), tables=[spec])


# ---------------------------------------------------------------- the finding

def finding_text(steps: pd.DataFrame, source: str, from_col: str, to_col: str, unit: str) -> str:
    """One line for the index page: where a point of satisfaction is worth most, and how sure that is."""
    best = steps.loc[steps["break_even"].idxmax()]
    sure = "interval excludes zero" if best["break_even_lower"] > 0 else "interval includes zero"
    prefix = "Simulated illustration: one" if source == "simulated" else "One"
    return (f"{prefix} more point of satisfaction is worth most from {unit} {best[from_col]} to {best[to_col]}, "
            f"where a programme may cost up to {best['break_even']:,.2f} per targeted customer "
            f"({best['break_even_lower']:,.2f} to {best['break_even_upper']:,.2f}; {sure}).")


def finding(decision: Section) -> str:
    if not decision.computed:
        return "The value of a point of satisfaction could not be computed: " + (decision.note or "see the report")
    steps = decision.results["decision"]
    if "from_level" in steps:
        steps = steps.assign(from_level=steps["from_level"].map("{:g}".format),
                             to_level=steps["to_level"].map("{:g}".format))
        return finding_text(steps, decision.source, "from_level", "to_level", "level")
    return finding_text(steps.astype({"from_band": str, "to_band": str}), decision.source, "from_band", "to_band",
                        "band")
