"""The encoder-decoder Transformer (Vaswani et al. 2017) with Tensor2Tensor's semantics.

Pre-norm layers with a final LayerNorm per stack, embeddings * sqrt(hidden_size) plus the
sinusoidal timing signal, dropout on embeddings / sublayer outputs / attention weights / relu,
optional one matrix for source embedding, target embedding and softmax. Everything is built
from runner/models/blocks.py; this file only wires it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require, require_token_inputs, sum_aux
from runner.models.blocks import (
    DecoderStack, EncoderStack, LayerConfig, SinusoidalPositions, SoftmaxProjection, TokenEmbedding,
    init_weights, key_padding_mask, padding_mask, shift_right,
)
from runner.models.incremental import DecodeState
from runner.models.output import ModelOutput


class Transformer(nn.Module):
    def __init__(self, hparams: Any, input_vocab_size: int, target_vocab_size: int, pad_id: int = 0):
        super().__init__()
        hp = hparams
        if hp.shared_embedding_and_softmax_weights and input_vocab_size != target_vocab_size:
            raise ValueError(
                f"shared_embedding_and_softmax_weights=true needs one vocabulary for inputs and targets, "
                f"but input_vocab_size={input_vocab_size} and target_vocab_size={target_vocab_size}; "
                f"set hparams.shared_embedding_and_softmax_weights=false or share the problem's vocabulary")
        self.pad_id, self.moe_loss_coef = pad_id, getattr(hp, "moe_loss_coef", 0.0)
        self.embedding_dropout = hp.layer_prepostprocess_dropout
        self.target_embedding = TokenEmbedding(target_vocab_size, hp.hidden_size, pad_id)
        if hp.shared_embedding_and_softmax_weights:
            self.input_embedding = self.target_embedding
            self.softmax = SoftmaxProjection(target_vocab_size, hp.hidden_size, tied_to=self.target_embedding)
        else:
            self.input_embedding = TokenEmbedding(input_vocab_size, hp.hidden_size, pad_id)
            self.softmax = SoftmaxProjection(target_vocab_size, hp.hidden_size)
        self.positions = SinusoidalPositions(hp.hidden_size)
        config = LayerConfig.from_hparams(hp)
        self.encoder = EncoderStack(config, hp.num_encoder_layers)
        self.decoder = DecoderStack(config, hp.num_decoder_layers, cross_attention=True)
        init_weights(self, hp.initializer_gain)

    def _embed(self, embedding: TokenEmbedding, ids: Tensor) -> Tensor:
        return F.dropout(self.positions(embedding(ids)), self.embedding_dropout, self.training)

    def _encode(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        inputs = require(batch, "inputs", "transformer")
        source_mask = padding_mask(inputs, self.pad_id)
        encoded, aux = self.encoder(self._embed(self.input_embedding, inputs), key_padding_mask(source_mask))
        return {"encoder_output": encoded, "source_mask": source_mask}, aux

    def _decode(self, memory: dict[str, Tensor], prefix: Tensor) -> tuple[Tensor, Tensor | None]:
        hidden, aux = self.decoder(
            self._embed(self.target_embedding, prefix), memory=memory["encoder_output"],
            memory_mask=key_padding_mask(memory["source_mask"]))
        return self.softmax(hidden), aux

    def encode(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """{"encoder_output": [B, S, H], "source_mask": [B, S] bool, True at real source tokens}."""
        return self._encode(batch)[0]

    def decode(self, memory: dict[str, Tensor], prefix: Tensor) -> Tensor:
        """prefix [B, T] starting with 0 -> logits [B, T, V]; position t predicts token t+1."""
        return self._decode(memory, prefix)[0]

    def start_decoding(self, memory: dict[str, Tensor]) -> tuple[Tensor, DecodeState]:
        """Incremental decoding (runner/models/incremental.py): the memory's cross-attention
        keys/values once, then the start symbol. Returns (logits [B, V], state)."""
        source_mask = memory["source_mask"]
        sentence = self.decoder.memory_cache(memory["encoder_output"])
        sentence["memory_mask"] = key_padding_mask(source_mask)
        start = source_mask.new_full((source_mask.shape[0],), self.pad_id, dtype=torch.long)
        return self.decode_step(DecodeState(sentence, {}, 0), start)

    def decode_step(self, state: DecodeState, tokens: Tensor) -> tuple[Tensor, DecodeState]:
        """Feed tokens [B] (the newest of each prefix); logits [B, V] predict the next ones."""
        x = F.dropout(self.positions(self.target_embedding(tokens[:, None]), offset=state.length),
                      self.embedding_dropout, self.training)
        hidden, caches = self.decoder.step(x, state, memory_mask=state.sentence["memory_mask"])
        return self.softmax(hidden[:, -1]), DecodeState(state.sentence, caches, state.length + 1)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        targets = require(batch, "targets", "transformer")
        memory, encoder_aux = self._encode(batch)
        logits, decoder_aux = self._decode(memory, shift_right(targets, self.pad_id))
        aux = sum_aux(encoder_aux, decoder_aux)
        return ModelOutput(logits, None if aux is None else aux * self.moe_loss_coef)


def build(hparams: Any, info: Any) -> Transformer:
    require_token_inputs(info, "transformer")
    return Transformer(hparams, info.input_vocab_size, info.target_vocab_size, info.pad_id)
