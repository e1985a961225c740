"""The report's data: from a parameter set to one respondent table.

Whatever the source (ECSI mobile survey, a user's file, a simulated market), the report works
on the same columns: ``satisfaction`` (SAT, mean of the satisfaction items), ``loyalty`` (mean
of the loyalty items), ``choose_again``, ``recommend``, optional ``repurchased`` (observed
behaviour), ``switching_cost`` and the attribute columns. A score is missing when
one of its items is (blank or a declared missing code).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..parameters.sources import Scale, relative_cutoff
from .simulation import SATISFACTION_ITEMS, SCENARIOS, simulate_market

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
MEASURE_COLUMNS = {"satisfaction": "satisfaction", "loyalty": "loyalty", "repurchase": "choose_again",
                   "recommendation": "recommend", "behaviour": "repurchased", "switching_cost": "switching_cost"}


@dataclass
class SurveyData:
    """The respondent table plus what the sections need to know about it."""

    frame: pd.DataFrame
    source: str                      # "survey" or "simulation"
    label: str                       # for prose: "the ECSI mobile-phone survey", ...
    scales: dict                     # measure -> (low, high)
    attributes: list[str]
    attribute_labels: dict = field(default_factory=dict)
    has_behaviour: bool = False
    scenario: object | None = None   # the MarketScenario when simulated
    data_files: dict = field(default_factory=dict)
    items_note: str = ""             # which answers make SAT and loyalty, in words
    items: pd.DataFrame | None = None    # the structural model's items (missing codes as NaN), when declared

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def scale(self) -> tuple[float, float]:
        """The loyalty scale (the ceiling the checks are about)."""
        return self.scales["loyalty"]

    @property
    def satisfaction_scale(self) -> tuple[float, float]:
        return self.scales["satisfaction"]

    @property
    def has_switching_cost(self) -> bool:
        return "switching_cost" in self.frame

    @property
    def section_source(self) -> str:
        """Where a section on this data gets its numbers: the report's data or a simulated market."""
        return "simulated" if self.source == "simulation" else "data"

    def complete(self, *measures) -> tuple[np.ndarray, dict]:
        """Rows answering every one of ``measures`` (measure names or columns), and the rows left out by reason."""
        cols = [MEASURE_COLUMNS.get(m, m) for m in measures]
        cols = [c for c in cols if c in self.frame]
        keep = self.frame[cols].notna().all(axis=1).to_numpy()
        dropped = int((~keep).sum())
        names = ", ".join(m for m in measures if MEASURE_COLUMNS.get(m, m) in self.frame)
        return keep, ({f"missing {names}": dropped} if dropped else {})


def simulated_survey_data(sc, seed) -> SurveyData:
    """Respondents of a simulated market (`simulation.MarketScenario`), with its attributes and behaviour."""
    df = simulate_market(sc, seed)
    attrs = [c for c in df.columns if c.startswith(("basic_", "potential_"))]
    frame = df[["respondent_id", "satisfaction", "choose_again", "recommend", "repurchased", "switching_cost",
                *attrs]].copy()
    frame["repurchased"] = frame["repurchased"].astype(float)
    frame["loyalty"] = df[["choose_again", "recommend"]].mean(axis=1)
    labels = {a: a.replace("_", " ") + (" (basic expectation)" if a.startswith("basic") else
                                        " (potential expectation)") for a in attrs}
    scale = (sc.scale_low, sc.scale_high)
    return SurveyData(frame, "simulation", f"a simulated {sc.name} market",
                      {m: scale for m in ("satisfaction", "loyalty", "repurchase", "recommendation", "switching_cost",
                                          "attributes")}, attrs, labels, True, sc, {},
                      items_note(SATISFACTION_ITEMS, ["would choose again", "would recommend"], None, None))


def load_report_data(params) -> SurveyData:
    """Build the respondent table from a validated `SatisfactionLoyaltyParameters`."""
    if params.simulation is not None:
        return simulated_survey_data(params.simulation.market(), params.seed)
    survey = params.survey
    raw = survey.load()
    frame = pd.DataFrame({"respondent_id": raw["respondent_id"].to_numpy()})
    # A score is missing when one of its items is (complete items, not a mean of whatever was answered).
    frame["satisfaction"] = raw[survey.satisfaction].mean(axis=1, skipna=False).to_numpy()
    frame["loyalty"] = raw[survey.loyalty].mean(axis=1, skipna=False).to_numpy()
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
    items = raw[survey.structural_model.items].astype(float) if survey.structural_model else None
    label = "the ECSI mobile-phone survey" if survey.dataset == "mobi" else f"the survey file {survey.file().name}"
    labels = MOBI_QUALITY_LABELS if survey.dataset == "mobi" else {}
    scales = {m: survey.measure_scale(m).bounds for m in survey.MEASURES}
    return SurveyData(frame, "survey", label, scales, list(survey.attributes),
                      {a: labels.get(a, a) for a in survey.attributes}, has_behaviour, None,
                      {"survey": survey.file()},
                      items_note(survey.satisfaction, survey.loyalty, survey.repurchase, survey.recommendation), items)


def items_note(satisfaction, loyalty, repurchase: str | None, recommendation: str | None) -> str:
    """Which answers make SAT and loyalty, in words."""
    text = f"SAT is the mean of {', '.join(satisfaction)}; loyalty is the mean of {', '.join(loyalty)}"
    if repurchase:
        text += f"; 'would choose again' is {repurchase} and the recommendation item is {recommendation}"
    return text + "."


def cutoffs_table(params) -> pd.DataFrame:
    """The cut-offs this run used, the measure and scale each belongs to and where its value comes from."""
    from ..parameters.satisfaction_loyalty import CUTOFFS

    origins = params.cutoff_origins
    return pd.DataFrame([{"cut-off": name, "measure": measure,
                          "scale": params.scale_of(measure).label(), "value": f"{getattr(params, name):g}",
                          "from": origins.get(name, "")} for name, (measure, _) in CUTOFFS.items()])


def illustration_cutoffs(params) -> dict:
    """Cut-offs for a simulated 1-10 market: the report's own where its measures are on 1-10, else the
    default rules on 1-10 (a 1-7 cut-off never labels a 1-10 market)."""
    from ..parameters.satisfaction_loyalty import CUTOFFS

    sim = Scale(low=SCENARIOS["competitive"].scale_low, high=SCENARIOS["competitive"].scale_high)
    out = {}
    for name, (measure, rule) in CUTOFFS.items():
        own = params.scale_of(measure)
        out[name] = getattr(params, name) if own.bounds == sim.bounds else relative_cutoff(sim, rule)
    return out
