"""Per-image PIL AugMix, written after the paper's Algorithm 1 and google-research/augmix: the test oracle.

``augment_and_mix`` replays the params that ``AugmentAndMix.make_params`` drew for one image, using PIL ops called
exactly as ``augmentations.py`` calls them, and mixes like ``cifar.py::aug`` (ToTensor + Normalize, float32, the
chain sum accumulated in order). ``sample_reference_params`` draws params with NumPy the way the reference does, so
the benchmark can time the reference kind of pipeline end to end. Deliberately slow and simple: never on a hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

if TYPE_CHECKING:  # annotation only
    from augmix_lab.augment.augmix import AugMixParams


def int_parameter(level: float, maxval: float) -> int:
    return int(level * maxval / 10)  # augmentations.py int_parameter


def float_parameter(level: float, maxval: float) -> float:
    return float(level) * maxval / 10.0  # augmentations.py float_parameter


def pil_op(image: Image.Image, name: str, level: float, sign: float) -> Image.Image:
    """One augmentations.py op with its level and sign already drawn (``sign`` < 0 negates signed ops)."""
    size = image.size[0]  # augmentations.py IMAGE_SIZE (square images)
    negate = sign < 0
    if name == "autocontrast":
        return ImageOps.autocontrast(image)
    if name == "equalize":
        return ImageOps.equalize(image)
    if name == "posterize":
        return ImageOps.posterize(image, 4 - int_parameter(level, 4))
    if name == "rotate":
        degrees = int_parameter(level, 30)
        return image.rotate(-degrees if negate else degrees, resample=Image.BILINEAR)
    if name == "solarize":
        return ImageOps.solarize(image, 256 - int_parameter(level, 256))
    if name in ("shear_x", "shear_y"):
        shear = float_parameter(level, 0.3)
        shear = -shear if negate else shear
        data = (1, shear, 0, 0, 1, 0) if name == "shear_x" else (1, 0, 0, shear, 1, 0)
        return image.transform((size, size), Image.AFFINE, data, resample=Image.BILINEAR)
    if name in ("translate_x", "translate_y"):
        pixels = int_parameter(level, size / 3)
        pixels = -pixels if negate else pixels
        data = (1, 0, pixels, 0, 1, 0) if name == "translate_x" else (1, 0, 0, 0, 1, pixels)
        return image.transform((size, size), Image.AFFINE, data, resample=Image.BILINEAR)
    enhancers = {
        "color": ImageEnhance.Color,
        "contrast": ImageEnhance.Contrast,
        "brightness": ImageEnhance.Brightness,
        "sharpness": ImageEnhance.Sharpness,
    }
    if name in enhancers:
        return enhancers[name](image).enhance(float_parameter(level, 1.8) + 0.1)
    raise ValueError(f"unknown op {name!r}")


def preprocess(image: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """transforms.ToTensor() + Normalize(mean, std) for one RGB image: float32 (C, H, W)."""
    x = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255)
    m = torch.tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
    return (x - m) / s


def augment_chain(
    image: Image.Image, op_names: Sequence[str], ops: Sequence[int], levels: Sequence[float], signs: Sequence[float]
) -> Image.Image:
    """One chain: ``op_d ∘ … ∘ op_1`` (ops index -1 marks the end of a shorter chain)."""
    image_aug = image.copy()
    for op, level, sign in zip(ops, levels, signs):
        if op < 0:
            break
        image_aug = pil_op(image_aug, op_names[op], float(level), float(sign))
    return image_aug


def augment_and_mix(
    image: Image.Image,
    op_names: Sequence[str],
    ops: np.ndarray,
    levels: np.ndarray,
    signs: np.ndarray,
    weights: np.ndarray,
    m: float,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
) -> torch.Tensor:
    """Algorithm 1 for one image with given draws: ops/levels/signs (k, D), weights (k,), m. Float32 (C, H, W)."""
    # Algorithm 1, line 3: fill x_aug with zeros
    mix = torch.zeros_like(preprocess(image, mean, std))
    # lines 5-10: for each chain, compose its ops and add w_i * chain(x) (cifar.py: in preprocessed space)
    for i in range(len(weights)):
        image_aug = augment_chain(image, op_names, ops[i], levels[i], signs[i])
        mix += float(np.float32(weights[i])) * preprocess(image_aug, mean, std)
    # lines 11-12 as cifar.py writes it: mixed = (1 - m) * pre(x) + m * mix
    m32 = float(np.float32(m))
    return (1 - m32) * preprocess(image, mean, std) + m32 * mix


def augment_and_mix_params(
    image: Image.Image,
    op_names: Sequence[str],
    params: AugMixParams,
    index: int,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
) -> torch.Tensor:
    """``augment_and_mix`` for image ``index`` of an ``AugMixParams`` batch."""
    return augment_and_mix(
        image,
        op_names,
        params.ops[index].cpu().numpy(),
        params.levels[index].cpu().numpy(),
        params.signs[index].cpu().numpy(),
        params.weights[index].cpu().numpy(),
        float(params.mix[index]),
        mean,
        std,
    )


def sample_reference_params(
    rng: np.random.Generator, n_ops: int, width: int = 3, depth: int = -1, severity: int = 3, alpha: float = 1.0
) -> dict[str, np.ndarray | float]:
    """Draw one image's AugMix randomness with NumPy as cifar.py / augmentations.py do."""
    weights = np.float32(rng.dirichlet([alpha] * width))
    m = np.float32(rng.beta(alpha, alpha))
    steps = depth if depth > 0 else 3
    ops = np.full((width, steps), -1, dtype=np.int64)
    levels = np.zeros((width, steps))
    signs = np.ones((width, steps))
    for i in range(width):
        d = depth if depth > 0 else int(rng.integers(1, 4))
        for j in range(d):
            ops[i, j] = rng.integers(n_ops)
            levels[i, j] = rng.uniform(0.1, severity)
            signs[i, j] = -1.0 if rng.uniform() > 0.5 else 1.0
    return {"ops": ops, "levels": levels, "signs": signs, "weights": weights, "m": float(m)}


def reference_augmix(
    image: Image.Image,
    op_names: Sequence[str],
    rng: np.random.Generator,
    width: int = 3,
    depth: int = -1,
    severity: int = 3,
    alpha: float = 1.0,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
) -> torch.Tensor:
    """Sample and apply per-image AugMix the reference way (the baseline the benchmark compares against)."""
    p = sample_reference_params(rng, len(op_names), width, depth, severity, alpha)
    return augment_and_mix(image, op_names, p["ops"], p["levels"], p["signs"], p["weights"], p["m"], mean, std)  # type: ignore[arg-type]
