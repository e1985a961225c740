"""`crmresearch` command line: run, list, publish, validate.

Exit codes: 0 success; 1 a report failed to run or publish, or the run was stopped (Ctrl-C,
SIGTERM); 2 bad input (parameter files, data files, command-line arguments, a reports folder
that cannot be written), detected before any kernel starts. Every error is one line on stderr;
`--debug` adds the Python traceback.
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


class UsageError(Exception):
    """Bad input found by the command line itself: one line, exit 2."""


def _writable_reports_dir(reports_dir: Path) -> None:
    """A reports folder we can create files in, checked before anything runs."""
    import tempfile

    try:
        (reports_dir / "_state").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=reports_dir / "_state"):
            pass
    except OSError as exc:
        raise UsageError(f"reports folder {reports_dir} is not writable ({exc.strerror or exc}); "
                         "choose another with --reports-dir") from None


def cmd_run(args) -> int:
    from .runner import RunInterrupted, report_owner_conflicts, run_reports

    reports_dir = _reports_dir(args)
    paths = _select_files(args)
    if not paths:
        print("error: no parameter files given (name files or use --all)", file=sys.stderr)
        return EXIT_BAD_INPUT
    good, ok = _validate(paths)
    if not ok:
        return EXIT_BAD_INPUT
    _writable_reports_dir(reports_dir)
    conflicts = report_owner_conflicts(good, reports_dir)
    for err in conflicts:
        print(f"error: {err.path}: {err.problems[0]}", file=sys.stderr)
    if conflicts:
        return EXIT_BAD_INPUT
    started = time.perf_counter()
    try:
        outcomes = run_reports(good, reports_dir, jobs=args.jobs, force=args.force)
    except RunInterrupted as exc:
        sys.stdout.flush()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
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
        try:
            status = freshness(reports_dir, pf)
        except OSError as exc:
            status, state = "unknown", {**state, "error": f"cannot check: {exc.strerror or exc}"}
        shown = pf.path.relative_to(config.PROJECT_DIR) if pf.path.is_relative_to(config.PROJECT_DIR) else pf.path
        rows.append((f"{pf.topic}/{pf.variant}", str(shown), status, str(state.get("finished", "–")),
                     str(state.get("error") or "")))
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
    except OSError as exc:
        print(f"error: publish could not write in {reports_dir} ({exc.strerror or exc}"
              f"{': ' + str(exc.filename) if exc.filename else ''})", file=sys.stderr)
        return EXIT_FAILED
    print(f"site: {site / 'index.html'}")
    return EXIT_OK


def cmd_generate_log(args) -> int:
    """A synthetic transaction log (Parquet) for trying the engine layer at company scale."""
    from .engine.generate import write_log

    try:
        path = write_log(args.path, transactions=int(args.transactions),
                         customers=int(args.customers) if args.customers else None, seed=args.seed,
                         partition=None if args.plain else "month", overwrite=args.overwrite)
    except FileExistsError:
        print(f"error: {args.path}: exists already (add --overwrite to replace it)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as exc:        # a bad argument, or a path that holds something else (LogPathError)
        print(f"error: {args.path}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:           # full disk, read-only folder: the previous log is as it was
        print(f"error: {args.path}: could not write the log ({exc.strerror or exc}); nothing was replaced",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"log: {path}")
    return EXIT_OK


def _count(text: str) -> float:
    """1e8, 100000000 or 100_000_000 (a count given on the command line)."""
    value = float(text.replace("_", ""))
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1 (got {text})")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors in one line (and exit 2); the usage stays one `--help` away."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="crmresearch", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_reports_dir(p):
        p.add_argument("--reports-dir", metavar="DIR", help="write and read reports here (default: reports/)")
        add_debug(p)

    def add_debug(p):
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show Python tracebacks of errors")

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
    add_debug(val)
    val.set_defaults(func=cmd_validate)

    lst = sub.add_parser("list", help="reports, their parameter files and whether each is fresh")
    add_reports_dir(lst)
    lst.set_defaults(func=cmd_list)

    pub = sub.add_parser("publish", help="render the website (HTML + PDF) into <reports>/_site")
    pub.add_argument("--engine", choices=["auto", "quarto", "pandoc"], default="auto",
                     help="quarto when a quarto executable exists, else pandoc + Typst (default auto)")
    add_reports_dir(pub)
    pub.set_defaults(func=cmd_publish)

    gen = sub.add_parser("generate-log", help="write a synthetic transaction log as Parquet (for the engine layer)")
    gen.add_argument("path", help="output folder (hive-partitioned by month) or file with --plain")
    gen.add_argument("--transactions", type=_count, default=1e6, help="number of transactions, e.g. 1e8")
    gen.add_argument("--customers", type=_count, default=None, help="number of customers (default: one per 10)")
    gen.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    gen.add_argument("--plain", action="store_true", help="one Parquet file instead of month partitions")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing log")
    add_debug(gen)
    gen.set_defaults(func=cmd_generate_log)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "jobs", 1) < 1:
        parser.error("-j/--jobs must be at least 1")
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`crmresearch list | head -1`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the one place every error becomes one line
        if getattr(args, "debug", False):
            raise
        return _report_error(exc)
    except KeyboardInterrupt:
        if getattr(args, "debug", False):
            raise
        print("error: interrupted", file=sys.stderr)
        return EXIT_FAILED


def _report_error(exc: Exception) -> int:
    from .parameters import ParameterFileError

    try:
        sys.stdout.flush()
    except OSError:
        pass
    if isinstance(exc, UsageError):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if isinstance(exc, ParameterFileError):
        print(f"error: {exc.path}: {exc.problems[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        return EXIT_FAILED
    text = " ".join(str(exc).split())[:300]
    print(f"error: {type(exc).__name__}: {text} (run again with --debug for the traceback)", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
