"""The shipped suite, report by report: wall time of each report and where it goes, and publish per route.

Runs every shipped parameter file (`crmresearch run --all`, `-j` as given) into a fresh reports folder,
then reads the executed notebooks: papermill records each cell's duration, so every report's wall time
splits into kernel start (the time papermill spends outside the cells: starting the kernel and
shutting it down), imports (the setup cell), the analysis cell (`analyse(params)`: loading, fits,
simulations, bootstraps), figures (cells that draw) and the rest. It prints each report's wall time
with its five costliest cells, then times `crmresearch publish` on the pandoc + Typst route and, when
`quarto` is on PATH, on the Quarto route. Median of `--repeats` runs for publish.

    .venv/bin/python bench/bench_suite.py                 # the whole suite, -j 2
    .venv/bin/python bench/bench_suite.py --only '*/fast.yaml' --jobs 1
    .venv/bin/python bench/bench_suite.py --keep /tmp/after --compare /tmp/before   # same numbers?
    .venv/bin/python bench/bench_suite.py --write-expected  # refresh the runner's longest-first order

`--compare DIR` reads every results.json of a reports folder kept by an earlier `--keep` and prints
each number that differs (and by how much, relatively): a speed-up must leave the published numbers
as they were. `--write-expected` stores each report's wall time in
src/crmresearch/runner/expected_seconds.json, which `crmresearch run` uses to start the longest
reports first when a reports folder has no timings of its own (a fresh clone).

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

from crmresearch import config

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "crmresearch"]


EXPECTED = config.EXPECTED_SECONDS_FILE


def cell_kind(source: str) -> str:
    if "show_figure(" in source:
        return "figure"
    if ".analyse(params" in source:
        return "analysis"
    if "crm.report.setup()" in source or source.lstrip().startswith("import "):
        return "imports"
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
    outside = total - sum(c["seconds"] for c in cells)
    if outside > 0:
        kinds["kernel start"] = outside
        cells.append({"cell": -1, "seconds": outside, "kind": "kernel start", "code": "(outside the cells)"})
    return {"total": total, "kinds": kinds, "top": sorted(cells, key=lambda c: -c["seconds"])[:5]}


def numbers(value, path=""):
    """(path, number) for every number in a results.json document."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        yield path, float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from numbers(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from numbers(v, f"{path}[{i}]")


def compare(before: Path, after: Path) -> int:
    """Print every number of the results.json files that differs between two kept reports folders."""
    changed = 0
    for doc in sorted(d for d in before.glob("*/*/results.json") if not d.parts[-3].startswith("_")):
        other = after / doc.relative_to(before)
        if not other.exists():
            print(f"{doc.relative_to(before)}: missing in {after}")
            changed += 1
            continue
        old = dict(numbers(json.loads(doc.read_text())))
        new = dict(numbers(json.loads(other.read_text())))
        diffs = []
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if key.endswith(("/seconds", "/duration", "/finished", "/elapsed")) or "provenance" in key:
                continue
            if a is None or b is None or not (a == b or (a != a and b != b)):
                rel = abs(a - b) / max(abs(a), abs(b), 1e-300) if a is not None and b is not None else float("nan")
                diffs.append((key, a, b, rel))
        name = str(doc.parent.relative_to(before))
        if not diffs:
            print(f"{name:48s} {len(old):6d} numbers, all equal")
            continue
        changed += 1
        worst = max((d[3] for d in diffs if d[3] == d[3]), default=float("nan"))
        print(f"{name:48s} {len(old):6d} numbers, {len(diffs)} differ (largest relative difference {worst:.2g})")
        for key, a, b, rel in sorted(diffs, key=lambda d: -(d[3] if d[3] == d[3] else 1))[:8]:
            print(f"    {key}: {a!r} -> {b!r} (relative {rel:.2g})")
    return changed


def timed(cmd, env=None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    return time.perf_counter() - start, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default=None, help="a glob of parameter files under params/ (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="publish runs per route (median reported)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="run into this (new or empty) folder and keep it, instead of a temporary one")
    parser.add_argument("--compare", type=Path, default=None,
                        help="a reports folder kept by an earlier run: print every results.json number that differs")
    parser.add_argument("--write-expected", action="store_true",
                        help=f"store each report's wall time in {EXPECTED.relative_to(ROOT)} (the runner's order)")
    args = parser.parse_args()

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        if any(args.keep.iterdir()):
            print(f"--keep {args.keep}: the folder is not empty")
            return 2
    reports = args.keep.resolve() if args.keep is not None else Path(tempfile.mkdtemp(prefix="crm_bench_suite_"))
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
        print(f"{'report':48s} {'wall':>7s}     (where it goes)")
        for name, costs in sorted(rows, key=lambda r: -r[1]["total"]):
            shares = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(costs["kinds"].items(), key=lambda kv: -kv[1]))
            print(f"{name:48s} {costs['total']:7.1f} s   ({shares})")
            for c in costs["top"]:
                print(f"    cell {c['cell']:3d} {c['seconds']:7.1f} s  [{c['kind']}] {c['code']}")
        print(f"sum of the reports' wall times: {sum(c['total'] for _, c in rows):.1f} s\n")
        if args.write_expected:
            EXPECTED.write_text(json.dumps({name: round(c["total"], 1) for name, c in
                                            sorted(rows, key=lambda r: -r[1]["total"])}, indent=1) + "\n")
            print(f"wrote {EXPECTED.relative_to(ROOT)}\n")
        if args.compare is not None:
            print(f"results.json against {args.compare}:")
            compare(args.compare, reports)
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
        if args.keep is None:
            shutil.rmtree(reports, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
