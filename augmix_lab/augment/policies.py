"""Per-image samplers for AutoAugment*, Random AutoAugment*, RandAugment and TrivialAugmentWide.

Op spaces and magnitude bins follow torchvision ``transforms/v2/_auto_augment.py`` (0.29), turned into the PIL
arguments our kernels take. Unlike torchvision's batched call, every image draws its own ops, magnitudes and signs.
Ops run with our PIL-semantics kernels (torchvision's PIL path), NEAREST resampling as torchvision's default.

AutoAugment* (AugMix paper, Sec. 5 and App.): AutoAugment's CIFAR-10 policy "with augmentation operations that
overlap with ImageNet-C corruptions removed, as with AugMix". The paper names them: contrast, color, brightness,
sharpness (and Cutout, which the torchvision policy does not contain). We drop exactly those four ops: inside a
sub-policy the other op stays; the 6 sub-policies made only of removed ops ((Sharpness, Sharpness),
(Color, Brightness), (Sharpness, Brightness), (Contrast, Sharpness), (Brightness, Color) twice) are dropped, so
19 of the 25 sub-policies remain. Invert, AutoContrast, Equalize, Posterize, Solarize, Rotate, Shear, Translate stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from augmix_lab.augment import sampling
from augmix_lab.augment.augmix import PAPER_OPS, augmix_arguments
from augmix_lab.augment.ops import OPS, Op, apply_chains
from augmix_lab.device import device_cached

# AugMix paper Sec. 3: "we remove the contrast, color, brightness, sharpness, and Cutout operations"
OVERLAPPING_OPS = ("contrast", "color", "brightness", "sharpness")


@dataclass(frozen=True)
class BinnedOp:
    """An op whose magnitude is one of ``bins`` values: ``arguments(bins, h, w)`` -> PIL argument per bin."""

    name: str
    arguments: Callable[[int, int, int], Tensor] | None
    signed: bool


def _lin(lo: float, hi: float) -> Callable[[int, int, int], Tensor]:
    return lambda bins, h, w: torch.linspace(lo, hi, bins, dtype=torch.float64)


def _posterize(max_drop: float) -> Callable[[int, int, int], Tensor]:
    # torchvision: (8 - (arange(bins) / ((bins - 1) / max_drop))).round().int()
    return lambda bins, h, w: (8 - (torch.arange(bins) / ((bins - 1) / max_drop))).round().double()


def _solarize(bins: int, h: int, w: int) -> Tensor:
    return torch.linspace(1.0, 0.0, bins, dtype=torch.float64) * 255.0  # torchvision: bound (255) * linspace(1, 0)


def _enhance(hi: float) -> Callable[[int, int, int], Tensor]:
    return _lin(0.0, hi)  # factor = 1 + (signed) magnitude, applied in _arguments


def _space(
    shear: float, translate: Callable[[int, int, int], Tensor], rotate: float, enhance: float, posterize_drop: float
) -> dict[str, BinnedOp]:
    return {
        "identity": BinnedOp("identity", None, False),
        "shear_x": BinnedOp("shear_x", _lin(0.0, shear), True),
        "shear_y": BinnedOp("shear_y", _lin(0.0, shear), True),
        "translate_x": BinnedOp("translate_x", translate, True),
        "translate_y": BinnedOp("translate_y", translate, True),
        "rotate": BinnedOp("rotate", _lin(0.0, rotate), True),
        "brightness": BinnedOp("brightness", _enhance(enhance), True),
        "color": BinnedOp("color", _enhance(enhance), True),
        "contrast": BinnedOp("contrast", _enhance(enhance), True),
        "sharpness": BinnedOp("sharpness", _enhance(enhance), True),
        "posterize": BinnedOp("posterize", _posterize(posterize_drop), False),
        "solarize": BinnedOp("solarize", _solarize, False),
        "autocontrast": BinnedOp("autocontrast", None, False),
        "equalize": BinnedOp("equalize", None, False),
    }


# torchvision RandAugment / AutoAugment space: shear 0.3, translate 150/331·size, rotate 30°, enhance 0.9, 8->4 bits
RANDAUGMENT_SPACE = _space(
    0.3, lambda bins, h, w: torch.linspace(0.0, 150.0 / 331.0 * w, bins, dtype=torch.float64), 30.0, 0.9, 4
)
# torchvision TrivialAugmentWide: shear 0.99, translate 32 px, rotate 135°, enhance 0.99, 8->2 bits
TRIVIALAUGMENT_SPACE = _space(0.99, _lin(0.0, 32.0), 135.0, 0.99, 6)
AUTOAUGMENT_SPACE = dict(RANDAUGMENT_SPACE, invert=BinnedOp("invert", None, False))

# torchvision AutoAugmentPolicy.CIFAR10: ((op, probability, magnitude bin of 10), (op, probability, bin))
AUTOAUGMENT_CIFAR10_POLICY = (
    (("invert", 0.1, None), ("contrast", 0.2, 6)),
    (("rotate", 0.7, 2), ("translate_x", 0.3, 9)),
    (("sharpness", 0.8, 1), ("sharpness", 0.9, 3)),
    (("shear_y", 0.5, 8), ("translate_y", 0.7, 9)),
    (("autocontrast", 0.5, None), ("equalize", 0.9, None)),
    (("shear_y", 0.2, 7), ("posterize", 0.3, 7)),
    (("color", 0.4, 3), ("brightness", 0.6, 7)),
    (("sharpness", 0.3, 9), ("brightness", 0.7, 9)),
    (("equalize", 0.6, None), ("equalize", 0.5, None)),
    (("contrast", 0.6, 7), ("sharpness", 0.6, 5)),
    (("color", 0.7, 7), ("translate_x", 0.5, 8)),
    (("equalize", 0.3, None), ("autocontrast", 0.4, None)),
    (("translate_y", 0.4, 3), ("sharpness", 0.2, 6)),
    (("brightness", 0.9, 6), ("color", 0.2, 8)),
    (("solarize", 0.5, 2), ("invert", 0.0, None)),
    (("equalize", 0.2, None), ("autocontrast", 0.6, None)),
    (("equalize", 0.2, None), ("equalize", 0.6, None)),
    (("color", 0.9, 9), ("equalize", 0.6, None)),
    (("autocontrast", 0.8, None), ("solarize", 0.2, 8)),
    (("brightness", 0.1, 3), ("color", 0.7, 0)),
    (("solarize", 0.4, 5), ("autocontrast", 0.9, None)),
    (("translate_y", 0.9, 9), ("translate_y", 0.7, 9)),
    (("autocontrast", 0.9, None), ("solarize", 0.8, 3)),
    (("equalize", 0.8, None), ("invert", 0.1, None)),
    (("translate_y", 0.7, 9), ("autocontrast", 0.9, None)),
)
AUTOAUGMENT_BINS = 10  # torchvision AutoAugment: magnitudes_fn(10, height, width)


def autoaugment_star_policy() -> tuple[tuple[tuple[str, float, int | None], ...], ...]:
    """The CIFAR-10 policy without the -C-overlapping ops (see module docstring)."""
    kept = []
    for sub_policy in AUTOAUGMENT_CIFAR10_POLICY:
        ops = tuple(step for step in sub_policy if step[0] not in OVERLAPPING_OPS)
        if ops:
            kept.append(ops)
    return tuple(kept)


def _arguments(
    space: dict[str, BinnedOp],
    names: list[str],
    op_ids: Tensor,
    bins_idx: Tensor,
    signs: Tensor,
    bins: int,
    h: int,
    w: int,
) -> Tensor:
    """float64 PIL argument per image from op ids, magnitude bin indices and signs (torchvision semantics)."""
    out = torch.zeros(op_ids.shape, dtype=torch.float64, device=op_ids.device)
    for index, name in enumerate(names):
        spec = space[name]
        if spec.arguments is None:
            continue
        table = _argument_table(spec, bins, h, w, device=op_ids.device)
        value = table[bins_idx.clamp(0, bins - 1)]
        if spec.signed:
            value = value * signs
        if name in ("translate_x", "translate_y"):
            value = value.trunc()  # torchvision: translate=[int(magnitude), 0]
        if name in ("brightness", "color", "contrast", "sharpness"):
            value = 1.0 + value  # torchvision: factor = 1.0 + magnitude
        out = torch.where(op_ids == index, value, out)
    return out


@device_cached
def _argument_table(spec: BinnedOp, bins: int, h: int, w: int) -> Tensor:
    """The op's PIL argument per magnitude bin (on each device once)."""
    return spec.arguments(bins, h, w)  # type: ignore[misc]


