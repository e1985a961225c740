"""The relationship-states report's sections (see `crmresearch.sections`): each function takes the
`RelationshipAnalysis` that `relationship_states.analyse` computed and returns a `Section` (numbers for
results.json, a table, sentences from `relationship_states.text`, the source of its numbers and the
customers used). Nothing here fits a model or draws a random number.
"""

from __future__ import annotations

import pandas as pd

from ..sections import Lead, Section, failed, not_computed, table_spec
from . import text
from .analyse import RelationshipAnalysis


def _customers(a: RelationshipAnalysis) -> int:
    return int(len(a.fitted_ids) + len(a.holdout_ids))


def _no_fit(a: RelationshipAnalysis) -> Section | None:
    if a.chosen is None or not a.chosen.converged:
        fit = a.chosen
        return failed("the hidden Markov model", fit.tried if fit is not None else "nothing",
                      fit.reason if fit is not None else "no fit", rows_used=_customers(a))
    return None


def selection(a: RelationshipAnalysis) -> Section:
    """Fits by number of states: log-likelihood, parameters, AIC, BIC, holdout log-likelihood."""
    table = a.selection.drop(columns=["reason"])
    section = Section(results={"state_selection": a.selection, "model_settings": {
                          "responses": {k: str(v) for k, v in a.data.responses.items()},
                          "initial_covariates": list(a.data.initial_covariates),
                          "transition_covariates": list(a.data.transition_covariates),
                          "absorbing": bool(a.params.absorbing), "ordered": bool(a.params.ordered),
                          "customers_fitted": int(len(a.fitted_ids)), "customers_held_out": int(len(a.holdout_ids)),
                          "simulated": a.data.source == "simulated", "data": a.data.description}},
                      text=text.selection_text(a.selection, a.data.description), source=a.data.source,
                      rows_used=_customers(a), rows_dropped=a.data.rows_dropped,
                      heading=a.data.heading("how many hidden states"))
    shown = table.rename(columns={"loglik": "log-lik.", "holdout_loglik": "holdout log-lik.",
                                  "holdout_customers": "held out", "starts_reaching_best": "starts at best"})
    section.table = table_spec(shown, a.data.caption(
        f"Hidden Markov models with 1 to {int(table['states'].max())} states fitted to {len(a.fitted_ids):,} customers: "
        "log-likelihood, number of parameters, AIC, BIC (the number of customers as sample size), the log-likelihood "
        "of the held-out customers, and how many deterministic starts reached the best fit."),
        label="tbl-selection", decimals={"log-lik.": 1, "aic": 1, "bic": 1, "holdout log-lik.": 1})
    return section


def profiles(a: RelationshipAnalysis) -> Section:
    bad = _no_fit(a)
    if bad:
        return bad
    table = a.chosen.table(a.params.confidence)
    odds = text.transition_odds_ratios(table, a.data.binary_covariates)
    return Section(results={"state_profiles": a.profiles, "chosen_fit": a.chosen.as_dict(),
                            "chosen_parameters": table, "transition_odds_ratios": odds,
                            "fit_starts": a.chosen.starts},
                   text=text.profiles_text(a.profiles, a.data.purchase, a.data.spend), source=a.data.source,
                   rows_used=len(a.fitted_ids), note=a.chosen.note or None,
                   heading=a.data.heading("what each state looks like"),
                   table=table_spec(a.profiles, a.data.caption(
                       "Each state's share at the start and in the long run (stationary distribution) and its "
                       "responses on the natural scale (states ordered from least to most active)."),
                       label="tbl-profiles", decimals=3))


def transitions(a: RelationshipAnalysis) -> Section:
    bad = _no_fit(a)
    if bad:
        return bad
    conf = a.params.confidence
    wide = a.transitions[a.transitions["allowed"]].copy()
    wide["interval"] = [f"{lo:.3f}–{hi:.3f}" for lo, hi in zip(wide["lower"], wide["upper"])]
    shown = wide[["scenario", "from", "to", "probability", "interval"]]
    return Section(results={"transition_matrix": a.transitions}, text=text.transitions_text(a.transitions, conf),
                   source=a.data.source, rows_used=len(a.fitted_ids), heading=a.data.heading("moves between states"),
                   table=table_spec(shown, a.data.caption(
                       f"Transition probabilities from one period to the next with {conf:.0%} intervals from "
                       f"{a.params.parameter_draws:,} parameter draws; moves the model rules out are not listed."),
                       label="tbl-transitions", decimals=3))


