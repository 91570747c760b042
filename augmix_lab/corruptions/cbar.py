"""CIFAR-10-C-bar / ImageNet-C-bar corruptions (Mintun, Kirillov & Xie, NeurIPS 2021), batched on the images' device.

15 kernels: the 10 of each benchmark (5 are shared), registered with ``suite="c_bar"`` in the one corruption registry,
so ``corrupt(images, "lines", 3, generator, "cifar")``, ``data make-c --benchmark c_bar`` and ``eval.c_bar`` use them.
Semantics follow facebookresearch/augmentation-corruption ``imagenet_c_bar/corrupt.py`` per image; the severity of
each level is the float of ``cifar10_c_bar.csv`` / ``imagenet_c_bar.csv`` (a record field ``severity`` in [0, 10])
and each kernel derives its parameters from it with the reference's ``float_parameter(level, maxval)``. Every image
draws its own parameters (``sample``); ``apply`` is deterministic and returns uint8, truncated like the reference's
``np.clip(...).astype(np.uint8)``. The ``family`` of each is our grouping (the paper assigns none). Where we
deliberately differ:
- random streams: every draw comes from the torch generator (the reference seeds a ``np.random.RandomState`` per
  image for noise fields, rays, grids and lines); the distributions are the same.
- perlin_noise: a zero gradient vector (probability 2^-18 each) stays zero instead of becoming NaN.
- the FFT noises (blue_noise_sample, brownish_noise) need square images, as the reference's construction does.
- transverse_chromatic_abberation and circular_motion_blur reproduce scipy.ndimage's ``zoom(prefilter=False)`` and
  ``rotate`` (order 3, mode 'constant') of the installed scipy (>= 1.6 boundary rules; the reference pinned 1.5.2).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np
import torch

from augmix_lab.corruptions import filters
from augmix_lab.corruptions.registry import corruption
from augmix_lab.device import device_cached
from augmix_lab.errors import UserError

Params = dict[str, Any]
CBAR = "c_bar"
LUMA = (0.2126, 0.7152, 0.0722)  # corrupt.py luma weights (caustic_refraction)
GREY = 128.0  # corrupt.py checkerboard_cutout / lines fill value


class CBar(NamedTuple):
    severity: float  # the level in [0, 10] of cifar10_c_bar.csv / imagenet_c_bar.csv


def _levels(*values: float) -> tuple[CBar, ...]:
    return tuple(CBar(float(v)) for v in values)


def float_parameter(level: float, maxval: float) -> float:
    """corrupt.py ``float_parameter``: ``float(level) * maxval / 10``."""
    return float(level) * maxval / 10.0


# registration order (``order``): alphabetical, as the paper and the issue list both benchmarks


# ---- small batched helpers -----------------------------------------------------------------------------------------
def _pixels(x: torch.Tensor) -> torch.Tensor:
    """The 8-bit pixel values (float64, exact integers) of float images in [0, 1]."""
    return torch.round(x.double() * 255)


def _u8(v: torch.Tensor) -> torch.Tensor:
    """``np.clip(v, 0, 255).astype(np.uint8)``: clip, then truncate."""
    return v.clamp(0, 255).to(torch.uint8)


def _uniform(n: int, low: float, high: float, g: torch.Generator | None, device, shape: tuple = ()) -> torch.Tensor:
    return low + (high - low) * torch.rand((n, *shape), generator=g, device=device, dtype=torch.float64)


def _randint(n: int, low: int, high: int, g: torch.Generator | None, device, shape: tuple = ()) -> torch.Tensor:
    return torch.randint(low, high, (n, *shape), generator=g, device=device)


def _grid(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column index grids (float64, (h, w))."""
    ys = torch.arange(h, device=device, dtype=torch.float64)
    xs = torch.arange(w, device=device, dtype=torch.float64)
    return torch.meshgrid(ys, xs, indexing="ij")


