"""Every fit and computation of the relationship-states report, in one call: `analyse(params)`.

Customers are split once (seeded) into those the models are fitted to and a holdout share whose
log-likelihood under each fit checks the choice of the number of states; BIC chooses. The chosen fit
gives the state profiles, the transition matrix with intervals (parameter draws; a move whose
probability is at the boundary, 0 inside its likelihood-ratio interval, widens its row's intervals
to that interval instead of being held at its estimate), decoded state
shares over time, value per state, and (transaction data) a cross-tab against the recency stages
of the lifecycle report; a simulated panel adds the recovery of the true parameters and the
decoding accuracy. `relationship_states.sections` turns this into the report and fits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..models.hmm import LOGIT_CLIP, HiddenMarkovModel, select_states
from . import simulate
from .data import StatesData, load_data


@dataclass
class RelationshipAnalysis:
    params: object
    data: StatesData
    fitted_ids: np.ndarray
    holdout_ids: np.ndarray
    fits: dict
    selection: pd.DataFrame
    chosen: object                     # HMMResults or FailedFit (None when nothing fitted)
    transitions: pd.DataFrame | None
    profiles: pd.DataFrame | None
    occupancy: pd.DataFrame | None
    crosstab: pd.DataFrame | None
    values: pd.DataFrame | None
    recovery: pd.DataFrame | None
    decoding: dict | None

    @property
    def n_states(self) -> int | None:
        return None if self.chosen is None or not self.chosen.converged else self.chosen.K


def model_for(k: int, data: StatesData, params) -> HiddenMarkovModel:
    return HiddenMarkovModel(k, data.responses, initial_covariates=data.initial_covariates,
                             transition_covariates=data.transition_covariates, absorbing=params.absorbing and k >= 2,
                             ordered=params.ordered, n_starts=params.starts)


def split_customers(frame: pd.DataFrame, params, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Customers fitted (at most `max_customers`, a seeded sample) and customers held out."""
    ids = np.sort(frame["id"].unique())
    ids = ids[rng.permutation(ids.size)]
    n_holdout = int(round(params.holdout_share * ids.size))
    holdout, fitted = ids[:n_holdout], ids[n_holdout:]
    if fitted.size > params.max_customers:
        fitted = fitted[:params.max_customers]
    return np.sort(fitted), np.sort(holdout)


def fit_states(data: StatesData, fitted: pd.DataFrame, holdout: pd.DataFrame, params) -> tuple[dict, pd.DataFrame]:
    """One fit per number of states; BIC and holdout log-likelihood side by side."""
    fits, holdout_ll = {}, {}
    for k in params.states:
        fit = model_for(k, data, params).fit(fitted, id="id", period="period")
        fits[k] = fit
        holdout_ll[k] = fit.loglike(holdout) if fit.converged and len(holdout) else np.nan
    table = select_states(fits)
    table["holdout_loglik"] = table["states"].map(holdout_ll)
    table["holdout_customers"] = holdout["id"].nunique() if len(holdout) else 0
    table["starts_reaching_best"] = [int(np.sum(np.abs(f.starts["polished_loglik"].fillna(-np.inf) - f.llf) < 1e-3))
                                     if f.converged else 0 for f in fits.values()]
    return fits, table


def scenarios(data: StatesData) -> list[tuple[str, dict]]:
    """Covariate values the transition matrix is shown at: all 0, then each covariate at 1."""
    out = [("covariates at 0" if data.transition_covariates else "all periods", {})]
    out += [(f"{c} = 1", {c: 1.0}) for c in data.transition_covariates]
    return out


def boundary_widened(fit, func, lower, upper):
    """An interval from parameter draws (which hold parameters at a boundary at their estimates)
    widened to the prediction at both ends of each boundary parameter's likelihood-ratio interval
    (the infinite end as a logit of ±LOGIT_CLIP, a probability of 0 or 1 to e^-50)."""
    lower, upper = np.array(lower, float), np.array(upper, float)
    names = list(fit.params.index)
    for name, ends in getattr(fit, "boundary", {}).items():
        for end in ends:
            theta = fit.theta.copy()
            theta[names.index(name)] = float(np.clip(end, -LOGIT_CLIP, LOGIT_CLIP))
            value = np.asarray(func(fit.with_params(theta)), float)
            lower, upper = np.minimum(lower, value), np.maximum(upper, value)
    return lower, upper


def transition_table(fit, data: StatesData, params) -> pd.DataFrame:
    """Transition probabilities with intervals from parameter draws, for each covariate scenario; a
    move whose probability is at the boundary (0 inside its likelihood-ratio interval) widens its
    row's intervals to that likelihood-ratio interval."""
    rows = []
    K = fit.K
    for label, x in scenarios(data):
        def matrix(r, x=x):
            return r.transition_matrix(x).ravel()

        iv = fit.interval(matrix, method="draws", draws=params.parameter_draws, confidence=params.confidence,
                          seed=params.seed)
        iv.lower, iv.upper = boundary_widened(fit, matrix, iv.lower, iv.upper)
        for a in range(K):
            for b in range(K):
                i = a * K + b
                rows.append({"scenario": label, "from": f"S{a + 1}", "to": f"S{b + 1}",
                             "probability": float(iv.estimate[i]), "lower": float(iv.lower[i]),
                             "upper": float(iv.upper[i]), "allowed": bool(fit.model.allowed[a, b])})
    return pd.DataFrame(rows)


