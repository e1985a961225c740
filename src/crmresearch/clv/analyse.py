"""Every fit and computation of the customer-lifetime-value report, in one call: `analyse(params)`.

The report's data are loaded through `clv.data.prepare`, the models are fitted through
`clv.fits` (BG/NBD, Pareto/NBD, Gamma-Gamma, or the BG/BB on a discrete-time summary), and every
number a section or figure shows (Dwyer's tables, the cohort overview, estimates, draws of the
estimates, bands, tracking, holdout checks, CLV, P(alive), values with parametric and bootstrap
intervals, concentration, tiers and the value quadrant) is returned in one `ClvAnalysis`.
`clv.sections` turns it into the report's sections and fits nothing; `clv.text` writes the
sentences.

Random numbers: the data (a simulated log) come from the generator seeded by `params.seed`; the
draws of the estimates from one seeded by `[params.seed, 11]` and the values' bootstrap from one
seeded by `[params.seed, 12]`, so that no number depends on how many draws another part made. A
second run gives the same numbers.

A part that cannot be computed (the data cannot support it, or the model it needs did not fit)
is a `Skipped` record saying why; the sections say so where the part would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..models import bgbb
from .. import config, windows
from . import at_scale, dwyer, intervals, predictions, rfm, simulate, value
from .data import ClvData, prepare
from .fits import FitSet, fit_all, parameter_draws, parameter_table, fit_statistics, reference_comparison


@dataclass
class Skipped:
    """A part of the report that was not computed, and why."""

    reason: str
    rows_used: int | None = None


# ---------------------------------------------------------------- the cohort and the models

@dataclass
class Overview:
    values: dict                      # rfm.rfm_overview, or rfm.discrete_overview for a discrete-time summary
    window: dict | None = None        # dates and lengths in weeks of the calibration and holdout periods
    dropped: dict | None = None       # reason -> customers left out of the cohort


def overview(data: ClvData) -> Overview:
    """The calibration cohort (transaction log) or, for a discrete-time summary, its customers and periods."""
    if data.discrete is not None:
        return Overview(rfm.discrete_overview(data.discrete))
    window = {"cohort_start": data.cohort_start, "calibration_end": data.calibration_end,
              "holdout_end": data.holdout_end, "calibration_weeks": data.calibration_weeks,
              "holdout_weeks": data.holdout_weeks,
              "source": data.windows.source if data.windows is not None else "parameter file",
              "sentence": data.windows.sentence() if data.windows is not None else ""}
    dropped = {"first purchase after the calibration period": int(data.customers_in_log - data.cohort_customers)}
    if data.aggregated is not None:
        return Overview(at_scale.overview_values(data.aggregated, data.transaction_rows), window, dropped)
    return Overview(rfm.rfm_overview(data.summary, data.transaction_rows), window, dropped)


@dataclass
class Estimates:
    table: pd.DataFrame               # estimates with SEs, intervals and reference values
    statistics: pd.DataFrame          # fit statistics
    comparison: dict | None           # distance of the estimates from the reference values


def estimates(fits: FitSet, data: ClvData, confidence: float) -> Estimates | None:
    """Estimates with intervals at `confidence` and fit statistics of the models that converged (None: none did)."""
    if not fits:
        return None
    return Estimates(parameter_table(fits, data.reference, confidence), fit_statistics(fits),
                     reference_comparison(fits, data.reference))


def independence(data: ClvData, confidence: float) -> dict | Skipped:
    """Correlation of repeat purchases and average spend among repeat buyers (Gamma-Gamma's assumption)."""
    if data.unavailable:
        return Skipped(f"no spend to correlate: {data.unavailable}")
    if data.aggregated is not None:
        repeaters = int(data.aggregated.totals["repeat_buyers"])
    else:
        repeaters = int((data.summary["frequency"] > 0).sum())
    if repeaters < 4:
        return Skipped(f"the correlation needs at least 4 repeat buyers (the log has {repeaters})", repeaters)
    if data.aggregated is not None:
        return at_scale.independence(data.aggregated, confidence)
    return predictions.spend_frequency_correlation(data.summary["frequency"], data.summary["monetary_value"],
                                                   confidence)


# ---------------------------------------------------------------- checks of the fit

@dataclass
class Heterogeneity:
    model: object                     # the purchase model (or the BG/BB)
    frames: list                      # one density with its band per mixing distribution


def heterogeneity(fits: FitSet, data: ClvData, draws: dict, confidence: float) -> Heterogeneity | Skipped:
    """Densities of the mixing distributions of the purchase model (gamma of λ; beta of p or gamma of μ;
    for the BG/BB beta of p and of θ), with bands from parameter draws."""
    model = fits.get("BG/BB") if data.discrete is not None else fits.purchase_model
    if model is None:
        return Skipped("no purchase model converged")
    return Heterogeneity(model, intervals.heterogeneity_bands(model, draws[model.name], confidence))


@dataclass
class Histogram:
    band: pd.DataFrame | None         # label, actual, expected, lower, upper (parameter draws)
    draws: int | None
    model: str = "BG/NBD"
    unit: str = "repeat purchases in calibration"
    histogram: pd.DataFrame | None = None      # transaction log: actual and BG/NBD by repeat purchases
    expected_share: float | None = None        # share with no repeat purchase, expected and actual
    actual_share: float | None = None


def histogram(fits: FitSet, data: ClvData, max_frequency: int, draws: dict, confidence: float) -> Histogram | Skipped:
    """Customers by repeat purchases in calibration against the BG/NBD's expectation (FHL 2005, figure 1),
    with a band from parameter draws; for a discrete-time summary, customers by transactions against the BG/BB."""
    if data.discrete is not None:
        if "BG/BB" not in fits:
            return Skipped("the transaction histogram needs the BG/BB, which did not fit")
        band = intervals.discrete_histogram_band(fits["BG/BB"], data.discrete, draws["BG/BB"], confidence)
        return Histogram(band, len(draws["BG/BB"]), "BG/BB", "transactions in the periods observed")
    if "BG/NBD" not in fits:
        return Skipped("the frequency histogram needs the BG/NBD, which did not fit")
    table = predictions.frequency_histogram(fits["BG/NBD"], data.summary, max_frequency)
    w = predictions.row_weights(data.summary)
    out = Histogram(None, None, histogram=table, expected_share=float(table["BG/NBD"].iloc[0] / table["BG/NBD"].sum()),
                    actual_share=float(w[data.summary["frequency"].to_numpy() == 0].sum() / w.sum())
                    if data.aggregated is not None else float((data.summary["frequency"] == 0).mean()))
    if "BG/NBD" in draws:
        out.band = intervals.histogram_band(fits["BG/NBD"], data.summary, max_frequency, draws["BG/NBD"], confidence)
        out.draws = len(draws["BG/NBD"])
    return out


@dataclass
class Tracking:
    table: pd.DataFrame               # weekly actual and expected repeat transactions
    errors: pd.DataFrame              # forecast errors at the end and over the holdout period


def tracking(fits: FitSet, data: ClvData) -> Tracking | Skipped:
    """Weekly tracking of repeat purchases, calibration and holdout, against each converged purchase model."""
    if data.unavailable:
        return Skipped(f"no weekly tracking: {data.unavailable}")
    purchase = {f.name: f for f in fits.purchase}
    if not purchase:
        return Skipped("no purchase model (BG/NBD or Pareto/NBD) converged")
    trial = (at_scale.trial_times(data.summary, data.calibration_end, data.cohort_start)
             if data.aggregated is not None else None)
    table = predictions.tracking_table(data.log, data.summary, purchase, data.cohort_start, data.holdout_end,
                                       data.tracking_counts, trial=trial)
    return Tracking(table, predictions.tracking_errors(table, data.calibration_weeks, data.window_weeks))


@dataclass
class Holdout:
    by_frequency: pd.DataFrame        # holdout purchases per customer by calibration frequency
    check: pd.DataFrame               # per-customer holdout forecasts against the actual counts
    band: pd.DataFrame | None = None  # band of the purchase model the CLV uses, from parameter draws
    band_model: str | None = None


def holdout(fits: FitSet, data: ClvData, max_frequency: int, draws: dict, confidence: float) -> Holdout | Skipped:
    """Holdout purchases by calibration frequency (FHL 2005, figure 4) and per-customer errors, with a band
    from parameter draws for the purchase model the CLV uses."""
    if data.unavailable:
        return Skipped(f"no holdout period: {data.unavailable}")
    purchase = fits.purchase
    if not purchase:
        return Skipped("no purchase model (BG/NBD or Pareto/NBD) converged")
    by_frequency = predictions.conditional_expectation_by_frequency(data.summary, purchase, data.holdout_weeks,
                                                                    max_frequency)
    out = Holdout(by_frequency, predictions.holdout_check(data.summary, fits, data.holdout_weeks))
    model = fits.purchase_model
    if draws and model.name in draws:
        out.band = intervals.conditional_by_frequency_band(model, data.summary, data.holdout_weeks, max_frequency,
                                                           draws[model.name], confidence)
        out.band_model = model.name
    return out


@dataclass
class SpendCheck:
    table: pd.DataFrame               # actual and expected holdout spend per purchase, by calibration frequency
    bought: int                       # customers who bought in the holdout period


def spend(fits: FitSet, data: ClvData, max_frequency: int) -> SpendCheck | Skipped:
    """Gamma-Gamma's expected spend per purchase against the holdout purchases."""
    if data.unavailable:
        return Skipped(f"no spend to check: {data.unavailable}")
    if "Gamma-Gamma" not in fits:
        return Skipped("the spend check needs the Gamma-Gamma model, which did not fit")
    if data.aggregated is not None:
        bought = int(data.aggregated.totals["holdout_buyers"])
    else:
        bought = int((data.summary["frequency_holdout"] > 0).sum())
    if bought == 0:
        return Skipped("no customer bought in the holdout period", 0)
    if data.aggregated is not None:
        return SpendCheck(at_scale.spend_check(data.aggregated, fits["Gamma-Gamma"], max_frequency), bought)
    return SpendCheck(predictions.spend_check(data.summary, fits["Gamma-Gamma"], max_frequency), bought)


# ---------------------------------------------------------------- what each customer is worth

@dataclass
class Clv:
    table: pd.DataFrame | None        # per customer: P(alive), expected purchases and spend, CLV and its interval
    total: dict                       # the cohort's CLV with its delta-method interval
    purchase_model: str
    values: object = None             # a cohort summarised by aggregates: `at_scale.CustomerValues` (table None)


def clv(fits: FitSet, data: ClvData, params) -> Clv | Skipped:
    """Discounted CLV per customer with delta-method intervals, from the purchase model that fitted and Gamma-Gamma."""
    if data.unavailable:
        return Skipped(f"no money value per customer: {data.unavailable}; the BG/BB values below give expected "
                       "transactions and DERT instead")
    purchase = fits.purchase_model
    missing = [n for n, ok in (("a purchase model (BG/NBD or Pareto/NBD)", purchase is not None),
                               ("the Gamma-Gamma spend model", "Gamma-Gamma" in fits)) if not ok]
    if missing:
        return Skipped(f"CLV needs {' and '.join(missing)}, which did not fit")
    if data.aggregated is not None:
        written = at_scale.write_values(purchase, fits["Gamma-Gamma"], data, params)
        return Clv(None, written.total, purchase.name, written)
    table, total = predictions.customer_lifetime_value(
        purchase, fits["Gamma-Gamma"], data.summary, horizon=params.clv_horizon_weeks, step=params.clv_step_weeks,
        annual_discount_rate=params.annual_discount_rate, margin=params.margin, confidence=params.confidence)
    return Clv(table, total, purchase.name)


@dataclass
class Alive:
    frame: pd.DataFrame               # the history of the chosen customers, or every pattern's P(alive)
    kind: str                         # "history" | "patterns"
    model: str
    chosen: list | None = None        # the customers whose history is drawn


def alive(fits: FitSet, data: ClvData, draws: dict, confidence: float) -> Alive | Skipped:
    """P(alive) with bands: the history through calibration of three customers chosen by a fixed rule
    (`intervals.choose_customers`), or for a discrete-time summary P(alive) of every (x, t_x) pattern."""
    if data.discrete is not None:
        if "BG/BB" not in fits:
            return Skipped("P(alive) needs the BG/BB, which did not fit")
        frame, fit = data.discrete, fits["BG/BB"]
        args = (frame["frequency"], frame["recency"], frame["periods"], data.discrete_settings["future_periods"],
                data.discrete_settings["discount_rate"])
        estimate = bgbb.predictions_for_draws(fit.theta[None, :], *args)["p_alive"][0]
        lower, upper = intervals.band(bgbb.predictions_for_draws(draws["BG/BB"], *args)["p_alive"], confidence)
        patterns = pd.DataFrame({"frequency": frame["frequency"].to_numpy(), "t_x": frame["recency"].to_numpy(),
                                 "n": frame["periods"].to_numpy(), "customers": frame["count"].to_numpy(),
                                 "p_alive": estimate, "lower": lower, "upper": upper}).sort_values(["frequency", "t_x"])
        return Alive(patterns, "patterns", "BG/BB")
    model = fits.purchase_model
    if model is None:
        return Skipped("no purchase model (BG/NBD or Pareto/NBD) converged")
    if data.aggregated is not None:
        rows, chosen = data.aggregated.chosen, data.aggregated.chosen_ids
    else:
        rows, chosen = data.summary, intervals.choose_customers(data.summary)
    if not chosen:
        return Skipped("no customer made a repeat purchase in calibration")
    history = intervals.alive_history(model, data.log, rows, chosen, data.calibration_end, draws[model.name],
                                      confidence)
    return Alive(history, "history", model.name, chosen)


@dataclass
class Values:
    summary: dict                     # draws, re-fits, dropped re-fits, and (transaction log) the totals
    totals: pd.DataFrame              # cohort totals with parametric and bootstrap intervals
    table: pd.DataFrame | None = None            # discrete-time summary: every pattern's values
    result: object = None                        # transaction log: `intervals.ValueIntervals`
    customers: pd.DataFrame | None = None        # transaction log: every customer's values and intervals


def values(fits: FitSet, data: ClvData, draws: dict, params) -> Values | Skipped:
    """Customer-level and cohort-total values with parametric and bootstrap intervals: CLV, P(alive) and
    expected purchases for a transaction log; P(alive), expected transactions and DERT under the BG/BB."""
    rng = np.random.default_rng([params.seed, 12])
    conf = params.confidence
    if data.discrete is not None:
        if "BG/BB" not in fits:
            return Skipped("the values need the BG/BB, which did not fit")
        table, totals, summary = intervals.discrete_value_intervals(fits["BG/BB"], data.discrete,
                                                                    data.discrete_settings, draws["BG/BB"], conf,
                                                                    params.bootstrap_resamples, rng)
        return Values(summary, totals, table=table)
    purchase = fits.purchase_model
    if purchase is None:
        return Skipped("no purchase model (BG/NBD or Pareto/NBD) converged")
    if data.aggregated is not None:
        return Skipped(
            f"intervals from parameter draws for every customer were not computed: the cohort's "
            f"{data.cohort_customers:,} customers are summarised by the engine (above "
            f"{config.CLV_AGGREGATE_CUSTOMERS:,}, `CRMRESEARCH_CLV_AGGREGATE_CUSTOMERS`), and these intervals need "
            "every customer's row in memory. The CLV section gives each customer's and the cohort's delta-method "
            "interval instead", data.cohort_customers)
    work = intervals.draw_work(data.summary, params.parameter_draws, params.bootstrap_resamples)
    if work["cells"] > intervals.MAX_DRAW_CELLS:
        return Skipped(
            f"intervals from parameter draws for every customer were not computed: {work['rows']:,} distinct customer "
            f"rows × {work['draws']:,} draws and re-fits are {work['cells']:,} evaluations, above this report's limit "
            f"of {intervals.MAX_DRAW_CELLS:,}. The CLV section gives each customer's and the cohort's delta-method "
            "interval instead; fewer `parameter_draws` or `bootstrap_resamples` bring these intervals back",
            data.cohort_customers)
    result = intervals.value_intervals(purchase, fits.get("Gamma-Gamma"), data.summary, params.clv_horizon_weeks,
                                       params.clv_step_weeks, params.annual_discount_rate, params.margin, conf,
                                       params.parameter_draws, params.bootstrap_resamples, rng)
    summary = result.summary()
    return Values(summary, summary["totals"], result=result, customers=result.customer_table(data.summary.index))


# ---------------------------------------------------------------- how unevenly value is spread

@dataclass
class Concentration:
    frame: pd.DataFrame | None        # per customer: revenue, orders, profit and (with CLV) CLV, P(alive), tier
    summary: dict                     # top shares, Gini, whale-curve peak, and the assumed costs
    break_even: float                 # fixed cost per customer at which the top group earns all the profit
    top_fraction: float
    curves: dict | None = None        # a cohort summarised by aggregates (frame None): what the figures draw

    @property
    def customers(self) -> int:
        return int(len(self.frame)) if self.frame is not None else int(self.summary["customers"])


def concentration(data: ClvData, clv_values: Clv | Skipped, params) -> Concentration | Skipped:
    """Lorenz curve of revenue and whale curve of profit after the assumed costs to serve (data, no model)."""
    if data.unavailable:
        return Skipped(f"no revenue per customer: {data.unavailable}")
    if data.aggregated is not None:
        if isinstance(clv_values, Skipped):
            return Skipped(f"the cohort is summarised by the engine, and its revenue per customer is written with "
                           f"the predicted CLV, which was not computed ({clv_values.reason})")
        path = clv_values.values.path
        summary, break_even, curves = at_scale.concentration(path, data.aggregated, params)
        summary.update(top_fraction=params.top_fraction, cost_per_order=params.cost_per_order,
                       cost_per_customer=params.cost_per_customer, margin=params.margin)
        curves["ranked"] = at_scale.clv_rank_sample(path, data.aggregated, params)
        return Concentration(None, summary, break_even, params.top_fraction, curves)
    frame = value.customer_value_frame(data.revenue_and_orders(),
                                       None if isinstance(clv_values, Skipped) else clv_values.table, params)
    summary = value.concentration_summary(frame["revenue"], frame["profit"], params.top_fraction)
    summary.update(top_fraction=params.top_fraction, cost_per_order=params.cost_per_order,
                   cost_per_customer=params.cost_per_customer, margin=params.margin)
    break_even = value.break_even_cost_per_customer(frame["revenue"], frame["orders"], params.margin,
                                                    params.cost_per_order, params.top_fraction)
    return Concentration(frame, summary, break_even, params.top_fraction)


def tiers(clv_values: Clv | Skipped, spread: Concentration | Skipped, data: ClvData | None = None,
          params=None) -> pd.DataFrame | Skipped:
    """Customer tiers by predicted CLV."""
    if isinstance(clv_values, Skipped):
        return Skipped(f"tiers rank customers by predicted CLV, which was not computed ({clv_values.reason})")
    if clv_values.values is not None:
        return at_scale.tier_table(clv_values.values.path, data.aggregated, params)
    return value.tier_table(spread.frame["clv"], spread.frame["tier"])


def quadrant(clv_values: Clv | Skipped, spread: Concentration | Skipped, data: ClvData | None = None) -> pd.DataFrame | Skipped:
    """The value quadrant: CLV net of the cost to serve against expected purchases, split at the medians."""
    if isinstance(clv_values, Skipped):
        return Skipped(f"the value quadrant needs predicted CLV, which was not computed ({clv_values.reason})")
    if clv_values.values is not None:
        return at_scale.quadrant(clv_values.values.path, data.aggregated, clv_values.values.sample)
    return value.value_quadrant(spread.frame["net_clv"], spread.frame["expected_transactions"])


# ---------------------------------------------------------------- Dwyer's tables

def dwyer_part(params, data: ClvData, fits: FitSet) -> dict | Skipped:
    """Dwyer's tables: on the parameter file's stated assumptions (`dwyer:`, the worked example), or
    measured on the report's own log (`dwyer.observed_scenario`), with the retention path of the fitted
    BG/NBD beside the observed one (the same table on a log simulated from the estimates, seeded)."""
    if params.dwyer is not None:
        return {**dwyer.dwyer_tables(params.dwyer), "kind": "assumed", "unit": "year"}
    if data.discrete is not None:
        return Skipped("the data are a discrete-time summary, not a dated log to follow a cohort through",
                       int(data.discrete["count"].sum()))
    if data.in_place and data.dwyer_log is None:
        return Skipped("the log stays in the engine; Dwyer's cohort table needs the cohort's purchases per period",
                       data.cohort_customers)
    log = data.dwyer_log if data.in_place else data.log       # in place: only the first period's new customers
    scenario = dwyer.observed_scenario(log, data.cohort_start, data.holdout_end, params.margin,
                                       params.annual_discount_rate, config.RETENTION_UPLIFT,
                                       config.ACQUISITION_TO_RETENTION_COST)
    if scenario is None:
        return Skipped("the log covers fewer than two whole quarters after the cohort start, or no customer first "
                       "bought in the first one", len(data.summary))
    observed = scenario.observed.copy()
    model = fits.get("BG/NBD")
    if model is not None and model.converged:
        months = 12 if scenario.unit == "year" else 3
        rng = np.random.default_rng(params.seed + 17)
        simulated = simulate.simulate_transaction_log(tuple(model.params[k] for k in ("r", "alpha", "a", "b")),
                                                      (1.0, 1.0, 1.0), scenario.cohort_size, data.cohort_start,
                                                      int(365.25 * months / 12) - 1, data.holdout_end, rng)
        path = dwyer.observed_scenario(simulated, data.cohort_start, data.holdout_end, params.margin,
                                       params.annual_discount_rate, config.RETENTION_UPLIFT,
                                       config.ACQUISITION_TO_RETENTION_COST, months)
        if path is not None:
            observed["model_retention"] = path.observed["retention"].to_numpy()[: len(observed)]
    return {**dwyer.dwyer_tables(scenario), "kind": "observed", "unit": scenario.unit, "observed": observed}


# ---------------------------------------------------------------- the whole report

@dataclass
class ClvAnalysis:
    """Everything the CLV report shows, computed once."""

    params: object
    data: ClvData
    dwyer: dict | Skipped             # `dwyer_part`: retention, raised, migration, uplift, markov_check, kind, unit
    overview: Overview
    fits: FitSet
    estimates: Estimates | None
    independence: dict | Skipped
    draws: dict                       # model name -> draws of its parameters
    heterogeneity: Heterogeneity | Skipped
    histogram: Histogram | Skipped
    tracking: Tracking | Skipped
    holdout: Holdout | Skipped
    spend: SpendCheck | Skipped
    clv: Clv | Skipped
    alive: Alive | Skipped
    values: Values | Skipped
    concentration: Concentration | Skipped
    tiers: pd.DataFrame | Skipped
    quadrant: pd.DataFrame | Skipped

    @property
    def summary(self) -> pd.DataFrame:
        return self.data.summary


def analyse(params, data: ClvData | None = None) -> ClvAnalysis:
    """Load the report's data (unless `data` is given) and compute every section's numbers, in the report's order.
    Each part's time goes to the profile file when one is named (`engine.progress.profiled`)."""
    from ..engine.progress import profiled

    rng = np.random.default_rng(params.seed)
    if data is None:
        with profiled("data"):
            data = prepare(params, rng)
    if data.windows is not None:                  # the dates every later step uses, as the data resolved them
        params = windows.apply(params, data.windows)
    conf, max_frequency = params.confidence, params.max_frequency
    with profiled("overview"):
        cohort = overview(data)
    with profiled("fits"):
        fits = fit_all(data.summary, with_pareto=params.fit_pareto_nbd, discrete=data.discrete,
                       spend_rows=data.aggregated.spend_rows if data.aggregated is not None else None)
    with profiled("dwyer"):
        tables = dwyer_part(params, data, fits)
    with profiled("estimates and draws"):
        estimated = estimates(fits, data, conf)
        draws = parameter_draws(fits, params)      # the estimates' sampling distribution, for intervals and bands
    with profiled("independence"):
        independent = independence(data, conf)
    with profiled("heterogeneity"):
        mixing = heterogeneity(fits, data, draws, conf)
    with profiled("histogram"):
        counts = histogram(fits, data, max_frequency, draws, conf)
    with profiled("tracking"):
        tracked = tracking(fits, data)
    with profiled("holdout"):
        held_out = holdout(fits, data, max_frequency, draws, conf)
    with profiled("spend"):
        spent = spend(fits, data, max_frequency)
    with profiled("clv"):
        clv_values = clv(fits, data, params)
    with profiled("alive"):
        alive_bands = alive(fits, data, draws, conf)
    with profiled("values"):
        intervals_ = values(fits, data, draws, params)
    with profiled("concentration, tiers, quadrant"):
        spread = concentration(data, clv_values, params)
        tiered, quadrants = tiers(clv_values, spread, data, params), quadrant(clv_values, spread, data)
    if data.aggregated is not None:               # every engine query is done: its memory goes back
        data.aggregated.close()
    return ClvAnalysis(params, data, tables, cohort, fits, estimated, independent, draws, mixing, counts, tracked,
                       held_out, spent, clv_values, alive_bands, intervals_, spread, tiered, quadrants)
