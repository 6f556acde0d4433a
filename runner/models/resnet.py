"""ResNet image classifier: stem, residual stages, pool, dense (hparams.resnet_version picks the block).

v1 (He et al. 2015). Block ("residual"): 3x3 conv - BN - ReLU - 3x3 conv - BN, plus the
shortcut, then ReLU. Block ("bottleneck"): 1x1 - 3x3 (carries the stride, "v1.5") - 1x1 to 4x
the filters. The shortcut is the identity, or a strided 1x1 conv + BN when the shape changes.
v2 (He et al. 2016, T2T's resnet_v2): pre-activation. Each block starts with BN-ReLU, its convs
are BN-ReLU-conv, nothing follows the sum; the first block of every stage projects the
pre-activated input (strided 1x1 conv + BN), as T2T's block_layer does, and the stem is
conv - BN - ReLU (+ max pool). T2T's own resnet mixes the two: its residual_block is v2, its
bottleneck_block v1 (the catalog's resnet_cifar_15 and resnet_50 say so).
The first stage keeps the resolution, each later stage halves it.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require
from runner.models.image_input import image_geometry, init_conv_net, pixels_to_unit
from runner.models.output import ModelOutput


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, zero_init: bool = False) -> nn.Sequential:
    bn = nn.BatchNorm2d(out_channels)
    bn.zero_init = zero_init  # read by init_conv_net
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False), bn)


class ResidualBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, filters: int, stride: int):
        super().__init__()
        out = filters * self.expansion
        self.branch = self._branch(in_channels, filters, stride)
        self.shortcut = (conv_bn(in_channels, out, 1, stride) if stride != 1 or in_channels != out
                         else nn.Identity())

    def _branch(self, in_channels: int, filters: int, stride: int) -> nn.Sequential:
        return nn.Sequential(conv_bn(in_channels, filters, 3, stride), nn.ReLU(inplace=True),
                             conv_bn(filters, filters, 3, zero_init=True))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.branch(x) + self.shortcut(x))


class BottleneckBlock(ResidualBlock):
    expansion = 4

    def _branch(self, in_channels: int, filters: int, stride: int) -> nn.Sequential:
        return nn.Sequential(conv_bn(in_channels, filters, 1), nn.ReLU(inplace=True),
                             conv_bn(filters, filters, 3, stride), nn.ReLU(inplace=True),
                             conv_bn(filters, filters * self.expansion, 1, zero_init=True))


class PreActBlock(nn.Module):
    """T2T's residual_block / bottleneck_block (v2): BN-ReLU first, convs in between, identity after."""

    def __init__(self, in_channels: int, filters: int, stride: int, project: bool, bottleneck: bool):
        super().__init__()
        out = filters * (4 if bottleneck else 1)
        self.pre = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=False))
        self.shortcut = conv_bn(in_channels, out, 1, stride) if project else None
        if bottleneck:
            convs = [(in_channels, filters, 1, 1), (filters, filters, 3, stride), (filters, out, 1, 1)]
        else:
            convs = [(in_channels, filters, 3, stride), (filters, filters, 3, 1)]
        layers: list[nn.Module] = []
        for n, (cin, cout, kernel, s) in enumerate(convs):
            if n:
                layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True)]
            layers.append(nn.Conv2d(cin, cout, kernel, s, kernel // 2, bias=False))
        self.branch = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        activated = self.pre(x)
        shortcut = x if self.shortcut is None else self.shortcut(activated)
        return self.branch(activated) + shortcut


def _stem(hp: Any, channels: int, filters: int) -> nn.Sequential:
    kernel, stride = {"imagenet": (7, 2), "small": (3, 1), "cifar": (7, 1)}[hp.stem]
    layers: list[nn.Module] = [conv_bn(channels, filters, kernel, stride), nn.ReLU(inplace=True)]
    if hp.stem == "imagenet":
        layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    def __init__(self, hparams: Any, channels: int, levels: int, num_classes: int):
        super().__init__()
        hp = hparams
        self.levels = levels
        stem_filters = hp.filter_sizes[0]
        self.stem = _stem(hp, channels, stem_filters)
        bottleneck = hp.block_fn == "bottleneck"
        block = BottleneckBlock if bottleneck else ResidualBlock
        stages, width = [], stem_filters
        for index, (blocks, filters) in enumerate(zip(hp.layer_sizes, hp.filter_sizes[1:])):
            for b in range(blocks):
                stride = 2 if index > 0 and b == 0 else 1
                if hp.resnet_version == "v2":
                    stages.append(PreActBlock(width, filters, stride, project=b == 0, bottleneck=bottleneck))
                else:
                    stages.append(block(width, filters, stride))
                width = filters * block.expansion
            if isinstance(stages[-1], BottleneckBlock):  # T2T: init_zero=final_block
                stages[-1].branch[-1][1].t2t_zero_init = True
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Linear(width, num_classes)
        init_conv_net(self, hp.initializer_gain, hp.initializer)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        x = self.stages(self.stem(pixels_to_unit(require(batch, "inputs", "resnet"), self.levels)))
        return ModelOutput(self.classifier(x.mean(dim=(2, 3))))


def build(hparams: Any, info: Any) -> ResNet:
    (_, _, channels), levels = image_geometry(info, "resnet", want_classes=True)
    return ResNet(hparams, channels, levels, info.target_vocab_size)
