"""Model registry: ``create_model(name, num_classes)`` builds any registered architecture (timm-style factories).

Registered: ``small_cnn`` (fast CPU model), the paper's CIFAR networks ``allconv``, ``densenet_bc_100_12``,
``wrn40_2``, ``resnext29_32x4d`` (AugMix Sec. 4.1), the augmix repo's ``densenet_40_12`` (what reference cifar.py
actually builds), ``resnet18_cifar`` and the ImageNet ``resnet50``. Each factory takes ``num_classes`` only;
``norm="dubin"`` swaps any architecture's BatchNorm layers for AugMax's DuBIN (``models/dubin.py``).
"""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from augmix_lab.registry import Registry

ModelFactory = Callable[[int], nn.Module]

MODELS: Registry[ModelFactory] = Registry("model")


def register_model(name: str | None = None, **meta: object) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator: ``@register_model("wrn40_2", params_10_classes=...)`` adds a factory ``f(num_classes) -> nn.Module``."""
    return MODELS.register(name, **meta)


def create_model(name: str, num_classes: int, norm: str = "bn") -> nn.Module:
    """Build a freshly initialised model; unknown names raise ``UserError`` listing the registered ones.
    ``norm``: ``bn`` (the architecture as registered) or ``dubin`` (its BatchNorm layers as DuBIN, models/dubin.py)."""
    from augmix_lab.errors import UserError
    from augmix_lab.models.dubin import NORMS, to_dubin

    factory = MODELS.get(name)
    if int(num_classes) < 1:
        raise UserError(f"num_classes must be >= 1 (got {num_classes!r})")
    if norm not in NORMS:
        raise UserError(f"norm {norm!r}: allowed: {', '.join(NORMS)}")
    model = factory(int(num_classes))
    return to_dubin(model, name) if norm == "dubin" else model


# Importing the families registers them.
from augmix_lab.models import allconv, densenet, resnet, resnext, small_cnn, wide_resnet  # noqa: E402,F401

__all__ = ["MODELS", "create_model", "register_model"]
