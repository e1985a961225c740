"""RFM summaries of a transaction log in the form the buy-till-you-die (BTYD) models need.

Definitions follow Fader, Hardie & Lee (2005), "Counting your customers the easy way: an
alternative to the Pareto/NBD model", Marketing Science 24(2), section 4:

* purchases on the same calendar day by one customer are one transaction (spend summed);
* the first transaction is the trial; `frequency` x is the number of *repeat* transaction days
  in the calibration period;
* `recency` t_x is the time of the last calibration transaction, measured from the first;
* `T` is the time from the first transaction to the end of calibration;
* times are in units of `period_days` days (7: weeks, as in the paper), as day counts / 7, so a
  customer whose trial was on 1997-01-01 has T = 272 / 7 = 38.86 weeks at 1997-09-30;
* `monetary_value` m_x is the mean spend of the x repeat transactions (Fader, Hardie & Lee 2005b,
  "RFM and CLV: using iso-value curves", J. Marketing Research 42(4)); undefined when x = 0.

Everything is vectorized on integer codes (customer codes and day numbers); no loop runs over
customers, so 10 million transactions take seconds (see bench/bench_rfm.py). A customer's spends
over days are summed with `crmresearch.spend_sums` (exact, whatever the row order), so the
engine route gives the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import spend_sums
from ..datasets import day_number


@dataclass(frozen=True)
class DailyTransactions:
    """Transactions merged to one row per customer and day, sorted by customer then day.

    `customer_codes` index `customer_ids`; `days` count days since 1970-01-01.
    """

    customer_ids: np.ndarray
    customer_codes: np.ndarray
    days: np.ndarray
    amounts: np.ndarray

    @property
    def first_row(self) -> np.ndarray:
        """Boolean mask of each customer's first (trial) transaction day."""
        first = np.ones(self.customer_codes.size, dtype=bool)
        first[1:] = self.customer_codes[1:] != self.customer_codes[:-1]
        return first


def _day_numbers(dates) -> np.ndarray:
    return np.asarray(pd.to_datetime(dates).values.astype("datetime64[D]").astype(np.int64))


def merge_same_day(transactions: pd.DataFrame, customer: str = "customer_id", date: str = "date",
                   amount: str | None = "amount") -> DailyTransactions:
    """Collapse a transaction log to one transaction per customer and calendar day (spend summed)."""
    codes, ids = pd.factorize(transactions[customer], sort=False)
    days = _day_numbers(transactions[date])
    spend = (np.asarray(transactions[amount], dtype=float) if amount and amount in transactions
             else np.ones(codes.size))
    day_span = int(days.max() - days.min()) + 1
    key = codes.astype(np.int64) * day_span + (days - days.min())
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    merged_key = key_sorted[starts]
    if starts.size:       # a day's purchases summed exactly and rounded once (the engines' day totals)
        hi, lo = spend_sums.limbs(spend[order])
        amounts = spend_sums.from_limbs(np.add.reduceat(hi, starts), np.add.reduceat(lo, starts))
    else:
        amounts = np.zeros(0)
    return DailyTransactions(np.asarray(ids), merged_key // day_span, merged_key % day_span + days.min(),
                             amounts)


