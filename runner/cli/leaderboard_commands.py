"""`runner leaderboard add | build | check | reproduce | refresh`: the leaderboard from the terminal.

Exit status: 0 fine; 1 the committed pages drifted (check) or a reproduction did not match
(reproduce); 2 bad input (a malformed record or references file, an unusable run folder).
"""

from __future__ import annotations

import sys

TIER_CHOICES = ("cpu-ci", "cpu", "gpu")  # runner.leaderboard.paths.TIERS; not imported, to keep --help fast


def add_commands(sub) -> None:
    p = sub.add_parser("leaderboard", help="records of results -> leaderboard/README.md and index.html; check; reproduce")
    actions = p.add_subparsers(dest="leaderboard_action", metavar="ACTION", required=True)

    a = actions.add_parser("add", help="write a record from a finished run folder, or from several seeds' (or "
                                       "folds') runs of one spec (and rebuild the pages)")
    a.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                   help="one run folder; or 3+ run folders of the same spec but for train.seed (or folds: but for "
                        "problem.test_speakers, each voice held out in turn): the record holds each run, shows "
                        "their mean ± standard deviation, and its tolerance is 2 x that standard deviation")
    a.add_argument("--tier", required=True, choices=TIER_CHOICES,
                   help="cpu-ci: seconds to minutes on CPU, reproduced bit-exactly in CI; cpu: longer CPU runs; gpu")
    a.add_argument("--command", action="append", default=None,
                   help="the `runner run ...` command that made the run (default: derived from its recipe); "
                        "it must resolve to the run's spec_hash; with several run folders, one each, in order")
    a.add_argument("--metric", default=None, help="which reported metric to record (default: the problem's headline)")
    a.add_argument("--tolerance", type=float, default=None,
                   help="largest |reproduced - recorded| for cpu/gpu records (default per metric; cpu-ci: 0)")
    a.add_argument("--mlflow-run-id", default=None, help="default: read from the run folder's mlflow_run.json")
    a.add_argument("--data-dir", default=None, help="the data cache the run used (for the data fingerprint)")
    a.add_argument("--no-build", action="store_true", help="write the record only; do not rebuild the pages")
    _dir_flag(a)
    a.set_defaults(handler=cmd_add)

    b = actions.add_parser("build", help="regenerate leaderboard/README.md and index.html from the records")
    _dir_flag(b)
    b.set_defaults(handler=cmd_build)

    c = actions.add_parser("check", help="fail (exit 1) if the committed pages differ from a fresh build")
    c.add_argument("--skip-commands", action="store_true",
                   help="do not check that each record's command still resolves to its spec_hash")
    _dir_flag(c)
    c.set_defaults(handler=cmd_check)

    r = actions.add_parser("reproduce", help="re-run records' commands and compare their metrics with the records")
    _rerun_flags(r, jobs_help="reproductions run at the same time (default 1)")
    r.set_defaults(handler=cmd_reproduce)

    f = actions.add_parser("refresh", help="re-run records' commands and rewrite the records (after a deliberate "
                                           "change of results); then rebuild the pages")
    _rerun_flags(f, jobs_help="runs at the same time (default 1)")
    f.set_defaults(handler=cmd_refresh)


def _rerun_flags(parser, jobs_help: str) -> None:
    """The flags of the commands that re-run records' commands (reproduce, refresh)."""
    parser.add_argument("--tier", default="cpu-ci", choices=TIER_CHOICES + ("all",),
                        help="which records (default cpu-ci)")
    parser.add_argument("--jobs", type=int, default=1, help=jobs_help)
    parser.add_argument("--record", action="append", default=[], metavar="NAME",
                        help="only this record file (repeatable); reproduce also takes FILE#seed=2 (or "
                             "FILE#problem.test_speakers=[theo]) for one run of a record of seeds or folds")
    parser.add_argument("--data-dir", default=None, help="data cache folder for the re-runs")
    _dir_flag(parser)


def _dir_flag(parser) -> None:
    parser.add_argument("--dir", default=None, metavar="LEADERBOARD_DIR",
                        help="the leaderboard folder (default: leaderboard/ beside the runner package, "
                             "or $RUNNER_LEADERBOARD)")


def _root(args):
    from pathlib import Path

    from runner.leaderboard.paths import default_leaderboard_dir

    return Path(args.dir) if args.dir else default_leaderboard_dir()


def _root_with_records(args):
    """The leaderboard folder, which must hold records/: checking or re-running nothing is not a success."""
    from runner.leaderboard.paths import RECORDS
    from runner.specs.errors import Location, SpecError

    root = _root(args)
    if not (root / RECORDS).is_dir():
        raise SpecError(f"no {RECORDS}/ folder here, so there is nothing to check or re-run; is --dir (or "
                        "$RUNNER_LEADERBOARD) the leaderboard folder?", Location(str(root)))
    return root


