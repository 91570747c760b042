"""A seeded procedural mixing set for PixMix: iterated-function-system (IFS) fractals, rendered and coloured.

PixMix's released mixing set (fractals and feature visualisations, a Google-Drive download; andyzoujm/pixmix README)
is replaced offline by fractals in the manner of the fractal-pretraining literature (Anderson & Farrell 2022,
catalys1/fractal-pretraining ``fractal_learning/fractals/ifs.py``; FractalDB, Kataoka et al. 2020):

- a system is 2..4 contractive affine maps (``ifs.py`` CLI default ``--min_n 2 --max_n 4``), each ``U·diag(s)·V``
  with random rotations/reflections U, V, singular values s constrained by the σ-factor Σ(s1 + 2·s2) ~
  U((5+n)/2, (6+n)/2) (``sample_system`` / ``sample_svs``) and translations ~ U(-1, 1);
- the attractor by the chaos game (maps chosen with probability ∝ |det A|, walkers started at map 0's fixed point,
  ``iterate``), rendered graded over its bounding box (``render(binary=False)``: hits / max hits);
- coloured as ``colorize`` does (hue = (255·density + random shift) mod 256, one saturation ~ U(0.3, 1) and value ~
  U(0.5, 1) per fractal), over a black or, with probability 1/2, a smooth random colour background (our stand-in for
  ``diamondsquare.colorized_ds``).

Everything is vectorised over fractals and walkers with ``torch`` on one seeded CPU generator: the same
(count, size, seed) gives the same uint8 images on every machine that agrees on float64 rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MAPS = (2, 4)  # ifs.py CLI: --min_n 2 --max_n 4 (maps per system, inclusive)
WALKERS = 256  # parallel chaos-game walkers per fractal
POINTS_PER_PIXEL = 4  # chaos-game points per rendered pixel, at least MIN_POINTS (ifs.py's example: 100k at 256 px)
MIN_POINTS = 8192
POINTS_PER_CHUNK = 1 << 22  # chaos-game points held at once (32 MB of float32 pairs)
GENERATOR_VERSION = 1  # bump when the pixels for the same (count, size, seed) change


def sample_singular_values(n_maps: Tensor, sigma_factor: Tensor, generator: torch.Generator) -> Tensor:
    """ifs.py ``sample_svs`` for every system at once: (systems, max_maps, 2) with Σ_i (s_i1 + 2 s_i2) = a,
    0 <= s_i2 <= s_i1 <= 1, pairs past a system's map count zero."""
    systems, top = n_maps.shape[0], int(n_maps.max())
    s = torch.zeros((systems, top, 2), dtype=torch.float64)
    p = sigma_factor.clone()
    q = sigma_factor - 3 * n_maps + 3

    def uniform(low: Tensor, high: Tensor) -> Tensor:
        return low + (high - low) * torch.rand(systems, dtype=torch.float64, generator=generator)

    for i in range(top):
        first = i < n_maps - 1  # the first n-1 pairs
        s1 = uniform(torch.clamp(q / 3, min=0), torch.clamp(p, max=1))
        q1, p1 = q - s1, p - s1
        s2 = uniform(torch.clamp(q1 / 2, min=0), torch.minimum(s1, p1 / 2))
        last = i == n_maps - 1
        s2_last = uniform(torch.clamp((p - 1) / 2, min=0), p / 3)
        s1_last = p - 2 * s2_last
        s[:, i, 0] = torch.where(first, s1, torch.where(last, s1_last, 0.0))
        s[:, i, 1] = torch.where(first, s2, torch.where(last, s2_last, 0.0))
        q = torch.where(first, q1 - 2 * s2 + 3, q)
        p = torch.where(first, p1 - 2 * s2, p)
    return s


