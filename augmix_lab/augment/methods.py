"""Augmentation methods by name (``AUGMENTATIONS``) and ``create_augmentation``: AugMix and its competitors.

A method is either a *view producer* (augmix, autoaugment_star, random_autoaugment_star, randaugment,
trivialaugment: per-image uint8 -> augmented view, so it can feed the JSD loss with n-1 independent views plus the
clean one) or a *batch transform* (cutout, mixup, cutmix, patch_uniform, patch_gaussian: applied to all views with
the same randomness). Every method first applies the dataset's standard crop/flip (except ``none``). ``a+b``
composes at most one view producer with any batch transforms, in the order written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence

import torch
from torch import Tensor

from augmix_lab.augment import functional as F
from augmix_lab.augment import policies, sampling
from augmix_lab.augment.augmix import MAX_JSD_ARITY, AugmentAndMix
from augmix_lab.errors import UserError
from augmix_lab.registry import Registry


@dataclass
class AugmentedBatch:
    """``views``: float32 N×C×H×W normalized views (views[0] clean when there are several); ``targets``: int64
    labels (N,) or float soft targets (N, num_classes) after mixup/cutmix."""

    views: list[Tensor]
    targets: Tensor


@dataclass
class Context:
    """What a method needs to know about the data it augments."""

    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    kind: str
    image_size: int
    augmix: Any  # AugMixConfig-like (width, depth, severity, alpha, all_ops)


class Method:
    """Base of registered methods: ``DEFAULTS`` lists the accepted params (unknown keys are rejected)."""

    DEFAULTS: ClassVar[dict[str, Any]] = {}
    produces_views: ClassVar[bool] = False

    def __init__(self, name: str, params: Mapping[str, Any], ctx: Context) -> None:
        unknown = sorted(set(params) - set(self.DEFAULTS))
        if unknown:
            allowed = ", ".join(sorted(self.DEFAULTS)) or "none"
            raise UserError(f"method_params.{name}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}")
        self.name = name
        self.params = {**self.DEFAULTS, **params}
        self.ctx = ctx
        self.validate()

    def validate(self) -> None:
        pass

    def _require(self, key: str, ok: bool, allowed: str) -> None:
        if not ok:
            raise UserError(f"method_params.{self.name}.{key}: got {self.params[key]!r}; allowed: {allowed}")

    # view producers
    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:  # uint8 -> normalized float
        raise NotImplementedError

    def views(self, images: Tensor, count: int, generator: torch.Generator) -> list[Tensor]:
        stacked = images.repeat(count, 1, 1, 1)  # one batched call for all views, independent draws
        return list(self.view(stacked, generator).split(images.shape[0]))

    # batch transforms
    def transform(self, views: list[Tensor], targets: Tensor, generator: torch.Generator) -> tuple[list[Tensor], Tensor]:
        raise NotImplementedError


AUGMENTATIONS: Registry[type[Method]] = Registry("augmentation method")


# ------------------------------------------------------------------------------------------ base crop/flip


def standard_crop_flip(images: Tensor, kind: str, image_size: int, generator: torch.Generator,
                       padding: int = 4) -> Tensor:
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
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)  # torchvision RandomResizedCrop defaults
    area = h * w
    target = sampling.uniform((n, attempts), scale[0], scale[1], generator) * area
    log_ratio = sampling.uniform((n, attempts), torch.log(torch.tensor(ratio[0])).item(),
                                 torch.log(torch.tensor(ratio[1])).item(), generator)
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


# ------------------------------------------------------------------------------------------ view producers


class _UintViewMethod(Method):
    """View producer defined by a uint8 -> uint8 per-image augmentation, then normalization."""

    produces_views = True

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return F.normalize(self.augment(images, generator), self.ctx.mean, self.ctx.std)


def _check_interpolation(method: Method) -> None:
    method._require("interpolation", method.params["interpolation"] in ("nearest", "bilinear"), "nearest, bilinear")


@AUGMENTATIONS.register("augmix")
class AugMixMethod(Method):
    """AugMix (``AugmentAndMix``) with the trial's ``augmix`` knobs; ``ops`` overrides the op list."""

    DEFAULTS = {"ops": None}
    produces_views = True

    def validate(self) -> None:
        cfg = self.ctx.augmix
        self.augmix = AugmentAndMix(width=cfg.width, depth=cfg.depth, severity=cfg.severity, alpha=cfg.alpha,
                                    all_ops=cfg.all_ops, ops=self.params["ops"], mean=self.ctx.mean, std=self.ctx.std)

    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return self.augmix(images, generator)


