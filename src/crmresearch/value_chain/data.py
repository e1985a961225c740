"""The report's data: a survey wave joined by customer id to the same customers' purchases.

A user's survey (`parameters.sources.SurveySource`, with `id_column`) and transaction log
(`TransactionSource`) are read as in the other reports; the log becomes frequency, recency, T,
mean repeat spend and holdout purchases per customer (`clv.rfm.rfm_summary`) and is joined to
the survey by id. Respondents without purchases in the cohort and buyers without a survey answer
are counted, never silently dropped. A simulated panel (`simulate.simulate_panel`) gives the same
frame with the truth that made it, plus stated intentions drawn around satisfaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import datasets, windows
from ..clv import rfm
from ..parameters.sources import Scale, relative_cutoff
from .design import CovariateDesign, satisfaction_design
from .simulate import PanelTruth, simulate_panel

SIMULATED_SCALE = Scale(low=1, high=10)


@dataclass
class ChainData:
    """Joined survey + purchase summary (one row per matched customer) and how the join went."""

    frame: pd.DataFrame           # customer_id, satisfaction, repurchase, recommendation, others, x, t_x, T, m, x_holdout
    scale: Scale
    source: str                   # "data" | "simulated"
    join: dict                    # survey_rows, transaction_customers, matched, survey_unmatched, log_unmatched
    others: list = field(default_factory=list)
    truth: PanelTruth | None = None
    alive: np.ndarray | None = None     # simulated: actually alive at the end of calibration
    holdout_weeks: float = 0.0
    log: pd.DataFrame | None = None
    windows: object = None              # `crmresearch.windows.Windows`: the dates and where they came from

    @property
    def levels(self) -> np.ndarray:
        """The whole answer points of the satisfaction scale."""
        return np.arange(np.ceil(self.scale.low), np.floor(self.scale.high) + 1)


def default_band_edges(scale: Scale) -> list[float]:
    """Bands: below "satisfied" (two thirds of the range), satisfied up to two below the top, the point
    below the top, the top (1-6, 7-8, 9, 10 on 1-10; 1-4, 5, 6, 7 on 1-7)."""
    satisfied = relative_cutoff(scale, "satisfied")
    edges = [scale.low, satisfied, scale.high - 1, scale.high, scale.high + 1]
    return sorted(set(float(e) for e in edges))


def intention_cutoff(scale: Scale, value: float | None) -> float:
    """Stated intention counts as yes from this answer up (default: the "satisfied" point of the scale)."""
    return float(value) if value is not None else relative_cutoff(scale, "satisfied")


def design_for(data: ChainData, kind: str, band_edges=None) -> CovariateDesign:
    edges = band_edges if band_edges is not None else default_band_edges(data.scale)
    return satisfaction_design(data.frame, "satisfaction", kind=kind, band_edges=edges, numeric=tuple(data.others))


def simulated_intentions(satisfaction: np.ndarray, noise_sd: float, rng: np.random.Generator, scale: Scale):
    """Stated 'would choose again' and 'would recommend' answers: satisfaction plus noise, on the scale."""
    shape = (2, satisfaction.size)
    stated = np.clip(np.rint(satisfaction[None, :] + rng.normal(0, noise_sd, shape)), scale.low, scale.high)
    return stated[0], stated[1]


def simulated_data(sim, seed: int) -> ChainData:
    """A joint panel with known truth (`PanelSimulation` block of the parameters)."""
    truth = PanelTruth(purchase_effect=tuple(sim.purchase_effect), dropout_b_effect=tuple(sim.dropout_b_effect),
                       spend_effect=tuple(sim.spend_effect), satisfaction_mean=sim.satisfaction_mean,
                       satisfaction_sd=sim.satisfaction_sd)
    panel = simulate_panel(sim.customers, truth, seed=seed)
    rng = np.random.default_rng(seed + 1)
    again, recommend = simulated_intentions(panel.survey["satisfaction"].to_numpy(), sim.intention_noise_sd, rng,
                                            SIMULATED_SCALE)
    frame = panel.summary.copy()
    frame.insert(1, "satisfaction", panel.survey["satisfaction"].to_numpy())
    frame.insert(2, "repurchase", again)
    frame.insert(3, "recommendation", recommend)
    frame.insert(4, "switching_cost", panel.survey["switching_cost"].to_numpy())
    n = len(frame)
    join = {"survey_rows": n, "transaction_customers": n, "matched": n, "survey_unmatched": 0, "log_unmatched": 0,
            "missing_satisfaction": 0}
    return ChainData(frame, SIMULATED_SCALE, "simulated", join, ["switching_cost"], truth,
                     panel.latent["alive"].to_numpy(), truth.holdout)


def load_survey(source, others=(), other_codes=()) -> pd.DataFrame:
    """customer_id, satisfaction (mean of its items), repurchase, recommendation and other measures."""
    if source.dataset:
        raw = source.load().rename(columns={"respondent_id": "_id"})
    else:
        raw = datasets.load_survey_columns(source.path, source.column_specs(), source.id_column,
                                           {c: list(other_codes) for c in others})
        raw = raw.rename(columns={"respondent_id": "_id"})
    out = pd.DataFrame({"customer_id": raw["_id"].astype(str).str.strip(),
                        "satisfaction": raw[list(source.satisfaction)].mean(axis=1, skipna=False),
                        "repurchase": raw[source.repurchase], "recommendation": raw[source.recommendation]})
    # how each missing answer was given (blank or a declared code), for the report's counts
    for measure, columns in (("satisfaction", list(source.satisfaction)), ("repurchase", [source.repurchase]),
                             ("recommendation", [source.recommendation])):
        out[f"{measure}_missing"] = datasets.missing_kind(raw, columns)
    for name in others:
        out[name] = raw[name]
    return out


def joined_data(params) -> ChainData:
    """The user's survey joined to the RFM summary of their log by customer id; the unmatched counted."""
    survey = load_survey(params.survey, params.other_measures, params.other_missing_codes)
    log = params.transactions.load()
    first, last = (log["date"].min(), log["date"].max()) if len(log) else (None, None)
    resolved = windows.resolve(params, first, last, dataset=params.transactions.dataset)
    params = windows.apply(params, resolved)
    summary = rfm.rfm_summary(log, params.calibration_end, params.holdout_end)
    summary = summary.reset_index()[["customer_id", "frequency", "recency", "T", "monetary_value",
                                     "frequency_holdout"]]
    summary["customer_id"] = summary["customer_id"].astype(str).str.strip()
    frame = survey.merge(summary, on="customer_id", how="inner", validate="one_to_one")
    matched = len(frame)
    join = {"survey_rows": int(len(survey)), "transaction_customers": int(len(summary)), "matched": int(matched),
            "survey_unmatched": int(len(survey) - matched), "log_unmatched": int(len(summary) - matched),
            "missing_satisfaction": int(frame["satisfaction"].isna().sum()),
            "missing": {m: datasets.missing_counts(frame[f"{m}_missing"])
                        for m in ("satisfaction", "repurchase", "recommendation")}}
    frame = frame[frame["satisfaction"].notna()].drop(columns=[f"{m}_missing" for m in
                                                              ("satisfaction", "repurchase", "recommendation")])
    frame = frame.reset_index(drop=True)
    holdout = (pd.Timestamp(params.holdout_end) - pd.Timestamp(params.calibration_end)).days / 7
    return ChainData(frame, params.survey.measure_scale("satisfaction"), "data", join, list(params.other_measures),
                     holdout_weeks=holdout, log=log, windows=resolved)


