"""The CLV report's sentences. Every function takes computed records (tables, dicts of numbers),
never the parameters, and every clause depends on the numbers it is given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats

def weeks_text(weeks: float) -> str:
    """A length in weeks as the report writes it: whole weeks plainly, others to one decimal."""
    return f"{weeks:.0f}" if abs(weeks - round(weeks)) < 0.05 else f"{weeks:.1f}"


def retention_text(retention: pd.DataFrame, uplift: dict, unit: str = "year",
                   observed: pd.DataFrame | None = None) -> str:
    """The retention table in one sentence: cohort, periods kept and value per acquired customer; on a
    log, the observed retention beside the fitted model's."""
    first, last = retention.iloc[0], retention.iloc[-1]
    payback = uplift.get("payback_year")
    text = (f"Of **{first['customers']:,.0f}** customers acquired in {unit} 1, **{last['customers']:,.0f}** "
            f"{'bought in every ' + unit + ' up to' if observed is not None else 'are still active in'} {unit} "
            f"{int(last['year'])}; by then an acquired customer has brought "
            f"**{last['clv_per_customer']:,.2f}** in discounted profit")
    text += (f", and the cohort's cumulative NPV turns positive in {unit} {payback}." if payback is not None
             else ", and the cohort's cumulative NPV never turns positive within the table.")
    if observed is not None and "model_retention" in observed and len(observed) > 1:
        obs, mod = observed["retention"].iloc[1:], observed["model_retention"].iloc[1:]
        gap = float(np.nanmax(np.abs(obs.to_numpy() - mod.to_numpy())))
        text += (f" Retention rises from {obs.iloc[0]:.0%} to {obs.iloc[-1]:.0%} over the {unit}s observed; the fitted "
                 f"BG/NBD gives {mod.iloc[0]:.0%} to {mod.iloc[-1]:.0%}, at most {100 * gap:.0f} points from the observed path"
                 + (" (close)." if gap < 0.05 else "."))
    return text


def uplift_text(uplift: dict) -> str:
    """What the retention rise is worth, measured against Reichheld & Sasser's 25-85% (conditional on the numbers)."""
    change = uplift["npv_change_pct"]
    unit = uplift.get("unit", "year")
    verdict = ("inside" if uplift["within_reichheld_sasser_25_85"]
               else "below" if change < 25 else "above")
    years = uplift["years"]
    if uplift["flat_economics"]:
        reason = (f"with flat revenue and costs per customer and a {years}-{unit} horizon the gain "
                  f"{'is smaller' if change < 25 else 'comes from retention alone'}")
    else:
        reason = (f"here too profit per customer changes with tenure, over a {years}-{unit} horizon, so the comparison "
                  "is closer, though the businesses differ")
    basis = ("With the observed retention and revenue and the report's margin" if uplift.get("kind") == "observed"
             else "With these assumptions")
    text = (f"{basis} the cohort's NPV is **{uplift['npv_base']:,.0f}**, or **{uplift['clv_base']:,.2f} "
            f"per acquired customer**. Raising every retention rate by {uplift['uplift_points']:g} points raises it to "
            f"**{uplift['clv_raised']:,.2f}**, a change of **{change:+.1f}%** "
            f"({uplift['undiscounted_profit_change_pct']:+.1f}% before discounting), {verdict} Reichheld & Sasser's "
            f"25–85%. Their figure comes from businesses where profit per customer grows with tenure (more purchases, "
            f"lower service cost, referrals); {reason}. Earning the same gain by acquisition would need about "
            f"**{uplift['equivalent_new_customers']:,.0f} extra customers**")
    if uplift["acquisition_cost"] > 0:
        # Retention cost per customer-year = acquisition cost / ratio.
        kept = uplift["equivalent_new_customers"] * uplift["retention_cost_ratio"]
        text += (f" costing **{uplift['equivalent_acquisition_spend']:,.0f}**; if acquiring costs "
                 f"{uplift['retention_cost_ratio']:g} times as much as keeping a customer, that money would instead "
                 f"pay for keeping about **{kept:,.0f}** customer-{unit}s")
    return text + "."


