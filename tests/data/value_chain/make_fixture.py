"""Writes the user-data fixture of tests/test_satisfaction_to_value.py (run from the project root).

A survey on a 1-7 scale with its own column names (`kundennr`, `zufr_1`, `zufr_2`, `wiederwahl`,
`empfehlung`, `wechselkosten`), blanks and a missing code (-9), and a transaction log with other
names (`kunde`, `datum`, `umsatz`, dates as day.month.year). 30 respondents have no purchases
(unmatched ids) and 40 buyers did not answer the survey.
"""

import numpy as np
import pandas as pd

from crmresearch.value_chain import PanelTruth, simulate_panel
from crmresearch.value_chain.data import log_from_summary

rng = np.random.default_rng(77)
panel = simulate_panel(900, PanelTruth(), seed=77)
frame = panel.summary.assign(satisfaction=panel.survey["satisfaction"])
frame["customer_id"] = "K" + frame["customer_id"].str[1:]
log = log_from_summary(frame, "1997-09-30", 39.0, rng)
seven = np.clip(np.rint(1 + (panel.survey["satisfaction"].to_numpy() - 1) * 6 / 9), 1, 7)
z1 = np.clip(seven + rng.integers(-1, 2, seven.size), 1, 7)
z2 = np.clip(2 * seven - z1, 1, 7)
again = np.clip(np.rint(seven + rng.normal(0, 1, seven.size)), 1, 7)
recommend = np.clip(np.rint(seven + rng.normal(0, 1, seven.size)), 1, 7)
survey = pd.DataFrame({"kundennr": frame["customer_id"], "zufr_1": z1, "zufr_2": z2, "wiederwahl": again,
                       "empfehlung": recommend, "wechselkosten": panel.survey["switching_cost"]})
survey = survey.astype({"zufr_1": "Int64", "zufr_2": "Int64", "wiederwahl": "Int64", "empfehlung": "Int64"})
survey.loc[[3, 50], "zufr_1"] = pd.NA              # blanks
survey.loc[[7, 80, 120], "wechselkosten"] = -9     # missing code
answered = survey.iloc[:860]                       # the last 40 buyers did not answer
ghosts = pd.DataFrame({"kundennr": [f"X{i:03d}" for i in range(30)], "zufr_1": 5, "zufr_2": 6, "wiederwahl": 6,
                       "empfehlung": 5, "wechselkosten": 3})   # respondents without purchases
pd.concat([answered, ghosts]).sample(frac=1, random_state=1).to_csv("tests/data/value_chain/survey_1to7.csv", index=False)
out = pd.DataFrame({"kunde": log["customer_id"], "datum": log["date"].dt.strftime("%d.%m.%Y"),
                    "umsatz": log["amount"].round(2)})
out.to_csv("tests/data/value_chain/purchases.csv", index=False)
