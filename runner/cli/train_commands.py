"""`runner datagen`, `runner run`, `runner decode`, `runner average`: training from the terminal."""

from __future__ import annotations

import json
import sys

from runner.run_flags import add_override_flag, add_run_arguments


def add_commands(sub) -> None:
    p = sub.add_parser("datagen", help="generate and cache a problem's data (T2T --generate_data)")
    p.add_argument("target", metavar="RECIPE_OR_PROBLEM", help="a recipe or problem (file or catalog name)")
    p.add_argument("--data-dir", default=None, help="cache folder (default: $RUNNER_DATA_DIR or ~/.cache/runner/data)")
    add_override_flag(p)
    p.set_defaults(handler=cmd_datagen)

    p = sub.add_parser("run", help="datagen if needed, train, evaluate, decode the test split")
    add_run_arguments(p)  # runner/run_flags.py: shared with the leaderboard's parsing of record commands
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("decode", help="translate a file with a trained run (sorted by length inside, original order out)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--from-file", required=True, help="one input per line")
    p.add_argument("--to-file", required=True, help="where to write one output per line")
    p.add_argument("--checkpoint", default=None, help="a checkpoint folder (default: the run's latest)")
    p.add_argument("--data-dir", default=None)
    add_override_flag(p)
    p.set_defaults(handler=cmd_decode)

    p = sub.add_parser("average", help="average the last N checkpoints of a run into one")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--last", type=int, default=5, metavar="N")
    p.set_defaults(handler=cmd_average)


