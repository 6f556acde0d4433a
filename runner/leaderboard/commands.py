"""The `runner run ...` command a record carries: parse it, check it, or derive it. Torch-free.

A record's command must resolve to the record's spec_hash, so that running it reproduces
the same experiment; that is checked when the record is made and again by `check` (a
recipe edited after the record was made shows up as drift). Commands run from the
repository root, so relative recipe paths resolve the same way for everyone.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.run_dir import default_output_dir
from runner.specs.errors import Location, SpecError
from runner.specs.experiment import Experiment
from runner.specs.loader import parse_value

# Sections whose values `-o` can set; the rest are derived (global_batch) or not trained (tracking).
_OVERRIDABLE = ("problem", "hparams", "train", "decode", "resources", "tune")  # tune: a sweep trial's own settings
_NOT_VALUES = {"name", "description", "family"}


# `NAME=value` before `runner run` sets an environment variable for the run, as in a shell; e.g.
# OMP_NUM_THREADS=1 pins torch's CPU thread count, so a bit-exact result does not depend on how
# many cores the reproducing machine has (and a shared machine does not stall its threads).
# Records come from contributors and `reproduce` runs their commands, so only harmless thread
# counts are allowed: PYTHONPATH, LD_PRELOAD and the like would run code nobody asked for.
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
ALLOWED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
_THREAD_COUNT = re.compile(r"^[1-9][0-9]{0,3}$")
# The only `runner run` options a record's command may carry: the spec (recipe, -o) and where the
# run goes (replaced by reproduce). --address would join a stranger's cluster, --data-dir read or
# write data elsewhere, --record write into the leaderboard being checked.
_ALLOWED_FLAGS = ("-o", "--override", "--output-dir", "--in-process")


def check_env(env: list[tuple[str, str]] | tuple[tuple[str, str], ...], command: str,
              where: Location | None = None) -> None:
    """Refuse any environment setting but a thread count (ALLOWED_ENV=<1..9999>)."""
    for name, value in env:
        if name not in ALLOWED_ENV or not _THREAD_COUNT.match(value):
            raise SpecError(
                f"the command sets {name}={value!r}; a record's command may set only thread counts "
                f"({', '.join(ALLOWED_ENV)}) to a whole number, because `leaderboard reproduce` runs it: remove "
                f"the setting (in {command!r})", where, "command")


def _check_options(tokens: list[str], command: str, where: Location | None) -> None:
    for token in tokens[2:]:
        if token.startswith("-") and token.split("=", 1)[0] not in _ALLOWED_FLAGS and not token.startswith("-o"):
            raise SpecError(
                f"a record's command may carry only the recipe and its spec options "
                f"({', '.join(_ALLOWED_FLAGS)}); remove {token.split('=', 1)[0]} from {command!r}", where, "command")


def check_recipe(run: "RunCommand", root: Path, where: Location | None = None) -> None:
    """The recipe is a catalog name or a file inside the repository `root`, never a file elsewhere on the
    machine (whose plugins a reproduction would import)."""
    recipe = run.recipe
    if not ("/" in recipe or recipe.endswith((".yaml", ".yml"))):
        return  # a catalog name
    top = Path(root).resolve()
    path = (top / recipe).resolve()
    if top != path and top not in path.parents:
        raise SpecError(f"the recipe {recipe!r} is outside the repository {top}; a record's recipe must be a catalog "
                        f"name or a file inside the repository, so every reproducer runs the same file",
                        where, "command")


@dataclass(frozen=True)
class RunCommand:
    recipe: str
    overrides: tuple[str, ...]
    output_dir: str | None
    tokens: tuple[str, ...]  # the command split shell-style, from "runner" on
    env: tuple[tuple[str, str], ...] = ()  # NAME=value assignments written before "runner"

    def with_output_dir(self, output_dir: str) -> list[str]:
        """The command's arguments (after `runner`) with --output-dir replaced by `output_dir`."""
        args, skip = [], False
        for token in self.tokens[1:]:
            if skip:
                skip = False
                continue
            if token == "--output-dir":
                skip = True
                continue
            if token.startswith("--output-dir="):
                continue
            args.append(token)
        return args + ["--output-dir", output_dir]


