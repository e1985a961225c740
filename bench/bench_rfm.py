"""Benchmark: RFM calibration/holdout summary from 10 million transactions, with peak memory,
and the same summary by lifetimes 0.11.3 on a subset for a side-by-side ratio.

Run:  /tmp/venv/bin/python bench/bench_rfm.py [--transactions N] [--reference-transactions M]

The log is drawn from the BG/NBD and Gamma-Gamma with the CDNOW estimates (string customer ids,
daily dates, amounts), calibration 39 weeks, holdout 39 weeks. Peak memory is measured with
tracemalloc (numpy and pandas allocations), beyond the log itself. On a subset of about M
rows the result is checked against a plain pandas group-by version and both are timed;
lifetimes' `calibration_and_holdout_data` is tried too (it fails under pandas 3, which the
output reports). Timings are not tests.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from crmresearch import clv

BGNBD = (0.243, 4.414, 0.793, 2.426)
GAMMA_GAMMA = (6.25, 3.74, 15.44)


def transaction_log(n_transactions: int, seed: int = 20261123):
    """A simulated log with about `n_transactions` rows (CDNOW customers make ~2.9 purchases in 78 weeks)."""
    rng = np.random.default_rng(seed)
    customers = int(n_transactions / 2.9)
    return clv.simulate.simulate_transaction_log(BGNBD, GAMMA_GAMMA, customers, "1997-01-01", 84, "1998-06-30", rng)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--reference-transactions", type=int, default=500_000)
    args = parser.parse_args()

    start = time.perf_counter()
    log = transaction_log(args.transactions)
    log_mb = log.memory_usage(deep=True).sum() / 2**20
    print(f"simulated {len(log):,} transactions of {log['customer_id'].nunique():,} customers in "
          f"{time.perf_counter() - start:.1f} s (log: {log_mb:,.0f} MiB in memory)")

    start = time.perf_counter()
    summary = clv.rfm_summary(log, "1997-09-30", "1998-06-30")
    seconds = time.perf_counter() - start
    # Memory in a second run: tracemalloc slows allocation, so it is not on while timing.
    tracemalloc.start()
    clv.rfm_summary(log, "1997-09-30", "1998-06-30")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"crmresearch rfm_summary: {seconds:.2f} s for {len(log):,} rows -> {len(summary):,} customers "
          f"({len(log) / seconds / 1e6:.1f} million rows a second); peak extra memory {peak / 2**20:,.0f} MiB "
          f"({peak / len(log):.0f} bytes per transaction)")

    ids = log["customer_id"].unique()[: int(args.reference_transactions / 2.9)]
    subset = log[log["customer_id"].isin(ids)]
    start = time.perf_counter()
    ours = clv.rfm_summary(subset, "1997-09-30", "1998-06-30")
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ref = pandas_groupby_summary(subset, "1997-09-30", "1998-06-30").reindex(ours.index)
    ref_seconds = time.perf_counter() - start
    same = (np.array_equal(ref["frequency"].to_numpy(), ours["frequency"].to_numpy())
            and np.allclose(ref["recency"].to_numpy(), ours["recency"].to_numpy())
            and np.allclose(ref["T"].to_numpy(), ours["T"].to_numpy())
            and np.array_equal(ref["frequency_holdout"].to_numpy(), ours["frequency_holdout"].to_numpy()))
    print(f"\n{len(subset):,} transactions: crmresearch {ours_seconds:.3f} s, idiomatic pandas groupby "
          f"{ref_seconds:.3f} s -> {ref_seconds / ours_seconds:.1f}x; identical x, t_x, T, holdout counts: {same}")
    try:
        from lifetimes.utils import calibration_and_holdout_data

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            calibration_and_holdout_data(subset, "customer_id", "date", calibration_period_end="1997-09-30",
                                         observation_period_end="1998-06-30", freq="D")
            print(f"lifetimes calibration_and_holdout_data: {time.perf_counter() - start:.2f} s")
    except Exception as exc:  # lifetimes 0.11.3 predates pandas 3; its fitters work, its summaries may not
        print(f"lifetimes calibration_and_holdout_data failed under pandas {pd.__version__}: "
              f"{type(exc).__name__}: {exc}")


def pandas_groupby_summary(log, calibration_end, holdout_end):
    """The same summary written as plain pandas group-bys (the reference for correctness and speed)."""
    days = log.assign(day=log["date"].dt.normalize()).groupby(["customer_id", "day"], as_index=False)["amount"].sum()
    cal_end, hold_end = pd.Timestamp(calibration_end), pd.Timestamp(holdout_end)
    first = days.groupby("customer_id")["day"].transform("min")
    cal = days[days["day"] <= cal_end]
    per = cal.groupby("customer_id").agg(first=("day", "min"), last=("day", "max"), n=("day", "size"))
    out = pd.DataFrame({"frequency": per["n"] - 1, "recency": (per["last"] - per["first"]).dt.days / 7,
                        "T": (cal_end - per["first"]).dt.days / 7})
    hold = days[(days["day"] > cal_end) & (days["day"] <= hold_end) & (first <= cal_end)]
    out["frequency_holdout"] = hold.groupby("customer_id").size().reindex(out.index, fill_value=0)
    return out


if __name__ == "__main__":
    main()
