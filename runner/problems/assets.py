"""What a trained model needs from its data at inference, kept in the run folder.

A run folder must be enough to predict and export without the data cache or the catalog
(docs/ARCHITECTURE.md, "Using a trained run"). The host that trains a run copies, once,
the small files of the problem's cache folder that describe how examples become tensors
and back: `meta.json` (vocabulary kind, symbols or transcript tokens, image class names)
and the trained tokenizers. Everything else inference needs is in the run's
`experiment.yaml` (image shape and levels, sample rate and log-mel settings).

Each family module that can be used from these files alone has
`from_assets(spec, folder) -> ProblemData` (its splits are never read): text, algorithmic,
speech, images and masked_lm. A plugin family without it falls back to the data cache.
This module stays torch-free.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from typing import Any

from runner import registry
from runner.problems.cache import META_FILE
from runner.run_dir import RunDir

ASSETS_DIR = RunDir.DATA_ASSETS
# The small files of a cache folder that inference reads; the encoded splits stay behind.
ASSET_FILES = (META_FILE, "tokenizer.json", "inputs.tokenizer.json", "targets.tokenizer.json")


def source_folder(data: Any) -> Path | None:
    """The cache folder whose small files describe `data` (None for data not backed by one)."""
    folder = getattr(data, "assets_source", None) or getattr(data, "folder", None)
    return Path(folder) if folder is not None else None


def write(data: Any, run_dir: str | Path) -> Path | None:
    """Copy the data's asset files into RUN_DIR/data_assets/ (whole or not at all); kept if present."""
    return _copy_assets(source_folder(data), run_dir)


def copy_between(source_run_dir: str | Path, run_dir: str | Path) -> Path | None:
    """Give RUN_DIR the data_assets/ of another folder on the same data (a sweep's, for each trial)."""
    return _copy_assets(folder(source_run_dir), run_dir)


def _copy_assets(source: Path | None, run_dir: str | Path) -> Path | None:
    target = Path(run_dir) / ASSETS_DIR
    if source is None or not (source / META_FILE).is_file() or (target / META_FILE).is_file():
        return target if (target / META_FILE).is_file() else None
    staging = Path(run_dir) / f".{ASSETS_DIR}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ASSET_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    shutil.rmtree(target, ignore_errors=True)  # a partial folder from an older layout, never a complete one
    os.replace(staging, target)
    return target


def folder(run_dir: str | Path) -> Path:
    return Path(run_dir) / ASSETS_DIR


def load(problem_spec: Any, run_dir: str | Path):
    """The problem's inference view from RUN_DIR/data_assets/, or None when the run has none
    (an older run) or the family cannot be rebuilt from them (a plugin without from_assets)."""
    path = folder(run_dir)
    if not (path / META_FILE).is_file():
        return None
    builder = registry.family(problem_spec.family).builder
    module = builder.partition(":")[0] if isinstance(builder, str) else builder.__module__
    from_assets = getattr(importlib.import_module(module), "from_assets", None)
    return from_assets(problem_spec, path) if from_assets is not None else None
