"""Benchmark: BG/NBD with 3 covariates on 1,000,000 simulated customers, crmresearch vs pymc-marketing.

Run:  /tmp/venv/bin/python bench/bench_covariates.py [--customers N] [--repeats K] [--no-reference]

Customers come from `crmresearch.value_chain.simulate_panel` (satisfaction on a 1-10 scale
with a ceiling, acting by band on the purchase rate and on dropout), with recency on a daily
grid as in real logs. The three covariates are the satisfaction bands 7-8, 9 and 10 (dummies
against 1-6), on both the purchase rate (α_i = α0·e^{−β′z}) and dropout (a_i = a0·e^{γa′z},
b_i = b0·e^{γb′z}): 13 parameters.

* crmresearch: `value_chain.fit_bgnbd_covariates` (timing includes collapsing to unique rows,
  the covariate-free start, BFGS, Newton polishing and the Hessian);
* reference: pymc-marketing's `BetaGeoModel` with `purchase_covariate_cols` and
  `dropout_covariate_cols` (version 0.19.2, the last that installs on Python 3.11), fitted by
  MAP with flat priors (HalfFlat on r, α, a, b; Flat on the coefficients), so that the MAP is
  the maximum-likelihood estimate of the same parameterisation. When pymc-marketing is not
  installed (it is not in the `bench` extra: it brings PyMC and PyTensor), the reference is
  crmresearch's own covariate-free fit (`crm.BetaGeoNBD().fit`) on the same customers.

Prints timings and the estimates side by side with the truth. Timings are not tests.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from crmresearch import value_chain as vc
from crmresearch.models import BetaGeoNBD
from crmresearch.models.covariate_likelihoods import BetaGeometricNbdCovariates

from timing import best_of  # bench/timing.py (the script folder is on sys.path)


def simulated_customers(n: int, seed: int = 20261130):
    panel = vc.simulate_panel(n, seed=seed)
    summary = panel.summary.copy()
    summary["recency"] = np.minimum(np.ceil(summary["recency"] * 7 - 1e-9) / 7, summary["T"])
    design = panel.truth.design(panel.survey)
    return panel, summary, design.transform(panel.survey)


def fit_pymc_marketing(summary: pd.DataFrame, Z: pd.DataFrame):
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel

    cols = [c.replace("sat[", "sat_").replace("]", "").replace("-", "_") for c in Z.columns]
    data = pd.DataFrame({"customer_id": np.arange(len(summary)), "frequency": summary["frequency"].to_numpy(),
                         "recency": summary["recency"].to_numpy(), "T": summary["T"].to_numpy()})
    data[cols] = Z.to_numpy()
    config = {"r": Prior("HalfFlat"), "alpha": Prior("HalfFlat"), "a": Prior("HalfFlat"), "b": Prior("HalfFlat"),
              "purchase_coefficient": Prior("Flat"), "dropout_coefficient": Prior("Flat"),
              "purchase_covariate_cols": cols, "dropout_covariate_cols": cols}
    model = BetaGeoModel(data=data, model_config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(method="map", progressbar=False)
    post = model.idata.posterior
    values = [float(post["r"].values.ravel()[0]), float(post["alpha_scale"].values.ravel()[0]),
              float(post["a_scale"].values.ravel()[0]), float(post["b_scale"].values.ravel()[0])]
    values += list(post["purchase_coefficient_alpha"].values.ravel())
    values += list(post["dropout_coefficient_a"].values.ravel())
    values += list(post["dropout_coefficient_b"].values.ravel())
    return np.asarray(values, dtype=float)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true", help="skip pymc-marketing even if installed")
    args = parser.parse_args()

    start = time.perf_counter()
    panel, summary, Z = simulated_customers(args.customers)
    print(f"simulated {args.customers:,} customers in {time.perf_counter() - start:.2f} s; "
          f"{(summary['frequency'] > 0).mean():.1%} repeat buyers; covariates {list(Z.columns)}")
    x, t_x, T = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))

    ours_time, ours = best_of(lambda: vc.fit_bgnbd_covariates(x, t_x, T, Z, Z), args.repeats)
    if not ours.converged:
        print(f"crmresearch fit failed: {ours.error} (tried {ours.tried})")
        return
    truth = panel.truth
    names = list(ours.params.index)
    truth_values = np.r_[truth.purchase_base, truth.coefficients[names[4:]].to_numpy()]
    ours_values = np.r_[ours.base.to_numpy(), ours.coefficients.to_numpy()]
    columns = {"parameter": ["r", "alpha0", "a0", "b0"] + names[4:], "truth": truth_values,
               "crmresearch": ours_values, "crmresearch_se": np.r_[ours.base.to_numpy() * ours.bse.iloc[:4].to_numpy(),
                                                                   ours.bse.iloc[4:].to_numpy()]}
    timings = {"crmresearch (covariates)": ours_time}

    reference_name = None
    if not args.no_reference:
        try:
            import pymc_marketing
            reference_name = f"pymc-marketing {pymc_marketing.__version__} MAP"
        except ImportError:
            print("pymc-marketing is not installed (pip install pymc-marketing==0.19.2 in a separate venv); "
                  "comparing with the covariate-free fit instead")
    if reference_name:
        ref_time, ref = best_of(lambda: fit_pymc_marketing(summary, Z), 1)
        columns[reference_name] = ref
        timings[reference_name] = ref_time
        internal = np.r_[np.log(ref[:4]), ref[4:]]
        model = BetaGeometricNbdCovariates(x, t_x, T, Z, Z)
        ll_ref = model.loglike(np.linalg.solve(model.to_user, internal))
        print(f"log-likelihood: crmresearch {ours.llf:.3f}, pymc-marketing (evaluated by crmresearch) {ll_ref:.3f}")
        gap = np.abs(ours_values - ref) / columns["crmresearch_se"]
        print(f"largest difference of the estimates: {gap.max():.3f} standard errors "
              f"({columns['parameter'][int(np.argmax(gap))]})")
    else:
        ref_time, ref = best_of(lambda: BetaGeoNBD().fit(frequency=x, recency=t_x, T=T), args.repeats)
        columns["covariate-free BG/NBD"] = np.r_[ref.theta, np.full(len(names) - 4, np.nan)]
        timings["crmresearch (covariate-free)"] = ref_time
        lr = 2 * (ours.llf - ref.llf)
        print(f"LR statistic covariates vs none: {lr:.1f} on {len(names) - 4} df")

    table = pd.DataFrame(columns)
    with pd.option_context("display.width", 160, "display.max_columns", 10, "display.float_format", "{:.5f}".format):
        print()
        print(table.to_string(index=False))
    print(f"\nunique (x, t_x, T, covariate) rows: {ours.n_unique_rows:,} of {ours.nobs:,}")
    for name, seconds in timings.items():
        print(f"{name:40s} {seconds:8.2f} s")
    if reference_name:
        print(f"speed-up over {reference_name}: {timings[reference_name] / ours_time:.1f}x")


if __name__ == "__main__":
    main()
