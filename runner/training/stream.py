"""The deterministic stream of training micro-batches, and how a global step is shared out.

The stream walks `data.batch_plan("train", ..., epoch=e, shuffle=True)` for e = 0, 1, 2, ...
Its position (epoch, index of the next micro-batch) is all a checkpoint needs to resume the
data order exactly: the plan for an epoch is a pure function of its arguments. A training
micro-batch's random augmentation draws from `draw_generator(seed, place)`, a function of its
place in the stream alone: a resumed run, another worker collating it to count its tokens, and a
thread collating it a step ahead (step_batches.py) all draw the same.

A global step takes `world_size * accumulation` consecutive micro-batches; micro-batch i goes to
worker i % world_size. Every worker can count the target tokens of the whole step from the plan
(collating the other workers' micro-batches too), with no communication: that count is the
loss's denominator, so one worker accumulating 2 micro-batches and 2 workers with 1 each take
the same gradient.
"""

from __future__ import annotations

import hashlib
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

    def _walk(self, n: int) -> tuple[list[tuple[DataPosition, list[int]]], DataPosition]:
        """The next `n` (place, micro-batch) pairs and the position after them; moves nothing."""
        out, position = [], self.position
        while len(out) < n:
            plan = self._plan_for(position.epoch)
            if position.index >= len(plan):
                position = DataPosition(position.epoch + 1, 0)
                continue
            out.append((position, plan[position.index]))
            position = DataPosition(position.epoch, position.index + 1)
        return out, position

    def take_placed(self, n: int) -> list[tuple[DataPosition, list[int]]]:
        """The next `n` micro-batches with their places; crosses into the next epoch when one runs out."""
        out, self.position = self._walk(n)
        return out

    def peek_placed(self, n: int) -> list[tuple[DataPosition, list[int]]]:
        """What `take_placed(n)` would return, leaving the position where it is."""
        return self._walk(n)[0]

    def take(self, n: int) -> list[list[int]]:
        """The next `n` micro-batches (example indices)."""
        return [indices for _, indices in self.take_placed(n)]


def worker_share(step_batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """The micro-batches of a global step that worker `rank` trains on (i % world_size == rank)."""
    return step_batches[rank::world_size]


def draw_generator(seed: int, place: DataPosition) -> torch.Generator:
    """The random source of the training micro-batch at `place`, seeded by (seed, epoch, index)
    through a hash, so neighbouring places get unrelated streams."""
    key = hashlib.blake2b(f"{seed}/{place.epoch}/{place.index}".encode(), digest_size=8).digest()
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(key, "little") >> 1)  # manual_seed takes a signed 64-bit value
    return generator


def collate(data: Any, split: str, indices: list[int], rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The examples `indices` of `split` as tensors; `rng` is where training augmentation draws from."""
    examples = data.split(split)
    if rng is None:
        return data.collate([examples[i] for i in indices])
    return data.collate([examples[i] for i in indices], rng=rng)


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
