"""Find spec files by name or path, across the user's catalog folder and the shipped one.

A name is a file's stem in the kind's folder (`catalog/hparams/transformer_big.yaml` is the
hparams set `transformer_big`). A reference containing '/' or ending in `.yaml` is a path,
resolved against the referring file's folder first, then the working directory. A recipe
inside `X/recipes/` searches `X/` before the shipped catalog, so a user's own catalog folder
works the same as the shipped one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from runner.specs.errors import Location, SpecError, did_you_mean
from runner.specs.loader import Document, load_yaml

FOLDERS = {"problem": "problems", "model": "models", "hparams": "hparams", "range": "hparams", "recipe": "recipes"}


def builtin_root() -> Path:
    """The shipped catalog: $RUNNER_CATALOG, else `catalog/` beside the `runner` package."""
    env = os.environ.get("RUNNER_CATALOG")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "catalog"


def absolute(path: str | Path) -> Path:
    """`path` made absolute with symlinks resolved where possible; a symlink loop stays as written
    (reading it then fails with a clear message instead of RuntimeError)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def is_path(ref: str) -> bool:
    return "/" in ref or os.sep in ref or ref.endswith((".yaml", ".yml"))


@lru_cache(maxsize=512)
def _load_cached(path: str, mtime_ns: int) -> Document:
    return load_yaml(path)


def load(path: str | Path) -> Document:
    """Load a spec file (cached by path and modification time)."""
    path = str(path)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return load_yaml(path)  # raises a clear 'file not found'
    return _load_cached(path, mtime)


def spec_kind(doc: Document) -> str:
    """What a file in catalog/hparams holds: 'range' or 'hparams' (a set)."""
    return "range" if doc.data.get("kind") == "hparams_range" else "hparams"


class Catalog:
    """The folders searched for spec names, most specific first."""

    def __init__(self, roots: list[Path]):
        unique: list[Path] = []
        for root in roots:
            root = absolute(root)
            if root not in unique:
                unique.append(root)
        self.roots = unique

    @classmethod
    def for_file(cls, path: str | Path | None) -> "Catalog":
        roots = []
        if path is not None:
            parent = Path(os.path.abspath(path)).parent  # the folder it is listed in, not a symlink's target
            if parent.name in set(FOLDERS.values()):
                roots.append(parent.parent)
        roots.append(builtin_root())
        return cls(roots)

    def names(self, kind: str) -> dict[str, Path]:
        """name -> path for every spec of `kind` (first root wins)."""
        return _names(tuple(self.roots), kind, _folder_stamp(self.roots, kind))

    def _scan(self, kind: str) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for root in self.roots:
            folder = root / FOLDERS[kind]
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.yaml")):
                if path.stem in found:
                    continue
                if kind in ("hparams", "range"):
                    try:
                        if spec_kind(load(path)) != kind:
                            continue
                    except SpecError:
                        if kind == "range":
                            continue
                found[path.stem] = path
        return found

    def locate(self, kind: str, ref: str, where: Location | None = None, referrer: str | None = None,
               field: str | None = None) -> Path:
        """The file a reference names, or a SpecError listing what is available."""
        if is_path(ref):
            candidates = []
            if referrer:
                candidates.append(Path(os.path.abspath(referrer)).parent / ref)
            candidates.append(Path.cwd() / ref)
            for candidate in candidates:
                if os.path.lexists(candidate):  # not only a regular file: reading it says what is wrong
                    return candidate
            raise SpecError(f"no {kind} spec file at '{ref}' (looked in: {', '.join(map(str, candidates))})", where, field)
        names = self.names(kind)
        if ref in names:
            return names[ref]
        other = {"hparams": "range", "range": "hparams"}.get(kind)
        if other and ref in self.names(other):
            what = {"range": "an hparams range", "hparams": "an hparams set"}[other]
            raise SpecError(f"'{ref}' is {what}, not {'an hparams set' if kind == 'hparams' else 'an hparams range'}",
                            where, field)
        available = ", ".join(sorted(names)) or "none"
        raise SpecError(f"unknown {kind} '{ref}'{did_you_mean(ref, names)} (available: {available})", where, field)


def _folder_stamp(roots: list[Path], kind: str) -> tuple:
    """Changes when a file is added to or removed from the kind's folders."""
    stamp = []
    for root in roots:
        try:
            stamp.append(os.stat(root / FOLDERS[kind]).st_mtime_ns)
        except OSError:
            stamp.append(None)
    return tuple(stamp)


@lru_cache(maxsize=64)
def _names(roots: tuple[Path, ...], kind: str, stamp: tuple) -> dict[str, Path]:
    return Catalog(list(roots))._scan(kind)
