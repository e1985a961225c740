"""The lifecycle report's section functions: each runs its section's estimators and returns a `Section`.

The notebook `02_lifecycle_transitions` calls one function per section and only displays what
it gets back. Every function here *fits or computes* what its section needs, by calling the
estimators of the other modules (`estimation`, `inference`, `covariates`, `forecasting`,
`chains`, `summaries`), and returns a `crmresearch.sections.Section` (or a subclass with the
fitted objects later sections and figures need) whose

* `results` holds the key figures in the order they go to `Results.add_section`,
* `table` (or `tables`) holds the keyword arguments of `crm.report.show_table(**table)`,
* `text` holds computed Markdown, written by the `*_text` / `*_reading` functions from result
  objects only, each sentence conditional on the numbers it states,
* `source` says where the numbers come from ("data" for a user's panel or transaction log,
  "simulated" for a simulated chain, "failed" / "not_computed" with a `note`).

A model that fails (the bootstrap, a multinomial logit) becomes a failed section or a note in
its section; the report goes on with what did fit.

With an `engine:` block the data's panel is a `StageAggregates` (counts by month and stage, no
customer rows): the sections computed from counts give the in-memory panel's numbers; those that
need each customer's own history (the first entry cohort, the order test, sojourn times, the
backtest, the covariate model, the customer-cluster bootstrap) return `not_computed` with the reason
(`needs_panel`), and their figures draw the shared absent-figure panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..stats import p_text
from .chains import (absorption_analysis, first_passage_curve, markov_chain_value, quasi_stationary_distribution,
                     stationary_distribution)
from .covariates import mnlogit_by_origin
from .estimation import TransitionMatrix, entry_distribution, estimate_transition_matrix
from .forecasting import backtest, forecast_with_bands
from .inference import (LikelihoodRatioTest, empirical_first_passage, homogeneity_test, joint_cell_chi_square,
                        order_test, sojourn_survival, split_periods)
from .panel import StagePanel, panel_gaps, transition_counts
from .summaries import pattern_probabilities, pooled_truth, stage_summary, time_to_target_table, truth_comparison
from .plots import cohort_flows
from .workflow import LifecycleData
from .. import sections as sec
from ..sections import Section, table_spec

RELATIONSHIP_STAGES = ("prospect", "formation", "stability", "decline", "churn")
ROWS_PER_PAGE = 12   # long tables are split so that each part fits on a PDF page (names wrap)
INTERVAL_COLUMNS = {"wilson_lower": "Wilson low", "wilson_upper": "Wilson high",
                    "boot_lower": "bootstrap low", "boot_upper": "bootstrap high"}


ENGINE_NAMES = {"duckdb": "DuckDB", "pyspark": "Spark (PySpark)", "pandas": "pandas"}


def needs_panel(what: str, data: LifecycleData) -> str:
    """Why a section that needs customer-level rows is not computed in a run with an engine."""
    return (f"{what} needs the customer-level stage panel (each customer's own sequence of stages), which a run "
            f"with an engine ({ENGINE_NAMES.get(data.engine, data.engine)}) does not bring into memory; run the "
            "report without `engine:` on a sample of customers for it")


def source_of(data: LifecycleData) -> str:
    """Where a section's numbers come from: the user's (or shipped) data, or a simulated chain."""
    return "simulated" if data.kind == "simulation" else "data"


def _p_significant(p_value: float, confidence: float) -> bool:
    return p_value < 1 - confidence


# ---------------------------------------------------------------- the data and the stages

def source_description(data: LifecycleData, entry_periods: int | None = None) -> str:
    """How the stage panel came about: stage rules of a transaction log, a simulation or a user's file."""
    if data.kind == "transactions":
        rules = data.rules
        return (f"The transaction log is turned into monthly stages: a customer's stage in a month follows from "
                f"the months since the last purchase (1 = bought that month) grouped by the bounds "
                f"{list(rules.recency_bounds)} into {', '.join(rules.recency_labels)}"
                + (f", crossed with the number of purchases so far ({', '.join(rules.count_labels)})"
                   if rules.count_bounds else "")
                + ". Several purchases on one day count as one. Moves the rules make impossible (for example "
                  "from a recent stage straight to a long-dormant one) are *structural zeros*: they are fixed at 0.")
    if data.kind == "simulation":
        return ("The panel is **simulated** from a known matrix (given in the parameter file), so every estimate "
                "below can be compared with the truth. Customers enter evenly over the first "
                f"{entry_periods} periods and leave the panel once churned.")
    return "The stage panel is the user's own file, one row per customer and period."


