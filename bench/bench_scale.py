"""Benchmark: CLV and lifecycle summaries of a large transaction log, engine (DuckDB, 2 GB) vs pandas.

Run:  .venv/bin/python bench/bench_scale.py [--transactions 1e8] [--memory-limit 2GB] [--threads N]
                                            [--pandas auto|yes|no] [--steps rfm,stage,fit,clv] [--repeats 3]

Generates the log once (`crmresearch.engine.generate.write_log`, hive-partitioned Parquet, 10
transactions per customer, 3 years) and caches it under bench/results/ (gitignored). Each step
then runs in a fresh child process, so its wall time and peak RSS (`os.wait4` rusage of that
child) are its own:

* rfm   — RFM summary with calibration/holdout split, same-day purchases merged: the per-customer
          table (x, t_x, T, spends, holdout count and spend) kept in the engine and the cohort's weekly
          repeat counts, from one grouping of each range's customer-days, as the CLV report does,
          with its customer count, holdout total and weekly total;
* stage — monthly stage panel (recency x purchase-count rules) and its transition counts;
* fit   — the RFM table collapsed to its unique (x, t_x, T) rows, BG/NBD fitted on them with their
          customer counts, Gamma-Gamma on the repeat buyers;
* clv   — the fits plus per-customer P(alive), expected purchases and CLV with its interval,
          written to Parquet, with value tiers' top share and Gini computed from that file;
* report — the whole CLV report (`params/on_demand/clv_large_log.yaml` pointed at the log) through
          `crmresearch run`: with its engine block, or the pandas path on the single file;
* lifecycle — the whole lifecycle report (`params/on_demand/lifecycle_large_log.yaml`) the same way.

For the two reports the wall time is broken down (each notebook cell over 5% of it, from papermill's
cell times; the analysis parts and the engine steps inside them, from the profile file the kernel
writes when `CRMRESEARCH_PROFILE_FILE` names one, see `engine.progress`), each part with its share of
the report and the kernel's peak memory while it ran; and the peak resident memory per process
(runner, kernel with the engine inside it, other) and of all of them together, sampled every 0.1 s.
A cohort above `CRMRESEARCH_CLV_AGGREGATE_CUSTOMERS` customers (default 1,000,000) takes the CLV
report's aggregate path (`clv.at_scale`); set it to 0 to time that path on a smaller log.

The pandas side is the in-memory path (the log read whole into pandas by `datasets.load_transactions`,
then `clv.rfm`, `lifecycle.stages` and `clv.predictions`); by default it runs up to 20 million
transactions (`--pandas yes` forces it). Engine and pandas results are cross-checked (customers,
unique rows, transition total). Timings are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CALIBRATION_END, HOLDOUT_END, START = "2023-12-31", "2024-12-31", "2022-01-01"
CLV_ARGS = dict(horizon=52.0, step=4.0, annual_discount_rate=0.10, margin=0.3)
STEPS = ("rfm", "stage", "fit", "clv", "report", "lifecycle")
PROJECT = HERE.parent
REPORT_FILE = PROJECT / "params" / "on_demand" / "clv_large_log.yaml"
LIFECYCLE_FILE = PROJECT / "params" / "on_demand" / "lifecycle_large_log.yaml"
REPORT_TOPICS = {"report": ("customer_lifetime_value", REPORT_FILE), "lifecycle": ("lifecycle_transitions", LIFECYCLE_FILE)}


def _count_rules():
    from crmresearch.lifecycle.stages import StageRules

    return StageRules(count_bounds=(1, 2), count_labels=("one", "two", "three+"))


def cached_log(transactions: int, customers: int, seed: int, single_file: bool) -> Path:
    """The generated log (folder, or one Parquet file for the pandas loader), made once."""
    from crmresearch.engine import generate

    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"log_{transactions}tx_{customers}c_s{seed}"
    path = RESULTS / (stem + (".parquet" if single_file else ""))
    done = RESULTS / (path.name + ".complete")
    if not done.exists():
        start = time.perf_counter()
        generate.write_log(path, transactions=transactions, customers=customers, seed=seed, start=START,
                           days=1096, partition=None if single_file else "month", overwrite=True)
        done.write_text(f"{time.perf_counter() - start:.1f}\n")
        print(f"generated {path.name} in {time.perf_counter() - start:.1f} s", flush=True)
    return path


# ------------------------------------------------------------------ child processes
def _kept_rfm(table):
    """The cohort's per-customer RFM table kept in the engine and the cohort's weekly repeat counts,
    from one grouping of each range of customer ids (as the CLV report does, see `clv.data.read_in_place`)."""
    from crmresearch.engine import summaries as S

    kept, counts = S.rfm_and_tracking(table, CALIBRATION_END, HOLDOUT_END, START, name="rfm_customers")
    return S.cohort(kept, CALIBRATION_END), counts


def _fits_from_engine(table):
    """The per-customer RFM table kept in the engine (one scan of the log), its unique rows, the fits."""
    from crmresearch.models import BetaGeoNBD, GammaGamma
    from crmresearch.engine import summaries as S

    kept, _ = _kept_rfm(table)
    rows = S.collapse_customer_rows(kept, holdout=True)
    bg = BetaGeoNBD().fit(frequency=rows["frequency"].to_numpy(), recency=rows["recency"].to_numpy(), T=rows["T"].to_numpy(), weights=rows["customers"].to_numpy())      # unique rows, never expanded
    spend = S.repeat_spend_rows(kept)
    gg = GammaGamma().fit(frequency=spend["frequency"], monetary_value=spend["monetary_value"])
    return kept, rows, bg, gg


def child_engine(step: str, log: str, memory_limit: str, threads: int | None, out_dir: Path) -> dict:
    from crmresearch.clv import predictions
    from crmresearch.engine import sources, spark
    from crmresearch.engine import summaries as S
    from crmresearch.parameters.engine import EngineSettings

    settings = EngineSettings(memory_limit=memory_limit, threads=threads, temp_directory=str(RESULTS / "spill"))
    con = spark.connect(settings)
    table = sources.open_log(con, sources.LogSource(path=log), validate=False)
    result = {}
    if step == "rfm":
        kept, counts = _kept_rfm(table)
        totals = S.execute(kept.aggregate(customers=kept.count(), holdout_total=kept.frequency_holdout.sum(),
                                          repeat_buyers=kept.count(where=kept.frequency > 0)), "RFM totals")
        result = {k: int(totals[k].iloc[0]) for k in ("customers", "repeat_buyers", "holdout_total")}
        result["weekly_repeat_total"] = int(counts["incremental"].sum())
    elif step == "stage":
        summary = S.stage_summary(table, _count_rules())
        result = {"panel_rows": summary.rows, "transitions": int(summary.transition_counts.sum())}
    elif step == "fit":
        _, rows, bg, gg = _fits_from_engine(table)
        result = {"customers": int(rows["customers"].sum()), "unique_rows": bg.n_unique_rows,
                  "bgnbd": bg.theta.round(6).tolist(),
                  "gamma_gamma": gg.theta.round(6).tolist()}
    elif step == "clv":
        kept, rows, bg, gg = _fits_from_engine(table)
        path = out_dir / "customers_engine.parquet"
        def predict(frame):
            return predictions.customer_lifetime_value(bg, gg, frame, **CLV_ARGS)[0]

        written = S.write_customer_predictions(kept, path, predict)
        value = con.read_parquet(str(path))
        conc = S.concentration(value.filter(value.clv.notnull()), column="clv", top_fraction=0.2)
        result = {"customers": written["customers"], "total_clv": round(written["total_clv"], 2),
                  "top20_clv_share": round(conc["top_share"], 6), "gini_clv": round(conc["gini"], 6)}
    return result


def child_pandas(step: str, log: str, out_dir: Path) -> dict:
    import numpy as np

    from crmresearch import datasets, stats
    from crmresearch.clv import predictions, rfm
    from crmresearch.models import BetaGeoNBD, GammaGamma
    from crmresearch.lifecycle import panel, stages

    start = time.perf_counter()
    tx = datasets.load_transactions(log, "customer_id", "date", "amount")
    result = {"load_seconds": round(time.perf_counter() - start, 2)}
    if step == "stage":
        p = stages.assign_stages(tx, _count_rules())
        counts = panel.transition_counts(p)
        return result | {"panel_rows": p.n_rows, "transitions": int(counts.sum())}
    summary = rfm.rfm_summary(tx, CALIBRATION_END, HOLDOUT_END)
    del tx
    if step == "rfm":
        return result | {"customers": len(summary), "repeat_buyers": int((summary["frequency"] > 0).sum()),
                         "holdout_total": int(summary["frequency_holdout"].sum())}
    bg = BetaGeoNBD().fit(frequency=summary["frequency"], recency=summary["recency"], T=summary["T"])
    gg = GammaGamma().fit(frequency=summary["frequency"], monetary_value=summary["monetary_value"])
    if step == "fit":
        return result | {"customers": len(summary), "unique_rows": bg.n_unique_rows, "bgnbd": bg.theta.round(6).tolist(),
                         "gamma_gamma": gg.theta.round(6).tolist()}
    table, total = predictions.customer_lifetime_value(bg, gg, summary, **{k: CLV_ARGS[k] for k in
                                                       ("horizon", "step", "annual_discount_rate")},
                                                       margin=CLV_ARGS["margin"])
    table.to_parquet(out_dir / "customers_pandas.parquet")
    clv = table["clv"].to_numpy()
    return result | {"customers": len(table), "total_clv": round(total["total"], 2),
                     "top20_clv_share": round(stats.top_share(clv, 0.2), 6),
                     "gini_clv": round(stats.gini(clv[np.isfinite(clv)]), 6)}


class TreeWatch:
    """Resident memory of a process and its descendants, sampled every `every` s (psutil, a dependency
    of ipykernel): peak per role (runner: the `crmresearch run` process; kernel: the notebook's
    ipykernel, where the engine runs in-process; other), the peak of their sum, and the kernel's
    samples for the engine's share."""

    def __init__(self, pid: int, every: float = 0.1):
        import threading

        self.pid, self.every = pid, every
        self.peaks = {"runner": 0.0, "kernel": 0.0, "other": 0.0, "together": 0.0}
        self.kernel_samples = []                     # (time, RSS MiB)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _role(self, proc) -> str:
        if proc.pid == self.pid:
            return "runner"
        try:
            return "kernel" if "ipykernel" in " ".join(proc.cmdline()) else "other"
        except Exception:  # noqa: BLE001 - the process ended meanwhile
            return "other"

    def _run(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        roles = {}
        while not self.stop.wait(self.every):
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            total, now = 0.0, time.time()
            for proc in procs:
                try:
                    rss = proc.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                role = roles.setdefault(proc.pid, self._role(proc))
                total += rss
                self.peaks[role] = max(self.peaks[role], rss)
                if role == "kernel":
                    self.kernel_samples.append((now, rss))
            self.peaks["together"] = max(self.peaks["together"], total)

    def close(self):
        self.stop.set()
        self.thread.join()


def report_profile(profile: Path, notebook: Path, wall: float, started: float, watch: TreeWatch) -> list[str]:
    """Lines of the report's breakdown: the notebook's cells (papermill's timings), the analysis parts
    and the engine steps inside them (the profile file), each with its share of the report's wall time
    and the kernel's peak memory while it ran."""
    import nbformat
    from datetime import datetime

    def peak_between(t0: float, t1: float) -> float:
        inside = [rss for t, rss in watch.kernel_samples if t0 <= t <= t1]
        return max(inside) if inside else float("nan")

    lines = [f"  {'part':44}{'s':>8}{'share':>8}{'kernel MiB':>12}{'CPU s':>8}"]
    def add(name, t0, t1, indent=0, cpu=None):
        lines.append(f"  {' ' * indent + name:44}{t1 - t0:>8.1f}{(t1 - t0) / wall:>8.1%}{peak_between(t0, t1):>12.0f}"
                     + (f"{cpu:>8.1f}" if cpu is not None else ""))

    cells = []
    if notebook.exists():
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("papermill", {})
            if cell.cell_type != "code" or not meta.get("start_time") or not meta.get("end_time"):
                continue
            t0 = datetime.fromisoformat(meta["start_time"].replace("Z", "+00:00")).timestamp()
            t1 = datetime.fromisoformat(meta["end_time"].replace("Z", "+00:00")).timestamp()
            first = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
            cells.append((t0, t1, first.strip()[:40]))
    records = [json.loads(ln) for ln in profile.read_text().splitlines()] if profile.exists() else []
    if cells:
        add("runner start, kernel start", started, cells[0][0])
    parts = [r for r in records if r["kind"] == "part"]
    engine = [r for r in records if r["kind"] == "engine"]
    for t0, t1, first in cells:
        if t1 - t0 < 0.05 * wall and not any(t0 <= r["end"] <= t1 for r in parts):
            continue
        add(f"cell: {first}", t0, t1)
        for r in parts:
            if t0 <= r["end"] <= t1 + 1 and r["seconds"] >= 0.01 * wall:
                add(r["step"], r["end"] - r["seconds"], r["end"], 2, r.get("cpu_seconds"))
                for e in engine:
                    if r["end"] - r["seconds"] <= e["end"] <= r["end"] and e["seconds"] >= 0.01 * wall:
                        add(e["step"], e["end"] - e["seconds"], e["end"], 4, e.get("cpu_seconds"))
    if cells:
        small = sum(t1 - t0 for t0, t1, _ in cells if t1 - t0 < 0.05 * wall)
        lines.append(f"  {'other cells (each < 5%)':44}{small:>8.1f}{small / wall:>8.1%}")
        add("runner: save and publish the outputs", cells[-1][1], started + wall)
    in_engine = [rss for t, rss in watch.kernel_samples
                 if any(e["end"] - e["seconds"] <= t <= e["end"] for e in engine)]
    p = watch.peaks
    lines.append(f"  peak RSS MiB: runner {p['runner']:.0f}, kernel {p['kernel']:.0f} (while the engine ran "
                 f"{max(in_engine) if in_engine else float('nan'):.0f}), other {p['other']:.0f}; "
                 f"all together {p['together']:.0f}")
    return lines


def report_step(engine: str, log: Path, memory_limit: str, threads: int | None,
                step: str = "report") -> tuple[float, float, dict, list[str]]:
    """The whole CLV report (`params/on_demand/clv_large_log.yaml`, pointed at `log`) run by the CLI:
    with its `engine:` block (the log read in place), or without it (pandas reads the single file).
    Returns wall seconds, the peak of the summed RSS of runner and kernel, the report's figures and
    the breakdown lines (`report_profile`)."""
    import yaml

    from crmresearch.engine.progress import PROFILE_ENV

    topic, report_file = REPORT_TOPICS[step]
    doc = yaml.safe_load(report_file.read_text())
    doc["variant"] = f"bench_{engine}"
    doc["parameters"]["transactions"]["path"] = str(log)
    if engine == "duckdb":          # the report's own engine block, with --memory-limit / --threads when given
        block = dict(doc["parameters"].get("engine") or {"backend": "duckdb"})
        block.update({"backend": "duckdb", **({"memory_limit": memory_limit} if memory_limit else {}),
                      **({"threads": threads} if threads else {})})
        doc["parameters"]["engine"] = block
    else:
        doc["parameters"].pop("engine", None)
    work = RESULTS / "output" / step
    work.mkdir(parents=True, exist_ok=True)
    param_file = work / f"bench_{engine}.yaml"
    param_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    profile = work / f"bench_{engine}.profile.jsonl"
    profile.unlink(missing_ok=True)
    cli = Path(sys.executable).with_name("crmresearch")
    started, start = time.time(), time.perf_counter()
    proc = subprocess.Popen([str(cli), "run", str(param_file), "--reports-dir", str(work / "reports"), "--force"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, PROFILE_ENV: str(profile)})
    watch = TreeWatch(proc.pid)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    watch.close()
    if os.waitstatus_to_exitcode(status) != 0:
        return wall, watch.peaks["together"], {"error": out.strip().splitlines()[-1][:200]}, []
    folder = work / "reports" / topic / f"bench_{engine}"
    results = json.loads((folder / "results.json").read_text())
    notebook = next(iter(sorted(folder.glob("*.ipynb"))), folder / "report.ipynb")
    lines = report_profile(profile, notebook, wall, started, watch)
    if step == "lifecycle":
        first = next(iter(results["sections"].values()), {})
        return wall, watch.peaks["together"], {"rows_used": first.get("rows_used")}, lines
    return wall, watch.peaks["together"], {"customers": results["sections"]["rfm"].get("rows_used"),
                                           "total_clv": round(results["results"]["clv_total"]["total"], 2)}, lines


def run_child(args_list: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MiB, result) of one step in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *args_list], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return wall, usage.ru_maxrss / 1024, {"error": f"exit {proc.returncode}"}
    return wall, usage.ru_maxrss / 1024, json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=float, default=1e8)
    parser.add_argument("--customers", type=float, default=None, help="default: transactions / 10")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--memory-limit", default=None,
                        help="DuckDB's limit (default: 2GB for the steps, the parameter file's for the reports)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--pandas", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--repeats", type=int, default=1, help="runs of each step; the median is printed")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "STEP", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    out_dir = RESULTS / "output"
    if args.child:
        engine, step, log = args.child
        out_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        result = (child_engine(step, log, args.memory_limit, args.threads, out_dir) if engine == "duckdb"
                  else child_pandas(step, log, out_dir))
        result["seconds"] = round(time.perf_counter() - start, 2)
        print(json.dumps(result), flush=True)
        return

    n = int(args.transactions)
    customers = int(args.customers) if args.customers else max(1, n // 10)
    steps = [s for s in args.steps.split(",") if s]
    with_pandas = args.pandas == "yes" or (args.pandas == "auto" and n <= 20_000_000)
    folder = cached_log(n, customers, args.seed, single_file=False)
    single = cached_log(n, customers, args.seed, single_file=True) if with_pandas else None
    limit = args.memory_limit or "2GB (steps), the parameter file's (reports)"
    print(f"\n{n:,} transactions, {customers:,} customers; DuckDB memory_limit {limit}, "
          f"threads {args.threads or 'all'}")
    print(f"{'step':8}{'engine':>10}{'wall s':>10}{'in-step s':>11}{'peak RSS MiB':>14}  result")
    common = ["--memory-limit", args.memory_limit or "2GB"] + (["--threads", str(args.threads)] if args.threads else [])
    for step in steps:
        runs = [("duckdb", folder)] + ([("pandas", single)] if with_pandas else [])
        for engine, log in runs:
            done = []
            for _ in range(args.repeats):
                lines, load = [], os.getloadavg()[0]
                if step in REPORT_TOPICS:
                    wall, rss, result, lines = report_step(engine, log, args.memory_limit, args.threads, step)
                else:
                    wall, rss, result = run_child(common + ["--child", engine, step, str(log)])
                inner = result.pop("seconds", float("nan"))
                print(f"{step:8}{engine:>10}{wall:>10.1f}{inner:>11.1f}{rss:>14.0f}  {json.dumps(result)}", flush=True)
                done.append((wall, rss, lines, load, os.getloadavg()[0]))
            if args.repeats > 1:
                walls, peaks = sorted(d[0] for d in done), sorted(d[1] for d in done)
                print(f"{step:8}{engine:>10}  median of {args.repeats}: {statistics.median(walls):.1f} s "
                      f"({', '.join(f'{w:.1f}' for w in walls)}), peak {statistics.median(peaks):.0f} MiB "
                      f"({', '.join(f'{m:.0f}' for m in peaks)})", flush=True)
            wall, rss, lines, load, end_load = sorted(done, key=lambda d: d[0])[(len(done) - 1) // 2]   # the median run's parts
            for line in lines:
                print(line, flush=True)
            print(f"  load average (1 min) at start {load:.2f}, at end {end_load:.2f} on {os.cpu_count()} cores",
                  flush=True)


if __name__ == "__main__":
    main()
