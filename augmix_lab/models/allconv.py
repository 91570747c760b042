"""All Convolutional Network (Springenberg et al. 2014) as built by google-research/augmix models/cifar/allconv.py."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from augmix_lab.models import register_model

GELU_SIGMOID_SCALE = 1.702  # reference allconv.py GELU: sigmoid(1.702 x) * x (Hendrycks & Gimpel approximation)
WIDTH_1, WIDTH_2 = 96, 192  # reference allconv.py: width1, width2
DROPOUT = 0.5  # reference allconv.py: Dropout(p=0.5) after each max-pool


class SigmoidGELU(nn.Module):
    """The sigmoid approximation of GELU used by the reference (not ``nn.GELU``, which is the erf form)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(GELU_SIGMOID_SCALE * x) * x


def _conv_bn_gelu(in_ch: int, out_ch: int, kernel: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, padding=padding), nn.BatchNorm2d(out_ch), SigmoidGELU()]


class AllConvNet(nn.Module):
    """96×3 → pool/dropout → 192×3 → pool/dropout → 3×3 valid conv → two 1×1 "NIN" convs → avg-pool 8 → linear.

    Faithful to the reference quirk that the 1×1 convs use padding=1 (6→8→10 px) and ``AvgPool2d(8)`` then keeps
    the top-left 8×8 window; changing it would change the published network.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        w1, w2 = WIDTH_1, WIDTH_2
        layers: list[nn.Module] = []
        layers += _conv_bn_gelu(3, w1, 3, 1) + _conv_bn_gelu(w1, w1, 3, 1) + _conv_bn_gelu(w1, w1, 3, 1)
        layers += [nn.MaxPool2d(2, 2), nn.Dropout(DROPOUT)]
        layers += _conv_bn_gelu(w1, w2, 3, 1) + _conv_bn_gelu(w2, w2, 3, 1) + _conv_bn_gelu(w2, w2, 3, 1)
        layers += [nn.MaxPool2d(2, 2), nn.Dropout(DROPOUT)]
        layers += _conv_bn_gelu(w2, w2, 3, 0)  # reference 'nopad'
        layers += _conv_bn_gelu(w2, w2, 1, 1) + _conv_bn_gelu(w2, w2, 1, 1)  # reference 'NIN' (padding=1 as there)
        layers += [nn.AvgPool2d(8)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(w2, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))  # reference: He init on fan-out
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model("allconv", family="allconv", input="32 px", reference="augmix models/cifar/allconv.py")
def allconv(num_classes: int) -> nn.Module:
    return AllConvNet(num_classes)