def engine_text(data: LifecycleData, customers: int, rows: int) -> str:
    """Which engine computed the monthly stages, and what came back into memory."""
    if data.engine == "pandas":
        return f"The monthly stages were computed in memory (pandas), one row per customer and {data.period_name}."
    return (f"The monthly stages were computed by **{ENGINE_NAMES.get(data.engine, data.engine)}** where the log lives: "
            f"of the {rows:,} customer-{data.period_name}s of {customers:,} customers only the counts of moves by "
            f"{data.period_name} and stage, the customers and revenue in each stage by {data.period_name} and the "
            f"customers entering each stage came back. Every figure below that follows from these counts equals what "
            f"the in-memory panel gives; the sections that need each customer's own history say so.")


def gaps_text(gaps: dict, unit: str) -> str:
    """How the panel's gaps (periods missing inside a customer's history) are treated, if there are any."""
    if not gaps["customers_with_gaps"]:
        return ""
    return (f" **{gaps['customers_with_gaps']:,} customers** have gaps: {gaps['missing_periods']:,} "
            f"customer-{unit}s are missing between their first and last observed {unit}. A move is counted only "
            f"between two consecutive observed {unit}s, so a gap breaks the history instead of being bridged; "
            f"the {gaps['moves_not_counted']:,} moves that would cross a gap are not counted, and the customer's "
            f"stage during a gap is not guessed.")


def panel_overview(data: LifecycleData, params) -> Section:
    """Panel size, how it was built, its gaps and the stage table."""
    panel, unit = data.panel, data.period_name
    pairs = int(transition_counts(panel).sum())
    gaps = panel_gaps(panel)
    periods = panel.period_labels
    span = f"from {periods[0]} to {periods[-1]}" if periods is not None else f"over {panel.n_periods} periods"
    entry_periods = params.simulation.entry_periods if params.simulation is not None else None
    text = (f"{source_description(data, entry_periods)}\n\nThe panel has **{panel.n_customers:,} customers** observed "
            f"{span}: **{panel.n_rows:,} customer-{unit}s** and **{pairs:,} {unit}-to-{unit} moves**."
            + gaps_text(gaps, unit))
    if data.kind == "transactions":
        text += " " + engine_text(data, panel.n_customers, panel.n_rows)
    table = table_spec(stage_summary(panel), f"Stages: customer-{unit}s in each stage and customers entering in it.",
                       label="tbl-stages", decimals={"share of customer-periods": 3})
    results = {"customers": panel.n_customers, "periods": panel.n_periods, "customer_periods": panel.n_rows,
               "transitions": pairs, "engine": data.engine}
    if gaps["customers_with_gaps"]:
        results["panel_gaps"] = gaps
    dropped = ({f"customer-{unit}s missing inside histories (moves across them not counted)": gaps["missing_periods"]}
               if gaps["missing_periods"] else {})
    return Section(results, text, table, source=source_of(data), rows_used=panel.n_rows, rows_dropped=dropped)


# ---------------------------------------------------------------- the migration matrix

def width_ratio_reading(ratio: float) -> str:
    """What a median bootstrap-to-Wilson interval width ratio says about a customer's moves."""
    if ratio < 0.8:
        return ("narrower than the Wilson intervals: a customer's moves are *more* regular than independent draws "
                "(fixed recency windows move every non-buyer on a fixed schedule), so the Wilson intervals, which "
                "assume independence, are too wide here")
    if ratio > 1.25:
        return ("wider than the Wilson intervals: a customer's moves are related (some customers are steadier "
                "than others), so the Wilson intervals, which assume independence, are too narrow here")
    return ("about as wide as the Wilson intervals for a typical cell, as when moves behave like independent "
            "draws; where the two differ, the bootstrap is the one that respects how each customer's moves hang together")


def bootstrap_to_wilson_ratios(matrix: TransitionMatrix) -> np.ndarray:
    """Bootstrap over Wilson interval width for every cell of a row with more than one possible move
    (a single nan without bootstrap)."""
    if matrix.boot_lower is None:
        return np.array([np.nan])
    informative = matrix.allowed & (matrix.allowed.sum(axis=1, keepdims=True) > 1)
    with np.errstate(divide="ignore", invalid="ignore"):   # cells with two zero-width intervals: nan, skipped
        return ((matrix.boot_upper - matrix.boot_lower) / (matrix.wilson_upper - matrix.wilson_lower))[informative]


@dataclass
class MatrixSummary(Section):
    P: np.ndarray | None = None      # the estimate with unestimable rows (never left) set to 0
    stay: np.ndarray | None = None   # diagonal of P
    matrix: TransitionMatrix | None = None


