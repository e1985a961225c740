"""The likelihood-ratio test of nested fits: 2(ℓ_full − ℓ_restricted) against χ² with the difference
in their numbers of parameters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .base import ModelResults


@dataclass
class LikelihoodRatioTest:
    """2(ℓ_full − ℓ_restricted) against χ² with `df` degrees of freedom."""

    statistic: float
    df: int
    p_value: float

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.p_value}


def lr_test_from_loglikelihoods(llf_restricted: float, llf_full: float, df: int) -> LikelihoodRatioTest:
    """The LR test of nested models from their maximised log-likelihoods (NaN when either is missing)."""
    if not (np.isfinite(llf_restricted) and np.isfinite(llf_full)) or df <= 0:
        return LikelihoodRatioTest(float("nan"), int(df), float("nan"))
    stat = max(2 * (llf_full - llf_restricted), 0.0)
    return LikelihoodRatioTest(float(stat), int(df), float(sps.chi2.sf(stat, df)))


def likelihood_ratio_test(restricted: ModelResults, full: ModelResults) -> LikelihoodRatioTest:
    """The LR test of a fit nested in another; df is the difference in their numbers of parameters."""
    df = full.df_model - restricted.df_model
    if not (restricted.converged and full.converged):
        return LikelihoodRatioTest(float("nan"), int(df), float("nan"))
    return lr_test_from_loglikelihoods(restricted.llf, full.llf, df)