def cmd_add(args) -> int:
    from runner.leaderboard.capture import record_from_run
    from runner.specs.errors import SpecError

    before = _record_values(_root(args))
    if len(args.run_dirs) > 1:
        from runner.leaderboard.seeds import record_from_seeds

        for flag, value in (("--tolerance", args.tolerance), ("--mlflow-run-id", args.mlflow_run_id)):
            if value is not None:
                raise SpecError(f"{flag} is for one run folder; several seeds' record takes its tolerance from their "
                                "spread and each run's MLflow id from its folder", None, flag)
        path = record_from_seeds(args.run_dirs, args.tier, args.command, metric=args.metric, data_dir=args.data_dir,
                                 leaderboard_dir=_root(args), rebuild=not args.no_build)
    else:
        if args.command and len(args.command) > 1:
            raise SpecError(f"{len(args.command)} --command for one run folder; give one", None, "--command")
        path = record_from_run(args.run_dirs[0], args.tier, args.command[0] if args.command else None,
                               metric=args.metric, tolerance=args.tolerance, mlflow_run_id=args.mlflow_run_id,
                               data_dir=args.data_dir, leaderboard_dir=_root(args), rebuild=not args.no_build)
    print(f"recorded {path}" + ("" if args.no_build else "; README.md and index.html rebuilt"))
    if path.name in before:  # one file per (spec, metric, tier): say so rather than replace a result silently
        print(f"it replaced the record of the same spec, metric and tier, whose value was {before[path.name]} "
              "(git keeps the old file if it was committed)")
    return 0


def _record_values(root) -> dict[str, object]:
    """Each existing record file's name -> its value, read before `add` may replace one."""
    from runner.leaderboard.paths import RECORDS
    from runner.specs.errors import SpecError
    from runner.specs.loader import load_yaml  # bounded: a hostile record costs no more than a spec

    values = {}
    for path in sorted((root / RECORDS).glob("*.yaml")):
        try:
            data = load_yaml(path).data
            values[path.name] = data.get("value") if isinstance(data, dict) else "unreadable"
        except SpecError:  # a broken file is `check`'s to report, not add's
            values[path.name] = "unreadable"
    return values


def cmd_build(args) -> int:
    from runner.leaderboard.build import write_pages

    root = _root(args)
    written = write_pages(root)
    print("\n".join(f"wrote {p}" for p in written) if written else f"{root}: already up to date")
    return 0


def cmd_check(args) -> int:
    from runner.leaderboard.build import check, load_entries

    root = _root_with_records(args)
    drifts = check(root, verify_commands=not args.skip_commands)
    if drifts:
        for drift in drifts:
            print(f"{root / drift.path}: {drift.summary}", file=sys.stderr)
        print(f"leaderboard check failed: {len(drifts)} file(s) differ from a fresh build", file=sys.stderr)
        return 1
    print(f"{root}: current ({len(load_entries(root))} records)")
    return 0


def cmd_refresh(args) -> int:
    from runner.leaderboard.reproduction import refresh

    written = refresh(_root_with_records(args), tier=None if args.tier == "all" else args.tier, jobs=args.jobs,
                      data_dir=args.data_dir, names=args.record)
    for path in written:
        print(f"rewrote {path}", file=sys.stderr)
    return 0 if written else 1


def cmd_reproduce(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from runner.leaderboard.metric_info import format_value
    from runner.leaderboard.reproduction import reproduce

    root = _root_with_records(args)
    tier = None if args.tier == "all" else args.tier

    def progress(result) -> None:
        status = "ok" if result.ok else "MISMATCH"
        print(f"{status}: {result.entry.file_name} ({result.seconds:.0f} s) {result.note}", file=sys.stderr, flush=True)

    results = reproduce(root, tier=tier, jobs=args.jobs, data_dir=args.data_dir, names=args.record, on_done=progress)
    if not results:
        print(f"no {args.tier} records to reproduce in {root}", file=sys.stderr)
        return 1
    table = Table(title=f"reproduce --tier {args.tier}")
    for column in ("record", "metric", "recorded", "reproduced", "difference", "tolerance", "time", "result"):
        table.add_column(column, justify="right" if column in ("recorded", "reproduced", "difference", "time") else "left")
    for res in results:
        r = res.entry.record
        table.add_row(
            res.entry.file_name, r.metric, repr(r.value), "-" if res.reproduced is None else repr(res.reproduced),
            "-" if res.difference is None else f"{res.difference:+.3g}",
            "exact" if r.tolerance == 0 else f"±{r.tolerance:g} ({format_value(r.metric, r.tolerance)})",
            f"{res.seconds:.0f} s", "[green]ok[/green]" if res.ok else f"[red]{res.note}[/red]",
        )
    console = Console()
    if not console.is_terminal:  # CI logs: do not squeeze record names into 80 columns
        console = Console(width=220)
    console.print(table)
    failed = [res for res in results if not res.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} reproductions did not match", file=sys.stderr)
        return 1
    return 0
