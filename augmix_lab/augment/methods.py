"""Back-compatible door to the method modules (one per kind): ``base`` (registry, ``Method``, params validation),
``crop`` (standard crop/flip, ``standard``/``none``), ``views`` (view producers), ``batch`` (batch transforms),
``compose`` (``create_augmentation``). ``MethodSpec`` (method strings against both registries) is in ``training``."""

from augmix_lab.augment.base import AUGMENTATIONS, AugmentedBatch, Context, Method, MethodParams
from augmix_lab.augment.batch import CutMixMethod, CutoutMethod, MixupMethod, PatchGaussianMethod, PatchUniformMethod
from augmix_lab.augment.compose import Augmentation, create_augmentation
from augmix_lab.augment.crop import NoneMethod, StandardMethod, random_resized_boxes, standard_crop_flip
from augmix_lab.augment.views import (
    AugMixMethod,
    AutoAugmentStarMethod,
    RandAugmentMethod,
    RandomAutoAugmentStarMethod,
    TrivialAugmentMethod,
)

__all__ = [
    "AUGMENTATIONS",
    "AugMixMethod",
    "Augmentation",
    "AugmentedBatch",
    "AutoAugmentStarMethod",
    "Context",
    "CutMixMethod",
    "CutoutMethod",
    "Method",
    "MethodParams",
    "MixupMethod",
    "NoneMethod",
    "PatchGaussianMethod",
    "PatchUniformMethod",
    "RandAugmentMethod",
    "RandomAutoAugmentStarMethod",
    "StandardMethod",
    "TrivialAugmentMethod",
    "create_augmentation",
    "random_resized_boxes",
    "standard_crop_flip",
]
