"""The CUDA path's choices, tested where CI can: bf16 autocast and torch.compile on CPU with a tiny
model, the precision policy, the spec fields' hashing, the GPU recipes' plans, and the FLOP formula
that gpu_mfu divides by."""

import json
import math
import os

import pytest
import torch

from benchmarks.flops import forward_flops, training_flops
from runner import api
from runner.launch.plan import check_capacity, describe, make_plan
from runner.specs.errors import SpecError
from runner.specs.resolve import resolve
from runner.training.precision import Precision, resolve_precision

from conftest import TINY_OVERRIDES, TINY_RECIPE

STEPS = ["train.steps=12", "train.eval_every=12", "train.log_every=1", "decode.max_examples=5"]


def _losses(output_dir) -> list[float]:
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        return [r["train_loss"] for r in map(json.loads, f) if "train_loss" in r]


@pytest.fixture(scope="module")
def fp32_run(runner_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("fp32") / "run"
    api.train(resolve(TINY_RECIPE, TINY_OVERRIDES + STEPS), str(out), runner_data_dir, verbose=False)
    return _losses(out)


@pytest.mark.slow
def test_bf16_autocast_on_cpu_trains_close_to_fp32(fp32_run, runner_data_dir, tmp_path):
    api.train(resolve(TINY_RECIPE, TINY_OVERRIDES + STEPS + ["train.precision=bf16"]), str(tmp_path / "bf16"),
              runner_data_dir, verbose=False)
    bf16 = _losses(tmp_path / "bf16")
    assert len(bf16) == len(fp32_run) == 12 and all(math.isfinite(x) for x in bf16)
    assert bf16 != fp32_run  # autocast took effect: bf16 matmuls round differently
    for a, b in zip(bf16, fp32_run):
        assert a == pytest.approx(b, rel=0.03)


@pytest.mark.slow
def test_torch_compile_on_cpu_trains_like_eager(fp32_run, runner_data_dir, tmp_path):
    api.train(resolve(TINY_RECIPE, TINY_OVERRIDES + STEPS + ["train.compile=true"]), str(tmp_path / "compiled"),
              runner_data_dir, verbose=False)
    compiled = _losses(tmp_path / "compiled")
    assert len(compiled) == 12 and all(math.isfinite(x) for x in compiled)
    for a, b in zip(compiled, fp32_run):  # fused kernels round differently; the training is the same
        assert a == pytest.approx(b, rel=1e-3)


def test_precision_policy():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert Precision("auto", cpu).scaler is None
    with Precision("bf16", cpu).autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with Precision("fp32", cpu).autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        Precision("fp16", cpu)


def test_precision_and_compile_are_hashed_only_off_their_defaults():
    plain = resolve("reverse_cpu").spec_hash
    assert resolve("reverse_cpu", ["train.precision=auto", "train.compile=false"]).spec_hash == plain
    assert resolve("reverse_cpu", ["train.precision=bf16"]).spec_hash != plain
    assert resolve("reverse_cpu", ["train.compile=true"]).spec_hash != plain
    with pytest.raises(SpecError, match="fp16 needs resources.accelerator gpu"):
        resolve("reverse_cpu", ["train.precision=fp16"])


@pytest.mark.parametrize("recipe, workers, total", [
    ("multi30k_deen_gpu", 1, "12000 tokens/worker x 1 workers x 1 accumulation steps = 12000 tokens"),
    ("ende_base_single_gpu", 1, "1024 tokens/worker x 1 workers x 1 accumulation steps = 1024 tokens"),
    ("ende_big", 8, "2048 tokens/worker x 8 workers x 1 accumulation steps = 16384 tokens"),
])
def test_gpu_recipes_plan_their_gpus_batch_and_precision(recipe, workers, total, tmp_path):
    experiment = resolve(recipe)
    plan = make_plan(experiment, str(tmp_path / "out"), str(tmp_path / "data"), None, "sqlite:///x.db")
    rows = dict(describe(plan, experiment, cpu_count=2))
    assert plan.accelerator == "gpu" and plan.backend == "nccl" and plan.workers == workers
    assert total in rows["global batch"]
    assert "bf16 autocast" in rows["compute"] and "pinned memory" in rows["compute"]
    if workers > 1:
        assert "no_sync while accumulating" in rows["compute"]
    with pytest.raises(SpecError, match="accelerator=cpu"):
        check_capacity(plan, [{"CPU": 2.0}])  # this machine has no GPU: refused at once, with the shrink


class _Hp:
    hidden_size, filter_size, num_encoder_layers, num_decoder_layers = 2, 4, 1, 1


def test_flop_formula_against_a_hand_count():
    # d=2, f=4, V=3, one row, S=2 source and T=3 target positions, one encoder and one decoder layer.
    # Encoder layer, per source token: Q,K,V,O 4 x (2x2) + FFN 2 x (2x4) = 32 multiply-adds; 2 tokens: 64.
    # Decoder layer, per target token: self Q,K,V,O + cross Q,O 6 x 4 + FFN 16 = 40; 3 tokens: 120.
    # Cross-attention K,V over the 2 memory tokens: 2 x 4 = 8 each: 16.
    # Softmax layer: 2 x 3 = 6 per target token: 18.      Matmul multiply-adds: 64 + 120 + 16 + 18 = 218.
    # Attention, multiply-adds of QK^T and (weights)V, 2 x len_q x len_k x d each:
    #   encoder self 2x2x2x2 = 16, decoder self 2x3x3x2 = 36, cross 2x3x2x2 = 24: 76.
    # Forward FLOPs = 2 x (218 + 76) = 588; a training step = 3 x 588 = 1764.
    assert forward_flops(_Hp, vocab_size=3, rows=1, source_length=2, target_length=3) == 588
    assert training_flops(_Hp, vocab_size=3, rows=1, source_length=2, target_length=3) == 1764
    # Linear in the rows.
    assert forward_flops(_Hp, vocab_size=3, rows=5, source_length=2, target_length=3) == 5 * 588


def test_flop_formula_matches_the_matmuls_our_transformer_runs():
    """torch's FlopCounterMode counts every mm/addmm of a forward pass of the real model; the formula's
    matmul part must equal it exactly (on CPU, SDPA's score/value products are not counted by torch,
    so the formula's attention term is subtracted: it is checked by hand above)."""
    from torch.utils.flop_counter import FlopCounterMode

    from runner.problems.base import DataInfo

    experiment = resolve(TINY_RECIPE, ["hparams.hidden_size=16", "hparams.filter_size=32", "hparams.num_heads=2",
                                       "hparams.num_encoder_layers=2", "hparams.num_decoder_layers=1"])
    hp, vocab, rows, s, t = experiment.hparams, 11, 3, 5, 7
    model = api.build_model(experiment, DataInfo(input_vocab_size=vocab, target_vocab_size=vocab)).eval()
    batch = {"inputs": torch.randint(2, vocab, (rows, s)), "targets": torch.randint(2, vocab, (rows, t))}
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(batch)
    attention = 4 * rows * hp.hidden_size * (hp.num_encoder_layers * s * s + hp.num_decoder_layers * (t * t + t * s))
    assert counter.get_total_flops() == forward_flops(hp, vocab, rows, s, t) - attention
