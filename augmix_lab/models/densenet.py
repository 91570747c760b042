"""CIFAR DenseNets (Huang et al. 2017) in the structure of augmix third_party/ResNeXt_DenseNet/models/densenet.py.

The paper (Sec. 4.1) trains DenseNet-BC (k=12, d=100): bottleneck layers and compression 0.5, ~0.77M parameters.
The augmix repository's ``densenet()`` instead builds a plain DenseNet-40 (k=12, no bottleneck, no compression,
~1.06M parameters). We register both: ``densenet_bc_100_12`` (paper) and ``densenet_40_12`` (reference code).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from augmix_lab.models import register_model

BOTTLENECK_FACTOR = 4  # DenseNet-BC / reference Bottleneck: 1x1 conv to 4k channels


class _Bottleneck(nn.Module):
    def __init__(self, in_ch: int, growth: int) -> None:
        super().__init__()
        inter = BOTTLENECK_FACTOR * growth
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, inter, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inter)
        self.conv2 = nn.Conv2d(inter, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))
        return torch.cat((x, out), 1)


class _SingleLayer(nn.Module):
    def __init__(self, in_ch: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv1(F.relu(self.bn1(x)))), 1)


class _Transition(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv1(F.relu(self.bn1(x))), 2)


class DenseNet(nn.Module):
    """Three dense blocks with transitions; ``reduction`` is the compression factor θ, ``bottleneck`` the "B"."""

    def __init__(self, growth: int, depth: int, reduction: float, num_classes: int, bottleneck: bool) -> None:
        super().__init__()
        layers_per_block = (depth - 4) // (6 if bottleneck else 3)  # reference: (depth-4)/6 with bottleneck, else /3
        channels = 2 * growth  # reference: first conv has 2k channels
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        self.dense1 = self._dense(channels, growth, layers_per_block, bottleneck)
        channels += layers_per_block * growth
        out = int(math.floor(channels * reduction))
        self.trans1 = _Transition(channels, out)
        channels = out
        self.dense2 = self._dense(channels, growth, layers_per_block, bottleneck)
        channels += layers_per_block * growth
        out = int(math.floor(channels * reduction))
        self.trans2 = _Transition(channels, out)
        channels = out
        self.dense3 = self._dense(channels, growth, layers_per_block, bottleneck)
        channels += layers_per_block * growth
        self.bn1 = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))  # reference: He init on fan-out
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    @staticmethod
    def _dense(channels: int, growth: int, n: int, bottleneck: bool) -> nn.Sequential:
        block = _Bottleneck if bottleneck else _SingleLayer
        return nn.Sequential(*[block(channels + i * growth, growth) for i in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.trans2(self.dense2(self.trans1(self.dense1(self.conv1(x)))))
        out = F.relu(self.bn1(self.dense3(out)))
        # Global average pool (the reference's avg_pool2d(8) at 32 px); flatten, not squeeze, so batch 1 works.
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


@register_model("densenet_bc_100_12", family="densenet", input="32 px", reference="AugMix paper Sec. 4.1")
def densenet_bc_100_12(num_classes: int) -> nn.Module:
    return DenseNet(
        growth=12, depth=100, reduction=0.5, num_classes=num_classes, bottleneck=True
    )  # paper: BC, k=12, d=100


@register_model("densenet_40_12", family="densenet", input="32 px", reference="augmix cifar.py densenet()")
def densenet_40_12(num_classes: int) -> nn.Module:
    return DenseNet(
        growth=12, depth=40, reduction=1.0, num_classes=num_classes, bottleneck=False
    )  # reference densenet()
