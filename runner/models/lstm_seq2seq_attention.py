"""LSTM encoder-decoder with attention: the recurrent baseline (T2T's lstm_seq2seq_attention).

Encoder: a multi-layer LSTM over the source (packed, so padding changes neither its outputs
nor the final state that initialises the decoder). Decoder: a multi-layer LSTM over the
shifted targets, then global attention over the encoder outputs and Luong's attentional
layer tanh(W_c [h_t; c_t]) before the softmax (Luong et al. 2015). The score is Luong's
multiplicative h_t . W_a h_s or Bahdanau's additive v . tanh(W_1 h_t + W_2 h_s), the two
choices of T2T's attention_mechanism.

Unlike T2T's AttentionWrapper, the previous attentional vector is not fed back into the next
decoder input ("input feeding"): the decoder then runs as ONE fused nn.LSTM call over the
whole target sequence and attention is computed for all steps at once, instead of a Python
loop over time steps. Luong et al. report input feeding as a separate, optional refinement.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from runner.models.batch_checks import require, require_token_inputs
from runner.models.blocks import (
    SoftmaxProjection, TokenEmbedding, init_weights, key_padding_mask, padding_mask, shift_right,
)
from runner.models.incremental import DecodeState
from runner.models.output import ModelOutput


class LuongAttention(nn.Module):
    """score(h_t, h_s) = h_t . (W_a h_s), unscaled (TF LuongAttention, scale=False)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.memory_layer = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor, keys: Tensor | None = None) -> Tensor:
        """`keys` = memory_layer(memory), precomputed once per sentence when decoding step by step."""
        keys = self.memory_layer(memory) if keys is None else keys
        context = F.scaled_dot_product_attention(query[:, None], keys[:, None], memory[:, None],  # one head
                                                 attn_mask=mask, scale=1.0)
        return context[:, 0]


