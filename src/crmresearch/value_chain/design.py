"""The satisfaction design of the covariate models: one covariate per satisfaction level or band,
or a natural cubic spline of the score, with numeric and categorical controls.

`satisfaction_design` turns a survey into the covariate frame that `crm.BetaGeoNBD`,
`crm.ParetoNBD` and `crm.GammaGamma` take as their covariates (`crmresearch.models.covariates`),
and keeps what is needed to build the same columns for any satisfaction level (the value by level).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

def natural_spline_basis(values, knots) -> np.ndarray:
    """Natural cubic spline basis without the constant (Hastie, Tibshirani & Friedman 2009, eq. 5.4-5.5).

    With K knots ξ_1 < ... < ξ_K the columns are x and N_{k+2}(x) = d_k(x) − d_{K−1}(x),
    d_k(x) = ((x − ξ_k)³₊ − (x − ξ_K)³₊)/(ξ_K − ξ_k), k = 1..K−2: K − 1 columns, cubic between
    the knots and linear beyond the boundary knots.
    """
    x = np.asarray(values, dtype=float)[:, None]
    knots = np.unique(np.asarray(knots, dtype=float))
    if knots.size < 3:
        raise ValueError(f"a natural spline needs at least 3 distinct knots (got {knots.tolist()})")
    k = knots.size
    cube = np.clip(x - knots[None, :], 0.0, None) ** 3
    d = (cube[:, :k - 1] - cube[:, [k - 1]]) / (knots[k - 1] - knots[:k - 1])
    return np.column_stack([x[:, 0], d[:, :k - 2] - d[:, [k - 2]]])


def _band_labels(edges) -> list[str]:
    labels = []
    for low, high in zip(edges[:-1], edges[1:]):
        top = high - 1 if float(high).is_integer() and float(low).is_integer() else high
        labels.append(f"{low:g}" if top == low else f"{low:g}-{top:g}")
    return labels


@dataclass(frozen=True)
class CovariateDesign:
    """How survey answers become covariate columns; `transform` applies it to any frame.

    * `kind="bands"`: satisfaction cut at `band_edges` (band j is [edge_j, edge_{j+1})), dummy
      coded against the `reference` band (columns `sat[<band>]`);
    * `kind="spline"`: natural cubic spline basis at `knots` (columns `sat_lin`, `sat_ns1`, ...);
    * `kind="linear"`: satisfaction itself (column `sat_lin`);
    * `numeric`: other survey measures entered as they are; `categorical`: name -> (levels,
      reference), dummy coded; `means`: the numeric measures' means, at which `level_frame`
      holds them.
    """

    satisfaction: str
    kind: str
    band_edges: tuple = ()
    reference: str | None = None
    knots: tuple = ()
    numeric: tuple = ()
    categorical: dict = field(default_factory=dict)
    means: dict = field(default_factory=dict)

    @property
    def band_names(self) -> list[str]:
        return _band_labels(self.band_edges) if self.kind == "bands" else []

    @property
    def satisfaction_columns(self) -> list[str]:
        if self.kind == "bands":
            return [f"sat[{b}]" for b in self.band_names if b != self.reference]
        if self.kind == "spline":
            return ["sat_lin"] + [f"sat_ns{j}" for j in range(1, len(self.knots) - 1)]
        return ["sat_lin"]

    @property
    def columns(self) -> list[str]:
        cats = [f"{name}[{lev}]" for name, (levels, ref) in self.categorical.items() for lev in levels if lev != ref]
        return self.satisfaction_columns + list(self.numeric) + cats

    def band_of(self, satisfaction) -> np.ndarray:
        """Band label of each satisfaction value (NaN outside the edges)."""
        s = np.asarray(satisfaction, dtype=float)
        edges = np.asarray(self.band_edges, dtype=float)
        idx = np.searchsorted(edges, s, side="right") - 1
        ok = (idx >= 0) & (idx < edges.size - 1) & np.isfinite(s)
        names = np.asarray(self.band_names, dtype=object)
        return np.where(ok, names[np.clip(idx, 0, names.size - 1)], None)

    def _satisfaction_block(self, s: np.ndarray) -> np.ndarray:
        if self.kind == "bands":
            bands = self.band_of(s)
            cols = [np.where(bands == None, np.nan, (bands == b).astype(float))  # noqa: E711
                    for b in self.band_names if b != self.reference]
            return np.column_stack(cols) if cols else np.empty((s.size, 0))
        if self.kind == "spline":
            return natural_spline_basis(s, self.knots)
        return s[:, None]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Covariate columns for the rows of `frame` (NaN where an answer is missing or out of range)."""
        s = pd.to_numeric(frame[self.satisfaction], errors="coerce").to_numpy(dtype=float)
        blocks = [self._satisfaction_block(s)]
        for name in self.numeric:
            blocks.append(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)[:, None])
        for name, (levels, ref) in self.categorical.items():
            values = frame[name].astype(object).to_numpy()
            missing = pd.isna(values)
            for lev in levels:
                if lev != ref:
                    blocks.append(np.where(missing, np.nan, (values == lev).astype(float))[:, None])
        return pd.DataFrame(np.column_stack(blocks), columns=self.columns, index=frame.index)

    def level_frame(self, levels) -> pd.DataFrame:
        """Covariate rows for the given satisfaction levels, other measures at their mean / reference."""
        levels = np.asarray(levels, dtype=float)
        frame = pd.DataFrame({self.satisfaction: levels})
        for name in self.numeric:
            frame[name] = self.means[name]
        for name, (_, ref) in self.categorical.items():
            frame[name] = ref
        return self.transform(frame)