def profile_table(fit, data: StatesData) -> pd.DataFrame:
    profiles = fit.profiles()
    profiles.insert(0, "initial_share", fit.initial_probabilities())
    profiles.insert(1, "long_run_share", fit.stationary_distribution())
    profiles.index.name = "state"
    return profiles.reset_index()


def value_table(fit, data: StatesData, params) -> pd.DataFrame | None:
    """Expected discounted value of the next periods by current state, with intervals (draws)."""
    if data.purchase is None:
        return None
    spend = data.spend

    def value(r):
        return r.value_by_state(data.purchase, spend, params.discount_rate, params.value_horizon)

    iv = fit.interval(value, method="draws", draws=params.parameter_draws, confidence=params.confidence,
                      seed=params.seed + 1)
    iv.lower, iv.upper = boundary_widened(fit, value, iv.lower, iv.upper)
    per_period = fit.response_mean(data.purchase) * (fit.response_mean(spend) if spend else 1.0)
    return pd.DataFrame({"state": [f"S{k + 1}" for k in range(fit.K)], "per_period": per_period,
                         "value": iv.estimate, "lower": iv.lower, "upper": iv.upper,
                         "horizon": params.value_horizon, "discount_rate": params.discount_rate,
                         "in_spend": spend is not None})


def stage_crosstab(fit, data: StatesData, frame: pd.DataFrame) -> pd.DataFrame | None:
    """Customer-months by recency stage (rows) and decoded state (Viterbi), with row shares."""
    if data.stage_column is None:
        return None
    path = fit.viterbi(frame)
    ids = fit.panel_ids(frame)
    panel = fit.model.panel(frame, "id", "period")
    row = np.searchsorted(ids, frame["id"].to_numpy())
    col = frame["period"].to_numpy() - panel.start[row]
    state = path[row, col]
    table = pd.crosstab(pd.Categorical(frame[data.stage_column], categories=list(data.stage_labels)),
                        pd.Categorical([f"S{s + 1}" for s in state], categories=[f"S{k + 1}" for k in range(fit.K)]),
                        dropna=False)
    table.index.name, table.columns.name = "stage", None
    counts = table.reset_index()
    shares = table.div(table.sum(axis=1).replace(0, np.nan), axis=0)
    for c in shares.columns:
        counts[f"share_{c}"] = shares[c].to_numpy()
    counts["customer_months"] = table.sum(axis=1).to_numpy()
    return counts


def recovery_table(fits: dict, data: StatesData, params) -> tuple[pd.DataFrame | None, dict | None]:
    """The fit at the true number of states against the truth, and decoding accuracy (simulated)."""
    truth = data.truth
    if truth is None:
        return None, None
    fit = fits.get(truth["n_states"])
    if fit is None or not fit.converged:
        return None, {"reason": f"the {truth['n_states']}-state model was not fitted or did not converge"}
    table = fit.table(params.confidence)
    table["true_value"] = truth["theta"]
    table["inside"] = (table["ci_lower"] <= table["true_value"]) & (table["true_value"] <= table["ci_upper"])
    path = fit.viterbi(data.frame)
    ids = fit.panel_ids(data.frame)
    states = truth["states"][np.array([int(i[1:]) for i in ids])]
    inside = path >= 0
    decoding = {"viterbi_accuracy": float((path[inside] == states[:, :path.shape[1]][inside]).mean()),
                "customer_months": int(inside.sum()), "states": int(truth["n_states"])}
    post = fit.posterior(data.frame)
    decoding["posterior_accuracy"] = float((post.argmax(axis=2)[inside] == states[:, :path.shape[1]][inside]).mean())
    return table, decoding


def analyse(params) -> RelationshipAnalysis:
    rng = np.random.default_rng(params.seed)
    data = simulate.simulated_data(params.simulate, rng) if params.simulate is not None else load_data(params)
    fitted_ids, holdout_ids = split_customers(data.frame, params, rng)
    is_fitted = data.frame["id"].isin(fitted_ids)
    fitted = data.frame[is_fitted]
    holdout = data.frame[data.frame["id"].isin(holdout_ids)]
    fits, selection = fit_states(data, fitted, holdout, params)
    chosen_rows = selection[selection["chosen"]]
    chosen = fits[int(chosen_rows["states"].iloc[0])] if len(chosen_rows) else next(iter(fits.values()))
    transitions = profiles = occupancy = crosstab = values = None
    used = data.frame[data.frame["id"].isin(np.r_[fitted_ids, holdout_ids])]
    if chosen.converged:
        transitions = transition_table(chosen, data, params)
        profiles = profile_table(chosen, data)
        occupancy = chosen.occupancy(used)
        if data.period_labels:
            occupancy.insert(1, "label", occupancy["period"].map(data.period_labels))
        crosstab = stage_crosstab(chosen, data, used)
        values = value_table(chosen, data, params)
    recovery, decoding = recovery_table(fits, data, params)
    return RelationshipAnalysis(params=params, data=data, fitted_ids=fitted_ids, holdout_ids=holdout_ids, fits=fits,
                                selection=selection, chosen=chosen, transitions=transitions, profiles=profiles,
                                occupancy=occupancy, crosstab=crosstab, values=values, recovery=recovery,
                                decoding=decoding)
