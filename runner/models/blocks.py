"""Transformer building blocks, written once and shared by every model.

Encoder-only, decoder-only and encoder-decoder models differ only in how they wire these
blocks and which masks they pass: `TransformerStack` is the one layer stack; `EncoderStack`
and `DecoderStack` just fix its wiring (no cross-attention / optional cross-attention, causal
by default). Semantics follow Tensor2Tensor's transformer: pre-norm residuals (layer_preprocess
"n", layer_postprocess "da"), a final LayerNorm on every stack, sinusoidal timing signal,
embeddings scaled by sqrt(hidden_size) with pad embeddings zeroed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.attention import MultiHeadAttention, causal_mask, key_padding_mask
from runner.models.incremental import DecodeState
from runner.models.moe import SwitchFeedForward

__all__ = [
    "LayerConfig", "sinusoidal_positions", "SinusoidalPositions", "padding_mask", "key_padding_mask",
    "causal_mask", "shift_right", "TokenEmbedding", "SoftmaxProjection", "FeedForward", "PreNormResidual",
    "TransformerLayer", "TransformerStack", "EncoderStack", "DecoderStack", "init_weights",
]

LAYER_NORM_EPSILON = 1e-6  # T2T's layer_norm epsilon


@dataclass(frozen=True)
class LayerConfig:
    """The shape of one Transformer layer, with T2T's meaning for each dropout."""

    hidden_size: int
    filter_size: int
    num_heads: int
    attention_dropout: float = 0.0  # on attention weights
    relu_dropout: float = 0.0  # on the feed-forward hidden layer
    residual_dropout: float = 0.0  # T2T layer_prepostprocess_dropout: on each sublayer's output
    moe_num_experts: int = 0  # 0 = dense feed-forward everywhere
    moe_capacity_factor: float = 1.25
    moe_layer_frequency: int = 1  # every n-th layer is MoE (Switch Transformer uses 2)

    @classmethod
    def from_hparams(cls, hparams: Any) -> "LayerConfig":
        """Read T2T-named hparams; models without MoE fields get a dense feed-forward."""
        return cls(
            hidden_size=hparams.hidden_size, filter_size=hparams.filter_size, num_heads=hparams.num_heads,
            attention_dropout=hparams.attention_dropout, relu_dropout=hparams.relu_dropout,
            residual_dropout=hparams.layer_prepostprocess_dropout,
            moe_num_experts=getattr(hparams, "moe_num_experts", 0),
            moe_capacity_factor=getattr(hparams, "moe_capacity_factor", 1.25),
            moe_layer_frequency=getattr(hparams, "moe_layer_frequency", 1),
        )

    def uses_moe(self, layer_index: int) -> bool:
        return self.moe_num_experts > 0 and (layer_index + 1) % self.moe_layer_frequency == 0


# ----------------------------------------------------------------------------- positions, masks

def sinusoidal_positions(
    length: int, channels: int, min_timescale: float = 1.0, max_timescale: float = 1.0e4,
    device: torch.device | None = None,
) -> Tensor:
    """T2T's get_timing_signal_1d: [length, channels], sines in the first half, cosines in the
    second, geometric timescales from min to max; an odd channel count gets a zero last column."""
    num_timescales = channels // 2
    log_increment = math.log(max_timescale / min_timescale) / max(num_timescales - 1, 1)
    inv_timescales = min_timescale * torch.exp(
        torch.arange(num_timescales, dtype=torch.float32, device=device) * -log_increment
    )
    scaled_time = torch.arange(length, dtype=torch.float32, device=device)[:, None] * inv_timescales[None, :]
    signal = torch.cat([scaled_time.sin(), scaled_time.cos()], dim=1)
    return F.pad(signal, (0, channels % 2))


class SinusoidalPositions(nn.Module):
    """Adds the timing signal. `positions` ([B, L] ints) overrides the default 0..L-1, e.g. so
    that padding inside a sequence does not shift the positions after it."""

    def __init__(self, channels: int, cached_length: int = 1024):
        super().__init__()
        self.channels = channels
        self.register_buffer("table", sinusoidal_positions(cached_length, channels), persistent=False)

    def _table(self, length: int) -> Tensor:
        if length <= self.table.shape[0]:
            return self.table[:length]
        return sinusoidal_positions(length, self.channels, device=self.table.device)

    def forward(self, x: Tensor, positions: Tensor | None = None, offset: int = 0) -> Tensor:
        """Default positions offset .. offset+L-1 (a decoding step passes the number of positions
        before it); explicit `positions` must lie below offset + L."""
        table = self._table(offset + x.shape[1])
        if positions is None:
            return x + table[offset:].to(x.dtype)
        return x + table[positions].to(x.dtype)


def padding_mask(ids: Tensor, pad_id: int = 0) -> Tensor:
    """[B, L] bool, True at real tokens."""
    return ids != pad_id


