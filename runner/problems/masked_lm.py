"""Data for masked language modelling (family `masked_lm`): a cached language-model text
problem, with BERT masks drawn when batches are made.

The text is encoded and cached exactly as family language_model does (text.build). A batch is
  inputs   the sequence with the chosen positions corrupted (<mask> / random token / unchanged)
  targets  the original id at each chosen position, target_pad_id (0) everywhere else
so the loss, accuracy and perplexity cover the chosen positions only. <mask> is one id past
the text vocabulary. Masks depend only on (masking_seed, split, example index): every worker,
every epoch and every resumed run sees the same ones. The train split repeats the text
`duplicate_factor` times with independent masks (BERT's static masking with dupe_factor).
EOS is never chosen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runner.problems import batching, text
from runner.problems.base import FIRST_REAL_ID, PAD_ID, DataInfo, ProblemData, check_split_name
from runner.problems.masked_lm_spec import MaskedLMProblem
from runner.problems.text_spec import LanguageModelProblem

_MASKING_FIELDS = {"mask_probability", "mask_token_probability", "random_token_probability", "duplicate_factor",
                   "masking_seed"}
_SPLIT_CODES = {"train": 0, "eval": 1, "test": 2}


def _text_problem(spec: MaskedLMProblem) -> LanguageModelProblem:
    """The language-model problem whose cached text this problem masks."""
    fields = spec.model_dump(exclude=_MASKING_FIELDS)
    fields["family"] = "language_model"
    return LanguageModelProblem.model_validate(fields)


def locate(spec: MaskedLMProblem, data_dir: str | Path):
    """The text's source and cache folder (masks are drawn when batches are made, not cached)."""
    return text.locate(_text_problem(spec), data_dir)


def build(spec: MaskedLMProblem, data_dir: str | Path) -> "MaskedLMData":
    return MaskedLMData(text.build(_text_problem(spec), data_dir), spec)


def from_assets(spec: MaskedLMProblem, folder: Path) -> "MaskedLMData":
    """The text vocabulary from a run's data_assets/ folder (assets.py); no splits are read."""
    return MaskedLMData(text.from_assets(spec, folder), spec)


class MaskedSplit(Sequence):
    """`copies` passes over a text split; example j is sentence j % n, tagged with its mask key."""

    def __init__(self, base: Sequence, split: str, copies: int):
        self.base, self.code, self.copies = base, _SPLIT_CODES[split], copies
        self.lengths = np.tile(np.asarray(base.target_lengths), copies)

    def __len__(self) -> int:
        return len(self.base) * self.copies

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return {"ids": self.base[index % len(self.base)]["targets"], "key": (self.code, index)}


class MaskedLMData(ProblemData):
    def __init__(self, base: Any, spec: MaskedLMProblem):
        self.base, self.spec = base, spec
        self.assets_source = base.folder  # its vocabulary files are what inference needs (assets.py)
        self.text_vocab_size = base.info.target_vocab_size
        self.mask_id = self.text_vocab_size  # one id past the text vocabulary
        size = self.text_vocab_size + 1
        self.info = DataInfo(input_vocab_size=size, target_vocab_size=size, target_pad_id=PAD_ID)
        masking = ",".join(f"{k}={getattr(spec, k)}" for k in sorted(_MASKING_FIELDS))
        self.fingerprint = hashlib.sha256(f"{base.fingerprint}|{masking}".encode()).hexdigest()
        self._splits: dict[str, MaskedSplit] = {}

    def split(self, name: str) -> MaskedSplit:
        check_split_name(name)
        if name not in self._splits:
            copies = self.spec.duplicate_factor if name == "train" else 1
            self._splits[name] = MaskedSplit(self.base.split(name), name, copies)
        return self._splits[name]

    def batch_plan(self, split: str, batch_size: int, max_length: int, seed: int, epoch: int,
                   shuffle: bool) -> list[list[int]]:
        """Token-bucketed (batch_size counts tokens); over-long training sequences are dropped."""
        limit = self.base.effective_max_length(max_length)
        return batching.token_batches(None, self.split(split).lengths, batch_size, limit, seed, epoch, shuffle,
                                      drop_long=split == "train").batches

    def mask(self, ids: np.ndarray, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(corrupted inputs, targets) of one sequence ending in EOS."""
        s = self.spec
        rng = np.random.default_rng([s.masking_seed, *key])
        candidates = np.arange(len(ids) - 1)  # every position but the final EOS
        inputs, targets = ids.astype(np.int64), np.zeros(len(ids), dtype=np.int64)
        if candidates.size == 0:
            return inputs, targets
        chosen = rng.choice(candidates, max(1, int(round(candidates.size * s.mask_probability))), replace=False)
        targets[chosen] = inputs[chosen]
        draw = rng.random(chosen.size)
        to_mask = chosen[draw < s.mask_token_probability]
        to_random = chosen[(draw >= s.mask_token_probability)
                           & (draw < s.mask_token_probability + s.random_token_probability)]
        inputs[to_mask] = self.mask_id
        inputs[to_random] = rng.integers(FIRST_REAL_ID, self.text_vocab_size, size=to_random.size)
        return inputs, targets

    def collate(self, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max((len(ex["ids"]) for ex in examples), default=0)
        inputs = np.zeros((len(examples), width), dtype=np.int64)
        targets = np.zeros((len(examples), width), dtype=np.int64)
        for row, ex in enumerate(examples):
            corrupted, chosen = self.mask(np.asarray(ex["ids"]), ex["key"])
            inputs[row, : len(corrupted)], targets[row, : len(chosen)] = corrupted, chosen
        return {"inputs": torch.from_numpy(inputs), "targets": torch.from_numpy(targets)}

    def decode_text(self, ids) -> str:
        return self.base.decode_text([i for i in ids if i != self.mask_id])
