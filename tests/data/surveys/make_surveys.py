"""Make the users'-survey fixtures of tests/test_user_surveys.py (deterministic; the CSVs are committed).

Run from the project root: ``.venv/bin/python tests/data/surveys/make_surveys.py``. Each survey is
drawn from a known model, so the report's verdicts can be checked against the truth:

* ``likert7_codes.csv``: 1-7 items, -99 codes and blank cells, loyalty a *straight* latent line in
  satisfaction seen through the 1-7 ceiling (no real bend); no behaviour, attributes or switching cost.
* ``likert5.csv``: 5-point items with a *real* bend (loyalty flat up to SAT 3.5, then steep),
  a 0-10 recommendation item, observed churn and three attributes (one basic, one attractive,
  one without asymmetry).
* ``index100.csv``: loyalty a continuous 0-100 index (straight in satisfaction, capped at 100),
  satisfaction on 1-10, a 0-10 recommendation item; 999 codes the index as missing.
* ``switching.csv``: 1-10 items, a switching-cost item and observed repurchase, no attributes;
  loyalty rises 0.8 points per SAT point with a low switching cost and 0.2 with a high one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def answer(latent, low, high, rng, noise=0.5):
    return np.clip(np.rint(latent + noise * rng.standard_normal(np.shape(latent))), low, high).astype(int)


def likert7_codes(seed=701, n=300):
    rng = np.random.default_rng(seed)
    s = rng.uniform(1.5, 7.8, n)
    df = pd.DataFrame({"resp": np.arange(1, n + 1), "sat_a": answer(s, 1, 7, rng), "sat_b": answer(s, 1, 7, rng)})
    latent_loyalty = 0.8 + 0.85 * s + 0.7 * rng.standard_normal(n)     # straight; the ceiling at 7 bends it
    df["again"] = answer(latent_loyalty, 1, 7, rng, 0.4)
    df["recommend"] = answer(latent_loyalty, 1, 7, rng, 0.4)
    df = df.astype(object)
    codes = rng.random((n, 4)) < 0.05
    blanks = rng.random((n, 4)) < 0.03
    items = ["sat_a", "sat_b", "again", "recommend"]
    for j, col in enumerate(items):
        df.loc[codes[:, j], col] = -99
        df.loc[blanks[:, j] & ~codes[:, j], col] = ""
    return df


def likert5(seed=502, n=800):
    rng = np.random.default_rng(seed)
    q = rng.uniform(0, 1, (n, 3))
    s = 1 + 4 * (0.45 * q[:, 0] + 0.2 * q[:, 1] + 0.35 * q[:, 2]) + 0.25 * rng.standard_normal(n)
    s = np.clip(s, 1, 5)
    # a real bend: flat (0.1 per point) up to 3.5, then steep (1.6 per point)
    loyalty = 1.8 + 0.1 * (s - 1) + 1.5 * np.clip(s - 3.5, 0, None) + 0.25 * rng.standard_normal(n)
    df = pd.DataFrame({"id": np.arange(1001, 1001 + n)})
    for k in ("s1", "s2", "s3"):
        df[k] = answer(s, 1, 5, rng, 0.35)
    df["stay"] = answer(loyalty, 1, 5, rng, 0.3)
    df["again"] = answer(loyalty, 1, 5, rng, 0.3)
    df["nps10"] = np.clip(np.rint(2.5 * (loyalty - 1) + 0.8 * rng.standard_normal(n)), 0, 10).astype(int)
    p_churn = 1 / (1 + np.exp(2.2 * (loyalty - 2.6)))
    df["churned"] = (rng.random(n) < p_churn).astype(int)
    df["network"] = answer(1 + 4 * q[:, 0], 1, 5, rng, 0.3)   # basic
    df["design"] = answer(1 + 4 * q[:, 1], 1, 5, rng, 0.3)    # weak
    df["service"] = answer(1 + 4 * q[:, 2], 1, 5, rng, 0.3)   # tied to the steep part: attractive
    return df


def index100(seed=1003, n=400):
    rng = np.random.default_rng(seed)
    s = rng.uniform(1, 10, n)
    df = pd.DataFrame({"customer": [f"c{i:04d}" for i in range(n)], "sat1": answer(s, 1, 10, rng),
                       "sat2": answer(s, 1, 10, rng)})
    index = np.clip(8 + 10 * s + 9 * rng.standard_normal(n), 0, 100)
    df["loyalty_index"] = np.round(index, 2)
    df["choose_again"] = answer(1 + index / 11.2, 1, 10, rng)
    df["recommend"] = np.clip(np.rint(index / 10 + 0.7 * rng.standard_normal(n)), 0, 10).astype(int)
    gone = rng.random(n) < 0.04
    df.loc[gone, "loyalty_index"] = 999
    return df


def switching(seed=1004, n=500):
    rng = np.random.default_rng(seed)
    s = rng.uniform(1, 10, n)
    high = rng.random(n) < 0.5
    cost = np.where(high, rng.integers(7, 11, n), rng.integers(1, 5, n))
    latent = np.where(high, 6.5 + 0.2 * (s - 5.5), 5.0 + 0.8 * (s - 5.5)) + 0.6 * rng.standard_normal(n)
    df = pd.DataFrame({"sat": answer(s, 1, 10, rng), "sat_expect": answer(s, 1, 10, rng),
                       "again": answer(latent, 1, 10, rng, 0.4), "recommend": answer(latent, 1, 10, rng, 0.4),
                       "lock_in": cost})
    p_stay = np.where(high, 0.9, 1 / (1 + np.exp(-1.2 * (latent - 5.0))))
    df["repurchased"] = (rng.random(n) < p_stay).astype(int)
    return df


if __name__ == "__main__":
    for name, make in (("likert7_codes", likert7_codes), ("likert5", likert5), ("index100", index100),
                       ("switching", switching)):
        make().to_csv(HERE / f"{name}.csv", index=False)
        print(name)
