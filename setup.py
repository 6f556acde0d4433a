"""The package list, which pyproject.toml cannot say alone: `runner` plus the shipped catalog.

`catalog/` stays at the repository root (recipes, records and docs name `catalog/recipes/...`)
and is installed as the package data `runner.catalog` (pyproject's package-dir maps it), so a
wheel carries the catalog and `runner.specs.catalog.builtin_root` finds it through importlib.resources.
Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

CATALOG_FOLDERS = ["problems", "models", "hparams", "recipes"]  # runner.specs.catalog.FOLDERS' values

setup(packages=find_packages(include=["runner", "runner.*"]) + ["runner.catalog"]
      + [f"runner.catalog.{folder}" for folder in CATALOG_FOLDERS])
