"""From a parameter set to one tidy respondent table the report's sections share.

Whatever the source (ECSI mobile survey, a user's file, a simulated market), the report works
on the same columns: ``satisfaction`` (SAT, mean of the satisfaction items), ``loyalty`` (mean
of the loyalty items), ``choose_again``, ``recommend``, optional ``repurchased`` (observed
behaviour), ``switching_cost``, the attribute columns and ``segment``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .simulation import SATISFACTION_ITEMS, simulate_market

# Item wording of the ECSI mobile survey's perceived-quality block (semPLS `mobi` documentation).
MOBI_QUALITY_LABELS = {
    "PERQ1": "Overall perceived quality",
    "PERQ2": "Technical quality of the network",
    "PERQ3": "Customer service and personal advice",
    "PERQ4": "Quality of the services used",
    "PERQ5": "Range of services and products",
    "PERQ6": "Reliability and accuracy of services",
    "PERQ7": "Clarity and transparency of information",
}


@dataclass
class SurveyData:
    """The respondent table plus what the sections need to know about it."""

    frame: pd.DataFrame
    source: str                      # "survey" or "simulation"
    label: str                       # for prose: "the ECSI mobile-phone survey", ...
    scale: tuple[float, float]
    attributes: list[str]
    attribute_labels: dict = field(default_factory=dict)
    has_behaviour: bool = False
    scenario: object | None = None   # the MarketScenario when simulated
    data_files: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.frame)


def load_report_data(params) -> SurveyData:
    """Build the respondent table from a validated `SatisfactionLoyaltyParameters`."""
    if params.simulation is not None:
        sc = params.simulation.market()
        df = simulate_market(sc, params.seed)
        attrs = [c for c in df.columns if c.startswith(("basic_", "potential_"))]
        frame = df[["respondent_id", "satisfaction", "choose_again", "recommend", "repurchased", "switching_cost",
                    *attrs]].copy()
        frame["loyalty"] = df[["choose_again", "recommend"]].mean(axis=1)
        labels = {a: a.replace("_", " ") + (" (basic expectation)" if a.startswith("basic") else
                                            " (potential expectation)") for a in attrs}
        return SurveyData(frame, "simulation", f"a simulated {sc.name} market", (sc.scale_low, sc.scale_high),
                          attrs, labels, True, sc, {})
    survey = params.survey
    raw = survey.load()
    frame = pd.DataFrame({"respondent_id": raw["respondent_id"].to_numpy()})
    frame["satisfaction"] = raw[survey.satisfaction].mean(axis=1).to_numpy()
    frame["loyalty"] = raw[survey.loyalty].mean(axis=1).to_numpy()
    frame["choose_again"] = raw[survey.repurchase].to_numpy(float)
    frame["recommend"] = raw[survey.recommendation].to_numpy(float)
    has_behaviour = survey.behaviour is not None
    if has_behaviour:
        observed = raw[survey.behaviour]
        keep = observed.notna().to_numpy()
        value = observed.to_numpy(float) == 1
        frame["repurchased"] = np.where(keep, value if survey.behaviour_means == "repurchased" else ~value, np.nan)
    if survey.switching_cost:
        frame["switching_cost"] = raw[survey.switching_cost].to_numpy(float)
    for a in survey.attributes:
        frame[a] = raw[a].to_numpy(float)
    if survey.segment:
        frame["segment"] = raw[survey.segment].to_numpy()
    label = "the ECSI mobile-phone survey" if survey.dataset == "mobi" else f"the survey file {survey.file().name}"
    labels = MOBI_QUALITY_LABELS if survey.dataset == "mobi" else {}
    return SurveyData(frame, "survey", label, (survey.scale.low, survey.scale.high), list(survey.attributes),
                      {a: labels.get(a, a) for a in survey.attributes}, has_behaviour, None,
                      {"survey": survey.file()})


def satisfaction_items_note(params) -> str:
    """Which answers make SAT and loyalty, in words."""
    if params.simulation is not None:
        return (f"SAT is the mean of the three simulated satisfaction items ({', '.join(SATISFACTION_ITEMS)}); "
                "loyalty is the mean of 'would choose again' and 'would recommend'.")
    s = params.survey
    return (f"SAT is the mean of {', '.join(s.satisfaction)}; loyalty is the mean of {', '.join(s.loyalty)}; "
            f"'would choose again' is {s.repurchase} and the recommendation item is {s.recommendation}.")
