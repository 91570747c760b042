"""The compiled CPU op engine ("compiled"): one fused numba loop per image over the batch, ``prange`` over images.

Each image's chains run op after op on a 3 KB buffer that stays in L1, and AugMix's mix and normalization are fused
into the same loop, so a batch costs one call instead of the 10-40 torch calls per op of the ``sorted`` engine (the
ffcv pattern: per-image parameters, per-image op choice, one compiled loop). The randomness is the same: the torch
generator draws stay in ``AugmentAndMix.make_params``; this module receives the sampled op ids, PIL arguments and
affine coefficients (``Op.matrix``: PIL's own rotation matrix, built by the torch code the other engines use).

Ops follow Pillow's C code (libImaging) operation by operation, in PIL's own arithmetic: affine resampling in double
exactly as Geometry.c (``bilinear_filter32RGB``: ``a + (b - a)·d`` per axis, truncated), Blend.c's float32 blend,
ImageOps' LUTs. Agreement, pinned in tests/test_augment_engines.py (uint8 chains, one op each, every op):

| op | vs the ``sorted`` engine | vs PIL |
|---|---|---|
| identity, invert, posterize, solarize, autocontrast, equalize | exact | exact |
| color, contrast, brightness, sharpness | exact | exact |
| translate_x, translate_y (whole pixels) | exact | exact |
| rotate, shear_x, shear_y (bilinear) | within 1 uint8 level (sorted: float32; >= 99.9 % equal) | exact (double, as PIL) |

The float view differs from the ``sorted`` engine's only by float32 summation order (a loop vs ``torch.bmm``; < 1e-5)
where the chains are equal. Only bilinear resampling is compiled (AugMix's); other interpolations use ``sorted``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from augmix_lab import jit

# op name -> code in the compiled dispatch (``_apply_op``)
OP_CODES: dict[str, int] = {
    name: code
    for code, name in enumerate(
        (
            "identity",
            "autocontrast",
            "equalize",
            "invert",
            "posterize",
            "solarize",
            "color",
            "contrast",
            "brightness",
            "sharpness",
            "rotate",
            "shear_x",
            "shear_y",
            "translate_x",
            "translate_y",
        )
    )
}
_GEOMETRIC = ("rotate", "shear_x", "shear_y")  # resampled through the affine coefficients
# the docstring's table: largest difference (uint8 levels) from the sorted engine on one op (vs PIL: 0 for all)
SORTED_AGREEMENT: dict[str, int] = {name: int(name in _GEOMETRIC) for name in OP_CODES}


def supports(op_names: Sequence[str], interpolation: str = "bilinear") -> bool:
    """Whether the compiled engine can run these ops (numba importable, every op compiled, bilinear)."""
    return interpolation == "bilinear" and all(n in OP_CODES for n in op_names) and jit.available()


@functools.cache
def _kernels() -> Any:
    """The numba kernels, defined (and loaded from the disk cache, or compiled) on first use."""
    from augmix_lab.augment import _compiled_kernels

    return _compiled_kernels


def step_tables(
    op_names: Sequence[str], op_ids: Tensor, arguments: Tensor, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per chain row and step: op code (-1: none), float64 PIL argument, float64 affine coefficients (R, S, 6).

    ``op_ids`` index ``op_names``; the affine coefficients of the geometric ops come from ``Op.matrix`` (the other
    engines' code, so the compiled loop resamples at exactly their points).
    """
    from augmix_lab.augment.ops import OPS

    ids = op_ids.to("cpu", torch.int64)
    args = arguments.to("cpu", torch.float64).contiguous()
    table = torch.tensor([OP_CODES[n] for n in op_names] + [-1], dtype=torch.int64)
    codes = table[ids]  # op id -1 reads the trailing -1
    coefficients = torch.zeros((*ids.shape, 6), dtype=torch.float64)
    for index, name in enumerate(op_names):
        if name in _GEOMETRIC:
            rows = ids == index
            if bool(rows.any()):
                coefficients[rows] = OPS[name].matrix(args[rows], height, width).to(torch.float64)  # type: ignore[misc]
    return codes.numpy(), args.numpy(), coefficients.numpy()


def _flat_uint8(images: Tensor) -> np.ndarray:
    """(N, C·H·W) C-contiguous uint8 view (a copy only if the tensor is not contiguous)."""
    return np.ascontiguousarray(images.detach().to("cpu").numpy()).reshape(images.shape[0], -1)


def apply_op_chains(
    images: Tensor, op_ids: Tensor, arguments: Tensor, op_names: Sequence[str], source_rows: Tensor | None = None
) -> Tensor:
    """``ops.apply_op_chains`` (bilinear) compiled: row r = its chain of ops applied to ``images[source_rows[r]]``."""
    n, c, h, w = images.shape
    codes, args, coefficients = step_tables(op_names, op_ids, arguments, h, w)
    source = (torch.arange(op_ids.shape[0]) if source_rows is None else source_rows.to("cpu")).to(torch.int64)
    out = torch.empty((op_ids.shape[0], c, h, w), dtype=torch.uint8)
    jit.launch(
        _kernels().op_chains,
        _flat_uint8(images),
        source.numpy(),
        codes,
        args,
        coefficients,
        out.numpy().reshape(out.shape[0], -1),
        c,
        h,
        w,
    )
    return out


def augment_and_mix(
    images: Tensor,
    op_names: Sequence[str],
    op_ids: Tensor,
    arguments: Tensor,
    coefs: Tensor,
    scale: Sequence[float],
    shift: Sequence[float],
) -> Tensor:
    """AugMix's view of every image: ``shift + scale·(c_0·x + Σ_i c_i·chain_i(x))`` per channel, float32 (N, C, H, W).

    ``op_ids`` / ``arguments``: (N·k, S), chain i of image n in row n·k + i; ``coefs``: float32 (N, k + 1), the skip
    weight first; ``scale`` / ``shift``: per channel, ``1 / (255·std)`` and ``-mean / std``.
    """
    n, c, h, w = images.shape
    codes, args, coefficients = step_tables(op_names, op_ids, arguments, h, w)
    out = torch.empty((n, c, h, w), dtype=torch.float32)
    jit.launch(
        _kernels().augment_and_mix,
        _flat_uint8(images),
        codes,
        args,
        coefficients,
        np.ascontiguousarray(coefs.detach().to("cpu", torch.float32).numpy()),
        np.asarray(scale, dtype=np.float32),
        np.asarray(shift, dtype=np.float32),
        out.numpy().reshape(n, -1),
        c,
        h,
        w,
    )
    return out


def warm_up() -> float:
    """Compile (or load from the disk cache) every compiled AugMix kernel; returns the seconds it took."""
    import time

    start = time.perf_counter()
    images = torch.zeros((1, 3, 4, 4), dtype=torch.uint8)
    names = tuple(OP_CODES)
    ids = torch.zeros((1, 1), dtype=torch.int64)
    args = torch.zeros((1, 1), dtype=torch.float64)
    apply_op_chains(images, ids, args, names)
    augment_and_mix(images, names, ids, args, torch.ones((1, 2)) / 2, (1.0,) * 3, (0.0,) * 3)
    return time.perf_counter() - start


__all__ = ["OP_CODES", "SORTED_AGREEMENT", "apply_op_chains", "augment_and_mix", "step_tables", "supports", "warm_up"]
