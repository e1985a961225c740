"""Customer panels for the hidden Markov model: long rows (id, period, responses, covariates) to
aligned arrays, and identical histories collapsed to one row with a weight.

Each customer's sequence runs from the first to the last period listed for them (so sequences have
unequal lengths and start where the customer starts); a period inside that range with no row, or a
response left empty, is a gap: the state moves on but nothing is observed. Time-varying covariates
of a missing period carry the last observed value forward. The transition from period t to t + 1
uses the covariates of period t; the initial probabilities use those of the customer's first period.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .base import collapse_rows


@dataclass
class Panel:
    """Aligned panel arrays. Row i is customer `ids[i]`; column t is period `start[i] + t`."""

    ids: np.ndarray
    start: np.ndarray              # first period per customer
    length: np.ndarray             # periods from first to last, gaps included
    responses: dict                # name -> (N, T) float, NaN where not observed
    initial: np.ndarray            # (N, q0) covariates of the initial probabilities, constant first
    transition: np.ndarray         # (N, T, q1) covariates of the transition out of period t, constant first
    initial_names: tuple = ()
    transition_names: tuple = ()
    weights: np.ndarray | None = None      # customers per row (rows collapsed)
    inverse: np.ndarray | None = None      # customer -> row of the collapsed panel
    extra: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.length.size)

    @property
    def n_customers(self) -> int:
        return int(self.weights.sum()) if self.weights is not None else self.n_rows

    @property
    def T(self) -> int:
        return int(self.transition.shape[1])

    def n_observations(self) -> int:
        """Customer-periods inside each sequence (gaps included), weighted."""
        w = self.weights if self.weights is not None else np.ones(self.n_rows)
        return int(np.sum(w * self.length))


def forward_fill(values: np.ndarray) -> np.ndarray:
    """NaNs along axis 1 replaced by the last earlier finite value (vectorised over rows)."""
    T = values.shape[1]
    valid = np.isfinite(values)
    index = np.where(valid, np.arange(T).reshape((1, T) + (1,) * (values.ndim - 2)), 0)
    index = np.maximum.accumulate(index, axis=1)
    return np.take_along_axis(values, index, axis=1)


def numeric_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    bad = frame[name].notna().to_numpy() & ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"column {name!r}: expected numbers, found {frame[name][bad].iloc[0]!r}")
    return values


def panel_from_long(data: pd.DataFrame, id: str, period: str, responses, initial_covariates=(),
                    transition_covariates=(), codes: dict | None = None) -> Panel:
    """Aligned arrays from long rows. `codes` maps a response to its category values (text answers
    become their position in that list); numbers are used as they are."""
    codes = codes or {}
    missing = [c for c in [id, period, *responses, *initial_covariates, *transition_covariates] if c not in data]
    if missing:
        raise ValueError(f"unknown column(s) {', '.join(map(repr, missing))}")
    frame = data.reset_index(drop=True)
    periods = numeric_column(frame, period)
    if not np.all(np.isfinite(periods)) or np.any(periods != np.round(periods)):
        raise ValueError(f"column {period!r}: expected whole-number periods")
    periods = periods.astype(np.int64)
    customer, ids = pd.factorize(frame[id], sort=True)
    if customer.min(initial=0) < 0:
        raise ValueError(f"column {id!r}: empty customer id")
    key = pd.Series(customer.astype(np.int64) * (periods.max() - periods.min() + 1) + (periods - periods.min()))
    if key.duplicated().any():
        row = int(np.flatnonzero(key.duplicated().to_numpy())[0])
        raise ValueError(f"period {periods[row]} repeated for customer {ids[customer[row]]!s}")
    N = ids.size
    start = np.full(N, np.iinfo(np.int64).max)
    np.minimum.at(start, customer, periods)
    end = np.full(N, np.iinfo(np.int64).min)
    np.maximum.at(end, customer, periods)
    length = end - start + 1
    T = int(length.max())
    pos = periods - start[customer]

    def wide(values):
        out = np.full((N, T), np.nan)
        out[customer, pos] = values
        return out

    ys = {}
    for name in responses:
        if name in codes and codes[name] is not None:
            values = pd.Series(frame[name])
            mapping = {v: float(k) for k, v in enumerate(codes[name])}
            mapped = values.map(lambda v: mapping.get(v, mapping.get(str(v), np.nan)) if pd.notna(v) else np.nan)
            ys[name] = wide(mapped.to_numpy(dtype=float))
        else:
            ys[name] = wide(numeric_column(frame, name))
    first_row = np.full(N, -1)
    first_row[customer[pos == 0]] = np.flatnonzero(pos == 0)
    x0 = [np.ones(N)] + [numeric_column(frame, c)[first_row] for c in initial_covariates]
    initial = np.column_stack(x0)
    x1 = np.ones((N, T, 1 + len(transition_covariates)))
    inside = np.arange(T)[None, :] < length[:, None]
    for j, c in enumerate(transition_covariates, 1):
        filled = forward_fill(wide(numeric_column(frame, c)))
        x1[:, :, j] = np.where(inside, np.nan_to_num(filled), 0.0)
    for j, c in enumerate(initial_covariates, 1):
        if not np.all(np.isfinite(initial[:, j])):
            raise ValueError(f"covariate {c!r} has missing values")
    return Panel(ids=np.asarray(ids), start=start, length=length, responses=ys, initial=initial, transition=x1,
                 initial_names=("const", *initial_covariates), transition_names=("const", *transition_covariates))


def collapse_panel(panel: Panel) -> Panel:
    """Identical histories (lengths, responses, covariates) as one row with the count as weight."""
    cols = {"length": panel.length.astype(float)}
    for j in range(1, panel.initial.shape[1]):
        cols[f"x0_{j}"] = panel.initial[:, j]
    for name, y in panel.responses.items():
        for t in range(y.shape[1]):
            cols[f"y_{name}_{t}"] = y[:, t]
    for j in range(1, panel.transition.shape[2]):
        for t in range(panel.T):
            cols[f"x1_{j}_{t}"] = panel.transition[:, t, j]
    rows = collapse_rows(**cols)
    if panel.weights is not None:
        weights = np.bincount(rows.inverse, weights=panel.weights, minlength=rows.weights.size)
    else:
        weights = rows.weights
    first = np.full(rows.weights.size, panel.n_rows)
    np.minimum.at(first, rows.inverse, np.arange(panel.n_rows))
    return Panel(ids=panel.ids[first], start=panel.start[first], length=panel.length[first],
                 responses={k: v[first] for k, v in panel.responses.items()}, initial=panel.initial[first],
                 transition=panel.transition[first], initial_names=panel.initial_names,
                 transition_names=panel.transition_names, weights=weights, inverse=rows.inverse)
