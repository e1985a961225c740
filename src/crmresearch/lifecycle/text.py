"""Sentences of the lifecycle report, from numbers only: each function takes computed results (never
the parameters) and every clause is conditional on the numbers it states."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import p_text, percent_digits
from ..stage_rules import StageRules
from .inference import LikelihoodRatioTest

ENGINE_NAMES = {"duckdb": "DuckDB", "pyspark": "Spark (PySpark)", "pandas": "pandas"}


def significant(p_value: float, confidence: float) -> bool:
    return p_value < 1 - confidence


def needs_panel(what: str, engine: str) -> str:
    """Why a section that needs customer-level rows is not computed in a run with an engine."""
    return (f"{what} needs the customer-level stage panel (each customer's own sequence of stages), which a run "
            f"with an engine ({ENGINE_NAMES.get(engine, engine)}) does not bring into memory; run the "
            "report without `engine:` on a sample of customers for it")


# ---------------------------------------------------------------- the data and the stages

def source_description(kind: str, rules: StageRules | None, entry_periods: int | None = None) -> str:
    """How the stage panel came about: stage rules of a transaction log, a simulation or a user's file."""
    if kind == "transactions":
        return (f"The transaction log is turned into monthly stages: a customer's stage in a month follows from "
                f"the months since the last purchase (1 = bought that month) grouped by the bounds "
                f"{list(rules.recency_bounds)} into {', '.join(rules.recency_labels)}"
                + (f", crossed with the number of purchases so far ({', '.join(rules.count_labels)})"
                   if rules.count_bounds else "")
                + ". Several purchases on one day count as one. Moves the rules make impossible (for example "
                  "from a recent stage straight to a long-dormant one) are *structural zeros*: they are fixed at 0.")
    if kind == "simulation":
        return ("The panel is **simulated** from a known matrix (given in the parameter file), so every estimate "
                "below can be compared with the truth. Customers enter evenly over the first "
                f"{entry_periods} periods and leave the panel once churned.")
    return "The stage panel is the user's own file, one row per customer and period."


def engine_text(engine: str, unit: str, customers: int, rows: int) -> str:
    """Which engine computed the monthly stages, and what came back into memory."""
    if engine == "pandas":
        return f"The monthly stages were computed in memory (pandas), one row per customer and {unit}."
    return (f"The monthly stages were computed by **{ENGINE_NAMES.get(engine, engine)}** where the log lives: "
            f"of the {rows:,} customer-{unit}s of {customers:,} customers only the counts of moves by "
            f"{unit} and stage, the customers and revenue in each stage by {unit} and the "
            f"customers entering each stage came back. Every figure below that follows from these counts equals what "
            f"the in-memory panel gives; the sections that need each customer's own history say so.")


def gaps_text(gaps: dict, unit: str) -> str:
    """How the panel's gaps (periods missing inside a customer's history) are treated, if there are any."""
    if not gaps["customers_with_gaps"]:
        return ""
    return (f" **{gaps['customers_with_gaps']:,} customers** have gaps: {gaps['missing_periods']:,} "
            f"customer-{unit}s are missing between their first and last observed {unit}. A move is counted only "
            f"between two consecutive observed {unit}s, so a gap breaks the history instead of being bridged; "
            f"the {gaps['moves_not_counted']:,} moves that would cross a gap are not counted, and the customer's "
            f"stage during a gap is not guessed.")


def rates_note(lost_stage: str) -> str:
    """For a transaction log, which finer stages the per-period rates are read from."""
    return ("For a transaction log the rates are read at the finest recency: *active* means bought in that month, "
            f"*lost* means {lost_stage.split('/')[0]} without a purchase.")


# ---------------------------------------------------------------- the migration matrix

def width_ratio_reading(ratio: float) -> str:
    """What a median bootstrap-to-Wilson interval width ratio says about a customer's moves."""
    if ratio < 0.8:
        return ("narrower than the Wilson intervals: a customer's moves are *more* regular than independent draws "
                "(fixed recency windows move every non-buyer on a fixed schedule), so the Wilson intervals, which "
                "assume independence, are too wide here")
    if ratio > 1.25:
        return ("wider than the Wilson intervals: a customer's moves are related (some customers are steadier "
                "than others), so the Wilson intervals, which assume independence, are too narrow here")
    return ("about as wide as the Wilson intervals for a typical cell, as when moves behave like independent "
            "draws; where the two differ, the bootstrap is the one that respects how each customer's moves hang together")


# ---------------------------------------------------------------- tests of the Markov model

def homogeneity_text(test: LikelihoodRatioTest, joint: dict, largest: str) -> str:
    return (f"Row-conditional likelihood ratio: **G² = {test.statistic:,.1f}** on {test.df} degrees of freedom "
            f"({p_text(test.p_value)}); the largest contribution comes from **{largest}**. "
            f"For contrast, the joint-cell chi-square is {joint['statistic']:,.1f} on {joint['df']} df "
            f"({p_text(joint['p_value'])}).")


def homogeneity_reading(rejected: bool, groups: int, kind: str, first_recency_bound: int | None) -> str:
    """What the homogeneity test means for the report."""
    if not rejected:
        return ("There is no evidence that the moves changed over time, even though the stage mix did (which is "
                "what the joint-cell test reacts to).")
    runs = "the early and the late periods" if groups == 2 else f"the {groups} runs of periods"
    reading = (f"The moves out of at least one stage differ between {runs}, so one matrix "
               "for the whole window is an average over a changing process.")
    if kind == "transactions":
        reading += (" With fixed recency windows this is expected: early on, a customer in a recent stage has "
                    "bought very recently, later the same stage holds customers who bought up to "
                    f"{first_recency_bound} months ago, so the share leaving it changes as the cohorts age.")
    return reading


