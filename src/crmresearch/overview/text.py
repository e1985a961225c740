"""Sentences of the CRM overview, from numbers only: each text function takes a computed summary
(never the parameters) and every clause is conditional on what it states."""

from __future__ import annotations

from ..config import SATISFIED_LOSS_SHARE
from ..stats import ci_label, net_sign, share_label
from .analyse import RecommendationSummary, SatisfactionSummary, TrapSummary


def satisfaction_text(s: SatisfactionSummary) -> str:
    p = s.satisfied
    answered = "" if s.answered == s.respondents else f", {s.answered} of whom answer every satisfaction item"
    return (f"The survey has **{s.respondents} respondents**{answered}. Mean satisfaction is **{s.mean:.2f}** on the "
            f"{s.scale} scale, and **{p.estimate:.1%}** ({ci_label(s.confidence)}, Wilson: {p.lower:.1%}–"
            f"{p.upper:.1%}) score {s.satisfied_min:g} or more, the report's definition of *satisfied*.")


def recommendation_text(r: RecommendationSummary) -> str:
    n = r.score
    ci = ci_label(r.confidence)
    if r.is_nps:
        return (f"NPS is **{n.nps:+.1f}** points ({ci} {n.lower:+.1f} to {n.upper:+.1f}): {n.promoters:.1f}% "
                f"promoters ({r.top_min:g} or more), {n.passives:.1f}% passives and {n.detractors:.1f}% detractors "
                f"({r.bottom_max:g} or less).")
    return (f"NPS is not defined on the {r.scale} recommendation scale (it needs a 0–10 or 1–10 item); the net "
            f"top-box score, the share answering {r.top_min:g} or more minus the share answering {r.bottom_max:g} or "
            f"less, is **{n.nps:+.1f}** points ({ci} {n.lower:+.1f} to {n.upper:+.1f}): {n.promoters:.1f}% top, "
            f"{n.passives:.1f}% middle and {n.detractors:.1f}% bottom answers.")


def trap_text(t: TrapSummary) -> str:
    p = t.share
    if not p.n:
        return (f"No respondent scores {t.satisfied_min:g} or more on satisfaction, so the share of satisfied "
                "respondents who would not choose the provider again is undefined.")
    return (f"Of the **{p.n}** satisfied respondents (SAT ≥ {t.satisfied_min:g}), **{p.successes}** ({p.estimate:.1%}, "
            f"{ci_label(t.confidence)} {p.lower:.1%}–{p.upper:.1%}) would not choose the provider again "
            f"(score ≤ {t.not_again_max:g} on '{t.item}').")


def finding(recommendation, trap, behaviour, window_days: int, top_fraction: float) -> str:
    """Recommendation score, the satisfied who would not choose again, repeat buying and concentration."""
    score = recommendation.results.get("nps") or recommendation.results.get("net_top_box")
    name = "NPS" if "nps" in recommendation.results else "Net top-box score"
    t = trap.results["satisfied_would_not_choose_again"]
    rep = behaviour.results["repeat_purchase"]
    parts = [f"{name} {score.nps:+.0f}",
             f"{t.estimate:.0%} of satisfied respondents would not choose again" if t.n else
             "no respondent counts as satisfied",
             f"{rep.estimate:.0%} of buyers return within {window_days} days" if rep.n else
             f"no buyer is observed for a whole {window_days}-day window",
             f"the top {share_label(top_fraction)} of customers bring "
             f"{behaviour.results['top_share_of_revenue']:.0%} of revenue"]
    return "; ".join(parts) + "."


def lead_sentences(recommendation, trap, behaviour, window_days: int, top_fraction: float,
                   confidence: float) -> list:
    """The overview's findings in plain words, each with its number, interval and what it means."""
    ci = ci_label(confidence)
    out = []
    t = trap.results["satisfied_would_not_choose_again"]
    if t.n:
        meaning = ("being satisfied does not make a customer loyal, which is the satisfaction trap"
                   if t.estimate >= SATISFIED_LOSS_SHARE else "here satisfaction and the intention to stay go together")
        out.append(f"{t.estimate:.0%} of the satisfied respondents would not choose the provider again "
                   f"({ci} {t.lower:.0%}–{t.upper:.0%}): {meaning}.")
    score = recommendation.results.get("nps") or recommendation.results.get("net_top_box")
    name = ("The recommendation score (NPS)" if "nps" in recommendation.results else
            "The recommendation score (Net top-box score, as the scale has no NPS)")
    out.append(f"{name} is {score.nps:+.0f} points ({ci} {score.lower:+.0f} to {score.upper:+.0f}): "
               f"{net_sign(score.lower, score.upper)}.")
    rep = behaviour.results["repeat_purchase"]
    if rep.n:
        out.append(f"{rep.estimate:.0%} of buyers bought again within {window_days} days of their first purchase "
                   f"({ci} {rep.lower:.0%}–{rep.upper:.0%})"
                   + (": most buyers did not return within that window." if rep.upper < 0.5
                      else ": most buyers came back within that window." if rep.lower > 0.5
                      else ": the data cannot tell whether most buyers came back within that window."))
    top = behaviour.results["top_share_of_revenue"]
    out.append(f"The top {share_label(top_fraction)} of customers bring {top:.0%} of revenue"
               + (": value is concentrated, and losing a few of the best customers costs much of it." if top >= 0.6
                  else ": value is spread fairly widely across customers."))
    return out