def shift_right(targets: Tensor, start_id: int = 0) -> Tensor:
    """Decoder input: targets shifted one step right with the start symbol (T2T: pad, 0) first."""
    return F.pad(targets[:, :-1], (1, 0), value=start_id)


# ----------------------------------------------------------------------------- symbols in and out

class TokenEmbedding(nn.Module):
    """T2T's symbol modality bottom: lookup * sqrt(hidden_size), pad (id 0) embedded as zeros.
    Weights ~ N(0, hidden_size**-0.5), T2T's initializer for embeddings and softmax."""

    def __init__(self, vocab_size: int, hidden_size: int, pad_id: int = 0):
        super().__init__()
        self.pad_id, self.scale = pad_id, hidden_size**0.5
        self.weight = nn.Parameter(torch.empty(vocab_size, hidden_size))
        self.init_with_gain(1.0)

    def init_with_gain(self, gain: float) -> None:  # gain-free, as in T2T
        nn.init.normal_(self.weight, std=self.weight.shape[1] ** -0.5)

    def forward(self, ids: Tensor) -> Tensor:
        scale = (ids != self.pad_id).unsqueeze(-1).to(self.weight.dtype) * self.scale
        return F.embedding(ids, self.weight) * scale


class SoftmaxProjection(nn.Module):
    """T2T's symbol modality top: logits = x @ W^T, W either tied to a `TokenEmbedding`
    (the same Parameter, so the tie survives state_dict round trips) or its own."""

    def __init__(self, vocab_size: int, hidden_size: int, tied_to: TokenEmbedding | None = None):
        super().__init__()
        self.tied = tied_to is not None
        if tied_to is not None:
            self.weight = tied_to.weight
        else:
            self.weight = nn.Parameter(torch.empty(vocab_size, hidden_size))
            self.init_with_gain(1.0)

    def init_with_gain(self, gain: float) -> None:  # a tied weight is initialised by its embedding
        if not self.tied:
            nn.init.normal_(self.weight, std=self.weight.shape[1] ** -0.5)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight)


# ----------------------------------------------------------------------------- layers

class FeedForward(nn.Module):
    """T2T's dense_relu_dense; returns (output, None) like SwitchFeedForward returns (output, aux)."""

    def __init__(self, hidden_size: int, filter_size: int, relu_dropout: float = 0.0):
        super().__init__()
        self.dense_in, self.dense_out = nn.Linear(hidden_size, filter_size), nn.Linear(filter_size, hidden_size)
        self.relu_dropout = relu_dropout

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        h = F.dropout(self.dense_in(x).relu(), self.relu_dropout, self.training)
        return self.dense_out(h), None


class PreNormResidual(nn.Module):
    """x + dropout(sublayer(LayerNorm(x))). A sublayer returning (output, aux_loss) gets
    (x + dropout(output), aux_loss) back, so feed-forward sublayers can report MoE losses."""

    def __init__(self, hidden_size: int, sublayer: nn.Module, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPSILON)
        self.sublayer, self.dropout = sublayer, dropout

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Any:
        out = self.sublayer(self.norm(x), *args, **kwargs)
        if isinstance(out, tuple):
            y, aux = out
            return x + F.dropout(y, self.dropout, self.training), aux
        return x + F.dropout(out, self.dropout, self.training)


