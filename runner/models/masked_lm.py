"""Masked language model (BERT-style), encoder-only, on the shared Transformer blocks.

Token embedding (x sqrt(hidden), pad rows zero) + sinusoidal positions -> `EncoderStack`
(bidirectional, pad keys masked; dense or Switch-MoE feed-forward) -> softmax tied to the
embedding. The problem (family masked_lm) decides which tokens are masked: batch["inputs"]
holds the corrupted sequence and batch["targets"] the original ids at the chosen positions and
target_pad_id elsewhere, so the loss covers the masked positions only.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require, require_token_inputs
from runner.models.blocks import (
    EncoderStack, LayerConfig, SinusoidalPositions, SoftmaxProjection, TokenEmbedding, init_weights,
    key_padding_mask, padding_mask,
)
from runner.models.output import ModelOutput


class MaskedLM(nn.Module):
    def __init__(self, hparams: Any, vocab_size: int, pad_id: int = 0):
        super().__init__()
        hp = hparams
        self.pad_id, self.moe_loss_coef = pad_id, hp.moe_loss_coef
        self.embedding_dropout = hp.layer_prepostprocess_dropout
        self.embedding = TokenEmbedding(vocab_size, hp.hidden_size, pad_id)
        self.positions = SinusoidalPositions(hp.hidden_size)
        self.encoder = EncoderStack(LayerConfig.from_hparams(hp), hp.num_encoder_layers)
        tied = self.embedding if hp.shared_embedding_and_softmax_weights else None
        self.softmax = SoftmaxProjection(vocab_size, hp.hidden_size, tied_to=tied)
        init_weights(self, hp.initializer_gain)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        inputs = require(batch, "inputs", "masked_lm")
        x = F.dropout(self.positions(self.embedding(inputs)), self.embedding_dropout, self.training)
        hidden, aux = self.encoder(x, key_padding_mask(padding_mask(inputs, self.pad_id)))
        return ModelOutput(self.softmax(hidden), None if aux is None else aux * self.moe_loss_coef)


def build(hparams: Any, info: Any) -> MaskedLM:
    require_token_inputs(info, "masked_lm")
    if info.input_vocab_size != info.target_vocab_size:
        raise ValueError(f"masked_lm predicts tokens of its input vocabulary, but input_vocab_size="
                         f"{info.input_vocab_size} and target_vocab_size={info.target_vocab_size}; use a "
                         "masked_lm problem")
    return MaskedLM(hparams, info.input_vocab_size, info.pad_id)
