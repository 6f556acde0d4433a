"""What an autoregressive model carries from one decoding step to the next (incremental decoding).

Without a cache a decoder re-runs the whole prefix at every step: decoding is quadratic in the
output length. With one, each step runs only the newest token: self-attention appends that
token's keys/values to a per-layer cache, cross-attention reuses the memory's keys/values
computed once per sentence, a recurrent decoder keeps its (h, c).

The step contract (docs/ARCHITECTURE.md), provided by every autoregressive model:
    logits, state = model.start_decoding(memory)       # feeds the start symbol
    logits, state = model.decode_step(state, tokens)   # feeds tokens [B], the newest token per row
`logits` [B, V] predict the next token; they equal `model.decode(memory, prefix)[:, -1]` for the
same prefix (the uncached path), which tests/test_incremental_decoding.py asserts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


def _index_rows(tensors: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
    return {name: value.index_select(0, index.to(value.device)) for name, value in tensors.items()}


@dataclass(frozen=True)
class DecodeState:
    """Every tensor has the batch (sentence x beam) dimension first.

    `sentence`: the same for every hypothesis of a source sentence (the memory's cross-attention
    keys/values, its mask): repeated once when beams or samples are made, never reordered.
    `hypothesis`: one row per hypothesis (self-attention key/value caches, recurrent state):
    beam search reorders it with `select`, one index_select per tensor per step.
    `length`: tokens fed so far, the start symbol included (the same for every row).
    """

    sentence: dict[str, Tensor] = field(default_factory=dict)
    hypothesis: dict[str, Tensor] = field(default_factory=dict)
    length: int = 0

    def repeat_rows(self, times: int) -> "DecodeState":
        """Row b becomes rows b*times .. b*times+times-1 (beams or samples of one sentence)."""
        if times == 1:
            return self
        rows = self.rows()
        if rows is None:
            return self
        index = torch.arange(rows).repeat_interleave(times)
        return DecodeState(_index_rows(self.sentence, index), _index_rows(self.hypothesis, index), self.length)

    def select(self, index: Tensor) -> "DecodeState":
        """Hypothesis rows reordered: new row i is old row index[i]. `index` must stay within
        each sentence's group of rows (beam search picks parents among its own beams), so the
        per-sentence tensors need no reordering."""
        return DecodeState(self.sentence, _index_rows(self.hypothesis, index), self.length)

    def rows(self) -> int | None:
        for value in (*self.sentence.values(), *self.hypothesis.values()):
            return value.shape[0]
        return None
