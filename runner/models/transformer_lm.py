"""Decoder-only Transformer language model, from the same blocks as the encoder-decoder.

Plain mode ("none"): a causal LM over batch["targets"].
Prepend modes (T2T's transformer_prepend, e.g. summarization): ONE sequence
    inputs (padded to S) + [separator 0] + targets
where the separator doubles as the decoder start symbol, so the target part of the sequence
is exactly `shift_right(targets)` and the model's decode(memory, prefix) runs inputs + prefix.
Logits are returned only for the target part, so they line up with batch["targets"] and the
loss covers targets only (T2T's weights_prepend_inputs_to_targets). With prepend_loss
"sequence" (T2T's training of prepend_inputs_masked_attention), training scores the whole
sequence: `training_targets(batch)` gives the labels (inputs[1:], the separator as padding,
targets) and the training forward returns logits for every position. The first input token
has no start symbol before it, so it is the one token T2T scores that this does not.

Permutation mode (`masking: permutation`, XLNet's objective on a plain LM): the sequence is
the targets themselves (not shifted) in two streams run as ONE sequence of 2L positions through
the same layers: content h (token + position) and query g (a learned vector + position). A
factorization order gives each position a rank; content i attends to content j with
rank(j) <= rank(i), query i to content j with rank(j) < rank(i) and to itself, so the query
output at i predicts token i from the tokens before it in the order, never from token i
(`permutation_attention_mask`). Training draws a random order per sequence (padding last);
eval and decoding use left to right. Every token is predicted (XLNet's K = 1).

Padding inside the sequence (the inputs' padding sits before the separator) is masked as keys
and skipped by the positions, so a token's position and output do not depend on how much
padding its batch needed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require, require_token_inputs
from runner.models.blocks import (
    DecoderStack, LayerConfig, SinusoidalPositions, SoftmaxProjection, TokenEmbedding, init_weights,
    padding_mask, shift_right,
)
from runner.models.incremental import DecodeState
from runner.models.output import ModelOutput


def prepend_attention_mask(keep: Tensor, prefix_length: int, full_attention: bool) -> Tensor:
    """[B, 1, L, L] mask for a sequence whose first `prefix_length` positions are the inputs
    and the separator. Causal, or (full_attention) causal except that the prefix attends to
    all of itself, as T2T's attention_bias_prepend_inputs_full_attention. Pad keys are masked;
    every position may attend to itself, so no softmax row is ever empty."""
    length = keep.shape[1]
    index = torch.arange(length, device=keep.device)
    allowed = index[None, :] <= index[:, None]
    if full_attention:
        allowed = allowed | (index[None, :] < prefix_length)
    allowed = (allowed[None] & keep[:, None, :]) | torch.eye(length, dtype=torch.bool, device=keep.device)
    return allowed[:, None]


def permutation_attention_mask(ranks: Tensor) -> Tensor:
    """[B, 1, 2L, 2L] two-stream mask for positions ranked in a factorization order ([B, L],
    0 = first): rows/columns 0..L-1 are the content stream, L..2L-1 the query stream. Content
    attends to content ranked at or before it; query attends to content ranked strictly before
    it and to its own query position (which carries no token, so nothing leaks; no row is empty)."""
    batch, length = ranks.shape
    at_or_before = ranks[:, None, :] <= ranks[:, :, None]  # [B, i, j]: rank(j) <= rank(i)
    before = ranks[:, None, :] < ranks[:, :, None]
    eye = torch.eye(length, dtype=torch.bool, device=ranks.device).expand(batch, length, length)
    content_rows = torch.cat([at_or_before, torch.zeros_like(at_or_before)], dim=2)
    query_rows = torch.cat([before, eye], dim=2)
    return torch.cat([content_rows, query_rows], dim=1)[:, None]


def factorization_ranks(keep: Tensor, random_order: bool) -> Tensor:
    """[B, L] rank of each position: a uniformly random order of the real tokens (torch's RNG), or
    left to right; padding always comes last, so no real token ever attends to it."""
    length = keep.shape[1]
    keys = torch.rand(keep.shape, device=keep.device) if random_order else \
        torch.arange(length, device=keep.device, dtype=torch.float32).expand(keep.shape) / max(length, 1)
    keys = keys + (~keep).float() * 2.0  # after every real token
    return keys.argsort(dim=1).argsort(dim=1)


class TransformerLM(nn.Module):
    def __init__(self, hparams: Any, vocab_size: int, pad_id: int = 0):
        super().__init__()
        hp = hparams
        self.prepend_mode, self.pad_id = hp.prepend_mode, pad_id
        self.sequence_loss = getattr(hp, "prepend_loss", "targets") == "sequence"
        self.moe_loss_coef, self.embedding_dropout = hp.moe_loss_coef, hp.layer_prepostprocess_dropout
        self.embedding = TokenEmbedding(vocab_size, hp.hidden_size, pad_id)
        tied = self.embedding if hp.shared_embedding_and_softmax_weights else None
        self.softmax = SoftmaxProjection(vocab_size, hp.hidden_size, tied_to=tied)
        self.positions = SinusoidalPositions(hp.hidden_size)
        self.decoder = DecoderStack(LayerConfig.from_hparams(hp), hp.num_decoder_layers, cross_attention=False)
        self.permutation = getattr(hp, "masking", "causal") == "permutation"
        # XLNet's w: what the query stream starts from instead of the token it must predict.
        self.query_start = nn.Parameter(torch.empty(hp.hidden_size)) if self.permutation else None
        init_weights(self, hp.initializer_gain)
        if self.query_start is not None:
            nn.init.normal_(self.query_start, std=hp.hidden_size**-0.5)

    def encode(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """{"inputs": [B, S]}: the inputs to prepend (S = 0 in plain mode)."""
        if self.prepend_mode != "none":
            return {"inputs": require(batch, "inputs", f"transformer_lm (prepend_mode={self.prepend_mode})")}
        reference = batch["inputs"] if "inputs" in batch else require(batch, "targets", "transformer_lm")
        return {"inputs": reference.new_zeros(reference.shape[0], 0, dtype=torch.long)}

    def _whole_sequence(self) -> bool:
        return self.sequence_loss and self.training

    def training_targets(self, batch: dict[str, Tensor]) -> Tensor:
        """The labels the training logits line up with (the loop's hook): batch["targets"], or
        with prepend_loss 'sequence' the next token of inputs + separator + targets at every position
        (padding and the separator, id pad, are not scored)."""
        targets = require(batch, "targets", "transformer_lm")
        if not self.sequence_loss:
            return targets
        inputs = require(batch, "inputs", "transformer_lm (prepend_loss=sequence)")
        separator = inputs.new_full((inputs.shape[0], 1), self.pad_id)
        return torch.cat([inputs[:, 1:], separator, targets.to(inputs.dtype)], dim=1)

    def _decode(self, memory: dict[str, Tensor], prefix: Tensor) -> tuple[Tensor, Tensor | None]:
        inputs = memory["inputs"]
        source_length = inputs.shape[1]
        if source_length == 0:  # plain LM: no padding inside the sequence, SDPA's causal fast path
            x = self.positions(self.embedding(prefix))
            hidden, aux = self.decoder(F.dropout(x, self.embedding_dropout, self.training))
            return self.softmax(hidden), aux
        sequence = torch.cat([inputs, prefix], dim=1)
        keep = torch.cat([padding_mask(inputs, self.pad_id), torch.ones_like(prefix, dtype=torch.bool)], dim=1)
        positions = (keep.cumsum(dim=1) - 1).clamp(min=0)  # pads repeat their predecessor's position
        x = self.positions(self.embedding(sequence), positions)
        mask = prepend_attention_mask(keep, source_length + 1, self.prepend_mode == "prepend_inputs_full_attention")
        hidden, aux = self.decoder(F.dropout(x, self.embedding_dropout, self.training), self_mask=mask)
        if self._whole_sequence():
            return self.softmax(hidden), aux  # every position is scored (training_targets)
        return self.softmax(hidden[:, source_length:]), aux  # project the target part only

    def _two_streams(self, tokens: Tensor, ranks: Tensor) -> tuple[Tensor, Tensor | None]:
        """Permutation mode: logits [B, L, V] of the query stream, position i predicting tokens[:, i]."""
        batch, length = tokens.shape
        content = self.positions(self.embedding(tokens))
        query = self.positions(self.query_start.to(content.dtype).expand(batch, length, -1))
        x = F.dropout(torch.cat([content, query], dim=1), self.embedding_dropout, self.training)
        hidden, aux = self.decoder(x, self_mask=permutation_attention_mask(ranks))
        return self.softmax(hidden[:, length:]), aux

    def _permutation_decode(self, prefix: Tensor) -> tuple[Tensor, Tensor | None]:
        """The decode contract in left-to-right order: query t sees prefix[:, 1:t+1] (tokens before t)."""
        tokens = torch.cat([prefix[:, 1:], prefix.new_full((prefix.shape[0], 1), self.pad_id)], dim=1)
        ranks = torch.arange(prefix.shape[1], device=prefix.device).expand(prefix.shape)
        return self._two_streams(tokens, ranks)

    def decode(self, memory: dict[str, Tensor], prefix: Tensor) -> Tensor:
        """prefix [B, T] starting with 0 (the separator in prepend mode) -> logits [B, T, V]."""
        if self.permutation:
            return self._permutation_decode(prefix)[0]
        return self._decode(memory, prefix)[0]

    def start_decoding(self, memory: dict[str, Tensor]) -> tuple[Tensor, DecodeState]:
        """Incremental decoding (runner/models/incremental.py). Plain mode feeds the start
        symbol; prepend mode runs inputs + separator as one block (their attention mask is
        `prepend_attention_mask`'s) and caches its keys/values. Returns (logits [B, V], state)."""
        inputs = memory["inputs"]
        start = inputs.new_full((inputs.shape[0],), self.pad_id, dtype=torch.long)
        if self.permutation:  # uncached: the whole prefix runs again at each step
            return self.decode_step(DecodeState({}, {"prefix": start[:, None][:, :0]}, 0), start)
        if inputs.shape[1] == 0:
            return self.decode_step(DecodeState({}, {}, 0), start)
        sequence = torch.cat([inputs, start[:, None]], dim=1)
        keep = torch.cat([padding_mask(inputs, self.pad_id), torch.ones_like(start[:, None], dtype=torch.bool)], dim=1)
        positions = (keep.cumsum(dim=1) - 1).clamp(min=0)
        x = self.positions(self.embedding(sequence), positions)
        mask = prepend_attention_mask(keep, sequence.shape[1], self.prepend_mode == "prepend_inputs_full_attention")
        hidden, caches = self.decoder.step(F.dropout(x, self.embedding_dropout, self.training), DecodeState(),
                                           self_mask=mask)
        # Later steps attend to every real position before them: the key mask grows by one per step.
        caches["keep"], caches["next_position"] = keep, keep.sum(dim=1)
        return self.softmax(hidden[:, -1]), DecodeState({}, caches, 1)

    def decode_step(self, state: DecodeState, tokens: Tensor) -> tuple[Tensor, DecodeState]:
        """Feed tokens [B] (the newest of each prefix); logits [B, V] predict the next ones."""
        if self.permutation:
            prefix = torch.cat([state.hypothesis["prefix"], tokens[:, None]], dim=1)
            return self.decode(state.sentence, prefix)[:, -1], DecodeState({}, {"prefix": prefix}, state.length + 1)
        embedded = self.embedding(tokens[:, None])
        if "keep" not in state.hypothesis:  # plain LM: no padding inside the sequence
            x = F.dropout(self.positions(embedded, offset=state.length), self.embedding_dropout, self.training)
            hidden, caches = self.decoder.step(x, state)
            return self.softmax(hidden[:, -1]), DecodeState({}, caches, state.length + 1)
        keep = torch.cat([state.hypothesis["keep"], torch.ones_like(tokens[:, None], dtype=torch.bool)], dim=1)
        position = state.hypothesis["next_position"]
        # Positions never exceed the sequence length so far: that bounds the timing-signal table.
        x = self.positions(embedded, position[:, None], offset=keep.shape[1] - 1)
        hidden, caches = self.decoder.step(F.dropout(x, self.embedding_dropout, self.training), state,
                                           self_mask=keep[:, None, None, :])
        caches["keep"], caches["next_position"] = keep, position + 1
        return self.softmax(hidden[:, -1]), DecodeState({}, caches, state.length + 1)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        targets = require(batch, "targets", "transformer_lm")
        if self.permutation:
            logits, aux = self._two_streams(targets, factorization_ranks(targets != self.pad_id, self.training))
            return ModelOutput(logits, None if aux is None else aux * self.moe_loss_coef)
        logits, aux = self._decode(self.encode(batch), shift_right(targets, self.pad_id))
        return ModelOutput(logits, None if aux is None else aux * self.moe_loss_coef)


def build(hparams: Any, info: Any) -> TransformerLM:
    vocab_size = info.target_vocab_size
    if hparams.prepend_mode != "none":
        require_token_inputs(info, "transformer_lm")
        input_vocab = info.input_vocab_size
        if input_vocab != vocab_size:
            raise ValueError(
                f"prepend_mode={hparams.prepend_mode} puts inputs and targets in one sequence, so they need one "
                f"vocabulary, but input_vocab_size={input_vocab} and target_vocab_size={vocab_size}; share the "
                f"problem's vocabulary or use the encoder-decoder 'transformer'")
    return TransformerLM(hparams, vocab_size, info.pad_id)