def matrix_summary(matrix: TransitionMatrix, period_name: str = "month") -> MatrixSummary:
    """Staying probabilities, the widest bootstrap interval and how bootstrap and Wilson widths compare."""
    P = np.nan_to_num(matrix.probabilities)   # a stage never left has no row to estimate
    stay = np.diag(P)
    first, states, unit = 0, matrix.states, period_name
    level = f"{matrix.confidence:.0%}"
    ratios = bootstrap_to_wilson_ratios(matrix)
    results = {"stay_probability": dict(zip(matrix.states, stay))}
    if matrix.boot_lower is None or not np.isfinite(ratios).any():
        text = (f"A customer in **{states[first]}** stays there next {unit} with probability **{stay[first]:.3f}** "
                f"(Wilson {level} interval {matrix.wilson_lower[first, first]:.3f}–"
                f"{matrix.wilson_upper[first, first]:.3f}). Without the customer-cluster bootstrap the intervals "
                "assume that a customer's moves are independent draws.")
        return MatrixSummary(results, text, P=P, stay=stay)
    widest = np.nanmax(np.where(matrix.allowed, matrix.boot_upper - matrix.boot_lower, np.nan))
    ratio = float(np.nanmedian(ratios))
    results["bootstrap_to_wilson_width"] = {"median": ratio, "min": float(np.nanmin(ratios)),
                                            "max": float(np.nanmax(ratios))}
    text = (f"A customer in **{states[first]}** stays there next {unit} with probability **{stay[first]:.3f}** "
            f"(bootstrap {level} interval {matrix.boot_lower[first, first]:.3f}–{matrix.boot_upper[first, first]:.3f}); "
            f"the widest bootstrap interval of any cell spans {widest:.3f}. The bootstrap intervals are typically "
            f"{ratio:.2f} times as wide as the Wilson intervals (median over cells; range {np.nanmin(ratios):.2f}–"
            f"{np.nanmax(ratios):.2f}): {width_ratio_reading(ratio)}.")
    return MatrixSummary(results, text, P=P, stay=stay)


def matrix_section(data: LifecycleData, params, rng: np.random.Generator) -> MatrixSummary:
    """The migration matrix with Wilson and customer-cluster bootstrap intervals. If the bootstrap
    fails, the matrix is kept with its Wilson intervals and the section says what failed."""
    panel = data.panel
    args = dict(allowed=data.allowed, absorbing=data.absorbing, confidence=params.confidence)
    failure = None
    n_boot = 0 if data.aggregated else params.bootstrap_resamples
    try:
        matrix = estimate_transition_matrix(panel, **args, n_boot=n_boot, rng=rng)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError, MemoryError) as exc:
        if params.bootstrap_resamples == 0:
            raise
        failure = f"the customer-cluster bootstrap ({params.bootstrap_resamples} resamples) failed ({exc})"
        matrix = estimate_transition_matrix(panel, **args, n_boot=0)
    summary = matrix_summary(matrix, data.period_name)
    summary.results = {"transition_matrix": matrix, **summary.results}
    summary.matrix, summary.source, summary.rows_used = matrix, source_of(data), panel.n_rows
    if failure:
        summary.note = f"{failure}; the matrix is shown with Wilson intervals only, and the sections that need the bootstrap say so"
        summary.text = f"*Model failed:* {summary.note}.\n\n{summary.text}"
    elif data.aggregated and params.bootstrap_resamples:
        summary.note = (needs_panel(f"the customer-cluster bootstrap ({params.bootstrap_resamples} resamples)", data)
                        + "; the intervals are Wilson's")
        summary.text = f"{summary.text}\n\n*Not computed:* {summary.note}."
    return summary


def matrix_tables(matrix: TransitionMatrix, rows_per_page: int = ROWS_PER_PAGE) -> list[dict]:
    """Every possible move, split into parts that fit on a PDF page. Every part has its own label
    (`tbl-matrix-1`, `tbl-matrix-2`, ...), so both publishing routes number and caption each part."""
    cells = matrix.long_table().rename(columns={"n_from": "exposure", "n": "moves", **INTERVAL_COLUMNS})
    if matrix.boot_lower is None:
        cells = cells.drop(columns=[c for c in ("bootstrap low", "bootstrap high") if c in cells])
    kinds = "Wilson and customer-cluster bootstrap" if matrix.boot_lower is not None else "Wilson"
    starts = range(0, len(cells), rows_per_page)
    caption = f"Every possible move: exposure, number of moves, estimate, {kinds} {matrix.confidence:.0%} intervals{{}}."
    return [table_spec(cells.iloc[start:start + rows_per_page],
                       caption.format("" if len(starts) == 1 else f" (part {k} of {len(starts)})"),
                       label=f"tbl-matrix-{k}", decimals=3)
            for k, start in enumerate(starts, 1)]


@dataclass
class MatrixTables(Section):
    tables: list = field(default_factory=list)


def matrix_tables_section(summary: MatrixSummary) -> MatrixTables:
    """The long table of every possible move, in page-sized parts (each with its own label)."""
    return MatrixTables(source=summary.source, rows_used=summary.rows_used, tables=matrix_tables(summary.matrix))


# ---------------------------------------------------------------- how customers move

