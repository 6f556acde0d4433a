"""T2T's quick start and walkthrough recipes: each names T2T's problem, model and set unchanged,
and its `_ci` sibling trains end to end in this process in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnist_hub_layout import write_mnist_hub_layout
from runner import api

RECIPES = Path(__file__).resolve().parents[1] / "catalog" / "recipes"

T2T_COMMANDS = {
    # recipe: (problem, model, hparams set, train steps) of the T2T command it stands for
    "quickstart_mnist": ("image_mnist", "shake_shake", "shake_shake_quick", 1000),
    "cifar10_shakeshake_big": ("image_cifar10", "shake_shake", "shakeshake_big", 700000),
    "ende_base_single_gpu": ("translate_ende_wmt32k", "transformer", "transformer_base_single_gpu", 250000),
}


@pytest.mark.parametrize("recipe", sorted(T2T_COMMANDS))
def test_recipe_is_t2ts_command(recipe):
    experiment = api.resolve(RECIPES / f"{recipe}.yaml")
    problem, model, hparams_set, steps = T2T_COMMANDS[recipe]
    assert (experiment.problem.name, experiment.model.name, experiment.hparams_set) == (problem, model, hparams_set)
    assert experiment.train.steps == steps
    # no overrides: the set's values are trained as T2T published them
    assert experiment.hparams == api.hparams(hparams_set)
    ci = api.resolve(RECIPES / f"{recipe}_ci.yaml")
    assert (ci.model.name, ci.hparams_set) == (model, hparams_set)


def _train(experiment, tmp_path):
    out = tmp_path / "run"
    final = api.train(experiment, str(out), str(tmp_path / "data"), verbose=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert json.loads((out / "final_metrics.json").read_text()) == pytest.approx(final, nan_ok=True)
    return final, rows


@pytest.mark.slow
def test_quickstart_mnist_ci_trains_from_the_hub_layout(tmp_path):
    hub = write_mnist_hub_layout(tmp_path / "mnist_hub")
    experiment = api.resolve(RECIPES / "quickstart_mnist_ci.yaml", [f"problem.source.hub.dataset={hub}"])
    final, rows = _train(experiment, tmp_path)
    assert final["steps"] == 20 and 0.0 <= final["accuracy"] <= 1.0
    losses = [r["train_loss"] for r in rows if "train_loss" in r]
    assert all(loss == loss for loss in losses)  # finite
    meta = json.loads(next((tmp_path / "data").glob("image_mnist-*/meta.json")).read_text())
    assert meta["splits"] == {"train": 250, "eval": 50, "test": 60}  # the recipe's hub split slices
    assert meta["source"] == f"hub:{hub}"  # read through the hub loader, not a local-files reader


@pytest.mark.slow
@pytest.mark.parametrize("recipe, metric", [("cifar10_shakeshake_big_ci", "accuracy"),
                                            ("ende_base_single_gpu_ci", "accuracy_per_sequence")])
def test_ci_sibling_trains(recipe, metric, tmp_path):
    final, rows = _train(api.resolve(RECIPES / f"{recipe}.yaml"), tmp_path)
    assert isinstance(final[metric], float)
    evals = [r["eval_loss"] for r in rows if "eval_loss" in r and "done" not in r]
    assert len(evals) >= 2
