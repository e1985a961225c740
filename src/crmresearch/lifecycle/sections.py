"""The lifecycle report's sections: each function takes the `LifecycleAnalysis` that
`lifecycle.analyse` computed and returns a `crmresearch.sections.Section` (or a subclass carrying
what its figure needs); nothing here estimates a model or draws a random number.

Each section's `results` holds its key figures in the order they go to `Results.add_section`,
`table` (or `tables`) the keyword arguments of `crm.report.show_table`, `text` the sentences of
`lifecycle.text`, and `source` where the numbers come from ("data" for a user's panel or
transaction log, "simulated" for a simulated chain, "failed" / "not_computed" with a `note`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import sections as sec
from ..sections import Lead, Section, table_spec
from ..stats import p_text
from . import text
from .analyse import LifecycleAnalysis
from .estimation import TransitionMatrix
from .inference import LikelihoodRatioTest
from .panel import panel_gaps, transition_counts
from .summaries import stage_summary

ROWS_PER_PAGE = 12   # long tables are split so that each part fits on a PDF page (names wrap)
INTERVAL_COLUMNS = {"wilson_lower": "Wilson low", "wilson_upper": "Wilson high",
                    "boot_lower": "bootstrap low", "boot_upper": "bootstrap high"}


def source_of(a: LifecycleAnalysis) -> str:
    """Where a section's numbers come from: the user's (or shipped) data, or a simulated chain."""
    return "simulated" if a.simulated else "data"


def needs_panel(what: str, a: LifecycleAnalysis) -> str:
    return text.needs_panel(what, a.data.engine)


def panel_overview(a: LifecycleAnalysis) -> Section:
    """Panel size, how it was built, its gaps and the stage table."""
    data, params = a.data, a.params
    panel, unit = data.panel, data.period_name
    pairs = int(transition_counts(panel).sum())
    gaps = panel_gaps(panel)
    periods = panel.period_labels
    span = f"from {periods[0]} to {periods[-1]}" if periods is not None else f"over {panel.n_periods} periods"
    entry_periods = params.simulation.entry_periods if params.simulation is not None else None
    sentences = (f"{text.source_description(data.kind, data.rules, entry_periods)}\n\nThe panel has "
                 f"**{panel.n_customers:,} customers** observed {span}: **{panel.n_rows:,} customer-{unit}s** and "
                 f"**{pairs:,} {unit}-to-{unit} moves**." + text.gaps_text(gaps, unit))
    if data.kind == "transactions":
        sentences += " " + text.engine_text(data.engine, unit, panel.n_customers, panel.n_rows)
    table = table_spec(stage_summary(panel), f"Stages: customer-{unit}s in each stage and customers entering in it.",
                       label="tbl-stages", decimals={"share of customer-periods": 3})
    results = {"customers": panel.n_customers, "periods": panel.n_periods, "customer_periods": panel.n_rows,
               "transitions": pairs, "engine": data.engine}
    if gaps["customers_with_gaps"]:
        results["panel_gaps"] = gaps
    dropped = ({f"customer-{unit}s missing inside histories (moves across them not counted)": gaps["missing_periods"]}
               if gaps["missing_periods"] else {})
    return Section(results, sentences, table, source=source_of(a), rows_used=panel.n_rows, rows_dropped=dropped)


# ---------------------------------------------------------------- the migration matrix

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
        sentences = (f"A customer in **{states[first]}** stays there next {unit} with probability **{stay[first]:.3f}** "
                     f"(Wilson {level} interval {matrix.wilson_lower[first, first]:.3f}–"
                     f"{matrix.wilson_upper[first, first]:.3f}). Without the customer-cluster bootstrap the intervals "
                     "assume that a customer's moves are independent draws.")
        return MatrixSummary(results, sentences, P=P, stay=stay)
    widest = np.nanmax(np.where(matrix.allowed, matrix.boot_upper - matrix.boot_lower, np.nan))
    ratio = float(np.nanmedian(ratios))
    results["bootstrap_to_wilson_width"] = {"median": ratio, "min": float(np.nanmin(ratios)),
                                            "max": float(np.nanmax(ratios))}
    sentences = (f"A customer in **{states[first]}** stays there next {unit} with probability **{stay[first]:.3f}** "
                 f"(bootstrap {level} interval {matrix.boot_lower[first, first]:.3f}–{matrix.boot_upper[first, first]:.3f}); "
                 f"the widest bootstrap interval of any cell spans {widest:.3f}. The bootstrap intervals are typically "
                 f"{ratio:.2f} times as wide as the Wilson intervals (median over cells; range {np.nanmin(ratios):.2f}–"
                 f"{np.nanmax(ratios):.2f}): {text.width_ratio_reading(ratio)}.")
    return MatrixSummary(results, sentences, P=P, stay=stay)


def matrix(a: LifecycleAnalysis) -> MatrixSummary:
    """The migration matrix with Wilson and customer-cluster bootstrap intervals; a failed bootstrap is
    said, and the matrix keeps its Wilson intervals."""
    params = a.params
    summary = matrix_summary(a.matrix, a.data.period_name)
    summary.results = {"transition_matrix": a.matrix, **summary.results}
    summary.matrix, summary.source, summary.rows_used = a.matrix, source_of(a), a.data.panel.n_rows
    if a.matrix_failure:
        summary.note = (f"{a.matrix_failure}; the matrix is shown with Wilson intervals only, and the sections that "
                        "need the bootstrap say so")
        summary.text = f"*Model failed:* {summary.note}.\n\n{summary.text}"
    elif a.data.aggregated and params.bootstrap_resamples:
        summary.note = (needs_panel(f"the customer-cluster bootstrap ({params.bootstrap_resamples} resamples)", a)
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


def matrix_parts(a: LifecycleAnalysis) -> MatrixTables:
    """The long table of every possible move, in page-sized parts (each with its own label)."""
    return MatrixTables(source=source_of(a), rows_used=a.data.panel.n_rows, tables=matrix_tables(a.matrix))


# ---------------------------------------------------------------- how customers move

@dataclass
class CohortFlows(Section):
    occupancy: np.ndarray | None = None   # steps+1 x S
    flows: np.ndarray | None = None       # steps x S x S


def cohort(a: LifecycleAnalysis) -> CohortFlows:
    """The flows of the first entry cohort (customer-level: not computed from an engine's aggregates)."""
    if a.cohort is None:
        return CohortFlows(**vars(sec.not_computed(needs_panel("Following the first entry cohort", a))))
    occupancy, flows = a.cohort
    results = {"cohort_size": int(occupancy[0].sum()),
               "cohort_mix_last_step": dict(zip(a.data.panel.states, occupancy[-1] / occupancy[-1].sum()))}
    return CohortFlows(results, occupancy=occupancy, flows=flows, source=source_of(a), rows_used=int(occupancy[0].sum()))


def rates(a: LifecycleAnalysis) -> Section:
    """Retention, reactivation and churn per period with Wilson bands."""
    data = a.data
    note = text.rates_note(data.rates_panel.states[data.lost[0]]) if data.kind == "transactions" else None
    return Section({"period_rates": a.rates}, note, source=source_of(a), rows_used=data.rates_panel.n_rows)


# ---------------------------------------------------------------- tests of the Markov model

@dataclass
class HomogeneitySection(Section):
    test: LikelihoodRatioTest | None = None
    joint: dict | None = None
    reading: str | None = None   # what the test means for the report


def homogeneity(a: LifecycleAnalysis) -> HomogeneitySection:
    """Row-conditional time-homogeneity test over equal runs of periods, with the joint-cell test for contrast."""
    data, params, test, joint = a.data, a.params, a.homogeneity, a.joint_cell
    unit = data.period_name
    table = table_spec(test.rows.rename(columns={"exposure": f"customer-{unit}s", "statistic": "G²", "p_value": "p"}),
                       f"Time-homogeneity, {params.homogeneity_groups} equal runs of periods: likelihood-ratio "
                       "statistic per origin stage.", label="tbl-homogeneity", decimals={"G²": 1, "p": 4})
    largest = test.rows.loc[test.rows["statistic"].idxmax(), "stage"]
    reading = text.homogeneity_reading(text.significant(test.p_value, params.confidence), params.homogeneity_groups,
                                       data.kind, data.rules.recency_bounds[0] if data.rules else None)
    return HomogeneitySection({"homogeneity_test": test, "joint_cell_chi_square": joint},
                              text.homogeneity_text(test, joint, largest) + "\n\n" + reading, table,
                              source=source_of(a), rows_used=int(transition_counts(data.panel).sum()),
                              test=test, joint=joint, reading=reading)


@dataclass
class OrderSection(Section):
    test: LikelihoodRatioTest | None = None
    finer: LikelihoodRatioTest | None = None   # the same test on the finer state space (transactions)


def order(a: LifecycleAnalysis) -> OrderSection:
    """Second- against first-order chain, on the report's stages and (transactions) on the finer ones."""
    if a.order is None:
        return OrderSection(**vars(sec.not_computed(needs_panel(
            "The second-order test counts each customer's stages in three consecutive periods and", a))))
    test, finer, confidence = a.order, a.order_finer, a.params.confidence
    results = {"order_test": test}
    table = table_spec(test.rows.rename(columns={"exposure": "triples", "statistic": "G²", "p_value": "p"}),
                       "Second- against first-order chain: likelihood-ratio statistic per current stage.",
                       label="tbl-order", decimals={"G²": 1, "p": 4})
    finer_sentence = None
    if finer is not None:
        results["order_test_finer"] = finer
        finer_sentence = text.finer_order_text(test, finer, text.significant(finer.p_value, confidence))
    return OrderSection(results, text.order_text(test, finer_sentence, text.significant(test.p_value, confidence)),
                        table, source=source_of(a), rows_used=int(test.rows["exposure"].sum()), test=test, finer=finer)


@dataclass
class SojournSection(Section):
    frame: pd.DataFrame | None = None   # Kaplan-Meier and geometric survival by stage and duration


def sojourn(a: LifecycleAnalysis) -> SojournSection:
    """Time spent in each stage (Kaplan-Meier over spells) against the geometric law of the chain."""
    if a.sojourn is None:
        return SojournSection(**vars(sec.not_computed(needs_panel(
            "The time spent in a stage is measured on each customer's spells and", a))))
    return SojournSection(source=source_of(a), rows_used=a.data.panel.n_rows, frame=a.sojourn)


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


def backtest(a: LifecycleAnalysis) -> BacktestSection:
    """Holdout backtest of the stage chain (and, for a transaction log, the finer chain) from one origin."""
    if a.backtests is None:
        return BacktestSection(**vars(sec.not_computed(needs_panel(
            "The holdout backtest follows the customers present at the origin and scores each one's stage, so it", a))))
    panel, origin, runs = a.data.panel, a.backtests.origin, a.backtests.runs
    summary = backtest_summary(runs)
    origin_label = panel.period_labels[origin] if panel.period_labels is not None else origin
    table = table_spec(summary, f"Holdout backtest from origin {origin_label}: mean error of the stage mix over the "
                       "horizons, against the naive forecast, and mean log score.", label="tbl-backtest", decimals=4)
    return BacktestSection({"backtest_origin": origin, "backtest": dict(runs), "backtest_summary": summary},
                           text.backtest_text(summary), table, source=source_of(a), rows_used=panel.n_rows,
                           origin=origin, backtests=runs, summary=summary)


# ---------------------------------------------------------------- lifecycle quantities

@dataclass
class TimeToTarget(Section):
    entry_mix: np.ndarray | None = None
    summary: dict | None = None          # mean, sd, lower, upper from the entry mix
    target_names: str = ""
    observed: pd.DataFrame | None = None   # empirical first passage (Kaplan-Meier)
    curves: dict | None = None             # chain name -> implied first-passage curve


def target_names(a: LifecycleAnalysis) -> str:
    """How the report names the stages whose first passage it studies."""
    data = a.data
    if data.kind == "transactions":
        return data.rules.recency_labels[-1]
    return ", ".join(data.panel.states[i] for i in data.target)


def time_to_target(a: LifecycleAnalysis) -> TimeToTarget:
    """Expected time to the lost (churned) stages, the finer chain's answer, and the first-passage check."""
    t, unit = a.time_to_target, a.data.period_name
    summary = t.summary
    results = {"time_to_target_from_entry": summary, "time_to_target_by_stage": t.table}
    names = target_names(a)
    table = table_spec(t.table, f"Expected {unit}s before first reaching {names}, by current stage, with the "
                       "standard deviation.", label="tbl-time-to-lost", decimals=2)
    interval = (f"; bootstrap {a.matrix.confidence:.0%} interval of the mean {summary['lower']:.1f}–{summary['upper']:.1f}"
                if np.isfinite(summary["lower"]) and np.isfinite(summary["upper"]) else "")
    sentences = (f"From the entry mix, the chain expects **{summary['mean']:.1f} {unit}s** until a customer first "
                 f"reaches {names} (SD {summary['sd']:.1f}{interval}).")
    if t.finer is not None:
        results["time_to_target_from_entry_finer"] = t.finer
        sentences += (f" The finer chain, which knows each customer's months since the last purchase, expects "
                      f"**{t.finer['mean']:.1f}** (SD {t.finer['sd']:.1f}).")
    if t.observed is None:
        sentences += (" @fig-first-passage shows what each chain implies for the share of customers who have reached "
                      "it k periods after entry; the observed share (Kaplan-Meier) is not computed: "
                      + needs_panel("it", a) + ".")
    else:
        results["first_passage_max_gap"] = t.max_gap
        sentences += (" @fig-first-passage compares the share of customers who have reached it k periods after entry "
                      "with what each chain implies; the largest gap is "
                      + ", ".join(f"{v:.3f} for the {k}" for k, v in t.max_gap.items()) + ".")
    return TimeToTarget(results, sentences, table, source=source_of(a), rows_used=a.data.panel.n_rows,
                        entry_mix=t.entry_mix, summary=summary, target_names=names, observed=t.observed,
                        curves=t.curves)


def long_run_mix(a: LifecycleAnalysis) -> Section:
    """Stage mix at entry, in the last period and in the long run (quasi-stationary when churn is final)."""
    panel = a.data.panel
    last = panel.occupancy()[-1]
    frame = pd.DataFrame({"stage": list(panel.states), "entry mix": a.time_to_target.entry_mix,
                          "observed, last period": last / last.sum(), a.long_run_name: a.long_run})
    table = table_spec(frame, "Stage mix at entry, in the last period and in the long run implied by the chain.",
                       label="tbl-mix", decimals=3)
    return Section({"long_run_mix": dict(zip(panel.states, a.long_run))}, table=table, source=source_of(a),
                   rows_used=panel.n_rows)


@dataclass
class PatternSection(Section):
    frame: pd.DataFrame | None = None   # None: no relationship stages in this variant


def patterns(a: LifecycleAnalysis) -> PatternSection:
    """The four relationship patterns from the prospect stage (relationship stages only)."""
    if a.patterns is None:
        return PatternSection(**vars(sec.not_computed(
            "the four relationship patterns (early abort, mid-way collapse, early exit, long-lasting) need the "
            "relationship stages prospect, formation, stability, decline and churn, which this panel does not have")))
    params, frame = a.params, a.patterns
    stable = params.simulation.stable_periods_for_long_lasting if params.simulation else 6
    sentences = (f"**Relationship patterns.** Splitting churn by the furthest stage reached, and counting a relationship "
                 f"that holds stability for {stable} consecutive {a.data.period_name}s as long-lasting, the chain gives "
                 "from the prospect stage: "
                 + "; ".join(f"{r.pattern} **{r.probability:.1%}**" for r in frame.itertuples()) + ".")
    table = table_spec(frame, f"The four relationship patterns from the prospect stage, with bootstrap "
                       f"{a.matrix.confidence:.0%} intervals.", label="tbl-patterns", decimals=3)
    return PatternSection({"relationship_patterns": frame}, sentences, table, source=source_of(a),
                          rows_used=a.data.panel.n_rows, frame=frame)


# ---------------------------------------------------------------- forecast, covariates, value, truth

@dataclass
class ForecastSection(Section):
    forecast: pd.DataFrame | None = None   # None without bootstrap


def forecast(a: LifecycleAnalysis) -> ForecastSection:
    """Stage mix of the last period's customers projected ahead, with bootstrap bands."""
    horizon = a.params.forecast_horizon
    if a.forecast is None:
        reason = "the forecast bands push the bootstrap matrices forward, and there is no bootstrap in this run"
        if a.data.aggregated:
            reason += ": " + needs_panel("the customer-cluster bootstrap", a)
        return ForecastSection(**vars(sec.not_computed(reason)))
    last = a.data.panel.occupancy()[-1]
    end = a.forecast[a.forecast["step"] == horizon]
    sentences = f"After {horizon} {a.data.period_name}s: " + "; ".join(
        f"{r.stage} **{r.share:.1%}** ({r.lower:.1%}–{r.upper:.1%})" for r in end.itertuples()) + "."
    return ForecastSection({"forecast_final_step": end}, sentences, source=source_of(a), rows_used=int(last.sum()),
                           forecast=a.forecast)


# The covariates built from a transaction log (lifecycle.workflow), as a reader reads them.
COVARIATE_LABELS = {"log_cumulative_revenue": "log(1 + revenue so far)", "log_purchases": "log(purchases so far)",
                    "tenure_months": "months since entry"}
# An odds ratio past this (or below its inverse) comes from a (quasi-)separated fit, not a real effect.
ODDS_RATIO_SHOWN = 1e4


def covariates(a: LifecycleAnalysis, n_shown: int = 16) -> Section:
    """Multinomial-logit covariate effects per origin stage (the largest by |z| are shown)."""
    data = a.data
    if not a.params.covariate_model:
        return sec.not_computed("the covariate model is turned off in the parameter file")
    if data.aggregated:
        return sec.not_computed(needs_panel("The covariate model relates each customer's moves to their own history and", a))
    if data.covariates is None:
        return sec.not_computed("the data have no covariates")
    if a.covariates.error is not None:
        return sec.failed("The multinomial logit of moves on covariates", "one model per origin stage, staying as "
                          "the base outcome, rare destinations dropped", a.covariates.error, rows_used=data.panel.n_rows)
    effects = a.covariates.effects
    if effects is None:
        return sec.not_computed("no origin stage has enough moves to more than one destination for the covariate "
                                "model (or every fit was singular)", rows_used=data.panel.n_rows)
    largest = effects.assign(abs_z=effects["z"].abs()).nlargest(n_shown, "abs_z").sort_index()
    shown = (f"the {len(largest)} largest of {len(effects)} effects by |z|; all are in results.json"
             if len(effects) > len(largest) else "all effects")
    frame = largest[["origin", "destination", "term", "coef", "se", "odds_ratio", "p_value", "n"]].rename(
        columns={"odds_ratio": "odds ratio", "p_value": "p", "n": "moves"})
    frame["term"] = frame["term"].map(lambda t: COVARIATE_LABELS.get(t, t))
    separated = (frame["odds ratio"] > ODDS_RATIO_SHOWN) | (frame["odds ratio"] < 1 / ODDS_RATIO_SHOWN)
    frame["odds ratio"] = frame["odds ratio"].astype(object).where(~separated, "not identified")
    flagged = (" 'Not identified': the covariate all but separates the moves, so the estimate runs off and no odds "
               "ratio is shown." if separated.any() else "")
    table = table_spec(frame, "Covariate effects on moves (multinomial logit per origin stage, customer-clustered "
                       f"standard errors; {shown}).{flagged}", label="tbl-covariates",
                       decimals={"coef": 3, "se": 3, "odds ratio": 3, "p": 4})
    sentences = ("Covariates are measured at the origin month: log(1 + revenue so far), log of the number of purchases "
                 "so far and months since entry.") if data.kind == "transactions" else None
    return Section({"covariate_effects": effects}, sentences, table, source=source_of(a), rows_used=data.panel.n_rows)


def stage_values(a: LifecycleAnalysis) -> Section:
    """Pfeifer-Carraway value of a customer by current stage and of a newly entered customer."""
    data, params = a.data, a.params
    if a.stage_values is None:
        return sec.not_computed("no stage rewards were given (stage_rewards in the panel block)")
    unit, entry_mix = data.period_name, a.time_to_target.entry_mix
    values, values_infinite = a.stage_values.values, a.stage_values.infinite
    frame = pd.DataFrame({"stage": list(data.panel.states), "reward per period": data.rewards,
                          f"value over {params.value_horizon} {unit}s": values,
                          "value (infinite horizon)": values_infinite})
    entry = {"horizon": float(entry_mix @ values), "infinite": float(entry_mix @ values_infinite)}
    table = table_spec(frame, f"Expected discounted value by current stage (discount rate {params.discount_rate:.1%} "
                       f"per {unit}).", label="tbl-values", decimals=2)
    sentences = (f"Over {params.value_horizon} {unit}s a newly entered customer is worth **{entry_mix @ values:,.2f}** "
                 f"in expectation ({entry_mix @ values_infinite:,.2f} if the chain ran for ever: the long horizon "
                 f"assumes that the moves{text.returns_clause(a.P, data.target)} continue unchanged)"
                 + (f"; {params.value_horizon} {unit}s reach past the {data.panel.n_periods} observed, so this is a "
                    "projection that holds only if the moves stay as estimated." if params.value_horizon >
                    data.panel.n_periods else "."))
    return Section({"stage_values": frame, "entry_value": entry}, sentences, table, source=source_of(a),
                   rows_used=data.panel.n_rows)


def truth(a: LifecycleAnalysis) -> Section:
    """Coverage of the intervals and largest error against the pooled true matrix (simulations only)."""
    check = a.truth_check
    if check is None:
        return sec.not_computed("the panel is not simulated, so there is no known matrix to check against")
    wilson_cover = check["Wilson covers"].mean()
    boot_cover = check["bootstrap covers"].mean() if "bootstrap covers" in check else np.nan
    error = (check["p"] - check["truth"]).abs().max()
    results = {"truth_check": {"cells": len(check), "wilson_coverage": wilson_cover, "bootstrap_coverage": boot_cover,
                               "max_abs_error": float(error)}}
    sentences = ("The panel was simulated, so the estimates can be checked. The pooled "
                 "truth averages the two covariate groups' matrices by their share of exposure in each row. "
                 f"Of {len(check)} possible cells, **{wilson_cover:.0%}** of Wilson intervals and **{boot_cover:.0%}** of "
                 f"bootstrap intervals contain the true value (about {a.matrix.confidence:.0%} expected); the largest "
                 f"absolute error is {error:.3f}.")
    frame = check[["from", "to", "n", "p", "truth", "wilson_lower", "wilson_upper", "boot_lower", "boot_upper"]].rename(
        columns={"n": "moves", **INTERVAL_COLUMNS})
    return Section(results, sentences, table_spec(frame, "Estimated against true transition probabilities.",
                                                  label="tbl-truth", decimals=3), source="simulated",
                   rows_used=a.data.panel.n_rows)


def finding(summary: MatrixSummary, homogeneity: LikelihoodRatioTest, order: LikelihoodRatioTest,
            time: TimeToTarget, states, period_name: str = "month") -> str:
    """The report's one-line finding."""
    parts = [f"{states[0]} stays {summary.stay[0]:.0%} per {period_name}",
             f"homogeneity G² {homogeneity.statistic:,.0f} (df {homogeneity.df}, {p_text(homogeneity.p_value)})"]
    if order is not None:       # None: not computed (a run with an engine has no triples)
        parts.append(f"order G² {order.statistic:,.0f} (df {order.df}, {p_text(order.p_value)})")
    parts.append(f"{time.summary['mean']:.1f} {period_name}s from entry to {time.target_names}")
    return "; ".join(parts) + "."


def lead(a: LifecycleAnalysis) -> Lead:
    """The report's findings first (`crmresearch.sections.Lead`), from the computed matrix and tests."""
    m = a.matrix
    P = np.nan_to_num(m.probabilities)
    lower = m.boot_lower if m.boot_lower is not None else m.wilson_lower
    upper = m.boot_upper if m.boot_upper is not None else m.wilson_upper
    t = a.time_to_target
    sentences = text.lead_sentences(m.states, P, np.nan_to_num(lower), np.nan_to_num(upper), a.homogeneity, a.order,
                                    t.summary, target_names(a), a.data.period_name, a.params.confidence,
                                    t.max_gap, t.finer)
    return Lead(sentences, "simulated" if a.simulated else None)