def occupancy(a: RelationshipAnalysis) -> Section:
    bad = _no_fit(a)
    if bad:
        return bad
    return Section(results={"state_occupancy": a.occupancy}, text=text.occupancy_text(a.occupancy),
                   source=a.data.source, rows_used=_customers(a), heading=a.data.heading("states over time"))


def stages(a: RelationshipAnalysis) -> Section:
    if a.data.stage_column is None:
        return not_computed("the recency stages come from a transaction log; this panel has none.",
                            rows_used=_customers(a))
    bad = _no_fit(a)
    if bad:
        return bad
    table = a.crosstab
    shares = [c for c in table.columns if c.startswith("share_")]
    shown = table[["stage", *shares, "customer_months"]].rename(columns={c: c.removeprefix("share_") for c in shares})
    return Section(results={"stage_crosstab": table}, text=text.crosstab_text(table), source=a.data.source,
                   rows_used=_customers(a),
                   table=table_spec(shown, "Share of each recency stage's customer-months in each decoded state "
                                           "(most likely path), and the customer-months per stage.",
                                    label="tbl-stages", decimals=3))


def value(a: RelationshipAnalysis) -> Section:
    if a.data.purchase is None:
        return not_computed("no response is declared as the purchase (`purchase_response`), so value per state "
                            "is not defined.", rows_used=_customers(a))
    bad = _no_fit(a)
    if bad:
        return bad
    conf = a.params.confidence
    return Section(results={"state_values": a.values}, text=text.value_text(a.values, conf), source=a.data.source,
                   rows_used=len(a.fitted_ids), heading=a.data.heading("value by state"),
                   table=table_spec(a.values[["state", "per_period", "value", "lower", "upper"]], a.data.caption(
                       f"Expected value per period (purchase probability × mean spend) and discounted over the "
                       f"horizon for a customer now in each state, with {conf:.0%} intervals."),
                       label="tbl-values", decimals=2))


def recovery(a: RelationshipAnalysis) -> Section:
    if a.data.truth is None:
        return not_computed("the true parameters are known only for a simulated panel.", rows_used=_customers(a))
    if a.recovery is None:
        return not_computed((a.decoding or {}).get("reason", "the true model could not be fitted"),
                            rows_used=_customers(a))
    conf = a.params.confidence
    shown = a.recovery.rename(columns={"std_error": "std. error", "ci_lower": "lower", "ci_upper": "upper",
                                       "true_value": "truth"})
    return Section(results={"truth_recovery": a.recovery, "decoding_accuracy": a.decoding},
                   text=text.recovery_text(a.recovery, a.decoding, conf), source="simulated",
                   rows_used=len(a.fitted_ids), heading=a.data.heading("the truth recovered"),
                   table=table_spec(shown, a.data.caption(
                       f"Estimates of the model with the true number of states, {conf:.0%} intervals and the values "
                       "the simulation used."), label="tbl-recovery", decimals=3))


def finding(a: RelationshipAnalysis) -> str:
    return text.finding_text(a.selection, a.values, a.data.source)


def fit_summary(a: RelationshipAnalysis) -> pd.DataFrame | None:
    """The chosen fit's parameter table (estimation scale) for the appendix."""
    return None if a.chosen is None or not a.chosen.converged else a.chosen.table(a.params.confidence)


def lead(a: RelationshipAnalysis) -> Lead:
    """The report's findings first (`crmresearch.sections.Lead`), from the computed analysis."""
    fitted = a.chosen is not None and a.chosen.converged
    odds = (text.transition_odds_ratios(a.chosen.table(a.params.confidence), a.data.binary_covariates)
            if fitted else None)
    sentences = text.lead_sentences(a.selection, a.profiles if fitted else None, a.transitions if fitted else None,
                                    a.values if fitted and a.data.purchase is not None else None, a.data.purchase,
                                    a.params.confidence, a.decoding if a.data.truth is not None else None,
                                    getattr(a.data, "period_name", "month"), odds)
    return Lead(sentences, "simulated" if a.data.source == "simulated" else None)
