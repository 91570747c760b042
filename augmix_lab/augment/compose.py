"""The composer: ``create_augmentation(method, ...)`` resolves a (possibly composed) method into an ``Augmentation``.

Every method first applies the dataset's standard crop/flip (except ``none``). ``a+b`` composes at most one view
producer with any batch transforms, in the order written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from augmix_lab.augment import functional as F
from augmix_lab.augment.augmix import MAX_JSD_ARITY
from augmix_lab.augment.base import AUGMENTATIONS, AugmentedBatch, Context, Method, split_method
from augmix_lab.augment.crop import StandardMethod, standard_crop_flip
from augmix_lab.errors import UserError


class Augmentation:
    """A resolved (possibly composed) method: ``aug(images_uint8, labels, generator) -> AugmentedBatch``."""

    def __init__(self, method: str, parts: list[Method], jsd_arity: int, ctx: Context, crop_flip: bool = True) -> None:
        self.method = method
        self.parts = parts
        self.ctx = ctx
        producers = [p for p in parts if p.produces_views]
        self.producer: Method | None = producers[0] if producers else None
        self.transforms = [p for p in parts if not p.produces_views and p.name not in ("standard", "none")]
        # crop_flip=False: the input pipeline already applied the standard crop + flip (data.imagenet.ImageNetLoader)
        self.crop_flip = crop_flip and not any(p.name == "none" for p in parts)
        standard = next((p for p in parts if p.name == "standard"), None)
        self.padding = (standard.params if standard is not None else StandardMethod.Params().model_dump())["padding"]
        self.produces_views = self.producer is not None
        self.num_views = jsd_arity if self.produces_views else 1

    def __repr__(self) -> str:
        return f"Augmentation({self.method!r}, num_views={self.num_views})"

    def __call__(self, images: Tensor, labels: Tensor, generator: torch.Generator) -> AugmentedBatch:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError(f"expected uint8 N×C×H×W images, got {images.dtype} {tuple(images.shape)}")
        base = images
        if self.crop_flip:
            base = standard_crop_flip(images, self.ctx.kind, self.ctx.image_size, generator, self.padding)
        if self.producer is None:
            views = [F.normalize(base, self.ctx.mean, self.ctx.std)]
        elif self.num_views == 1:
            views = [self.producer.view(base, generator)]
        else:  # JSD: the clean (base-augmented) view, then n-1 independent augmented views
            clean = F.normalize(base, self.ctx.mean, self.ctx.std)
            views = [clean, *self.producer.views(base, self.num_views - 1, generator)]
        targets = labels.to(images.device)
        for transform in self.transforms:
            views, targets = transform.transform(views, targets, generator)
        return AugmentedBatch(views=views, targets=targets)


def create_augmentation(
    method: str,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    jsd_arity: int = 1,
    num_classes: int = 10,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
    kind: str = "cifar",
    image_size: int = 32,
    crop_flip: bool = True,
) -> Augmentation:
    """Build method ``method`` ("name" or "a+b"); ``params`` maps method name -> its options (validated by the
    method's ``Params``; a trial's are ``TrialConfig.method_options()``). ``crop_flip=False`` leaves out the
    dataset's standard crop + flip because the loader already did it (images arrive at ``image_size``)."""
    if not isinstance(method, str) or not method.strip():
        raise UserError(f"method must be a name or 'a+b'; allowed: {', '.join(AUGMENTATIONS.names())}")
    names = list(split_method(method))
    for name in names:
        AUGMENTATIONS.get(name)  # UserError listing the allowed names
    params = dict(params or {})
    stray = sorted(set(params) - set(names))
    if stray:
        raise UserError(
            f"method_params has options for {', '.join(map(repr, stray))}, which method {method!r} "
            f"does not use; its parts: {', '.join(names)}"
        )
    if kind not in ("cifar", "imagenet"):
        raise UserError(f"dataset kind {kind!r}: allowed: cifar, imagenet")
    if not isinstance(jsd_arity, int) or not 1 <= jsd_arity <= MAX_JSD_ARITY:
        raise UserError(f"jsd arity must be an integer in 1..{MAX_JSD_ARITY}, got {jsd_arity!r}")
    ctx = Context(
        num_classes=int(num_classes),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        kind=kind,
        image_size=int(image_size),
    )
    parts = [AUGMENTATIONS.get(name)(name, params.get(name), ctx) for name in names]
    producers = [p.name for p in parts if p.produces_views]
    if len(producers) > 1:
        raise UserError(
            f"method {method!r} combines view-producing methods {', '.join(producers)}; "
            f"compose at most one of them with batch transforms (cutout, mixup, cutmix, patch_*)"
        )
    if "none" in names and len(names) > 1:
        raise UserError(f"method {method!r}: 'none' cannot be combined with other methods")
    if not producers and jsd_arity > 1:
        view_methods = ", ".join(n for n in AUGMENTATIONS.names() if AUGMENTATIONS.get(n).produces_views)
        raise UserError(
            f"method {method!r} does not produce augmented views, so it cannot feed the JSD loss "
            f"(jsd arity {jsd_arity}); use arity 1 or a view-producing method: {view_methods}"
        )
    return Augmentation(method, parts, jsd_arity, ctx, crop_flip=crop_flip)