@dataclass
class CohortFlows(Section):
    occupancy: np.ndarray | None = None   # steps+1 x S
    flows: np.ndarray | None = None       # steps x S x S


def entry_cohort_flows(panel: StagePanel, max_steps: int, source: str = "data", absorbing=()) -> CohortFlows:
    """Occupancy and flows of the customers who entered in the first entry period (a closed cohort)."""
    cohort = np.zeros(panel.n_customers, bool)
    entry_customers, entry_periods, _ = panel.entries()
    cohort[entry_customers[entry_periods == entry_periods.min()]] = True
    steps = min(max_steps, panel.n_periods - 1 - int(entry_periods.min()))
    occupancy, flows = cohort_flows(panel, cohort, steps, absorbing)
    results = {"cohort_size": int(occupancy[0].sum()),
               "cohort_mix_last_step": dict(zip(panel.states, occupancy[-1] / occupancy[-1].sum()))}
    return CohortFlows(results, occupancy=occupancy, flows=flows, source=source,
                       rows_used=int(occupancy[0].sum()))


def cohort_section(data: LifecycleData, params) -> CohortFlows:
    """The flows of the first entry cohort (customer-level: not computed from an engine's aggregates)."""
    if data.aggregated:
        return CohortFlows(**vars(sec.not_computed(needs_panel("Following the first entry cohort", data))))
    return entry_cohort_flows(data.panel, params.cohort_steps, source_of(data), data.absorbing)


def rates_section(data: LifecycleData, params) -> Section:
    """Retention, reactivation and churn per period with Wilson bands."""
    from .inference import period_rates

    rates = period_rates(data.rates_panel, data.active, data.lost, params.confidence)
    return Section({"period_rates": rates}, rates_note(data), source=source_of(data),
                   rows_used=data.rates_panel.n_rows)


def rates_note(data: LifecycleData) -> str | None:
    """For a transaction log, which finer stages the per-period rates are read from."""
    if data.kind != "transactions":
        return None
    lost = data.rates_panel.states[data.lost[0]].split("/")[0]
    return ("For a transaction log the rates are read at the finest recency: *active* means bought in that month, "
            f"*lost* means {lost} without a purchase.")


# ---------------------------------------------------------------- tests of the Markov model

@dataclass
class HomogeneitySection(Section):
    test: LikelihoodRatioTest | None = None
    joint: dict | None = None
    reading: str | None = None   # what the test means for the report


def homogeneity_section(data: LifecycleData, params) -> HomogeneitySection:
    """Row-conditional time-homogeneity test over equal runs of periods, with the joint-cell test for contrast."""
    panel, unit = data.panel, data.period_name
    groups = split_periods(panel, params.homogeneity_groups)
    test = homogeneity_test(panel, groups)
    joint = joint_cell_chi_square(panel, groups)
    table = table_spec(test.rows.rename(columns={"exposure": f"customer-{unit}s", "statistic": "G²", "p_value": "p"}),
                       f"Time-homogeneity, {params.homogeneity_groups} equal runs of periods: likelihood-ratio "
                       "statistic per origin stage.", label="tbl-homogeneity", decimals={"G²": 1, "p": 4})
    largest = test.rows.loc[test.rows["statistic"].idxmax(), "stage"]
    text = (f"Row-conditional likelihood ratio: **G² = {test.statistic:,.1f}** on {test.df} degrees of freedom "
            f"({p_text(test.p_value)}); the largest contribution comes from **{largest}**. "
            f"For contrast, the joint-cell chi-square is {joint['statistic']:,.1f} on {joint['df']} df "
            f"({p_text(joint['p_value'])}).")
    if _p_significant(test.p_value, params.confidence):
        runs = ("the early and the late periods" if params.homogeneity_groups == 2
                else f"the {params.homogeneity_groups} runs of periods")
        reading = (f"The moves out of at least one stage differ between {runs}, so one matrix "
                   "for the whole window is an average over a changing process.")
        if data.kind == "transactions":
            reading += (" With fixed recency windows this is expected: early on, a customer in a recent stage has "
                        "bought very recently, later the same stage holds customers who bought up to "
                        f"{data.rules.recency_bounds[0]} months ago, so the share leaving it changes as the cohorts age.")
    else:
        reading = ("There is no evidence that the moves changed over time, even though the stage mix did (which is "
                   "what the joint-cell test reacts to).")
    return HomogeneitySection({"homogeneity_test": test, "joint_cell_chi_square": joint}, text + "\n\n" + reading,
                              table, source=source_of(data), rows_used=int(transition_counts(panel).sum()),
                              test=test, joint=joint, reading=reading)


