"""The flags of `runner run`, in one place below both of their readers: the CLI (which runs the
command) and the leaderboard (which parses the `runner run ...` command a record keeps, with the
same parser, so a flag `runner run` does not accept is refused there too). argparse only.
"""

from __future__ import annotations

import argparse


def add_override_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--override", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override a value, e.g. -o hparams.hidden_size=256 -o train.steps=100 (repeatable)",
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Every argument of `runner run`."""
    p.add_argument("recipe", metavar="RECIPE",
                   help="a recipe file or catalog name; or a run folder (or its experiment.yaml) to resume or "
                        "repeat exactly that spec, in that folder unless --output-dir says otherwise")
    add_override_flag(p)
    p.add_argument("--output-dir", default=None, help="run folder (default: runs/<recipe>-<spec_hash[:12]>)")
    p.add_argument("--data-dir", default=None, help="data cache folder")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="join this Ray cluster (default: $RAY_ADDRESS, else a local Ray started for the run)")
    p.add_argument("--dry-run", action="store_true", help="print the launch plan; start and train nothing")
    p.add_argument("--in-process", action="store_true",
                   help="run the loop in this process, without Ray (debugging)")
    p.add_argument("--replay-steps", type=int, default=None, metavar="N",
                   help="train exactly N steps with the time budget off, same spec and spec_hash: replays a "
                        "time-budgeted run up to the step it reached (`runner leaderboard reproduce` does this)")
    p.add_argument("--record", choices=["cpu-ci", "cpu", "gpu"], default=None, metavar="TIER",
                   help="add the finished run to leaderboard/records in this tier (cpu-ci, cpu or gpu)")


def run_parser() -> argparse.ArgumentParser:
    """A parser for the words after `runner run`."""
    parser = argparse.ArgumentParser(prog="runner run")
    add_run_arguments(parser)
    return parser
