"""Resolution: extends chains, overrides, references by path, and the spec_hash contract."""

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from runner.specs.errors import SpecError
from runner.specs.resolve import resolve

CATALOG = Path(__file__).resolve().parents[1] / "catalog"


def _user_catalog(tmp_path: Path, recipe: str, **files: str) -> Path:
    """A user's own catalog folder; names it lacks fall back to the shipped catalog."""
    for rel, text in {"recipes/r.yaml": recipe, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "recipes" / "r.yaml"


RECIPE = """\
problem: p
model: transformer
hparams: transformer_tiny
train: {steps: 10, eval_every: 5}
"""
PROBLEM = "family: algorithmic\ngenerator: reverse\ntrain_size: 10\neval_size: 10\ntest_size: 10\n"


def test_ende_big_resolves_through_extends():
    exp = resolve(CATALOG / "recipes" / "ende_big.yaml")
    assert (exp.hparams.hidden_size, exp.hparams.filter_size, exp.hparams.num_heads) == (1024, 4096, 16)
    assert exp.hparams.layer_prepostprocess_dropout == 0.3
    assert exp.hparams.learning_rate_warmup_steps == 8000  # inherited from transformer_base
    assert exp.resources.workers == 8 and exp.resources.accelerator == "gpu"
    assert len(exp.spec_hash) == 64


def test_hash_ignores_key_order_formatting_and_descriptions(tmp_path):
    a = _user_catalog(tmp_path / "a", RECIPE, **{"problems/p.yaml": PROBLEM})
    reordered = "train:\n  eval_every: 5\n  steps: 10\nhparams: transformer_tiny\nmodel:   transformer\n" \
                "problem: p   # a comment\ndescription: another description\n"
    b = _user_catalog(tmp_path / "b", reordered, **{"problems/p.yaml": "# same problem\n" + PROBLEM})
    assert resolve(a).spec_hash == resolve(b).spec_hash


def test_hash_changes_with_any_effective_value(tmp_path):
    recipe = _user_catalog(tmp_path, RECIPE, **{"problems/p.yaml": PROBLEM})
    base = resolve(recipe).spec_hash
    changed = {
        resolve(recipe, ["hparams.hidden_size=64"]).spec_hash,
        resolve(recipe, ["train.seed=2"]).spec_hash,
        resolve(recipe, ["problem.train_size=11"]).spec_hash,
        resolve(recipe, ["decode.alpha=0.7"]).spec_hash,
        resolve(recipe, ["resources.workers=2"]).spec_hash,
    }
    assert base not in changed and len(changed) == 5
    # setting a value to what it already is changes nothing
    assert resolve(recipe, ["hparams.hidden_size=128"]).spec_hash == base


def test_overrides_are_typed_and_cli_beats_recipe(tmp_path):
    recipe = _user_catalog(tmp_path, RECIPE + "overrides:\n  hparams.hidden_size: 64\n  train.steps: 20\n",
                           **{"problems/p.yaml": PROBLEM})
    exp = resolve(recipe)
    assert exp.hparams.hidden_size == 64 and exp.train.steps == 20
    exp = resolve(recipe, ["hparams.hidden_size=256", "problem.max_length=64", "hparams.optimizer=adamw"])
    assert exp.hparams.hidden_size == 256 and isinstance(exp.hparams.hidden_size, int)
    assert exp.problem.max_length == 64 and exp.hparams.optimizer == "adamw"


def test_swap_the_hparams_set_by_override(tmp_path):
    recipe = _user_catalog(tmp_path, RECIPE, **{"problems/p.yaml": PROBLEM})
    assert resolve(recipe, ["hparams=transformer_big"]).hparams.hidden_size == 1024


def test_deep_extends_chain_and_reference_by_path(tmp_path):
    recipe = _user_catalog(
        tmp_path, RECIPE.replace("hparams: transformer_tiny", "hparams: ../hparams/c.yaml"),
        **{"problems/p.yaml": PROBLEM,
           "hparams/a.yaml": "model: transformer\nextends: transformer_tiny\nhparams: {filter_size: 300}\n",
           "hparams/b.yaml": "model: transformer\nextends: a\nhparams: {num_heads: 2}\n",
           "hparams/c.yaml": "model: transformer\nextends: b\nhparams: {filter_size: 400}\n"})
    exp = resolve(recipe)
    assert (exp.hparams.filter_size, exp.hparams.num_heads, exp.hparams.hidden_size) == (400, 2, 128)
    assert exp.hparams_set == "c"


def test_global_batch_is_explicit(tmp_path):
    recipe = _user_catalog(tmp_path, RECIPE, **{"problems/p.yaml": PROBLEM})
    exp = resolve(recipe, ["resources.workers=2", "train.gradient_accumulation_steps=3"])
    assert exp.global_batch.total == 4096 * 2 * 3 and exp.global_batch.unit == "tokens"


def test_experiment_round_trips_through_a_dict(tmp_path):
    from runner.specs.experiment import Experiment

    recipe = _user_catalog(tmp_path, RECIPE, **{"problems/p.yaml": PROBLEM})
    exp = resolve(recipe)
    again = Experiment.from_dict(yaml.safe_load(yaml.safe_dump(exp.to_dict())))
    assert again == exp and type(again.hparams) is type(exp.hparams)
    tampered = exp.to_dict()
    tampered["hparams"]["hidden_size"] = 64
    with pytest.raises(ValueError, match="spec_hash"):
        Experiment.from_dict(tampered)


def test_unknown_recipe_name_lists_available():
    with pytest.raises(SpecError, match="unknown recipe 'ende_bigg'; did you mean 'ende_big'"):
        resolve("ende_bigg")


def test_recipe_by_catalog_name():
    assert resolve("ende_big").hparams.hidden_size == 1024