def finer_order_text(coarse: LikelihoodRatioTest, finer: LikelihoodRatioTest, finer_significant: bool) -> str:
    """What the order test on the finer stages says about the coarse stages' memory (conditional on both tests)."""
    per_df = coarse.statistic / max(coarse.df, 1)
    fine_per_df = finer.statistic / max(finer.df, 1)
    text = (f"The same test on the finer stages (months since the last purchase by purchase count) gives "
            f"G² = {finer.statistic:,.1f} on {finer.df} df ({p_text(finer.p_value)}): the statistic per degree of "
            f"freedom {'falls' if fine_per_df < per_df else 'does not fall'} from {per_df:,.1f} to {fine_per_df:,.1f}")
    if fine_per_df >= per_df:
        return text + (", so the dependence on earlier months is not the recency the coarse windows hide.")
    if not finer_significant:
        return text + (", and on the finer stages there is no evidence left of it: the dependence on earlier months "
                       "is the recency the coarse windows hide.")
    if fine_per_df <= per_df / 2:
        return text + (", so most, though not all, of the dependence on earlier months is the recency the coarse "
                       "windows hide.")
    return text + (", so only part of the dependence on earlier months is the recency the coarse windows hide; most "
                   "of it remains on the finer stages.")


@dataclass
class OrderSection(Section):
    test: LikelihoodRatioTest | None = None
    finer: LikelihoodRatioTest | None = None   # the same test on the finer state space (transactions)


def order_section(data: LifecycleData, params) -> OrderSection:
    """Second- against first-order chain, on the report's stages and (transactions) on the finer ones."""
    if data.aggregated:
        return OrderSection(**vars(sec.not_computed(needs_panel(
            "The second-order test counts each customer's stages in three consecutive periods and", data))))
    test = order_test(data.panel)
    results = {"order_test": test}
    table = table_spec(test.rows.rename(columns={"exposure": "triples", "statistic": "G²", "p_value": "p"}),
                       "Second- against first-order chain: likelihood-ratio statistic per current stage.",
                       label="tbl-order", decimals={"G²": 1, "p": 4})
    text = f"Second- vs first-order: **G² = {test.statistic:,.1f}** on {test.df} df ({p_text(test.p_value)})."
    finer = None
    if data.kind == "transactions" and params.compare_finer_states:
        finer = results["order_test_finer"] = order_test(data.fine)
        text += " " + finer_order_text(test, finer, _p_significant(finer.p_value, params.confidence))
    text += (" A customer's earlier stage carries information beyond the current one: the first-order chain is an "
             "approximation." if _p_significant(test.p_value, params.confidence) else
             " There is no evidence that earlier stages matter once the current stage is known.")
    return OrderSection(results, text, table, source=source_of(data), rows_used=int(test.rows["exposure"].sum()),
                        test=test, finer=finer)


@dataclass
class SojournSection(Section):
    frame: pd.DataFrame | None = None   # Kaplan-Meier and geometric survival by stage and duration


def sojourn_section(data: LifecycleData, P, params) -> SojournSection:
    """Time spent in each stage (Kaplan-Meier over spells) against the geometric law of the chain."""
    if data.aggregated:
        return SojournSection(**vars(sec.not_computed(needs_panel(
            "The time spent in a stage is measured on each customer's spells and", data))))
    frame = sojourn_survival(data.panel, P, params.sojourn_max)
    return SojournSection(source=source_of(data), rows_used=data.panel.n_rows, frame=frame)


# ---------------------------------------------------------------- forecasting backtest

@dataclass
class BacktestSection(Section):
    origin: int | None = None
    backtests: dict | None = None          # model name -> per-horizon frame of `backtest`
    summary: pd.DataFrame | None = None


def backtest_summary(backtests: dict) -> pd.DataFrame:
    """One row per model: mean error, mean naive error and mean log score over the horizons."""
    return pd.DataFrame([{"model": name, "mean error": f["chain_error"].mean(), "mean naive error": f["naive_error"].mean(),
                          "mean log score": f["log_score"].mean(), "horizons": len(f)} for name, f in backtests.items()])


def backtest_text(summary: pd.DataFrame) -> str:
    """Which chain forecasts best, and whether it beats the naive no-change forecast."""
    best = summary.loc[summary["mean error"].idxmin()]
    naive = summary["mean naive error"].iloc[0]
    lead = f"The **{best['model']}** forecasts the stage mix" + (" best" if len(summary) > 1 else "")
    verdict = ("better than" if best["mean error"] < naive else "no better than")
    return (f"{lead} with a mean error of {best['mean error']:.4f}, {verdict} the naive no-change forecast "
            f"({naive:.4f}).")


