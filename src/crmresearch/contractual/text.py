"""Sentences of the contractual report, from numbers only: each text function takes the computed
tables and records (never the parameters) and every clause is conditional on what it states."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats


def sbg_text(table: pd.DataFrame, fit_stats: pd.DataFrame, confidence: float) -> str:
    parts = []
    for _, row in fit_stats.iterrows():
        est = table[table["segment"] == row["segment"]].set_index("parameter")
        a, b = est.loc["alpha", "estimate"], est.loc["beta", "estimate"]
        sentence = (f"**{row['segment']}** ({row['customers']:,.0f} customers): α = {a:.3f}, β = {b:.3f}, "
                    f"log-likelihood {row['loglike']:,.2f}; the average customer leaves at a renewal with probability "
                    f"{row['mean_churn']:.1%}")
        if "published" in est and np.isfinite(est.loc["alpha", "published"]):
            same = (round(a, 3) == est.loc["alpha", "published"] and round(b, 3) == est.loc["beta", "published"]
                    and round(row["loglike"], 2) == row["published_loglike"])
            sentence += (". These are the published values at their rounding" if same else
                         f". The published values are α = {est.loc['alpha', 'published']:.3f}, "
                         f"β = {est.loc['beta', 'published']:.3f}, log-likelihood {row['published_loglike']:,.2f}")
        if "true_value" in est and np.isfinite(est.loc["alpha", "true_value"]):
            inside = bool(((est["ci_lower"] <= est["true_value"]) & (est["true_value"] <= est["ci_upper"])).all())
            sentence += (f". The simulation used α = {est.loc['alpha', 'true_value']:g}, β = {est.loc['beta', 'true_value']:g}, "
                         + ("both inside" if inside else "not both inside") + f" the {confidence:.0%} intervals")
        if a < 1:
            sentence += ". α below 1 means many customers are very likely to leave while others almost never do"
        parts.append(sentence + ".")
    return " ".join(parts)


def model_reason(choice: dict) -> str:
    """Why a segment is projected by its model, from its `ModelChoice.as_dict()`."""
    if choice["model"] == "BdW":
        return (f"the BdW, because the duration test below rejects constant individual churn ("
                f"{stats.p_text(choice['p_value'])}, c = {choice['c']:.2f})")
    if choice["reason"] == "BdW did not fit":
        return "the sBG (the BdW did not fit, so constant individual churn stays untested)"
    return (f"the sBG, because the duration test below does not reject constant individual churn ("
            f"{stats.p_text(choice['p_value'])})")


def projection_text(sorting: pd.DataFrame, confidence: float, choice: dict) -> str:
    parts = []
    for name, part in sorting.groupby("segment", sort=False):
        first, observed, last = part.iloc[0], part.iloc[1], part.iloc[-1]
        direction = ("rises" if last["retention"] > first["retention"] else
                     "falls" if last["retention"] < first["retention"] else "stays")
        beyond = int(last["t"] - observed["t"])
        parts.append(
            f"**{name}** is projected by {model_reason(choice[name])}. Its retention rate {direction} from "
            f"{first['retention']:.1%} at the first renewal to {observed['retention']:.1%} at renewal "
            f"{observed['t']:.0f}, the last one observed"
            + (f", and is projected at {last['retention']:.1%} at renewal {last['t']:.0f}, {beyond} renewals beyond "
               f"the data ({confidence:.0%} interval {last['retention_lower']:.1%}–{last['retention_upper']:.1%}; a "
               "projection past the data holds only if the model does)" if beyond > 0 else "")
            + f". The mean churn probability of the customers still there falls from "
            f"{first['mean_churn_survivors']:.1%} to {last['mean_churn_survivors']:.1%}.")
    sbg_only = all(c["model"] == "sBG" and c["reason"] != "BdW did not fit" for c in choice.values())
    rising = bool((sorting.groupby("segment")["retention"].agg(lambda s: s.iloc[-1] > s.iloc[0])).all())
    if rising and sbg_only:
        parts.append("In the sBG no customer's churn probability changes: the aggregate rate rises only because the "
                     "customers most likely to leave are the first to go (heterogeneity sorting). The duration test below does "
                     "not reject this, so a rising retention curve is here no evidence that loyalty grows with tenure.")
    elif rising and any(c["model"] == "BdW" for c in choice.values()):
        parts.append("Where the BdW projects, each customer's own churn changes with tenure as well: the rise in "
                     "retention is then part sorting, part a change in individual churn.")
    return " ".join(parts)


def duration_text(table: pd.DataFrame, level: float, kind: str = "segment") -> str:
    parts = []
    for _, r in table.iterrows():
        if not np.isfinite(r["c"]):
            parts.append(f"For **{r['segment']}** the BdW did not fit, so the sBG stands untested and projects this {kind}.")
            continue
        trend = ("falls" if r["c"] < 1 else "rises") + " with tenure for each customer"
        verdict = (f"the test rejects c = 1 at the {level:.0%} level ({stats.p_text(r['p_value'])}): individual "
                   f"churn {trend}, so the BdW projects and values this {kind}"
                   if r["p_value"] < level else
                   f"the test does not reject c = 1 ({stats.p_text(r['p_value'])}): the sBG's constant individual "
                   f"churn is consistent with these data (which is not proof of it), so the sBG projects and values "
                   f"this {kind}")
        parts.append(f"For **{r['segment']}** the BdW gives c = {r['c']:.2f} and raises the log-likelihood from "
                     f"{r['loglike_sbg']:,.2f} to {r['loglike_bdw']:,.2f} (statistic {r['statistic']:.2f}); {verdict}.")
    return " ".join(parts)


def size_text(size: dict, confidence: float) -> str:
    lo, hi = stats.wilson_interval(size["rejections"], size["cohorts"], confidence)
    inside = lo <= size["level"] <= hi
    design = (f"{size['cohort_size']:,} customers observed for {size['periods']} periods" if size.get("windows", 1) == 1
              else f"{size['cohort_size']:,} customers observed for up to {size['periods']} periods, each for as long "
                   f"as the data observe them")
    return (f"Under the sBG fitted to {size['null_segment']} (α = {size['null_alpha']:.3f}, β = {size['null_beta']:.3f}), "
            f"{size['cohorts']} data sets with the design of {size['null_segment']} ({design}) were simulated and "
            f"tested; the test rejected c = 1 in {size['rejection_rate']:.1%} of them ({confidence:.0%} interval "
            f"{lo:.1%}–{hi:.1%}), " + ("consistent with" if inside else "not consistent with")
            + f" its nominal size of {size['level']:.0%}.")


def interval_text(table: pd.DataFrame, confidence: float) -> str:
    parts = []
    for name, part in table.groupby("segment", sort=False):
        p, b = part[part["method"] == "parametric"].iloc[0], part[part["method"] == "bootstrap"].iloc[0]
        ratio = (b["upper"] - b["lower"]) / (p["upper"] - p["lower"])
        parts.append(f"For **{name}**, {p['quantity']} = {p['estimate']:.3f}: parametric {confidence:.0%} interval "
                     f"{p['lower']:.3f}–{p['upper']:.3f}, bootstrap {b['lower']:.3f}–{b['upper']:.3f} "
                     f"({b['draws'] - b['failed_refits']:.0f} re-fits); the bootstrap interval is "
                     f"{ratio:.2f} times as wide.")
    return " ".join(parts)


def coverage_text(c: dict) -> str:
    inside = c["ci_lower"] <= c["nominal"] <= c["ci_upper"]
    return (f"{c['replications']} data sets with the design of {c['truth_from']} ({c['cohort_size']:,} customers, "
            f"observed for up to {c['periods']} periods) were simulated from the {c['model']} fitted to "
            f"{c['truth_from']}; the parametric {c['nominal']:.0%} interval of "
            f"the survival at period {c['horizon']} held the true value {c['true_value']:.3f} in "
            f"{c['coverage']:.1%} of them (interval {c['ci_lower']:.1%}–{c['ci_upper']:.1%}), "
            + ("consistent with" if inside else "not consistent with") + " the nominal rate.")


def value_text(table: pd.DataFrame, total: dict, concentration: dict | None, kind: str = "tier") -> str:
    top = table.sort_values("value_per_customer", ascending=False).iloc[0]
    low = table.sort_values("value_per_customer").iloc[0]
    text = (f"The {total['active_customers']:,} active customers are worth **{total['residual_value']:,.0f}** in discounted "
            f"future payments ({total['confidence']:.0%} interval {total['lower']:,.0f}–{total['upper']:,.0f}). "
            f"A {top['tier']} customer is worth {top['value_per_customer']:,.1f} on average "
            f"(mean DERL {top['mean_derl']:.1f} periods)")
    if len(table) > 1:
        text += (f", a {low['tier']} customer {low['value_per_customer']:,.1f} (DERL {low['mean_derl']:.1f}); "
                 f"the {top['tier']} {kind} is {top['customer_share']:.1%} of the active customers and "
                 f"{top['value_share']:.1%} of their value")
    text += "."
    if concentration:
        text += (f" Among all subscribers the top 20% bring {concentration['top_share']:.1%} of revenue "
                 + ("(the 80/20 rule holds here)" if concentration["top_share"] >= 0.75 else "(less concentrated than 80/20)")
                 + ".")
    gap = 1 - total["value_ignoring_heterogeneity"] / total["residual_value"]
    text += (f" Valuing each {kind} as if every customer had its mean churn gives "
             f"{total['value_ignoring_heterogeneity']:,.0f}, "
             + (f"{gap:.1%} less: the customers still active are the ones who rarely leave, and ignoring that "
                "undervalues the base (Fader & Hardie 2010)." if gap >= 0.001 else
                f"{-gap:.1%} more." if gap <= -0.001 else "about the same."))
    return text


def programme_text(p: dict) -> str:
    text = (f"Lowering the mean churn probability of the **{p['tier']}** customers by {p['churn_reduction']:.0%} "
            f"(from {p['mean_churn_before']:.1%} to {p['mean_churn_after']:.1%} per period; β from {p['beta_before']:.2f} "
            f"to {p['beta_after']:.2f}) raises the residual value of its {p['customers']:,} active customers from "
            f"{p['value_before']:,.0f} to {p['value_after']:,.0f}, a gain of {p['gain']:,.0f} "
            f"({p['gain_per_customer']:,.2f} per customer). ")
    if p["programme_cost"] > 0:
        text += (f"At {p['programme_cost'] / p['customers']:,.2f} per customer the programme costs {p['programme_cost']:,.0f}, "
                 + ("so it pays for itself" if p["net_gain"] > 0 else "more than it brings")
                 + f" (net {p['net_gain']:,.0f}). ")
    if p["value_new_customer"] > 0:
        lift = p["value_new_customer_after"] / p["value_new_customer"] - 1
        text += (f"For a newly acquired customer, whose churn is not yet sorted, the programme raises lifetime value "
                 f"from {p['value_new_customer']:,.1f} to {p['value_new_customer_after']:,.1f} ({lift:+.1%}), against "
                 f"{p['gain_per_customer'] / (p['value_before'] / p['customers']):+.1%} for the customers already there. ")
    if np.isfinite(p["new_customers_equivalent"]):
        text += (f"A new customer of this kind is worth {p['value_new_customer']:,.1f} over their lifetime; after an "
                 f"acquisition cost of {p['acquisition_cost']:,.0f} the same gain would take "
                 f"{p['new_customers_equivalent']:,.0f} new customers and {p['acquisition_spend_equivalent']:,.0f} of "
                 "acquisition spending.")
    else:
        text += (f"A new customer of this kind is worth {p['value_new_customer']:,.1f}, less than the acquisition cost of "
                 f"{p['acquisition_cost']:,.0f}: acquiring more of them would destroy value, keeping them does not.")
    return text


def bgbb_text(fit: dict, totals: dict) -> str:
    p, pub = fit["params"], fit["published"]
    who, unit = ("donors", "years") if pub else ("customers", "periods")
    text = (f"On the {fit['donors']:,} {who} and up to {fit['periods']} opportunities each the BG/BB gives "
            f"α = {p['alpha']:.3f}, β = {p['beta']:.3f}, γ = {p['gamma']:.3f}, δ = {p['delta']:.3f} (log-likelihood "
            f"{fit['loglike']:,.1f})")
    if pub:
        same = (all(round(p[k], 3) == pub[k] for k in ("alpha", "beta", "gamma", "delta"))
                and round(fit["loglike"], 1) == pub["loglike"])
        text += ("; these are the published values at their rounding" if same else
                 f"; the published values are α = {pub['alpha']}, β = {pub['beta']}, γ = {pub['gamma']}, "
                 f"δ = {pub['delta']} (LL {pub['loglike']:,})")
    text += (f". The average {who[:-1]} is still alive with probability {totals['mean_p_alive']:.1%}; together the "
             f"{who} are expected to {'give' if pub else 'buy'} {totals['expected_next']:,.0f} times in the next {totals['future_periods']} "
             f"{unit}.")
    return text


def finding(retention_sections: dict, value_result: dict | None) -> str:
    """One line for the index page, from the computed results: retention up to the last observed
    renewal (the data's range), by the model the data chose, and the value of the active customers."""
    sorting = retention_sections.get("heterogeneity_sorting")
    parts = []
    if sorting is not None and len(sorting):
        seg = sorting["segment"].iloc[0]
        part = sorting[sorting["segment"] == seg]
        model = part["model"].iloc[0] if "model" in part else "sBG"
        first, observed = part.iloc[0], part.iloc[1]
        why = ("by heterogeneity sorting alone (sBG; constant individual churn not rejected)" if model == "sBG" else
               "with individual churn changing with tenure (BdW, preferred by the duration test)")
        verb = "rises" if observed["retention"] > first["retention"] else "does not rise"
        parts.append(f"{seg}: retention {verb} from {first['retention']:.0%} at the first renewal to "
                     f"{observed['retention']:.0%} at renewal {observed['t']:.0f}, the last observed, {why}")
    if value_result:
        parts.append(f"active customers worth {value_result['residual_value']:,.0f} "
                     f"({value_result['confidence']:.0%} interval {value_result['lower']:,.0f}–{value_result['upper']:,.0f})")
    return "; ".join(parts) + "." if parts else "No model could be fitted to these data."


def lead_sentences(sorting: pd.DataFrame | None, choice: dict, total: dict | None, programme: dict | None,
                   kind: str) -> list:
    """The contractual report's findings in plain words: retention over the observed renewals by the
    model the data chose, what the active customers are worth, and a retention programme's net effect."""
    out = []
    level = f"{total['confidence']:.0%} " if total and "confidence" in total else ""
    if sorting is not None and len(sorting):
        for name, part in list(sorting.groupby("segment", sort=False))[:2]:
            first, observed = part.iloc[0], part.iloc[1]
            verb = "rises" if observed["retention"] > first["retention"] else "falls" if \
                observed["retention"] < first["retention"] else "stays"
            d = stats.percent_digits(first["retention"], observed["retention"], observed["retention_lower"],
                                     observed["retention_upper"])
            out.append(f"In the {name} {kind}, retention {verb} from {first['retention']:.{d}%} at the first renewal to "
                       f"{observed['retention']:.{d}%} at renewal {observed['t']:.0f}, the last observed "
                       f"({level}interval {observed['retention_lower']:.{d}%}–{observed['retention_upper']:.{d}%}).")
    if choice:
        bdw = [k for k, c in choice.items() if c["model"] == "BdW"]
        rest = len(choice) - len(bdw)
        out.append(f"For {len(bdw)} of {len(choice)} {kind}s the data show each customer's churn changing with "
                   "tenure, so the beta-discrete-Weibull values " + ("it" if len(bdw) == 1 else "them")
                   + ("" if not rest else f"; the other{'s are' if rest > 1 else ' is'} valued with the sBG, where "
                      "retention rises only because the likeliest leavers leave first") + "." if bdw else
                   f"In no {kind} do the data reject constant individual churn: rising retention is consistent with "
                   "the likeliest leavers leaving first (heterogeneity sorting), which is not proof of it.")
    if total:
        out.append(f"The {total['active_customers']:,} active customers are worth {total['residual_value']:,.0f} in "
                   f"discounted future payments, in the currency of the payments ({total['confidence']:.0%} interval {total['lower']:,.0f}–"
                   f"{total['upper']:,.0f}).")
    if programme:
        out.append(f"A programme cutting the {programme['tier']} churn by {programme['churn_reduction']:.0%} would add "
                   f"{programme['gain']:,.0f} of value for {programme['programme_cost']:,.0f} of cost at the stated "
                   f"cost per customer: {'it would pay for itself' if programme['net_gain'] > 0 else 'it would not pay for itself'}"
                   " if it worked as assumed.")
    return out