def parse(command: str, where: Location | None = None) -> RunCommand:
    """Parse with the CLI's own parser, so a flag `runner run` does not accept is refused here too."""
    try:
        tokens = shlex.split(command)
    except ValueError as exc:
        raise SpecError(f"cannot split the command shell-style: {exc}", where, "command") from None
    env = []
    while tokens and _ENV_ASSIGNMENT.match(tokens[0]):
        name, _, value = tokens.pop(0).partition("=")
        env.append((name, value))
    if tokens[:2] != ["runner", "run"]:
        raise SpecError(f"expected a `[NAME=value ...] runner run RECIPE ...` command, got {command!r}",
                        where, "command")
    check_env(env, command, where)
    _check_options(tokens, command, where)
    from runner.run_flags import run_parser

    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):  # argparse prints usage and exits; say it our way
            args = run_parser().parse_args(tokens[2:])
    except SystemExit:
        reason = complaint.getvalue().strip().splitlines()[-1:] or ["rejected"]
        raise SpecError(f"`runner run` does not accept {command!r}: {reason[0]}", where, "command") from None
    if getattr(args, "record", None):
        # Reproducing it would write another record into the leaderboard being checked.
        raise SpecError(f"drop the --record option from the command kept in a record: {command!r}", where, "command")
    return RunCommand(args.recipe, tuple(args.overrides or ()), args.output_dir, tuple(tokens), tuple(env))


def resolve_command(command: str, root: Path, where: Location | None = None) -> Experiment:
    """The experiment a command trains, resolving relative recipe paths from `root`."""
    from runner.specs.resolve import resolve

    run = parse(command, where)
    check_recipe(run, root, where)
    recipe = run.recipe
    if not Path(recipe).is_absolute() and (Path(root) / recipe).is_file():
        recipe = str(Path(root) / recipe)
    return resolve(recipe, run.overrides)


def check_command(command: str, spec_hash: str, root: Path, where: Location | None = None) -> None:
    """Raise a SpecError unless `command` resolves to the experiment with `spec_hash`."""
    try:
        resolved = resolve_command(command, root, where)
    except SpecError as exc:
        raise SpecError(f"the command does not resolve: {' '.join(str(exc).split())}", where, "command") from None
    if resolved.spec_hash != spec_hash:
        raise SpecError(
            f"the command resolves to spec_hash {resolved.spec_hash[:12]}, not the run's {spec_hash[:12]}: it would "
            "train something else (was the recipe changed since?); pass the exact command that made the run",
            where, "command")


def derive_command(experiment: Experiment, root: Path) -> str:
    """`runner run catalog/recipes/<recipe>.yaml -o ... --output-dir ...` that resolves to `experiment`.

    The overrides are the values where the run differs from its recipe as it is now; the result
    is checked by resolving it. Raises a SpecError when no such command can be found.
    """
    recipe = f"catalog/recipes/{experiment.recipe}.yaml"
    if not (Path(root) / recipe).is_file():
        raise SpecError(f"cannot derive the run's command: no {recipe} under {root}; pass --command", None, "command")
    plain = resolve_command(_join(recipe, []), root)
    # A run of another problem, model or hparams set than the recipe names swaps it first.
    overrides = [f"{key}={_name_of(experiment, key)}" for key in ("problem", "model", "hparams")
                 if _name_of(plain, key) != _name_of(experiment, key)]
    base = resolve_command(_join(recipe, overrides), root) if overrides else plain
    ours, theirs = experiment.to_dict(), base.to_dict()
    for section in _OVERRIDABLE:
        before = _leaves(theirs.get(section), (section,))
        for path, value in sorted(_leaves(ours.get(section), (section,)).items()):
            if before.get(path, _MISSING) != value:
                overrides.append(f"{'.'.join(path)}={_yaml_text(value)}")
    command = _join(recipe, overrides) + f" --output-dir {default_output_dir(experiment)}"
    check_command(command, experiment.spec_hash, root)
    return command


_MISSING = object()


def _name_of(experiment: Experiment, key: str) -> str:
    return {"problem": experiment.problem.name, "model": experiment.model.name,
            "hparams": experiment.hparams_set}[key]


def _leaves(data: Any, prefix: tuple[str, ...]) -> dict[tuple[str, ...], Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    found: dict[tuple[str, ...], Any] = {}
    for key, value in data.items():
        if len(prefix) == 1 and key in _NOT_VALUES:
            continue
        found.update(_leaves(value, prefix + (str(key),)))
    return found


def _yaml_text(value: Any) -> str:
    """A value as `-o` parses it back: plain when unambiguous, else JSON (which YAML reads)."""
    if isinstance(value, str):
        try:
            if parse_value(value, Location(override=value)) == value:
                return value
        except SpecError:
            pass
    return json.dumps(value, ensure_ascii=False)


def _join(recipe: str, overrides: list[str]) -> str:
    return " ".join(["runner", "run", shlex.quote(recipe)] + [f"-o {shlex.quote(o)}" for o in overrides])
