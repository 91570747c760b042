"""DuBIN (AugMax, Wang et al., NeurIPS 2021): dual batch norm + instance norm, a normalisation option for every
registered architecture (``create_model(name, classes, norm="dubin")``; a trial's ``norm: dubin``).

Follows VITA-Group/AugMax (commit 176acdb) ``models/cifar10/resnet_DuBN.py`` (``DualBatchNorm2d``: a main and an
auxiliary BatchNorm2d, the ``route`` attribute choosing one) and ``models/cifar10/resnet_DuBIN.py`` (``DuBIN``: IBN-a,
instance norm with affine parameters on the first ``int(0.5·C)`` channels, a DualBatchNorm2d on the rest). Every
BatchNorm2d becomes a DualBatchNorm2d; the layers where the official DuBIN models put IBN-a become DuBIN:
``IBN_LAYERS`` for the architectures with an official DuBIN model, else the BN of every block but those of the last
quarter of the network (IBN-a's "not in the last stage" rule, our choice for architectures AugMax does not ship).

Routes: ``"M"`` (main BN: clean and AugMix images, evaluation), ``"A"`` (auxiliary BN: AugMax images) or a row
range ``(start, stop)`` whose rows take the auxiliary BN while the others share the main one in one call (our
single forward over all views; the official code forwards AugMax, AugMix and clean images in three calls).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
from torch import Tensor

Route = str | tuple[int, int]
NORMS = ("bn", "dubin")
IN_RATIO = 0.5  # resnet_DuBIN.py DuBIN(planes, ratio=0.5)
# Where the official DuBIN models put IBN-a (ibn='a'), by our module names
IBN_LAYERS: dict[str, str] = {
    "wrn40_2": r"^block[12]\.\d+\.bn1$",  # wideresnet_DuBIN.py: block1/block2 ibn='a' -> BasicBlock bn1
    "resnet18_cifar": r"^layer[123]\.\d+\.bn1$",  # resnet_DuBIN.py ResNet18_DuBIN ibn_cfg ('a', 'a', 'a', None)
    "resnext29_32x4d": r"^stage_[12]\.\d+\.bn_reduce$",  # resnext_DuBIN.py ibn_cfg ('a', 'a', None)
    "resnet50": r"^layer[123]\.\d+\.bn1$",  # imagenet/resnet_DuBIN.py ResNet50_DuBIN ibn_cfg ('a', 'a', 'a', None)
}


class DualBatchNorm2d(nn.Module):
    """resnet_DuBN.py ``DualBatchNorm2d``: ``main`` (route M) and ``aux`` (route A) BatchNorm2d."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.main = nn.BatchNorm2d(num_features)
        self.aux = nn.BatchNorm2d(num_features)
        self.num_features = num_features
        self.route: Route = "M"

    def forward(self, x: Tensor) -> Tensor:
        route = self.route
        if route == "M":
            return self.main(x)
        if route == "A":
            return self.aux(x)
        start, stop = route  # type: ignore[str-unpack]  # a str route returned above
        main = self.main(torch.cat([x[:start], x[stop:]]))
        return torch.cat([main[:start], self.aux(x[start:stop]), main[start:]])


class DuBIN(nn.Module):
    """resnet_DuBIN.py ``DuBIN``: InstanceNorm2d(affine) on the first int(ratio·C) channels, DualBatchNorm2d after."""

    def __init__(self, planes: int, ratio: float = IN_RATIO) -> None:
        super().__init__()
        self.half = int(planes * ratio)
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = DualBatchNorm2d(planes - self.half)

    def forward(self, x: Tensor) -> Tensor:
        first, rest = torch.split(x, [self.half, x.shape[1] - self.half], 1)
        return torch.cat((self.IN(first.contiguous()), self.BN(rest.contiguous())), 1)


def ibn_names(arch: str, bn_names: list[str]) -> set[str]:
    """The BatchNorm2d modules that become DuBIN for ``arch`` (``IBN_LAYERS``, else every BN but the stem's and
    those of the last quarter of the BN layers)."""
    if arch in IBN_LAYERS:
        pattern = re.compile(IBN_LAYERS[arch])
        return {n for n in bn_names if pattern.match(n)}
    keep = bn_names[1 : max(1, (3 * len(bn_names)) // 4)]
    return set(keep)


def to_dubin(model: nn.Module, arch: str) -> nn.Module:
    """Replace every BatchNorm2d of ``model`` in place (DuBIN at ``ibn_names``, DualBatchNorm2d elsewhere)."""
    bn_names = [n for n, m in model.named_modules() if type(m) is nn.BatchNorm2d]
    if not bn_names:
        from augmix_lab.errors import UserError

        raise UserError(f"norm 'dubin' needs BatchNorm2d layers to replace; model {arch!r} has none")
    ibn = ibn_names(arch, bn_names)
    for name in bn_names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        bn = getattr(parent, child)
        setattr(parent, child, DuBIN(bn.num_features) if name in ibn else DualBatchNorm2d(bn.num_features))
    return model


def dual_layers(model: nn.Module) -> list[DualBatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, DualBatchNorm2d)]


@contextmanager
def routed(model: nn.Module, route: Route) -> Iterator[bool]:
    """Every DualBatchNorm2d of ``model`` takes ``route`` inside the block (restored after); yields whether the
    model has any (a model without DuBIN ignores routes)."""
    layers = dual_layers(model)
    saved = [m.route for m in layers]
    for m in layers:
        m.route = route
    try:
        yield bool(layers)
    finally:
        for m, r in zip(layers, saved):
            m.route = r
