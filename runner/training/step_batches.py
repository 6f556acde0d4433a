"""The collated micro-batches of each training step, made one step ahead where collation is heavy.

Speech with voice augmentation (runner/problems/voice_augment.py) spends almost as long changing
waveforms as the model spends training on them: ~78 ms to collate a micro-batch with every option
on, against ~98 ms a training step on 1 thread (benchmarks/speech_augment.py). A problem whose data
sets `collate_ahead` has its next step's micro-batches collated on a second thread while this step
trains, so the augmentation costs the loop no steps.

That changes no number: such data draws its augmentation only from the `rng` it is given, and
the stream gives each micro-batch `draw_generator(seed, place)`, fixed by its place in the
stream. Collated now or a step ahead, by this worker or by another counting its tokens, and
before or after a resume, a micro-batch is the same tensors (tested). Data without the flag is
collated on the training thread when its step comes, as before: image crops still draw from
torch's global RNG, which a second thread would race.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from runner.training.checkpoint import DataPosition
from runner.training.stream import BatchStream, collate, draw_generator

Placed = list[tuple[DataPosition, list[int]]]


class StepBatches:
    """`next_step()` takes a step's micro-batches from the stream and returns them collated."""

    def __init__(self, data: Any, stream: BatchStream, seed: int, rank: int, world: int, accumulation: int,
                 thread: bool = True):
        """`thread=False` collates every step when it comes, drawing the same (tests compare the two)."""
        self.data, self.stream, self.seed = data, stream, seed
        self.rank, self.world = rank, world
        self.count = world * accumulation
        self.ahead = bool(getattr(data, "collate_ahead", False))
        use_thread = self.ahead and thread
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="collate-ahead") if use_thread else None
        self._pending: tuple[list[DataPosition], Future] | None = None

    def _needed(self, placed: Placed) -> list[int]:
        """Positions in the step to collate here: this worker's own; with `collate_ahead` and several
        workers, all of them, since each worker counts the whole step's target tokens
        (stream.global_target_tokens collates whatever is missing, on the training thread)."""
        if self.ahead and self.world > 1:
            return list(range(len(placed)))
        return list(range(self.rank, len(placed), self.world))

    def _collate(self, placed: Placed) -> dict[int, dict[str, torch.Tensor]]:
        out = {}
        for i in self._needed(placed):
            place, indices = placed[i]
            rng = draw_generator(self.seed, place) if self.ahead else None
            out[i] = collate(self.data, "train", indices, rng)
        return out

    def next_step(self) -> tuple[list[list[int]], dict[int, dict[str, torch.Tensor]]]:
        """(the step's micro-batches as example indices, {position in step: collated batch} for the
        positions this worker needs)."""
        placed = self.stream.take_placed(self.count)
        places = [place for place, _ in placed]
        if self._pending is not None and self._pending[0] == places:
            collated = self._pending[1].result()
        else:  # the first step, or a stream that moved otherwise
            collated = self._collate(placed)
        self._pending = None
        if self._pool is not None:
            upcoming = self.stream.peek_placed(self.count)
            self._pending = ([place for place, _ in upcoming], self._pool.submit(self._collate, upcoming))
        return [indices for _, indices in placed], collated

    def close(self) -> None:
        """Stop the helper thread; a step collated ahead and never trained is dropped."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._pending = None, None
