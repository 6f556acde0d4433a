"""Evaluation: teacher-forced statistics on a split, and every metric of the problem on the test
split. Nothing here writes a file: the results go back to the host through `train()`'s
FinalResults, and runner/run_dir.py writes them.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.distributed as dist

from runner import metrics as metric_registry
from runner.metrics.base import DecodedOutputs, RolloutOutputs, TokenStats
from runner.run_dir import read_final_metrics, write_final_metrics  # noqa: F401  (their old import path)
from runner.training.decode import decode_split_ids
from runner.training.loss import stats_vector, to_token_stats, zero_stats
from runner.training.stream import collate


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; full precision elsewhere (CPU bf16 is slow and changes numerics)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _distributed(world_size: int) -> bool:
    return world_size > 1 and dist.is_available() and dist.is_initialized()


@torch.no_grad()
def teacher_forced_stats(
    model: torch.nn.Module,
    data: Any,
    split: str,
    *,
    batch_size: int,
    seed: int,
    label_smoothing: float,
    pad_id: int,
    max_batches: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> TokenStats:
    """Sums of loss, NLL and accuracy over the split's first `max_batches` batches (0 = all).

    Batch i is evaluated by worker i % world_size; the sums are all-reduced when running
    distributed, so every worker returns the same numbers.
    """
    plan = data.batch_plan(split, batch_size, 0, seed, 0, False)
    if max_batches:
        plan = plan[:max_batches]
    if not plan:
        raise ValueError(f"the {split} split gave no batches to evaluate (batch_size={batch_size}); is it empty?")
    device = next(model.parameters()).device
    total = zero_stats(device)
    was_training = model.training
    model.eval()
    try:
        for indices in plan[rank::world_size]:
            batch = {k: v.to(device, non_blocking=True) for k, v in collate(data, split, indices).items()}
            with autocast_for(device):
                logits = model(batch).logits
            total += stats_vector(logits, batch["targets"], pad_id, label_smoothing)
    finally:
        model.train(was_training)
    if _distributed(world_size):
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return to_token_stats(total)


def decoded_outputs(model: torch.nn.Module, data: Any, split: str, decode_spec: Any) -> DecodedOutputs:
    """Decode the split and line the output up with the raw references."""
    hyp_ids, ref_ids = decode_split_ids(model, data, split, decode_spec)
    references = list(data.reference_texts(split))[: len(hyp_ids)]
    return DecodedOutputs(
        hypotheses=[data.decode_text(ids) for ids in hyp_ids],
        references=references,
        hypothesis_ids=hyp_ids,
        reference_ids=ref_ids,
    )


def evaluate_test_split(
    experiment: Any, model: torch.nn.Module, data: Any, session: Any, metric_names: list[str]
) -> tuple[dict[str, float], dict[str, str], list[str] | None]:
    """Every metric the problem lists, on the test split: teacher-forced ones on all workers,
    decoded ones on the main worker.

    Returns (values, signatures, decoded hypotheses or None); workers other than the main one
    return teacher-forced values only.
    """
    stats = teacher_forced_stats(
        model, data, "test",
        batch_size=experiment.hparams.batch_size, seed=experiment.train.seed,
        label_smoothing=experiment.hparams.label_smoothing, pad_id=data.info.target_pad_id,
        rank=session.world_rank, world_size=session.world_size,
    )
    values = metric_registry.compute_token_metrics(metric_registry.token_metric_names(metric_names), stats)
    signatures: dict[str, str] = {}
    hypotheses = None
    decoded_names = metric_registry.decoded_metric_names(metric_names)
    if decoded_names and session.is_main:
        outputs = decoded_outputs(model, data, "test", experiment.decode)
        hypotheses = list(outputs.hypotheses)
        decoded_values, signatures = metric_registry.compute_decoded_metrics(decoded_names, outputs)
        values.update(decoded_values)
    rollout_names = metric_registry.rollout_metric_names(metric_names)
    if rollout_names and session.is_main:
        rollout_values, rollout_signatures = metric_registry.compute_rollout_metrics(
            rollout_names, policy_rollouts(model, data))
        values.update(rollout_values)
        signatures.update(rollout_signatures)
    return values, signatures, hypotheses


def policy_rollouts(model: torch.nn.Module, data: Any, target_return: float | None = None) -> RolloutOutputs:
    """The problem's evaluation episodes (offline RL): the policy rolled out on its fixed seeds,
    conditioned on the evaluation's target return (default: the expert's mean return)."""
    from runner.training.rollout import rollout, target_return_of

    evaluation, refs = data.evaluation, data.references
    target = target_return_of(data, target_return)
    seeds = [evaluation.seed + i for i in range(evaluation.episodes)]
    result = rollout(model, data.info, seeds, target)
    signature = (f"env={data.info.env_id}|episodes={len(seeds)}|seeds={seeds[0]}..{seeds[-1]}|target_return={target:g}"
                 f"|greedy actions|0=random policy ({refs.random_return:.2f}), "
                 f"100=expert behaviour policy ({refs.expert_return:.2f}) on these seeds")
    return RolloutOutputs(result.returns, refs.random_return, refs.expert_return, signature)
