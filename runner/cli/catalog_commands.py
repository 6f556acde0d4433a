"""`runner describe` (the fields of each spec kind) and `runner cp` (start from a shipped spec). Torch-free."""

from __future__ import annotations

import sys
from pathlib import Path

from runner.specs.errors import Location, SpecError

CP_KINDS = ("recipe", "hparams", "range", "problem", "model")
NOUNS = {"recipe": "a recipe", "hparams": "an hparams set", "range": "an hparams range", "problem": "a problem",
         "model": "a model"}


def add_commands(sub) -> None:
    p = sub.add_parser("describe", help="the fields of a spec kind: types, defaults, ranges, descriptions")
    p.add_argument("kind", choices=("problem", "model", "hparams", "recipe"))
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="problem: a family or problem name; model/hparams: a model, implementation or hparams set")
    p.set_defaults(handler=cmd_describe)

    p = sub.add_parser("cp", help="copy a catalog recipe, hparams set, range, problem or model into your own "
                                  "catalog folder, ready to edit")
    p.add_argument("name", metavar="NAME", help="the spec's catalog name (see `runner list`)")
    p.add_argument("dest", metavar="DEST",
                   help="a catalog folder (the file goes to DEST/<kind folder>/NAME.yaml), a kind folder "
                        "such as mycatalog/recipes, or a file ending in .yaml")
    p.add_argument("--kind", choices=CP_KINDS, default=None, help="which kind NAME is, when several have that name")
    p.set_defaults(handler=cmd_cp)


def cmd_describe(args) -> int:
    from runner.specs import reference

    if args.kind == "recipe":
        parts = reference.recipe_sections()
    elif args.kind == "problem":
        parts = reference.family_sections(_family(args.name)) if args.name else reference.problem_sections()
    elif args.kind == "model":
        parts = reference.model_sections()
        if args.name:
            parts += reference.model_hparams_sections(_implementation(args.name))
    else:
        if args.name:
            parts = reference.model_hparams_sections(_implementation(args.name))
        else:
            parts = reference.hparams_file_sections() + reference.sections(
                reference.TrainingHparams, "hparams every model shares",
                "Each model's schema adds its architecture: `runner describe hparams MODEL`.")
    sys.stdout.write(reference.text(parts))
    if args.kind in ("model", "hparams") and not args.name:
        sys.stdout.write(_models_listing())
    return 0


def _models_listing() -> str:
    from runner import registry

    width = max(len(name) for name in registry.MODELS)
    lines = ["model implementations (`runner describe hparams NAME` for a model's fields)"]
    lines += [f"  {name:<{width}}  {entry.description}" for name, entry in sorted(registry.MODELS.items())]
    return "\n".join(lines) + "\n"


def _family(name: str) -> str:
    """A family name, or the family of a catalog problem (name or path)."""
    from runner import registry
    from runner.specs import catalog as catalog_mod
    from runner.specs.catalog import Catalog

    if name in registry.FAMILIES:
        return name
    cat = Catalog.for_file(None)
    if not catalog_mod.is_path(name) and name not in cat.names("problem"):
        from runner.specs.errors import did_you_mean

        known = sorted(registry.FAMILIES) + sorted(cat.names("problem"))
        raise SpecError(f"'{name}' is neither a problem family nor a catalog problem{did_you_mean(name, known)} "
                        f"(families: {', '.join(sorted(registry.FAMILIES))})")
    return str(catalog_mod.load(cat.locate("problem", name)).data.get("family"))


def _implementation(name: str) -> str:
    """The registry implementation behind a name: itself, a catalog model's, or an hparams set's model's."""
    from runner import registry
    from runner.specs.catalog import Catalog
    from runner.specs.resolve import load_hparams_chain, load_model

    cat = Catalog.for_file(None)
    if name in cat.names("model"):
        return load_model(cat, name).implementation
    if name in registry.MODELS:
        return name
    if name in cat.names("hparams"):
        chain, _ = load_hparams_chain(cat, name)
        return load_model(cat, chain[0].model).implementation
    from runner.specs.errors import did_you_mean

    known = sorted(set(registry.MODELS) | set(cat.names("model")) | set(cat.names("hparams")))
    raise SpecError(f"'{name}' is not a model, implementation or hparams set{did_you_mean(name, known)} "
                    f"(models: {', '.join(sorted(set(registry.MODELS) | set(cat.names('model'))))})")


def cmd_cp(args) -> int:
    from runner.specs import catalog as catalog_mod
    from runner.specs.catalog import Catalog

    cat = Catalog.for_file(None)
    kinds = [args.kind] if args.kind else [k for k in CP_KINDS if args.name in cat.names(k)]
    if not kinds:
        from runner.specs.errors import did_you_mean

        known = {n for k in CP_KINDS for n in cat.names(k)}
        raise SpecError(f"no recipe, hparams set, range, problem or model named '{args.name}'"
                        f"{did_you_mean(args.name, known)} (see `runner list`)")
    if len(kinds) > 1:
        raise SpecError(f"'{args.name}' names {' and '.join(NOUNS[k] for k in kinds)}; say which with --kind {kinds[0]} "
                        f"(or --kind {kinds[1]})")
    kind = kinds[0]
    source = cat.locate(kind, args.name)
    dest = _destination(Path(args.dest), kind, args.name)
    header = (f"# Copied from the {cat.origin(source)} catalog's {kind} '{args.name}' by `runner cp`; edit freely.\n"
              f"# Names in it resolve in this file's own catalog folder first, then $RUNNER_CATALOG, then the "
              f"shipped catalog.\n")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(dest, "x", encoding="utf-8") as f:  # "x": never overwrite, even if it appeared meanwhile
            f.write(header + source.read_text(encoding="utf-8"))
    except FileExistsError:
        raise SpecError("this file already exists; runner cp never overwrites: choose another DEST, or delete "
                        "that file first", Location(str(dest))) from None
    print(f"wrote {dest} ({NOUNS[kind]} named '{dest.stem}', from {source})")
    if kind == "recipe":
        print(f"next: edit it, then `runner validate {dest}`, `runner show {dest}`, `runner run {dest}`")
    else:
        print(f"next: edit it, then `runner validate {dest}`; a recipe in {catalog_mod.own_root(dest) or dest.parent} "
              f"finds it by the name '{dest.stem}'")
    return 0


def _destination(dest: Path, kind: str, name: str) -> Path:
    from runner.specs.catalog import FOLDERS

    if dest.suffix in (".yaml", ".yml"):
        return dest
    if dest.name == FOLDERS[kind]:
        return dest / f"{name}.yaml"
    if dest.name in set(FOLDERS.values()):
        raise SpecError(f"this is a {dest.name}/ folder, but '{name}' is {NOUNS[kind]}; give the catalog folder "
                        f"({dest.parent}) or its {FOLDERS[kind]}/ folder", Location(str(dest)))
    if dest.exists() and not dest.is_dir():
        raise SpecError("this is a file; give a catalog folder or a new .yaml file", Location(str(dest)))
    return dest / FOLDERS[kind] / f"{name}.yaml"
