"""The shipped suite, report by report: wall time of each report and where it goes, and publish per route.

Runs every shipped parameter file (`crmresearch run --all`, `-j` as given) into a fresh reports folder,
then reads the executed notebooks: papermill records each cell's duration, so every report's wall time
splits into kernel start and imports (the setup cells), the analysis cell (`analyse(params)`: loading,
fits, simulations, bootstraps), figures (cells that draw) and the rest. It prints each report's wall
time with its five costliest cells, then times `crmresearch publish` on the pandoc + Typst route and,
when `quarto` is on PATH, on the Quarto route. Median of `--repeats` runs for publish.

    .venv/bin/python bench/bench_suite.py                 # the whole suite, -j 2
    .venv/bin/python bench/bench_suite.py --only '*/fast.yaml' --jobs 1

Timings are never asserted in the tests; numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "crmresearch"]


def cell_kind(source: str) -> str:
    if "show_figure(" in source:
        return "figure"
    if ".analyse(params" in source:
        return "analysis"
    if "crm.report.setup()" in source or source.lstrip().startswith("import "):
        return "kernel start + imports"
    if "provenance(" in source:
        return "provenance"
    return "sections"


def report_costs(notebook: Path) -> dict:
    """Wall time of one executed report and its costliest cells (papermill's per-cell durations)."""
    nb = json.loads(notebook.read_text())
    cells = []
    for i, cell in enumerate(nb["cells"]):
        duration = (cell.get("metadata", {}).get("papermill") or {}).get("duration")
        if cell["cell_type"] == "code" and duration is not None:
            source = "".join(cell["source"])
            first = next((line for line in source.splitlines() if line and not line.startswith("#")), "")
            cells.append({"cell": i, "seconds": float(duration), "kind": cell_kind(source), "code": first[:70]})
    total = float((nb.get("metadata", {}).get("papermill") or {}).get("duration") or sum(c["seconds"] for c in cells))
    kinds: dict = {}
    for c in cells:
        kinds[c["kind"]] = kinds.get(c["kind"], 0.0) + c["seconds"]
    return {"total": total, "kinds": kinds, "top": sorted(cells, key=lambda c: -c["seconds"])[:5]}


def timed(cmd, env=None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    return time.perf_counter() - start, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default=None, help="a glob of parameter files under params/ (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="publish runs per route (median reported)")
    args = parser.parse_args()

    reports = Path(tempfile.mkdtemp(prefix="crm_bench_suite_"))
    try:
        files = (sorted(str(p) for p in (ROOT / "params").glob(args.only)) if args.only else ["--all"])
        seconds, run = timed([*CLI, "run", *files, "-j", str(args.jobs), "--reports-dir", str(reports)])
        if run.returncode != 0:
            print(run.stdout[-2000:], run.stderr[-2000:])
            return 1
        print(f"run: {seconds:.1f} s for the suite with -j {args.jobs}\n")
        rows = []
        for notebook in sorted(reports.glob("*/*/report.ipynb")):
            costs = report_costs(notebook)
            rows.append((f"{notebook.parent.parent.name}/{notebook.parent.name}", costs))
        for name, costs in sorted(rows, key=lambda r: -r[1]["total"]):
            shares = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(costs["kinds"].items(), key=lambda kv: -kv[1]))
            print(f"{name:48s} {costs['total']:7.1f} s   ({shares})")
            for c in costs["top"]:
                print(f"    cell {c['cell']:3d} {c['seconds']:7.1f} s  [{c['kind']}] {c['code']}")
        print()
        routes = [("pandoc + Typst", "pandoc")] + ([("Quarto", "quarto")] if shutil.which("quarto") else [])
        for label, engine in routes:
            times = []
            for _ in range(args.repeats):
                elapsed, done = timed([*CLI, "publish", "--engine", engine, "--reports-dir", str(reports)])
                if done.returncode != 0:
                    print(f"publish ({label}) failed: {done.stdout[-500:]} {done.stderr[-500:]}")
                    break
                times.append(elapsed)
            if times:
                print(f"publish, {label}: median {statistics.median(times):.1f} s over {len(times)} runs "
                      f"(min {min(times):.1f}, max {max(times):.1f})")
        return 0
    finally:
        shutil.rmtree(reports, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