def backtest_section(data: LifecycleData, params) -> BacktestSection:
    """Holdout backtest of the stage chain (and, for a transaction log, the finer chain) from one origin."""
    if data.aggregated:
        return BacktestSection(**vars(sec.not_computed(needs_panel(
            "The holdout backtest follows the customers present at the origin and scores each one's stage, so it", data))))
    panel = data.panel
    origin = params.backtest_origin if params.backtest_origin is not None else panel.n_periods // 2
    origin = min(origin, panel.n_periods - 2)
    backtests = {"stage chain": backtest(panel, origin, params.forecast_horizon, data.allowed,
                                         absorbing=data.absorbing)}
    if data.kind == "transactions" and params.compare_finer_states:
        backtests["finer chain"] = backtest(data.fine, origin, params.forecast_horizon, data.fine_allowed,
                                            eval_map=data.fine_map, n_eval_states=panel.n_states)
    summary = backtest_summary(backtests)
    origin_label = panel.period_labels[origin] if panel.period_labels is not None else origin
    table = table_spec(summary, f"Holdout backtest from origin {origin_label}: mean error of the stage mix over the "
                       "horizons, against the naive forecast, and mean log score.", label="tbl-backtest", decimals=4)
    text = backtest_text(summary)
    return BacktestSection({"backtest_origin": origin, "backtest": dict(backtests), "backtest_summary": summary},
                           text, table, source=source_of(data), rows_used=panel.n_rows, origin=origin,
                           backtests=backtests, summary=summary)


# ---------------------------------------------------------------- lifecycle quantities

@dataclass
class TimeToTarget(Section):
    entry_mix: np.ndarray | None = None
    summary: dict | None = None          # mean, sd, lower, upper from the entry mix
    target_names: str = ""
    observed: pd.DataFrame | None = None   # empirical first passage (Kaplan-Meier)
    curves: dict | None = None             # chain name -> implied first-passage curve


def target_names(data: LifecycleData) -> str:
    """How the report names the stages whose first passage it studies."""
    if data.kind == "transactions":
        return data.rules.recency_labels[-1]
    return ", ".join(data.panel.states[i] for i in data.target)


def time_to_target_section(matrix: TransitionMatrix, data: LifecycleData, params) -> TimeToTarget:
    """Expected time to the lost (churned) stages, the finer chain's answer, and the first-passage check."""
    panel, unit = data.panel, data.period_name
    entry_mix = entry_distribution(panel)
    time_table, summary = time_to_target_table(matrix, data.target, entry_mix)
    results = {"time_to_target_from_entry": summary, "time_to_target_by_stage": time_table}
    names = target_names(data)
    table = table_spec(time_table, f"Expected {unit}s before first reaching {names}, by current stage, with the "
                       "standard deviation.", label="tbl-time-to-lost", decimals=2)
    interval = (f"; bootstrap {matrix.confidence:.0%} interval of the mean {summary['lower']:.1f}–{summary['upper']:.1f}"
                if np.isfinite(summary["lower"]) and np.isfinite(summary["upper"]) else "")
    text = (f"From the entry mix, the chain expects **{summary['mean']:.1f} {unit}s** until a customer first reaches "
            f"{names} (SD {summary['sd']:.1f}{interval}).")
    horizon = panel.n_periods - 1
    curves = {"stage chain": first_passage_curve(np.nan_to_num(matrix.probabilities), entry_mix, data.target, horizon)}
    if data.kind == "transactions" and params.compare_finer_states:
        fine_P = np.nan_to_num(estimate_transition_matrix(data.fine, allowed=data.fine_allowed).probabilities)
        fine_entry = entry_distribution(data.fine)
        fine_time = results["time_to_target_from_entry_finer"] = \
            absorption_analysis(fine_P, data.fine_target).from_distribution(fine_entry)
        curves["finer chain"] = first_passage_curve(fine_P, fine_entry, data.fine_target, horizon)
        text += (f" The finer chain, which knows each customer's months since the last purchase, expects "
                 f"**{fine_time['mean']:.1f}** (SD {fine_time['sd']:.1f}).")
    observed = None
    if data.aggregated:
        text += (" @fig-first-passage shows what each chain implies for the share of customers who have reached it k "
                 "periods after entry; the observed share (Kaplan-Meier) is not computed: "
                 + needs_panel("it", data) + ".")
    else:
        observed = empirical_first_passage(panel, data.target, horizon)
        gap = {name: float(np.max(np.abs(curve - observed["reached"].to_numpy()))) for name, curve in curves.items()}
        results["first_passage_max_gap"] = gap
        text += (" @fig-first-passage compares the share of customers who have reached it k periods after entry with "
                 "what each chain implies; the largest gap is "
                 + ", ".join(f"{v:.3f} for the {k}" for k, v in gap.items()) + ".")
    return TimeToTarget(results, text, table, source=source_of(data), rows_used=panel.n_rows, entry_mix=entry_mix,
                        summary=summary, target_names=names, observed=observed, curves=curves)