@device_cached
def _autoaugment_tables() -> tuple[Tensor, Tensor, Tensor]:
    """AutoAugment*'s (sub-policy, slot) op ids (-1: empty slot), probabilities and magnitude bins."""
    policy = autoaugment_star_policy()
    names = list(AUTOAUGMENT_SPACE)
    slots = max(len(p) for p in policy)
    op_table = torch.full((len(policy), slots), -1, dtype=torch.long)
    prob_table = torch.zeros((len(policy), slots), dtype=torch.float64)
    bin_table = torch.zeros((len(policy), slots), dtype=torch.long)
    for i, sub_policy in enumerate(policy):
        for j, (name, prob, mag) in enumerate(sub_policy):
            op_table[i, j] = names.index(name)
            prob_table[i, j] = prob
            bin_table[i, j] = 0 if mag is None else mag
    return op_table, prob_table, bin_table


class OpSequence:
    """Sampled per-image op slots: ``op_ids`` (N, S) with -1 = skip, ``arguments`` (N, S); apply in slot order
    through the op engine (``ops.apply_chains``: ``engine`` None follows ``ops.ENGINE``)."""

    def __init__(self, names: list[str], interpolation: str = "nearest", engine: str | None = None) -> None:
        self.names = names
        self.ops: list[Op] = [OPS[n] for n in names]
        self.interpolation = interpolation
        self.engine = engine

    def apply(self, images: Tensor, op_ids: Tensor, arguments: Tensor) -> Tensor:
        return apply_chains(images, op_ids, arguments, self.ops, self.interpolation, engine=self.engine)


