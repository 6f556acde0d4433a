"""Problems: data sources, vocabularies, datagen cache and batching, one module per family.

`build(problem_spec, data_dir)` is the one entry point: it finds the spec's family in the
registry and calls that family's builder, which returns a `ProblemData` (see base.py).
Family modules are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from runner import registry
from runner.problems.base import DataInfo, ProblemData
from runner.problems.local_or_hub import candidate_paths, find_local
from runner.specs.errors import SpecError

__all__ = ["DataInfo", "ProblemData", "build"]


def build(problem_spec, data_dir: str | Path) -> ProblemData:
    """Generate (or reuse from `data_dir`) the problem's data and return it ready for training."""
    with _missing_local_folder_named(problem_spec):
        return registry.family(problem_spec.family).build_fn()(problem_spec, Path(data_dir))


def locate(problem_spec, data_dir: str | Path):
    """Where the data comes from and its cache folder (`cache.Located`), without generating anything;
    None for a plugin family that does not say. Bad or missing sources raise SpecError, as datagen would."""
    entry = registry.family(problem_spec.family)
    builder = entry.builder
    if not isinstance(builder, str):
        return None
    import importlib

    family_locate = getattr(importlib.import_module(builder.partition(":")[0]), "locate", None)
    if family_locate is None:
        return None
    with _missing_local_folder_named(problem_spec):
        return family_locate(problem_spec, Path(data_dir))


@contextlib.contextmanager
def _missing_local_folder_named(problem_spec):
    """A hub failure after a missing local folder names the folder first: a mistyped
    `source.path` is reported as missing, not as "the dataset hub is unreachable"."""
    try:
        yield
    except SpecError as exc:
        source = getattr(problem_spec, "source", None)
        path, hub = getattr(source, "path", None), getattr(source, "hub", None)
        from_hub = any((field or "").startswith("problem.source.hub") for _, field, _ in exc.items)
        if path is None or hub is None or not from_hub or find_local(path) is not None:
            raise
        looked = " and ".join(str(c) for c in candidate_paths(path))
        raise SpecError(f"local data folder '{path}' not found (looked for {looked}), so the hub dataset "
                        f"'{hub.dataset}' was tried instead and failed: {exc}", field="problem.source.path") from None
