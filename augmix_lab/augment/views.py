"""View producers: per-image uint8 -> augmented, normalized view (AugMix, RandAugment, TrivialAugment,
AutoAugment*, random AutoAugment*), so they can feed the JSD loss with n-1 independent views plus the clean one."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, field_validator, model_validator
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
    """AugMix's knobs (``method_params.augmix``); defaults are the reference cifar.py flags."""

    width: int = Field(3, ge=1, description="an integer >= 1 (chains mixed)")  # reference cifar.py --mixture-width
    depth: int = Field(-1, description="-1 (random chain depth in 1..3, reference --mixture-depth) or an integer >= 1")
    severity: int = Field(3, ge=1, le=10, description="an integer in 1..10")  # reference cifar.py --aug-severity
    alpha: float = Field(1.0, gt=0, description="> 0")  # reference cifar.py: Dirichlet([1]*k), Beta(1, 1)
    # reference cifar.py --all-ops (off: colour ops overlap the -C corruptions)
    all_ops: bool = Field(False, description="true or false (add color, contrast, brightness, sharpness)")
    ops: list[str] | None = Field(
        None, description="a list of AugMix op names, or null for the paper's ops (all_ops adds four)"
    )

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("depth must be -1 (random in 1..3) or a positive chain length")
        return v


@AUGMENTATIONS.register("augmix")
class AugMixMethod(Method):
    """AugMix (``AugmentAndMix``) with its ``AugMixParams``; ``ops`` overrides the op list."""

    Params = AugMixParams
    produces_views = True

    def setup(self) -> None:
        p = self.params
        self.augmix = AugmentAndMix(
            width=p["width"],
            depth=p["depth"],
            severity=p["severity"],
            alpha=p["alpha"],
            all_ops=p["all_ops"],
            ops=p["ops"],
            mean=self.ctx.mean,
            std=self.ctx.std,
        )

    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return self.augmix(images, generator)


class RandAugmentParams(MethodParams):  # torchvision RandAugment defaults
    num_ops: int = Field(2, ge=1, description="an integer >= 1")
    magnitude: int = Field(9, ge=0, description="an integer in 0..num_magnitude_bins-1")
    num_magnitude_bins: int = Field(31, ge=2, description="an integer >= 2")
    interpolation: Interpolation = Field("nearest", description=INTERPOLATIONS)

    @model_validator(mode="after")
    def _magnitude_in_bins(self) -> RandAugmentParams:
        if self.magnitude >= self.num_magnitude_bins:
            raise ValueError(f"magnitude {self.magnitude} must be < num_magnitude_bins {self.num_magnitude_bins}")
        return self


@AUGMENTATIONS.register("randaugment")
class RandAugmentMethod(ViewMethod):
    Params = RandAugmentParams

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        p = self.params
        return policies.randaugment(
            images, generator, p["num_ops"], p["magnitude"], p["num_magnitude_bins"], p["interpolation"]
        )


class TrivialAugmentParams(MethodParams):  # torchvision TrivialAugmentWide defaults
    num_magnitude_bins: int = Field(31, ge=2, description="an integer >= 2")
    interpolation: Interpolation = Field("nearest", description=INTERPOLATIONS)


@AUGMENTATIONS.register("trivialaugment")
class TrivialAugmentMethod(ViewMethod):
    Params = TrivialAugmentParams

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.trivialaugment(
            images, generator, self.params["num_magnitude_bins"], self.params["interpolation"]
        )


class AutoAugmentStarParams(MethodParams):
    interpolation: Interpolation = Field("nearest", description=INTERPOLATIONS)  # torchvision AutoAugment default


@AUGMENTATIONS.register("autoaugment_star")
class AutoAugmentStarMethod(ViewMethod):
    Params = AutoAugmentStarParams

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.autoaugment_star(images, generator, self.params["interpolation"])


class RandomAutoAugmentStarParams(MethodParams):
    num_ops: int = Field(2, ge=1, description="an integer >= 1")  # 2 ops like an AutoAugment sub-policy
    severity: int = Field(3, ge=1, le=10, description="an integer in 1..10")  # AugMix's op levels (cifar.py default 3)


@AUGMENTATIONS.register("random_autoaugment_star")
class RandomAutoAugmentStarMethod(ViewMethod):
    Params = RandomAutoAugmentStarParams

    def augment(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return policies.random_autoaugment_star(images, generator, self.params["num_ops"], self.params["severity"])
