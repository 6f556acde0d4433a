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


# Hypothesis tensors under these names are self-attention caches: the next step extends them,
# and beam search's reordering is fused with that append (attention.append_positions).
LAZY_PREFIXES = ("self_k.", "self_v.")


def _lazy(name: str) -> bool:
    return name.startswith(LAZY_PREFIXES)


@dataclass(frozen=True)
class DecodeState:
    """Every tensor has the batch (sentence x beam) dimension first.

    `sentence`: the same for every hypothesis of a source sentence (the memory's cross-attention
    keys/values, its mask): repeated once when beams or samples are made, never reordered.
    `hypothesis`: one row per hypothesis (self-attention key/value caches, recurrent state):
    beam search reorders it with `select`, one index_select per tensor per step.
    `length`: tokens fed so far, the start symbol included (the same for every row).
    `parents`: a reordering `select` has recorded but not yet applied to the self-attention
    caches (`LAZY_PREFIXES`); the next step applies it while appending (`self_cache`).
    """

    sentence: dict[str, Tensor] = field(default_factory=dict)
    hypothesis: dict[str, Tensor] = field(default_factory=dict)
    length: int = 0
    parents: Tensor | None = None

    def repeat_rows(self, times: int) -> "DecodeState":
        """Row b becomes rows b*times .. b*times+times-1 (beams or samples of one sentence)."""
        if times == 1:
            return self
        state = self.applied()
        rows = state.rows()
        if rows is None:
            return state
        index = torch.arange(rows).repeat_interleave(times)
        return DecodeState(_index_rows(state.sentence, index), _index_rows(state.hypothesis, index), state.length)

    def select(self, index: Tensor) -> "DecodeState":
        """Hypothesis rows reordered: new row i is old row index[i]. `index` must stay within
        each sentence's group of rows (beam search picks parents among its own beams), so the
        per-sentence tensors need no reordering, unless `index` has fewer rows (sentences that
        finished leave). Self-attention caches are reordered lazily."""
        rows = self.rows()
        parents = index if self.parents is None else self.parents.index_select(0, index.to(self.parents.device))
        eager = {name: value for name, value in self.hypothesis.items() if not _lazy(name)}
        hypothesis = {**self.hypothesis, **_index_rows(eager, index)}
        # Fewer rows than before: finished sentences leave the batch, with their memory.
        sentence = self.sentence if index.shape[0] == rows else _index_rows(self.sentence, index)
        return DecodeState(sentence, hypothesis, self.length, parents)

    def applied(self) -> "DecodeState":
        """The same state with any pending reordering applied to every tensor."""
        if self.parents is None:
            return self
        lazy = {name: value for name, value in self.hypothesis.items() if _lazy(name)}
        return DecodeState(self.sentence, {**self.hypothesis, **_index_rows(lazy, self.parents)}, self.length)

    def self_cache(self, name: str) -> Tensor | None:
        """A self-attention cache as stored: rows still in the order before `parents`."""
        return self.hypothesis.get(name)

    def rows(self) -> int | None:
        """Rows (hypotheses) of the state, a pending reordering included."""
        if self.parents is not None:
            return self.parents.shape[0]
        for value in (*self.sentence.values(), *self.hypothesis.values()):
            return value.shape[0]
        return None
