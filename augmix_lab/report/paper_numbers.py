"""The AugMix paper's published numbers (Hendrycks et al., ICLR 2020, arXiv:1912.02781), keyed for lookup.

``PAPER_NUMBERS[(table, dataset, model, method)] -> {metric name: value in percent}``. Every value was checked against
the paper text (shared/papers/augmix-paper.txt). Methods are augmix-lab method names, with ``+jsd`` / ``_no_jsd``
where the paper's row differs only in the JSD loss (see :func:`paper_method`). ``model="mean"`` is the paper's Mean row.

Known gap: in the paper text, Tables 1, 5 and 6 each show 6 of their 7 method columns. Table 1 lacks the "Adv Training"
column (its 5th value is AutoAugment*, confirmed by Table 4: WRN 23.9 / 49.6; its 6th is AugMix, 11.2 / 35.9). Tables
5 and 6 lack the AugMix column (their 6th value is Adv Training: the text says adversarial training "induces a substantial
drop in accuracy" and Table 6's 6th column is 15-19 % clean error). Numbers we cannot place are not entered.
"""

from __future__ import annotations

from collections.abc import Mapping

from augmix_lab.evaluation.registry import (
    C_RMS_CALIB_ERROR,
    CE,
    CLEAN_ERROR,
    CLEAN_RMS_CALIB_ERROR,
    FR,
    MCE,
    MEAN_CORRUPTION_ERROR,
    MFP,
    MFR,
    family_key,
)