def migration_text(migration: pd.DataFrame, retention: pd.DataFrame, markov: dict, unit: str = "year") -> str:
    before, after = retention["clv_per_customer"].iloc[-1], migration["clv_per_customer"].iloc[-1]
    direction = "raises" if after > before else "lowers" if after < before else "leaves"
    text = (f"Letting lapsed customers return {direction} the value of an acquired customer after {len(migration)} "
            f"{unit}s from {before:,.2f} to **{after:,.2f}**." if direction != "leaves" else
            f"Letting lapsed customers return leaves the value of an acquired customer after {len(migration)} {unit}s "
            f"at **{after:,.2f}**.")
    if markov.get("applicable"):
        agree = np.isclose(markov["markov_value"], markov["table_value"], rtol=1e-9, atol=1e-6)
        text += (f" The Markov-chain value of the same recency chain (Pfeifer & Carraway 2000, lifecycle module) is "
                 f"{markov['markov_value']:,.4f} before acquisition cost, "
                 + (f"equal to the table's {markov['table_value']:,.4f}." if agree else
                    f"against the table's {markov['table_value']:,.4f}: the two computations disagree."))
    else:
        text += (f" (Revenue or cost changes with the {unit}, so the constant-reward Markov-chain check does not "
                 "apply.)")
    return text


def rfm_text(overview: dict, window: dict) -> str:
    text = (f"The cohort has **{overview['customers']:,} customers** who first bought between "
            f"{window['cohort_start']:%d %B %Y} and {window['calibration_end']:%d %B %Y}. In the "
            f"{weeks_text(window['calibration_weeks'])}-week calibration period ")
    if overview["repeat_buyers"] == 0:
        text += "**none of them bought again**"
    else:
        text += (f"**{overview['share_no_repeat']:.1%}** of them never bought again; the others made "
                 f"{overview['calibration_repeat_transactions']:,} repeat purchases")
    text += (f". The holdout period of {weeks_text(window['holdout_weeks'])} weeks has "
             f"{overview['holdout_repeat_transactions']:,} more.")
    if window.get("source", "").startswith(("the log", "parameter file, the rest")):
        text += " " + window["sentence"]
    return text


def discrete_overview_text(overview: dict) -> str:
    text = (f"The data summarise **{overview['customers']:,} customers** with up to {overview['periods']} later "
            f"chances to buy each ({overview['unique_rows']} distinct patterns of frequency, recency and periods). ")
    if overview["transactions"] == 0:
        return text + "**None of them bought again.**"
    return text + (f"**{overview['share_no_transaction']:.1%}** never bought again; together the others made "
                   f"{overview['transactions']:,} transactions ({overview['mean_frequency']:.2f} per customer).")


def parameter_text(fits: dict, comparison: dict | None, reference_label: str | None) -> str:
    parts = []
    bg = fits["BG/NBD"].params if "BG/NBD" in fits else None
    if bg is not None:
        spread = ("vary a lot between customers" if bg["r"] < 1 else "vary moderately between customers")
        parts.append(f"The BG/NBD estimates say that purchase rates {spread} (gamma shape r = {bg['r']:.3f}"
                     + (", so most customers buy rarely and a few often" if bg["r"] < 1 else "")
                     + f"; the mean rate is {bg['r'] / bg['alpha']:.3f} purchases a week) and that a customer drops "
                     f"out after a repeat purchase with probability {bg['a'] / (bg['a'] + bg['b']):.2f} on average.")
    elif "BG/BB" in fits:
        bb = fits["BG/BB"].params
        buy, drop = bb["alpha"] / (bb["alpha"] + bb["beta"]), bb["gamma"] / (bb["gamma"] + bb["delta"])
        parts.append(f"The BG/BB estimates say that a customer who is still active buys in a period with probability "
                     f"{buy:.2f} on average and drops out before the next period with probability {drop:.2f} on "
                     "average" + ("; both vary widely between customers (beta distributions with shape sums "
                                  f"{bb['alpha'] + bb['beta']:.2f} and {bb['gamma'] + bb['delta']:.2f})."
                                  if max(bb["alpha"] + bb["beta"], bb["gamma"] + bb["delta"]) < 5 else "."))
    elif "Pareto/NBD" in fits:
        pn = fits["Pareto/NBD"].params
        parts.append(f"The Pareto/NBD gives a mean purchase rate of {pn['r'] / pn['alpha']:.3f} a week while active "
                     f"and a mean dropout rate of {pn['s'] / pn['beta']:.4f} a week.")
    if comparison and reference_label:
        text = (f"Every estimate is within {100 * comparison['max_relative_gap']:.2f}% of its {reference_label} value "
                f"(at most {comparison['max_z']:.2f} standard errors away)")
        if reference_label == "published" and comparison["all_within_rounding"]:
            text += "; the differences are the rounding of the published figures."
        elif reference_label == "published":
            text += "; not every difference is within the rounding of the published figure."
        else:
            text += "."
        parts.append(text)
    return " ".join(parts)


