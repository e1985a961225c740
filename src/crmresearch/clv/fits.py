"""The CLV report's models: BG/NBD, Pareto/NBD and Gamma-Gamma on a transaction log, or the BG/BB on a
discrete-time summary (`fit_all`, never raises), draws of their estimates, and their tables.

The models themselves live in `crmresearch.models`; a model that does not converge from any of its
starting points is kept in `FitSet.failed` with what was tried.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import config
from ..models.bgbb import BetaGeoBetaBinomial
from ..models.bgnbd import BetaGeoNBD
from ..models.gammagamma import GammaGamma
from ..models.paretonbd import ParetoNBD

PURCHASE_ORDER = ("BG/NBD", "Pareto/NBD")


class FitSet(dict):
    """The models that converged (name -> FittedModel, in report order) and, in `failed`, those that did not."""

    def __init__(self, fitted: dict, failed: dict, skipped: dict | None = None):
        super().__init__(fitted)
        self.failed = failed                  # name -> FailedFit
        self.skipped = skipped or {}          # name -> reason (not asked for)

    @property
    def purchase(self) -> list:
        return [self[n] for n in PURCHASE_ORDER if n in self]

    @property
    def purchase_model(self):
        """The purchase model the CLV uses: BG/NBD when it fitted, else Pareto/NBD, else None."""
        fits = self.purchase
        return fits[0] if fits else None


def fit_all(summary: pd.DataFrame, with_pareto: bool = True, discrete: pd.DataFrame | None = None,
            spend_rows: pd.DataFrame | None = None) -> FitSet:
    """BG/NBD, Pareto/NBD (optional) and Gamma-Gamma, each from several starting points; never raises.
    With a discrete-time summary (`discrete`), the BG/BB instead, and the others are not fitted.

    `summary` may be collapsed (x, t_x, T) rows with their `customers` counts (`clv.at_scale`): the
    purchase models then take the counts as weights (the same likelihood as one row per customer),
    and Gamma-Gamma takes `spend_rows`, the repeat buyers' unique (x, m) rows with their counts."""
    if discrete is not None:
        fit = BetaGeoBetaBinomial().fit(discrete)
        ok = fit.converged
        return FitSet({"BG/BB": fit} if ok else {}, {} if ok else {"BG/BB": fit},
                      {n: f"{n} not fitted: it needs dated transactions{' with spend' if n == 'Gamma-Gamma' else ''}, "
                          "and the data are a discrete-time summary (the BG/BB is fitted instead)"
                       for n in ("BG/NBD", "Pareto/NBD", "Gamma-Gamma")})
    from ..engine.progress import step

    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
    w = summary["customers"].to_numpy(float) if "customers" in summary else None
    with step("fit BG/NBD", len(summary)):          # progress lines in the run log (large logs)
        results = {"BG/NBD": BetaGeoNBD().fit(frequency=x, recency=t_x, T=T, weights=w)}
    skipped = {}
    if with_pareto:
        with step("fit Pareto/NBD", len(summary)):
            results["Pareto/NBD"] = ParetoNBD().fit(frequency=x, recency=t_x, T=T, weights=w)
    else:
        skipped["Pareto/NBD"] = "the parameter file turns the Pareto/NBD off (fit_pareto_nbd: false)"
    with step("fit Gamma-Gamma", len(summary) if spend_rows is None else len(spend_rows)):
        if spend_rows is None:
            results["Gamma-Gamma"] = GammaGamma().fit(frequency=x, monetary_value=summary["monetary_value"])
        else:
            results["Gamma-Gamma"] = GammaGamma().fit(frequency=spend_rows["frequency"].to_numpy(),
                                                      monetary_value=spend_rows["monetary_value"].to_numpy(),
                                                      weights=spend_rows["customers"].to_numpy(float))
    fitted = {n: r for n, r in results.items() if r.converged}
    failed = {n: r for n, r in results.items() if not r.converged}
    skipped["BG/BB"] = ("BG/BB not fitted: it is for discrete-time data (a `discrete:` source), and this variant "
                        "analyses a dated transaction log")
    return FitSet(fitted, failed, skipped)


def parameter_draws(fits: FitSet, params) -> dict:
    """Draws of every fitted model's parameters from their asymptotic normal (log scale), `parameter_draws`
    of each, from a generator of its own so that the report's other numbers do not depend on them."""
    rng = np.random.default_rng([params.seed, 11])
    return {name: fit.draw_parameters(params.parameter_draws, rng) for name, fit in fits.items()}


def slug(name: str) -> str:
    return name.lower().replace("/", "").replace("-", "_")


def interval_columns(confidence: float) -> tuple[str, str]:
    return f"{confidence:.0%} lower", f"{confidence:.0%} upper"


def parameter_table(fits: dict, reference: dict | None = None, confidence: float = config.CONFIDENCE) -> pd.DataFrame:
    """One row per model parameter: estimate, SE, interval at `confidence`, the reference value if any; plus LL rows."""
    rows = []
    for name, fit in fits.items():
        table = fit.table(confidence, (reference or {}).get(name))
        table.insert(0, "model", name)
        rows.append(table)
        ll = {"model": name, "parameter": "log-likelihood", "estimate": fit.llf}
        if reference and name in reference and "loglike" in reference[name]:
            ll["published"] = reference[name]["loglike"]
        rows.append(pd.DataFrame([ll]))
    out = pd.concat(rows, ignore_index=True)
    if "published" not in out:
        out["published"] = np.nan
    lower, upper = interval_columns(confidence)
    return out.rename(columns={"std_error": "std. error", "ci_lower": lower, "ci_upper": upper})


def fit_statistics(fits: dict) -> pd.DataFrame:
    return pd.DataFrame([{"model": n, "customers": f.nobs, "unique rows": f.n_unique_rows,
                          "parameters": f.df_model, "log-likelihood": f.llf, "AIC": f.aic, "BIC": f.bic,
                          "starting points tried": f.starts_tried}
                         for n, f in fits.items()])


def fit_record(fit) -> dict:
    return {"params": fit.params.to_dict(), "bse": fit.bse.to_dict(), "loglike": fit.llf, "aic": fit.aic,
            "bic": fit.bic, "customers": fit.nobs, "starts_tried": fit.starts_tried}


def reference_comparison(fits: dict, reference: dict | None) -> dict | None:
    """Largest relative gap and z-distance of the estimates from the reference values, and whether
    every gap is within the rounding of the published figure (half a unit in its last decimal)."""
    if not reference:
        return None
    gaps, zscores, within_rounding = [], [], []
    for name, fit in fits.items():
        ref = reference.get(name, {})
        log_se = np.sqrt(np.diag(fit.log_cov))
        for (p, v), se in zip(fit.params.items(), log_se):
            if p in ref:
                gaps.append(abs(v / ref[p] - 1))
                zscores.append(abs(np.log(v / ref[p])) / se)
                within_rounding.append(abs(v - ref[p]) <= 0.5 * 10.0 ** -_decimals(ref[p]) + 1e-12)
    if not gaps:
        return None
    return {"max_relative_gap": float(max(gaps)), "max_z": float(max(zscores)),
            "all_within_rounding": bool(all(within_rounding)), "compared": len(gaps)}


def _decimals(value: float) -> int:
    text = repr(float(value))
    return len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0
