"""`runner tune` refuses bad input with exit status 2 and a clear message, before Ray starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.cli import main

RECIPE = "catalog/recipes/reverse_tune_cpu.yaml"
PLAIN_RECIPE = "catalog/recipes/reverse_transformer_cpu.yaml"  # no tune: section; trains a transformer


def _range_file(tmp_path: Path, ranges: str) -> str:
    folder = tmp_path / "catalog" / "hparams"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bad_range.yaml"
    path.write_text(f"kind: hparams_range\nbase: transformer_algorithmic_cpu\nranges:\n{ranges}")
    return str(path)


def _tune(capsys, tmp_path, *args) -> tuple[int, str]:
    out = tmp_path / "sweep"
    status = main(["tune", *args, "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert not out.exists(), "the sweep folder was created: something started before the check"
    return status, err


def _ray_running() -> bool:
    import sys

    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


@pytest.fixture(autouse=True)
def _no_ray_started():
    """The check must fail before Ray starts. (The session-wide Ray of other tests may already run.)"""
    before = _ray_running()
    yield
    assert before or not _ray_running(), "a check ran after Ray was started"


@pytest.mark.parametrize("ranges, expected", [
    ("  hiden_size: {type: categorical, choices: [64, 128]}\n", "'hiden_size' is not in set"),
    ("  hidden_size: {type: categorical, choices: []}\n", "choices"),
    ("  learning_rate_constant: {type: float, low: 2.0, high: 1.0}\n", "low (2.0) must be below high (1.0)"),
    ("  weight_decay: {type: float, low: 0.0, high: 0.1, scale: log}\n", "log-scale range must be positive"),
], ids=["unknown-hparam", "empty-choices", "low-above-high", "log-through-zero"])
def test_bad_ranges(capsys, tmp_path, ranges, expected):
    status, err = _tune(capsys, tmp_path, RECIPE, "--range", _range_file(tmp_path, ranges))
    assert status == 2 and expected in err and "bad_range.yaml" in err


@pytest.mark.parametrize("overrides, expected", [
    (["tune.objective=perplexty"], "unknown objective metric 'perplexty'"),
    (["tune.objective=accuracy_per_sequence"], "not reported while training"),
    (["tune.parallel_trials=8"], "parallel_trials (8) exceeds max_trials (6)"),
    (["tune.scheduler.type=pbt"], "scheduler 'pbt' cannot change hidden_size mid-run"),
    (["tune.scheduler.type=pbt", "resources.workers=2"], "scheduler 'pbt' needs trials of one worker"),
    (["tune.search=grid"], "grid search over this range makes 18 trials"),
    (["tune.scheduler.grace_period=8"], "no trial could ever be stopped early"),
], ids=["unknown-objective", "decoded-objective", "parallel-above-max", "pbt-shapes", "pbt-workers", "grid-too-big",
     "grace-too-long"])
def test_bad_tune_settings(capsys, tmp_path, overrides, expected):
    args = [a for o in overrides for a in ("-o", o)]
    status, err = _tune(capsys, tmp_path, RECIPE, *args)
    assert status == 2 and expected in err


def test_recipe_without_tune_section(capsys, tmp_path):
    status, err = _tune(capsys, tmp_path, PLAIN_RECIPE)
    assert status == 2 and "has no tune: section" in err and "--range" in err


def test_range_flag_gives_a_plain_recipe_a_sweep_and_checks_the_model(capsys, tmp_path):
    status, err = _tune(capsys, tmp_path, PLAIN_RECIPE, "--range", "transformer_base_range",
                        "-o", "tune.scheduler.type=pbt")
    assert status == 2 and "pbt" in err  # --range made the tune section; the next check ran


def test_save_as_an_existing_set_is_refused_before_the_sweep(capsys, tmp_path):
    catalog = tmp_path / "catalog"
    (catalog / "recipes").mkdir(parents=True)
    (catalog / "hparams").mkdir()
    recipe = catalog / "recipes" / "mine.yaml"
    shutil.copy(RECIPE, recipe)
    (catalog / "hparams" / "taken.yaml").write_text("model: transformer\nextends: transformer_tiny\n")
    status, err = _tune(capsys, tmp_path, str(recipe), "--save-as", "taken")
    assert status == 2 and "already exists" in err and "taken.yaml" in err
    status, err = _tune(capsys, tmp_path, str(recipe), "--save-as", "../escape")
    assert status == 2 and "expected a set name" in err


@pytest.mark.parametrize("scheduler", ["pbt", "pb2"])
def test_record_of_a_population_based_sweep_is_refused_before_it_starts(capsys, tmp_path, scheduler):
    status, err = _tune(capsys, tmp_path, "catalog/recipes/reverse_pbt_cpu.yaml", "-o", f"tune.scheduler.type={scheduler}",
                        "--record", "cpu")
    assert status == 2 and "--record" in err and "no single `runner run`" in err


def test_pbt_on_a_multi_worker_recipe_names_the_fix(capsys, tmp_path):
    status, err = _tune(capsys, tmp_path, "catalog/recipes/reverse_pbt_cpu.yaml", "-o", "resources.workers=2")
    assert status == 2 and "needs trials of one worker" in err and "resources.workers=1" in err
