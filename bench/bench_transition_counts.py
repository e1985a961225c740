"""Benchmark: counting transitions in 10 million customer-period rows.

Compares `crmresearch.lifecycle.count_transitions` (scatter into a customer x period grid, one
bincount) with the usual pandas recipe: sort, groupby(customer).shift(-1), keep consecutive
periods, crosstab. Rows are shuffled so neither method benefits from sorted input. Both counts
must agree exactly. Prints timings (best of `--repeat`) and the ratio.

    /tmp/venv/bin/python bench/bench_transition_counts.py [--rows 10000000] [--periods 10]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from crmresearch.config import DEFAULT_SEED
from crmresearch.lifecycle import StagePanel, count_transitions, customer_transition_counts, transition_counts

from timing import best_of  # bench/timing.py (the script folder is on sys.path)


def make_panel(n_rows: int, n_periods: int, n_states: int, seed: int):
    rng = np.random.default_rng(seed)
    n_customers = n_rows // n_periods
    customer = np.repeat(np.arange(n_customers, dtype=np.int64), n_periods)
    period = np.tile(np.arange(n_periods, dtype=np.int64), n_customers)
    stage = rng.integers(0, n_states, customer.size).astype(np.int16)
    order = rng.permutation(customer.size)
    return customer[order], period[order], stage[order]


def pandas_baseline(customer, period, stage, n_states):
    df = pd.DataFrame({"customer": customer, "period": period, "stage": stage})
    df = df.sort_values(["customer", "period"])
    grouped = df.groupby("customer", sort=False)
    df["next_stage"] = grouped["stage"].shift(-1)
    df["next_period"] = grouped["period"].shift(-1)
    pairs = df[df["next_period"] == df["period"] + 1]
    table = pd.crosstab(pairs["stage"], pairs["next_stage"].astype(np.int16))
    return table.reindex(index=range(n_states), columns=range(n_states), fill_value=0).to_numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--periods", type=int, default=10)
    parser.add_argument("--states", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    customer, period, stage = make_panel(args.rows, args.periods, args.states, DEFAULT_SEED)
    print(f"rows {customer.size:,}  customers {customer.max() + 1:,}  periods {args.periods}  "
          f"stages {args.states}  (rows shuffled)")
    fast_t, fast = best_of(lambda: count_transitions(customer, period, stage, args.states), args.repeat)
    states = tuple(f"s{i}" for i in range(args.states))
    # Through a StagePanel, then the per-customer tables the cluster bootstrap resamples.
    panel_t, by_panel = best_of(lambda: transition_counts(StagePanel(customer, period, stage, states)), args.repeat)
    tensor_t, tensor = best_of(lambda: customer_transition_counts(StagePanel(customer, period, stage, states)), 1)
    assert np.array_equal(by_panel, fast) and np.array_equal(tensor.sum(axis=0).reshape(fast.shape), fast)
    base_t, base = best_of(lambda: pandas_baseline(customer, period, stage, args.states), max(1, args.repeat - 2))
    assert np.array_equal(fast, base), "the two counts differ"
    expected_pairs = (customer.max() + 1) * (args.periods - 1)
    assert fast.sum() == expected_pairs
    print(f"crmresearch count_transitions : {fast_t:8.3f} s")
    print(f"  via StagePanel              : {panel_t:8.3f} s")
    print(f"  per-customer count tables   : {tensor_t:8.3f} s   (the input of the cluster bootstrap)")
    print(f"pandas groupby-shift+crosstab : {base_t:8.3f} s")
    print(f"ratio (pandas / crmresearch)  : {base_t / fast_t:8.1f}x   pairs counted {fast.sum():,}")


if __name__ == "__main__":
    main()
