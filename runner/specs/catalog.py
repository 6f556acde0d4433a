"""Find spec files by name or path, across the user's catalog folders and the shipped one.

A name is a file's stem in the kind's folder (`catalog/hparams/transformer_big.yaml` is the
hparams set `transformer_big`). A reference containing '/' or ending in `.yaml` is a path,
resolved against the referring file's folder first, then the working directory.

Names are searched, first match wins: the referring spec's own catalog (a recipe inside
`X/recipes/` searches `X/`), then each folder of `$RUNNER_CATALOG` (os.pathsep-separated),
then the shipped catalog. The shipped catalog is the repository's `catalog/` in a source
checkout (editable installs and worktrees see their own), else the package data
`runner.catalog` that a wheel installs (pyproject maps that package onto `catalog/`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from runner.specs.errors import Location, SpecError, did_you_mean
from runner.specs.loader import Document, load_yaml

FOLDERS = {"problem": "problems", "model": "models", "hparams": "hparams", "range": "hparams", "recipe": "recipes"}


def source_checkout() -> Path | None:
    """The repository root when `runner` runs from a source checkout (pyproject.toml and
    catalog/ beside the package), else None (an installed wheel)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "catalog").is_dir():
        return root
    return None


@lru_cache(maxsize=1)
def builtin_root() -> Path:
    """The shipped catalog: the checkout's `catalog/`, else the installed `runner.catalog` data."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "catalog"
    from importlib.util import find_spec

    # runner.catalog is a namespace package (catalog/ has no __init__.py): its one location is the folder.
    spec = find_spec("runner.catalog")
    locations = [Path(p) for p in (spec.submodule_search_locations or [])] if spec is not None else []
    for location in locations:
        if (location / FOLDERS["recipe"]).is_dir():
            return location
    # An install without the catalog: say so instead of listing "available: none".
    raise SpecError("this installation of runner has no shipped catalog (package data runner.catalog "
                    "is missing); reinstall it from a wheel or a source checkout")


def user_roots() -> list[Path]:
    """The user's catalog folders from $RUNNER_CATALOG (os.pathsep-separated), searched before the shipped one."""
    roots = [Path(p).expanduser() for p in os.environ.get("RUNNER_CATALOG", "").split(os.pathsep) if p.strip()]
    for root in roots:
        if not root.is_dir():  # a typo would otherwise silently search nothing
            raise SpecError(f"RUNNER_CATALOG names {root}, which is not a folder; set it to catalog folders (holding "
                            "problems/, models/, hparams/, recipes/) separated by ':', or unset it", field="RUNNER_CATALOG")
    return roots


def own_root(path: str | Path) -> Path | None:
    """The catalog folder a spec file belongs to: X for X/recipes/a.yaml (X/problems/, ...)."""
    parent = Path(os.path.abspath(path)).parent  # the folder it is listed in, not a symlink's target
    return parent.parent if parent.name in set(FOLDERS.values()) else None


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
        """The search path for names in `path` (None: no file, e.g. a name on the command line)."""
        own = own_root(path) if path is not None else None
        return cls(([own] if own else []) + user_roots() + [builtin_root()])

    def origin(self, path: Path) -> str:
        """'shipped' for a file of the shipped catalog, else the catalog folder it comes from."""
        for root in self.roots:
            if root in Path(path).resolve().parents:
                return "shipped" if root == builtin_root().resolve() else str(root)
        return str(Path(path).parent)

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
