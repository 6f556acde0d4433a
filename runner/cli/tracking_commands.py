"""`runner runs` and `runner compare`: MLflow's runs from the terminal (mlflow imported per command)."""

from __future__ import annotations

import datetime as dt
import math


def add_commands(sub) -> None:
    p = sub.add_parser("runs", help="recent runs in MLflow with their key metrics")
    p.add_argument("--problem", default=None, metavar="P", help="only runs of this problem")
    p.add_argument("--limit", type=_limit, default=20, metavar="N", help="at most N runs (default 20, at most 10000)")
    _add_uri_flag(p)
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("compare", help="hparams that differ between runs, and their metrics side by side")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="MLflow run ids, spec hashes (or unique prefixes of either, as `runner runs` shows them), "
                        "or run folders")
    _add_uri_flag(p)
    p.set_defaults(handler=cmd_compare)


def _limit(text: str) -> int:
    """argparse type for --limit: a whole number 1..10000 (MLflow's page size), else argparse's usage error."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of runs, got {text!r}") from None
    if not 1 <= value <= 10000:
        raise argparse.ArgumentTypeError(f"expected 1 to 10000 runs, got {value}")
    return value


def _add_uri_flag(parser) -> None:
    parser.add_argument("--tracking-uri", default=None, metavar="URI",
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")


def cmd_runs(args) -> int:
    from rich.table import Table

    from runner.tracking.query import KEY_METRICS, recent_runs
    from runner.tracking.uri import check, display, resolve_uri

    uri = resolve_uri(args.tracking_uri)
    check(uri, create=False)  # read-only: never creates a database
    runs = recent_runs(uri, args.problem, args.limit)
    console = _console()
    if not runs:
        console.print(f"no runner runs at {display(uri)}" + (f" for problem {args.problem}" if args.problem else ""),
                      highlight=False)
        return 0
    shown = [m for m in KEY_METRICS if any(m in r.key_metrics() for r in runs)]
    table = Table(title=f"runs at {display(uri)} (metrics: final test-split values)", title_justify="left", show_edge=False, pad_edge=False)
    for column in ("run", "recipe", "problem", "hparams", "status", "started", *shown, "spec_hash"):
        table.add_column(column, no_wrap=column != "problem", justify="right" if column in shown else "left")
    for r in runs:
        values = r.key_metrics()
        table.add_row(
            r.run_id[:8], r.tags.get("recipe", r.name), r.tags.get("problem", ""), r.tags.get("hparams_set", ""),
            r.status, _when(r.start_time), *[_fmt(values.get(m)) for m in shown], r.tags.get("spec_hash", "")[:12],
        )
    console.print(table)
    return 0


def cmd_compare(args) -> int:
    from rich.table import Table

    from runner.tracking.query import differing_params, find_runs, metric_table
    from runner.tracking.uri import check, resolve_uri

    uri = resolve_uri(args.tracking_uri)
    check(uri, create=False)  # read-only: never creates a database
    runs = find_runs(uri, args.runs)
    console = _console()
    heads = [f"{r.run_id[:12]}\n{r.name}" for r in runs]

    params = differing_params(runs)
    table = Table(title="hparams and settings that differ", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("param", no_wrap=True)
    for head in heads:
        table.add_column(head)
    for key, values in params.items():
        table.add_row(key, *["-" if v is None else v for v in values])
    if not params:
        table.add_row("(every param is the same)", *["" for _ in runs])
    console.print(table)
    console.print()

    table = Table(title="metrics, latest value (plain name = test split, eval_<name> = eval split)", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("metric", no_wrap=True)
    for head in heads:
        table.add_column(head, justify="right")
    for key, values in metric_table(runs).items():
        table.add_row(key, *[_fmt(v) for v in values])
    console.print(table)
    return 0


def _console():
    """A terminal's own width; a pipe or file gets wide lines rather than squeezed columns."""
    import sys

    from rich.console import Console

    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M") if ms else "-"
