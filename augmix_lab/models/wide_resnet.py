"""Pre-activation Wide ResNet (Zagoruyko & Komodakis 2016) as in augmix third_party/WideResNet_pytorch/wideresnet.py."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from augmix_lab.models import register_model


class _BasicBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3; when the width changes the shortcut is a 1×1 conv of the pre-activated input."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_rate: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.equal_in_out = in_ch == out_ch
        self.shortcut = None if self.equal_in_out else nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(pre)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        # Reference: identity shortcut adds the raw input, projection shortcut sees the pre-activated input.
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int, widen_factor: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4 (got {depth})")
        n = (depth - 4) // 6  # reference: blocks per group
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]  # reference nChannels
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.block1 = self._group(n, widths[0], widths[1], 1, drop_rate)
        self.block2 = self._group(n, widths[1], widths[2], 2, drop_rate)
        self.block3 = self._group(n, widths[2], widths[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")  # reference init
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    @staticmethod
    def _group(n: int, in_ch: int, out_ch: int, stride: int, drop_rate: float) -> nn.Sequential:
        blocks = [
            _BasicBlock(in_ch if i == 0 else out_ch, out_ch, stride if i == 0 else 1, drop_rate) for i in range(n)
        ]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn1(out))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))  # reference: avg_pool2d(8) at 32 px


@register_model(
    "wrn40_2", family="wide_resnet", input="32 px", reference="augmix cifar.py --layers 40 --widen-factor 2"
)
def wrn40_2(num_classes: int) -> nn.Module:
    return WideResNet(depth=40, num_classes=num_classes, widen_factor=2, drop_rate=0.0)  # reference cifar.py defaults
