"""The datasets' standard augmentation (CIFAR pad-4 crop + flip; ImageNet random-resized crop + flip), per image,
and the two methods that are only that (``standard``) or not even that (``none``)."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from augmix_lab.augment import functional as F
from augmix_lab.augment import sampling
from augmix_lab.augment.base import AUGMENTATIONS, Method, MethodParams

RRC_SCALE, RRC_RATIO = (0.08, 1.0), (3 / 4, 4 / 3)  # torchvision RandomResizedCrop defaults
# float32 logs read back once, as torchvision's get_params does per call (same values, no per-batch .item())
_LOG_RATIO = (torch.log(torch.tensor(RRC_RATIO[0])).item(), torch.log(torch.tensor(RRC_RATIO[1])).item())


def standard_crop_flip(
    images: Tensor, kind: str, image_size: int, generator: torch.Generator, padding: int = 4
) -> Tensor:
    """The dataset's standard augmentation, per image: CIFAR pad-4 random crop + flip; ImageNet RRC + flip."""
    n, _, h, w = images.shape
    device = images.device
    flip = sampling.uniform((n,), 0.0, 1.0, generator).to(device) < 0.5  # RandomHorizontalFlip(p=0.5)
    if kind == "cifar":
        dy = sampling.randint((n,), -padding, padding + 1, generator).to(device)  # RandomCrop(32, padding=4)
        dx = sampling.randint((n,), -padding, padding + 1, generator).to(device)
        return F.shift_flip(images, dx, dy, flip)
    boxes = random_resized_boxes(n, h, w, generator).to(device)
    return F.resized_crop_flip(images, boxes, flip, image_size)


def random_resized_boxes(n: int, h: int, w: int, generator: torch.Generator, attempts: int = 10) -> Tensor:
    """torchvision RandomResizedCrop.get_params for n images at once: (top, left, height, width) float64 (n, 4).

    scale (0.08, 1), ratio (3/4, 4/3), 10 attempts, then the centre-crop fallback (torchvision defaults).
    """
    scale, ratio = RRC_SCALE, RRC_RATIO
    area = h * w
    target = sampling.uniform((n, attempts), scale[0], scale[1], generator) * area
    log_ratio = sampling.uniform((n, attempts), _LOG_RATIO[0], _LOG_RATIO[1], generator)
    aspect = torch.exp(log_ratio)
    cw = torch.sqrt(target * aspect).round()
    ch = torch.sqrt(target / aspect).round()
    ok = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)
    any_ok = ok.any(dim=1)
    cw = torch.gather(cw, 1, first).squeeze(1)
    ch = torch.gather(ch, 1, first).squeeze(1)
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = float(w), float(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = float(round(h * ratio[1])), float(h)
    else:
        fw, fh = float(w), float(h)
    cw = torch.where(any_ok, cw, fw)
    ch = torch.where(any_ok, ch, fh)
    u = sampling.uniform((n, 2), 0.0, 1.0, generator)
    top = torch.where(any_ok, (u[:, 0] * (h - ch + 1)).floor(), ((h - ch) / 2).floor())
    left = torch.where(any_ok, (u[:, 1] * (w - cw + 1)).floor(), ((w - cw) / 2).floor())
    return torch.stack([top, left, ch, cw], dim=1)


class StandardParams(MethodParams):
    padding: int = Field(4, ge=0, description="an integer >= 0")  # reference cifar.py RandomCrop(32, padding=4)


@AUGMENTATIONS.register("standard")
class StandardMethod(Method):
    """Only the dataset's standard crop/flip."""

    Params = StandardParams


@AUGMENTATIONS.register("none")
class NoneMethod(Method):
    """No augmentation at all (not even crop/flip): the normalized images."""
