"""CIFAR ResNeXt-29 (Xie et al. 2016) as in augmix third_party/ResNeXt_DenseNet/models/resnext.py.

The reference's ``resnext29(cardinality=4, base_width=32)`` is what the paper calls ResNeXt-29 (32×4) and RobustBench
``ResNeXt29_32x4d``: every bottleneck's grouped conv is 4 groups × (planes·32/64) channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from augmix_lab.models import register_model

EXPANSION = 4  # reference ResNeXtBottleneck.expansion


class _Bottleneck(nn.Module):
    def __init__(self, in_ch: int, planes: int, cardinality: int, base_width: int, stride: int) -> None:
        super().__init__()
        dim = int(math.floor(planes * (base_width / 64.0)))  # reference: channels per group
        inner = dim * cardinality
        self.conv_reduce = nn.Conv2d(in_ch, inner, 1, bias=False)
        self.bn_reduce = nn.BatchNorm2d(inner)
        self.conv_conv = nn.Conv2d(inner, inner, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn = nn.BatchNorm2d(inner)
        self.conv_expand = nn.Conv2d(inner, planes * EXPANSION, 1, bias=False)
        self.bn_expand = nn.BatchNorm2d(planes * EXPANSION)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != planes * EXPANSION:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, planes * EXPANSION, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * EXPANSION)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn_reduce(self.conv_reduce(x)))
        out = F.relu(self.bn(self.conv_conv(out)))
        out = self.bn_expand(self.conv_expand(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class CifarResNeXt(nn.Module):
    def __init__(self, depth: int, cardinality: int, base_width: int, num_classes: int) -> None:
        super().__init__()
        if (depth - 2) % 9:
            raise ValueError(f"ResNeXt depth must be 9n+2 (got {depth})")
        n = (depth - 2) // 9  # reference: blocks per stage
        self.conv_1_3x3 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn_1 = nn.BatchNorm2d(64)
        stages, in_ch = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2)):  # reference stage_1..3
            blocks = []
            for i in range(n):
                blocks.append(_Bottleneck(in_ch, planes, cardinality, base_width, stride if i == 0 else 1))
                in_ch = planes * EXPANSION
            stages.append(nn.Sequential(*blocks))
        self.stage_1, self.stage_2, self.stage_3 = stages
        self.classifier = nn.Linear(256 * EXPANSION, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))  # reference: He init on fan-out
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)  # reference: init.kaiming_normal on the classifier
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn_1(self.conv_1_3x3(x)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))  # reference: AvgPool2d(8) at 32 px


@register_model(
    "resnext29_32x4d", family="resnext", input="32 px", reference="augmix resnext29(cardinality=4, base_width=32)"
)
def resnext29_32x4d(num_classes: int) -> nn.Module:
    return CifarResNeXt(depth=29, cardinality=4, base_width=32, num_classes=num_classes)  # reference resnext29 defaults