def _b(v: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """A per-image (B,) tensor shaped to broadcast against (B, *spatial)."""
    return v.reshape(v.shape[0], *([1] * ndim))


def bilinear_zero(img: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """corrupt.py's ``utils.image.bilinear_interpolation`` for every point: ``img`` (B, C, H, W), points (B, h, w)
    as (row, column); each of the four neighbours outside the image counts as 0. Returns (B, C, h, w) float64."""
    b, ch, h, w = img.shape
    flat = torch.cat([img.reshape(b, ch, h * w).double(), img.new_zeros(b, ch, 1, dtype=torch.float64)], dim=2)
    r0, c0 = torch.floor(py), torch.floor(px)
    fr, fc = py - r0, px - c0
    out = None
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
            r, c = r0 + dr, c0 + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            idx = torch.where(inside, r * w + c, torch.full_like(r, h * w)).long().reshape(b, 1, -1)
            v = flat.gather(2, idx.expand(b, ch, idx.shape[-1])).reshape(b, ch, *py.shape[1:])
            term = v * (wr * wc).unsqueeze(1)
            out = term if out is None else out + term
    return out


def _square(x: torch.Tensor, name: str) -> int:
    h, w = x.shape[-2:]
    if h != w:
        raise UserError(
            f"corruption {name!r}: needs square images (its Fourier noise is built on a square grid, as in "
            f"corrupt.py), got {h}x{w}"
        )
    return h


# ---- Fourier-domain noises: blue_noise_sample, brownish_noise -------------------------------------------------------
def _phase_draws(x: torch.Tensor, g: torch.Generator | None, fields: int) -> Params:
    """corrupt.py gen_noise's random phases: U(0, 2 pi) of shape (S, S // 2) per field (+ a centre column for odd S)."""
    s = x.shape[-1]
    b = x.shape[0]
    params = {"phases": _uniform(b, 0.0, 2 * math.pi, g, x.device, (fields, s, s // 2))}
    if s % 2:
        params["centre"] = _uniform(b, 0.0, 2 * math.pi, g, x.device, (fields, s // 2, 1))
    return params


@functools.lru_cache(maxsize=16)
def _radius_np(s: int) -> np.ndarray:
    """``np.linalg.norm([x, y] - S / 2)`` for every pixel (row y, column x)."""
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float64)
    return np.sqrt((xs - s / 2) ** 2 + (ys - s / 2) ** 2)


@device_cached
def _blue_power(s: int) -> np.ndarray:
    return _radius_np(s)  # corrupt.py BlueNoiseSample.gen_noise: power = distance from the centre


@device_cached
def _brownish_power(s: int) -> np.ndarray:
    return 1 / (_radius_np(s) ** 2 + 1)  # corrupt.py BrownishNoise.gen_noise


def fourier_noise(power: torch.Tensor, phases: torch.Tensor, centre: torch.Tensor | None) -> torch.Tensor:
    """corrupt.py ``gen_noise``: real part of the inverse FFT of ``power`` with mirrored random phases, rolled by S // 2
    on both axes and divided by its (population) standard deviation. phases (..., S, S // 2) -> noise (..., S, S)."""
    s = power.shape[-1]
    flipped = phases.flip(-1, -2)
    if centre is None:
        full = torch.cat([phases, flipped], dim=-1)
    else:  # odd S: a centre column [c, 0, c reversed]
        zero = centre.new_zeros(*centre.shape[:-2], 1, 1)
        column = torch.cat([centre, zero, centre.flip(-2)], dim=-2)
        full = torch.cat([phases, column, flipped], dim=-1)
    spectrum = torch.polar(power.expand_as(full), full)
    spectrum = torch.roll(spectrum, shifts=(s // 2, s // 2), dims=(-2, -1))
    noise = torch.fft.ifft2(spectrum).real
    return noise / noise.std(dim=(-2, -1), correction=0, keepdim=True)


@corruption(
    "blue_noise_sample",
    family="noise",
    benchmark=True,
    order=0,
    suite=CBAR,
    cifar=_levels(0.7, 1.4, 2.1, 3.5, 4.2),  # cifar10_c_bar.csv blue_noise_sample
    imagenet=_levels(0.8, 1.6, 2.4, 4.0, 5.6),  # imagenet_c_bar.csv blue_noise_sample
    sample=lambda x, c, g, p: _phase_draws(x, g, 1),
)
def blue_noise_sample(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    # keeps the pixels where blue noise (power ~ distance from the spectrum's centre) exceeds the threshold
    s = _square(x, "blue_noise_sample")
    threshold = float_parameter(c.severity, 3.0) - 2.5
    power = _blue_power(s, device=x.device)
    noise = fourier_noise(power, params["phases"], params.get("centre"))[:, 0]
    return (_pixels(x) * (noise > threshold).unsqueeze(1)).to(torch.uint8)


@corruption(
    "brownish_noise",
    family="noise",
    benchmark=True,
    order=1,
    suite=CBAR,
    cifar=_levels(2.5, 4.0, 5.5, 6.5, 7.0),  # cifar10_c_bar.csv brownish_noise
    imagenet=_levels(1.0, 2.0, 3.0, 4.0, 5.0),  # imagenet_c_bar.csv brownish_noise
    sample=lambda x, c, g, p: _phase_draws(x, g, 3),
)
def brownish_noise(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    s = _square(x, "brownish_noise")
    power = _brownish_power(s, device=x.device)
    noise = fourier_noise(power, params["phases"], params.get("centre"))  # one field per channel
    return _u8(_pixels(x) + float_parameter(c.severity, 64) * noise)


# ---- checkerboard_cutout ------------------------------------------------------------------------------------------
def _grid_side(s: int) -> int:
    """Largest ``int(4 * S // scale)`` over the sampled scales (scale >= max(0.1 S, 1)), plus one for rounding."""
    return int(4 * s // max(0.1 * s, 1)) + 1


def _checkerboard_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    angle = _uniform(b, 0.0, 2 * math.pi, g, x.device)
    scale = torch.clamp(_uniform(b, 0.1, 0.25, g, x.device) * s, min=1.0)  # np.maximum(U(0.1, 0.25) * S, 1)
    side = _grid_side(s)
    # the cells' uniforms (random_state.uniform(size=(n, n)) < fraction); each image uses its n x n corner
    return {
        "angle": angle,
        "scale": scale,
        "cells": torch.rand(b, side, side, generator=g, device=x.device, dtype=torch.float64),
    }


@corruption(
    "checkerboard_cutout",
    family="digital",
    benchmark=True,
    order=3,
    suite=CBAR,
    sample=_checkerboard_sample,
    cifar=_levels(1.0, 2.0, 3.0, 4.0, 5.0),  # cifar10_c_bar.csv checkerboard_cutout
    imagenet=_levels(2.0, 3.0, 4.0, 5.0, 6.0),
)  # imagenet_c_bar.csv checkerboard_cutout
def checkerboard_cutout(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    b, _, h, w = x.shape
    ys, xs = _grid(h, w, x.device)
    angle, scale = _b(params["angle"]), _b(params["scale"])
    nx = (torch.cos(angle) * ys + torch.sin(angle) * xs) / scale  # mask_kernel: point = [y, x]
    ny = (-torch.sin(angle) * ys + torch.cos(angle) * xs) / scale
    n = torch.floor(4 * x.shape[-1] / params["scale"]).long()  # int(4 * S // scale)
    cells = params["cells"]
    # int() truncates toward zero and a negative index wraps around, as Python indexing does
    row = torch.remainder(torch.trunc(nx).long(), _b(n))
    col = torch.remainder(torch.trunc(ny).long(), _b(n))
    u = cells.reshape(b, -1).gather(1, (row * cells.shape[-1] + col).reshape(b, -1)).reshape(b, h, w)
    dark = torch.floor(torch.remainder(nx, 2)) == torch.floor(torch.remainder(ny, 2))
    cut = dark & (u < float_parameter(c.severity, 1.0))
    v = _pixels(x)
    return torch.where(cut.unsqueeze(1), torch.full_like(v, GREY), v).to(torch.uint8)


# ---- sparkles, inverse_sparkles -----------------------------------------------------------------------------------
MAX_RAYS = 199  # np.random.randint(low=50, high=200)
SPARKLES = 5  # corrupt.py Sparkles: five stars
RAY_RANDOMNESS = 25  # corrupt.py randomness = 25 (percent of the radius)


def star_weight(
    ys: torch.Tensor,
    xs: torch.Tensor,
    centre: torch.Tensor,
    rays: torch.Tensor,
    lengths: torch.Tensor,
    radius: float,
    amount: float,
) -> torch.Tensor:
    """corrupt.py Sparkles/InverseSparkles ``kernel``'s blend weight ``f`` in [0, 1] for every pixel.

    centre (B, 2) as (row, column); rays (B,) ray counts; lengths (B, MAX_RAYS) ray lengths (first ``rays`` used)."""
    dy = ys - _b(centre[:, 0])
    dx = xs - _b(centre[:, 1])
    dist = torch.sqrt(dy * dy + dx * dx)
    n = _b(rays).to(torch.float64)
    d = (torch.atan2(dx, dy) + math.pi) / (2 * math.pi) * n
    i = torch.floor(d)
    f = d - i
    if radius != 0:
        b = lengths.shape[0]
        i0 = torch.remainder(i.long(), _b(rays)).reshape(b, -1)
        i1 = torch.remainder(i.long() + 1, _b(rays)).reshape(b, -1)
        l0 = lengths.gather(1, i0).reshape(dist.shape)
        length = l0 + f * (lengths.gather(1, i1).reshape(dist.shape) - l0)
        weight = (length**2 / (dist**2 + 1e-4)) ** ((100 - amount) / 50.0)
        f = (1 - (f - 0.5) ** 2) * weight
    return f.clamp(0, 1)


def _sparkles_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    return {
        "centres": _uniform(b, 0.0, s, g, x.device, (SPARKLES, 2)),
        "rays": _randint(b, 50, MAX_RAYS + 1, g, x.device, (SPARKLES,)),
        "ray_noise": torch.randn(b, SPARKLES, MAX_RAYS, generator=g, device=x.device, dtype=torch.float64),
    }


@corruption(
    "sparkles",
    family="weather",
    benchmark=True,
    order=13,
    suite=CBAR,
    sample=_sparkles_sample,
    cifar=_levels(0.7, 3.5, 5.6, 6.3, 7.0),  # cifar10_c_bar.csv sparkles
    imagenet=_levels(1.0, 2.0, 3.0, 5.0, 6.0),
)  # imagenet_c_bar.csv sparkles
def sparkles(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    ys, xs = _grid(h, w, x.device)
    radius = float_parameter(c.severity, 0.1) * x.shape[-1]
    v = _pixels(x)
    for k in range(SPARKLES):  # the stars are drawn one after the other, each on the previous result
        lengths = torch.clamp(radius + RAY_RANDOMNESS / 100.0 * radius * params["ray_noise"][:, k], min=1.0)
        f = star_weight(ys, xs, params["centres"][:, k], params["rays"][:, k], lengths, radius, 50.0)
        v = v.float().double()  # each star reads the pixels as float32 (image[y, x, :].astype(np.float32))
        v = v + f.unsqueeze(1) * (255.0 - v)
    return _u8(v)


def _inverse_sparkles_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    return {
        "centre": _uniform(b, 0.25, 0.75, g, x.device, (2,)) * s,
        "rays": _randint(b, 50, MAX_RAYS + 1, g, x.device),
        "ray_noise": torch.randn(b, MAX_RAYS, generator=g, device=x.device, dtype=torch.float64),
    }


@corruption(
    "inverse_sparkles",
    family="weather",
    benchmark=True,
    order=6,
    suite=CBAR,
    sample=_inverse_sparkles_sample,
    cifar=_levels(1.0, 1.5, 2.5, 4.5, 5.0),  # cifar10_c_bar.csv inverse_sparkles
    imagenet=_levels(1.0, 2.0, 4.0, 9.0, 10.0),
)  # imagenet_c_bar.csv inverse_sparkles
def inverse_sparkles(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    # everything outside one large star fades to white
    h, w = x.shape[-2:]
    ys, xs = _grid(h, w, x.device)
    radius = 0.25 * x.shape[-1]
    lengths = radius + RAY_RANDOMNESS / 100.0 * radius * params["ray_noise"]
    amount = 100 - float_parameter(c.severity, 65)
    f = star_weight(ys, xs, params["centre"], params["rays"], lengths, radius, amount).unsqueeze(1)
    return _u8(255.0 + f * (_pixels(x) - 255.0))


# ---- lines ---------------------------------------------------------------------------------------------------------
def _lines_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    count = int(float_parameter(c.severity, 1.0) * s)  # num_lines = int(density * im_size)
    return {
        "angle": _uniform(b, 0.0, 2 * math.pi, g, x.device),
        "variation": _uniform(b, 0.1, 1.0, g, x.device),
        "lines": torch.rand(b, count, 3, generator=g, device=x.device, dtype=torch.float64),
    }


def line_aa_pixels(
    r0: torch.Tensor, c0: torch.Tensor, r1: torch.Tensor, c1: torch.Tensor, max_steps: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """skimage.draw.line_aa (Zingl's anti-aliased line) for many integer segments at once.

    Returns rows, columns, values and a validity mask, each (n_segments, steps, 3): per step the pixel on the line
    and the two anti-aliasing neighbours skimage may add, in skimage's order. skimage keeps ``err`` and ``ed`` as C
    floats: ``ed`` is rounded to float32 here, the integer-valued ``err`` is exact either way. ``max_steps``: a bound on
    max(|dr|, |dc|) + 2 known in advance (no read back from the device); steps past a segment's end are invalid."""
    dc, dr = (c0 - c1).abs(), (r0 - r1).abs()
    sc = torch.where(c0 < c1, 1, -1)
    sr = torch.where(r0 < r1, 1, -1)
    ed = torch.where(
        dc + dr == 0,
        torch.ones_like(dc, dtype=torch.float64),
        torch.sqrt((dc * dc + dr * dr).double()).float().double(),
    )
    err = (dc - dr).double()
    c, r = c0.clone(), r0.clone()
    active = torch.ones_like(c, dtype=torch.bool)
    if max_steps is None:
        steps = int((torch.maximum(dc, dr).max() + 2).item()) if c.numel() else 0  # exact: free on the CPU
    else:
        steps = max_steps if c.numel() else 0
    rows, cols, vals, valid = [], [], [], []
    for _ in range(steps):
        err_p, c_p = err.clone(), c.clone()
        main = (err_p - dc + dr).abs() / ed
        first = active & (2 * err_p >= -dc)
        stop1 = first & (c == c1)
        first &= ~stop1
        extra1 = first & (err_p + dr < ed)
        second = active & ~stop1 & (2 * err_p <= dr)
        stop2 = second & (r == r1)
        second &= ~stop2
        extra2 = second & (dc - err_p < ed)
        rows.append(torch.stack([r, r + sr, r], -1))
        cols.append(torch.stack([c, c, c_p + sc], -1))
        vals.append(torch.stack([main, (err_p + dr).abs() / ed, (dc - err_p).abs() / ed], -1))
        valid.append(torch.stack([active, extra1, extra2], -1))
        err = torch.where(first, err - dr, err)
        c = torch.where(first, c + sc, c)
        err = torch.where(second, err + dc, err)
        r = torch.where(second, r + sr, r)
        active = active & ~stop1 & ~stop2
    if not rows:
        empty = torch.zeros(*c.shape, 0, 3, dtype=torch.long, device=c.device)
        return empty, empty, empty.double(), empty.bool()
    return (torch.stack(rows, -2), torch.stack(cols, -2), 1.0 - torch.stack(vals, -2), torch.stack(valid, -2))


@corruption(
    "lines",
    family="digital",
    benchmark=True,
    order=7,
    suite=CBAR,
    sample=_lines_sample,
    imagenet=None,
    cifar=_levels(0.5, 1.0, 1.5, 2.0, 2.5),
)  # cifar10_c_bar.csv lines (not in ImageNet-C-bar)
def lines(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    b, ch, h, w = x.shape
    s = x.shape[-1]
    u = params["lines"]  # (B, L, 3): the x, y and angle uniforms of each line
    px, py = s * u[..., 0], s * u[..., 1]
    a = _b(params["angle"], 1) + 2 * math.pi * _b(params["variation"], 1) * (u[..., 2] - 0.5)
    dy, dx = torch.sin(a) * s, torch.cos(a) * s  # length 1.0 * im_size
    # x1 = int(x - c) ... (int() truncates); line_aa(x1, y1, x2, y2): x is the row
    r0, r1 = torch.trunc(px - dx).long(), torch.trunc(px + dx).long()
    c0, c1 = torch.trunc(py - dy).long(), torch.trunc(py + dy).long()
    # |r1 - r0|, |c1 - c0| <= 2 s + 1 (2 |dx| <= 2 s, plus one from truncation): off the CPU that bound replaces a read
    bound = None if x.device.type == "cpu" else 2 * s + 3
    rows, cols, vals, valid = line_aa_pixels(r0, c0, r1, c1, bound)
    valid &= (rows >= 0) & (cols >= 0) & (rows < h) & (cols < w)
    out = torch.cat([_pixels(x).reshape(b, ch, h * w), x.new_zeros(b, ch, 1, dtype=torch.float64)], dim=2)
    for k in range(u.shape[1]):  # each line blends into the uint8 result of the lines before it
        idx = torch.where(valid[:, k], rows[:, k] * w + cols[:, k], h * w).reshape(b, 1, -1).expand(b, ch, -1)
        val = vals[:, k].reshape(b, 1, -1)
        new = torch.trunc((1.0 - val) * out.gather(2, idx) + val * GREY)
        out.scatter_(2, idx, new)
    return out[..., : h * w].reshape(b, ch, h, w).to(torch.uint8)


# ---- warps: pinch_and_twirl, ripple --------------------------------------------------------------------------------
def _cells_per_axis(s: int) -> int:
    return 5 if s == 224 else 3  # corrupt.py PinchAndTwirl: num_per_axis = 5 if im_size == 224 else 3


def _pinch_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    n = _cells_per_axis(x.shape[-1])
    signs = torch.randint(0, 2, (x.shape[0], n, n), generator=g, device=x.device) * 2 - 1  # np.random.choice([1, -1])
    return {"signs": signs.double()}


@corruption(
    "pinch_and_twirl",
    family="digital",
    benchmark=True,
    order=9,
    suite=CBAR,
    sample=_pinch_sample,
    imagenet=None,
    cifar=_levels(5.5, 6.0, 6.5, 8.5, 10.0),
)  # cifar10_c_bar.csv pinch_and_twirl
def pinch_and_twirl(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    # one pinch-and-twirl per cell of an n x n grid; the cells' warps only read pixels of their own cell and of cells
    # drawn after them, so warping all cells from the original image equals the reference's cell-by-cell loop
    b, _, h, w = x.shape
    n = params["signs"].shape[-1]
    size = x.shape[-1] // n
    radius = size / 2
    amount = float_parameter(c.severity, 0.4) + 0.1
    ys, xs = _grid(h, w, x.device)
    row_cell = torch.clamp(torch.div(ys, size, rounding_mode="floor"), max=n - 1)
    col_cell = torch.clamp(torch.div(xs, size, rounding_mode="floor"), max=n - 1)
    inside = (ys < n * size) & (xs < n * size)
    cy, cx = row_cell * size + radius, col_cell * size + radius
    # angles[i, j]: i indexes the column block (l, r = i * grid_size, ...), j the row block
    cell = (col_cell * n + row_cell).long().reshape(-1)
    angle = float_parameter(c.severity, math.pi / 2) * params["signs"].reshape(b, n * n)[:, cell].reshape(b, h, w)
    dy, dx = ys - cy, xs - cx
    dist = torch.sqrt(dy * dy + dx * dx)
    warp = inside & (dist <= radius) & (dist >= 5e-4)  # np.round(dist, 3) == 0 leaves the centre alone
    d = dist / radius
    t = torch.sin(math.pi * 0.5 * d).clamp_min(1e-300) ** (-amount)
    a = angle * (1 - d) ** 2
    wy = cy + dy * t * torch.cos(a) - dx * t * torch.sin(a)
    wx = cx + dy * t * torch.sin(a) + dx * t * torch.cos(a)
    py = torch.where(warp, wy, ys.expand_as(wy))
    px = torch.where(warp, wx, xs.expand_as(wx))
    return _u8(bilinear_zero(_pixels(x), py, px))


def _ripple_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    return {
        "wavelengths": _uniform(b, 0.1, 0.3, g, x.device, (2,)) * s,
        "phases": _uniform(b, 0.0, 2 * math.pi, g, x.device, (2,)),
    }


@corruption(
    "ripple",
    family="digital",
    benchmark=True,
    order=11,
    suite=CBAR,
    sample=_ripple_sample,
    imagenet=None,
    cifar=_levels(5.5, 6.0, 6.5, 7.5, 8.0),
)  # cifar10_c_bar.csv ripple
def ripple(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    ys, xs = _grid(h, w, x.device)
    amp = float_parameter(c.severity, 0.025) * x.shape[-1]
    lam, ph = params["wavelengths"], params["phases"]
    py = ys + amp * torch.sin(2 * math.pi * ys / _b(lam[:, 0]) + _b(ph[:, 0]))  # point + A sin(2 pi point / L + phase)
    px = xs + amp * torch.sin(2 * math.pi * xs / _b(lam[:, 1]) + _b(ph[:, 1]))
    return _u8(bilinear_zero(_pixels(x), py, px))


# ---- cubic B-splines (scipy.ndimage order 3, mode 'constant'): transverse_chromatic_abberation, circular_motion_blur
def bspline3(t: np.ndarray) -> np.ndarray:
    """The cubic B-spline kernel."""
    t = np.abs(t)
    return np.where(t < 1, 2 / 3 - t**2 + t**3 / 2, np.where(t < 2, (2 - t) ** 3 / 6, 0.0))


def _mirror(j: np.ndarray, n: int) -> np.ndarray:
    """scipy's 'mirror' extension of coefficient indices (what mode 'constant' uses inside the image)."""
    if n == 1:
        return np.zeros_like(j)
    period = 2 * (n - 1)
    j = np.abs(j) % period
    return np.where(j > n - 1, period - j, j)


def spline_weights(coords: np.ndarray, n: int) -> np.ndarray:
    """(len(coords), n) matrix evaluating a cubic spline with coefficients on 0..n-1 at ``coords``: 0 outside [0, n-1]
    (mode 'constant'), mirrored coefficients near the edges (scipy >= 1.6)."""
    out = np.zeros((len(coords), n))
    base = np.floor(coords).astype(np.int64)
    rows = np.arange(len(coords))
    inside = (coords >= 0) & (coords <= n - 1)
    for k in range(-1, 3):
        j = base + k
        np.add.at(out, (rows[inside], _mirror(j[inside], n)), bspline3(coords[inside] - j[inside]))
    return out


@functools.lru_cache(maxsize=16)
def spline_prefilter(n: int) -> np.ndarray:
    """scipy.ndimage.spline_filter1d(order=3, mode='mirror') as an (n, n) matrix: the inverse of the spline's values
    at the integers."""
    if n == 1:
        return np.ones((1, 1))
    return np.linalg.inv(spline_weights(np.arange(n, dtype=np.float64), n))


@functools.lru_cache(maxsize=64)
def zoom_matrix(n: int, scale: float) -> np.ndarray:
    """scipy.ndimage.zoom(prefilter=False, order=3) along one axis, centre-cropped back to ``n`` samples: (n, n)."""
    out = int(round(n * scale))
    coords = np.arange(out) * ((n - 1) / (out - 1)) if out > 1 else np.zeros(1)
    edge = (out - n) // 2
    return spline_weights(coords, n)[edge : edge + n]


@device_cached
def _zoom_stack(n: int, scales: tuple[float, ...]) -> np.ndarray:
    return np.stack([zoom_matrix(n, z) for z in scales])


def _tca_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    # scales[np.random.permutation(3)]: a uniformly random order of the three zooms
    return {"order": torch.argsort(torch.rand(x.shape[0], 3, generator=g, device=x.device), dim=1)}


@corruption(
    "transverse_chromatic_abberation",
    family="digital",
    benchmark=True,
    order=14,
    suite=CBAR,
    sample=_tca_sample,
    imagenet=None,
    cifar=_levels(1.0, 2.0, 5.0, 9.0, 10.0),
)  # cifar10_c_bar.csv transverse_chromatic_abberation
def transverse_chromatic_abberation(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    # each channel zoomed by 1, 1 + s/2 or 1 + s (a random order per image) about the centre
    b, ch, h, w = x.shape
    scale = float_parameter(c.severity, 0.5)
    scales = (1.0, 1.0 + scale / 2, 1.0 + scale)
    rows, cols = _zoom_stack(h, scales, device=x.device), _zoom_stack(w, scales, device=x.device)  # (3, n, n) each
    pick = params["order"]  # (B, 3): channel -> index into scales
    zoomed = rows[pick] @ _pixels(x) @ cols[pick].transpose(-1, -2)
    # scipy writes a uint8 output as trunc(v + 0.5) for v > 0, clipped to 255
    return torch.floor(zoomed.clamp(min=0) + 0.5).clamp(max=255).to(torch.uint8)


CIRCULAR_STEPS = 21  # corrupt.py CircularMotionBlur: num = 21 rotations


def rotation_weights(n: int, angle: float) -> np.ndarray:
    """scipy.ndimage.rotate(reshape=False, order=3, mode='constant') of an n x n plane as an (n*n, n*n) matrix acting
    on the spline coefficients (apply ``spline_prefilter`` on both axes first)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    centre = (n - 1) / 2
    oy, ox = np.mgrid[0:n, 0:n].astype(np.float64)
    iy = c * (oy - centre) + s * (ox - centre) + centre  # rot_matrix [[c, s], [-s, c]] about the centre
    ix = -s * (oy - centre) + c * (ox - centre) + centre
    iy, ix = iy.ravel(), ix.ravel()
    inside = (iy >= 0) & (iy <= n - 1) & (ix >= 0) & (ix <= n - 1)
    out = np.zeros((n * n, n * n))
    rows = np.nonzero(inside)[0]
    by, bx = np.floor(iy[inside]).astype(np.int64), np.floor(ix[inside]).astype(np.int64)
    for ky in range(-1, 3):
        wy = bspline3(iy[inside] - (by + ky))
        jy = _mirror(by + ky, n)
        for kx in range(-1, 3):
            wx = bspline3(ix[inside] - (bx + kx))
            np.add.at(out, (rows, jy * n + _mirror(bx + kx, n)), wy * wx)
    return out


@functools.lru_cache(maxsize=8)
def circular_blur_matrix(n: int, amount: float) -> np.ndarray:
    """The whole circular motion blur of an n x n plane as one (n*n, n*n) matrix (float32): the Gaussian-weighted mean
    of 21 cubic-spline rotations by angles spread over [-amount, amount] degrees."""
    prefilter = spline_prefilter(n)
    total = np.zeros((n * n, n * n))
    weights = 0.0
    for i in range(CIRCULAR_STEPS):
        t = 2 * i / (CIRCULAR_STEPS - 1) - 1
        factor = math.exp(-2 * t**2)
        total += factor * rotation_weights(n, t * amount)
        weights += factor
    return ((total / weights) @ np.kron(prefilter, prefilter)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _blur_matrix_on(n: int, amount: float, device: str) -> torch.Tensor:
    return torch.as_tensor(circular_blur_matrix(n, amount), device=device)


MAX_DENSE_SIDE = 64  # the blur is one dense (n^2, n^2) matmul up to 64 px (16M entries)


@corruption(
    "circular_motion_blur",
    family="blur",
    benchmark=True,
    order=4,
    suite=CBAR,
    imagenet=None,
    cifar=_levels(2.8, 3.6, 4.4, 5.2, 6.0),
)  # cifar10_c_bar.csv circular_motion_blur
def circular_motion_blur(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    b, ch, h, w = x.shape
    if h != w or h > MAX_DENSE_SIDE:
        raise UserError(
            f"corruption 'circular_motion_blur': implemented for square images up to {MAX_DENSE_SIDE} px "
            f"(CIFAR-10-C-bar), got {h}x{w}"
        )
    m = _blur_matrix_on(h, float_parameter(c.severity, 15), str(x.device))
    y = (x.reshape(b * ch, h * w).float() @ m.T).reshape(b, ch, h, w)
    return _u8(torch.floor(y.double() * 255))


# ---- ImageNet-C-bar only: procedural noises -------------------------------------------------------------------------
def _sfg_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b = x.shape[0]
    mag = _uniform(b, -math.pi, math.pi, g, x.device)
    second = -mag.abs() + 2 * mag.abs() * torch.rand(b, generator=g, device=x.device, dtype=torch.float64)
    swap = torch.rand(b, generator=g, device=x.device) < 0.5  # np.random.permutation(2)
    freq = torch.where(swap.unsqueeze(1), torch.stack([second, mag], 1), torch.stack([mag, second], 1))
    return {"freq": freq, "phase": _uniform(b, 0.0, 2 * math.pi, g, x.device)}


@corruption(
    "single_frequency_greyscale",
    family="noise",
    benchmark=True,
    order=12,
    suite=CBAR,
    sample=_sfg_sample,
    cifar=None,
    imagenet=_levels(1.0, 1.5, 2.0, 4.5, 5.0),
)  # imagenet_c_bar.csv single_frequency_greyscale
def single_frequency_greyscale(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    ys, xs = _grid(h, w, x.device)
    f = params["freq"]
    noise = torch.sin(xs * _b(f[:, 0]) + ys * _b(f[:, 1]) + _b(params["phase"]))
    return _u8(_pixels(x) + float_parameter(c.severity, 196) * noise.unsqueeze(1))


def _waves_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    return {
        "offset": _uniform(b, 0.0, s, g, x.device, (2,)),
        "freq": _uniform(b, 0.0, 10.0, g, x.device),
        "amplitude": _uniform(b, 0.0, s / 10, g, x.device),
        "ring_width": _uniform(b, 0.0, s / 10, g, x.device),
    }


@corruption(
    "cocentric_sine_waves",
    family="noise",
    benchmark=True,
    order=5,
    suite=CBAR,
    sample=_waves_sample,
    cifar=None,
    imagenet=_levels(3.0, 5.0, 8.0, 9.0, 10.0),
)  # imagenet_c_bar.csv cocentric_sine_waves
def cocentric_sine_waves(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    ys, xs = _grid(h, w, x.device)
    ddx = xs - _b(params["offset"][:, 0])  # calc_intensity(x, y, offset[0], offset[1]): x is the column
    ddy = ys - _b(params["offset"][:, 1])
    angle = torch.atan2(ddx, ddy) * _b(params["freq"])
    width = _b(params["ring_width"])
    ring = torch.remainder(torch.sqrt(ddx**2 + ddy**2) + torch.sin(angle) * _b(params["amplitude"]), width)
    return _u8(_pixels(x) + float_parameter(c.severity, 128) * (ring / width - 0.5).unsqueeze(1))


PLASMA_MAX_ITERATIONS = 6  # np.random.randint(low=4, high=7)


def _plasma_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    return {
        "time": _uniform(b, 0.0, 6 * math.pi, g, x.device),
        "iterations": _randint(b, 4, PLASMA_MAX_ITERATIONS + 1, g, x.device),
        "sharpness": _uniform(b, 0.5, 1.0, g, x.device),
        "scale": _uniform(b, 0.075, 0.2, g, x.device) * s,
    }


@corruption(
    "plasma_noise",
    family="noise",
    benchmark=True,
    order=10,
    suite=CBAR,
    sample=_plasma_sample,
    cifar=None,
    imagenet=_levels(4.75, 7.0, 8.5, 9.25, 10.0),
)  # imagenet_c_bar.csv plasma_noise
def plasma_noise(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    ys, xs = _grid(h, w, x.device)
    rand, sharp = _b(params["time"]), _b(params["sharpness"])
    px, py = xs / _b(params["scale"]), ys / _b(params["scale"])
    ones = torch.ones_like(rand)
    i0, i1, i2, i3 = ones, ones, ones, torch.zeros_like(rand)
    for step in range(PLASMA_MAX_ITERATIONS):
        on = _b(params["iterations"]) > step  # each image runs its own number of iterations
        r0 = torch.cos(py * i0 - i3 + rand / i1) / i2
        r1 = torch.sin(px * i0 - i3 + rand / i1) / i2
        r0, r1 = r0 - 0.3 * r1, r1 + 0.3 * r0  # r += [-r[1], r[0]] * 0.3
        px, py = torch.where(on, px + r0, px), torch.where(on, py + r1, py)
        # i *= [1.93, 1.15, 2.25 - sharp, rand * i[1]] (the last factor reads i[1] before the update)
        i0, i1, i2, i3 = (
            torch.where(on, i0 * 1.93, i0),
            torch.where(on, i1 * 1.15, i1),
            torch.where(on, i2 * (2.25 - sharp), i2),
            torch.where(on, i3 * rand * i1, i3),
        )
    noise = torch.stack([torch.sin(px - rand), torch.sin((px + py + torch.sin(rand)) * 0.5), torch.sin(py + rand)], 1)
    intensity = float_parameter(c.severity, 64)
    return _u8((1 - intensity / 255) * _pixels(x) + intensity * noise)


PERLIN_B = 256  # utils/perlin_noise.py B
PERLIN_N = 16 * 256  # utils/perlin_noise.py N
PERLIN_TURBULENCE = 16.0  # corrupt.py PerlinNoise: turbulence 16, gain 0.5, bias 0.5


def _perlin_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b = x.shape[0]
    # (randint(0, 2**31, size=2) % 512 - 256) / 256 is uniform on {-256..255} / 256; the swap indices
    # randint(0, 2**31) % 256 are uniform on 0..255
    return {
        "gradients": _randint(b, -PERLIN_B, PERLIN_B, g, x.device, (2 * PERLIN_B + 2, 2)),
        "swaps": _randint(b, 0, PERLIN_B, g, x.device, (PERLIN_B,)),
    }


def perlin_tables(gradients: torch.Tensor, swaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PerlinNoiseGenerator's permutation ``p`` (B, 514) and unit gradients ``g`` (B, 514, 2) from the draws."""
    b = swaps.shape[0]
    g = gradients.double() / PERLIN_B
    norm = g.norm(dim=-1, keepdim=True)
    g = torch.where(norm > 0, g / norm.clamp_min(1e-300), g)
    p = torch.arange(2 * PERLIN_B + 2, device=swaps.device).expand(b, -1).clone()
    for i in range(PERLIN_B - 1, -1, -1):  # its shuffle: swap p[i] with p[j], j uniform on 0..255 (not 0..i)
        j = swaps[:, i : i + 1]
        k = p[:, i : i + 1].clone()
        p[:, i : i + 1] = p.gather(1, j)
        p.scatter_(1, j, k)
    # for i in range(B + 2): p[B + i] = p[i] (in order, so p[2B], p[2B + 1] copy the new p[B], p[B + 1]); g alike
    p = torch.cat([p[:, :PERLIN_B], p[:, :PERLIN_B], p[:, :2]], 1)
    g = torch.cat([g[:, :PERLIN_B], g[:, :PERLIN_B], g[:, :2]], 1)
    return p, g


def perlin_noise2(p: torch.Tensor, g: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PerlinNoiseGenerator.noise(x, y) for (B, h, w) coordinates with per-image tables."""
    b = p.shape[0]

    def look(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return table.gather(1, idx.reshape(b, -1)).reshape(idx.shape)

    def grad(idx: torch.Tensor, rx: torch.Tensor, ry: torch.Tensor) -> torch.Tensor:
        flat = idx.reshape(b, -1)
        gx = g[..., 0].gather(1, flat).reshape(idx.shape)
        gy = g[..., 1].gather(1, flat).reshape(idx.shape)
        return rx * gx + ry * gy

    t = x + PERLIN_N
    bx0 = torch.remainder(torch.floor(t).long(), PERLIN_B)
    bx1 = torch.remainder(bx0 + 1, PERLIN_B)
    rx0 = torch.remainder(t, 1.0)
    rx1 = rx0 - 1.0
    t = y + PERLIN_N
    by0 = torch.remainder(torch.floor(t).long(), PERLIN_B)
    by1 = torch.remainder(by0 + 1, PERLIN_B)
    ry0 = torch.remainder(t, 1.0)
    ry1 = ry0 - 1.0
    i, j = look(p, bx0), look(p, bx1)
    b00, b10, b01, b11 = look(p, i + by0), look(p, j + by0), look(p, i + by1), look(p, j + by1)
    sx, sy = rx0**2 * (3.0 - 2.0 * rx0), ry0**2 * (3.0 - 2.0 * ry0)
    u, v = grad(b00, rx0, ry0), grad(b10, rx1, ry0)
    a = u + sx * (v - u)
    u, v = grad(b01, rx0, ry1), grad(b11, rx1, ry1)
    bb = u + sx * (v - u)
    return 1.5 * (a + sy * (bb - a))


@corruption(
    "perlin_noise",
    family="noise",
    benchmark=True,
    order=8,
    suite=CBAR,
    sample=_perlin_sample,
    cifar=None,
    imagenet=_levels(4.6, 5.2, 5.8, 7.6, 8.8),
)  # imagenet_c_bar.csv perlin_noise
def perlin_noise(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    b, _, h, w = x.shape
    ys, xs = _grid(h, w, x.device)
    unit = 32 * x.shape[-1] / 224  # m = I / (32 * im_size / 224); npoint = [y, x] @ m
    p, g = perlin_tables(params["gradients"], params["swaps"])
    nx, ny = (ys / unit).expand(b, h, w), (xs / unit).expand(b, h, w)
    total = torch.zeros_like(nx)
    f = 1.0
    while f <= PERLIN_TURBULENCE:  # turbulence: sum of |noise(f x, f y)| / f over octaves 1, 2, 4, 8, 16
        total = total + perlin_noise2(p, g, f * nx, f * ny).abs() / f
        f *= 2
    field = (0.5 * total + 0.5).clamp(0, 1).unsqueeze(1)
    alpha = float_parameter(c.severity, 0.50)
    # (1 - alpha) * image.astype(np.float32) is a float32 product; the noise term is float64
    return _u8(((1 - alpha) * _pixels(x).float()).double() + 255 * alpha * field)


def _caustic_sample(x: torch.Tensor, c: CBar, g: torch.Generator | None, profile: str) -> Params:
    b, s = x.shape[0], x.shape[-1]
    return {"time": _uniform(b, 0.5, 2.0, g, x.device), "size": _uniform(b, 0.75, 1.25, g, x.device) * s}


def caustic_field(ys: torch.Tensor, xs: torch.Tensor, time: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """corrupt.py ``caustic_noise_kernel`` (one value per pixel; the reference repeats it on 3 channels)."""
    p0 = torch.remainder(ys / size, 1.0) * 6.28318530718 - 250  # the reference's literal, not 2 pi
    p1 = torch.remainder(xs / size, 1.0) * 6.28318530718 - 250
    i0, i1 = p0, p1
    c = torch.ones_like(p0)
    inten = 0.005
    for n in range(5):
        t = time * (1.0 - (3.5 / (n + 1)))
        i0, i1 = p0 + torch.cos(t - i0) + torch.sin(t + i1), p1 + torch.sin(t - i1) + torch.cos(t + i0)
        length = torch.sqrt((p0 / (torch.sin(i0 + t) / inten)) ** 2 + (p1 / (torch.cos(i1 + t) / inten)) ** 2)
        c = c + 1.0 / length
    c = 1.17 - (c / 5.0) ** 1.4
    return (c.abs() ** 8.0).clamp(0, 1)


def _shifted(field: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """field[y + dy, x + dx], 0 outside (luma_at_offset)."""
    out = torch.zeros_like(field)
    h, w = field.shape[-2:]
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., yd, xd] = field[..., ys, xs]
    return out


@corruption(
    "caustic_refraction",
    family="weather",
    benchmark=True,
    order=2,
    suite=CBAR,
    sample=_caustic_sample,
    cifar=None,
    imagenet=_levels(2.35, 3.2, 4.9, 6.6, 9.15),
)  # imagenet_c_bar.csv caustic_refraction
def caustic_refraction(x: torch.Tensor, c: CBar, params: Params, profile: str) -> torch.Tensor:
    # the image seen through water: a caustic height field refracts (eta 4) and lights every pixel
    b, _, h, w = x.shape
    s = x.shape[-1]
    ys, xs = _grid(h, w, x.device)
    field = caustic_field(ys, xs, _b(params["time"]), _b(params["size"]))
    field = filters.gaussian_filter(field, 1.0, mode="symmetric")  # scipy gaussian_filter(sigma=1), mode 'reflect'
    luma = field * LUMA[0] + field * LUMA[1] + field * LUMA[2]
    north, south = _shifted(luma, 0, -1), _shifted(luma, 0, 1)  # offsets [0, -1], [0, 1]: columns
    west, east = _shifted(luma, -1, 0), _shifted(luma, 1, 0)  # offsets [-1, 0], [1, 0]: rows
    n0, n1 = east - west, south - north
    norm = torch.sqrt(n0**2 + n1**2 + 1.0)
    n0, n1, n2 = n0 / norm, n1 / norm, 1.0 / norm
    # refract([0, 0, 1], normal, eta): cos(out) * normal + sin(out) * (normal x spectator), spectator = z x normal
    flat = n2.abs() >= 1.0 - 1e-3
    out_angle = torch.asin(torch.sin(torch.acos(n2.clamp(-1, 1))) / 4.0)
    spread = torch.sqrt(n0**2 + n1**2).clamp_min(1e-300)
    s0, s1 = -n1 / spread, n0 / spread  # spectator (third component 0)
    o0, o1 = -n2 * s1, n2 * s0  # orthogonal = normal x spectator, first two components
    lens = float_parameter(c.severity, 0.5 * s)
    r0 = torch.where(flat, 0.0, torch.cos(out_angle) * n0 + torch.sin(out_angle) * o0) * lens
    r1 = torch.where(flat, 0.0, torch.cos(out_angle) * n1 + torch.sin(out_angle) * o1) * lens
    r0, r1 = torch.round(r0 * 1000) / 1000, torch.round(r1 * 1000) / 1000  # np.round(refract_vector, 3)
    pixel = bilinear_zero((_pixels(x).float() / 255).double(), ys + r0, xs + r1)  # image.astype(float32) / 255
    light = float_parameter(c.severity, 2.0)
    pixel = pixel + ((north - south) * light + (east - west) * light).unsqueeze(1)
    return (pixel.clamp(0, 1) * 255).to(torch.uint8)
