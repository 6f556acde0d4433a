"""Hparams of the Image Transformer (torch-free). Defaults: T2T's imagetransformer_cifar10_base.

T2T imagetransformer_cifar10_base ("2.90 bits/dim on CIFAR-10 with cross entropy"): 12
decoder layers, hidden 512, filter 2048, 4 heads, local 1D attention with block_length 256,
dropout 0.3 on sublayer outputs, batch 4 images, legacy "noam" schedule with learning rate 0.5
and 4000 warmup steps, Adam beta2 0.98, initializer gain 0.2, no label smoothing, unconditional.
T2T's legacy_learning_rate_schedule computes noam as 5000 * hidden^-0.5 * min(step * warmup^-1.5,
step^-0.5) and multiplies Adam rates by 0.002, i.e. 10 x learning_rate under the factor schedule:
constant 5.0 * linear_warmup * rsqrt_decay * rsqrt_hidden_size. T2T used post-norm ("dan")
layers there; the shared blocks are pre-norm.
"""

from typing import ClassVar

from pydantic import Field, model_validator

from runner.models.hparams_base import TrainingHparams
from runner.models.transformer_hparams import TransformerArchitecture


class ImageTransformerHparams(TransformerArchitecture, TrainingHparams):
    """Decoder-only Transformer over sub-pixels in raster order with local (block) causal attention."""

    batch_unit: ClassVar[str] = "examples"

    batch_size: int = Field(
        4, gt=0, description="Per-worker micro-batch size in EXAMPLES (images). Global batch = batch_size x "
        "resources.workers x train.gradient_accumulation_steps.")
    max_length: int = Field(0, ge=0, description="Not used by image models (images have a fixed size).")
    block_length: int = Field(
        256, gt=0, description="Local 1D attention: a position attends (causally) within its block of this many "
        "sub-pixels and to the whole previous block (T2T local_attention_1d); >= H*W*C is full causal attention.")
    hidden_size: int = Field(512, gt=0)
    filter_size: int = Field(2048, gt=0)
    num_heads: int = Field(4, gt=0)
    num_decoder_layers: int = Field(12, ge=1)
    layer_prepostprocess_dropout: float = Field(0.3, ge=0.0, le=1.0)
    attention_dropout: float = Field(0.0, ge=0.0, le=1.0)
    relu_dropout: float = Field(0.0, ge=0.0, le=1.0)
    shared_embedding_and_softmax_weights: bool = Field(
        False, description="Must be false: inputs are embedded per channel, outputs are intensity levels.")

    optimizer_adam_beta2: float = Field(0.98, ge=0.0, lt=1.0)
    learning_rate_constant: float = Field(5.0, gt=0.0)
    learning_rate_warmup_steps: int = Field(4000, ge=0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    initializer_gain: float = Field(0.2, gt=0.0)

    @model_validator(mode="after")
    def _untied(self) -> "ImageTransformerHparams":
        if self.shared_embedding_and_softmax_weights:
            raise ValueError("shared_embedding_and_softmax_weights must be false for image_transformer "
                             "(per-channel input embeddings vs. intensity-level outputs)")
        return self
