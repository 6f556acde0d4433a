"""`runner validate`: check spec files, or the whole catalog, collecting every error."""

from __future__ import annotations

from pathlib import Path

from runner.specs import catalog as catalog_mod
from runner.specs.catalog import Catalog, spec_kind
from runner.specs.errors import SpecError
from runner.specs.resolve import load_hparams_chain, load_model, load_problem, resolve, resolve_hparams, resolve_range


def kind_of(path: Path) -> str:
    """A spec file's kind, from its folder (and, in hparams/, its `kind:` key)."""
    folder = catalog_mod.absolute(path.parent).name  # the folder it is listed in, not a symlink's target
    for kind, name in catalog_mod.FOLDERS.items():
        if name == folder and kind != "range":
            if kind == "hparams":
                return spec_kind(catalog_mod.load(path))
            return kind
    raise SpecError(
        f"cannot tell what kind of spec this is from its folder '{folder}'; spec files live in "
        "problems/, models/, hparams/ or recipes/ of a catalog folder",
        catalog_mod.Location(str(path)),
    )


def validate_file(path: Path) -> None:
    """Validate one spec file fully (a set through its chain, a recipe through resolution)."""
    kind = kind_of(path)
    cat = Catalog.for_file(path)
    ref = str(path)
    if kind == "problem":
        load_problem(cat, ref)
    elif kind == "model":
        load_model(cat, ref)
    elif kind == "hparams":
        chain, _ = load_hparams_chain(cat, ref)
        model = load_model(cat, chain[0].model, catalog_mod.load(path).where(("model",)), ref)
        resolve_hparams(cat, ref, model)
    elif kind == "range":
        resolve_range(cat, ref)
    else:
        resolve(path)


def catalog_files(root: Path | None = None) -> list[Path]:
    root = root or catalog_mod.builtin_root()
    return sorted(p for folder in ("problems", "models", "hparams", "recipes") for p in (root / folder).glob("*.yaml"))


def validate_paths(paths: list[str]) -> tuple[int, list[SpecError]]:
    """Validate the given files and folders (default: the whole shipped catalog)."""
    files: list[Path] = []
    if not paths:
        files = catalog_files()
    for p in map(Path, paths):
        if p.is_dir():
            nested = sorted(p.rglob("*.yaml"))
            files.extend(nested)
        else:
            files.append(p)
    errors = []
    for path in files:
        try:
            validate_file(path)
        except SpecError as exc:
            errors.append(exc)
    return len(files), errors