@AUGMENTATIONS.register("randaugment")
class RandAugmentMethod(_UintViewMethod):
    DEFAULTS = {"num_ops": 2, "magnitude": 9, "num_magnitude_bins": 31, "interpolation": "nearest"}  # torchvision

    def validate(self) -> None:
        p = self.params
        self._require("num_ops", isinstance(p["num_ops"], int) and p["num_ops"] >= 1, "an integer >= 1")
        self._require("num_magnitude_bins", isinstance(p["num_magnitude_bins"], int) and p["num_magnitude_bins"] >= 2,
                      "an integer >= 2")
        self._require("magnitude", isinstance(p["magnitude"], int) and 0 <= p["magnitude"] < p["num_magnitude_bins"],
                      f"an integer in 0..{p['num_magnitude_bins'] - 1}")
        _check_interpolation(self)

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        p = self.params
        return policies.randaugment(images, generator, p["num_ops"], p["magnitude"], p["num_magnitude_bins"],
                                    p["interpolation"])


@AUGMENTATIONS.register("trivialaugment")
class TrivialAugmentMethod(_UintViewMethod):
    DEFAULTS = {"num_magnitude_bins": 31, "interpolation": "nearest"}  # torchvision TrivialAugmentWide

    def validate(self) -> None:
        p = self.params
        self._require("num_magnitude_bins", isinstance(p["num_magnitude_bins"], int) and p["num_magnitude_bins"] >= 2,
                      "an integer >= 2")
        _check_interpolation(self)

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.trivialaugment(images, generator, self.params["num_magnitude_bins"],
                                       self.params["interpolation"])


@AUGMENTATIONS.register("autoaugment_star")
class AutoAugmentStarMethod(_UintViewMethod):
    DEFAULTS = {"interpolation": "nearest"}  # torchvision AutoAugment default

    def validate(self) -> None:
        _check_interpolation(self)

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.autoaugment_star(images, generator, self.params["interpolation"])


@AUGMENTATIONS.register("random_autoaugment_star")
class RandomAutoAugmentStarMethod(_UintViewMethod):
    DEFAULTS = {"num_ops": 2, "severity": None}  # 2 ops like an AutoAugment sub-policy; None: the augmix severity

    def validate(self) -> None:
        p = self.params
        self._require("num_ops", isinstance(p["num_ops"], int) and p["num_ops"] >= 1, "an integer >= 1")
        if p["severity"] is None:
            p["severity"] = self.ctx.augmix.severity
        self._require("severity", isinstance(p["severity"], int) and 1 <= p["severity"] <= 10, "an integer in 1..10")

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.random_autoaugment_star(images, generator, self.params["num_ops"], self.params["severity"])


# ---------------------------------------------------------------------------------------- batch transforms


def _one_hot(targets: Tensor, num_classes: int) -> Tensor:
    if targets.dtype.is_floating_point:
        return targets
    return torch.nn.functional.one_hot(targets, num_classes).float()


