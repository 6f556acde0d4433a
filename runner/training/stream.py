"""The deterministic stream of training micro-batches, and how a global step is shared out.

The stream walks `data.batch_plan("train", ..., epoch=e, shuffle=True)` for e = 0, 1, 2, ...
Its position (epoch, index of the next micro-batch) is all a checkpoint needs to resume the
data order exactly: the plan for an epoch is a pure function of its arguments.

A global step takes `world_size * accumulation` consecutive micro-batches; micro-batch i goes to
worker i % world_size. Every worker can count the target tokens of the whole step from the plan
(collating the other workers' micro-batches too), with no communication: that count is the
loss's denominator, so one worker accumulating 2 micro-batches and 2 workers with 1 each take
the same gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from runner.training.checkpoint import DataPosition
from runner.training.loss import count_target_tokens


class EmptyTrainingData(ValueError):
    pass


class BatchStream:
    """Micro-batches (lists of example indices) in plan order, epoch after epoch."""

    def __init__(self, data: Any, batch_size: int, max_length: int, seed: int, position: DataPosition | None = None):
        self.data = data
        self.batch_size = batch_size
        self.max_length = max_length
        self.seed = seed
        self.position = DataPosition(**vars(position)) if position is not None else DataPosition()
        self._plan_epoch: int | None = None
        self._plan: list[list[int]] = []

    def _plan_for(self, epoch: int) -> list[list[int]]:
        if self._plan_epoch != epoch:
            plan = self.data.batch_plan("train", self.batch_size, self.max_length, self.seed, epoch, True)
            if not plan:
                raise EmptyTrainingData(
                    f"the train split gave no batches (batch_size={self.batch_size}, max_length={self.max_length}); "
                    "is the split empty, or are all examples longer than max_length / batch_size?"
                )
            self._plan_epoch, self._plan = epoch, [list(b) for b in plan]
        return self._plan

    def take(self, n: int) -> list[list[int]]:
        """The next `n` micro-batches; crosses into the next epoch when one runs out."""
        out = []
        while len(out) < n:
            plan = self._plan_for(self.position.epoch)
            if self.position.index >= len(plan):
                self.position = DataPosition(self.position.epoch + 1, 0)
                continue
            out.append(plan[self.position.index])
            self.position = DataPosition(self.position.epoch, self.position.index + 1)
        return out


def worker_share(step_batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """The micro-batches of a global step that worker `rank` trains on (i % world_size == rank)."""
    return step_batches[rank::world_size]


def collate(data: Any, split: str, indices: list[int]) -> dict[str, torch.Tensor]:
    examples = data.split(split)
    return data.collate([examples[i] for i in indices])


def global_target_tokens(
    data: Any, step_batches: list[list[int]], mine: dict[int, dict[str, torch.Tensor]], pad_id: int,
    labels_of: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None,
) -> int:
    """Non-pad target tokens in all of a step's micro-batches.

    `mine` maps a micro-batch's position in the step to its already collated tensors, so this
    worker's own batches are not collated twice. `labels_of(batch)` is the model's
    `training_targets` when it trains on more than batch["targets"] (docs/ARCHITECTURE.md).
    """
    total = 0
    for i, indices in enumerate(step_batches):
        batch = mine[i] if i in mine else collate(data, "train", indices)
        total += count_target_tokens(labels_of(batch) if labels_of else batch["targets"], pad_id)
    return total
