"""Batched tensor augmentations (AugMix and competing methods), the PIL reference oracle, and their registry.

Methods live one kind per module (``crop``, ``views``, ``batch``); importing them registers them in
``AUGMENTATIONS``. ``MethodSpec`` parses a trial's method string once for every consumer.
"""

from augmix_lab.augment import batch, crop, views  # noqa: F401  (importing registers the methods)
from augmix_lab.augment.augmix import ALL_OPS, EXTRA_OPS, PAPER_OPS, AugmentAndMix, AugMixParams
from augmix_lab.augment.base import AUGMENTATIONS, AugmentedBatch, Method, MethodParams
from augmix_lab.augment.compose import Augmentation, create_augmentation
from augmix_lab.augment.functional import normalize
from augmix_lab.augment.spec import MethodSpec

__all__ = [
    "ALL_OPS",
    "AUGMENTATIONS",
    "EXTRA_OPS",
    "PAPER_OPS",
    "AugMixParams",
    "AugmentAndMix",
    "AugmentedBatch",
    "Augmentation",
    "Method",
    "MethodParams",
    "MethodSpec",
    "create_augmentation",
    "normalize",
]