def _box_masks(n: int, h: int, w: int, centre_y: Tensor, centre_x: Tensor, size_h: Tensor, size_w: Tensor,
               device: torch.device) -> Tensor:
    """bool (n, 1, h, w): boxes [cy - sh//2, cy + sh - sh//2) × [...] clipped at the borders (Cutout's rule)."""
    y1 = (centre_y - size_h // 2).clamp(0, h).reshape(n, 1, 1, 1)
    y2 = (centre_y + size_h - size_h // 2).clamp(0, h).reshape(n, 1, 1, 1)
    x1 = (centre_x - size_w // 2).clamp(0, w).reshape(n, 1, 1, 1)
    x2 = (centre_x + size_w - size_w // 2).clamp(0, w).reshape(n, 1, 1, 1)
    ys = torch.arange(h, device=device).reshape(1, 1, h, 1)
    xs = torch.arange(w, device=device).reshape(1, 1, 1, w)
    return (ys >= y1) & (ys < y2) & (xs >= x1) & (xs < x2)


@AUGMENTATIONS.register("cutout")
class CutoutMethod(Method):
    """Cutout (DeVries & Taylor 2017): ``holes`` squares of ``size`` px, centre uniform, clipped; zeroed in the
    normalized tensor as the reference (uoguelph-mlrg/Cutout applies it after Normalize)."""

    DEFAULTS = {"size": 16, "holes": 1}  # uoguelph-mlrg/Cutout README: CIFAR-10 length 16, 1 hole

    def validate(self) -> None:
        self._require("size", isinstance(self.params["size"], int) and self.params["size"] >= 1, "an integer >= 1")
        self._require("holes", isinstance(self.params["holes"], int) and self.params["holes"] >= 1, "an integer >= 1")

    def transform(self, views: list[Tensor], targets: Tensor, generator: torch.Generator) -> tuple[list[Tensor], Tensor]:
        n, _, h, w = views[0].shape
        device = views[0].device
        size = torch.full((n,), self.params["size"], device=device)
        mask = torch.zeros((n, 1, h, w), dtype=torch.bool, device=device)
        for _ in range(self.params["holes"]):
            cy = sampling.randint((n,), 0, h, generator).to(device)  # np.random.randint(h)
            cx = sampling.randint((n,), 0, w, generator).to(device)
            mask |= _box_masks(n, h, w, cy, cx, size, size, device)
        return [v.masked_fill(mask, 0.0) for v in views], targets


@AUGMENTATIONS.register("mixup")
class MixupMethod(Method):
    """Mixup (Zhang et al. 2018): one λ ~ Beta(α, α) per batch, a permuted partner, soft targets."""

    DEFAULTS = {"alpha": 1.0}  # facebookresearch/mixup-cifar10: alpha 1

    def validate(self) -> None:
        self._require("alpha", isinstance(self.params["alpha"], (int, float)) and self.params["alpha"] > 0, "> 0")

    def transform(self, views: list[Tensor], targets: Tensor, generator: torch.Generator) -> tuple[list[Tensor], Tensor]:
        n = views[0].shape[0]
        device = views[0].device
        lam = float(sampling.beta(1, float(self.params["alpha"]), generator)[0])
        perm = torch.randperm(n, generator=generator, device=generator.device).to(device)
        mixed = [v.mul(lam).add_(v[perm], alpha=1 - lam) for v in views]
        soft = _one_hot(targets, self.ctx.num_classes)
        return mixed, soft.mul(lam).add_(soft[perm], alpha=1 - lam)


@AUGMENTATIONS.register("cutmix")
class CutMixMethod(Method):
    """CutMix (Yun et al. 2019): λ ~ Beta(α, α), one box of area (1-λ)·HW per batch, λ set to the kept area."""

    DEFAULTS = {"alpha": 1.0, "prob": 1.0}  # clovaai/CutMix-PyTorch: beta 1.0, cutmix_prob 1.0 (ImageNet)

    def validate(self) -> None:
        self._require("alpha", isinstance(self.params["alpha"], (int, float)) and self.params["alpha"] > 0, "> 0")
        self._require("prob", isinstance(self.params["prob"], (int, float)) and 0 <= self.params["prob"] <= 1,
                      "a number in [0, 1]")

    def transform(self, views: list[Tensor], targets: Tensor, generator: torch.Generator) -> tuple[list[Tensor], Tensor]:
        n, _, h, w = views[0].shape
        device = views[0].device
        draws = sampling.uniform((1,), 0.0, 1.0, generator)
        lam = float(sampling.beta(1, float(self.params["alpha"]), generator)[0])
        perm = torch.randperm(n, generator=generator, device=generator.device).to(device)
        cy = int(sampling.randint((1,), 0, h, generator)[0])  # clovaai rand_bbox: cx = np.random.randint(W)
        cx = int(sampling.randint((1,), 0, w, generator)[0])
        soft = _one_hot(targets, self.ctx.num_classes)
        if float(draws[0]) >= self.params["prob"]:
            return views, soft
        cut = (1.0 - lam) ** 0.5  # clovaai rand_bbox: cut_rat = sqrt(1 - lam)
        cut_h, cut_w = int(h * cut), int(w * cut)
        y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        out = []
        for v in views:
            v = v.clone()
            v[:, :, y1:y2, x1:x2] = v[perm][:, :, y1:y2, x1:x2]
            out.append(v)
        lam = 1.0 - (y2 - y1) * (x2 - x1) / (h * w)  # adjust λ to the exact box area
        return out, soft.mul(lam).add_(soft[perm], alpha=1 - lam)


class _PatchNoiseMethod(Method):
    """Noise inside one random square patch per image (centre uniform, clipped), added in [0, 1] pixel space and
    clipped, per Patch Gaussian (Lopes et al. 2019). Each image draws its own scale ~ U(0, max_scale)."""

    DEFAULTS = {"patch_size": 25, "max_scale": 1.0}  # our defaults (Lopes et al. 2019 tune W and σ per dataset)
    noise = "gaussian"

    def validate(self) -> None:
        p = self.params
        self._require("patch_size", isinstance(p["patch_size"], int) and p["patch_size"] >= 1, "an integer >= 1")
        self._require("max_scale", isinstance(p["max_scale"], (int, float)) and p["max_scale"] >= 0, ">= 0")

    def transform(self, views: list[Tensor], targets: Tensor, generator: torch.Generator) -> tuple[list[Tensor], Tensor]:
        n, c, h, w = views[0].shape
        device = views[0].device
        size = torch.full((n,), self.params["patch_size"], device=device)
        cy = sampling.randint((n,), 0, h, generator).to(device)
        cx = sampling.randint((n,), 0, w, generator).to(device)
        mask = _box_masks(n, h, w, cy, cx, size, size, device)
        scale = sampling.uniform((n,), 0.0, float(self.params["max_scale"]), generator).float().to(device)
        if self.noise == "gaussian":
            noise = torch.randn((n, c, h, w), generator=generator, device=generator.device)
        else:
            noise = torch.rand((n, c, h, w), generator=generator, device=generator.device).mul_(2).sub_(1)
        noise = noise.to(device).mul_(scale.reshape(n, 1, 1, 1))
        mean = torch.tensor(self.ctx.mean, device=device).reshape(1, c, 1, 1)
        std = torch.tensor(self.ctx.std, device=device).reshape(1, c, 1, 1)
        out = []
        for v in views:
            pixels = (v * std + mean + noise).clamp_(0, 1)
            out.append(torch.where(mask, (pixels - mean) / std, v))
        return out, targets


@AUGMENTATIONS.register("patch_gaussian")
class PatchGaussianMethod(_PatchNoiseMethod):
    noise = "gaussian"  # N(0, σ²) with σ ~ U(0, max_scale)


@AUGMENTATIONS.register("patch_uniform")
class PatchUniformMethod(_PatchNoiseMethod):
    noise = "uniform"  # U(-s, s) with s ~ U(0, max_scale) (AugMix paper's Patch Uniform: uniform, not Gaussian)


@AUGMENTATIONS.register("standard")
class StandardMethod(Method):
    """Only the dataset's standard crop/flip."""

    DEFAULTS = {"padding": 4}  # reference cifar.py RandomCrop(32, padding=4)

    def validate(self) -> None:
        self._require("padding", isinstance(self.params["padding"], int) and self.params["padding"] >= 0,
                      "an integer >= 0")


@AUGMENTATIONS.register("none")
class NoneMethod(Method):
    """No augmentation at all (not even crop/flip): the normalized images."""


# ---------------------------------------------------------------------------------------------- factory


class Augmentation:
    """A resolved (possibly composed) method: ``aug(images_uint8, labels, generator) -> AugmentedBatch``."""

    def __init__(self, method: str, parts: list[Method], jsd_arity: int, ctx: Context) -> None:
        self.method = method
        self.parts = parts
        self.ctx = ctx
        producers = [p for p in parts if p.produces_views]
        self.producer: Method | None = producers[0] if producers else None
        self.transforms = [p for p in parts if not p.produces_views and p.name not in ("standard", "none")]
        self.crop_flip = not any(p.name == "none" for p in parts)
        standard = next((p for p in parts if p.name == "standard"), None)
        self.padding = standard.params["padding"] if standard is not None else StandardMethod.DEFAULTS["padding"]
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


def create_augmentation(method: str, params: Mapping[str, Mapping[str, Any]] | None = None, augmix: Any = None,
                        jsd_arity: int = 1, num_classes: int = 10, mean: Sequence[float] = (0.5, 0.5, 0.5),
                        std: Sequence[float] = (0.5, 0.5, 0.5), kind: str = "cifar",
                        image_size: int = 32) -> Augmentation:
    """Build method ``method`` ("name" or "a+b"); ``params`` maps method name -> its options; ``augmix`` is an
    ``AugMixConfig`` (or a dict of its fields, or None for the defaults)."""
    from augmix_lab.config import AugMixConfig

    if not isinstance(method, str) or not method.strip():
        raise UserError(f"method must be a name or 'a+b'; allowed: {', '.join(AUGMENTATIONS.names())}")
    names = [part.strip() for part in method.split("+")]
    for name in names:
        AUGMENTATIONS.get(name)  # UserError listing the allowed names
    if len(set(names)) != len(names):
        raise UserError(f"method {method!r}: a method appears twice")
    params = dict(params or {})
    stray = sorted(set(params) - set(names))
    if stray:
        raise UserError(f"method_params has options for {', '.join(map(repr, stray))}, which method {method!r} "
                        f"does not use; its parts: {', '.join(names)}")
    if augmix is None:
        augmix = AugMixConfig()
    elif isinstance(augmix, Mapping):
        from pydantic import ValidationError

        from augmix_lab.config import format_validation_error

        try:
            augmix = AugMixConfig.model_validate(dict(augmix))
        except ValidationError as exc:
            raise UserError(f"augmix: {format_validation_error(exc)}") from None
    if kind not in ("cifar", "imagenet"):
        raise UserError(f"dataset kind {kind!r}: allowed: cifar, imagenet")
    if not isinstance(jsd_arity, int) or not 1 <= jsd_arity <= MAX_JSD_ARITY:
        raise UserError(f"jsd arity must be an integer in 1..{MAX_JSD_ARITY}, got {jsd_arity!r}")
    ctx = Context(num_classes=int(num_classes), mean=tuple(float(m) for m in mean),
                  std=tuple(float(s) for s in std), kind=kind, image_size=int(image_size), augmix=augmix)
    parts = []
    for name in names:
        options = params.get(name) or {}
        if not isinstance(options, Mapping):
            raise UserError(f"method_params.{name} must be a mapping of options, got {options!r}")
        parts.append(AUGMENTATIONS.get(name)(name, options, ctx))
    producers = [p.name for p in parts if p.produces_views]
    if len(producers) > 1:
        raise UserError(f"method {method!r} combines view-producing methods {', '.join(producers)}; "
                        f"compose at most one of them with batch transforms (cutout, mixup, cutmix, patch_*)")
    if "none" in names and len(names) > 1:
        raise UserError(f"method {method!r}: 'none' cannot be combined with other methods")
    if not producers and jsd_arity > 1:
        view_methods = ", ".join(n for n in AUGMENTATIONS.names() if AUGMENTATIONS.get(n).produces_views)
        raise UserError(f"method {method!r} does not produce augmented views, so it cannot feed the JSD loss "
                        f"(jsd arity {jsd_arity}); use arity 1 or a view-producing method: {view_methods}")
    return Augmentation(method, parts, jsd_arity, ctx)
