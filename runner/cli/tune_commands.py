"""`runner tune`: a Ray Tune sweep over a recipe's hparams range (T2T's --autotune), from the terminal.

    runner tune catalog/recipes/reverse_tune_cpu.yaml --output-dir runs/sweep
    runner tune RECIPE --range transformer_base_range -o tune.max_trials=20 --save-as my_best
    runner tune RECIPE --record cpu     # and the best trial becomes a leaderboard record

Every bad input (a range over an unknown hparam, low >= high, an objective the loop does not
report, a grid larger than max_trials, ...) fails with exit status 2 before Ray starts. At the
end: a table of the trials, the best config, and the best config as an hparams set in
OUTPUT_DIR/best_hparams.yaml (and in the catalog's hparams/NAME.yaml with --save-as NAME).
OUTPUT_DIR/best links to the best trial's run folder, a run folder like `runner run` writes
(`runner leaderboard add OUTPUT_DIR/best --tier T` records it; `--record T` does that at the end).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from runner.cli.spec_commands import add_override_flag
from runner.leaderboard.paths import TIERS
from runner.specs.errors import Location, SpecError


def add_commands(sub) -> None:
    p = sub.add_parser("tune", help="a Ray Tune sweep over the recipe's hparams range (T2T --autotune)")
    p.add_argument("recipe", metavar="RECIPE", help="a recipe file or catalog recipe name")
    add_override_flag(p)
    p.add_argument("--range", default=None, metavar="NAME",
                   help="the hparams range to search (default: the recipe's tune.range)")
    p.add_argument("--output-dir", default=None, metavar="DIR",
                   help="the sweep's folder (default: runs/<recipe>-<spec_hash[:12]>-tune); re-running resumes it")
    p.add_argument("--save-as", default=None, metavar="NAME",
                   help="also write the best config as the catalog's hparams/NAME.yaml (never overwrites)")
    p.add_argument("--record", default=None, metavar="TIER", choices=TIERS,
                   help="when the sweep is complete, record the best trial on the leaderboard at this tier "
                        f"({', '.join(TIERS)}); the same as `runner leaderboard add OUTPUT_DIR/best --tier TIER`")
    p.add_argument("--data-dir", default=None, help="data cache folder")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="join this Ray cluster (default: $RAY_ADDRESS, else an embedded local Ray)")
    p.set_defaults(handler=cmd_tune)


def cmd_tune(args) -> int:
    from rich.console import Console

    from runner.launch.tune import run_sweep, sweep_plan
    from runner.specs.resolve import resolve

    overrides = list(args.overrides) + ([f"tune.range={args.range}"] if args.range else [])
    experiment = resolve(args.recipe, overrides)
    plan = sweep_plan(experiment, args.recipe, args.output_dir)
    save_path = save_as_path(args.recipe, args.save_as) if args.save_as else None
    if args.record and plan.scheduler.type == "pbt":
        raise SpecError(PBT_NOT_RECORDABLE, field="--record")
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    _print_plan(console, experiment, plan)
    outcome = run_sweep(experiment, args.recipe, overrides, plan.output_dir, args.data_dir, args.address,
                        console, plan)
    out = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 160)
    out.print(trials_table(outcome))
    incomplete = [t for t in outcome.trials if t.status in ("pending", "unfinished")]
    if incomplete:
        console.print(f"{len(incomplete)} of {len(outcome.trials)} trials did not finish (interrupted?); re-run the "
                      "same command to continue the sweep (finished trials are kept)")
    if outcome.best is None:
        print("no trial reported the objective; see the errors above and Ray's logs in "
              f"{os.path.join(plan.output_dir, 'ray_session_logs')}", file=sys.stderr)
        return 1
    best = outcome.best
    out.print(f"best trial {best.trial_id}: {plan.objective} {best.objective:.6g} at step {best.step} "
              f"(spec_hash {best.spec_hash[:12]}, MLflow run {best.mlflow_run_id})")
    out.print("best config: " + ", ".join(f"{k}={_fmt(v)}" for k, v in best.config.items()))
    out.print(f"best hparams set: {outcome.best_hparams_path}")
    if outcome.plot_path:
        out.print(f"plot: {outcome.plot_path}")
    if incomplete:
        return 1  # the best so far is written, but --save-as waits for the whole sweep
    if save_path is not None:
        out.print(f"saved as hparams set '{save_path.stem}': {save_best(save_path, outcome.best_hparams_text)}")
    if args.record:
        out.print(f"recorded {record_best(outcome, args.record, args.data_dir)}")
    return 0


PBT_NOT_RECORDABLE = ("--record: a PBT trial trains under hparams that change mid-run, so no single `runner run` "
                      "command reproduces it, and a leaderboard record must be reproducible; train the best "
                      "hparams set (best_hparams.yaml) with `runner run` and record that run instead")


def record_best(outcome, tier: str, data_dir: str | None) -> str:
    """The best trial's run folder -> a leaderboard record (its command is a plain `runner run`)."""
    from runner.leaderboard.capture import record_from_run

    best = outcome.best
    if best.segments > 1:
        raise SpecError(PBT_NOT_RECORDABLE, field="--record")
    if best.status != "finished":
        raise SpecError(f"--record: the best trial {best.trial_id} was {best.status} at step {best.step} before "
                        f"train.steps; only a trial that trained to the end and was scored on the test split can "
                        f"be recorded", field="--record")
    return str(record_from_run(best.trial_dir, tier, data_dir=data_dir))