def prepare(params) -> ChainData | None:
    """The report's joined data (None for the stated-intention bridge, which has no joint file)."""
    if params.bridge is not None:
        return None
    if params.simulate is not None:
        data = simulated_data(params.simulate, params.seed)
        data.windows = windows.resolve(params, dataset="cdnow_sample")      # the panel imitates CDNOW's calendar
        return data
    return joined_data(params)


def data_files(params) -> dict:
    if params.bridge is not None:
        return {"survey": params.bridge.survey.file(), "transactions": params.bridge.transactions.file()}
    if params.simulate is not None:
        return {}
    return {"survey": params.survey.file(), "transactions": params.transactions.file()}


def log_from_summary(frame: pd.DataFrame, calibration_end, holdout_weeks: float, rng: np.random.Generator,
                     mean_spend: float | None = None) -> pd.DataFrame:
    """A daily transaction log consistent with a simulated panel's summary (for the lifecycle route).

    The first purchase is T weeks before `calibration_end`, the last repeat purchase at t_x; under
    the Poisson purchasing of the BG/NBD and Pareto/NBD the other x − 1 repeat purchases are
    uniform on (0, t_x). Holdout purchases are placed uniformly over the holdout (an approximation:
    a customer who dropped out during the holdout bought earlier in it). Every purchase is worth
    the customer's mean repeat spend (the population mean for customers without a repeat).
    """
    n = len(frame)
    end_day = pd.Timestamp(calibration_end).to_datetime64().astype("datetime64[D]").astype(np.int64)
    x = frame["frequency"].to_numpy(dtype=np.int64)
    t_x, T = frame["recency"].to_numpy(float), frame["T"].to_numpy(float)
    first = end_day - np.rint(7 * T).astype(np.int64)
    spend = frame["monetary_value"].to_numpy(float)
    fill = mean_spend if mean_spend is not None else float(np.nanmean(spend)) if np.isfinite(spend).any() else 1.0
    spend = np.where(np.isfinite(spend) & (spend > 0), spend, fill)
    customers = [np.arange(n), np.flatnonzero(x > 0)]
    days = [first, first[x > 0] + np.ceil(7 * t_x[x > 0] - 1e-9).astype(np.int64)]
    inner = np.repeat(np.arange(n), np.clip(x - 1, 0, None))
    customers.append(inner)
    days.append(first[inner] + np.ceil(7 * t_x[inner] * rng.uniform(size=inner.size)).astype(np.int64))
    holdout = frame["frequency_holdout"].to_numpy(dtype=np.int64) if "frequency_holdout" in frame else np.zeros(n, int)
    later = np.repeat(np.arange(n), holdout)
    customers.append(later)
    days.append(end_day + 1 + np.floor(7 * holdout_weeks * rng.uniform(size=later.size)).astype(np.int64))
    c, d = np.concatenate(customers), np.concatenate(days)
    return pd.DataFrame({"customer_id": frame["customer_id"].to_numpy()[c],
                         "date": pd.to_datetime(d.astype("datetime64[D]")), "amount": spend[c]})
