"""Batched tensor augmentations (AugMix and competing methods), the PIL reference oracle, and their registry."""

from augmix_lab.augment.augmix import ALL_OPS, EXTRA_OPS, PAPER_OPS, AugmentAndMix, AugMixParams
from augmix_lab.augment.functional import normalize
from augmix_lab.augment.methods import AUGMENTATIONS, Augmentation, AugmentedBatch, create_augmentation

__all__ = [
    "ALL_OPS",
    "AUGMENTATIONS",
    "EXTRA_OPS",
    "PAPER_OPS",
    "AugMixParams",
    "AugmentAndMix",
    "AugmentedBatch",
    "Augmentation",
    "create_augmentation",
    "normalize",
]
