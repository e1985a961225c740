"""Sums of spend that do not depend on the order of the rows.

A floating-point sum depends on the order of its terms in the last bits. pandas added a customer's
purchase days in date order (and numpy's `reduceat` a day's purchases in an order that depended on
where the day sat in the array); DuckDB with several threads and Spark add them in whatever order
their partial aggregates meet, so the same log gave spends that differed in the last bits between
engines, between runs, and between a date-sorted and a customer-sorted copy of one log. The RFM
summaries (`clv.rfm`, `engine.summaries`) sum a day's purchases and a customer's days this way.

Here every spend is split into two whole numbers held in float64, its "limbs":

    hi = floor(spend * 2**20)                       (whole units of 2**-20)
    lo = floor((spend * 2**20 - hi) * 2**40)        (the rest, in whole units of 2**-60)

Whole numbers below 2**53 add exactly in float64, in any order, so a sum of limbs is the same
on every engine; the spend is rebuilt with one rounding, `hi * 2**-20 + lo * 2**-60`. For a
spend at least 2**-8 (any amount in cents) the split loses nothing, and the result is the exact
sum of the terms rounded once to float64. A sum stays exact while a customer's total within one
window is below 2**33 (8.6 billion) and they have fewer than 2**13 (8,192) purchase days in it;
beyond that it is still correct to float64 precision, but its last bits may depend on order.

`MAX_AMOUNT` bounds one transaction's amount (the data checks refuse more), so that `hi` of any
day's total fits a 64-bit integer, which is how the engines compute the floor.
"""

from __future__ import annotations

import numpy as np

HI_SCALE = 2.0 ** 20
LO_SCALE = 2.0 ** 40
MAX_AMOUNT = 10 ** 12


def limbs(spend) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) of each spend (non-negative float64) as float64 whole numbers."""
    scaled = np.asarray(spend, dtype=float) * HI_SCALE
    hi = np.floor(scaled)
    return hi, np.floor((scaled - hi) * LO_SCALE)


def from_limbs(hi, lo):
    """The spend of summed limbs, rounded once."""
    return np.asarray(hi, dtype=float) * (1.0 / HI_SCALE) + np.asarray(lo, dtype=float) * (1.0 / (HI_SCALE * LO_SCALE))


def grouped_sum(codes: np.ndarray, spend: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum of `spend` per group code 0..n_groups-1 (0 for an empty group), independent of row order."""
    hi, lo = limbs(spend)
    return from_limbs(np.bincount(codes, weights=hi, minlength=n_groups),
                      np.bincount(codes, weights=lo, minlength=n_groups))


def engine_limbs(spend):
    """`limbs` as Ibis expressions (floor is computed through a 64-bit integer on every backend)."""
    import ibis

    scaled = spend.cast("float64") * ibis.literal(HI_SCALE, "float64")
    hi = scaled.floor().cast("float64")
    return hi, ((scaled - hi) * ibis.literal(LO_SCALE, "float64")).floor().cast("float64")


def engine_from_limbs(hi, lo):
    """`from_limbs` as an Ibis expression."""
    import ibis

    return (hi.cast("float64") * ibis.literal(1.0 / HI_SCALE, "float64")
            + lo.cast("float64") * ibis.literal(1.0 / (HI_SCALE * LO_SCALE), "float64"))
