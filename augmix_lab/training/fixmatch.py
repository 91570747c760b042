"""FixMatch (Sohn et al., NeurIPS 2020; code google-research/fixmatch ``fixmatch.py``) as a training hook.

Each step, μ·B unlabelled pool images get a weak view (the dataset's flip + crop, as the labelled images) and a strong
view (any registered augmentation: RandAugment + Cutout as in the paper, AugMix, ...). Both join the labelled batch in
one forward pass (reference: ``para_cat(classifier, concat([x, y_weak, y_strong]))``, so BatchNorm sees all of them).
The weak view's softmax, without gradient, is the pseudo-label; images whose top probability is >= τ add
``λ_u · CE(strong logits, argmax)``, averaged over all μ·B images (reference: ``reduce_mean(loss * mask)``).
Everything runs batched on the trial's device; the pool arrives without labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor

from augmix_lab.augment.base import AUGMENTATIONS, Context, MethodParams, split_method
from augmix_lab.augment.crop import standard_crop_flip
from augmix_lab.augment.functional import normalize
from augmix_lab.evaluation.registry import FIXMATCH_MASK_RATE
from augmix_lab.training.hooks import TRAINING_HOOKS, TrainingHook


class FixMatchParams(MethodParams):
    """FixMatch's knobs (``method_params.fixmatch``); defaults are the paper's (Sec. 4: τ = 0.95, μ = 7, λ_u = 1),
    which are fixmatch.py's flags (--confidence 0.95, --uratio 7, --wu 1)."""

    threshold: float = Field(
        0.95,
        ge=0,
        le=1,
        description="a number in [0, 1]: the confidence τ a weak-view prediction needs to become a pseudo-label",
    )
    mu: int = Field(7, ge=1, description="an integer >= 1: unlabelled images per labelled image in a step (μ)")
    lambda_u: float = Field(1.0, ge=0, description="a number >= 0: weight of the unlabelled loss (λ_u)")
    # paper Sec. 2.3 + fixmatch.py AugmentPoolCTACutOut: every strong policy is followed by Cutout at level 1
    # (libml/ctaugment.py: 1 + int(32 * 0.499) = 16 px on 32 px images, our cutout's default size)
    strong: str = Field(
        "randaugment+cutout",
        description="a registered augmentation method or 'a+b' (not mixup or "
        "cutmix): the strong view, e.g. randaugment+cutout, augmix",
    )

    @field_validator("strong")
    @classmethod
    def _strong(cls, value: str) -> str:
        parts = split_method(value)
        for part in parts:
            if part not in AUGMENTATIONS:
                raise ValueError(
                    f"{part!r} is not a registered augmentation method ({', '.join(AUGMENTATIONS.names())})"
                )
            if AUGMENTATIONS.get(part).mixes_targets or part == "none":
                raise ValueError(f"{part!r} cannot be FixMatch's strong view (it mixes labels or drops the crop)")
        if sum(AUGMENTATIONS.get(p).produces_views for p in parts) > 1:
            raise ValueError("at most one view-producing method (augmix, randaugment, ...) in the strong view")
        return value


@TRAINING_HOOKS.register("fixmatch")
class FixMatch(TrainingHook):
    """FixMatch's unlabelled loss over the pool (``FixMatchParams``); the labelled images train on ``standard``."""

    Params = FixMatchParams
    augmentation = "standard"  # paper: the supervised loss is on weakly augmented (flip + crop) labelled images
    needs_pool = True

    @classmethod
    def cost_factor(cls, options: MethodParams) -> float:
        assert isinstance(options, FixMatchParams)
        return 1.0 + 2.0 * options.mu  # forward + backward over B labelled + μB weak + μB strong images

    def setup(self, ctx: Context, options: Mapping[str, Mapping[str, Any]]) -> None:
        from augmix_lab.augment.compose import create_augmentation

        opts = self.options
        assert isinstance(opts, FixMatchParams)
        self.ctx = ctx
        parts = split_method(opts.strong)
        self.strong = create_augmentation(
            opts.strong,
            params={p: options[p] for p in parts if p in options},
            jsd_arity=1,
            num_classes=ctx.num_classes,
            mean=ctx.mean,
            std=ctx.std,
            kind=ctx.kind,
            image_size=ctx.image_size,
        )

    def pool_batch(self, labelled: int) -> int:
        assert isinstance(self.options, FixMatchParams)
        return self.options.mu * labelled

    def extra_views(self, pool: Tensor, generators: dict[str, torch.Generator]) -> list[Tensor]:
        g = generators["augment"]
        weak = normalize(standard_crop_flip(pool, self.ctx.kind, self.ctx.image_size, g), self.ctx.mean, self.ctx.std)
        no_labels = torch.zeros(pool.shape[0], dtype=torch.int64, device=pool.device)  # the pool has none
        return [weak, self.strong(pool, no_labels, g).views[0]]

    def extra_loss(self, logits: list[Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        opts = self.options
        assert isinstance(opts, FixMatchParams)
        weak, strong = logits
        probs = torch.softmax(weak.detach().float(), dim=1)  # reference: stop_gradient(softmax(logits_weak))
        confidence, pseudo = probs.max(dim=1)
        mask = (confidence >= opts.threshold).float()
        loss = (F.cross_entropy(strong.float(), pseudo, reduction="none") * mask).mean()
        return opts.lambda_u * loss, {FIXMATCH_MASK_RATE: mask.mean()}
