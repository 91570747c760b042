"""View producers: per-image uint8 -> augmented, normalized view (AugMix, RandAugment, TrivialAugment,
AutoAugment*, random AutoAugment*), so they can feed the JSD loss with n-1 independent views plus the clean one."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from augmix_lab.augment import functional as F
from augmix_lab.augment import policies
from augmix_lab.augment.augmix import AugmentAndMix
from augmix_lab.augment.base import AUGMENTATIONS, Method, MethodParams

Interpolation = Literal["nearest", "bilinear"]
INTERPOLATIONS = "nearest, bilinear"


class ViewMethod(Method):
    """View producer defined by a uint8 -> uint8 per-image augmentation, then normalization."""

    produces_views = True

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return F.normalize(self.augment(images, generator), self.ctx.mean, self.ctx.std)


class AugMixParams(MethodParams):
    ops: list[str] | None = Field(None, description="a list of AugMix op names, or null for the trial's op set")


@AUGMENTATIONS.register("augmix")
class AugMixMethod(Method):
    """AugMix (``AugmentAndMix``) with the trial's ``augmix`` knobs; ``ops`` overrides the op list."""

    Params = AugMixParams
    produces_views = True

    def setup(self) -> None:
        cfg = self.ctx.augmix
        self.augmix = AugmentAndMix(width=cfg.width, depth=cfg.depth, severity=cfg.severity, alpha=cfg.alpha,
                                    all_ops=cfg.all_ops, ops=self.params["ops"], mean=self.ctx.mean, std=self.ctx.std)

    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return self.augmix(images, generator)


class RandAugmentParams(MethodParams):  # torchvision RandAugment defaults
    num_ops: int = Field(2, ge=1, description="an integer >= 1")
    magnitude: int = Field(9, ge=0, description="an integer in 0..num_magnitude_bins-1")
    num_magnitude_bins: int = Field(31, ge=2, description="an integer >= 2")
    interpolation: Interpolation = Field("nearest", description=INTERPOLATIONS)

    @model_validator(mode="after")
    def _magnitude_in_bins(self) -> "RandAugmentParams":
        if self.magnitude >= self.num_magnitude_bins:
            raise ValueError(f"magnitude {self.magnitude} must be < num_magnitude_bins {self.num_magnitude_bins}")
        return self


@AUGMENTATIONS.register("randaugment")
class RandAugmentMethod(ViewMethod):
    Params = RandAugmentParams

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        p = self.params
        return policies.randaugment(images, generator, p["num_ops"], p["magnitude"], p["num_magnitude_bins"],
                                    p["interpolation"])


class TrivialAugmentParams(MethodParams):  # torchvision TrivialAugmentWide defaults
    num_magnitude_bins: int = Field(31, ge=2, description="an integer >= 2")
    interpolation: Interpolation = Field("nearest", description=INTERPOLATIONS)


@AUGMENTATIONS.register("trivialaugment")
class TrivialAugmentMethod(ViewMethod):
    Params = TrivialAugmentParams

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.trivialaugment(images, generator, self.params["num_magnitude_bins"],
                                       self.params["interpolation"])


class AutoAugmentStarParams(MethodParams):
    interpolation: Interpolation = Field("nearest", description=INTERPOLATIONS)  # torchvision AutoAugment default


@AUGMENTATIONS.register("autoaugment_star")
class AutoAugmentStarMethod(ViewMethod):
    Params = AutoAugmentStarParams

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.autoaugment_star(images, generator, self.params["interpolation"])


class RandomAutoAugmentStarParams(MethodParams):
    num_ops: int = Field(2, ge=1, description="an integer >= 1")  # 2 ops like an AutoAugment sub-policy
    severity: int | None = Field(None, ge=1, le=10, description="an integer in 1..10")  # None: the augmix severity


@AUGMENTATIONS.register("random_autoaugment_star")
class RandomAutoAugmentStarMethod(ViewMethod):
    Params = RandomAutoAugmentStarParams

    def setup(self) -> None:
        if self.params["severity"] is None:
            self.params["severity"] = self.ctx.augmix.severity

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.random_autoaugment_star(images, generator, self.params["num_ops"], self.params["severity"])
