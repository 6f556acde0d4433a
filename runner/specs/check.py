"""`runner validate`: check spec files, or the whole catalog, collecting every error."""

from __future__ import annotations

import os
from pathlib import Path

from runner.specs import catalog as catalog_mod
from runner.specs.catalog import Catalog, spec_kind
from runner.specs.errors import SpecError
from runner.specs.resolve import load_hparams_chain, load_model, load_problem, resolve, resolve_hparams, resolve_range


def kind_of(path: Path) -> str:
    """A spec file's kind: from its folder inside a catalog (problems/, models/, hparams/,
    recipes/), else from its content, the way `show` and `run` take any recipe file."""
    folder = catalog_mod.absolute(path.parent).name  # the folder it is listed in, not a symlink's target
    for kind, name in catalog_mod.FOLDERS.items():
        if name == folder and kind != "range":
            if kind == "hparams":
                return spec_kind(catalog_mod.load(path))
            return kind
    return kind_from_content(catalog_mod.load(path))


def kind_from_content(doc: catalog_mod.Document) -> str:
    """'experiment' (a run folder's resolved spec), 'recipe', 'problem', 'range', 'hparams' or 'model'."""
    data = doc.data
    if data.get("kind") == "hparams_range":
        return "range"
    if "spec_hash" in data or isinstance(data.get("problem"), dict):
        return "experiment"
    if "problem" in data or "train" in data:
        return "recipe"
    if "family" in data:
        return "problem"
    if "model" in data or "hparams" in data or "extends" in data:
        return "hparams"
    if "implementation" in data:
        return "model"
    raise SpecError(
        "cannot tell what kind of spec this is: a recipe has problem/model/hparams/train, a problem "
        "`family:`, an hparams set `model:` and `hparams:`, a range `kind: hparams_range`, a model "
        "`implementation:`; or put the file in problems/, models/, hparams/ or recipes/ of a catalog folder",
        doc.where(()),
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
    """Validate the given files and folders (default: the catalog searched by name: every
    $RUNNER_CATALOG folder, then the shipped catalog)."""
    users = catalog_mod.user_roots()  # a RUNNER_CATALOG that names no folder: one message, before any file
    files: list[Path] = []
    if not paths:
        files = [f for root in users for f in catalog_files(root)] + catalog_files()
    errors = []
    if not paths and not files:
        errors.append(SpecError("the catalog holds no spec files (*.yaml in problems/, models/, hparams/, recipes/)",
                                catalog_mod.Location(str(catalog_mod.builtin_root()))))
    for p in map(Path, paths):
        if p.is_dir():
            nested = sorted(p.rglob("*.yaml"))
            if not nested:  # validating nothing is not a success
                errors.append(SpecError("no spec files (*.yaml) in this folder; nothing to validate",
                                        catalog_mod.Location(str(p))))
            files.extend(nested)
        elif not os.path.lexists(p):
            errors.append(SpecError("no such file or folder", catalog_mod.Location(str(p))))
        else:
            files.append(p)
    for path in files:
        try:
            validate_file(path)
        except SpecError as exc:
            errors.append(exc)
    return len(files), errors
