"""Shake-Shake (Gastaldi 2017), T2T's CIFAR model: residual blocks whose parallel branches are
mixed with random weights, a different draw forward and backward, per image.

Block: skip + sum_k alpha_k * branch_k(x), branch = ReLU-conv3x3(stride)-BN-ReLU-conv3x3-BN.
Training: alpha ~ U(0, 1) normalised to sum 1 per image in the forward pass, an independent
beta in the backward pass (x * beta + stop_gradient(x * alpha - x * beta)); evaluation: every
alpha = 1 / branches. The skip is the identity, or when the width changes, T2T's two-path
downsampling (a strided 1x1 conv on x and on x shifted by one pixel, concatenated, then BN).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require
from runner.models.image_input import image_geometry, init_conv_net, pixels_to_unit
from runner.models.output import ModelOutput
from runner.models.resnet import conv_bn


class ShakeShakeBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, branches: int, dropout: float):
        super().__init__()
        self.stride, self.dropout = stride, dropout
        self.branches = nn.ModuleList(
            nn.Sequential(nn.ReLU(), conv_bn(in_channels, out_channels, 3, stride), nn.ReLU(),
                          conv_bn(out_channels, out_channels, 3))
            for _ in range(branches))
        self.project = in_channels != out_channels
        if self.project:
            self.path1 = nn.Conv2d(in_channels, out_channels // 2, 1, bias=False)
            self.path2 = nn.Conv2d(in_channels, out_channels - out_channels // 2, 1, bias=False)
            self.skip_bn = nn.BatchNorm2d(out_channels)

    def _skip(self, x: Tensor) -> Tensor:
        if not self.project:
            return x
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]  # one pixel down-right: the other half of the grid
        path1 = self.path1(x[:, :, :: self.stride, :: self.stride])
        path2 = self.path2(shifted[:, :, :: self.stride, :: self.stride])
        return self.skip_bn(torch.cat([path1, path2], dim=1))

    def _weights(self, x: Tensor) -> Tensor:
        draws = torch.rand(len(self.branches), x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)
        return draws / draws.sum(dim=0, keepdim=True)

    def forward(self, x: Tensor) -> Tensor:
        outputs = [F.dropout(branch(x), self.dropout, self.training) for branch in self.branches]
        if self.training:
            forward, backward = self._weights(x), self._weights(x)
            mixed = sum(y * b + (y * f - y * b).detach() for y, f, b in zip(outputs, forward, backward))
        else:
            mixed = sum(outputs) / len(outputs)
        return self._skip(x) + mixed


class ShakeShake(nn.Module):
    def __init__(self, hparams: Any, channels: int, levels: int, num_classes: int):
        super().__init__()
        hp = hparams
        self.levels = levels
        blocks_per_stage = (hp.num_hidden_layers - 2) // 6
        self.stem = conv_bn(channels, 16, 3)  # T2T: a 3x3 conv to 16 channels and BN
        layers, width = [], 16
        for stage, multiple in enumerate((1, 2, 4)):
            for b in range(blocks_per_stage):
                out = hp.hidden_size * multiple
                layers.append(ShakeShakeBlock(width, out, 2 if stage > 0 and b == 0 else 1,
                                              hp.shake_shake_num_branches, hp.layer_prepostprocess_dropout))
                width = out
        self.stages = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        init_conv_net(self, hp.initializer_gain, hp.initializer)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        x = self.stages(self.stem(pixels_to_unit(require(batch, "inputs", "shake_shake"), self.levels)))
        return ModelOutput(self.classifier(F.relu(x).mean(dim=(2, 3))))


def build(hparams: Any, info: Any) -> ShakeShake:
    (_, _, channels), levels = image_geometry(info, "shake_shake", want_classes=True)
    return ShakeShake(hparams, channels, levels, info.target_vocab_size)
