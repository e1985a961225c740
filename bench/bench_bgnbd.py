"""Benchmark: BG/NBD maximum likelihood on 1,000,000 simulated customers, crmresearch vs lifetimes 0.11.3.

Run:  /tmp/venv/bin/python bench/bench_bgnbd.py [--customers N] [--repeats K]

Customers are drawn from the BG/NBD with the CDNOW estimates (r = 0.243, α = 4.414, a = 0.793,
b = 2.426), acquired over 12 weeks and observed to week 39, with times on a daily grid as in
real logs (recency rounded up to whole days). Both tools fit the same (frequency, recency, T)
arrays, as a user would call them: lifetimes' `BetaGeoFitter().fit(...)` on the raw columns,
`crmresearch.BetaGeoNBD().fit(frequency=...)` on the same columns (its timing includes collapsing to unique
rows, the fit, the Hessian and the convergence checks). Prints the timings, their ratio and
the largest relative difference between the two sets of estimates. Timings are not tests.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from crmresearch import clv
from crmresearch.models import bgnbd
from crmresearch.models.bgnbd import BetaGeoNBD

from timing import best_of  # bench/timing.py (the script folder is on sys.path)

TRUE = (0.243, 4.414, 0.793, 2.426)


def simulated_customers(n: int, seed: int = 20261123):
    rng = np.random.default_rng(seed)
    T = 39 - rng.integers(0, 84, n) / 7
    data = clv.simulate_bgnbd(TRUE, T, rng=rng)
    data["recency"] = np.minimum(np.ceil(data["recency"] * 7 - 1e-9) / 7, data["T"])
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    data = simulated_customers(args.customers)
    print(f"simulated {args.customers:,} customers in {time.perf_counter() - start:.2f} s; "
          f"{(data['frequency'] > 0).mean():.1%} repeat buyers")
    x, t_x, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))

    ours_time, ours = best_of(lambda: BetaGeoNBD().fit(frequency=x, recency=t_x, T=T), args.repeats)
    try:
        from lifetimes import BetaGeoFitter
    except ImportError:
        print("lifetimes is not installed (pip install lifetimes==0.11.3); only crmresearch was timed")
        print(f"crmresearch: {ours_time:.3f} s, estimates {ours.params.round(5).to_dict()}")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_time, ref = best_of(lambda: BetaGeoFitter().fit(x, t_x, T), args.repeats)
    ref_params = ref.params_[["r", "alpha", "a", "b"]].to_numpy()
    rel = np.abs(ours.theta / ref_params - 1)

    print(f"\n{'':14}{'r':>10}{'alpha':>10}{'a':>10}{'b':>10}{'LL':>16}{'seconds':>10}")
    print(f"{'truth':14}" + "".join(f"{v:>10.4f}" for v in TRUE))
    print(f"{'crmresearch':14}" + "".join(f"{v:>10.5f}" for v in ours.theta) + f"{ours.llf:>16.3f}{ours_time:>10.3f}")
    # lifetimes reports a scaled objective; evaluate our likelihood at its estimates instead.
    ref_ll = bgnbd.BgNbdLikelihood(x, t_x, T).loglike(np.log(ref_params))
    print(f"{'lifetimes':14}" + "".join(f"{v:>10.5f}" for v in ref_params) + f"{ref_ll:>16.3f}{ref_time:>10.3f}")
    print(f"\nunique (x, t_x, T) rows: {ours.n_unique_rows:,} of {ours.nobs:,}")
    print(f"largest relative difference of the estimates: {rel.max():.2e} (required < 1e-4)")
    print(f"speed-up over lifetimes (best of {args.repeats}): {ref_time / ours_time:.1f}x (required >= 10x)")


if __name__ == "__main__":
    main()
