"""Every likelihood model of the package, one module each, on one results API (`models.base`).

    fit = crm.BetaGeoNBD().fit(rfm)      # rfm: frequency, recency, T per customer
    fit.summary(); fit.conf_int(); fit.probability_alive(rfm); fit.expected_purchases(rfm, t=52)
    fit.interval(fit.expected_purchases, rfm, t=52, method="draws")

bgnbd        BG/NBD (Fader, Hardie & Lee 2005)
paretonbd    Pareto/NBD (Schmittlein, Morrison & Colombo 1987)
gammagamma   Gamma-Gamma spend (Fader, Hardie & Lee 2005; Colombo & Jiang 1999)
retention    sBG and BdW contractual retention (Fader & Hardie 2007; Fader et al. 2018), DERL
bgbb         BG/BB discrete-time buying (Fader, Hardie & Shang 2010)
hmm          hidden Markov model of customer panels (Netzer, Lattin & Srinivasan 2008): several responses,
             multinomial-logit covariates on initial and transition probabilities, EM + ML polish, decoding
plssem       PLS path modelling of a recursive structural model (Wold; Lohmöller 1989): three inner
             schemes, Mode A/B, bootstrap, measurement quality, PLSpredict, importance-performance map
segmented    broken-line regression with an estimated breakpoint (Muggeo 2003) and Davies' test
covariates   the purchase and spend models with time-invariant covariates (Fader & Hardie 2007 note):
             fitting and results; their likelihoods are in covariate_likelihoods
purchases    what BG/NBD and Pareto/NBD share (predictions by name, discounted purchases, quadrature)
lr_test      the likelihood-ratio test of nested fits
base         the one results core, the likelihood base class, collapsing rows, multistart and polish
"""

from __future__ import annotations

import importlib

# name -> the module that defines it, imported on first use: checking a parameter file (the
# command line, each report's worker) needs one helper of one module, not statsmodels and every model
_EXPORTS = {
    "FailedFit": "base", "FittedModel": "base", "IntervalResult": "base", "ModelResults": "base",
    "collapse_rows": "base", "BetaGeoBetaBinomial": "bgbb", "BetaGeoNBD": "bgnbd", "GammaGamma": "gammagamma",
    "HiddenMarkovModel": "hmm", "ParetoNBD": "paretonbd", "PLSFailure": "plssem", "PLSPathModel": "plssem",
    "PLSResults": "plssem", "BetaDiscreteWeibull": "retention", "ShiftedBetaGeometric": "retention",
    "duration_dependence_test": "retention", "SegmentedRegression": "segmented",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS})


__all__ = sorted(_EXPORTS, key=str.lower)
