"""Sentences of the satisfaction-to-value report, from numbers only: each text function takes
computed tables and records (never the parameters) and every clause is conditional on what it states."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .. import config, stats
from . import bridge as bridge_module
from .analyse import LifecycleRoute
from .marginal import ValueByLevel


PROCESS_WORDS = {"purchase": "purchase rate", "dropout_a": "dropout (a)", "dropout_b": "dropout", "spend": "spend",
                 "dropout": "dropout"}
COEFFICIENT_NAME = re.compile(r"^(\w+)\[(.*)\]$")
BAND_TERM = re.compile(r"^sat\[(.+)\]$")
SPLINE_TERM = re.compile(r"^sat_ns(\d+)$")


def coefficient_label(name: str) -> str:
    """A covariate coefficient as a reader reads it: purchase[sat[7-8]] -> "purchase rate: satisfaction 7-8",
    dropout_b[switching_cost] -> "dropout: switching cost"."""
    m = COEFFICIENT_NAME.match(str(name))
    if not m:
        return str(name)
    process, term = m.groups()
    band = BAND_TERM.match(term)
    spline = SPLINE_TERM.match(term)
    term = (f"satisfaction {band.group(1)}" if band else "satisfaction (linear)" if term == "sat_lin" else
            f"satisfaction (spline {spline.group(1)})" if spline else term.replace("_", " "))
    return f"{PROCESS_WORDS.get(process, process.replace('_', ' '))}: {term}"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def join_text(join: dict, scale_label: str, source: str) -> str:
    if source == "simulated":
        return (f"The simulated panel has **{plural(join['matched'], 'customer')}**, each with a satisfaction "
                f"answer on a {scale_label} scale and their purchases; every survey id has a purchase history.")
    text = (f"The survey has **{plural(join['survey_rows'], 'respondent')}** and the log's calibration cohort "
            f"**{plural(join['transaction_customers'], 'customer')}**; **{join['matched']:,}** are in both. ")
    if join["survey_unmatched"]:
        text += (f"**{plural(join['survey_unmatched'], 'survey id')}** had no purchase in the cohort and "
                 f"{'is' if join['survey_unmatched'] == 1 else 'are'} left out (counted, not guessed). ")
    else:
        text += "Every survey id was found in the log. "
    if join["log_unmatched"]:
        text += (f"{plural(join['log_unmatched'], 'customer')} of the log did not answer the survey and "
                 f"{'is' if join['log_unmatched'] == 1 else 'are'} not part of this analysis. ")
    missing = join.get("missing", {})
    if join.get("missing_satisfaction"):
        text += (f"{plural(join['missing_satisfaction'], 'matched respondent')} gave no satisfaction score "
                 f"({kinds_text(missing.get('satisfaction', {}))}) and {'is' if join['missing_satisfaction'] == 1 else 'are'} "
                 "left out. ")
    for measure, name in (("repurchase", "'would choose again'"), ("recommendation", "'would recommend'")):
        counts = missing.get(measure, {})
        if counts:
            n = sum(counts.values())
            text += (f"{plural(n, 'matched respondent')} gave no {name} answer ({kinds_text(counts)}); "
                     f"{'it is' if n == 1 else 'they are'} left out of the comparison of stated and actual buying only. ")
    return text.strip()


def kinds_text(counts: dict) -> str:
    """"8 with the missing code -99, 4 blank": how missing answers were given, with counts."""
    parts = [f"{n:,} blank" if kind == "blank" else f"{n:,} with the missing code {kind.removeprefix('code ')}"
             for kind, n in sorted(counts.items())]
    return ", ".join(parts) if parts else "no answer"


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
        degenerate = truth["steps"] - truth["informative_steps"]
        text += (f"The true marginal value of a point lies inside its interval at **{truth['inside']} of "
                 f"{truth['informative_steps']}** steps where it could miss"
                 + (f" (the other {degenerate} are zero with a zero-width interval, so they prove nothing). "
                    if degenerate else ". "))
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


def decision_text(steps: pd.DataFrame, from_col: str, to_col: str, unit: str, design: str = "joined") -> str:
    """Where one more point of satisfaction is worth most, worded no stronger than the design: a joined
    survey and log are observational (what the buying that goes with satisfaction is worth, if raising
    satisfaction brought it); the bridge joins no one (survey and log of different people)."""
    positive = steps[steps["break_even_lower"] > 0]
    best = steps.loc[steps["break_even"].idxmax()]
    text = (f"The most a programme may cost per targeted customer to pay for itself is highest for the step from "
            f"{unit} **{best[from_col]}** to **{best[to_col]}**: {best['break_even']:,.2f} "
            f"(interval {best['break_even_lower']:,.2f} to {best['break_even_upper']:,.2f}). ")
    condition = ("if the buying that goes with higher satisfaction came with raising it (these are observed "
                 "differences between customers, not the effect of a programme)" if design == "joined" else
                 "under the bridge's assumptions (the survey and the log are of different people, so nothing here "
                 "is observed for the same customers)" if design == "bridge" else
                 "in the simulation, where raising satisfaction changes buying by construction")
    if best["break_even_lower"] > 0:
        text += (f"Its interval excludes zero: the numbers are consistent with customers at {unit} {best[from_col]} "
                 f"being the best place to invest, {condition}.")
    elif len(positive):
        alt = positive.loc[positive["break_even"].idxmax()]
        text += (f"Its interval includes zero; the best step whose interval excludes zero is from {alt[from_col]} "
                 f"to {alt[to_col]} ({alt['break_even']:,.2f}), {condition}.")
    else:
        text += "No step's interval excludes zero: the data do not single out a band to invest in."
    return text


def finding_text(steps: pd.DataFrame, source: str, from_col: str, to_col: str, unit: str) -> str:
    """One line for the index page: where a point of satisfaction is worth most, and how sure that is."""
    best = steps.loc[steps["break_even"].idxmax()]
    sure = "interval excludes zero" if best["break_even_lower"] > 0 else "interval includes zero"
    prefix = "Simulated illustration: one" if source == "simulated" else "One"
    return (f"{prefix} more point of satisfaction is worth most from {unit} {best[from_col]} to {best[to_col]}, "
            f"where a programme may cost up to {best['break_even']:,.2f} per targeted customer "
            f"({best['break_even_lower']:,.2f} to {best['break_even_upper']:,.2f}; {sure}).")


def lead_sentences(steps: pd.DataFrame | None, from_col: str, to_col: str, unit: str, design: str,
                   survival: dict | None, bridge_bands: pd.DataFrame | None, trap: dict | None = None) -> list:
    """The satisfaction-to-value report's findings in plain words, no stronger than its design."""
    out = []
    if survival is not None:
        ratio = survival["share_surviving"]
        out.append(f"From the {survival['lowest_band']} to the {survival['top_band']} satisfaction band, the share "
                   f"saying they would choose again {'rises' if survival['stated_rise'] > 0 else 'changes'} by "
                   f"{_points(survival['stated_rise'])}, and the customers' predicted chance of still buying by "
                   f"{_points(survival['p_alive_rise'])}"
                   + (f" ({ratio:.0%} of the stated difference): stated intention overstates how much longer satisfied "
                      "customers stay; how satisfaction goes with buying more often and spending more is valued "
                      "below." if np.isfinite(ratio) and ratio < 0.5
                      else "." if not np.isfinite(ratio) else f" ({ratio:.0%} of the stated difference)."))
    if bridge_bands is not None and len(bridge_bands):
        low, top = bridge_bands.iloc[0], bridge_bands.iloc[-1]
        out.append(f"{top['stated']:.0%} of respondents in the {top['band']} satisfaction band say they would choose "
                   f"the provider again, against {low['stated']:.0%} in the {low['band']} band; these respondents' "
                   "purchases are not observed.")
    if trap is not None and trap["satisfied_customers"] and np.isfinite(trap["share_gone"]):
        out.append(f"Of the {trap['satisfied_customers']:,} customers answering {trap['satisfied_from']:g} or more, the "
                   f"purchase model expects {trap['expected_gone']:,.0f} ({trap['share_gone']:.0%}) to have left "
                   f"already, with {trap['value_lost']:,.0f} of expected value"
                   + (": satisfied customers are lost too, so satisfaction scores alone overstate the base."
                      if trap["share_gone"] >= config.SATISFIED_LOSS_SHARE else
                      ": few satisfied customers are expected to have left."))
    if steps is not None and len(steps):
        out.append(decision_text(steps, from_col, to_col, unit, design).replace("**", ""))
    return out
