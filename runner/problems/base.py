"""What every problem family hands to training: `DataInfo` and the `ProblemData` interface.

A family's `build(spec, data_dir)` returns a `ProblemData`. Training only talks to this
interface, so a text, speech or image problem looks the same to the loop: index lists from
`batch_plan`, tensors from `collate`, strings from `decode_text` / `reference_texts`.

This module stays torch-free: only concrete `collate` implementations import torch, lazily.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

SPLITS = ("train", "eval", "test")

PAD_ID = 0  # also the decoder's start symbol (T2T shifts targets right with pad)
EOS_ID = 1
FIRST_REAL_ID = 2


@dataclass(frozen=True)
class DataInfo:
    """Sizes and ids a model builder needs from the data."""

    input_vocab_size: int
    target_vocab_size: int
    pad_id: int = PAD_ID
    eos_id: int = EOS_ID
    target_pad_id: int = PAD_ID
    input_kind: Literal["tokens", "features", "pixels", "trajectories"] = "tokens"
    # False for language-model problems: batches carry only "targets".
    has_inputs: bool = True


class ProblemData(abc.ABC):
    """A problem's data, ready for training: splits, batching, collation and detokenization."""

    info: DataInfo
    fingerprint: str  # the cache key; equal fingerprints mean identical encoded data
    # True: collate(examples, rng=...) draws its training augmentation from `rng` only (a generator
    # the loop seeds per micro-batch), never from torch's global RNG, and costs enough that the
    # loop collates each step one step ahead on a second thread (runner/training/step_batches.py).
    collate_ahead: bool = False

    @abc.abstractmethod
    def split(self, name: str) -> Sequence[Any]:
        """The examples of split `name` ("train", "eval" or "test"), indexable by batch_plan's ids."""

    @abc.abstractmethod
    def batch_plan(
        self, split: str, batch_size: int, max_length: int, seed: int, epoch: int, shuffle: bool
    ) -> list[list[int]]:
        """Lists of example indices, one list a batch; the same arguments give the same plan."""

    @abc.abstractmethod
    def collate(self, examples: Sequence[Any]) -> dict[str, Any]:
        """Stack examples into a dict of torch tensors."""

    def decode_text(self, ids: Any) -> str:
        """Detokenized text for one target id sequence (pad and EOS stripped)."""
        raise NotImplementedError(f"{type(self).__name__} has no text targets to decode")

    def reference_texts(self, split: str) -> list[str]:
        """The untokenized reference target of every example of `split`, in index order."""
        raise NotImplementedError(f"{type(self).__name__} has no text references")


def check_split_name(name: str) -> None:
    if name not in SPLITS:
        raise KeyError(f"unknown split '{name}'; expected one of {', '.join(SPLITS)}")


def example_batches(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool) -> list[list[int]]:
    """Fixed-size batches of example indices (batch_size counts EXAMPLES), for image-like problems.

    The order depends only on (seed, epoch), so every worker and every resumed run sees the same plan.
    """
    import numpy as np  # here, not at module level: spec validation imports this package without numpy

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = np.arange(n)
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
