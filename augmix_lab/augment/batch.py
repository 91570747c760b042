"""Batch transforms: applied to every view with the same randomness (Cutout, Mixup, CutMix, Patch Gaussian/Uniform).

Mixup's λ stays on the device; CutMix's box is drawn once per batch and read on the host (its slices need Python
ints); every per-image draw stays on the generator's device.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from augmix_lab.augment import sampling
from augmix_lab.augment.base import AUGMENTATIONS, Method, MethodParams
from augmix_lab.device import device_constant


class CutoutParams(MethodParams):  # uoguelph-mlrg/Cutout README: CIFAR-10 length 16, 1 hole
    size: int = Field(16, ge=1, description="an integer >= 1")
    holes: int = Field(1, ge=1, description="an integer >= 1")


class MixupParams(MethodParams):  # facebookresearch/mixup-cifar10: alpha 1
    alpha: float = Field(1.0, gt=0, description="> 0")


class CutMixParams(MethodParams):  # clovaai/CutMix-PyTorch: beta 1.0, cutmix_prob 1.0 (ImageNet)
    alpha: float = Field(1.0, gt=0, description="> 0")
    prob: float = Field(1.0, ge=0, le=1, description="a number in [0, 1]")


class PatchNoiseParams(MethodParams):  # our defaults (Lopes et al. 2019 tune W and σ per dataset)
    patch_size: int = Field(25, ge=1, description="an integer >= 1")
    max_scale: float = Field(1.0, ge=0, description=">= 0")


def _one_hot(targets: Tensor, num_classes: int) -> Tensor:
    if targets.dtype.is_floating_point:
        return targets
    return torch.nn.functional.one_hot(targets, num_classes).float()


def _box_masks(
    n: int, h: int, w: int, centre_y: Tensor, centre_x: Tensor, size_h: Tensor, size_w: Tensor, device: torch.device
) -> Tensor:
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

    Params = CutoutParams

    def transform(
        self, views: list[Tensor], targets: Tensor, generator: torch.Generator
    ) -> tuple[list[Tensor], Tensor]:
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

    Params = MixupParams
    mixes_targets = True
    weight_decay = 1e-4  # paper Sec. 4.1: Mixup uses 1e-4 (facebookresearch/mixup-cifar10 train.py --decay 1e-4)

    def transform(
        self, views: list[Tensor], targets: Tensor, generator: torch.Generator
    ) -> tuple[list[Tensor], Tensor]:
        n = views[0].shape[0]
        device = views[0].device
        lam = sampling.beta(1, float(self.params["alpha"]), generator).to(device)  # (1,) stays on the device
        perm = torch.randperm(n, generator=generator, device=generator.device).to(device)
        rest = (1 - lam.double()).float()  # 1 - λ rounded once, as add_(alpha=1 - λ) does
        # λ·x + (1-λ)·x[perm] via addcmul: bit-identical to mul(λ).add_(alpha=1-λ) on CPU, with no host read of λ
        mixed = [torch.addcmul(v * lam.reshape(1, 1, 1, 1), v[perm], rest.reshape(1, 1, 1, 1)) for v in views]
        soft = _one_hot(targets, self.ctx.num_classes)
        return mixed, torch.addcmul(soft * lam.reshape(1, 1), soft[perm], rest.reshape(1, 1))


@AUGMENTATIONS.register("cutmix")
class CutMixMethod(Method):
    """CutMix (Yun et al. 2019): λ ~ Beta(α, α), one box of area (1-λ)·HW per batch, λ set to the kept area."""

    Params = CutMixParams
    mixes_targets = True

    def transform(
        self, views: list[Tensor], targets: Tensor, generator: torch.Generator
    ) -> tuple[list[Tensor], Tensor]:
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


class PatchNoiseMethod(Method):
    """Noise inside one random square patch per image (centre uniform, clipped), added in [0, 1] pixel space and
    clipped, per Patch Gaussian (Lopes et al. 2019). Each image draws its own scale ~ U(0, max_scale)."""

    Params = PatchNoiseParams
    noise = "gaussian"

    def transform(
        self, views: list[Tensor], targets: Tensor, generator: torch.Generator
    ) -> tuple[list[Tensor], Tensor]:
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
        mean = device_constant(tuple(self.ctx.mean), device).reshape(1, c, 1, 1)
        std = device_constant(tuple(self.ctx.std), device).reshape(1, c, 1, 1)
        out = []
        for v in views:
            pixels = (v * std + mean + noise).clamp_(0, 1)
            out.append(torch.where(mask, (pixels - mean) / std, v))
        return out, targets


@AUGMENTATIONS.register("patch_gaussian")
class PatchGaussianMethod(PatchNoiseMethod):
    noise = "gaussian"  # N(0, σ²) with σ ~ U(0, max_scale)


@AUGMENTATIONS.register("patch_uniform")
class PatchUniformMethod(PatchNoiseMethod):
    noise = "uniform"  # U(-s, s) with s ~ U(0, max_scale) (AugMix paper's Patch Uniform: uniform, not Gaussian)