def long_run_mix(P, data: LifecycleData, entry_mix) -> Section:
    """Stage mix at entry, in the last period and in the long run (quasi-stationary when churn is final)."""
    panel = data.panel
    if data.absorbing:
        long_run = quasi_stationary_distribution(P, data.absorbing)
        name = "quasi-stationary mix (customers not yet churned)"
    else:
        long_run = stationary_distribution(P)
        name = "stationary mix"
    last = panel.occupancy()[-1]
    frame = pd.DataFrame({"stage": list(panel.states), "entry mix": entry_mix, "observed, last period": last / last.sum(),
                          name: long_run})
    table = table_spec(frame, "Stage mix at entry, in the last period and in the long run implied by the chain.",
                       label="tbl-mix", decimals=3)
    return Section({"long_run_mix": dict(zip(panel.states, long_run))}, table=table, source=source_of(data),
                   rows_used=panel.n_rows)


@dataclass
class PatternSection(Section):
    frame: pd.DataFrame | None = None   # None: no relationship stages in this variant


def has_relationship_stages(data: LifecycleData) -> bool:
    return data.kind != "transactions" and set(RELATIONSHIP_STAGES) <= set(data.panel.states)


def pattern_section(matrix: TransitionMatrix, data: LifecycleData, params) -> PatternSection:
    """The four relationship patterns from the prospect stage (relationship stages only)."""
    if not has_relationship_stages(data):
        return PatternSection(**vars(sec.not_computed(
            "the four relationship patterns (early abort, mid-way collapse, early exit, long-lasting) need the "
            "relationship stages prospect, formation, stability, decline and churn, which this panel does not have")))
    stable = params.simulation.stable_periods_for_long_lasting if params.simulation else 6
    truth = data.truth["P"] if data.truth and data.truth["P_x"] is None else None
    patterns = pattern_probabilities(matrix, stable, truth)
    text = (f"**Relationship patterns.** Splitting churn by the furthest stage reached, and counting a relationship "
            f"that holds stability for {stable} consecutive {data.period_name}s as long-lasting, the chain gives from "
            "the prospect stage: " + "; ".join(f"{r.pattern} **{r.probability:.1%}**" for r in patterns.itertuples())
            + ".")
    table = table_spec(patterns, f"The four relationship patterns from the prospect stage, with bootstrap {matrix.confidence:.0%} intervals.",
                       label="tbl-patterns", decimals=3)
    return PatternSection({"relationship_patterns": patterns}, text, table, source=source_of(data),
                          rows_used=data.panel.n_rows, frame=patterns)


# ---------------------------------------------------------------- forecast, covariates, value, truth

@dataclass
class ForecastSection(Section):
    forecast: pd.DataFrame | None = None   # None without bootstrap


def forecast_section(matrix: TransitionMatrix, data: LifecycleData, horizon: int) -> ForecastSection:
    """Stage mix of the last period's customers projected `horizon` periods ahead, with bootstrap bands."""
    if matrix.boot_samples is None:
        reason = "the forecast bands push the bootstrap matrices forward, and there is no bootstrap in this run"
        if data.aggregated:
            reason += ": " + needs_panel("the customer-cluster bootstrap", data)
        return ForecastSection(**vars(sec.not_computed(reason)))
    last = data.panel.occupancy()[-1]
    forecast = forecast_with_bands(last / last.sum(), matrix, horizon)
    end = forecast[forecast["step"] == horizon]
    text = f"After {horizon} {data.period_name}s: " + "; ".join(
        f"{r.stage} **{r.share:.1%}** ({r.lower:.1%}–{r.upper:.1%})" for r in end.itertuples()) + "."
    return ForecastSection({"forecast_final_step": end}, text, source=source_of(data), rows_used=int(last.sum()),
                           forecast=forecast)


def covariate_section(data: LifecycleData, params, n_shown: int = 16) -> Section:
    """Multinomial-logit covariate effects per origin stage (the largest by |z| are shown)."""
    if not params.covariate_model:
        return sec.not_computed("the covariate model is turned off in the parameter file")
    if data.aggregated:
        return sec.not_computed(needs_panel("The covariate model relates each customer's moves to their own history and", data))
    if data.covariates is None:
        return sec.not_computed("the data have no covariates")
    try:
        effects = mnlogit_by_origin(data.panel, data.covariates)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError, KeyError) as exc:
        return sec.failed("The multinomial logit of moves on covariates", "one model per origin stage, staying as "
                          "the base outcome, rare destinations dropped", str(exc), rows_used=data.panel.n_rows)
    if effects.empty or not (effects["term"] != "const").any():
        return sec.not_computed("no origin stage has enough moves to more than one destination for the covariate "
                                "model (or every fit was singular)", rows_used=data.panel.n_rows)
    effects = effects[effects["term"] != "const"].reset_index(drop=True)
    largest = effects.assign(abs_z=effects["z"].abs()).nlargest(n_shown, "abs_z").sort_index()
    shown = (f"the {len(largest)} largest of {len(effects)} effects by |z|; all are in results.json"
             if len(effects) > len(largest) else "all effects")
    frame = largest[["origin", "destination", "term", "coef", "se", "odds_ratio", "p_value", "n"]].rename(
        columns={"odds_ratio": "odds ratio", "p_value": "p", "n": "moves"})
    table = table_spec(frame, "Covariate effects on moves (multinomial logit per origin stage, customer-clustered "
                       f"standard errors; {shown}).", label="tbl-covariates",
                       decimals={"coef": 3, "se": 3, "odds ratio": 3, "p": 4})
    text = ("Covariates are measured at the origin month: log(1 + revenue so far), log of the number of purchases "
            "so far and months since entry.") if data.kind == "transactions" else None
    return Section({"covariate_effects": effects}, text, table, source=source_of(data), rows_used=data.panel.n_rows)