def spend_frequency_text(independence: dict) -> str:
    r = independence["correlation"]
    reading = ("a link this weak is what Fader, Hardie & Lee (2005, JMR) judged acceptable on CDNOW (0.11)"
               if abs(r) < 0.3 else
               "a stronger link than the 0.11 Fader, Hardie & Lee (2005, JMR) judged acceptable on CDNOW, so the "
               "spend predictions below should be read with care")
    return ("Gamma-Gamma assumes that how much a customer spends per purchase does not depend on how often they buy. "
            f"Among the {independence['n']:,} repeat buyers the correlation between repeat purchases and average spend "
            f"is **{r:.2f}** ({independence['confidence']:.0%} interval {independence['lower']:.2f} to "
            f"{independence['upper']:.2f}): {reading}.")


def histogram_band_text(band: pd.DataFrame, confidence: float, model: str, unit: str) -> str:
    inside = int(((band["actual"] >= band["lower"]) & (band["actual"] <= band["upper"])).sum())
    worst = band.iloc[int(np.argmax(np.abs(band["actual"] - band["expected"]) / np.maximum(band["expected"], 1e-9)))]
    return (f"The {confidence:.0%} band from the {model}'s parameter draws contains the actual count in **{inside} of "
            f"{len(band)}** groups of {unit}; the largest relative gap is at {worst.iloc[0]} "
            f"({worst['actual']:,.0f} actual against {worst['expected']:,.1f} expected).")


def histogram_text(histogram: pd.DataFrame, actual_share: float) -> str:
    expected = histogram["BG/NBD"].iloc[0] / histogram["BG/NBD"].sum()
    return (f"The model expects **{expected:.1%}** of customers to make no repeat purchase in calibration; "
            f"the actual share is **{actual_share:.1%}**.")


def tracking_text(errors: pd.DataFrame) -> str:
    first = errors.iloc[0]
    parts = [f"{row['model']} forecasts **{row['forecast']:,.0f}**"
             + (f" ({row['error (%)']:+.1f}%)" if row["error (%)"] is not None and np.isfinite(row["error (%)"]) else "")
             for _, row in errors.iterrows()]
    return (f"By the end of week {weeks_text(first['weeks'])} the cohort made **{first['actual']:,.0f}** repeat "
            "purchases; " + " and ".join(parts) + ".")


def holdout_band_text(band: pd.DataFrame, model: str, confidence: float) -> str:
    inside = (band["actual"] >= band["lower"]) & (band["actual"] <= band["upper"])
    above = int((band["actual"] > band["upper"]).sum())
    below = int((band["actual"] < band["lower"]).sum())
    text = (f"The {model}'s {confidence:.0%} band from parameter draws (the uncertainty of the estimates only, not "
            f"the purchases' own randomness) contains the actual group mean in **{int(inside.sum())} of {len(band)}** "
            "frequency groups")
    if above or below:
        text += f"; the actual mean lies above the band in {above} and below it in {below}"
    return text + "."