def save_as_path(recipe: str, name: str) -> Path:
    """Where --save-as NAME writes: hparams/NAME.yaml of the recipe's catalog; checked before the sweep."""
    from runner.launch.tune import recipe_catalog

    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) or name.endswith((".yaml", ".yml")):
        raise SpecError(f"--save-as {name!r}: expected a set name such as my_best (letters, digits, _ . -; "
                        "no folder, no .yaml)", field="--save-as")
    path = recipe_catalog(recipe).roots[0] / "hparams" / f"{name}.yaml"
    if path.exists():
        raise SpecError(f"--save-as {name}: {path} already exists; choose another name (an existing set is "
                        "never overwritten)", Location(str(path)), "--save-as")
    return path


def save_best(path: Path, text: str) -> str:
    """Write the best set into the catalog and check it like `runner validate` does."""
    from runner.specs.check import validate_paths
    from runner.tune_space import write_new_file

    written = write_new_file(str(path), text)
    _, errors = validate_paths([written])
    if errors:
        os.remove(written)
        raise SpecError.merge(errors)
    return written


def trials_table(outcome):
    from rich.table import Table

    plan = outcome.plan
    table = Table(title=f"{len(outcome.trials)} trials, {plan.search} search, {plan.scheduler.type} "
                  f"({plan.objective}, {plan.mode})", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("trial", no_wrap=True)
    for dim in plan.dimensions:
        table.add_column(dim.name, justify="right")
    table.add_column(plan.objective, justify="right")
    table.add_column("steps", justify="right")
    table.add_column("status")
    best_id = outcome.best.trial_id if outcome.best else None
    for t in outcome.trials:
        status = t.status + (f" (started {t.starts}x)" if t.starts > 1 else "") + (f": {t.error}" if t.error else "")
        table.add_row(
            t.trial_id + (" *" if t.trial_id == best_id else ""),
            *[_fmt(t.config.get(d.name)) for d in plan.dimensions],
            "" if t.objective is None else f"{t.objective:.5g}",
            "" if t.step is None else str(t.step),
            status,
            style="bold" if t.trial_id == best_id else None,
        )
    return table


def _print_plan(console, experiment, plan) -> None:
    console.print(f"[bold]tune {experiment.recipe}[/] (spec_hash {experiment.spec_hash[:12]}) -> {plan.output_dir}")
    console.print(f"  search {plan.search}: {plan.trials} trials, {plan.parallel_trials} at a time, "
                  f"each {experiment.resources.workers} worker(s); {plan.objective} ({plan.mode})")
    console.print(f"  {plan.scheduler.describe()}")
    for dim in plan.dimensions:
        console.print(f"  {dim.describe()}")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
