"""`crmresearch` command line: run, list, publish, validate.

Exit codes: 0 success, 1 a report failed to run or publish, 2 bad input (parameter files,
data files or command-line arguments), detected before any kernel starts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import config

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _reports_dir(args) -> Path:
    if args.reports_dir:
        os.environ["CRMRESEARCH_REPORTS_DIR"] = str(Path(args.reports_dir).resolve())
    return config.reports_dir()


def _select_files(args) -> list[Path]:
    from .parameters import discover

    if args.all:
        return discover()
    return [Path(p) for p in args.params]


def _validate(paths) -> tuple[list, bool]:
    from .runner import validate_files

    good, errors = validate_files(paths)
    for err in errors:
        for problem in err.problems:
            print(f"error: {err.path}: {problem}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} of {len(paths)} parameter file(s) invalid; nothing was run.", file=sys.stderr)
    return good, not errors


def cmd_run(args) -> int:
    from .runner import run_reports

    reports_dir = _reports_dir(args)
    paths = _select_files(args)
    if not paths:
        print("error: no parameter files given (name files or use --all)", file=sys.stderr)
        return EXIT_BAD_INPUT
    good, ok = _validate(paths)
    if not ok:
        return EXIT_BAD_INPUT
    started = time.perf_counter()
    outcomes = run_reports(good, reports_dir, jobs=args.jobs, force=args.force)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed")}
    print(f"{counts['ok']} run, {counts['skipped']} up to date, {counts['failed']} failed "
          f"in {time.perf_counter() - started:.1f}s; reports in {reports_dir}")
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def cmd_validate(args) -> int:
    paths = _select_files(args)
    good, ok = _validate(paths)
    for pf in good:
        print(f"ok    {pf.path}")
    return EXIT_OK if ok else EXIT_BAD_INPUT


def cmd_list(args) -> int:
    from .parameters import discover
    from .runner import freshness, read_state, validate_files

    reports_dir = _reports_dir(args)
    paths = discover()
    good, errors = validate_files(paths)
    rows = []
    for pf in good:
        state = read_state(reports_dir, pf)
        rows.append((f"{pf.topic}/{pf.variant}", str(pf.path.relative_to(config.PROJECT_DIR)),
                     freshness(reports_dir, pf), state.get("finished", "–"), state.get("error") or ""))
    for err in errors:
        rows.append(("?", err.path, "invalid", "–", err.problems[0]))
    widths = [max(len(r[i]) for r in rows + [("report", "parameter file", "status", "last run", "")])
              for i in range(4)]
    header = ("report", "parameter file", "status", "last run")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + (f"  {row[4]}" if row[4] else ""))
    return EXIT_OK


def cmd_publish(args) -> int:
    from .publish import PublishError, publish

    reports_dir = _reports_dir(args)
    try:
        site = publish(reports_dir, engine=args.engine)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"site: {site / 'index.html'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmresearch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add_reports_dir(p):
        p.add_argument("--reports-dir", metavar="DIR", help="write and read reports here (default: reports/)")

    run = sub.add_parser("run", help="validate parameter files, then execute their notebooks")
    run.add_argument("params", nargs="*", help="parameter files (params/<topic>/<variant>.yaml)")
    run.add_argument("--all", action="store_true", help="every file under params/")
    run.add_argument("--force", action="store_true", help="re-run reports that are up to date")
    run.add_argument("-j", "--jobs", type=int, default=1, help="reports run in parallel (default 1)")
    add_reports_dir(run)
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="only validate parameter files (exit 2 when any is invalid)")
    val.add_argument("params", nargs="*")
    val.add_argument("--all", action="store_true")
    val.set_defaults(func=cmd_validate)

    lst = sub.add_parser("list", help="reports, their parameter files and whether each is fresh")
    add_reports_dir(lst)
    lst.set_defaults(func=cmd_list)

    pub = sub.add_parser("publish", help="render the website (HTML + PDF) into <reports>/_site")
    pub.add_argument("--engine", choices=["auto", "quarto", "pandoc"], default="auto",
                     help="quarto when a quarto executable exists, else pandoc + Typst (default auto)")
    add_reports_dir(pub)
    pub.set_defaults(func=cmd_publish)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "jobs", 1) < 1:
        parser.error("-j/--jobs must be at least 1")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