def clv_text(total: dict, clv_table: pd.DataFrame, frequency=None) -> str:
    years = total["horizon"] / 52
    span = "year" if years == 1 else f"{years:g} years"
    mean, median = total["mean_per_customer"], float(clv_table["clv"].median())
    compare = ("only " if median < 0.5 * mean else "")
    return (f"Over the next {span} the cohort is expected to be worth **{total['total']:,.0f}** in discounted "
            f"contribution ({total['confidence']:.0%} delta-method interval {total['lower']:,.0f} to {total['upper']:,.0f}, "
            "from the estimates' standard errors; the values section puts parameter-draw and customer-bootstrap "
            "intervals on the same total, and its table says what each accounts for), "
            f"**{mean:,.2f} per customer** on average (purchase model: {total['purchase_model']}). The median customer "
            f"is worth {compare}{median:,.2f}; on average customers have a chance of {clv_table['p_alive'].mean():.0%} "
            "of still being active at the end of calibration" + _p_alive_caveat(total, frequency) + ".")


def _p_alive_caveat(total: dict, frequency) -> str:
    """The BG/NBD's property behind the average P(alive): a customer can only drop out after a repeat
    purchase, so every customer without one has P(alive) = 1 (not said for the Pareto/NBD)."""
    if total.get("purchase_model") != "BG/NBD" or frequency is None or not len(frequency):
        return ""
    none = float((np.asarray(frequency) == 0).mean())
    if none <= 0:
        return ""
    return (f", but under the BG/NBD a customer can only drop out after a repeat purchase, so the {none:.0%} "
            "without one count as certainly active and lift that average")


def concentration_text(concentration: dict, break_even: float) -> str:
    """Top share of revenue and profit, the whale curve, and whether the top group earns all the profit."""
    top = concentration["top_fraction"]
    holds = concentration["top_share_profit"] > 1
    text = (f"The top {top:.0%} of customers bring **{concentration['top_share_revenue']:.0%} of revenue** "
            f"(Gini {concentration['gini_revenue']:.2f}). After a cost of {concentration['cost_per_order']:,.2f} per "
            f"order and {concentration['cost_per_customer']:,.2f} per customer, "
            f"**{concentration['unprofitable_share']:.0%} of customers lose money** and the top {top:.0%} earn "
            f"**{concentration['top_share_profit']:.0%} of total profit**; the whale curve peaks at "
            f"{concentration['peak_profit_share']:.0%}")
    peak_at = concentration["peak_population_share"]
    text += f" with the top {peak_at:.0%} of customers. " if concentration["peak_profit_share"] > 1 else ". "
    text += (f"The rule of thumb that the top {top:.0%} create more than all the profit (Kaplan & Cooper 1998) "
             f"{'holds here' if holds else 'does not hold at these costs'}")
    if not holds and break_even > concentration["cost_per_customer"]:
        text += f"; it would hold once the fixed cost per customer reaches **{break_even:,.2f}**."
    elif holds:
        text += f" (it holds for any fixed cost per customer from **{break_even:,.2f}**)."
    else:
        text += "."
    return text


def tiers_text(top) -> str:
    """The top tier's share of customers and of predicted CLV (`top`: the first row of the tier table)."""
    return (f"The {top['tier']} tier, {top['share_of_customers']:.0%} of customers, holds "
            f"**{top['share_of_clv']:.0%} of predicted CLV**.")


def customer_file_text(written: dict) -> str:
    """Where the per-customer predictions are and what they hold."""
    text = (f"Every customer's numbers ({written['customers']:,} rows: the RFM summary, revenue and profit to the "
            f"end of the holdout")
    if written["predictions"]:
        text += ", P(alive), expected purchases, expected spend, CLV with its interval and tier"
    return text + (f") are in the Parquet file `{written['file']}` beside this report, not in the page; the "
                   "concentration, tier and quadrant figures above are computed from the same table.")


def alive_history_text(history: pd.DataFrame, confidence: float, model: str) -> str:
    ends = history.groupby("customer", sort=False).tail(1)
    parts = [f"customer {row['customer']} ends calibration with {row['repeat purchases']:.0f} repeat purchases and "
             f"P(alive) **{row['p_alive']:.2f}** ({confidence:.0%} band {row['lower']:.2f}–{row['upper']:.2f})"
             for _, row in ends.iterrows()]
    return (f"Under the {model}, P(alive) jumps up at each purchase and decays while a customer is silent: "
            + "; ".join(parts) + ".")


