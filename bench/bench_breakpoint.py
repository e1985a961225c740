"""Benchmark: broken-line fit with bootstrap at n = 100,000 respondents.

Compares `crmresearch.models.segmented` (grouped sufficient statistics, batched Muggeo
iterations over all resamples) with PyPI `piecewise-regression` (one statsmodels fit per
Muggeo iteration, one Python loop per bootstrap resample), the reference implementation of
Muggeo's method in Python. Two designs:

* survey: SAT is the mean of three 1-10 items (28 distinct values), as in a real survey;
* continuous: x uniform on [1, 10] (every value distinct), the worst case for grouping.

Run:  /tmp/venv/bin/python bench/bench_breakpoint.py [--n 100000] [--boot 200] [--ref-boot 5]
The reference runs fewer resamples (``--ref-boot``) and its time per resample is scaled up;
its restarting bootstrap and ours do the same work per resample (one Muggeo fit).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crmresearch.models import segmented


def survey_design(n: int, rng):
    items = np.clip(np.rint(7.5 + 1.2 * rng.standard_normal((n, 1)) + 0.7 * rng.standard_normal((n, 3))), 1, 10)
    return items.mean(axis=1)


def make_data(kind: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = survey_design(n, rng) if kind == "survey" else rng.uniform(1, 10, n)
    y = 1 + 0.3 * x + 1.5 * np.clip(x - 7.5, 0, None) + rng.standard_normal(n)
    return x, y


def time_ours(x, y, n_boot: int, seed: int):
    t0 = time.perf_counter()
    fit = segmented.fit_segmented(x, y)
    t1 = time.perf_counter()
    fit = segmented.bootstrap_segmented(x, y, fit, n_boot=n_boot, seed=seed)
    t2 = time.perf_counter()
    return fit, t1 - t0, t2 - t1


def time_reference(x, y, n_boot: int, start: float):
    import piecewise_regression

    t0 = time.perf_counter()
    piecewise_regression.Fit(x, y, start_values=[start], n_breakpoints=1, n_boot=0)
    t1 = time.perf_counter()
    ref = piecewise_regression.Fit(x, y, start_values=[start], n_breakpoints=1, n_boot=n_boot)
    t2 = time.perf_counter()
    return ref, t1 - t0, (t2 - t1) - (t1 - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--ref-boot", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    print(f"n = {args.n:,} respondents; bootstrap: ours {args.boot} resamples, reference {args.ref_boot} (scaled)")
    print(f"{'design':<11} {'step':<22} {'crmresearch':>12} {'reference':>12} {'speed-up':>9}")
    for kind in ("survey", "continuous"):
        x, y = make_data(kind, args.n, args.seed)
        fit, fit_s, boot_s = time_ours(x, y, args.boot, args.seed)
        ref, ref_fit_s, ref_boot_s = time_reference(x, y, args.ref_boot, start=fit.breakpoint)
        ref_boot_scaled = ref_boot_s / max(args.ref_boot, 1) * args.boot
        ref_psi = ref.get_results()["estimates"]["breakpoint1"]["estimate"]
        print(f"{kind:<11} {'single fit':<22} {fit_s:>11.3f}s {ref_fit_s:>11.3f}s {ref_fit_s / fit_s:>8.1f}x")
        print(f"{kind:<11} {f'bootstrap ({args.boot})':<22} {boot_s:>11.3f}s {ref_boot_scaled:>11.3f}s "
              f"{ref_boot_scaled / boot_s:>8.1f}x")
        print(f"{'':<11} breakpoint {fit.breakpoint:.4f} (reference {ref_psi:.4f}), delta CI "
              f"{fit.breakpoint_ci[0]:.3f}-{fit.breakpoint_ci[1]:.3f}, bootstrap CI "
              f"{fit.bootstrap['breakpoint_ci_lower']:.3f}-{fit.bootstrap['breakpoint_ci_upper']:.3f}, "
              f"valid resamples {fit.bootstrap['n_valid']}/{args.boot}")


if __name__ == "__main__":
    main()