def sample_systems(count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """ifs.py ``sample_system``: affine maps (count, max_maps, 2, 3) and their probabilities (count, max_maps)
    ∝ |det A| (zero for padding maps)."""
    n_maps = torch.randint(MAPS[0], MAPS[1] + 1, (count,), generator=generator)
    sigma_factor = (5 + n_maps) / 2 + torch.rand(count, dtype=torch.float64, generator=generator)  # U((5+n)/2, (6+n)/2)
    top = MAPS[1]
    signs = torch.where(torch.rand((count, 2 * top, 2), generator=generator) < 0.5, -1.0, 1.0).double()
    angle = (torch.rand((count, 2 * top), dtype=torch.float64, generator=generator) * 2 - 1) * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (count, 2·top, 2, 2)
    uv = rot * signs[..., None, :]  # rotate the randomly reflected standard basis: rmat @ (sign · I)
    u, v = uv[:, :top], uv[:, top:]
    s = sample_singular_values(n_maps, sigma_factor, generator)
    s = torch.nn.functional.pad(s, (0, 0, 0, top - s.shape[1]))
    linear = (u * s[:, :, None, :]) @ v  # U·diag(s)·V
    shift = torch.rand((count, top, 2), dtype=torch.float64, generator=generator) * 2 - 1
    maps = torch.cat([linear, shift[..., None]], -1)
    used = torch.arange(top)[None] < n_maps[:, None]
    det = (linear[..., 0, 0] * linear[..., 1, 1] - linear[..., 0, 1] * linear[..., 1, 0]).abs() * used
    return maps, det / det.sum(1, keepdim=True)


def chaos_game(maps: Tensor, probs: Tensor, steps: int, generator: torch.Generator) -> Tensor:
    """Points (count, steps·WALKERS, 2) on each attractor: ifs.py ``iterate`` with WALKERS walkers per system
    (float32 walks; the six map coefficients gathered per walker)."""
    count, top = maps.shape[:2]
    a0, b0 = maps[:, 0, :, :2], maps[:, 0, :, 2]
    start = torch.linalg.solve(torch.eye(2, dtype=maps.dtype) - a0, b0).float()  # (I - A_1)^-1 b: on the attractor
    x = start[:, 0:1].expand(count, WALKERS).contiguous()
    y = start[:, 1:2].expand(count, WALKERS).contiguous()
    coefficients = maps.float().reshape(count, top, 6).unbind(-1)  # a, b, e, c, d, f as ifs.py ravels them
    cumulative = probs.float().cumsum(1)
    cumulative[:, -1] = 2.0  # every draw in [0, 1) lands on a real map
    points = torch.empty((count, steps, WALKERS, 2))
    for t in range(steps):
        k = torch.searchsorted(cumulative, torch.rand((count, WALKERS), generator=generator), right=True)
        a, b, e, c, d, f = (coef.gather(1, k) for coef in coefficients)
        x, y = a * x + b * y + e, c * x + d * y + f
        points[:, t, :, 0], points[:, t, :, 1] = x, y
    return points.reshape(count, steps * WALKERS, 2)


def render_graded(points: Tensor, size: int) -> Tensor:
    """ifs.py ``_render_graded`` over each fractal's bounding box: float (count, size, size), hits / max hits."""
    count = points.shape[0]
    lo = points.amin(1, keepdim=True)
    span = (points.amax(1, keepdim=True) - lo).clamp_min(1e-12)
    cells = ((points - lo) * ((size - 1) / span)).long().clamp_(0, size - 1)
    flat = cells[..., 0] * size + cells[..., 1]  # row from x, column from y, as _render_graded
    flat += torch.arange(count)[:, None] * (size * size)
    hits = torch.bincount(flat.reshape(-1), minlength=count * size * size).view(count, size * size).double()
    return (hits / hits.amax(1, keepdim=True)).view(count, size, size)


def hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """HSV in [0, 1] -> RGB in [0, 1] (channels stacked on dim 1): f(n) = v - v·s·clamp(min(k, 4 - k), 0, 1) with
    k = (n + 6h) mod 6 for n = 5, 3, 1 (the standard closed form)."""
    out = []
    for n in (5, 3, 1):
        k = torch.remainder(n + h * 6, 6)
        out.append(v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(out, 1)


def colorize(density: Tensor, generator: torch.Generator) -> Tensor:
    """ifs.py ``colorize`` + a background: uint8 (count, 3, size, size)."""
    count, size, _ = density.shape
    shift = torch.rand((count, 1, 1), dtype=torch.float64, generator=generator) * 255
    sat = 0.3 + 0.7 * torch.rand((count, 1, 1), dtype=torch.float64, generator=generator)  # U(min_sat=0.3, 1)
    val = 0.5 + 0.5 * torch.rand((count, 1, 1), dtype=torch.float64, generator=generator)  # U(min_val=0.5, 1)
    hue = torch.remainder(torch.floor(density * 255 + shift), 256) / 256  # np.uint8(x·255 + shift): mod 256
    rgb = hsv_to_rgb(hue.float(), sat.float(), val.float())
    coarse = torch.rand((count, 3, 4, 4), generator=generator) * 0.6
    background = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True)
    background = background * (torch.rand((count, 1, 1, 1), generator=generator) < 0.5)
    out = torch.where((density > 0)[:, None], rgb, background)
    return (out * 255).round().to(torch.uint8)


def fractal_images(count: int, size: int, seed: int = 0) -> Tensor:
    """``count`` coloured IFS fractals as uint8 (count, 3, size, size), the same for the same arguments."""
    if count < 1 or size < 2:
        raise ValueError(f"need count >= 1 and size >= 2, got {count}, {size}")
    generator = torch.Generator().manual_seed(int(seed))
    steps = math.ceil(max(MIN_POINTS, POINTS_PER_PIXEL * size * size) / WALKERS)
    out = torch.empty((count, 3, size, size), dtype=torch.uint8)
    chunk = max(1, POINTS_PER_CHUNK // (steps * WALKERS))
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        maps, probs = sample_systems(n, generator)
        out[start : start + n] = colorize(render_graded(chaos_game(maps, probs, steps, generator), size), generator)
    return out
