"""Two real DistributedDataParallel workers (gloo, CPU) against one worker accumulating two
micro-batches: the same data, the same gradients, so the same loss curve and weights."""

import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from runner.training import checkpoint as ckpt
from runner.training.loop import train
from runner.training.session import InProcessSession
from test_training_fakes import TinyCopyData, fresh_model, tiny_experiment

STEPS = 6


class TwoWorkerSession(InProcessSession):
    """InProcessSession with a rank: rank 0 records metrics and checkpoints, rank 1 only computes."""

    world_size = 2

    def __init__(self, output_dir, rank):
        super().__init__(output_dir, device="cpu", verbose=False)
        self.world_rank = rank

    def report(self, metrics, checkpoint_dir=None, milestone=True):
        if self.is_main:
            super().report(metrics, checkpoint_dir, milestone)


def _experiment(accumulation):
    return tiny_experiment(steps=STEPS, eval_every=3, gradient_accumulation_steps=accumulation,
                           metrics=("accuracy", "accuracy_per_sequence"))


def _worker(rank, port, output_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        final = train(_experiment(1), TinyCopyData(), TwoWorkerSession(output_dir, rank), model=fresh_model(dropout=0.0)).metrics
        with open(os.path.join(output_dir, f"final_rank{rank}.json"), "w") as f:
            json.dump(final, f)
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(output_dir):
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        return {r["step"]: r["train_loss"] for r in map(json.loads, f) if "train_loss" in r}


@pytest.mark.slow
def test_two_ddp_workers_match_one_worker_with_accumulation(tmp_path):
    single = str(tmp_path / "single")
    single_final = train(_experiment(2), TinyCopyData(), InProcessSession(single, device="cpu", verbose=False),
                         model=fresh_model(dropout=0.0)).metrics

    double = str(tmp_path / "ddp")
    os.makedirs(double)
    mp.start_processes(_worker, args=(_free_port(), double), nprocs=2, start_method="spawn", join=True)

    one, two = _losses(single), _losses(double)
    assert sorted(one) == sorted(two) == list(range(1, STEPS + 1))
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-5)
    a = ckpt.load_model_state(ckpt.latest_checkpoint(os.path.join(single, "checkpoints")))
    b = ckpt.load_model_state(ckpt.latest_checkpoint(os.path.join(double, "checkpoints")))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key

    with open(os.path.join(double, "final_rank0.json")) as f:
        rank0 = json.load(f)
    with open(os.path.join(double, "final_rank1.json")) as f:
        rank1 = json.load(f)
    # Teacher-forced eval is sharded and all-reduced: both ranks hold the full-split numbers.
    assert rank0["accuracy"] == rank1["accuracy"] == pytest.approx(single_final["accuracy"], abs=1e-6)
    assert rank0["eval_loss"] == pytest.approx(single_final["eval_loss"], rel=1e-5)
    # Decoding runs on the main worker only.
    assert "accuracy_per_sequence" in rank0 and "accuracy_per_sequence" not in rank1
