"""Where a result came from: the code commit (and whether the tree was dirty) and the versions of
the packages that change numbers. Used by tracking (MLflow tags) and by the leaderboard
(records), so it lives below both. Torch-free; git runs as a subprocess with a timeout.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

# The packages whose versions change numbers (or how they are computed).
PACKAGES = ("torch", "ray", "mlflow", "numpy", "sacrebleu", "jiwer")

# This repository's root (the code whose commit a run records).
REPO_ROOT = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def code_commit(root: Path) -> tuple[str | None, bool | None]:
    """(HEAD's sha, whether tracked files differ from it); (None, None) outside git or before a first commit."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "--verify", "--quiet", "HEAD")
    if not sha:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return sha, (bool(status) if status is not None else None)
