"""Benchmark: BG/BB on 1,000,000 simulated donors and the sBG on a large cohort table, crmresearch
against lifetimes 0.11.3 (`BetaGeoBetaBinomFitter`) and a plain scipy fit.

Run:  .venv/bin/python bench/bench_contractual.py [--donors N] [--cohorts K] [--repeats R]

* BG/BB: donors drawn with the donations estimates (α = 1.204, β = 0.750, γ = 0.657, δ = 2.783) over
  n = 6 yearly opportunities. crmresearch is timed twice: from the million raw (x, t_x, n) rows
  (collapsing them to their distinct combinations, the fit, the Hessian and the convergence checks)
  and on the collapsed rows alone. lifetimes is given
  the same collapsed rows with their counts (its documented `weights` input), and so is the plain
  scipy fit: L-BFGS-B with numerical gradients on the textbook likelihood (a Python sum over the i terms).
  With --lifetimes-raw, lifetimes is also timed on the raw million rows, as a user would call it
  without collapsing (measured once on the 2-core machine: 223 s against 0.37 s).
* sBG: K monthly cohorts of 50,000 customers each, cohort k observed for k months (a staggered
  cohort table, 1..K renewals), drawn from α = 0.704, β = 1.182. crmresearch fits the duration rows
  (renewal of leaving, or censoring time, with counts); the plain scipy fit minimises the same
  likelihood written directly with `scipy.special.betaln` by L-BFGS-B with numerical gradients.
  lifetimes has no sBG.

Prints timings, ratios and the largest relative difference between the estimates. Timings are not tests.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, special

from crmresearch.contractual import simulate
from crmresearch.models import bgbb, retention
from crmresearch.models.bgbb import BetaGeoBetaBinomial

from timing import best_of  # bench/timing.py (the script folder is on sys.path)

BGBB_TRUE = (1.204, 0.750, 0.657, 2.783)
SBG_TRUE = (0.704, 1.182)


def plain_scipy_bgbb(x, t_x, n, w):
    """Textbook BG/BB likelihood, L-BFGS-B with numerical gradients on the log-parameters."""
    def negll(logp):
        a, b, g, d = np.exp(logp)
        total = np.exp(special.betaln(a + x, b + n - x) - special.betaln(a, b)
                       + special.betaln(g, d + n) - special.betaln(g, d))
        for i in range(int((n - t_x).max())):
            live = i < n - t_x
            total = total + np.where(live, np.exp(special.betaln(a + x, b + t_x - x + i) - special.betaln(a, b)
                                                  + special.betaln(g + 1, d + t_x + i) - special.betaln(g, d)), 0)
        return -float(w @ np.log(total))
    res = optimize.minimize(negll, np.zeros(4), method="L-BFGS-B", options={"ftol": 1e-14, "gtol": 1e-8})
    return np.exp(res.x), -res.fun


def plain_scipy_sbg(t, churned, w):
    def negll(logp):
        a, b = np.exp(logp)
        ls_t = special.betaln(a, b + t) - special.betaln(a, b)
        ls_p = special.betaln(a, b + t - 1) - special.betaln(a, b)
        ll = np.where(churned == 1, np.log(np.exp(ls_p) - np.exp(ls_t)), ls_t)
        return -float(w @ ll)
    res = optimize.minimize(negll, np.zeros(2), method="L-BFGS-B")
    return np.exp(res.x), -res.fun


def staggered_cohorts(k: int, size: int, rng) -> pd.DataFrame:
    frames = [simulate.cohort_rows(*SBG_TRUE, size, months, rng) for months in range(1, k + 1)]
    return pd.concat(frames).groupby(["t", "churned"], as_index=False)["count"].sum()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--donors", type=int, default=1_000_000)
    parser.add_argument("--cohorts", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lifetimes-raw", action="store_true",
                        help="also time lifetimes on the raw million rows, once (it does not collapse them: minutes)")
    args = parser.parse_args()
    rng = np.random.default_rng(20261123)

    # ---------------------------------------------------------------- BG/BB
    start = time.perf_counter()
    donors = simulate.simulate_bgbb(BGBB_TRUE, args.donors, 6, rng)
    print(f"simulated {args.donors:,} donors in {time.perf_counter() - start:.2f} s")
    x, t_x, n = (donors[c].to_numpy() for c in ("frequency", "recency", "periods"))
    ours_time, ours = best_of(lambda: BetaGeoBetaBinomial().fit(frequency=x, recency=t_x, periods=n), args.repeats)
    grouped = donors.value_counts().reset_index(name="count")
    gx, gt, gn, gw = (grouped[c].to_numpy(dtype=float) for c in ("frequency", "recency", "periods", "count"))
    fit_time, _ = best_of(lambda: BetaGeoBetaBinomial().fit(frequency=gx, recency=gt, periods=gn, weights=gw), args.repeats)
    scipy_time, (scipy_theta, scipy_ll) = best_of(lambda: plain_scipy_bgbb(gx, gt, gn, gw), args.repeats)
    print(f"\nBG/BB on {args.donors:,} donors ({ours.n_unique_rows} distinct rows)")
    print(f"{'':14}{'alpha':>10}{'beta':>10}{'gamma':>10}{'delta':>10}{'LL':>16}{'seconds':>10}")
    print(f"{'truth':14}" + "".join(f"{v:>10.4f}" for v in BGBB_TRUE))
    print(f"{'crmresearch':14}" + "".join(f"{v:>10.5f}" for v in ours.theta) + f"{ours.llf:>16.3f}{ours_time:>10.3f}")
    print(f"{'  (fit only)':14}" + " " * 56 + f"{fit_time:>10.3f}")
    print(f"{'plain scipy':14}" + "".join(f"{v:>10.5f}" for v in scipy_theta) + f"{scipy_ll:>16.3f}{scipy_time:>10.3f}")
    try:
        from lifetimes import BetaGeoBetaBinomFitter
    except ImportError:
        print("lifetimes is not installed (pip install lifetimes==0.11.3); it was not timed")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_time, ref = best_of(lambda: BetaGeoBetaBinomFitter().fit(gx, gt, gn, weights=gw), args.repeats)
        ref_params = ref.params_[["alpha", "beta", "gamma", "delta"]].to_numpy()
        model = bgbb.BgBbLikelihood(gx, gt, gn, weights=gw)
        print(f"{'lifetimes':14}" + "".join(f"{v:>10.5f}" for v in ref_params)
              + f"{model.loglike(np.log(ref_params)):>16.3f}{ref_time:>10.3f}")
        print(f"largest relative difference from lifetimes: {np.max(np.abs(ours.theta / ref_params - 1)):.2e}")
        if args.lifetimes_raw:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw_time, _ = best_of(lambda: BetaGeoBetaBinomFitter().fit(x, t_x, n), 1)
            print(f"lifetimes on the {args.donors:,} raw rows, as a user would call it: {raw_time:.1f} s "
                  f"({raw_time / ours_time:.0f}x crmresearch from the same raw rows)")
        print(f"lifetimes / crmresearch on the same collapsed rows (fit only, best of {args.repeats}): "
              f"{ref_time / fit_time:.1f}x; including crmresearch's collapsing of the {args.donors:,} raw rows: "
              f"{ref_time / ours_time:.1f}x")
    print(f"largest relative difference from plain scipy: {np.max(np.abs(ours.theta / scipy_theta - 1)):.2e}")
    print(f"plain scipy / crmresearch on the same collapsed rows (fit only): {scipy_time / fit_time:.1f}x")

    # ---------------------------------------------------------------- sBG
    start = time.perf_counter()
    rows = staggered_cohorts(args.cohorts, 50_000, rng)
    customers = int(rows["count"].sum())
    print(f"\nsBG on a table of {args.cohorts} cohorts, {customers:,} customers, {len(rows)} duration rows "
          f"(simulated in {time.perf_counter() - start:.2f} s)")
    sbg_time, sbg = best_of(lambda: retention.ShiftedBetaGeometric().fit(rows), args.repeats)
    t, c, w = (rows[k].to_numpy(dtype=float) for k in ("t", "churned", "count"))
    plain_time, (plain_theta, plain_ll) = best_of(lambda: plain_scipy_sbg(t, c, w), args.repeats)
    print(f"{'':14}{'alpha':>10}{'beta':>10}{'LL':>18}{'seconds':>10}")
    print(f"{'truth':14}" + "".join(f"{v:>10.4f}" for v in SBG_TRUE))
    print(f"{'crmresearch':14}" + "".join(f"{v:>10.5f}" for v in sbg.theta) + f"{sbg.llf:>18.3f}{sbg_time:>10.4f}")
    print(f"{'plain scipy':14}" + "".join(f"{v:>10.5f}" for v in plain_theta) + f"{plain_ll:>18.3f}{plain_time:>10.4f}")
    print(f"largest relative difference: {np.max(np.abs(sbg.theta / plain_theta - 1)):.2e}; "
          f"crmresearch also returns standard errors {sbg.bse.round(6).to_dict()}")
    print(f"time ratio plain scipy / crmresearch (best of {args.repeats}): {plain_time / sbg_time:.1f}x")


if __name__ == "__main__":
    main()