def finer_order_text(coarse: LikelihoodRatioTest, finer: LikelihoodRatioTest, finer_significant: bool) -> str:
    """What the order test on the finer stages says about the coarse stages' memory (conditional on both tests)."""
    per_df = coarse.statistic / max(coarse.df, 1)
    fine_per_df = finer.statistic / max(finer.df, 1)
    text = (f"The same test on the finer stages (months since the last purchase by purchase count) gives "
            f"G² = {finer.statistic:,.1f} on {finer.df} df ({p_text(finer.p_value)}): the statistic per degree of "
            f"freedom {'falls' if fine_per_df < per_df else 'does not fall'} from {per_df:,.1f} to {fine_per_df:,.1f}")
    if fine_per_df >= per_df:
        return text + (", so the dependence on earlier months is not the recency the coarse windows hide.")
    if not finer_significant:
        return text + (", and on the finer stages there is no evidence left of it: the dependence on earlier months "
                       "is the recency the coarse windows hide.")
    if fine_per_df <= per_df / 2:
        return text + (", so most, though not all, of the dependence on earlier months is the recency the coarse "
                       "windows hide.")
    return text + (", so only part of the dependence on earlier months is the recency the coarse windows hide; most "
                   "of it remains on the finer stages.")


def order_text(test: LikelihoodRatioTest, finer_sentence: str | None, rejected: bool) -> str:
    text = f"Second- vs first-order: **G² = {test.statistic:,.1f}** on {test.df} df ({p_text(test.p_value)})."
    if finer_sentence:
        text += " " + finer_sentence
    return text + (" A customer's earlier stage carries information beyond the current one: the first-order chain is "
                   "an approximation." if rejected else
                   " There is no evidence that earlier stages matter once the current stage is known.")


# ---------------------------------------------------------------- forecasting backtest

def backtest_text(summary: pd.DataFrame) -> str:
    """Which chain forecasts best, and whether it beats the naive no-change forecast."""
    best = summary.loc[summary["mean error"].idxmin()]
    naive = summary["mean naive error"].iloc[0]
    lead = f"The **{best['model']}** forecasts the stage mix" + (" best" if len(summary) > 1 else "")
    verdict = ("better than" if best["mean error"] < naive else "no better than")
    return (f"{lead} with a mean error of {best['mean error']:.4f}, {verdict} the naive no-change forecast "
            f"({naive:.4f}).")


# ---------------------------------------------------------------- lifecycle quantities

def returns_clause(P, target) -> str:
    """', including returns from the lost stage,' only when the chain lets customers leave it."""
    P = np.asarray(P, float)
    leaves = any(P[t].sum() - P[t, t] > 0 for t in target)
    return ", including returns from the lost stage," if leaves else ""


def lead_sentences(states, P, lower, upper, homogeneity, order, time_summary: dict, target: str, unit: str,
                   confidence: float, max_gap: dict | None = None, finer: dict | None = None) -> list:
    """The lifecycle report's findings in plain words: how sticky the first stage is, whether the chances
    of moving are stable over time and depend on more than the current stage, and how long until loss."""
    first, last = 0, len(states) - 1
    ci = f"{confidence:.0%} interval"
    d = percent_digits(P[first, first], lower[first, first], upper[first, first])
    out = [f"Of the customers in '{states[first]}' one {unit}, {P[first, first]:.{d}%} are still there the next "
           f"({ci} {lower[first, first]:.{d}%}–{upper[first, first]:.{d}%})"
           + (f" and {P[first, last]:.0%} move straight to '{states[last]}'." if P[first, last] >= 0.005 else ".")]
    if significant(homogeneity.p_value, confidence):
        out.append(f"The chances of moving between stages changed over the period observed ({p_text(homogeneity.p_value)}): "
                   "forecasts from one average matrix are a simplification.")
    else:
        out.append(f"The chances of moving between stages are consistent with staying the same over the period "
                   f"observed ({p_text(homogeneity.p_value)}; not rejecting does not prove them constant).")
    if order is not None:
        out.append("Where a customer goes next also depends on the stage before the current one "
                   f"({p_text(order.p_value)}): the current stage alone does not sum up a customer's history."
                   if significant(order.p_value, confidence) else
                   f"No longer memory is detected ({p_text(order.p_value)}): the moves are consistent with the "
                   "current stage alone predicting the next one, which is not proof of it.")
    interval = (f" ({ci} {time_summary['lower']:.1f}–{time_summary['upper']:.1f})"
                if np.isfinite(time_summary.get("lower", np.nan)) and np.isfinite(time_summary.get("upper", np.nan))
                else "")
    sentence = (f"A newly entered customer is expected to reach '{target}' after {time_summary['mean']:.1f} "
                f"{unit}s{interval}")
    gap = (max_gap or {}).get("stage chain")
    fine_gap = (max_gap or {}).get("finer chain")
    if gap is not None and gap > FIRST_PASSAGE_MISFIT:
        sentence += (f" under the stage chain, but that chain misses the observed share who have reached it by up to "
                     f"{100 * gap:.0f} points")
        if finer is not None and fine_gap is not None and fine_gap < gap:
            sentence += (f"; the finer chain, at most {100 * fine_gap:.1f} points off, expects "
                         f"{finer['mean']:.1f} {unit}s, the better figure to plan with")
    out.append(sentence + ".")
    return out


# A first-passage curve further than this from the observed share (in share points) misfits the data.
FIRST_PASSAGE_MISFIT = 0.05
