"""Covariate effects on transitions: one multinomial logit per origin stage.

For customers in origin stage i, the destination j follows a multinomial logit
log( P(j | i, x) / P(i | i, x) ) = a_ij + x' b_ij, staying in i being the base outcome
(Kalbfleisch & Lawless 1984; Fahrmeir & Tutz 2001, ch. 3). One customer contributes several
transitions, so standard errors are cluster-robust by customer (Liang & Zeger 1986), as
statsmodels' `cov_type="cluster"` provides.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from .panel import StagePanel


def origin_rows(panel: StagePanel):
    """Row index of the origin and stage code of the destination for every transition."""
    row_of = np.full((panel.n_customers, panel.n_periods), -1, np.int64)
    row_of[panel.customer, panel.period] = np.arange(panel.n_rows)
    cust, per, a, b = panel.pairs()
    return row_of[cust, per], cust, a, b


def mnlogit_by_origin(panel: StagePanel, covariates: pd.DataFrame, min_transitions: int = 50,
                      min_destination: int = 10) -> pd.DataFrame:
    """Per origin stage, MNLogit of the destination on covariates with customer-clustered SEs.

    `covariates` has one row per panel row (values at the origin period). Destinations seen fewer
    than `min_destination` times from an origin are dropped from that origin's model (their rows
    too); origins with fewer than `min_transitions` transitions, only one destination, or a
    singular fit (perfect prediction) are skipped.
    Returns origin, destination, term, coef, se, z, p_value, odds_ratio, n, customers.
    """
    import statsmodels.api as sm
    from statsmodels.discrete.discrete_model import MNLogit

    rows, cust, a, b = origin_rows(panel)
    X_all = sm.add_constant(covariates.reset_index(drop=True).astype(float), has_constant="add")
    out = []
    for i in range(panel.n_states):
        sel = a == i
        if sel.sum() < min_transitions:
            continue
        dest = b[sel]
        counts = np.bincount(dest, minlength=panel.n_states)
        keep_dest = np.flatnonzero(counts >= min_destination)
        if keep_dest.size < 2 or i not in keep_dest:
            continue
        keep = np.isin(dest, keep_dest)
        # Base outcome first: staying in the origin stage.
        order = np.r_[i, keep_dest[keep_dest != i]]
        y = pd.Categorical(dest[keep], categories=order).codes
        X = X_all.iloc[rows[sel][keep]]
        # A covariate constant within an origin (e.g. the purchase count inside a count stage)
        # is absorbed by the intercept; keeping it would make the information matrix singular.
        X = X.loc[:, (X.columns == "const") | (X.std(axis=0) > 0)]
        if X.shape[1] < 2:
            continue
        groups = cust[sel][keep]
        try:
            # Convergence and sqrt-of-negative-variance warnings are judged below by the
            # finiteness of the standard errors instead of being printed into the report.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = MNLogit(y, X.to_numpy()).fit(disp=0, maxiter=100, cov_type="cluster",
                                                  cov_kwds={"groups": groups})
                params = np.asarray(fit.params)
                bse = np.asarray(fit.bse)
        except np.linalg.LinAlgError:
            # Perfect prediction of a destination (e.g. a deterministic rule) has no finite MLE.
            continue
        if not np.all(np.isfinite(bse)):
            continue
        for k, dest_code in enumerate(order[1:]):
            for t, term in enumerate(X.columns):
                coef, se = params[t, k], bse[t, k]
                z = coef / se if se > 0 else np.nan
                out.append({"origin": panel.states[i], "destination": panel.states[dest_code], "term": term,
                            "coef": coef, "se": se, "z": z, "p_value": 2 * sps.norm.sf(abs(z)),
                            "odds_ratio": np.exp(coef), "n": int(keep.sum()),
                            "customers": int(np.unique(groups).size)})
    return pd.DataFrame(out)
