"""The relationship-states report's data: one long panel (customer, period, responses, covariates).

* `transactions`: a transaction log (CDNOW) as a monthly panel: `purchased` (1 if the customer
  bought in the month) and `spend` (the month's spend, only when bought). A customer's sequence starts
  the month after the first purchase (the first month is a purchase by construction and would tell
  nothing about the state) and runs to the end of the data; the recency stage of each month under the
  lifecycle report's rules is kept for the comparison.
* `panel`: a user's file, validated here (`load_user_panel`): one clear line naming file, column and
  expectation for an unknown column, a response of the wrong type, a period repeated for a customer,
  a covariate with missing values, or too few customers for the number of states.
* `simulate` (`simulate.py`, chosen by `analyse`): a panel drawn from a model with known truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import config, datasets
from ..datasets import DataValidationError, _bad_rows, read_table, require_columns
from ..lifecycle.stages import assign_stages
from ..sections import simulated_caption, simulated_heading
from ..stage_rules import StageRules

MAX_CATEGORIES = 20


@dataclass
class StatesData:
    """The panel and what the model needs to know about it."""

    frame: pd.DataFrame                    # long: id, period, responses, covariates (and stage)
    responses: dict                        # name -> response type spec for HiddenMarkovModel
    codes: dict                            # name -> category values (text answers), for the panel builder
    source: str                            # "data" or "simulated"
    description: str
    initial_covariates: tuple = ()
    transition_covariates: tuple = ()
    purchase: str | None = None
    spend: str | None = None
    stage_column: str | None = None        # recency stage per row (transactions only)
    stage_labels: tuple = ()
    period_labels: dict = field(default_factory=dict)     # period number -> label (months)
    truth: dict | None = None              # simulated: the model, θ and the true states
    rows_dropped: dict = field(default_factory=dict)

    @property
    def binary_covariates(self) -> tuple:
        """The transition covariates that are 0 or 1 on every row (an event in the period, not an amount)."""
        return tuple(c for c in self.transition_covariates if self.frame[c].isin((0, 1)).all())

    @property
    def customers(self) -> int:
        return int(self.frame["id"].nunique())

    def heading(self, title: str) -> str | None:
        return simulated_heading(title) if self.source == "simulated" else None

    def caption(self, text: str) -> str:
        return simulated_caption(text) if self.source == "simulated" else text


# ------------------------------------------------------------------ a transaction log

def transaction_panel(transactions: pd.DataFrame, rules: StageRules, end=None) -> tuple[pd.DataFrame, dict]:
    """Monthly panel from a log: purchased, spend when bought, recency stage; entry months left out."""
    stages = assign_stages(transactions, rules, end)
    later = stages.extra["tenure"] >= 1
    frame = pd.DataFrame({
        "id": np.asarray(stages.customer_ids.astype(str))[stages.customer[later]],
        "period": stages.period[later] + 1,
        "purchased": (stages.extra["purchases"][later] > 0).astype(float),
        "spend": np.where(stages.extra["purchases"][later] > 0, stages.extra["revenue"][later], np.nan),
        "stage": np.asarray(stages.states)[stages.stage[later]],
    })
    labels = {i + 1: str(p) for i, p in enumerate(stages.period_labels)}
    return frame, labels


def stage_rules(settings) -> StageRules:
    return StageRules(tuple(settings.recency_bounds_months), tuple(settings.recency_labels))


# ------------------------------------------------------------------ a user's panel

def _numbers(df, path, column) -> pd.Series:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna()
    if bad.any():
        raise DataValidationError(path, column, f"numbers (found {str(df[column][bad].iloc[0])[:30]!r})", _bad_rows(bad))
    return values


def response_values(df, path, column, spec) -> tuple[pd.Series, list | None]:
    """A response column as numbers (missing codes and blanks NaN), checked against its type; text
    answers of a categorical response become their position among the sorted categories."""
    raw = df[column]
    if spec.type == "categorical":
        kept = raw[raw.notna() & ~raw.isin(spec.missing_codes) & ~raw.astype(str).isin(
            [f"{c:g}" for c in spec.missing_codes])]
        levels = sorted(pd.unique(kept.astype(str)))
        if len(levels) > MAX_CATEGORIES:
            raise DataValidationError(path, column, f"at most {MAX_CATEGORIES} categories for a categorical "
                                                    f"response (found {len(levels)})")
        if len(levels) < 2:
            raise DataValidationError(path, column, "at least two categories in a categorical response")
        return raw.astype(str).where(raw.index.isin(kept.index)), levels
    values = _numbers(df, path, column)
    values = values.where(~values.isin(spec.missing_codes))
    ok = values.dropna()
    kind = spec.type
    checks = {
        "binary": (ok.isin([0, 1]), "0 or 1 for a binary response"),
        "poisson": ((ok >= 0) & (ok == np.round(ok)), "whole numbers of at least 0 for a count (poisson) response"),
        "lognormal": (ok >= 0, "amounts of at least 0 for a spend response (0 or blank: no purchase)"),
        "gamma": (ok >= 0, "amounts of at least 0 for a spend response (0 or blank: no purchase)"),
        "gaussian": (pd.Series(True, index=ok.index), "numbers"),
        "ordinal": (ok.isin(spec.levels or []), f"whole answers on the declared scale "
                                                f"{spec.scale[0]:g}–{spec.scale[1]:g} or a missing code"
                    if spec.scale else ""),
    }
    good, expectation = checks[kind]
    if not good.all():
        bad = values.index.isin(ok.index[~good.to_numpy()])
        raise DataValidationError(path, column, f"{expectation} (found {ok[~good].iloc[0]:g})", _bad_rows(bad))
    if ok.nunique() < 2 and kind != "gaussian":
        raise DataValidationError(path, column, "answers that vary (every answer is the same)")
    return values, None


def load_user_panel(source, max_states: int) -> pd.DataFrame:
    """A user's panel, validated; columns renamed to id and period, responses as numbers."""
    path = source.path
    df = read_table(path, text_columns=[source.id_column])
    covariates = [*source.initial_covariates, *source.transition_covariates]
    require_columns(path, df.columns, [source.id_column, source.period_column, *source.responses, *covariates])
    ids = df[source.id_column]
    if ids.isna().any():
        raise DataValidationError(path, source.id_column, "a customer id on every row", _bad_rows(ids.isna()))
    periods = _numbers(df, path, source.period_column)
    if periods.isna().any() or not (periods == np.round(periods)).all():
        bad = periods.isna() | (periods != np.round(periods))
        raise DataValidationError(path, source.period_column, "whole-number periods on every row", _bad_rows(bad))
    repeated = pd.DataFrame({"i": ids.astype(str), "p": periods}).duplicated()
    if repeated.any():
        first = int(np.flatnonzero(repeated.to_numpy())[0])
        raise DataValidationError(path, source.period_column,
                                  f"one row per customer and period (period {periods.iloc[first]:g} repeated for "
                                  f"customer {str(ids.iloc[first])[:40]})", _bad_rows(repeated))
    out = pd.DataFrame({"id": ids.astype(str), "period": periods.astype(np.int64)})
    for column, spec in source.responses.items():
        out[column], _ = response_values(df, path, column, spec)
    for column in covariates:
        values = _numbers(df, path, column)
        if values.isna().any():
            raise DataValidationError(path, column, "a value on every row for a covariate (no missing values)",
                                      _bad_rows(values.isna()))
        out[column] = values
    customers = out["id"].nunique()
    need = config.HMM_MIN_CUSTOMERS_PER_STATE * max_states
    if customers < need:
        raise DataValidationError(path, source.id_column,
                                  f"at least {need} customers for up to {max_states} states "
                                  f"({config.HMM_MIN_CUSTOMERS_PER_STATE} per state; found {customers})")
    return out


