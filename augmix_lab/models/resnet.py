"""ResNets from torchvision, randomly initialised: ImageNet ``resnet50`` and the CIFAR variant ``resnet18_cifar``.

``resnet18_cifar`` is the common CIFAR ResNet-18 (3×3 stride-1 stem, no max-pool; e.g. kuangliu/pytorch-cifar and
the PRIME AugMix baseline): torchvision's ResNet-18 with the stem swapped, so blocks and init are torchvision's.
"""

from __future__ import annotations

import torch.nn as nn
import torchvision

from augmix_lab.models import register_model


@register_model("resnet18_cifar", family="resnet", input="32 px")
def resnet18_cifar(num_classes: int) -> nn.Module:
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)  # CIFAR stem: 3x3, stride 1
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")  # torchvision's conv init
    model.maxpool = nn.Identity()  # CIFAR variant: no max-pool after the stem
    return model


@register_model("resnet50", family="resnet", input="224 px", reference="augmix imagenet.py: models.resnet50()")
def resnet50(num_classes: int) -> nn.Module:
    return torchvision.models.resnet50(
        weights=None, num_classes=num_classes
    )  # random init, as the paper trains from scratch
