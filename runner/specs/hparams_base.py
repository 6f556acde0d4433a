"""Training hparams every model shares, with Tensor2Tensor's names and defaults.

Each model subclasses `TrainingHparams` in `runner/models/<model>_hparams.py` and adds its
architecture. This module must stay torch-free: `runner validate` imports it.
"""

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from runner.specs.base import Spec, added_field, unhashed_defaults  # noqa: F401 - re-exported

# The factors a learning-rate schedule may multiply together (T2T's utils/learning_rate.py).
SCHEDULE_FACTORS = (
    "constant",
    "linear_warmup",
    "exp_warmup",
    "rsqrt_decay",
    "rsqrt_normalized_decay",
    "rsqrt_hidden_size",
    "cosine_decay",
    "cosdecay",
    "linear_decay",
)


ConvInitializer = Literal["fan_in_truncated_normal", "normal_unit_scaling", "uniform_unit_scaling", "t2t_resnet"]


def conv_initializer_field() -> Any:
    """The `initializer` of the conv nets (runner/models/image_input.init_conv_net)."""
    return added_field(
        "fan_in_truncated_normal",
        description="fan_in_truncated_normal: N(0, initializer_gain / fan_in) truncated at 2 sigma, the last "
        "BatchNorm of each residual branch starting at 0 (ours). normal_unit_scaling / uniform_unit_scaling: "
        "T2T's initializers of those names (variance initializer_gain / fan_avg), every BatchNorm at 1. "
        "t2t_resnet: T2T's resnet (convs: fan_in truncated normal at scale 1; classifier: normal_unit_scaling; "
        "the last BatchNorm of each stage's final bottleneck block at 0).")


class TrainingHparams(Spec):
    """Optimizer, schedule and batching hparams shared by every model."""

    # What `batch_size` counts for this model; image models set "examples".
    batch_unit: ClassVar[str] = "tokens"

    batch_size: int = Field(
        4096,
        gt=0,
        description="Per-worker micro-batch size. Counts TOKENS (padded length of inputs or "
        "targets, whichever is longer, times batch rows) for sequence problems, as T2T's and "
        "fairseq's --max-tokens; image models override this to count EXAMPLES. Global batch = "
        "batch_size x resources.workers x train.gradient_accumulation_steps.",
    )
    max_length: int = Field(
        256,
        ge=0,
        description="Longest sequence (tokens) trained on; longer training examples are dropped "
        "and counted. 0 = no limit beyond the problem's own max_length.",
    )
    optimizer: Literal["adam", "adamw", "adafactor", "sgd"] = "adam"
    optimizer_adam_beta1: float = Field(0.9, ge=0.0, lt=1.0)
    optimizer_adam_beta2: float = Field(0.997, ge=0.0, lt=1.0)
    optimizer_adam_epsilon: float = Field(1e-9, gt=0.0)
    optimizer_momentum_momentum: float = Field(0.9, ge=0.0, lt=1.0)
    optimizer_momentum_nesterov: bool = added_field(False, description="Nesterov momentum for sgd (T2T's resnet sets it).")
    # T2T's Adafactor (runner/training/adafactor.py), with basic_params1's defaults.
    optimizer_adafactor_beta1: float = added_field(0.0, ge=0.0, lt=1.0, description="Adafactor momentum; 0 = none.")
    optimizer_adafactor_beta2: float = added_field(0.999, ge=0.0, lt=1.0, description="Adafactor decay with decay_type 'adam'.")
    optimizer_adafactor_decay_type: Literal["pow", "adam"] = added_field(
        "pow", description="pow: decay 1 - step^-memory_exponent; adam: Adam's bias-corrected beta2.")
    optimizer_adafactor_memory_exponent: float = added_field(0.8, gt=0.0, le=1.0)
    optimizer_adafactor_clipping_threshold: float = added_field(
        1.0, ge=0.0, description="Update clipping: divide the update by max(1, rms / threshold); 0 = off.")
    optimizer_adafactor_factored: bool = added_field(True, description="Factor matrices' second moments.")
    optimizer_adafactor_multiply_by_parameter_scale: bool = added_field(
        True, description="Scale the step by max(rms(param), 1e-3): the learning rate is a relative step.")
    weight_decay: float = Field(0.0, ge=0.0)
    weight_decay_skips: Literal["1d", "biases"] = added_field(
        "1d", description="Tensors weight decay leaves alone. 1d: biases and normalization scales/shifts (ours); "
        "biases: conv/dense biases only, as T2T's weight_decay(skip_biases=True).")
    learning_rate_schedule: str = Field(
        "constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size",
        description="Product of named factors, joined by '*': " + ", ".join(SCHEDULE_FACTORS),
    )
    learning_rate_constant: float = Field(2.0, gt=0.0)
    learning_rate_warmup_steps: int = Field(8000, ge=0)
    learning_rate_decay_steps: int = Field(
        0, ge=0, description="Length of cosine/linear decay in steps; 0 = train.steps."
    )
    clip_grad_norm: float = Field(0.0, ge=0.0, description="Global gradient-norm clip; 0 = off.")
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    initializer_gain: float = Field(1.0, gt=0.0)

    @field_validator("learning_rate_schedule")
    @classmethod
    def _known_factors(cls, value: str) -> str:
        factors = [f.strip() for f in value.split("*")]
        unknown = [f for f in factors if f not in SCHEDULE_FACTORS]
        if unknown or not value.strip():
            raise ValueError(
                f"unknown schedule factor(s) {unknown or [value]}; "
                f"expected factors joined by '*' from: {', '.join(SCHEDULE_FACTORS)}"
            )
        return "*".join(factors)