def cmd_datagen(args) -> int:
    import time

    from runner import problems
    from runner.run_dir import default_data_dir
    from runner.specs.catalog import Catalog
    from runner.specs.check import kind_of
    from runner.specs.resolve import load_problem, resolve

    start = time.perf_counter()
    _check_paths(None, args.data_dir)
    cat = Catalog.for_file(None)
    target = args.target
    from pathlib import Path

    is_problem = (Path(target).is_file() and kind_of(Path(target)) == "problem") or (
        not Path(target).is_file() and target in cat.names("problem"))
    if is_problem:
        from runner.specs.overrides import parse_cli

        overrides = [o for o in parse_cli(args.overrides) if o.section == "problem" and len(o.path) > 1]
        spec = load_problem(Catalog.for_file(target if Path(target).is_file() else None), target, overrides)
    else:
        spec = resolve(target, args.overrides).problem
    data = problems.build(spec, args.data_dir or default_data_dir())
    sizes = {name: len(data.split(name)) for name in ("train", "eval", "test")}
    print(f"{spec.name}: fingerprint {data.fingerprint[:12]}, "
          + ", ".join(f"{k} {v}" for k, v in sizes.items()) + f" ({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_run(args) -> int:
    from runner import api
    from runner.cli.spec_commands import spec_argument
    from runner.run_dir import default_output_dir

    spec = spec_argument(args.recipe)
    experiment = api.resolve(spec, args.overrides)
    if args.replay_steps is not None:
        experiment = _with_replay(experiment, args.replay_steps)
    output_dir = args.output_dir or _own_run_folder(spec, experiment) or default_output_dir(experiment)
    _check_paths(output_dir, args.data_dir)
    if args.record and args.dry_run:
        from runner.specs.errors import SpecError

        raise SpecError("--record needs a finished run; drop --dry-run or --record")
    if not args.dry_run:
        _record_command(output_dir, experiment, args)
    if not args.in_process:
        status = _run_on_ray(experiment, output_dir, args)
    else:
        if args.address or args.dry_run:
            from runner.specs.errors import SpecError

            raise SpecError("--in-process trains here, without Ray; drop --address / --dry-run, or drop --in-process")
        print(f"run {experiment.recipe} (spec_hash {experiment.spec_hash[:12]}) -> {output_dir}", file=sys.stderr)
        from runner.training.loop import NonFiniteLoss

        try:
            metrics = api.train(experiment, output_dir, args.data_dir, track=True)
        except NonFiniteLoss as exc:  # a failed run, not bad input: exit 1, like a failed Ray run
            print(f"error: training failed: {exc}", file=sys.stderr)
            return 1
        _print_final(experiment, metrics)
        status = 0
    if status == 0 and not args.dry_run and is_smoke_test(experiment.recipe):
        print(f"note: {experiment.recipe} is a smoke test: it checks that the whole pipeline runs, in seconds; its "
              f"metrics mean nothing. To see a model learn: `runner run {QUICK_RECIPE}` (a few minutes on a CPU)",
              file=sys.stderr)
    if status == 0 and args.record:
        from runner.leaderboard import record_from_run

        path = record_from_run(output_dir, args.record, data_dir=args.data_dir)
        print(f"leaderboard record -> {path}", file=sys.stderr)
    return status


SMOKE_SUFFIX = "_ci"  # recipes named *_ci are smoke tests (CI runs them); their descriptions say so too
QUICK_RECIPE = "reverse_cpu"  # the README's first command: a CPU run that visibly learns


def is_smoke_test(recipe: str) -> bool:
    return recipe.endswith(SMOKE_SUFFIX)


def _record_command(output_dir: str, experiment, args) -> None:
    """command.txt: how this run was started or resumed. The folder is claimed first (another spec's
    folder is refused before anything is written into it); a finished run records nothing, and a
    run that fails before training forgets the line with its claim (RunDir.release_if_unstarted)."""
    import datetime as dt
    import os

    from runner.run_dir import RunDir

    run_dir = RunDir(output_dir)
    run_dir.claim(experiment)
    if run_dir.final_metrics() is None:
        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        run_dir.record_command(getattr(args, "argv", None) or ["run", args.recipe], list(args.overrides),
                               os.getcwd(), when)


def _own_run_folder(spec: str, experiment) -> str | None:
    """The folder a run folder's experiment.yaml came from, when it is this very spec (resume there)."""
    from pathlib import Path

    from runner.run_dir import SPEC_FILE, load_experiment
    from runner.specs.errors import SpecError

    path = Path(spec)
    if path.name != SPEC_FILE or not path.is_file():
        return None
    try:
        if load_experiment(str(path.parent)).spec_hash == experiment.spec_hash:
            return str(path.parent)
    except SpecError:  # not a readable run folder: the default folder
        return None
    return None


def _with_replay(experiment, steps: int):
    from pydantic import ValidationError

    from runner.specs.errors import SpecError
    from runner.specs.experiment import Experiment

    try:  # validated again: replay_steps needs a time budget and at most train.steps
        return Experiment.from_dict({**experiment.to_dict(), "replay_steps": steps})
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise SpecError(f"{steps}: {reason}", None, "--replay-steps") from None


def _run_on_ray(experiment, output_dir: str, args) -> int:
    from runner.launch import TrainingFailed, run_on_ray

    try:
        metrics = run_on_ray(experiment, output_dir, args.data_dir, address=args.address, dry_run=args.dry_run)
    except TrainingFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.dry_run:
        _print_final(experiment, metrics)
    return 0


def headline_metric(experiment, metrics: dict) -> str | None:
    """The recipe's headline metric (the leaderboard's choice among the problem's metrics)."""
    from runner.leaderboard.metric_info import headline_of

    return headline_of([m for m in experiment.problem.metrics if m in metrics])


def ordered_final(experiment, metrics: dict) -> dict:
    """The final metrics, the headline first, then the problem's other test metrics, their eval_
    values, and the run's statistics."""
    headline = headline_metric(experiment, metrics)
    tested = [m for m in experiment.problem.metrics if m in metrics and m != headline]
    first = ([headline] if headline else []) + tested + [k for k in sorted(metrics) if k.startswith("eval_")]
    return {**{k: metrics[k] for k in first}, **{k: metrics[k] for k in sorted(metrics) if k not in first}}


def _print_final(experiment, metrics: dict) -> None:
    """The headline on stderr in words (test and eval split named), the whole result as JSON on stdout."""
    headline = headline_metric(experiment, metrics)
    if headline is not None and isinstance(metrics[headline], (int, float)):
        line = f"{headline} on the test split: {metrics[headline]:.6g}"
        if isinstance(metrics.get(f"eval_{headline}"), (int, float)):
            line += f" (eval split: {metrics[f'eval_{headline}']:.6g})"
        print(line, file=sys.stderr)
    print(json.dumps(ordered_final(experiment, metrics), indent=2))


def _check_paths(output_dir: str | None, data_dir: str | None) -> None:
    """Folders the command will write: refused now, before any work, if they cannot be."""
    from runner.cli.output_paths import check_output_dir

    if output_dir:
        check_output_dir(output_dir, "--output-dir")
    if data_dir:
        check_output_dir(data_dir, "--data-dir")


def cmd_decode(args) -> int:
    from runner.cli.output_paths import check_input_file, check_output_file
    from runner.inference import decode_file

    check_input_file(args.from_file, "--from-file")
    check_output_file(args.to_file, "--to-file")  # before minutes of decoding, not after
    count = decode_file(args.run_dir, args.from_file, args.to_file, args.checkpoint, args.data_dir, args.overrides)
    print(f"decoded {count} lines -> {args.to_file}", file=sys.stderr)
    return 0


def cmd_average(args) -> int:
    from runner.inference import average_run

    path = average_run(args.run_dir, args.last)
    print(f"averaged checkpoint -> {path}", file=sys.stderr)
    return 0