def satisfaction_design(survey: pd.DataFrame, satisfaction: str = "satisfaction", kind: str = "bands",
                        band_edges=(1, 7, 9, 10, 11), reference: str | None = None, knots=None,
                        n_knots: int = 4, numeric=(), categorical=()) -> CovariateDesign:
    """A covariate design for satisfaction (bands, natural spline or linear) and other survey measures.

    Default bands on a 1-10 scale: 1-6, 7-8, 9, 10 (edges 1, 7, 9, 10, 11), reference the lowest
    band. Default spline knots: Harrell's (2015) quantiles of the answers (0.05, 0.35, 0.65,
    0.95 for 4 knots), made distinct. Categorical measures are dummy coded against their most
    frequent level. With answers piled up at few points (a ceiling), coinciding knots are
    replaced by the same quantiles of the distinct answers.
    """
    if kind not in ("bands", "spline", "linear"):
        raise ValueError(f"kind must be 'bands', 'spline' or 'linear' (got {kind!r})")
    s = pd.to_numeric(survey[satisfaction], errors="coerce").dropna().to_numpy(dtype=float)
    edges, ref, knot_tuple = (), None, ()
    if kind == "bands":
        edges = tuple(float(e) for e in band_edges)
        names = _band_labels(edges)
        ref = names[0] if reference is None else str(reference)
        if ref not in names:
            raise ValueError(f"reference band {ref!r} is not one of {names}")
    elif kind == "spline":
        if knots is None:
            probs = {3: (0.1, 0.5, 0.9), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.5, 0.725, 0.95)}[n_knots]
            knots = np.unique(np.quantile(s, probs))
            if knots.size < 3:      # answers piled up at few points: spread over the distinct values
                knots = np.unique(np.quantile(np.unique(s), probs))
        knot_tuple = tuple(float(k) for k in np.unique(knots))
        if len(knot_tuple) < 3:
            raise ValueError(f"a natural spline needs at least 3 distinct knots (got {list(knot_tuple)})")
    cats = {}
    for name in categorical:
        counts = survey[name].dropna().astype(object).value_counts()
        cats[name] = (tuple(sorted(counts.index, key=str)), counts.index[0])
    means = {name: float(pd.to_numeric(survey[name], errors="coerce").mean()) for name in numeric}
    return CovariateDesign(satisfaction=satisfaction, kind=kind, band_edges=edges, reference=ref,
                           knots=knot_tuple, numeric=tuple(numeric), categorical=cats, means=means)


