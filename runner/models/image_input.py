"""What the image models share: reading image geometry from DataInfo, and pixels -> floats.

Image problems (runner/problems/images.py) hand models uint8 intensities [B, H, W, C] in
[0, levels) and an ImageDataInfo with `image_shape` and `levels`; classifiers see them scaled
to [-1, 1], channels first.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn


def image_geometry(info: Any, model: str, want_classes: bool) -> tuple[tuple[int, int, int], int]:
    """((height, width, channels), levels) from an image problem's DataInfo, or a clear error."""
    shape = tuple(getattr(info, "image_shape", ()) or ())
    kind = info.input_kind
    if kind != "pixels" or len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{model} is an image model, but the problem's input_kind is '{kind}'"
                         + ("" if kind != "pixels" else f" with image_shape {shape}")
                         + "; use an image_classification or image_generation problem")
    if want_classes and not info.has_inputs:
        raise ValueError(f"{model} classifies images; an image_generation problem has no class labels "
                         "(use image_transformer there)")
    return shape, int(getattr(info, "levels", 256))


def pixels_to_unit(pixels: Tensor, levels: int) -> Tensor:
    """uint8 [B, H, W, C] in [0, levels) -> float [B, C, H, W] in [-1, 1]."""
    return pixels.permute(0, 3, 1, 2).float() * (2.0 / (levels - 1)) - 1.0


# TF1's variance_scaling "normal" draws a normal truncated at 2 sigma, rescaled by this so the
# variance stays scale / fan.
_TRUNCATED_NORMAL_STD = 0.87962566103423978


def init_conv_net(model: nn.Module, gain: float, initializer: str = "fan_in_truncated_normal") -> None:
    """Initialise conv and dense weights; biases 0, BatchNorm identity.

    fan_in_truncated_normal (ours): weights ~ N(0, gain / fan_in) truncated at 2 sigma (gain 2 is He
    initialisation), and a BatchNorm flagged `zero_init = True` (the last one of a residual branch)
    starts at 0, so every residual block starts as the identity (Goyal et al. 2017).
    normal_unit_scaling / uniform_unit_scaling: T2T's initializers of those names (TF1
    variance_scaling with mode fan_avg: a truncated normal or a uniform of variance gain / fan_avg,
    fan_avg = (fan_in + fan_out) / 2), every BatchNorm starting at scale 1.
    t2t_resnet: what T2T's resnet really starts from: its convs pass their own
    tf.variance_scaling_initializer() (fan_in, truncated normal, scale 1, whatever the gain), the
    classifier takes normal_unit_scaling with the gain, and only a BatchNorm flagged
    `t2t_zero_init` (the last of the final bottleneck block of each stage) starts at 0.
    """
    for module in model.modules():
        if initializer == "t2t_resnet" and isinstance(module, nn.Conv2d):
            std = math.sqrt(1.0 / module.weight[0].numel()) / _TRUNCATED_NORMAL_STD
            nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            if initializer == "fan_in_truncated_normal":
                std = math.sqrt(gain / fan_in)
                nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
            else:
                fan_out = module.weight.shape[0] * module.weight[0, 0].numel()
                variance = gain / ((fan_in + fan_out) / 2)
                if initializer == "uniform_unit_scaling":
                    limit = math.sqrt(3 * variance)
                    nn.init.uniform_(module.weight, -limit, limit)
                elif initializer in ("normal_unit_scaling", "t2t_resnet"):
                    std = math.sqrt(variance) / _TRUNCATED_NORMAL_STD
                    nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
                else:
                    raise ValueError(f"unknown initializer '{initializer}'")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            zero = (getattr(module, "zero_init", False) and initializer == "fan_in_truncated_normal") or (
                getattr(module, "t2t_zero_init", False) and initializer == "t2t_resnet")
            nn.init.constant_(module.weight, 0.0 if zero else 1.0)
            nn.init.zeros_(module.bias)
