"""Speech Transformer: log-mel frames -> conv subsampling -> the shared Transformer encoder-decoder.

The encoder's input is not a token embedding but two 3x3 stride-2 convolutions (with ReLU)
over the (frame, mel bin) plane, flattened and projected to hidden_size: 4x fewer positions
for attention, and local spectro-temporal patterns learned before it (as ESPnet's
Conv2dSubsampling and Dong et al. 2018). SpecAugment masks the features in training only.

Everything after the subsampling is `runner.models.transformer.Transformer`: same encoder,
decoder, target embedding, softmax, masks and decoding contract (encode / decode). This class
replaces how the encoder input is made and, optionally (ctc_loss_weight > 0), adds a CTC loss
on the encoder output during training (joint CTC-attention training).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require, sum_aux
from runner.models.blocks import key_padding_mask, shift_right
from runner.models.output import ModelOutput
from runner.models.transformer import Transformer
from runner.problems.audio import spec_augment


def _halve(frames: Tensor) -> Tensor:
    """Frames after one 3x3 / stride-2 / padding-1 convolution: ceil(T / 2)."""
    return (frames + 1) // 2


class ConvSubsampling(nn.Module):
    """[B, T, F] features -> [B, ceil(ceil(T/2)/2), hidden], layer-normalised. Positions past an utterance's own
    length are zeroed between the convolutions, so an utterance's output does not depend on
    how much padding its batch carries."""

    def __init__(self, feature_size: int, channels: int, hidden_size: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)
        reduced = (feature_size + 1) // 2
        self.projection = nn.Linear(channels * ((reduced + 1) // 2), hidden_size)
        # Normalised to a token embedding's scale (unit variance per channel) so that the timing
        # signal added next keeps its weight: left free, the projection's output grew to ~100x
        # the signal's norm in training and the attention decoder lost the order of the words.
        self.norm = nn.LayerNorm(hidden_size)

    @staticmethod
    def _zero_past_end(x: Tensor, frames: Tensor) -> Tensor:
        keep = torch.arange(x.shape[2], device=x.device)[None, :] < frames[:, None]
        return x * keep[:, None, :, None]

    def forward(self, features: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
        frames = _halve(frames)
        x = self._zero_past_end(F.relu(self.conv1(features[:, None])), frames)
        frames = _halve(frames)
        x = self._zero_past_end(F.relu(self.conv2(x)), frames)
        batch, channels, length, bins = x.shape
        return self.norm(self.projection(x.permute(0, 2, 1, 3).reshape(batch, length, channels * bins))), frames


class SpeechTransformer(Transformer):
    def __init__(self, hparams: Any, feature_size: int, target_vocab_size: int, pad_id: int = 0, eos_id: int = 1):
        # One vocabulary (the targets'): with tied weights the parent's input embedding is the
        # target embedding; untied, it would be an unused table, so it is removed.
        super().__init__(hparams, target_vocab_size, target_vocab_size, pad_id)
        if not hparams.shared_embedding_and_softmax_weights:
            del self.input_embedding
        self.hparams, self.feature_size, self.eos_id = hparams, feature_size, eos_id
        self.subsampling = ConvSubsampling(feature_size, hparams.subsampling_channels, hparams.hidden_size)
        nn.init.xavier_uniform_(self.subsampling.projection.weight, gain=hparams.initializer_gain**0.5)
        nn.init.zeros_(self.subsampling.projection.bias)
        self.ctc_weight = hparams.ctc_loss_weight
        # Its own output layer over the target vocabulary, with the pad id as CTC's blank.
        self.ctc_projection = nn.Linear(hparams.hidden_size, target_vocab_size) if self.ctc_weight > 0 else None

    def _augment(self, features: Tensor, frames: Tensor) -> Tensor:
        hp = self.hparams
        if not self.training or not (hp.specaugment_freq_masks or hp.specaugment_time_masks):
            return features
        return spec_augment(features, frames, hp.specaugment_freq_masks, hp.specaugment_freq_width,
                            hp.specaugment_time_masks, hp.specaugment_time_width, hp.specaugment_time_ratio)

    def _encode(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        features = require(batch, "inputs", "speech_transformer")
        if features.dim() != 3 or features.shape[-1] != self.feature_size:
            raise ValueError(f"speech_transformer expects inputs [batch, frames, {self.feature_size}] log-mel "
                             f"features, got {tuple(features.shape)}")
        frames = require(batch, "input_lengths", "speech_transformer")
        x, frames = self.subsampling(self._augment(features, frames), frames)
        keep = torch.arange(x.shape[1], device=x.device)[None, :] < frames[:, None]
        x = F.dropout(self.positions(x), self.embedding_dropout, self.training)
        encoded, aux = self.encoder(x, key_padding_mask(keep))
        return {"encoder_output": encoded, "source_mask": keep}, aux

    def _ctc_loss(self, memory: dict[str, Tensor], targets: Tensor) -> Tensor:
        """CTC of the encoder output against the target tokens (EOS and pads dropped), summed
        and divided by the number of target tokens, the normalisation of the attention loss."""
        log_probs = F.log_softmax(self.ctc_projection(memory["encoder_output"]).float(), dim=-1)
        tokens = targets > self.eos_id
        loss = F.ctc_loss(log_probs.transpose(0, 1), targets, memory["source_mask"].sum(dim=1), tokens.sum(dim=1),
                          blank=self.pad_id, reduction="sum", zero_infinity=True)
        return loss / (targets != self.pad_id).sum().clamp(min=1)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        """The parent's forward, plus (in training, when ctc_loss_weight > 0) the CTC loss of the
        encoder as an auxiliary loss: joint CTC-attention training (Kim, Hori & Watanabe 2017),
        whose monotonic alignment makes the attention decoder converge far sooner."""
        targets = require(batch, "targets", "speech_transformer")
        memory, encoder_aux = self._encode(batch)
        logits, decoder_aux = self._decode(memory, shift_right(targets, self.pad_id))
        aux = sum_aux(encoder_aux, decoder_aux)
        aux = None if aux is None else aux * self.moe_loss_coef
        if self.training and self.ctc_projection is not None:
            aux = sum_aux(aux, self.ctc_weight * self._ctc_loss(memory, targets))
        return ModelOutput(logits, aux)


def build(hparams: Any, info: Any) -> SpeechTransformer:
    kind = info.input_kind
    feature_size = getattr(info, "feature_size", 0)
    if kind != "features" or not feature_size:
        raise ValueError(f"speech_transformer reads feature frames (a speech problem), but the problem's "
                         f"input_kind is '{kind}'" + ("" if kind != "features" else " with no feature_size")
                         + "; use a speech problem, or a model made for this input kind")
    return SpeechTransformer(hparams, feature_size, info.target_vocab_size, info.pad_id, info.eos_id)