class TransformerLayer(nn.Module):
    """Self-attention, optional cross-attention, feed-forward (dense or MoE); each pre-norm."""

    def __init__(self, config: LayerConfig, cross_attention: bool, moe: bool):
        super().__init__()
        c = config
        self.self_attention = PreNormResidual(
            c.hidden_size, MultiHeadAttention(c.hidden_size, c.num_heads, c.attention_dropout), c.residual_dropout)
        self.cross_attention = PreNormResidual(
            c.hidden_size, MultiHeadAttention(c.hidden_size, c.num_heads, c.attention_dropout, cross=True),
            c.residual_dropout) if cross_attention else None
        ffn = (SwitchFeedForward(c.hidden_size, c.filter_size, c.moe_num_experts, c.moe_capacity_factor,
                                 c.relu_dropout) if moe else FeedForward(c.hidden_size, c.filter_size, c.relu_dropout))
        self.feed_forward = PreNormResidual(c.hidden_size, ffn, c.residual_dropout)

    def forward(
        self, x: Tensor, self_mask: Tensor | None = None, is_causal: bool = False,
        memory: Tensor | None = None, memory_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        x = self.self_attention(x, mask=self_mask, is_causal=is_causal)
        if self.cross_attention is not None:
            x = self.cross_attention(x, memory=memory, mask=memory_mask)
        return self.feed_forward(x)

    def step(
        self, x: Tensor, past_keys: Tensor | None, past_values: Tensor | None, self_mask: Tensor | None,
        is_causal: bool, memory_kv: tuple[Tensor, Tensor] | None, memory_mask: Tensor | None,
        parents: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """`forward` for new positions x [B, L, H] after cached ones: the same sublayers, with the
        self-attention keys/values extended (returned; reordered by `parents` first) and the
        memory's precomputed."""
        sublayer = self.self_attention
        attended, keys, values = sublayer.sublayer.extend(sublayer.norm(x), past_keys, past_values, self_mask,
                                                          is_causal, parents)
        x = x + F.dropout(attended, sublayer.dropout, self.training)
        if self.cross_attention is not None:
            sublayer = self.cross_attention
            x = x + F.dropout(sublayer.sublayer.attend_memory(sublayer.norm(x), *memory_kv, memory_mask),
                              sublayer.dropout, self.training)
        return self.feed_forward(x)[0], keys, values


class TransformerStack(nn.Module):
    """num_layers TransformerLayers and a final LayerNorm. Returns (output, summed MoE
    load-balancing loss or None when every layer is dense)."""

    def __init__(self, config: LayerConfig, num_layers: int, cross_attention: bool):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(config, cross_attention, config.uses_moe(i)) for i in range(num_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=LAYER_NORM_EPSILON)

    def forward(
        self, x: Tensor, self_mask: Tensor | None = None, is_causal: bool = False,
        memory: Tensor | None = None, memory_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        aux_total = None
        for layer in self.layers:
            x, aux = layer(x, self_mask, is_causal, memory, memory_mask)
            if aux is not None:
                aux_total = aux if aux_total is None else aux_total + aux
        return self.final_norm(x), aux_total

    def memory_cache(self, memory: Tensor) -> dict[str, Tensor]:
        """Each layer's cross-attention keys/values of `memory`, computed once per sentence:
        the per-sentence part of a `DecodeState` ("cross_k.<layer>", "cross_v.<layer>")."""
        cache = {}
        for index, layer in enumerate(self.layers):
            if layer.cross_attention is not None:
                cache[f"cross_k.{index}"], cache[f"cross_v.{index}"] = layer.cross_attention.sublayer.memory_kv(memory)
        return cache

    def step(
        self, x: Tensor, state: DecodeState, self_mask: Tensor | None = None, is_causal: bool = False,
        memory_mask: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Run new positions x [B, L, H] after those cached in `state.hypothesis`; returns the
        hidden states and the extended caches ("self_k.<layer>", "self_v.<layer>"), with
        `state.parents` applied. `self_mask` is [.., L, cached + L] (None: the new positions see
        everything before them)."""
        caches = {}
        for index, layer in enumerate(self.layers):
            past_k, past_v = state.self_cache(f"self_k.{index}"), state.self_cache(f"self_v.{index}")
            memory_kv = None
            if layer.cross_attention is not None:
                memory_kv = (state.sentence[f"cross_k.{index}"], state.sentence[f"cross_v.{index}"])
            x, caches[f"self_k.{index}"], caches[f"self_v.{index}"] = layer.step(
                x, past_k, past_v, self_mask, is_causal, memory_kv, memory_mask, state.parents)
        return self.final_norm(x), caches


class EncoderStack(TransformerStack):
    """Bidirectional self-attention; `mask` is an SDPA mask, e.g. key_padding_mask(keep)."""

    def __init__(self, config: LayerConfig, num_layers: int):
        super().__init__(config, num_layers, cross_attention=False)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:  # type: ignore[override]
        return super().forward(x, self_mask=mask)


class DecoderStack(TransformerStack):
    """Causal self-attention (SDPA's is_causal fast path unless `self_mask` replaces it), plus
    cross-attention to `memory` when built with cross_attention=True (decoder-only: False)."""

    def __init__(self, config: LayerConfig, num_layers: int, cross_attention: bool = True):
        super().__init__(config, num_layers, cross_attention=cross_attention)

    def forward(  # type: ignore[override]
        self, x: Tensor, memory: Tensor | None = None, memory_mask: Tensor | None = None,
        self_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        return super().forward(x, self_mask=self_mask, is_causal=self_mask is None,
                               memory=memory, memory_mask=memory_mask)


# ----------------------------------------------------------------------------- initialisation

def init_weights(model: nn.Module, initializer_gain: float) -> None:
    """T2T's "uniform_unit_scaling" initializer is variance_scaling(scale=gain, fan_avg,
    uniform), i.e. limit sqrt(3 * gain / fan_avg) = Xavier-uniform with gain sqrt(gain).
    Linear weights get it, biases zeros, LayerNorms identity; modules with their own rule
    (fused projections, experts, embeddings) apply it in `init_with_gain`, after the generic pass."""
    gain = math.sqrt(initializer_gain)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=module.embedding_dim**-0.5)
    for module in model.modules():
        if hasattr(module, "init_with_gain"):
            module.init_with_gain(gain)
