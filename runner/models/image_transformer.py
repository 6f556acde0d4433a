"""Image Transformer (Parmar et al. 2018), T2T's local-1D variant, on the shared decoder blocks.

An image is a sequence of H*W*C sub-pixels in raster order (row, column, channel). Each
sub-pixel's intensity is embedded from its channel's own table (T2T's
image_channel_embeddings_bottom), the sequence is shifted right one position (position t
sees only sub-pixels before t), the sinusoidal timing signal is added, and a `DecoderStack`
(no cross-attention) runs with LOCAL block attention: with block length b, position i attends
to positions j <= i in its own block and the whole previous block, j >= (i // b - 1) * b, as
T2T's masked local_attention_1d (query block + one memory block). The softmax over `levels`
intensities at each position gives an exact likelihood, hence bits per dimension.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require
from runner.models.blocks import DecoderStack, LayerConfig, SinusoidalPositions, SoftmaxProjection, init_weights
from runner.models.image_input import image_geometry
from runner.models.incremental import DecodeState
from runner.models.output import ModelOutput


def local_block_mask(length: int, block_length: int, device: torch.device | None = None) -> Tensor:
    """[L, L] bool, True where query i may attend key j: j <= i and j in i's block or the one before."""
    query = torch.arange(length, device=device)[:, None]
    key = torch.arange(length, device=device)[None, :]
    return (key <= query) & (key >= (query // block_length - 1) * block_length)


class ImageTransformer(nn.Module):
    def __init__(self, hparams: Any, image_shape: tuple[int, int, int], levels: int):
        super().__init__()
        hp = hparams
        self.image_shape, self.levels = image_shape, levels
        height, width, channels = image_shape
        self.length = height * width * channels
        self.moe_loss_coef, self.embedding_dropout = hp.moe_loss_coef, hp.layer_prepostprocess_dropout
        self.scale = math.sqrt(hp.hidden_size)
        self.embedding = nn.Embedding(channels * levels, hp.hidden_size)  # one table per channel, stacked
        self.register_buffer("channel_offset", torch.arange(channels).repeat(height * width) * levels,
                             persistent=False)
        self.positions = SinusoidalPositions(hp.hidden_size, cached_length=self.length)
        self.decoder = DecoderStack(LayerConfig.from_hparams(hp), hp.num_decoder_layers, cross_attention=False)
        self.softmax = SoftmaxProjection(levels, hp.hidden_size)
        # A block as long as the image is plain causal attention: use SDPA's causal fast path.
        mask = local_block_mask(self.length, hp.block_length) if hp.block_length < self.length else None
        self.register_buffer("attention_mask", mask, persistent=False)
        self.block_length = hp.block_length if mask is not None else 0
        init_weights(self, hp.initializer_gain)

    # Generation, one sub-pixel at a time (runner/training/sampling.py). The self-attention cache
    # holds only the local window: the keys the next position may attend to.

    def start_generation(self, num_images: int) -> tuple[Tensor, DecodeState]:
        """Logits [N, levels] of the first sub-pixel and the state after it (incremental.py)."""
        x = self.softmax.weight.new_zeros(num_images, 1, self.embedding.embedding_dim)  # the shifted-in zero vector
        return self._step(x, DecodeState())

    def decode_step(self, state: DecodeState, tokens: Tensor) -> tuple[Tensor, DecodeState]:
        """Feed the intensities [N] of sub-pixel state.length - 1; logits [N, levels] for the next."""
        ids = tokens + self.channel_offset[state.length - 1]
        return self._step(self.embedding(ids[:, None]) * self.scale, state)

    def _step(self, x: Tensor, state: DecodeState) -> tuple[Tensor, DecodeState]:
        position = state.length
        x = F.dropout(self.positions(x, offset=position), self.embedding_dropout, self.training)
        hidden, caches = self.decoder.step(x, state)  # the cache is exactly the window: no mask
        if self.block_length:
            following = position + 1
            first_key = max(0, (following // self.block_length - 1) * self.block_length)
            window = following - first_key  # keys first_key .. position
            caches = {name: value[:, :, -window:] for name, value in caches.items()}
        return self.softmax(hidden[:, -1]), DecodeState({}, caches, position + 1)

    def logits_after(self, prefix: Tensor) -> Tensor:
        """Uncached reference: logits [N, levels] of sub-pixel t given prefix [N, t] (raster order),
        from a full forward pass (later positions never influence earlier ones)."""
        count, known = prefix.shape
        targets = prefix.new_zeros(count, self.length)
        targets[:, :known] = prefix
        logits = self.forward({"targets": targets.view(count, *self.image_shape)}).logits
        return logits.reshape(count, self.length, self.levels)[:, known]

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        targets = require(batch, "targets", "image_transformer")
        if tuple(targets.shape[1:]) != self.image_shape:
            raise ValueError(f"image_transformer was built for images {list(self.image_shape)}, got targets "
                             f"{list(targets.shape)}")
        batch_size = targets.shape[0]
        ids = targets.reshape(batch_size, self.length) + self.channel_offset
        x = self.embedding(ids) * self.scale
        x = F.pad(x[:, :-1], (0, 0, 1, 0))  # shift right: a zero vector starts the sequence
        x = F.dropout(self.positions(x), self.embedding_dropout, self.training)
        hidden, aux = self.decoder(x, self_mask=self.attention_mask)
        logits = self.softmax(hidden).view(*targets.shape, self.levels)
        return ModelOutput(logits, None if aux is None else aux * self.moe_loss_coef)


def build(hparams: Any, info: Any) -> ImageTransformer:
    shape, levels = image_geometry(info, "image_transformer", want_classes=False)
    if info.has_inputs:
        raise ValueError("image_transformer generates images; use an image_generation problem (this one is "
                         "classification)")
    return ImageTransformer(hparams, shape, levels)
