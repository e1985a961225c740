"""The CLV report on a log read in place whose cohort is too large to hold one row per customer in
the kernel (more than `config.CLV_AGGREGATE_CUSTOMERS`): every part from engine aggregates.

The per-customer RFM table stays in the engine (`clv.data.read_in_place`). The kernel holds:

* the unique (x, t_x, T) rows with their customer counts, the sum of average repeat spend and of the
  holdout purchases and their squares (`engine.aggregates.unique_rows`): the purchase models are fitted
  on them with the counts as weights (the same likelihood as one row per customer), and the histogram,
  tracking, holdout and conditional-expectation tables are weighted sums over them;
* the unique (x, m) rows of the repeat buyers with their counts, for Gamma-Gamma;
* cohort totals, the correlation of x and spend, holdout spend by frequency (engine aggregates).

Per-customer predictions are computed once per unique row (P(alive), expected purchases, discounted
purchases and their gradient) and per frequency (Gamma-Gamma's expected spend is A(x) + B(x)·m, linear
in the customer's average spend m, and so is its gradient), joined back to the customers in the
engine and streamed to a Parquet file (`CustomerValues.path`, moved beside the report by the
customer-file section). Concentration, tiers, the quadrant, CLV quantiles and the top customers are
queries of that file; the figures draw systematic samples of it (at most `plots.MAX_POINTS` customers,
evenly spaced, as the in-memory path draws). The numbers are those of the in-memory path up to the
order of floating-point sums (the tests compare them on one log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from ..datasets import day_number
from ..stats import z_value
from ..engine import aggregates as A
from ..engine.execution import F64, drop_kept, execute, keep_for_now, register_frame, write_customer_table
from ..models.gammagamma import gamma_gamma_spend_coefficients
from .predictions import log_jacobian

VALUE_FILE = "customers.parquet"


@dataclass
class ScaleData:
    """What the engine keeps for a cohort summarised by aggregates (see the module's note)."""

    con: object                       # the engine's connection (None while released, see `release`)
    rfm_table: object                 # the per-customer RFM table kept in the engine
    totals: dict                      # `engine.aggregates.cohort_totals`
    spend_rows: pd.DataFrame          # unique (x, m) rows of the repeat buyers with their counts
    holdout_spend: pd.DataFrame       # `engine.aggregates.holdout_spend_by_frequency`
    chosen: pd.DataFrame              # the RFM rows of the customers whose P(alive) history is drawn
    folder: str                       # scratch folder of the engine (for the per-customer file)
    chosen_ids: list = field(default_factory=list)   # those customers, in the order of the choice
    settings: object = None           # the `engine:` block, to reconnect
    rfm_path: str | None = None       # the Parquet file(s) of the kept RFM table, to read it again
    calibration_end: object = None

    def release(self) -> None:
        """Close a DuckDB connection between the summaries and the predictions, so that the memory its
        buffers hold goes back while the kernel fits (the kept table is a Parquet file, read again)."""
        if self.rfm_path is not None and getattr(self.con, "name", "") == "duckdb":
            self.con.disconnect()
            self.con = self.rfm_table = None

    def reopen(self) -> None:
        if self.con is None:
            from ..engine import spark
            from ..engine import summaries as S

            self.con = spark.connect(self.settings)
            customers = self.con.read_parquet(self.rfm_path, table_name="crm_clv_rfm")
            self.rfm_table = S.cohort(customers, self.calibration_end)

    def close(self) -> None:
        if getattr(self.con, "name", "") == "duckdb":
            self.con.disconnect()
        self.con = self.rfm_table = None


def overview_values(scale: ScaleData, transaction_rows: int) -> dict:
    """`rfm.rfm_overview` from the engine's totals."""
    t = scale.totals
    n = t["customers"]
    return {
        "customers": int(n), "transaction_rows": int(transaction_rows), "repeat_buyers": int(t["repeat_buyers"]),
        "share_no_repeat": float((n - t["repeat_buyers"]) / n) if n else float("nan"),
        "calibration_repeat_transactions": int(t["frequency_sum"]),
        "holdout_repeat_transactions": int(t["holdout_sum"]),
        "mean_frequency": float(t["frequency_sum"] / n) if n else float("nan"),
        "mean_repeat_spend": t["mean_repeat_spend"] if t["repeat_buyers"] else None,
    }


def independence(scale: ScaleData, confidence: float) -> dict:
    """`predictions.spend_frequency_correlation` from the engine's correlation and count."""
    from .predictions import correlation_interval

    return correlation_interval(scale.totals["correlation"], scale.totals["correlation_n"], confidence)


def spend_check(scale: ScaleData, spend_fit, max_frequency: int) -> pd.DataFrame:
    """`predictions.spend_check` from holdout spend by frequency: a customer's expected spend is
    A(x) + B(x)·m, so a group's mean is (Σ bought·A(x) + B(x)·Σ m) / Σ bought."""
    h = scale.holdout_spend
    coef_a, coef_b = gamma_gamma_spend_coefficients(spend_fit.theta, h["frequency"].to_numpy(float))
    expected_sum = h["bought"].to_numpy(float) * coef_a + coef_b * h["monetary_sum"].to_numpy(float)
    group = np.minimum(h["frequency"].to_numpy(), max_frequency)
    frame = pd.DataFrame({"frequency": group, "bought": h["bought"].to_numpy(), "actual": h["holdout_spend_sum"],
                          "expected": expected_sum}).groupby("frequency").sum()
    table = pd.DataFrame({"frequency": [f"{v}+" if v == max_frequency else str(v) for v in frame.index],
                          "customers": frame["bought"].to_numpy(np.int64),
                          "actual": (frame["actual"] / frame["bought"]).to_numpy(),
                          "expected": (frame["expected"] / frame["bought"]).to_numpy()})
    n = int(h["bought"].sum())
    total = pd.DataFrame([{"frequency": "all", "customers": n, "actual": float(h["holdout_spend_sum"].sum() / n),
                           "expected": float(expected_sum.sum() / n)}])
    return pd.concat([table, total], ignore_index=True)


# ------------------------------------------------------------------ per-customer values, in the engine
@dataclass
class CustomerValues:
    """The CLV part of a cohort summarised by aggregates: totals and the queries of the per-customer file."""

    total: dict
    path: str                          # the per-customer Parquet file (moved beside the report)
    customers: int
    columns: list
    mean_p_alive: float
    quantiles: dict                    # CLV quantiles 0.1, 0.5, 0.9, 0.99
    median_clv: float
    share_no_repeat: float
    top: pd.DataFrame                  # the ten customers with the highest CLV (top-customer columns)
    sample: pd.DataFrame               # evenly spaced customers in id order: frequency, recency, T, p_alive
    table: object = None               # no per-customer table in the kernel
    frequency_shares: dict = field(default_factory=dict)


def customer_values(purchase_fit, spend_fit, data, params, epsilon: float = 1e-5) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Per unique row: P(alive), expected purchases over the horizon, discounted purchases D and the
    variance term g'Σg of D's gradient; per frequency: A, B of the expected spend and the terms of its
    variance (c0 + 2 c1 m + c2 m²); and the cohort total with its delta-method interval, as
    `predictions.customer_lifetime_value` computes them customer by customer."""
    rows = data.summary
    horizon, step = params.clv_horizon_weeks, params.clv_step_weeks
    d = (1 + params.annual_discount_rate) ** (step / 52.0) - 1
    ux, ut, uT = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    n, msum = rows["customers"].to_numpy(float), rows["monetary_sum"].to_numpy(float)

    def discounted(theta):          # the rows are unique already: no collapse per evaluation
        return purchase_fit.with_params(theta).discounted_rows(ux, ut, uT, horizon, step, d)

    dert = discounted(purchase_fit.theta)
    jd = log_jacobian(discounted, purchase_fit.theta, epsilon)
    qp = np.einsum("ij,jk,ik->i", jd, purchase_fit.log_cov, jd)
    fx = np.unique(ux)
    a, b = gamma_gamma_spend_coefficients(spend_fit.theta, fx)
    ja = log_jacobian(lambda th: gamma_gamma_spend_coefficients(th, fx)[0], spend_fit.theta, epsilon)
    jb = log_jacobian(lambda th: gamma_gamma_spend_coefficients(th, fx)[1], spend_fit.theta, epsilon)
    cov = spend_fit.log_cov
    by_x = pd.DataFrame({"frequency": fx.astype(np.int64), "spend_a": a, "spend_b": b,
                         "c0": np.einsum("ij,jk,ik->i", ja, cov, ja), "c1": np.einsum("ij,jk,ik->i", ja, cov, jb),
                         "c2": np.einsum("ij,jk,ik->i", jb, cov, jb)})
    pos = np.searchsorted(fx, ux)
    spend_sum = n * a[pos] + b[pos] * msum                   # Σ over a row's customers of expected spend
    margin = params.margin
    total_clv = float(margin * np.sum(spend_sum * dert))
    grad_p = margin * (spend_sum @ jd)
    grad_s = margin * ((n * dert) @ ja[pos] + (msum * dert) @ jb[pos])
    z = z_value(params.confidence)
    total_se = float(np.sqrt(grad_p @ purchase_fit.log_cov @ grad_p + grad_s @ spend_fit.log_cov @ grad_s))
    customers = float(n.sum())
    total = {"total": total_clv, "se": total_se, "lower": total_clv - z * total_se, "upper": total_clv + z * total_se,
             "mean_per_customer": total_clv / customers, "discount_per_step": d, "horizon": horizon, "step": step}
    per_row = pd.DataFrame({"frequency": rows["frequency"].to_numpy(np.int64),
                            "recency_days": rows["recency_days"].to_numpy(np.int64),
                            "T_days": rows["T_days"].to_numpy(np.int64),
                            "p_alive": purchase_fit.probability_alive(frequency=ux, recency=ut, T=uT),
                            "expected_transactions": purchase_fit.expected_purchases(t=horizon, frequency=ux,
                                                                                    recency=ut, T=uT),
                            "discounted_transactions": dert, "qp": qp})
    return total, per_row, by_x


def _customer_table_expression(scale: ScaleData, per_row: pd.DataFrame, by_x: pd.DataFrame, params, z: float):
    """The per-customer table (the in-memory customer file's columns, tier left out) as an engine expression."""
    con, r = scale.con, scale.rfm_table
    rows, xs = register_frame(con, "crm_clv_row_values", per_row), register_frame(con, "crm_clv_spend_terms", by_x)
    j = r.join(rows, ["frequency", "recency_days", "T_days"]).join(xs, "frequency")
    m = ibis.ifelse(j.frequency > 0, j.monetary_value.cast(F64), ibis.literal(0.0, F64))
    fh = j.frequency_holdout
    holdout_spend = ibis.ifelse(fh > 0, j.monetary_holdout.cast(F64) * fh.cast(F64), ibis.literal(0.0, F64))
    revenue = j.calibration_spend.cast(F64) + holdout_spend
    orders = (1 + j.frequency + fh).cast("int64")
    spend = j.spend_a + j.spend_b * m
    margin = ibis.literal(float(params.margin), F64)
    clv = margin * spend * j.discounted_transactions
    variance = ((margin * spend) * (margin * spend) * j.qp
                + (margin * j.discounted_transactions) * (margin * j.discounted_transactions)
                * (j.c0 + 2 * j.c1 * m + j.c2 * m * m))
    se = variance.sqrt()
    cpo, cpc = float(params.cost_per_order), float(params.cost_per_customer)
    profit = margin * revenue - ibis.literal(cpo, F64) * orders.cast(F64) - ibis.literal(cpc, F64)
    zz = ibis.literal(float(z), F64)
    return j.select(customer_id=j.customer_id, frequency=j.frequency, recency=j.recency, T=j["T"],
                    monetary_value=j.monetary_value, frequency_holdout=fh, monetary_holdout=j.monetary_holdout,
                    revenue=revenue, orders=orders, profit=profit, clv=clv,
                    net_clv=clv - ibis.literal(cpo, F64) * j.discounted_transactions,
                    expected_transactions=j.expected_transactions, p_alive=j.p_alive, expected_spend=spend,
                    discounted_transactions=j.discounted_transactions, clv_se=se, clv_lower=clv - zz * se,
                    clv_upper=clv + zz * se)


def tier_counts(n: int, cut_shares) -> list[int]:
    """Customers in each tier but the last: k_j = #{r in 1..n : r/n <= cut_j} (`value.value_tiers`)."""
    out = []
    for cut in cut_shares:
        k = int(math.floor(cut * n))
        while k + 1 <= n and (k + 1) / n <= cut:
            k += 1
        while k > 0 and k / n > cut:
            k -= 1
        out.append(k)
    return out


def write_values(purchase_fit, spend_fit, data, params):
    """The CLV part on aggregates: per-row and per-frequency terms in the kernel, the per-customer
    table written by the engine (CLV, its interval, revenue, profit, tier), and what the report
    shows of it. Returns `CustomerValues`."""
    from .plots import shown_points

    scale = data.aggregated
    scale.reopen()
    total, per_row, by_x = customer_values(purchase_fit, spend_fit, data, params)
    z = z_value(params.confidence)
    expr = _customer_table_expression(scale, per_row, by_x, params, z)
    con = scale.con
    # Tiers by CLV rank (largest first, ties to the smallest id), cut where `value.value_tiers` cuts:
    # the bounds from each customer's CLV kept for now, then the file written once with its tier.
    ranks = keep_for_now(expr.select("customer_id", "clv"), "crm_clv_ranks")
    n = int(execute(ranks.aggregate(n=ranks.count()), "customers")["n"].iloc[0])
    names = list(params.tier_names)
    bounds = A.ranked_bounds(ranks, "clv", tier_counts(n, params.tier_shares))
    drop_kept(ranks, "crm_clv_ranks")
    t = expr
    tier = ibis.literal(names[-1])
    for name, bound in reversed(list(zip(names[:-1], bounds))):
        if bound is None:
            continue
        value, cid = bound
        inside = (t.clv > ibis.literal(value, F64)) | ((t.clv == ibis.literal(value, F64)) & (t.customer_id <= cid))
        tier = ibis.ifelse(inside, ibis.literal(name), tier)
    final = str(Path(scale.folder) / VALUE_FILE)
    write_customer_table(t.mutate(tier=tier), final)
    values = con.read_parquet(final, table_name="crm_clv_values")
    stats = execute(values.aggregate(mean_p_alive=values.p_alive.mean(),
                                     q10=values.clv.quantile(0.1), q50=values.clv.quantile(0.5),
                                     q90=values.clv.quantile(0.9), q99=values.clv.quantile(0.99),
                                     none=values.count(where=values.frequency == 0)), "CLV figures").iloc[0]
    top = execute(values.order_by([ibis.desc("clv"), "customer_id"]).limit(10), "top customers")
    interval = f"{params.confidence:.0%} interval"
    top_table = pd.DataFrame({
        "customer": top["customer_id"].astype(str).to_numpy(), "x": top["frequency"].to_numpy(np.int64),
        "t_x": top["recency"].to_numpy(float), "T": top["T"].to_numpy(float),
        "P(alive)": top["p_alive"].to_numpy(float), "purchases": top["expected_transactions"].to_numpy(float),
        "spend": top["expected_spend"].to_numpy(float), "CLV": top["clv"].to_numpy(float),
        interval: [f"{lo:,.0f}–{hi:,.0f}" for lo, hi in zip(top["clv_lower"], top["clv_upper"])]})
    # One systematic sample in customer-id order serves the P(alive) figure and the quadrant's.
    sample = A.rows_at(values, ["customer_id"], shown_points(n), ["frequency", "recency", "T", "p_alive", "net_clv",
                                                                   "expected_transactions"])
    sample.attrs["customers"] = n
    quantiles = {0.1: float(stats["q10"]), 0.5: float(stats["q50"]), 0.9: float(stats["q90"]), 0.99: float(stats["q99"])}
    return CustomerValues(total, final, n, list(values.columns), float(stats["mean_p_alive"]), quantiles,
                          float(stats["q50"]), float(stats["none"]) / n if n else float("nan"), top_table, sample)


# ------------------------------------------------------------------ concentration, tiers, quadrant
def concentration(values_path: str, scale: ScaleData, params) -> tuple[dict, float, dict]:
    """`value.concentration_summary` and `value.break_even_cost_per_customer` from the per-customer
    file, and the curves the figure draws (Lorenz of revenue, whale curve of profit) at evenly
    spaced ranks."""
    from ..engine.value import concentration as engine_concentration
    from .plots import shown_points

    con = scale.con
    v = con.read_parquet(values_path, table_name="crm_clv_concentration")
    top = params.top_fraction
    rev = engine_concentration(v, "revenue", top)
    n = rev["customers"]
    k = int(np.ceil(top * n))
    sums = execute(v.aggregate(total_profit=v.profit.sum(), positive=v.profit.sum(where=v.profit > 0),
                               positives=v.count(where=v.profit > 0), negatives=v.count(where=v.profit < 0),
                               contribution=(v.profit + ibis.literal(float(params.cost_per_customer), F64)).sum()),
                   "profit totals").iloc[0]
    total_profit = float(sums["total_profit"])
    top_profit = A.top_sum(v, "profit", k)
    top_contribution = top_profit + k * float(params.cost_per_customer)     # the same customers: profit + cost
    summary = {"customers": int(n), "top_share_revenue": rev["top_share"], "gini_revenue": rev["gini"],
               "top_share_profit": top_profit / total_profit, "peak_profit_share": float(sums["positive"] or 0.0) / total_profit,
               "peak_population_share": int(sums["positives"]) / n, "unprofitable_share": int(sums["negatives"]) / n,
               "total_profit": total_profit}
    break_even = (float(sums["contribution"]) - top_contribution) / (n - k) if n > k else float("nan")
    positions = shown_points(n + 1)
    ranks = positions[positions > 0] - 1                       # cumulative after the r-th customer
    # Ordered by the value alone: tied rows carry equal values, so the running sums at each rank are
    # the same whichever tied row comes first (and a sort on the value alone is half the work).
    lorenz = A.rows_at(v, ["revenue"], ranks, [], cumulative="revenue")
    whale_ranks = np.union1d(ranks, [max(int(sums["positives"]) - 1, 0)])
    whale = A.rows_at(v, [ibis.desc("profit")], whale_ranks, [], cumulative="profit")
    revenue_total = rev["total"]
    curves = {"customers": int(n), "top_fraction": top,
              "lorenz": (np.concatenate([[0.0], (lorenz["_position"].to_numpy() + 1) / n]),
                         np.concatenate([[0.0], lorenz["_cumulative"].to_numpy() / revenue_total])),
              "whale": (np.concatenate([[0.0], (whale["_position"].to_numpy() + 1) / n]),
                        np.concatenate([[0.0], whale["_cumulative"].to_numpy() / total_profit]))}
    return summary, float(break_even), curves


def tier_table(values_path: str, scale: ScaleData, params) -> pd.DataFrame:
    """`value.tier_table` from the per-customer file."""
    v = scale.con.read_parquet(values_path, table_name="crm_clv_tiers")
    df = execute(v.group_by("tier").aggregate(customers=v.count(), mean_clv=v.clv.mean(), total_clv=v.clv.sum()),
                 "tiers")
    order = {name: i for i, name in enumerate(params.tier_names)}
    df = df.sort_values("tier", key=lambda s: s.map(order)).reset_index(drop=True)
    out = pd.DataFrame({"tier": pd.Categorical(df["tier"], categories=list(params.tier_names), ordered=True),
                        "customers": df["customers"].to_numpy(np.int64), "mean_clv": df["mean_clv"].to_numpy(float),
                        "total_clv": df["total_clv"].to_numpy(float)})
    out["share_of_customers"] = out["customers"] / out["customers"].sum()
    out["share_of_clv"] = out["total_clv"] / out["total_clv"].sum()
    return out


def quadrant(values_path: str, scale: ScaleData, sample: pd.DataFrame) -> pd.DataFrame:
    """`value.value_quadrant` of net CLV against expected purchases (thresholds at the medians): the
    customers drawn in the figure (evenly spaced in id order), with every quadrant's count in
    `attrs["counts"]` and the customers in `attrs["customers"]`."""
    from .value import QUADRANTS, value_quadrant

    v = scale.con.read_parquet(values_path, table_name="crm_clv_quadrant")
    med = execute(v.aggregate(f=v.net_clv.median(), c=v.expected_transactions.median(), n=v.count()),
                  "quadrant thresholds").iloc[0]
    ft, ct, n = float(med["f"]), float(med["c"]), int(med["n"])
    hi_f, hi_c = v.net_clv > ibis.literal(ft, F64), v.expected_transactions > ibis.literal(ct, F64)
    label = ibis.cases((hi_f & hi_c, QUADRANTS[(True, True)]), (hi_f & ~hi_c, QUADRANTS[(True, False)]),
                       (~hi_f & hi_c, QUADRANTS[(False, True)]), else_=QUADRANTS[(False, False)])
    q = v.mutate(quadrant=label)
    counts = execute(q.group_by("quadrant").aggregate(customers=q.count()), "quadrant counts")
    firm, customer = sample["net_clv"].to_numpy(float), sample["expected_transactions"].to_numpy(float)
    labels = value_quadrant(firm, customer, ft, ct)["quadrant"].to_numpy()
    out = pd.DataFrame({"firm_value": firm, "customer_value": customer, "quadrant": labels, "firm_threshold": ft,
                        "customer_threshold": ct})
    out.attrs["counts"] = dict(zip(counts["quadrant"], counts["customers"].astype(int)))
    out.attrs["customers"] = n
    return out


def clv_rank_sample(values_path: str, scale: ScaleData, params) -> pd.DataFrame:
    """CLV and tier of evenly spaced customers ranked by CLV (largest first), for the distribution figure."""
    from .plots import shown_points

    v = scale.con.read_parquet(values_path, table_name="crm_clv_ranked")
    n = int(execute(v.aggregate(n=v.count()), "customers")["n"].iloc[0])
    # Ordered by CLV, then by tier from the top: within tied CLVs the top tier's customers come first,
    # as they do by id (`write_values`), so the (CLV, tier) at each rank is that of the ordering by id.
    tier_place = ibis.cases(*((v.tier == name, i) for i, name in enumerate(params.tier_names)), else_=len(params.tier_names))
    sample = A.rows_at(v, [ibis.desc("clv"), tier_place], shown_points(n), ["clv", "tier"])
    sample.attrs["customers"] = n
    return sample


def trial_times(summary: pd.DataFrame, calibration_end, cohort_start, period_days: float = 7.0) -> np.ndarray:
    """Each unique row's trial time in periods since the cohort start (first day = calibration end - T)."""
    first = day_number(calibration_end) - summary["T_days"].to_numpy(np.int64)
    return (first - day_number(cohort_start)) / period_days