CIFAR_MODELS = ("allconv", "densenet_bc_100_12", "wrn40_2", "resnext29_32x4d", "mean")  # paper row order
IMAGENET_CORRUPTIONS = (  # paper Table 2 column order (= the benchmark order)
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
IMAGENET_P_PERTURBATIONS = (  # paper Table 3 column order
    "gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow", "brightness", "translate", "rotate", "tilt",
    "scale",
)  # fmt: skip

_T1_METHODS = ("standard", "cutout", "mixup", "cutmix", "autoaugment_star", "augmix")  # Adv Training column lost
_T1 = {
    "cifar10": (
        (30.8, 32.9, 24.6, 31.3, 29.2, 15.0),  # paper Table 1, CIFAR-10-C, AllConvNet
        (30.7, 32.1, 24.6, 33.5, 26.6, 12.7),  # paper Table 1, CIFAR-10-C, DenseNet
        (26.9, 26.8, 22.3, 27.1, 23.9, 11.2),  # paper Table 1, CIFAR-10-C, WideResNet
        (27.5, 28.9, 22.6, 29.5, 24.2, 10.9),  # paper Table 1, CIFAR-10-C, ResNeXt
        (29.0, 30.2, 23.5, 30.3, 26.0, 12.5),  # paper Table 1, CIFAR-10-C, Mean
    ),
    "cifar100": (
        (56.4, 56.8, 53.4, 56.0, 55.1, 42.7),  # paper Table 1, CIFAR-100-C, AllConvNet
        (59.3, 59.6, 55.4, 59.2, 53.9, 39.6),  # paper Table 1, CIFAR-100-C, DenseNet
        (53.3, 53.5, 50.4, 52.9, 49.6, 35.9),  # paper Table 1, CIFAR-100-C, WideResNet
        (53.4, 54.6, 51.4, 54.1, 51.3, 34.9),  # paper Table 1, CIFAR-100-C, ResNeXt
        (55.6, 56.1, 52.6, 55.5, 52.5, 38.3),  # paper Table 1, CIFAR-100-C, Mean
    ),
}

_T56_METHODS = ("standard", "cutout", "mixup", "cutmix", "autoaugment_star", "adversarial")  # AugMix column lost
_T5_CLEAN = (
    (5.4, 4.0, 12.6, 3.1, 4.2, 11.1),  # paper Table 5, CIFAR-10, AllConvNet
    (7.5, 6.4, 15.6, 5.4, 6.0, 16.2),  # paper Table 5, CIFAR-10, DenseNet
    (6.8, 3.8, 14.0, 5.0, 4.7, 10.7),  # paper Table 5, CIFAR-10, WideResNet
    (3.0, 4.4, 13.5, 3.5, 3.3, 5.8),  # paper Table 5, CIFAR-10, ResNeXt
    (5.7, 4.7, 13.9, 4.2, 4.6, 11.0),  # paper Table 5, CIFAR-10, Mean
)
_T5_C = (
    (21.2, 21.3, 9.7, 15.4, 16.2, 10.4),  # paper Table 5, CIFAR-10-C, AllConvNet
    (26.7, 27.8, 12.9, 25.6, 21.1, 15.0),  # paper Table 5, CIFAR-10-C, DenseNet
    (27.6, 19.6, 11.1, 17.8, 17.1, 10.6),  # paper Table 5, CIFAR-10-C, WideResNet
    (16.4, 21.4, 11.7, 19.6, 15.1, 11.6),  # paper Table 5, CIFAR-10-C, ResNeXt
    (23.0, 22.5, 11.4, 19.6, 17.4, 11.9),  # paper Table 5, CIFAR-10-C, Mean
)
_T6_CLEAN = (
    (6.1, 6.1, 6.3, 6.4, 6.6, 18.9),  # paper Table 6, CIFAR-10 clean error, AllConvNet
    (5.8, 4.8, 5.5, 5.3, 4.8, 17.9),  # paper Table 6, CIFAR-10 clean error, DenseNet
    (5.2, 4.4, 4.9, 4.6, 4.8, 17.1),  # paper Table 6, CIFAR-10 clean error, WideResNet
    (4.3, 4.4, 4.2, 3.9, 3.8, 15.4),  # paper Table 6, CIFAR-10 clean error, ResNeXt
    (5.4, 4.9, 5.2, 5.0, 5.0, 17.3),  # paper Table 6, CIFAR-10 clean error, Mean
)
_T6_MFP = (
    (4.2, 5.0, 3.9, 4.5, 4.0, 2.0),  # paper Table 6, CIFAR-10-P mFP, AllConvNet
    (5.0, 5.7, 3.9, 6.3, 4.8, 2.1),  # paper Table 6, CIFAR-10-P mFP, DenseNet
    (4.2, 4.3, 3.4, 4.6, 4.2, 2.2),  # paper Table 6, CIFAR-10-P mFP, WideResNet
    (4.0, 4.5, 3.2, 5.2, 4.2, 2.5),  # paper Table 6, CIFAR-10-P mFP, ResNeXt
    (4.3, 4.9, 3.6, 5.2, 4.3, 2.2),  # paper Table 6, CIFAR-10-P mFP, Mean
)

# ImageNet, ResNet-50: clean error, 15 CE values (IMAGENET_CORRUPTIONS order), mCE
_T2 = {
    "standard": (23.9, 79, 80, 82, 82, 90, 84, 80, 86, 81, 75, 65, 79, 91, 77, 80, 80.6),  # paper Table 2, Standard
    "patch_uniform": (24.5, 67, 68, 70, 74, 83, 81, 77, 80, 74, 75, 62, 77, 84, 71, 71, 74.3),  # Table 2, Patch Uniform
    "autoaugment_star": (22.8, 69, 68, 72, 77, 83, 80, 81, 79, 75, 64, 56, 70, 88, 57, 71, 72.7),  # Table 2, AA*
    "random_autoaugment_star": (23.6, 70, 71, 72, 80, 86, 82, 81, 81, 77, 72, 61, 75, 88, 73, 72, 76.1),  # Table 2
    "augmix": (22.4, 65, 66, 67, 70, 80, 66, 66, 75, 72, 67, 58, 58, 79, 69, 69, 68.4),  # paper Table 2, AugMix
}
# ImageNet-P, ResNet-50: clean error, 10 flip rates (IMAGENET_P_PERTURBATIONS order), mFR
_T3 = {
    "standard": (23.9, 57, 55, 62, 65, 66, 65, 43, 53, 57, 49, 57.2),  # paper Table 3, Standard
    "patch_uniform": (24.5, 32, 25, 50, 52, 54, 57, 40, 48, 49, 46, 45.3),  # paper Table 3, Patch Uniform
    "autoaugment_star": (22.8, 50, 45, 57, 68, 63, 53, 40, 44, 50, 46, 51.7),  # paper Table 3, AutoAugment* (AA)
    "random_autoaugment_star": (23.6, 53, 46, 53, 63, 59, 57, 42, 48, 54, 47, 52.2),  # paper Table 3, Random AA*
    "augmix": (22.4, 46, 41, 30, 47, 38, 46, 25, 32, 35, 33, 37.4),  # paper Table 3, AugMix
}
# WideResNet-40-2: CIFAR-10-C and CIFAR-100-C error
_T4 = {
    "standard": (26.9, 53.3),  # paper Table 4, Standard
    "autoaugment_star": (23.9, 49.6),  # paper Table 4, AutoAugment*
    "random_autoaugment_star": (17.0, 43.6),  # paper Table 4, Random AutoAugment*
    "random_autoaugment_star+jsd": (14.7, 40.8),  # paper Table 4, Random AutoAugment* + JSD Loss
    "augmix_no_jsd": (13.1, 39.8),  # paper Table 4, AugmentAndMix (No JSD Loss)
    "augmix": (11.2, 35.9),  # paper Table 4, AUGMIX (Mixing + JSD Loss)
}


def _build() -> dict[tuple[str, str, str, str], dict[str, float]]:
    numbers: dict[tuple[str, str, str, str], dict[str, float]] = {}

    def put(key: tuple[str, str, str, str], metric: str, value: float) -> None:
        numbers.setdefault(key, {})[metric] = float(value)

    for dataset, rows in _T1.items():
        for model, row in zip(CIFAR_MODELS, rows):
            for method, v in zip(_T1_METHODS, row):
                put(("table1", dataset, model, method), MEAN_CORRUPTION_ERROR, v)
    for metric, rows in (
        (CLEAN_RMS_CALIB_ERROR, _T5_CLEAN),
        (C_RMS_CALIB_ERROR, _T5_C),
    ):
        for model, row in zip(CIFAR_MODELS, rows):
            for method, v in zip(_T56_METHODS, row):
                put(("table5", "cifar10", model, method), metric, v)
    for metric, rows in ((CLEAN_ERROR, _T6_CLEAN), (MFP, _T6_MFP)):
        for model, row in zip(CIFAR_MODELS, rows):
            for method, v in zip(_T56_METHODS, row):
                put(("table6", "cifar10", model, method), metric, v)
    for method, scores in _T2.items():
        names = (CLEAN_ERROR, *(family_key(CE, c) for c in IMAGENET_CORRUPTIONS), MCE)
        for metric, v in zip(names, scores, strict=True):
            put(("table2", "imagenet", "resnet50", method), metric, v)
    for method, rates in _T3.items():
        names = (CLEAN_ERROR, *(family_key(FR, p) for p in IMAGENET_P_PERTURBATIONS), MFR)
        for metric, v in zip(names, rates, strict=True):
            put(("table3", "imagenet", "resnet50", method), metric, v)
    for method, (c10, c100) in _T4.items():
        put(("table4", "cifar10", "wrn40_2", method), MEAN_CORRUPTION_ERROR, c10)
        put(("table4", "cifar100", "wrn40_2", method), MEAN_CORRUPTION_ERROR, c100)
    return numbers


PAPER_NUMBERS: Mapping[tuple[str, str, str, str], Mapping[str, float]] = _build()


def paper_method(params: Mapping[str, str]) -> str:
    """The paper's name for a trial's recipe: the method, plus whether the JSD loss is on where that matters."""
    method = str(params.get("method", "?"))
    try:
        arity = int(float(params.get("jsd.arity", "1")))
    except ValueError:
        arity = 1
    if method == "augmix":
        return "augmix" if arity > 1 else "augmix_no_jsd"  # AugMix = mixing + JSD (paper Table 4)
    return f"{method}+jsd" if arity > 1 else method


def paper_value(table: str, dataset: str, model: str, method: str, metric: str) -> float | None:
    return PAPER_NUMBERS.get((table, dataset, model, method), {}).get(metric)
