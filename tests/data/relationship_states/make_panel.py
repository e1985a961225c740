"""Writes panel.csv: a small simulated customer panel for the relationship-states tests (run once;
deterministic). 300 customers with zero-padded ids, 10 months, some months missing, a purchase
indicator, spend when bought, a 1-5 satisfaction item with 9 = "no answer" and blanks, a monthly
contact indicator (transition covariate) and age (initial covariate)."""

from pathlib import Path

import numpy as np

from crmresearch.models.hmm import HiddenMarkovModel, simulate_panel

model = HiddenMarkovModel(2, {"purchased": "binary", "spend": "lognormal",
                              "satisfaction": {"type": "ordinal", "levels": [1, 2, 3, 4, 5]}},
                          initial_covariates=["age"], transition_covariates=["contact"])
B = np.array([[0.0, 0.0], [-0.3, 0.5]])
C = np.zeros((2, 2, 2))
C[0, 1], C[1, 0] = [-2.0, 1.0], [-2.2, -0.6]
theta = model.pack(B, C, {"purchased": [-1.8, 0.6], "spend": [3.0, 3.5, np.log(0.5), np.log(0.45)],
                          "satisfaction": [-1.5, 0.0, 0.0, 0.2, 1.2]})
rng = np.random.default_rng(2026)
n, T = 300, 10
age = np.round(rng.normal(0, 1, n), 2)
contact = (rng.random((n, T)) < 0.3).astype(float)
df, _ = simulate_panel(model, theta, n, T, rng, {"age": age}, {"contact": contact}, given={"spend": "purchased"})
df["id"] = [f"{int(i[1:]):05d}" for i in df["id"]]
df = df[(rng.random(len(df)) > 0.05) | (df["period"] == 1)]
sat = df["satisfaction"].astype("Int64").astype(object)
sat[rng.random(len(df)) < 0.1] = 9
sat[rng.random(len(df)) < 0.1] = None
df["satisfaction"] = sat
df = df.rename(columns={"id": "customer", "period": "month"})
df["spend"] = df["spend"].round(2)
df.to_csv(Path(__file__).with_name("panel.csv"), index=False)