def rfm_summary(transactions: pd.DataFrame, calibration_end, holdout_end=None, period_days: float = 7.0,
                customer: str = "customer_id", date: str = "date", amount: str | None = "amount") -> pd.DataFrame:
    """Frequency, recency, T and average repeat spend per customer, with optional holdout counts.

    Customers whose first purchase falls after `calibration_end` are excluded (they are not part
    of the calibration cohort). Columns:

    * `frequency` (x), `recency` (t_x), `T`, `monetary_value` (mean repeat spend, NaN if x = 0),
      `first_purchase` (date), `first_spend`, `calibration_spend` (all spend up to calibration_end);
    * with `holdout_end`: `frequency_holdout` (transaction days in (calibration_end, holdout_end]),
      `monetary_holdout` (mean spend of those, NaN if none), `duration_holdout` (in periods).
    """
    daily = merge_same_day(transactions, customer, date, amount)
    cal_end = day_number(calibration_end)
    codes, days, spend = daily.customer_codes, daily.days, daily.amounts
    n_customers = daily.customer_ids.size
    first = daily.first_row
    first_day = np.empty(n_customers, dtype=np.int64)
    first_day[codes[first]] = days[first]
    first_spend = np.zeros(n_customers)
    first_spend[codes[first]] = spend_sums.from_limbs(*spend_sums.limbs(spend[first]))

    in_calibration = days <= cal_end
    repeat_cal = in_calibration & ~first
    frequency = np.bincount(codes[repeat_cal], minlength=n_customers)
    last_day = np.full(n_customers, np.iinfo(np.int64).min)
    np.maximum.at(last_day, codes[in_calibration], days[in_calibration])
    # Sums of whole-number limbs: the same bits whatever the row order, and the engines' sums.
    repeat_spend = spend_sums.grouped_sum(codes[repeat_cal], spend[repeat_cal], n_customers)
    calibration_spend = spend_sums.grouped_sum(codes[in_calibration], spend[in_calibration], n_customers)

    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_spend / frequency, np.nan)
    out = pd.DataFrame({
        "frequency": frequency,
        "recency": (last_day - first_day) / period_days,
        "T": (cal_end - first_day) / period_days,
        "monetary_value": monetary,
        "first_purchase": first_day.astype("datetime64[D]").astype("datetime64[ns]"),
        "first_spend": first_spend,
        "calibration_spend": calibration_spend,
    }, index=pd.Index(daily.customer_ids, name="customer_id"))
    if holdout_end is not None:
        hold_end = day_number(holdout_end)
        in_holdout = (days > cal_end) & (days <= hold_end)
        count = np.bincount(codes[in_holdout], minlength=n_customers)
        total = spend_sums.grouped_sum(codes[in_holdout], spend[in_holdout], n_customers)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["frequency_holdout"] = count
            out["monetary_holdout"] = np.where(count > 0, total / count, np.nan)
        out["duration_holdout"] = (hold_end - cal_end) / period_days
    return out[first_day <= cal_end]


def repeat_transactions_by_period(transactions: pd.DataFrame, start, end, period_days: float = 7.0,
                                  customers=None, customer: str = "customer_id", date: str = "date",
                                  amount: str | None = "amount") -> pd.DataFrame:
    """Actual repeat transactions (same-day merged, trial excluded) per period from `start` to `end`.

    Period k (1-based) covers days [start + (k-1)·period_days, start + k·period_days). Used for
    the weekly tracking plots of Fader, Hardie & Lee (2005, figure 2). `customers` restricts the
    count to a cohort (e.g. the customers of an RFM summary).
    """
    daily = merge_same_day(transactions, customer, date, amount)
    start_day, end_day = day_number(start), day_number(end)
    keep = ~daily.first_row & (daily.days >= start_day) & (daily.days <= end_day)
    if customers is not None:
        # A hash lookup: numpy's isin on text ids compares every pair (minutes at a million customers).
        keep &= pd.Index(daily.customer_ids).isin(pd.Index(customers))[daily.customer_codes]
    n_periods = int(np.ceil((end_day - start_day + 1) / period_days))
    period = ((daily.days[keep] - start_day) // period_days).astype(int)
    incremental = np.bincount(period, minlength=n_periods)[:n_periods]
    return pd.DataFrame({"period": np.arange(1, n_periods + 1), "incremental": incremental,
                         "cumulative": np.cumsum(incremental)})


def first_purchase_periods(summary: pd.DataFrame, start, period_days: float = 7.0) -> np.ndarray:
    """Time of each customer's trial purchase in periods since `start` (for cohort forecasts)."""
    first = _day_numbers(summary["first_purchase"])
    return (first - day_number(start)) / period_days


# ------------------------------------------------------------------ overviews of the cohort

def rfm_overview(summary: pd.DataFrame, transaction_rows: int) -> dict:
    return {
        "customers": int(len(summary)),
        "transaction_rows": int(transaction_rows),
        "repeat_buyers": int((summary["frequency"] > 0).sum()),
        "share_no_repeat": float((summary["frequency"] == 0).mean()),
        "calibration_repeat_transactions": int(summary["frequency"].sum()),
        "holdout_repeat_transactions": int(summary["frequency_holdout"].sum()),
        "mean_frequency": float(summary["frequency"].mean()),
        "mean_repeat_spend": float(summary["monetary_value"].mean()) if (summary["frequency"] > 0).any() else None,
    }


def discrete_overview(frame: pd.DataFrame) -> dict:
    w = frame["count"].to_numpy(float)
    x = frame["frequency"].to_numpy(float)
    return {"customers": int(w.sum()), "unique_rows": int(len(frame)), "periods": int(frame["periods"].max()),
            "share_no_transaction": float(w[x == 0].sum() / w.sum()),
            "transactions": int(w @ x), "mean_frequency": float(w @ x / w.sum())}
