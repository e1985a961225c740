"""A simulated panel with known truth: three ordered relationship states (dormant, occasional, active)
in which a marketing contact in a month raises the chance of moving up a state next month and lowers
the chance of moving down (the mechanism of Netzer, Lattin & Srinivasan 2008, where encounters with the
firm move customers between states). Customers buy with a state's probability and spend a log-normal
amount when they buy. The report fits the model to these data and shows the truth recovered."""

from __future__ import annotations

import numpy as np

from ..models.hmm import HiddenMarkovModel, simulate_panel
from .data import StatesData

TRUE_STATES = 3
STATE_NAMES = ("dormant", "occasional", "active")
RESPONSES = {"purchased": "binary", "spend": "lognormal"}


def true_model() -> tuple[HiddenMarkovModel, np.ndarray]:
    """The model and its parameters: initial shares 0.5/0.3/0.2; purchase probabilities 0.03, 0.25,
    0.65; median spend 20, 27, 37 (log-sd 0.5); a contact multiplies the odds of moving up by e^1.0
    (from dormant) and e^0.8 (from occasional), and those of moving down by e^-0.7 and e^-0.6."""
    model = HiddenMarkovModel(TRUE_STATES, RESPONSES, transition_covariates=["contact"], ordered=True)
    B = np.zeros((3, 1))
    B[:, 0] = np.log([0.5, 0.3, 0.2]) - np.log(0.5)
    C = np.zeros((3, 3, 2))
    C[0, 1] = [-2.6, 1.0]            # dormant -> occasional
    C[1, 0] = [-1.8, -0.7]           # occasional -> dormant
    C[1, 2] = [-2.2, 0.8]            # occasional -> active
    C[2, 1] = [-2.0, -0.6]           # active -> occasional
    logit = np.log([0.03 / 0.97, 0.25 / 0.75, 0.65 / 0.35])
    spend = np.r_[np.log([20.0, 27.0, 37.0]), np.log([0.5, 0.5, 0.5])]
    return model, model.pack(B, C, {"purchased": logit, "spend": spend})


def simulated_data(settings, rng: np.random.Generator) -> StatesData:
    model, theta = true_model()
    n, T = settings.customers, settings.months
    contact = (rng.random((n, T)) < settings.contact_rate).astype(float)
    frame, states = simulate_panel(model, theta, n, T, rng, {}, {"contact": contact}, given={"spend": "purchased"})
    return StatesData(frame=frame, responses=dict(RESPONSES), codes={}, source="simulated",
                      description=(f"{n:,} simulated customers over {T} months, three ordered states, contacts in "
                                   f"{settings.contact_rate:.0%} of customer-months"),
                      transition_covariates=("contact",), purchase="purchased", spend="spend",
                      truth={"model": model, "theta": theta, "states": states, "n_states": TRUE_STATES,
                             "names": STATE_NAMES})
