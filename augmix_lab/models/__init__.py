"""Model registry: ``create_model(name, num_classes)`` builds any registered architecture (timm-style factories).

Registered: ``small_cnn`` (fast CPU model), the paper's CIFAR networks ``allconv``, ``densenet_bc_100_12``,
``wrn40_2``, ``resnext29_32x4d`` (AugMix Sec. 4.1), the augmix repo's ``densenet_40_12`` (what reference cifar.py
actually builds), ``resnet18_cifar`` and the ImageNet ``resnet50``. Each factory takes ``num_classes`` only.
``timm:<architecture>`` builds any timm model (``models/timm_models.py``; optional extra ``[timm]``).
``norm="dubin"`` swaps any architecture's BatchNorm layers for AugMax's DuBIN (``models/dubin.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from augmix_lab.registry import Registry

ModelFactory = Callable[[int], nn.Module]

MODELS: Registry[ModelFactory] = Registry("model")


def register_model(name: str | None = None, **meta: object) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator: ``@register_model("wrn40_2", params_10_classes=...)`` adds a factory ``f(num_classes) -> nn.Module``."""
    return MODELS.register(name, **meta)


def create_model(name: str, num_classes: int, pretrained: str | None = None, norm: str = "bn") -> nn.Module:
    """Build a freshly initialised model (``timm:<arch>``: a timm model, with local ``pretrained`` weights when given);
    unknown names raise ``UserError`` listing the registered ones. ``norm``: ``bn`` (the architecture as registered)
    or ``dubin`` (its BatchNorm layers as DuBIN, models/dubin.py)."""
    from augmix_lab.errors import UserError
    from augmix_lab.models.dubin import NORMS, to_dubin
    from augmix_lab.models.timm_models import create_timm_model, is_timm

    if int(num_classes) < 1:
        raise UserError(f"num_classes must be >= 1 (got {num_classes!r})")
    if norm not in NORMS:
        raise UserError(f"norm {norm!r}: allowed: {', '.join(NORMS)}")
    if norm == "dubin" and pretrained is not None:  # DuBIN's layers start fresh: the weights' BatchNorm would be lost
        raise UserError(
            "field 'norm': dubin replaces every BatchNorm layer, so it cannot keep 'pretrained' weights; "
            "use norm: bn with pretrained weights"
        )
    if is_timm(name):
        model = create_timm_model(name, int(num_classes), pretrained)
    else:
        factory = MODELS.get(name)
        if pretrained is not None:
            raise UserError(
                f"field 'pretrained': loads local weights of timm models ('timm:<arch>'), not of {name!r}; "
                "for a registered model's weights use init: {checkpoint: PATH}"
            )
        model = factory(int(num_classes))
    return to_dubin(model, name) if norm == "dubin" else model


def check_model_name(name: str) -> None:
    """``UserError`` unless ``name`` is a registered model or a ``timm:<arch>`` timm can build."""
    from augmix_lab.models.timm_models import check_timm_model, is_timm

    if is_timm(name):
        check_timm_model(name)
    else:
        MODELS.get(name)


# Importing the families registers them.
from augmix_lab.models import allconv, densenet, resnet, resnext, small_cnn, wide_resnet  # noqa: E402,F401

__all__ = ["MODELS", "check_model_name", "create_model", "register_model"]