def returns_clause(P, target) -> str:
    """', including returns from the lost stage,' only when the chain lets customers leave it."""
    P = np.asarray(P, float)
    leaves = any(P[t].sum() - P[t, t] > 0 for t in target)
    return ", including returns from the lost stage," if leaves else ""


def stage_value_section(P, data: LifecycleData, entry_mix, params) -> Section:
    """Pfeifer-Carraway value of a customer by current stage and of a newly entered customer."""
    if data.rewards is None:
        return sec.not_computed("no stage rewards were given (stage_rewards in the panel block)")
    unit = data.period_name
    rewards = np.nan_to_num(data.rewards)
    values = markov_chain_value(P, rewards, params.discount_rate, params.value_horizon - 1)
    values_infinite = markov_chain_value(P, rewards, params.discount_rate)
    frame = pd.DataFrame({"stage": list(data.panel.states), "reward per period": data.rewards,
                          f"value over {params.value_horizon} {unit}s": values,
                          "value (infinite horizon)": values_infinite})
    entry = {"horizon": float(entry_mix @ values), "infinite": float(entry_mix @ values_infinite)}
    table = table_spec(frame, f"Expected discounted value by current stage (discount rate {params.discount_rate:.1%} "
                       f"per {unit}).", label="tbl-values", decimals=2)
    text = (f"Over {params.value_horizon} {unit}s a newly entered customer is worth **{entry_mix @ values:,.2f}** in "
            f"expectation ({entry_mix @ values_infinite:,.2f} if the chain ran for ever: the long horizon assumes that "
            f"the moves{returns_clause(P, data.target)} continue unchanged).")
    return Section({"stage_values": frame, "entry_value": entry}, text, table, source=source_of(data),
                   rows_used=data.panel.n_rows)


def truth_section(matrix: TransitionMatrix, data: LifecycleData) -> Section:
    """Coverage of the intervals and largest error against the pooled true matrix (simulations only)."""
    if data.truth is None:
        return sec.not_computed("the panel is not simulated, so there is no known matrix to check against")
    check = truth_comparison(matrix, pooled_truth(data.truth, data.panel))
    wilson_cover = check["Wilson covers"].mean()
    boot_cover = check["bootstrap covers"].mean() if "bootstrap covers" in check else np.nan
    error = (check["p"] - check["truth"]).abs().max()
    results = {"truth_check": {"cells": len(check), "wilson_coverage": wilson_cover, "bootstrap_coverage": boot_cover,
                               "max_abs_error": float(error)}}
    text = ("The panel was simulated, so the estimates can be checked. The pooled "
            "truth averages the two covariate groups' matrices by their share of exposure in each row. "
            f"Of {len(check)} possible cells, **{wilson_cover:.0%}** of Wilson intervals and **{boot_cover:.0%}** of "
            f"bootstrap intervals contain the true value (about {matrix.confidence:.0%} expected); the largest absolute error is "
            f"{error:.3f}.")
    frame = check[["from", "to", "n", "p", "truth", "wilson_lower", "wilson_upper", "boot_lower", "boot_upper"]].rename(
        columns={"n": "moves", **INTERVAL_COLUMNS})
    return Section(results, text, table_spec(frame, "Estimated against true transition probabilities.",
                                             label="tbl-truth", decimals=3), source="simulated",
                   rows_used=data.panel.n_rows)


def finding(summary: MatrixSummary, homogeneity: LikelihoodRatioTest, order: LikelihoodRatioTest,
            time: TimeToTarget, states, period_name: str = "month") -> str:
    """The report's one-line finding."""
    parts = [f"{states[0]} stays {summary.stay[0]:.0%} per {period_name}",
             f"homogeneity G² {homogeneity.statistic:,.0f} (df {homogeneity.df}, {p_text(homogeneity.p_value)})"]
    if order is not None:       # None: not computed (a run with an engine has no triples)
        parts.append(f"order G² {order.statistic:,.0f} (df {order.df}, {p_text(order.p_value)})")
    parts.append(f"{time.summary['mean']:.1f} {period_name}s from entry to {time.target_names}")
    return "; ".join(parts) + "."