def user_responses(source) -> tuple[dict, dict]:
    """Model response specs and category codes of a user's panel."""
    specs, codes = {}, {}
    for name, spec in source.responses.items():
        if spec.type == "ordinal":
            specs[name] = {"type": "ordinal", "levels": spec.levels}
        else:
            specs[name] = spec.type
    return specs, codes


# ------------------------------------------------------------------ the report's data

def load_data(params) -> StatesData:
    """A user's panel or a transaction log as the report's panel (a simulated one: `simulate.simulated_data`)."""
    if params.panel is not None:
        source = params.panel
        frame = source.load()
        specs, codes = user_responses(source)
        for name, spec in source.responses.items():
            if spec.type == "categorical":        # text categories -> their sorted positions
                levels = sorted(pd.unique(frame[name].dropna().astype(str)))
                frame[name] = frame[name].map({v: float(k) for k, v in enumerate(levels)})
                codes[name] = levels
                specs[name] = {"type": "categorical", "levels": [float(k) for k in range(len(levels))]}
        return StatesData(frame=frame, responses=specs, codes=codes, source="data",
                          description=f"the panel in {source.file().name}",
                          initial_covariates=tuple(source.initial_covariates),
                          transition_covariates=tuple(source.transition_covariates),
                          purchase=source.purchase_response, spend=source.spend_response)
    rules = stage_rules(params.stage_rules)
    transactions = params.transactions.load()
    frame, labels = transaction_panel(transactions, rules, params.stage_rules.end_month)
    name = params.transactions.dataset or params.transactions.file().name
    return StatesData(frame=frame, responses={"purchased": "binary", "spend": "lognormal"}, codes={}, source="data",
                      description=f"{name}: a monthly panel of purchase (yes/no) and spend when bought",
                      purchase="purchased", spend="spend", stage_column="stage", stage_labels=rules.states,
                      period_labels=labels)


def data_files(params) -> dict:
    if params.panel is not None:
        return {"panel": params.panel.path}
    if params.transactions is not None:
        source = params.transactions
        return {"transactions": str(datasets.SHIPPED[source.dataset].path if source.dataset else source.path)}
    return {}
