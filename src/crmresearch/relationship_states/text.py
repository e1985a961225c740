"""Sentences of the relationship-states report, from numbers only: each text function takes computed
tables (never the parameters) and every clause is conditional on what it states."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd


def selection_text(table: pd.DataFrame, description: str) -> str:
    ok = table[~table["failed"]]
    if ok.empty:
        return "No number of states could be fitted to these data."
    chosen = ok[ok["chosen"]].iloc[0]
    k = int(chosen["states"])
    parts = [f"Data: {description}. BIC is lowest with **{k} state{'s' if k != 1 else ''}** "
             f"(BIC {chosen['bic']:,.1f}, log-likelihood {chosen['loglik']:,.1f} with {int(chosen['df'])} parameters)."]
    others = ok[~ok["chosen"]]
    if len(others):
        gaps = ", ".join(f"{int(r['states'])} states +{r['bic'] - chosen['bic']:,.1f}" for _, r in others.iterrows())
        parts.append(f"The other fits' BIC differences: {gaps}.")
    if chosen["states"] == ok["states"].max() and len(ok) > 1:
        parts.append("The largest number tried is the choice, so more states might fit better still.")
    hold = ok.dropna(subset=["holdout_loglik"])
    if len(hold) > 1:
        best = hold.loc[hold["holdout_loglik"].idxmax()]
        same = int(best["states"]) == k
        parts.append(f"On the {int(best['holdout_customers']):,} held-out customers the log-likelihood is highest with "
                     f"{int(best['states'])} states" + (", the same choice." if same else
                                                         f", not {k}: the two criteria disagree, so the choice is not sharp."))
    failed = table[table["failed"]]
    if len(failed):
        parts.append("Not fitted: " + "; ".join(f"{int(r['states'])} states ({r['reason']})" for _, r in failed.iterrows())
                     + ".")
    return " ".join(parts)


def profiles_text(profiles: pd.DataFrame, purchase: str | None, spend: str | None) -> str:
    parts = []
    for _, row in profiles.iterrows():
        bits = [f"**{row['state']}**: {row['initial_share']:.0%} of customers start here, {row['long_run_share']:.0%} in the long run"]
        if purchase and f"{purchase}: probability" in row:
            bits.append(f"buys in a period with probability {row[f'{purchase}: probability']:.1%}")
        if spend and f"{spend}: mean" in row:
            bits.append(f"spends {row[f'{spend}: mean']:,.2f} on average when buying")
        parts.append(", ".join(bits) + ".")
    return " ".join(parts)


def transitions_text(table: pd.DataFrame, confidence: float) -> str:
    parts = []
    first = table["scenario"].iloc[0]
    base = table[(table["scenario"] == first) & table["allowed"]]
    stay = base[base["from"] == base["to"]]
    stays = ", ".join(f"{r['from']} {r['probability']:.1%} ({r['lower']:.1%}–{r['upper']:.1%})" for _, r in stay.iterrows())
    parts.append(f"Probability of staying in a state from one period to the next ({first}; {confidence:.0%} intervals "
                 f"from parameter draws): {stays}.")
    for scenario in table["scenario"].unique()[1:]:
        other = table[(table["scenario"] == scenario) & table["allowed"]]
        merged = base.merge(other, on=["from", "to"], suffixes=("", "_x"))
        ups = merged[merged["from"].str[1:].astype(int) < merged["to"].str[1:].astype(int)]
        downs = merged[merged["from"].str[1:].astype(int) > merged["to"].str[1:].astype(int)]
        for label, rows in (("up", ups), ("down", downs)):
            if rows.empty:
                continue
            higher = int((rows["probability_x"] > rows["probability"]).sum())
            shown = ", ".join(f"{a}→{b} {p:.1%} → {q:.1%}" for a, b, p, q in
                              zip(rows["from"], rows["to"], rows["probability"], rows["probability_x"]))
            parts.append(f"With {scenario}, {higher} of {len(rows)} moves {label} become more likely ({shown}).")
    return " ".join(parts)


def occupancy_text(occupancy: pd.DataFrame) -> str:
    states = [c for c in occupancy.columns if c.startswith("S") and c[1:].isdigit()]
    first, last = occupancy.iloc[0], occupancy.iloc[-1]
    label = "label" if "label" in occupancy else "period"
    moves = ", ".join(f"{s} {first[s]:.0%} → {last[s]:.0%}" for s in states)
    return (f"Decoded shares of the customers observed in each period, from period {first[label]} to {last[label]}: "
            f"{moves}. Shares are posterior state probabilities averaged over the customers present.")


def crosstab_text(table: pd.DataFrame) -> str:
    states = [c for c in table.columns if c.startswith("share_")]
    parts = []
    for _, row in table.iterrows():
        if row["customer_months"] == 0:
            continue
        top = max(states, key=lambda c: row[c])
        parts.append(f"{row['stage']}: {row[top]:.0%} in {top.removeprefix('share_')}")
    lowest = states[0]
    mono = np.all(np.diff(table.loc[table["customer_months"] > 0, lowest].to_numpy()) >= -1e-12)
    return ("Customer-months by recency stage and decoded state (most likely path): " + "; ".join(parts) + ". "
            + (f"The longer since the last purchase, the larger the share decoded to {lowest.removeprefix('share_')}, "
               "as expected if the least active state is the quiet end of the relationship; "
               if mono else "The share in the least active state does not rise steadily with recency; ")
            + "the hidden states use spend and the whole history, so they do not coincide with the rule's stages.")


def value_text(values: pd.DataFrame, confidence: float) -> str:
    parts = [f"{r['state']} {r['value']:,.2f} ({r['lower']:,.2f}–{r['upper']:,.2f})" for _, r in values.iterrows()]
    r0 = values.iloc[0]
    what = "spend" if bool(r0["in_spend"]) else "purchases"
    ordered = bool(np.all(np.diff(values["value"].to_numpy()) > 0))
    return (f"Expected discounted {what} over the next {int(r0['horizon'])} periods (discount {r0['discount_rate']:.1%} "
            f"per period) for a customer now in each state, {confidence:.0%} intervals from parameter draws: "
            + "; ".join(parts) + "." + (" Value rises from state to state." if ordered else
                                        " Value does not rise steadily across states."))


def recovery_text(table: pd.DataFrame, decoding: dict, confidence: float) -> str:
    inside = int(table["inside"].sum())
    return (f"Of the {len(table)} parameters of the true {decoding['states']}-state model, {inside} "
            f"({inside / len(table):.0%}) lie inside their {confidence:.0%} intervals (about {confidence:.0%} are "
            f"expected to). The most likely path matches the true state in {decoding['viterbi_accuracy']:.1%} of "
            f"{decoding['customer_months']:,} customer-months, the most probable state each month in "
            f"{decoding['posterior_accuracy']:.1%}.")


def finding_text(selection: pd.DataFrame, values: pd.DataFrame | None, source: str) -> str:
    ok = selection[~selection["failed"] & selection["chosen"]]
    if ok.empty:
        return "No hidden Markov model could be fitted to these data."
    k = int(ok["states"].iloc[0])
    text = f"BIC chooses {k} hidden relationship state{'s' if k != 1 else ''}"
    if values is not None and len(values) > 1:
        top, low = values.loc[values["value"].idxmax()], values.loc[values["value"].idxmin()]
        text += (f"; a customer now in the most valuable state ({top['state']}) is worth {top['value']:,.2f} over the "
                 f"horizon, one in the least valuable ({low['state']}) {low['value']:,.2f}")
    text += "."
    return ("Simulated illustration: " + text) if source == "simulated" else text


NO_INTERVAL = "no interval"


def _interval(lower: float, upper: float, value: float, fmt: str, confidence: float) -> str:
    """"95% interval a–b", or a note when the interval has no width (the fit's standard errors failed)."""
    if not (np.isfinite(lower) and np.isfinite(upper)) or upper - lower <= 1e-9 * max(1.0, abs(value)):
        return NO_INTERVAL
    return f"{confidence:.0%} interval {lower:{fmt}}–{upper:{fmt}}"


TRANSITION_TERM = re.compile(r"^transition\[(\w+)->(\w+)\]:(.+)$")


def transition_odds_ratios(parameters: pd.DataFrame, binary=()) -> pd.DataFrame:
    """Each covariate's effect on a move between states as an odds ratio (against staying) with its interval,
    from the fit's parameter table (multinomial logits: exp of the coefficient and of its bounds); `binary`
    names the covariates that are 0/1 in the data (`StatesData.binary_covariates`), marked in column `binary`."""
    rows = []
    for r in parameters.itertuples(index=False):
        m = TRANSITION_TERM.match(str(r.parameter))
        if m and m.group(3) != "const":
            rows.append({"from": m.group(1), "to": m.group(2), "covariate": m.group(3),
                         "odds_ratio": float(np.exp(r.estimate)), "lower": float(np.exp(r.ci_lower)),
                         "upper": float(np.exp(r.ci_upper)), "binary": m.group(3) in binary})
    return pd.DataFrame(rows, columns=["from", "to", "covariate", "odds_ratio", "lower", "upper", "binary"])


def odds_sentence(odds: pd.DataFrame | None, quiet: str | None, confidence: float, unit: str = "month") -> str | None:
    """The covariate effect on leaving the quietest state (else the clearest effect), in words: per presence of
    a 0/1 covariate (column `binary`), else per one unit more of it; the direction only when the interval
    excludes 1."""
    if odds is None or odds.empty:
        return None
    finite = odds[np.isfinite(odds["lower"]) & np.isfinite(odds["upper"]) & (odds["upper"] > odds["lower"])]
    if finite.empty:
        return None
    out_of_quiet = finite[finite["from"] == quiet] if quiet is not None else finite.iloc[0:0]
    pick = out_of_quiet if len(out_of_quiet) else finite
    r = pick.loc[(np.log(pick["odds_ratio"]).abs() / np.log(pick["upper"] / pick["lower"])).idxmax()]
    clear = r["lower"] > 1 or r["upper"] < 1
    binary = bool(r.get("binary", False))
    cause = f"A {r['covariate']}" if binary else f"A one-unit higher {r['covariate']}"
    when = f"in {unit}s with a {r['covariate']}" if binary else f"when {r['covariate']} is higher"
    return (f"{cause} in a {unit} goes with {r['odds_ratio']:.2f} times the odds of moving from {r['from']} "
            f"to {r['to']} ({confidence:.0%} interval {r['lower']:.2f}–{r['upper']:.2f})"
            + (f": customers make this move more often {when}." if clear and r["odds_ratio"] > 1 else
               f": customers make this move less often {when}." if clear else
               ": the data cannot tell whether it changes such moves."))


def lead_sentences(selection: pd.DataFrame, profiles: pd.DataFrame | None, transitions: pd.DataFrame | None,
                   values: pd.DataFrame | None, purchase: str | None, confidence: float, recovery: dict | None,
                   unit: str = "month", odds: pd.DataFrame | None = None) -> list:
    """The relationship-states report's findings in plain words: how many hidden states the data support,
    how differently customers in them buy, how sticky the quiet state is, and what a customer in each is worth."""
    ok = selection[~selection["failed"] & selection["chosen"]]
    if ok.empty:
        return ["No hidden Markov model could be fitted to these data, so no relationship states are reported."]
    k = int(ok["states"].iloc[0])
    tried = int(selection.loc[~selection["failed"], "states"].max())
    out = [f"The customers' behaviour is best described by {k} hidden relationship state{'s' if k != 1 else ''} (BIC)"
           + (", the largest number tried, so more states may fit better still." if k == tried and k > 1 else ".")]
    column = f"{purchase}: probability" if purchase else None
    if profiles is not None and column in profiles and len(profiles) > 1:
        low, high = profiles.loc[profiles[column].idxmin()], profiles.loc[profiles[column].idxmax()]
        out.append(f"Customers in the most active state ({high['state']}) buy in {high[column]:.0%} of {unit}s, those in "
                   f"the quietest ({low['state']}) in {low[column]:.1%}; in the long run {low['long_run_share']:.0%} of "
                   f"customers are in the quietest state.")
        if transitions is not None:
            stay = transitions[(transitions["from"] == low["state"]) & (transitions["to"] == low["state"])]
            if len(stay):
                r = stay.iloc[0]
                out.append(f"A customer in the quiet state stays there from one {unit} to the next with probability "
                           f"{r['probability']:.1%} ({_interval(r['lower'], r['upper'], r['probability'], '.1%', confidence)}): "
                           + ("once quiet, customers rarely come back on their own." if r["probability"] > 0.9 else
                              "quiet customers often move on."))
    if values is not None and len(values) > 1:
        top, low = values.loc[values["value"].idxmax()], values.loc[values["value"].idxmin()]
        out.append(f"A customer now in {top['state']}, the most valuable state, is worth {top['value']:,.0f} over the next "
                   f"{int(top['horizon'])} {unit}s ({_interval(top['lower'], top['upper'], top['value'], ',.0f', confidence)}), "
                   f"one in {low['state']}, the least valuable, {low['value']:,.0f} "
                   f"({_interval(low['lower'], low['upper'], low['value'], ',.0f', confidence)}).")
    quiet = None
    if profiles is not None and column in profiles and len(profiles) > 1:
        quiet = profiles.loc[profiles[column].idxmin(), "state"]
    effect = odds_sentence(odds, quiet, confidence, unit)
    if effect:
        out.append(effect)
    if any(f"({NO_INTERVAL})" in s or f"({NO_INTERVAL}, " in s for s in out):
        out.append("The numbers marked 'no interval' have none because the fit's standard errors could not be "
                   "computed; read them as point estimates only.")
    if recovery:
        out.append(f"The most likely path matches the simulated true state in {recovery['viterbi_accuracy']:.0%} of "
                   f"customer-{unit}s." if "viterbi_accuracy" in recovery else "")
    return [s for s in out if s]
