"""Published numbers: the AugMix paper's (Hendrycks et al., ICLR 2020, arXiv:1912.02781), keyed for lookup, the C-bar
paper's (Mintun et al., NeurIPS 2021; table "cbar"), and the -C numbers of the methods that came after AugMix, each
from its own paper (``METHOD_PAPER_NUMBERS``).

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
from dataclasses import dataclass

from augmix_lab.evaluation.registry import (
    C_BAR_CORRUPTION_ERROR,
    C_BAR_ERROR,
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


# Mintun, Kirillov & Xie, NeurIPS 2021 (facebookresearch/augmentation-corruption figs/table.png): -C error (plain mean
# over corruptions x severities, not AlexNet-normalised), -C-bar error, and the error per C-bar corruption, percent.
# Rows AA (full AutoAugment, not our autoaugment_star), SIN and ANT* have no method here and are not entered.
CBAR_IMAGENET = (
    "blue_noise_sample",
    "plasma_noise",
    "checkerboard_cutout",
    "cocentric_sine_waves",
    "single_frequency_greyscale",
    "brownish_noise",
    "perlin_noise",
    "sparkles",
    "inverse_sparkles",
    "caustic_refraction",
)  # the table's column order: BSmpl Plsm Ckbd CSin SFrq Brwn Prln Sprk ISprk Rfrac
CBAR_CIFAR = (
    "blue_noise_sample",
    "brownish_noise",
    "checkerboard_cutout",
    "circular_motion_blur",
    "inverse_sparkles",
    "lines",
    "pinch_and_twirl",
    "ripple",
    "sparkles",
    "transverse_chromatic_abberation",
)  # BSmpl Brwn Ckbd CBlur ISprk Line P&T Rppl Sprk TCA
_CBAR = {  # (dataset, model): method -> (-C error, -C-bar error, per-corruption C-bar errors in the column order)
    ("imagenet", "resnet50"): {
        "standard": (58.1, 57.7, (68.6, 71.7, 49.4, 84.7, 79.0, 37.5, 34.3, 32.4, 76.7, 42.8)),  # Baseline
        "augmix": (49.2, 52.4, (43.2, 72.2, 46.1, 76.3, 67.4, 38.8, 32.4, 32.3, 76.4, 39.2)),  # AugMix
        "patch_gaussian": (49.3, 56.6, (60.3, 74.1, 48.5, 82.1, 76.7, 38.9, 34.6, 32.1, 76.5, 42.1)),  # PG
    },
    ("cifar10", "wrn40_2"): {
        "standard": (27.0, 27.1, (42.9, 27.2, 23.3, 11.8, 43.3, 26.2, 11.3, 21.6, 21.0, 42.9)),  # Baseline
        "augmix": (11.1, 16.0, (9.8, 27.8, 13.4, 5.9, 30.3, 18.0, 8.3, 12.1, 15.5, 19.2)),  # AugMix (with JSD)
        # Δ: the transcribed table says +5.9, but 16.0 − 11.1 = 4.9 (16.0 = its 10 columns' mean): we show 4.9
        "patch_gaussian": (17.0, 23.8, (9.0, 30.1, 21.6, 12.8, 35.4, 20.6, 8.8, 21.5, 19.3, 59.5)),  # PG
    },
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
    for (dataset, model), published in _CBAR.items():
        order = CBAR_IMAGENET if dataset == "imagenet" else CBAR_CIFAR
        for method, (c_err, bar_err, per) in published.items():
            put(("cbar", dataset, model, method), MEAN_CORRUPTION_ERROR, c_err)
            put(("cbar", dataset, model, method), C_BAR_ERROR, bar_err)
            for name, v in zip(order, per, strict=True):
                put(("cbar", dataset, model, method), family_key(C_BAR_CORRUPTION_ERROR, name), v)
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


# ------------------------------------------------------------------------------------------------------------------
# Each later method's own paper: its -C numbers (and clean error) as published, for the methods table.
# Errors in percent; "robust accuracy"/"CC Acc" papers converted as 100 - accuracy (CIFAR "mCE" is that mean error).


@dataclass(frozen=True)
class MethodPaperNumber:
    """One published number: ``method`` (augmix-lab method), ``dataset``, ``model`` (augmix-lab model name where we
    register the architecture, else the paper's), ``metric`` (metric registry name), ``value`` (percent),
    ``jsd`` (trained with the JSD loss; None: not applicable), ``source`` (paper, table, where we read it) and
    ``verified`` (False: quoted by the team's fact sheet, not read in a primary source)."""

    method: str
    dataset: str
    model: str
    metric: str
    value: float
    source: str
    jsd: bool | None = None
    verified: bool = True


_PRIME = "PRIME (Modas et al., ECCV 2022): amodas/PRIME-augmentations README 'Results' (commit 0290f6b)"
_AUGMAX = "AugMax (Wang et al., NeurIPS 2021) Tables 2-4: VITA-Group/AugMax images/results.PNG (commit 176acdb)"
_PIXMIX = (
    "PixMix (Hendrycks et al., CVPR 2022) Table 1 as quoted by shared/papers/methods-benchmarks-facts.md "
    "(not read in the paper here)"
)

METHOD_PAPER_NUMBERS: tuple[MethodPaperNumber, ...] = (
    # PRIME README, "Results on CIFAR-10/100 with a ResNet-18": Clean / CC Acc / mCE (mCE = 100 - CC Acc)
    MethodPaperNumber("prime", "cifar10", "resnet18_cifar", MEAN_CORRUPTION_ERROR, 11.0, _PRIME, jsd=True),
    MethodPaperNumber("prime", "cifar10", "resnet18_cifar", CLEAN_ERROR, 6.9, _PRIME, jsd=True),  # 100 - 93.1
    MethodPaperNumber("prime", "cifar100", "resnet18_cifar", MEAN_CORRUPTION_ERROR, 31.7, _PRIME, jsd=True),
    MethodPaperNumber("prime", "cifar100", "resnet18_cifar", CLEAN_ERROR, 22.4, _PRIME, jsd=True),  # 100 - 77.6
    # PRIME README, ImageNet ResNet-50: PRIME 55.5 mCE (clean 75.3), PRIME† (without JSD) 57.5 (clean 77.0)
    MethodPaperNumber("prime", "imagenet", "resnet50", MCE, 55.5, _PRIME, jsd=True),
    MethodPaperNumber("prime", "imagenet", "resnet50", CLEAN_ERROR, 24.7, _PRIME, jsd=True),
    MethodPaperNumber("prime", "imagenet", "resnet50", MCE, 57.5, _PRIME, jsd=False),
    MethodPaperNumber("prime", "imagenet", "resnet50", CLEAN_ERROR, 23.0, _PRIME, jsd=False),
    # AugMax Table 2 (CIFAR-10-C robust accuracy, AugMax-DuBIN): ResNet18 90.36, WRN40-2 90.67, ResNeXt29 92.11
    MethodPaperNumber("augmax", "cifar10", "resnet18_cifar", MEAN_CORRUPTION_ERROR, 9.64, _AUGMAX, jsd=True),
    MethodPaperNumber("augmax", "cifar10", "wrn40_2", MEAN_CORRUPTION_ERROR, 9.33, _AUGMAX, jsd=True),
    MethodPaperNumber("augmax", "cifar10", "resnext29_32x4d", MEAN_CORRUPTION_ERROR, 7.89, _AUGMAX, jsd=True),
    MethodPaperNumber("augmax", "cifar10", "resnet18_cifar", CLEAN_ERROR, 4.24, _AUGMAX, jsd=True),  # SA 95.76
    MethodPaperNumber("augmax", "cifar10", "wrn40_2", CLEAN_ERROR, 4.32, _AUGMAX, jsd=True),  # SA 95.68
    MethodPaperNumber("augmax", "cifar10", "resnext29_32x4d", CLEAN_ERROR, 3.61, _AUGMAX, jsd=True),  # SA 96.39
    # AugMax Table 3 (CIFAR-100-C robust accuracy): ResNet18 65.75, WRN40-2 66.35, ResNeXt29 68.86
    MethodPaperNumber("augmax", "cifar100", "resnet18_cifar", MEAN_CORRUPTION_ERROR, 34.25, _AUGMAX, jsd=True),
    MethodPaperNumber("augmax", "cifar100", "wrn40_2", MEAN_CORRUPTION_ERROR, 33.65, _AUGMAX, jsd=True),
    MethodPaperNumber("augmax", "cifar100", "resnext29_32x4d", MEAN_CORRUPTION_ERROR, 31.14, _AUGMAX, jsd=True),
    # AugMax Table 4 (ImageNet-C, ResNet18): AugMax-DuBIN mCE 82.56 (SA 67.62)
    MethodPaperNumber("augmax", "imagenet", "resnet18", MCE, 82.56, _AUGMAX, jsd=True),
    MethodPaperNumber("augmax", "imagenet", "resnet18", CLEAN_ERROR, 32.38, _AUGMAX, jsd=True),
    # PixMix Table 1 [unverified here]: WRN-40-4, CIFAR-10-C mCE 9.5, CIFAR-100-C 30.5 (no JSD)
    MethodPaperNumber("pixmix", "cifar10", "wrn40_4", MEAN_CORRUPTION_ERROR, 9.5, _PIXMIX, jsd=False, verified=False),
    MethodPaperNumber("pixmix", "cifar100", "wrn40_4", MEAN_CORRUPTION_ERROR, 30.5, _PIXMIX, jsd=False, verified=False),
    # Noise2Net: the official repository publishes weights but no -C number for Noise2Net alone (DeepAugment's
    # 60.4 ImageNet-C mCE in PRIME's README is EDSR + CAE), so none is entered.
)


def method_paper_numbers(method: str, metric: str | None = None) -> list[MethodPaperNumber]:
    """The published numbers of ``method``: its own paper's, else the AugMix paper's for the methods that paper
    compares (Table 1 -C error, WRN-40-2 first, the model of its Table 4; Table 2 ImageNet mCE)."""
    own = [n for n in METHOD_PAPER_NUMBERS if n.method == method and (metric is None or n.metric == metric)]
    if own or any(n.method == method for n in METHOD_PAPER_NUMBERS):
        return own
    found = []
    for (table, dataset, model, m), values in PAPER_NUMBERS.items():
        name = {"table1": MEAN_CORRUPTION_ERROR, "table2": MCE}.get(table)
        if m == method and model != "mean" and name is not None and metric in (None, name) and name in values:
            source = f"AugMix (Hendrycks et al., ICLR 2020) {table.replace('table', 'Table ')}"
            found.append(MethodPaperNumber(m, dataset, model, name, values[name], source, jsd=m == "augmix"))
    return sorted(found, key=lambda n: (n.model != "wrn40_2", n.dataset != "cifar10"))


def method_paper_number(method: str, jsd: bool, dataset: str, model: str, metric: str) -> MethodPaperNumber | None:
    """The number to print beside a result: the same dataset, model and JSD setting if published, else the same
    dataset and model, else the method's first published -C number of that metric (another setting, labelled)."""
    numbers = method_paper_numbers(method, metric)
    for match in (
        lambda n: (n.dataset, n.model, n.jsd in (None, jsd)) == (dataset, model, True),
        lambda n: (n.dataset, n.model) == (dataset, model),
        lambda n: True,
    ):
        found = [n for n in numbers if match(n)]
        if found:
            return found[0]
    return None
