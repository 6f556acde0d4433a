"""Hparams of the ResNet image classifier (torch-free). Defaults: T2T's resnet_50.

T2T resnet_base (models/resnet.py): pre-activation (v2) blocks, layer_sizes [3, 4, 6, 3],
filter_sizes [64, 64, 128, 256, 512], bottleneck blocks, Nesterov momentum 0.9 SGD, weight decay
1e-4, learning rate 0.4 after the legacy exponential warmup with a cosine decay over a 120k-step
cycle, batch 128 images per worker, normal_unit_scaling initializer with gain 2. The schema's
defaults are older than those sets (v1 blocks, ours initializer) and kept so recorded runs keep
their meaning; the sets in catalog/hparams hold T2T's values.
"""

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from runner.models.hparams_base import ConvInitializer, TrainingHparams, added_field, conv_initializer_field


class ResNetHparams(TrainingHparams):
    """ResNet (He et al. 2015, 2016): a stem, stages of residual blocks, global average pool, a dense layer."""

    batch_unit: ClassVar[str] = "examples"

    batch_size: int = Field(
        128, gt=0, description="Per-worker micro-batch size in EXAMPLES (images). Global batch = batch_size x "
        "resources.workers x train.gradient_accumulation_steps.")
    max_length: int = Field(0, ge=0, description="Not used by image models (images have a fixed size).")
    layer_sizes: list[int] = Field([3, 4, 6, 3], min_length=1, description="Residual blocks per stage.")
    filter_sizes: list[int] = Field(
        [64, 64, 128, 256, 512], min_length=2,
        description="Stem filters, then each stage's filters (bottleneck blocks output 4x that).")
    block_fn: Literal["residual", "bottleneck"] = Field(
        "bottleneck", description="residual: two 3x3 convs (ResNet-18/34, CIFAR); bottleneck: 1x1-3x3-1x1 (ResNet-50+).")
    stem: Literal["imagenet", "small", "cifar"] = Field(
        "imagenet", description="imagenet: 7x7 stride-2 conv + 3x3 stride-2 max pool; small: one 3x3 conv, no "
        "pooling (32x32 and smaller images, as CIFAR ResNets); cifar: T2T's is_cifar stem, one 7x7 stride-1 "
        "conv, no pooling.")
    resnet_version: Literal["v1", "v2"] = added_field(
        "v1", description="v1: post-activation blocks (conv-BN-ReLU, ReLU after the sum; He et al. 2015); v2: "
        "pre-activation blocks (BN-ReLU-conv, nothing after the sum; He et al. 2016), T2T's resnet.")

    optimizer: Literal["adam", "adamw", "adafactor", "sgd"] = "sgd"
    optimizer_momentum_momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    learning_rate_schedule: str = "constant*linear_warmup*cosine_decay"
    learning_rate_constant: float = Field(0.4, gt=0.0)
    learning_rate_warmup_steps: int = Field(100, ge=0)
    initializer_gain: float = Field(2.0, gt=0.0, description="Scale of the initial weights' variance (see initializer).")
    initializer: ConvInitializer = conv_initializer_field()

    @model_validator(mode="after")
    def _one_filter_size_per_stage(self) -> "ResNetHparams":
        if len(self.filter_sizes) != len(self.layer_sizes) + 1:
            raise ValueError(f"filter_sizes needs the stem's filters plus one entry per stage: "
                             f"{len(self.layer_sizes) + 1} values for layer_sizes {self.layer_sizes}, "
                             f"got {len(self.filter_sizes)}")
        if min(self.layer_sizes) < 1 or min(self.filter_sizes) < 1:
            raise ValueError("layer_sizes and filter_sizes must be positive")
        return self
