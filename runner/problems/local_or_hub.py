"""The one local-or-hub choice every data family makes: a problem's `source.path` (tried first;
a relative path from the working directory, then the repository root) or else its `source.hub`
dataset, or a clear error when it has neither. Text, image and speech sources all ask here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from runner.specs.errors import SpecError

log = logging.getLogger(__name__)


def repo_root() -> Path | None:
    """The source checkout's root (holding `catalog/`), or None for an installed wheel."""
    from runner.specs.catalog import source_checkout

    return source_checkout()


def candidate_paths(path: str) -> list[Path]:
    """Where a relative local path may live: the working directory, then the repository root
    (in a source checkout, so the shipped problems' `../shared/data/...` work from any folder)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return [p]
    root = repo_root()
    return [Path.cwd() / p] + ([root / p] if root is not None else [])


def find_local(path: str) -> Path | None:
    return next((c for c in candidate_paths(path) if c.exists()), None)


def choose(source: Any, what: str) -> Path | None:
    """The local folder when `source.path` exists; None when the hub dataset is to be used instead;
    a SpecError when there is neither. `what` names the data in the message ("data", "image", "audio")."""
    folder = find_local(source.path) if source.path is not None else None
    if folder is not None:
        return folder
    if source.hub is None:
        looked = " and ".join(str(c) for c in candidate_paths(source.path))
        raise SpecError(f"local {what} folder '{source.path}' not found (looked for {looked}) and no "
                        "source.hub dataset is configured to fall back on", field="problem.source.path")
    if source.path is not None:
        log.info("datagen: local folder '%s' not found; using hub dataset '%s'", source.path, source.hub.dataset)
    return None