def alive_patterns_text(patterns: pd.DataFrame, confidence: float) -> str:
    last = patterns[patterns["t_x"] == patterns["n"]]
    first = patterns[(patterns["t_x"] == 1) & (patterns["frequency"] == 1)]
    text = "Under the BG/BB, a customer whose last transaction was longer ago is less likely to be active"
    if len(first) and len(last):
        low, high = first.iloc[0], last.iloc[-1]
        text += (f": one transaction in period 1 only leaves P(alive) **{low['p_alive']:.2f}** "
                 f"({confidence:.0%} band {low['lower']:.2f}–{low['upper']:.2f}); a transaction in every one of the "
                 f"{int(high['n'])} periods gives **{high['p_alive']:.2f}**")
    return text + "."


def heterogeneity_text(frames: list, model: str, confidence: float) -> str:
    parts, explained = [], False
    for frame in frames:
        a = frame.attrs
        near_zero = frame["density"].iloc[0] == frame["density"].max()
        parts.append(f"the {a['label']} has mean **{a['mean']:.3g}**" + (
            "" if not near_zero else " and most customers near zero" if explained else
            " and most customers near zero (the density falls from its highest value at the left)"))
        explained = explained or near_zero
    return (f"The {model} describes how customers differ: " + "; ".join(parts)
            + f". The bands are {confidence:.0%} intervals of the density from the parameter draws.")


def _agreement(row, lower: str, upper: str) -> str:
    p_lo, p_hi = row[f"parametric {lower}"], row[f"parametric {upper}"]
    b_lo, b_hi = row[f"bootstrap {lower}"], row[f"bootstrap {upper}"]
    if not np.isfinite(b_lo):
        return ""
    ratio = (b_hi - b_lo) / (p_hi - p_lo) if p_hi > p_lo else np.nan
    if not np.isfinite(ratio):
        return ""
    verdict = ("about as wide as" if 0.8 <= ratio <= 1.25 else "wider than" if ratio > 1.25 else "narrower than")
    return f" (the bootstrap interval is {verdict} the parametric one, width ratio {ratio:.2f})"


def value_intervals_text(totals: pd.DataFrame, summary: dict) -> str:
    conf = summary["confidence"]
    lower, upper = f"{conf:.0%} lower", f"{conf:.0%} upper"
    parts = []
    for _, row in totals.iterrows():
        fmt = ",.3f" if row["quantity"].startswith("mean") else ",.0f"
        text = (f"- {row['quantity']}: **{row['estimate']:{fmt}}**, parametric {conf:.0%} interval "
                f"{row[f'parametric {lower}']:{fmt}} to {row[f'parametric {upper}']:{fmt}}")
        if np.isfinite(row[f"bootstrap {lower}"]):
            text += (f", bootstrap {row[f'bootstrap {lower}']:{fmt}} to {row[f'bootstrap {upper}']:{fmt}}"
                     + _agreement(row, lower, upper))
        parts.append(text)
    boot = summary["bootstrap_resamples"]
    models_used = summary["purchase_model"] + (" and Gamma-Gamma" if any("CLV" in p for p in parts) else "")
    head = f"Intervals of the {models_used} predictions from {summary['parametric_draws']} parameter draws"
    if boot:
        kept = boot - summary["bootstrap_dropped"]
        head += (f" and from {boot} customer-bootstrap re-fits"
                 + (f" ({summary['bootstrap_dropped']} did not converge and are left out)" if summary["bootstrap_dropped"]
                    else " (all converged)") + ("" if kept else "; with no converged re-fit there is no bootstrap interval"))
    else:
        head += " (no bootstrap re-fits were asked for)"
    return head + ":\n\n" + ";\n".join(parts) + "."