class BahdanauAttention(nn.Module):
    """score(h_t, h_s) = v . tanh(W_1 h_t + W_2 h_s) (TF BahdanauAttention, normalize=False).
    Computed for all steps at once: a [B, T, S, H] intermediate, fine at baseline sizes."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.query_layer = nn.Linear(hidden_size, hidden_size, bias=False)
        self.memory_layer = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor, keys: Tensor | None = None) -> Tensor:
        """`keys` = memory_layer(memory), precomputed once per sentence when decoding step by step."""
        keys = self.memory_layer(memory) if keys is None else keys
        features = torch.tanh(self.query_layer(query)[:, :, None, :] + keys[:, None, :, :])
        scores = self.v(features).squeeze(-1).masked_fill(~mask[:, 0], float("-inf"))
        return torch.bmm(scores.softmax(dim=-1), memory)


ATTENTION = {"luong": LuongAttention, "bahdanau": BahdanauAttention}


class LSTMSeq2SeqAttention(nn.Module):
    def __init__(self, hparams: Any, input_vocab_size: int, target_vocab_size: int, pad_id: int = 0):
        super().__init__()
        hp, size = hparams, hparams.hidden_size
        self.pad_id, self.dropout = pad_id, hp.dropout
        # T2T embeds every symbol the same way for every model: * sqrt(hidden), pad = zeros.
        self.input_embedding = TokenEmbedding(input_vocab_size, size, pad_id)
        self.target_embedding = TokenEmbedding(target_vocab_size, size, pad_id)
        between_layers = hp.dropout if hp.num_hidden_layers > 1 else 0.0
        self.encoder = nn.LSTM(size, size, hp.num_hidden_layers, batch_first=True, dropout=between_layers)
        self.decoder = nn.LSTM(size, size, hp.num_hidden_layers, batch_first=True, dropout=between_layers)
        self.attention = ATTENTION[hp.attention_mechanism](size)
        self.attention_layer = nn.Linear(2 * size, size, bias=False)
        tied = self.target_embedding if hp.shared_embedding_and_softmax_weights else None
        self.softmax = SoftmaxProjection(target_vocab_size, size, tied_to=tied)
        init_weights(self, hp.initializer_gain)
        self._init_lstm(hp.initializer_gain)

    def _init_lstm(self, initializer_gain: float) -> None:
        # T2T's uniform_unit_scaling on LSTM kernels; biases zero except the forget gate's 1.0,
        # TF LSTMCell's forget_bias (torch's gate order is input, forget, cell, output).
        for lstm in (self.encoder, self.decoder):
            for name, param in lstm.named_parameters():
                if name.startswith("weight"):
                    for gate in param.data.chunk(4, dim=0):
                        nn.init.xavier_uniform_(gate, gain=initializer_gain**0.5)
                else:
                    nn.init.zeros_(param)
                    if name.startswith("bias_ih"):
                        param.data.chunk(4)[1].fill_(1.0)

    def encode(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """encoder_output [B, S, H] (zeros at padding), source_mask [B, S] (True at real tokens),
        initial_h / initial_c [B, layers, H]: the encoder's final state, batch first for beam search."""
        inputs = require(batch, "inputs", "lstm_seq2seq_attention")
        keep = padding_mask(inputs, self.pad_id)
        # pack_padded_sequence wants host lengths: free on CPU, one sync per batch on GPU.
        lengths = keep.sum(dim=1).clamp(min=1).cpu()
        embedded = F.dropout(self.input_embedding(inputs), self.dropout, self.training)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        outputs, (h, c) = self.encoder(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=inputs.shape[1])
        return {"encoder_output": outputs, "source_mask": keep,
                "initial_h": h.transpose(0, 1), "initial_c": c.transpose(0, 1)}

    def decode(self, memory: dict[str, Tensor], prefix: Tensor) -> Tensor:
        """prefix [B, T] starting with 0 -> logits [B, T, V]; position t predicts token t+1."""
        logits, _, _ = self._run_decoder(prefix, memory["initial_h"], memory["initial_c"], memory["encoder_output"],
                                         key_padding_mask(memory["source_mask"]))
        return logits

    def _run_decoder(
        self, prefix: Tensor, h: Tensor, c: Tensor, encoder_output: Tensor, mask: Tensor, keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits [B, T, V] for prefix [B, T] from batch-first state h, c [B, layers, H]; also the
        final state. `mask` is [B, 1, 1, S] (never an empty row)."""
        state = (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())
        embedded = F.dropout(self.target_embedding(prefix), self.dropout, self.training)
        hidden, (h, c) = self.decoder(embedded, state)
        context = self.attention(hidden, encoder_output, mask, keys)
        attentional = torch.tanh(self.attention_layer(torch.cat([hidden, context], dim=-1)))
        return self.softmax(attentional), h.transpose(0, 1), c.transpose(0, 1)

    def start_decoding(self, memory: dict[str, Tensor]) -> tuple[Tensor, DecodeState]:
        """Incremental decoding (runner/models/incremental.py): the recurrent state (h, c) is the
        per-hypothesis cache; the memory and its attention keys are computed once per sentence."""
        encoder_output = memory["encoder_output"]
        sentence = {"encoder_output": encoder_output, "memory_mask": key_padding_mask(memory["source_mask"]),
                    "keys": self.attention.memory_layer(encoder_output)}
        state = DecodeState(sentence, {"h": memory["initial_h"], "c": memory["initial_c"]}, 0)
        start = memory["source_mask"].new_full((encoder_output.shape[0],), self.pad_id, dtype=torch.long)
        return self.decode_step(state, start)

    def decode_step(self, state: DecodeState, tokens: Tensor) -> tuple[Tensor, DecodeState]:
        """Feed tokens [B] (the newest of each prefix); logits [B, V] predict the next ones."""
        s = state.sentence
        logits, h, c = self._run_decoder(tokens[:, None], state.hypothesis["h"], state.hypothesis["c"],
                                         s["encoder_output"], s["memory_mask"], s["keys"])
        return logits[:, -1], DecodeState(s, {"h": h, "c": c}, state.length + 1)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        targets = require(batch, "targets", "lstm_seq2seq_attention")
        return ModelOutput(self.decode(self.encode(batch), shift_right(targets, self.pad_id)))


def build(hparams: Any, info: Any) -> LSTMSeq2SeqAttention:
    require_token_inputs(info, "lstm_seq2seq_attention")
    return LSTMSeq2SeqAttention(hparams, info.input_vocab_size, info.target_vocab_size, info.pad_id)
