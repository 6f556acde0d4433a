"""Perceiver (Jaegle et al. 2021) on blocks.py: one model for image pixels and log-mel frames.

Input adapter: every input element (a pixel's channels, a frame's mel bins) gets Fourier
position features per axis ([x, sin(pi f x), cos(pi f x)] for `num_frequency_bands` frequencies
f from 1 to max_frequency / 2, x in [-1, 1]) and is projected to `hidden_size`. A learned latent
array then cross-attends to the input array (pre-norm, + feed-forward) and `EncoderStack` layers
self-attend among the latents; the block repeats, weights shared after the first, so the cost is
linear in the input size. Classification (images) reads the mean latent; sequence targets
(audio transcripts) are read in parallel by learned output queries cross-attending to the
latents (Perceiver IO's decoder), one per target position.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.attention import MultiHeadAttention, key_padding_mask
from runner.models.batch_checks import require
from runner.models.blocks import EncoderStack, FeedForward, LayerConfig, PreNormResidual, init_weights
from runner.models.image_input import pixels_to_unit
from runner.models.output import ModelOutput


def fourier_features(positions: Tensor, num_bands: int, max_frequency: float) -> Tensor:
    """positions [..., axes] in [-1, 1] -> [..., axes * (2 * num_bands + 1)]: each coordinate,
    then its sines and cosines at frequencies linspace(1, max_frequency / 2, num_bands) * pi."""
    bands = torch.linspace(1.0, max(max_frequency / 2, 1.0), num_bands, device=positions.device)
    scaled = positions[..., None] * bands * math.pi  # [..., axes, bands]
    features = torch.cat([positions[..., None], scaled.sin(), scaled.cos()], dim=-1)
    return features.flatten(-2)


def grid_positions(sizes: tuple[int, ...], device=None) -> Tensor:
    """[prod(sizes), len(sizes)] coordinates of a row-major grid, each axis spanning [-1, 1]."""
    axes = [torch.linspace(-1.0, 1.0, n, device=device) for n in sizes]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(sizes))


class CrossAttend(nn.Module):
    """Queries attend to an input array: pre-norm on both sides, residual, then a feed-forward."""

    def __init__(self, config: LayerConfig, heads: int):
        super().__init__()
        self.query_norm = nn.LayerNorm(config.hidden_size)
        self.input_norm = nn.LayerNorm(config.hidden_size)
        self.attention = MultiHeadAttention(config.hidden_size, heads, config.attention_dropout, cross=True)
        self.feed_forward = PreNormResidual(config.hidden_size, FeedForward(config.hidden_size, config.filter_size,
                                                                            config.relu_dropout), config.residual_dropout)
        self.dropout = config.residual_dropout

    def forward(self, queries: Tensor, inputs: Tensor, mask: Tensor | None) -> Tensor:
        attended = self.attention(self.query_norm(queries), memory=self.input_norm(inputs), mask=mask)
        return self.feed_forward(queries + F.dropout(attended, self.dropout, self.training))[0]


class Perceiver(nn.Module):
    def __init__(self, hparams: Any, input_channels: int, axes: int, num_outputs: int, sequence_output: bool):
        super().__init__()
        hp = self.hp = hparams
        config = LayerConfig.from_hparams(hp)
        self.input_proj = nn.Linear(input_channels + axes * (2 * hp.num_frequency_bands + 1), hp.hidden_size)
        self.latents = nn.Parameter(torch.empty(hp.num_latents, hp.hidden_size))
        self.first_cross = CrossAttend(config, hp.num_cross_heads)
        self.first_latent = EncoderStack(config, hp.num_self_attention_layers)
        shared = hp.num_blocks > 1
        self.repeat_cross = CrossAttend(config, hp.num_cross_heads) if shared else None
        self.repeat_latent = EncoderStack(config, hp.num_self_attention_layers) if shared else None
        self.sequence_output = sequence_output
        self.output_queries = nn.Parameter(torch.empty(hp.max_output_positions, hp.hidden_size)) if sequence_output else None
        self.output_cross = CrossAttend(config, hp.num_cross_heads) if sequence_output else None
        self.output_norm = nn.LayerNorm(hp.hidden_size)
        self.classifier = nn.Linear(hp.hidden_size, num_outputs)
        init_weights(self, hp.initializer_gain)
        nn.init.trunc_normal_(self.latents, std=0.02)
        if self.output_queries is not None:
            nn.init.trunc_normal_(self.output_queries, std=0.02)

    def encode_inputs(self, values: Tensor, positions: Tensor, max_frequency: float) -> Tensor:
        """values [B, M, C], positions [M or B x M, axes] -> the projected input array [B, M, hidden]."""
        features = fourier_features(positions, self.hp.num_frequency_bands, max_frequency)
        features = features.expand(values.shape[0], *features.shape[-2:]) if features.dim() == 2 else features
        return self.input_proj(torch.cat([values, features.to(values.dtype)], dim=-1))

    def latent_array(self, inputs: Tensor, mask: Tensor | None) -> Tensor:
        x = self.latents.expand(inputs.shape[0], -1, -1)
        for block in range(self.hp.num_blocks):
            cross, latent = (self.first_cross, self.first_latent) if block == 0 else (self.repeat_cross, self.repeat_latent)
            x, _ = latent(cross(x, inputs, mask))
        return self.output_norm(x)

    def read_out(self, latents: Tensor, target_length: int) -> Tensor:
        if not self.sequence_output:
            return self.classifier(latents.mean(dim=1))
        if target_length > self.hp.max_output_positions:
            raise ValueError(f"perceiver: targets of {target_length} positions, but max_output_positions is "
                             f"{self.hp.max_output_positions}; raise hparams.max_output_positions")
        queries = self.output_queries[:target_length].expand(latents.shape[0], -1, -1)
        return self.classifier(self.output_cross(queries, latents, None))


class ImagePerceiver(Perceiver):
    """Pixels [B, H, W, C] in [0, levels) -> class logits [B, classes]."""

    def __init__(self, hparams: Any, image_shape: tuple[int, int, int], levels: int, num_classes: int):
        super().__init__(hparams, image_shape[2], 2, num_classes, sequence_output=False)
        self.levels, self.image_size = levels, image_shape[:2]
        self.register_buffer("positions", grid_positions(image_shape[:2]), persistent=False)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        pixels = pixels_to_unit(require(batch, "inputs", "perceiver"), self.levels)  # [B, C, H, W]
        values = pixels.flatten(2).transpose(1, 2)  # [B, H*W, C], row-major like `positions`
        max_frequency = self.hp.max_frequency or float(max(self.image_size))
        inputs = self.encode_inputs(values, self.positions, max_frequency)
        return ModelOutput(self.read_out(self.latent_array(inputs, None), 1))


class AudioPerceiver(Perceiver):
    """Log-mel frames [B, T, mel] (input_lengths [B]) -> logits [B, L, V] for targets [B, L]."""

    def __init__(self, hparams: Any, feature_size: int, vocab_size: int):
        super().__init__(hparams, feature_size, 1, vocab_size, sequence_output=True)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        frames = require(batch, "inputs", "perceiver").float()
        lengths = require(batch, "input_lengths", "perceiver")
        targets = require(batch, "targets", "perceiver")
        steps = torch.arange(frames.shape[1], device=frames.device)
        positions = (steps.float() * (2.0 / max(self.hp.max_input_positions - 1, 1)) - 1.0)[:, None]
        max_frequency = self.hp.max_frequency or float(self.hp.max_input_positions)
        inputs = self.encode_inputs(frames, positions, max_frequency)
        mask = key_padding_mask(steps[None, :] < lengths[:, None])
        return ModelOutput(self.read_out(self.latent_array(inputs, mask), targets.shape[1]))


def build(hparams: Any, info: Any) -> Perceiver:
    if hparams.shared_embedding_and_softmax_weights:
        raise ValueError("perceiver: shared_embedding_and_softmax_weights must be false (inputs are not tokens)")
    kind = getattr(info, "input_kind", "tokens")
    if kind == "pixels" and getattr(info, "has_inputs", True):
        return ImagePerceiver(hparams, tuple(info.image_shape), int(getattr(info, "levels", 256)), info.target_vocab_size)
    if kind == "features" and getattr(info, "feature_size", 0):
        return AudioPerceiver(hparams, info.feature_size, info.target_vocab_size)
    raise ValueError(f"perceiver reads image pixels (image_classification) or feature frames (speech), but the "
                     f"problem's input_kind is '{kind}'")