def lead_sentences(tracking_row, clv_total: dict | None, clv_interval: tuple | None, concentration: dict | None,
                   uplift: dict | None, bgbb: dict | None, confidence: float, holdout_row=None) -> list:
    """The CLV report's findings in plain words, each with its number, uncertainty and what it means."""
    out = []
    if bgbb is not None:
        level = f"{bgbb.get('confidence', confidence):.0%} interval"
        lo, hi = bgbb["expected_transactions_interval"]
        out.append(f"The {bgbb['customers']:,} customers are expected to make {bgbb['expected_transactions']:,.0f} "
                   f"transactions in the next {bgbb['future_periods']} periods under the BG/BB ({level} {lo:,.0f}–"
                   f"{hi:,.0f}), {bgbb['expected_transactions_per_customer']:.2f} per customer: the base to plan "
                   "the coming periods' contacts and capacity on.")
        alive, (lo, hi) = bgbb["mean_p_alive"], bgbb["mean_p_alive_interval"]
        d = stats.percent_digits(alive, lo, hi, most=1)
        out.append(f"On average a customer is still active with probability {alive:.{d}%} ({level} {lo:.{d}%}–{hi:.{d}%})"
                   + (": most of those who stopped buying have left for good, so a silent customer is more likely "
                      "lost than resting." if alive < 0.5 else
                      ": most customers are still active, though some are silent for a while."))
        lo, hi = bgbb["dert_interval"]
        out.append(f"Discounted at {bgbb['discount_rate']:.0%} a period, the customers' future transactions are "
                   f"worth {bgbb['dert']:,.0f} transactions today ({level} {lo:,.0f}–{hi:,.0f}), "
                   f"{bgbb['dert_per_customer']:.2f} per customer: times the margin of one transaction, that is "
                   "what the base is worth.")
    elif holdout_row is not None and holdout_row["actual total"] > 0:
        # the holdout alone: the weeks the fit did not see
        err = 100 * (holdout_row["predicted total"] - holdout_row["actual total"]) / holdout_row["actual total"]
        out.append(f"In the holdout period, which the fit did not see, the {holdout_row['model']} forecast "
                   f"{holdout_row['predicted total']:,.0f} repeat purchases against {holdout_row['actual total']:,.0f} "
                   f"actual ({err:+.1f}%)"
                   + (": close enough to plan with." if abs(err) < 10 else
                      ": it forecasts too few, so the values below are more likely too low than too high." if err < 0
                      else ": it forecasts too many, so the values below are more likely too high than too low."))
    elif tracking_row is not None:
        err = tracking_row["error (%)"]
        close = err is not None and np.isfinite(err) and abs(err) < 10
        out.append(f"Fitted on the calibration period, the {tracking_row['model']} forecast "
                   f"{tracking_row['forecast']:,.0f} repeat purchases over the {weeks_text(tracking_row['weeks'])} "
                   f"weeks tracked (calibration and holdout) against {tracking_row['actual']:,.0f} actual"
                   + (f" ({err:+.1f}%)" if err is not None and np.isfinite(err) else "")
                   + (": the model follows the customers' buying closely, so its forecasts can guide planning."
                      if close else ": the forecast is more than 10% off, so read the values below with care."))
    if clv_total is not None:
        interval = (f" ({confidence:.0%} interval {clv_interval[0]:,.0f}–{clv_interval[1]:,.0f})"
                    if clv_interval is not None else "")
        out.append(f"The cohort is worth {clv_total['total']:,.0f} in discounted margin over the next "
                   f"{weeks_text(clv_total['horizon'])} weeks{interval}, {clv_total['mean_per_customer']:,.2f} per "
                   "customer on average.")
    if concentration is not None:
        share = concentration["top_share_revenue"]
        out.append(f"The top {concentration['top_fraction']:.0%} of customers bring {share:.0%} of revenue"
                   + (": a small group carries the business." if share >= 0.6 else
                      ": revenue is spread fairly widely."))
    if uplift is not None and np.isfinite(uplift["npv_change_pct"]):
        if uplift.get("kind") == "observed":
            out.append(f"On the retention observed in the log, keeping {uplift['uplift_points']:g} more customers in a "
                       f"hundred each {uplift.get('unit', 'year')} would raise the cohort's discounted profit by "
                       f"{uplift['npv_change_pct']:.0f}% (an arithmetic scenario, not an estimated effect).")
        else:
            out.append(f"In Dwyer's worked example (stated assumptions), {uplift['uplift_points']:g} more points of "
                       f"retention raise the cohort's discounted profit by {uplift['npv_change_pct']:.0f}%.")
    return out
