"""`runner list`, `runner validate`, `runner show`: the catalog from the terminal (no torch)."""

from __future__ import annotations

import sys
import time

import yaml

from runner.run_flags import add_override_flag  # noqa: F401  (other CLI modules import it from here too)
from runner.specs.errors import SpecError

LIST_KINDS = ("problems", "models", "hparams", "ranges", "recipes")
T2T_KINDS = ("problems", "hparams", "ranges")


def t2t_status(data: dict) -> str:
    """The T2T column of `runner list`: 'published' (T2T's values), 'differs' (a T2T name with
    deliberate differences, see differs_from_t2t), or '' (a spec of ours alone)."""
    if data.get("differs_from_t2t"):
        return "differs"
    return "published" if data.get("t2t_source") else ""


def add_commands(sub) -> None:
    p = sub.add_parser("list", help="list the catalog's problems, models, hparams sets, ranges or recipes")
    p.add_argument("kind", nargs="?", choices=LIST_KINDS, help="what to list (default: everything)")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("validate", help="validate spec files (default: the whole catalog); exit 0 or 2")
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec files or folders")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("show", help="print a recipe's resolved experiment as YAML, with its spec_hash")
    p.add_argument("recipe", metavar="RECIPE", help="a recipe file, a catalog recipe name, or a run folder")
    add_override_flag(p)
    p.set_defaults(handler=cmd_show)




def spec_argument(ref: str) -> str:
    """What a RECIPE argument names: a run folder stands for its resolved `experiment.yaml`."""
    from pathlib import Path

    from runner.run_dir import SPEC_FILE
    from runner.specs.errors import Location

    if Path(ref).is_dir():
        spec = Path(ref) / SPEC_FILE
        if not spec.is_file():
            raise SpecError(f"this folder has no {SPEC_FILE}, so it is not a run folder; give a recipe file, "
                            "a catalog recipe name, or a folder written by `runner run`", Location(ref))
        return str(spec)
    return ref


def cmd_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from runner.specs.catalog import Catalog
    from runner.specs import catalog as catalog_mod

    cat = Catalog.for_file(None)
    console = Console(soft_wrap=False)
    mixed = len(cat.roots) > 1  # RUNNER_CATALOG in play: say which catalog each name comes from
    for kind in [args.kind] if args.kind else LIST_KINDS:
        singular = {"problems": "problem", "models": "model", "hparams": "hparams", "ranges": "range",
                    "recipes": "recipe"}[kind]
        table = Table(title=kind, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("name", style="bold", no_wrap=True)
        if kind in ("hparams", "ranges"):
            table.add_column("model" if kind == "hparams" else "base", no_wrap=True)
        if kind in T2T_KINDS:
            table.add_column("T2T", no_wrap=True)
        if mixed:
            table.add_column("from", overflow="fold")
        table.add_column("description")
        for name, path in cat.names(singular).items():
            try:
                data = catalog_mod.load(path).data
            except SpecError:
                data = {"description": "(invalid: run `runner validate`)"}
            row = [name]
            if kind == "hparams":
                row.append(str(data.get("model", "")))
            elif kind == "ranges":
                row.append(str(data.get("base", "")))
            if kind in T2T_KINDS:
                row.append(t2t_status(data))
            if mixed:
                row.append(cat.origin(path))
            row.append(str(data.get("description", "")))
            table.add_row(*row)
        console.print(table)
        console.print()
    return 0


def cmd_validate(args) -> int:
    from runner.specs.check import validate_paths

    start = time.perf_counter()
    count, errors = validate_paths(args.paths)
    elapsed = time.perf_counter() - start
    if errors:
        for exc in errors:
            print(f"error: {exc}", file=sys.stderr)
        print(f"{len(errors)} of {count} spec files invalid" if count else "no spec files validated", file=sys.stderr)
        return 2
    print(f"{count} spec files valid ({elapsed:.2f} s)")
    return 0


def cmd_show(args) -> int:
    from runner.specs.resolve import resolve

    experiment = resolve(spec_argument(args.recipe), args.overrides)
    data = experiment.to_dict()
    spec_hash = data.pop("spec_hash")
    for line in _t2t_notes(args.recipe, experiment):
        sys.stdout.write(f"# {line}\n")
    sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True))
    sys.stdout.write(f"spec_hash: {spec_hash}\n")
    return 0


def _t2t_notes(recipe: str, experiment) -> list[str]:
    """Comment lines saying where the hparams set and the problem differ from T2T's of that name."""
    from runner.specs import catalog as catalog_mod

    notes = []
    path = catalog_mod.Catalog.for_file(recipe if catalog_mod.is_path(recipe) else None).names("hparams").get(
        experiment.hparams_set)
    hparams_note = catalog_mod.load(path).data.get("differs_from_t2t") if path else None
    if hparams_note:
        notes.append(f"hparams set {experiment.hparams_set} differs from T2T's: {hparams_note}")
    if experiment.problem.differs_from_t2t:
        notes.append(f"problem {experiment.problem.name} differs from T2T's: {experiment.problem.differs_from_t2t}")
    return notes