def randaugment(
    images: Tensor,
    generator: torch.Generator,
    num_ops: int = 2,
    magnitude: int = 9,
    bins: int = 31,
    interpolation: str = "nearest",
    engine: str | None = None,
) -> Tensor:
    """torchvision RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31), each image its own ops and signs."""
    n, _, h, w = images.shape
    names = list(RANDAUGMENT_SPACE)
    op_ids = sampling.randint((n, num_ops), 0, len(names), generator).to(images.device)
    signs = sampling.random_signs((n, num_ops), generator).to(images.device)
    bins_idx = torch.full_like(op_ids, magnitude)
    args = _arguments(RANDAUGMENT_SPACE, names, op_ids, bins_idx, signs, bins, h, w)
    return OpSequence(names, interpolation, engine).apply(images, op_ids, args)


def trivialaugment(
    images: Tensor,
    generator: torch.Generator,
    bins: int = 31,
    interpolation: str = "nearest",
    engine: str | None = None,
) -> Tensor:
    """torchvision TrivialAugmentWide(num_magnitude_bins=31): one op, uniform bin, random sign per image."""
    n, _, h, w = images.shape
    names = list(TRIVIALAUGMENT_SPACE)
    op_ids = sampling.randint((n, 1), 0, len(names), generator).to(images.device)
    bins_idx = sampling.randint((n, 1), 0, bins, generator).to(images.device)
    signs = sampling.random_signs((n, 1), generator).to(images.device)
    args = _arguments(TRIVIALAUGMENT_SPACE, names, op_ids, bins_idx, signs, bins, h, w)
    return OpSequence(names, interpolation, engine).apply(images, op_ids, args)


def autoaugment_star(
    images: Tensor, generator: torch.Generator, interpolation: str = "nearest", engine: str | None = None
) -> Tensor:
    """AutoAugment* (CIFAR-10 policy minus -C-overlapping ops): a random sub-policy per image, torchvision rules."""
    n, _, h, w = images.shape
    names = list(AUTOAUGMENT_SPACE)
    device = images.device
    op_table, prob_table, bin_table = _autoaugment_tables(device=device)
    policies, slots = op_table.shape
    chosen = sampling.randint((n,), 0, policies, generator).to(device)
    u = sampling.uniform((n, slots), 0.0, 1.0, generator).to(device)
    signs = sampling.random_signs((n, slots), generator).to(device)
    op_ids = op_table[chosen]
    op_ids = torch.where(u <= prob_table[chosen], op_ids, -1)  # torchvision: apply if rand <= p
    args = _arguments(AUTOAUGMENT_SPACE, names, op_ids, bin_table[chosen], signs, AUTOAUGMENT_BINS, h, w)
    return OpSequence(names, interpolation, engine).apply(images, op_ids, args)


def random_autoaugment_star(
    images: Tensor, generator: torch.Generator, num_ops: int = 2, severity: int = 3, engine: str | None = None
) -> Tensor:
    """Random AutoAugment*: each image ``num_ops`` ops uniform from AugMix's ops, each with a random AugMix level.

    AugMix paper Sec. 5: "each image has a randomly sampled augmentation policy using AutoAugment* operations ...
    randomly samples magnitudes for each operation and uses the same operations as AugMix"; levels ~ U(0.1,
    severity) with AugMix's level -> argument mapping and bilinear resampling (our reading; no reference code).
    """
    n, _, _, w = images.shape
    device = images.device
    op_ids = sampling.randint((n, num_ops), 0, len(PAPER_OPS), generator).to(device)
    levels = sampling.uniform((n, num_ops), 0.1, float(severity), generator).to(device)
    signs = sampling.random_signs((n, num_ops), generator).to(device)
    args = augmix_arguments(PAPER_OPS, op_ids, levels, signs, w)
    return OpSequence(list(PAPER_OPS), "bilinear", engine).apply(images, op_ids, args)
