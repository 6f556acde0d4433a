"""Hparams of the Shake-Shake classifier (torch-free). Defaults: T2T's shakeshake_small.

T2T shakeshake_small (models/shake_shake.py): 26 layers (3 stages of (26 - 2) / 6 = 4 blocks), hidden_size 32 (stage
widths 32, 64, 128: "Shake-Shake 26 2x32d"), 2 branches, momentum-0.9 SGD at 0.2 after T2T's legacy
exponential warmup (100 steps), cosine decay over a 700k-step cycle (T2T: 700k steps at batch 128 for ~96% on CIFAR-10), weight decay 1e-4,
no label smoothing, no dropout, uniform_unit_scaling initializer with gain 1. shakeshake_big is
the same with hidden_size 96. The schema's defaults are older than those sets and kept so recorded
runs keep their meaning; the sets in catalog/hparams hold T2T's values.
"""

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from runner.models.hparams_base import ConvInitializer, TrainingHparams, conv_initializer_field


class ShakeShakeHparams(TrainingHparams):
    """Shake-Shake regularised ResNet (Gastaldi 2017), the CIFAR 'Shake-Shake-Image' variant."""

    batch_unit: ClassVar[str] = "examples"

    batch_size: int = Field(
        128, gt=0, description="Per-worker micro-batch size in EXAMPLES (images). Global batch = batch_size x "
        "resources.workers x train.gradient_accumulation_steps.")
    max_length: int = Field(0, ge=0, description="Not used by image models (images have a fixed size).")
    num_hidden_layers: int = Field(26, ge=8, description="Depth; (num_hidden_layers - 2) must divide by 6.")
    hidden_size: int = Field(32, gt=0, description="Width of the first stage (a multiple of 16); stages use 1x, 2x, 4x.")
    shake_shake_num_branches: int = Field(2, ge=2, description="Parallel residual branches mixed at random.")
    layer_prepostprocess_dropout: float = Field(0.0, ge=0.0, le=1.0, description="Dropout on each branch's output.")

    optimizer: Literal["adam", "adamw", "adafactor", "sgd"] = "sgd"
    optimizer_momentum_momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    learning_rate_schedule: str = "constant*linear_warmup*cosine_decay"
    learning_rate_constant: float = Field(0.2, gt=0.0)
    learning_rate_warmup_steps: int = Field(100, ge=0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    initializer_gain: float = Field(2.0, gt=0.0, description="Scale of the initial weights' variance (see initializer).")
    initializer: ConvInitializer = conv_initializer_field()

    @model_validator(mode="after")
    def _shape(self) -> "ShakeShakeHparams":
        if (self.num_hidden_layers - 2) % 6:
            raise ValueError(f"num_hidden_layers={self.num_hidden_layers}: (layers - 2) must divide by 6 "
                             "(3 stages of 2-conv blocks plus stem and classifier), e.g. 26, 32 or 38")
        if self.hidden_size % 16:
            raise ValueError(f"hidden_size={self.hidden_size} must be a multiple of 16 (T2T's width unit)")
        return self
