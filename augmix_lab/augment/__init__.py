"""Batched tensor augmentations (AugMix and competing methods), the PIL reference oracle, and their registry.

Methods live one kind per module (``crop``, ``views``, ``batch``); importing them registers them in
``AUGMENTATIONS``. Each declares its options as one ``Params`` model (``base.py``: the contract). The registry-aware
parser of a trial's method string, ``MethodSpec``, lives in ``training`` (it also knows the training hooks).
"""

from augmix_lab.augment import batch, crop, noise2net, pixmix, prime, views  # noqa: F401  (importing registers them)
from augmix_lab.augment.augmix import ALL_OPS, EXTRA_OPS, PAPER_OPS, AugmentAndMix, AugMixParams
from augmix_lab.augment.base import AUGMENTATIONS, AugmentedBatch, Method, MethodParams, ParamsOwner, split_method
from augmix_lab.augment.compose import Augmentation, create_augmentation
from augmix_lab.augment.functional import normalize

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
    "ParamsOwner",
    "create_augmentation",
    "normalize",
    "split_method",
]
