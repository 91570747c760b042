"""Batched -C corruption kernels: ``corrupt(images_uint8_nchw, name, severity, generator, profile)``.

Each corruption is a pair (torchvision v2 style): ``sample(x, c, generator, profile) -> params`` draws all randomness for
the whole batch, ``apply(x, c, params, profile) -> x`` is deterministic and per image (float, or uint8 when the result
is 8-bit already). Every params tensor is
batch-first (also inside tuples), because on CPU ``corrupt`` applies the kernel to cache-sized slices of the batch. ``x`` is float (B, 3, H, W) in [0, 1]; ``c`` is
the severity's record (named fields) from the corruption's ``@corruption`` decorator. Semantics follow hendrycks/robustness make_cifar_c.py /
make_imagenet_c.py per image; where we deliberately differ:
- motion_blur / snow: ImageMagick's MagickMotionBlurImage (via Wand) is replaced by ``filters.motion_blur``, the same
  one-sided Gaussian line kernel with edge pixels repeated, in float (ImageMagick rounds to 8 bits).
- frost: the reference's photographs, from the imagecorruptions package; synthetic textures (weaker) only when that
  package is absent, and then results are labelled (``textures.py``).
- glass_blur is not a deviation but easy to misread: the reference's "swap" line ``x[h, w], x[h', w'] = x[h', w'],
  x[h, w]`` runs on rows of a numpy array, whose right-hand side holds views, so it COPIES x[h', w'] into x[h, w] and
  leaves x[h', w'] unchanged (pixels are duplicated, none is swapped), in descending raster order, so copies chain.
  ``glass_sources`` resolves each pixel's final source per iteration without a per-pixel loop; equal to the per-image
  port of the loop (``reference.glass_shuffle_loop``) on the same draws (tests).
- jpeg_compression uses cv2's libjpeg-turbo on the host on every device (byte-identical to PIL's save/open at the same
  quality here; from a GPU: one copy each way, images coded on parallel threads); pixelate is Pillow's 8-bit
  fixed-point BOX resize (bit-identical to PIL).
- shot_noise draws Poisson counts by per-pixel-value alias tables (same distribution, different stream than
  torch.poisson).
- impulse_noise and shot_noise take their uniforms from 32-bit integer draws (two per 64-bit generator call): the same
  distributions to 2^-32, a different stream than torch.rand.
- outputs are truncated to uint8 like the reference's ``np.uint8(...)`` (with a 1e-3 guard so exact integers survive).
- on CPU, shot/impulse noise, fog and pixelate run compiled (``compiled.py``, numba); the random three take one key per
  image from the generator, expanded by SplitMix64: a CPU stream other than the torch kernels' below, same distributions.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from typing import Any, NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from augmix_lab.corruptions import constants as K
from augmix_lab.corruptions import filters
from augmix_lab.corruptions.registry import CORRUPTIONS, check_profile, corruption
from augmix_lab.corruptions.textures import FROST_DRAWN, frost_stack, plasma_draws, plasma_from_draws
from augmix_lab.device import device_cached, device_constant
from augmix_lab.errors import UserError

Params = dict[str, Any]
# float arange of the reference's np.arange(1, stop, step): 1.06 with step .01 includes 1.06 itself (7 zooms)
_zooms = K.float_arange


# ---- severity records: one NamedTuple per corruption, fields named after the reference scripts' variables -----------
class Sigma(NamedTuple):
    sigma: float


class Photons(NamedTuple):
    photons: float  # poisson rate multiplier (make_cifar_c.py shot_noise c)


class Amount(NamedTuple):
    amount: float  # fraction of values flipped to salt or pepper


class Glass(NamedTuple):
    sigma: float
    delta: int
    iterations: int


class Defocus(NamedTuple):
    radius: float
    alias_blur: float


class Motion(NamedTuple):
    radius: float
    sigma: float


class Zoom(NamedTuple):
    zooms: tuple[float, ...]


class Snow(NamedTuple):
    loc: float
    scale: float
    zoom: float
    threshold: float
    radius: float
    sigma: float
    blend: float


class Frost(NamedTuple):
    image_weight: float
    frost_weight: float


class Fog(NamedTuple):
    strength: float
    wibbledecay: float


class Shift(NamedTuple):
    shift: float  # added to HSV value


class Factor(NamedTuple):
    factor: float


class Saturate(NamedTuple):
    scale: float
    shift: float


class Quality(NamedTuple):
    quality: int


class Elastic(NamedTuple):
    alpha: float  # in units of the profile's unit length (ELASTIC_UNIT)
    sigma: float
    affine: float


class Spatter(NamedTuple):
    loc: float
    scale: float
    sigma: float
    threshold: float
    intensity: float
    mode: int  # 0 = water, 1 = mud


def _records(cls: type, *values: Any) -> tuple:
    return tuple(cls(*v) if isinstance(v, tuple) else cls(v) for v in values)


def _randn(x: torch.Tensor, g: torch.Generator | None, shape: tuple | None = None) -> torch.Tensor:
    return torch.randn(shape or x.shape, generator=g, device=x.device, dtype=x.dtype)


def _rand(x: torch.Tensor, g: torch.Generator | None, shape: tuple | None = None) -> torch.Tensor:
    return torch.rand(shape or x.shape, generator=g, device=x.device, dtype=x.dtype)


def _uniform_bits32(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """Uniform int32 over [-2^31, 2^31) per element of ``x`` (batch-first), two per 64-bit draw: half the
    generator calls of ``torch.rand`` (which spends one 32-bit draw per float32 value)."""
    b = x.shape[0]
    per_image = x[0].numel()
    words = torch.randint(
        -(2**63), 2**63 - 1, (b, (per_image + 1) // 2), generator=g, device=x.device, dtype=torch.int64
    )
    return words.view(torch.int32)[:, :per_image].reshape(x.shape)


def _uniform(x: torch.Tensor, g: torch.Generator | None, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(x.shape[0], generator=g, device=x.device, dtype=torch.float64)


def _alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table of a pmf: draw j uniform, keep it with probability prob[j], else take alias[j]."""
    k = len(p)
    q = p * k
    prob, alias = np.ones(k), np.arange(k)
    small = [i for i in range(k) if q[i] < 1]
    large = [i for i in range(k) if q[i] >= 1]
    while small and large:
        s, big = small.pop(), large.pop()
        prob[s], alias[s] = q[s], big
        q[big] += q[s] - 1
        (small if q[big] < 1 else large).append(big)
    return prob, alias  # leftovers keep probability 1 (rounding residue)


@functools.lru_cache(maxsize=32)
def _poisson_alias(photons: float) -> tuple[np.ndarray, np.ndarray]:
    """Alias tables of Poisson(v / 255 * photons) for every 8-bit value v: (256, K) probabilities and aliases.

    K = rate + 15 sqrt(rate) + 20 leaves out an upper tail of probability below 1e-30 for every rate used here.
    """
    from scipy.stats import poisson

    lam = np.arange(256) / 255 * photons
    k_max = int(lam[-1] + 15 * math.sqrt(lam[-1]) + 20)
    pmf = poisson.pmf(np.arange(k_max)[None, :], lam[:, None])
    tables = [_alias_table(row / row.sum()) for row in pmf]
    return np.stack([t[0] for t in tables]), np.stack([t[1] for t in tables])


@device_cached
def _poisson_alias_tensors(photons: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``_poisson_alias`` flattened, as tensors (on each device once: ~1.7 MB at the CIFAR rates)."""
    prob, alias = _poisson_alias(photons)
    return torch.as_tensor(prob).reshape(-1), torch.as_tensor(alias).reshape(-1)


def _poisson_of_pixels(x: torch.Tensor, photons: float, u: torch.Tensor) -> torch.Tensor:
    """Poisson(x * photons) counts for x in {0, 1/255, ..., 1}, from one uniform ``u`` per value (alias method).

    Same distribution as ``torch.poisson`` / ``np.random.poisson`` (make_cifar_c.py shot_noise): x takes only 256
    values, so each has an exact alias table; the integer part of u * K picks the column, its fraction the branch.
    """
    prob, alias = _poisson_alias_tensors(float(photons), device=x.device)
    k = prob.shape[0] // 256
    t = u * k
    col = t.floor()
    frac = t - col
    col = col.to(torch.int64).clamp_(max=k - 1)
    idx = torch.round(x * 255).to(torch.int64).mul_(k).add_(col)
    return torch.where(frac < prob[idx], col, alias[idx]).to(x.dtype)


# ---- noise -----------------------------------------------------------------------------------------------------------
@corruption(
    "gaussian_noise",
    family="noise",
    benchmark=True,
    order=0,
    cifar=_records(Sigma, 0.04, 0.06, 0.08, 0.09, 0.10),  # make_cifar_c.py gaussian_noise
    imagenet=_records(Sigma, 0.08, 0.12, 0.18, 0.26, 0.38),  # make_imagenet_c.py gaussian_noise
    sample=lambda x, c, g, p: {"noise": _randn(x, g).mul_(c.sigma)},
)
def gaussian_noise(x: torch.Tensor, c: Sigma, params: Params, profile: str) -> torch.Tensor:
    return x + params["noise"]


@corruption(
    "shot_noise",
    family="noise",
    benchmark=True,
    order=1,
    cifar=_records(Photons, 500, 250, 100, 75, 50),  # make_cifar_c.py shot_noise
    imagenet=_records(Photons, 60, 25, 12, 5, 3),  # make_imagenet_c.py shot_noise
    sample=lambda x, c, g, p: {"u": _uniform_bits32(x, g)},
)
def shot_noise(x: torch.Tensor, c: Photons, params: Params, profile: str) -> torch.Tensor:
    # u in [0, 1) from the 32-bit integer uniforms (exact in float64): the alias method's column and branch draw
    u = params["u"].to(torch.float64).add_(2**31).mul_(2**-32)
    return _poisson_of_pixels(x, c.photons, u) / c.photons


@corruption(
    "impulse_noise",
    family="noise",
    benchmark=True,
    order=2,
    cifar=_records(Amount, 0.01, 0.02, 0.03, 0.05, 0.07),  # make_cifar_c.py impulse_noise
    imagenet=_records(Amount, 0.03, 0.06, 0.09, 0.17, 0.27),  # make_imagenet_c.py impulse_noise
    sample=lambda x, c, g, p: {"u": _uniform_bits32(x, g)},
)
def impulse_noise(x: torch.Tensor, c: Amount, params: Params, profile: str) -> torch.Tensor:
    # skimage.util.random_noise(mode='s&p', amount=c, salt_vs_pepper=0.5), per value (channel) like skimage. One
    # uniform decides both: u < amount flips (P = amount), and given a flip u < amount / 2 is salt (P = 1/2). u is
    # a 32-bit integer uniform, compared with the probabilities scaled to 2^32 (finer than float32's 2^-24 steps)
    u = params["u"]
    flip, salt = (math.floor(p * 2**32) - 2**31 for p in (c.amount, c.amount / 2))
    return torch.where(u < flip, (u < salt).to(x.dtype), x)


@corruption(
    "speckle_noise",
    family="noise",
    benchmark=False,
    order=15,
    cifar=_records(Sigma, 0.06, 0.1, 0.12, 0.16, 0.2),  # make_cifar_c.py speckle_noise
    imagenet=_records(Sigma, 0.15, 0.2, 0.35, 0.45, 0.6),  # make_imagenet_c.py speckle_noise
    sample=lambda x, c, g, p: {"noise": _randn(x, g).mul_(c.sigma)},
)
def speckle_noise(x: torch.Tensor, c: Sigma, params: Params, profile: str) -> torch.Tensor:
    return x + x * params["noise"]


# ---- blur ------------------------------------------------------------------------------------------------------------
@corruption(
    "gaussian_blur",
    family="blur",
    benchmark=False,
    order=16,
    cifar=_records(Sigma, 0.4, 0.6, 0.7, 0.8, 1),  # make_cifar_c.py gaussian_blur
    imagenet=_records(Sigma, 1, 2, 3, 4, 6),
)  # make_imagenet_c.py gaussian_blur
def gaussian_blur(x: torch.Tensor, c: Sigma, params: Params, profile: str) -> torch.Tensor:
    return filters.gaussian_filter(x, c.sigma, mode="edge")  # skimage gaussian: mode='nearest', truncate=4


def _glass_sample(x: torch.Tensor, c: Glass, g: torch.Generator | None, profile: str) -> Params:
    delta, iterations = c.delta, c.iterations
    b, _, h, w = x.shape
    # np.random.randint(-delta, delta): offsets in [-delta, delta - 1], one (dx, dy) per visited position
    shape = (iterations, 2, b, h, w)
    # batch-first view of the same draws (every params tensor is batch-first, see ``corrupt``)
    return {"offsets": torch.randint(-delta, delta, shape, generator=g, device=x.device).movedim(2, 0)}


def glass_sources(offsets: torch.Tensor, delta: int, sync_free: bool | None = None) -> torch.Tensor:
    """Flat source index (B, H*W) of every pixel after one iteration of make_cifar_c.py's glass_blur loop.

    ``offsets`` (B, 2, H, W): (dx, dy) drawn for each position. The reference visits (h, w) in descending raster order
    over rows and columns delta+1 .. size-delta and runs ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy rows,
    which copies x[h', w'] into x[h, w] and leaves x[h', w'] as it was. So each visited pixel p is written once, with
    the current value of q = p + (dy, dx): q's own new value when q was visited before p (inside the visited window
    and later in raster order), else q's value from before the iteration. Following those links (pointer jumping,
    O(log chain) gathers, no per-pixel loop) gives each pixel's final source; with delta = 1 no link exists
    (dy, dx in {-1, 0}). ``sync_free`` (default: off the CPU) runs a fixed number of doublings instead of stopping
    at convergence, so nothing is read back to the host.
    """
    b, _, h, w = offsets.shape
    dev = offsets.device
    rows = torch.arange(h, device=dev)[:, None]
    cols = torch.arange(w, device=dev)[None, :]
    pos = rows * w + cols

    def window(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # reference: range(size - delta, delta, -1)
        return (r > delta) & (r <= h - delta) & (c > delta) & (c <= w - delta)

    dx, dy = offsets[:, 0], offsets[:, 1]
    visited = window(rows, cols)
    src = torch.where(visited, pos + dy * w + dx, pos)
    if delta < 2 or min(h, w) <= 2 * delta:  # no link can exist (or nothing is visited)
        return src.reshape(b, h * w)
    linked = visited & window(rows + dy, cols + dx) & (src > pos)
    nxt = torch.where(linked, src, pos).reshape(b, h * w)
    sync_free = dev.type != "cpu" if sync_free is None else sync_free
    for _ in range(max(1, (h * w).bit_length())):  # chains are shorter than H*W: this many doublings always suffice
        jumped = nxt.gather(1, nxt)
        if not sync_free and torch.equal(jumped, nxt):  # converged
            break
        nxt = jumped
    return src.reshape(b, h * w).gather(1, nxt)


def glass_shuffle(x: torch.Tensor, delta: int, offsets: torch.Tensor) -> torch.Tensor:
    """make_cifar_c.py / make_imagenet_c.py glass_blur's "locally shuffle pixels" loop on a batch (see module doc).

    ``offsets`` (B, iterations, 2, H, W): per iteration (dx, dy) for every position (only the visited ones are used).
    """
    b, ch, h, w = x.shape
    flat = x.reshape(b, ch, h * w)
    for it in range(offsets.shape[1]):
        src = glass_sources(offsets[:, it], delta)
        flat = flat.gather(2, src[:, None, :].expand(b, ch, h * w))
    return flat.reshape(b, ch, h, w)


@corruption(
    "glass_blur",
    family="blur",
    benchmark=True,
    order=4,
    monotone=False,
    sample=_glass_sample,
    # make_cifar_c.py glass_blur
    cifar=_records(Glass, (0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    # make_imagenet_c.py glass_blur
    imagenet=_records(Glass, (0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
)
def glass_blur(x: torch.Tensor, c: Glass, params: Params, profile: str) -> torch.Tensor:
    sigma, delta = c.sigma, c.delta
    x = (
        torch.floor(filters.gaussian_filter(x, sigma, mode="edge") * 255) / 255
    )  # reference: np.uint8(gaussian(...) * 255)
    x = glass_shuffle(x, delta, params["offsets"])
    return filters.gaussian_filter(x, sigma, mode="edge")


@functools.lru_cache(maxsize=32)
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """make_cifar_c.py disk(): normalised aliased disk (17x17 when radius <= 8), anti-aliased by cv2.GaussianBlur."""
    grid: np.ndarray
    if radius <= 8:
        grid, ksize = np.arange(-8, 8 + 1), (3, 3)  # make_cifar_c.py disk: L = arange(-8, 9), ksize (3, 3)
    else:
        grid, ksize = np.arange(-radius, radius + 1), (5, 5)  # make_cifar_c.py disk: ksize (5, 5) for radius > 8
    xx, yy = np.meshgrid(grid, grid)
    aliased = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    aliased /= aliased.sum()
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


@corruption(
    "defocus_blur",
    family="blur",
    benchmark=True,
    order=3,
    cifar=_records(Defocus, (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),  # make_cifar_c.py
    imagenet=_records(Defocus, (3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
)  # make_imagenet_c.py
def defocus_blur(x: torch.Tensor, c: Defocus, params: Params, profile: str) -> torch.Tensor:
    return filters.filter2d(
        x, disk_kernel(float(c.radius), float(c.alias_blur)), mode="reflect"
    )  # cv2.filter2D BORDER_REFLECT_101


@corruption(
    "motion_blur",
    family="blur",
    benchmark=True,
    order=5,
    cifar=_records(Motion, (6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),  # make_cifar_c.py motion_blur
    imagenet=_records(Motion, (10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),  # make_imagenet_c.py
    sample=lambda x, c, g, p: {"angle": _uniform(x, g, -45, 45)},
)
def motion_blur(x: torch.Tensor, c: Motion, params: Params, profile: str) -> torch.Tensor:
    return filters.motion_blur(x, c.radius, c.sigma, params["angle"])  # make_cifar_c.py: angle ~ U(-45, 45)


@corruption(
    "zoom_blur",
    family="blur",
    benchmark=True,
    order=6,
    cifar=_records(Zoom, *((_zooms(s, 0.01),) for s in (1.06, 1.11, 1.16, 1.21, 1.26))),  # make_cifar_c.py
    imagenet=_records(
        Zoom,
        (_zooms(1.11, 0.01),),
        (_zooms(1.16, 0.01),),
        (_zooms(1.21, 0.02),),
        (_zooms(1.26, 0.02),),
        (_zooms(1.31, 0.03),),
    ),
)  # make_imagenet_c.py zoom_blur
def zoom_blur(x: torch.Tensor, c: Zoom, params: Params, profile: str) -> torch.Tensor:
    out = x.clone()
    for zoom in c.zooms:
        out += filters.clipped_zoom(x, zoom)
    return out / (len(c.zooms) + 1)


# ---- weather ---------------------------------------------------------------------------------------------------------
def _snow_sample(x: torch.Tensor, c: Snow, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    layer = _randn(x, g, (b, 1, h, w)).mul_(c.scale).add_(c.loc)  # in place: no second batch-sized tensor
    return {"layer": layer, "angle": _uniform(x, g, -135, -45)}  # make_cifar_c.py snow: angle ~ U(-135, -45)


def snow_layer(
    layer: torch.Tensor, zoom: float, threshold: float, radius: float, sigma: float, angle: torch.Tensor
) -> torch.Tensor:
    """Zoomed, thresholded, 8-bit quantised and motion-blurred snow flakes (B, 1, H, W), as make_cifar_c.py snow."""
    layer = filters.clipped_zoom(layer, zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255  # PIL 'L' image via astype(uint8)
    return torch.round(filters.motion_blur(layer, radius, sigma, angle) * 255) / 255  # 8-bit PNG out of ImageMagick


@corruption(
    "snow",
    family="weather",
    benchmark=True,
    order=7,
    sample=_snow_sample,
    cifar=_records(
        Snow,  # make_cifar_c.py snow
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    imagenet=_records(
        Snow,  # make_imagenet_c.py snow
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ),
)
def snow(x: torch.Tensor, c: Snow, params: Params, profile: str) -> torch.Tensor:
    flakes = snow_layer(params["layer"], c.zoom, c.threshold, c.radius, c.sigma, params["angle"])
    blend = c.blend
    x = blend * x + (1 - blend) * torch.maximum(x, filters.rgb_to_gray(x) * 1.5 + 0.5)
    return x + flakes + torch.rot90(flakes, 2, dims=(-2, -1))


def _frost_sample(x: torch.Tensor, c: Frost, g: torch.Generator | None, profile: str) -> Params:
    b = x.shape[0]
    idx = torch.randint(0, FROST_DRAWN, (b,), generator=g, device=x.device)  # reference: np.random.randint(5)
    u = torch.rand(b, 2, generator=g, device=x.device, dtype=torch.float64)
    return {"index": idx, "unit_offset": u}


@corruption(
    "frost",
    family="weather",
    benchmark=True,
    order=8,
    monotone=False,
    sample=_frost_sample,
    cifar=_records(Frost, (1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),  # make_cifar_c.py
    imagenet=_records(Frost, (1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
)  # make_imagenet_c.py
def frost(x: torch.Tensor, c: Frost, params: Params, profile: str) -> torch.Tensor:
    b, _, h, w = x.shape
    stack, room = frost_stack(K.FROST_TEXTURE_SCALE[profile], h, w, str(x.device))
    idx = params["index"]
    # reference: x_start, y_start = randint(0, tex_h - H), randint(0, tex_w - W), i.e. floor(u * room)
    corner = (params["unit_offset"] * room[idx]).long()
    crops = frost_crops(stack, idx, corner, h, w)
    # the same roundings as image_weight * x + frost_weight * (crops / 255), in two temporaries instead of five
    crops = crops.to(x.dtype).div_(255).mul_(c.frost_weight)
    return torch.mul(x, c.image_weight).add_(crops)


def frost_crops(
    stack: torch.Tensor, idx: torch.Tensor, corner: torch.Tensor, h: int, w: int, gather: bool | None = None
) -> torch.Tensor:
    """(B, 3, h, w) crops of ``stack`` (textures, 3, H, W) at ``corner`` (B, 2). ``gather`` (default: off the CPU) takes
    them in one index gather on the device, no host round trip; on CPU strided copies are ~3x faster (measured) and
    reading the corners costs no device sync."""
    b = idx.shape[0]
    if gather if gather is not None else stack.device.type != "cpu":
        rows = (corner[:, 0, None] + torch.arange(h, device=stack.device))[:, None, :, None]
        cols = (corner[:, 1, None] + torch.arange(w, device=stack.device))[:, None, None, :]
        channels = torch.arange(3, device=stack.device)[None, :, None, None]
        return stack[idx[:, None, None, None], channels, rows, cols]
    crops = torch.empty(b, 3, h, w, dtype=stack.dtype)
    for i, (t, (top, left)) in enumerate(zip(idx.tolist(), corner.tolist())):
        crops[i] = stack[t, :, top : top + h, left : left + w]
    return crops


def _fog_sample(x: torch.Tensor, c: Fog, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    # the draws come pre-multiplied by their level's wibble (in place; the same values plasma_fractal forms)
    return {"draws": plasma_draws(b, _fog_mapsize(profile, h, w), g, x.device, wibbledecay=c.wibbledecay)}


def _fog_mapsize(profile: str, h: int, w: int) -> int:
    return max(K.FOG_MAPSIZE[profile], 1 << (max(h, w) - 1).bit_length())


@corruption(
    "fog",
    family="weather",
    benchmark=True,
    order=9,
    sample=_fog_sample,
    cifar=_records(Fog, (0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),  # make_cifar_c.py fog
    imagenet=_records(Fog, (1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
)  # make_imagenet_c.py fog
def fog(x: torch.Tensor, c: Fog, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    plasma = plasma_from_draws(params["draws"], _fog_mapsize(profile, h, w), c.wibbledecay, prescaled=True)
    plasma = plasma[:, None, :h, :w]
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)
    x = x + c.strength * plasma.to(x.dtype)
    return x * max_val / (max_val + c.strength)


@corruption(
    "brightness",
    family="weather",
    benchmark=True,
    order=10,
    cifar=_records(Shift, 0.05, 0.1, 0.15, 0.2, 0.3),  # make_cifar_c.py brightness
    imagenet=_records(Shift, 0.1, 0.2, 0.3, 0.4, 0.5),
)  # make_imagenet_c.py brightness
def brightness(x: torch.Tensor, c: Shift, params: Params, profile: str) -> torch.Tensor:
    # rgb2hsv -> V + c clipped -> hsv2rgb keeps hue and saturation, i.e. scales RGB by V'/V (grey V'=c when V = 0)
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c.shift).clamp(0, 1)
    return torch.where(v > 0, x * v_new / v.clamp_min(1e-12), v_new.expand_as(x))


def _spatter_sample(x: torch.Tensor, c: Spatter, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    return {"liquid": _randn(x, g, (b, 1, h, w)).mul_(c.scale).add_(c.loc)}


def spatter_water_mask(liquid: np.ndarray, intensity: float) -> np.ndarray:
    """make_cifar_c.py spatter water branch on one thresholded liquid layer (H, W) -> mask (H, W) float32."""
    liquid_u8 = (liquid * 255).astype(np.uint8)
    dist = 255 - cv2.Canny(liquid_u8, 50, 150)  # make_cifar_c.py spatter: Canny(50, 150)
    dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)  # make_cifar_c.py spatter: truncate distances at 20
    dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
    dist = cv2.equalizeHist(dist)
    ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])  # make_cifar_c.py spatter emboss kernel
    dist = cv2.filter2D(dist, cv2.CV_8U, ker)
    dist = cv2.blur(dist, (3, 3)).astype(np.float32)
    m = liquid_u8 * dist
    peak = m.max()
    return (m / peak if peak > 0 else m * 0) * intensity


@corruption(
    "spatter",
    family="weather",
    benchmark=False,
    order=17,
    monotone=False,
    sample=_spatter_sample,
    cifar=_records(
        Spatter,  # make_cifar_c.py spatter
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ),
    imagenet=_records(
        Spatter,  # make_imagenet_c.py spatter
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ),
)
def spatter(x: torch.Tensor, c: Spatter, params: Params, profile: str) -> torch.Tensor:
    sigma, threshold, intensity, mode = c.sigma, c.threshold, c.intensity, c.mode
    liquid = filters.gaussian_filter(params["liquid"].double(), sigma, mode="edge")
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if mode == 0:
        # cv2's Canny / distance transform have no torch kernel: one copy of the batch to the host and one back
        layers = liquid[:, 0].cpu().numpy()
        m = torch.from_numpy(np.stack([spatter_water_mask(layer, intensity) for layer in layers]))[:, None]
        m = m.to(x.device, x.dtype)
        color = device_constant(K.WATER_COLOR_BGR, x.device, x.dtype).view(1, 3, 1, 1)
        return x + m * color  # the reference treats the RGB array as BGR, so channel order passes through
    m = (liquid > threshold).to(torch.float64)
    m = filters.gaussian_filter(m, intensity, mode="edge").to(x.dtype)
    m = torch.where(m < 0.8, torch.zeros_like(m), m)  # make_cifar_c.py spatter mud: m[m < 0.8] = 0
    color = device_constant(K.MUD_COLOR_RGB, x.device, x.dtype).view(1, 3, 1, 1)
    return x * (1 - m) + color * m


# ---- digital ---------------------------------------------------------------------------------------------------------
@corruption(
    "contrast",
    family="digital",
    benchmark=True,
    order=11,
    cifar=_records(Factor, 0.75, 0.5, 0.4, 0.3, 0.15),  # make_cifar_c.py contrast
    imagenet=_records(Factor, 0.4, 0.3, 0.2, 0.1, 0.05),
)  # make_imagenet_c.py contrast
def contrast(x: torch.Tensor, c: Factor, params: Params, profile: str) -> torch.Tensor:
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * c.factor + means


@corruption(
    "saturate",
    family="digital",
    benchmark=False,
    order=18,
    monotone=False,
    cifar=_records(Saturate, (0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),  # make_cifar_c.py saturate
    imagenet=_records(Saturate, (0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
)  # make_imagenet_c.py
def saturate(x: torch.Tensor, c: Saturate, params: Params, profile: str) -> torch.Tensor:
    # rgb2hsv -> S*a + b clipped -> hsv2rgb with hue and value kept: channel = V - S' * (V - channel) / S (S = 1 - min/V).
    v = x.amax(dim=1, keepdim=True)
    mn = x.amin(dim=1, keepdim=True)
    s = torch.where(v > 0, (v - mn) / v.clamp_min(1e-12), torch.zeros_like(v))
    s_new = (s * c.scale + c.shift).clamp(0, 1)
    chroma = v - mn
    coloured = v - s_new * v * (v - x) / chroma.clamp_min(1e-12)
    # skimage gives grey pixels hue 0 (red), so a saturation offset tints them red: (V, V(1-S'), V(1-S'))
    grey = torch.cat([v, v * (1 - s_new), v * (1 - s_new)], dim=1)
    return torch.where(chroma > 0, coloured, grey)


def _to_uint8(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    # = floor(clamp(x, 0, 1) * 255 + 1e-3): clamping after the affine map gives the same values, and the uint8 cast
    # truncates, which is floor on [0, 255]; one temporary instead of four. Via int32: torch's float -> uint8 cast
    # is ~3x slower than float -> int32 -> uint8 on CPU (measured)
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.numel() > _MAX_BUFFER_ELEMENTS:
        y = torch.mul(x, 255).add_(1e-3).clamp_(0, 255).to(torch.int32).to(torch.uint8)
        return y if out is None else out.copy_(y)
    # on CPU the two temporaries are per-thread buffers reused across calls (a fresh chunk-sized tensor can cost
    # more in first-touch page faults than the arithmetic); the same operations, so the same values
    f = _scratch("to_uint8_f", x.numel(), torch.float32).view(x.shape)
    i = _scratch("to_uint8_i", x.numel(), torch.int32).view(x.shape)
    torch.mul(x, 255, out=f).add_(1e-3).clamp_(0, 255)
    i.copy_(f)  # float -> int32 truncates, like .to(torch.int32)
    return (torch.empty(x.shape, dtype=torch.uint8) if out is None else out).copy_(i)


def jpeg_cpu(images: torch.Tensor, quality: int, workers: int | None = None) -> torch.Tensor:
    """JPEG re-encode of uint8 (N, 3, H, W) CPU images at ``quality``, decoded back to uint8, image by image on
    ``workers`` threads (default: torch's thread count; cv2 releases the GIL, and each image is independent).

    cv2's libjpeg-turbo with IMWRITE_JPEG_QUALITY: same standard tables and 4:2:0 subsampling as PIL's
    save(quality=q) / open (byte-identical outputs, checked), at about twice PIL's speed per image.
    cv2.merge / cv2.split: SIMD plane <-> interleaved copies (a torch permute of uint8 is ~10x slower).
    """
    planes = images.numpy()
    flags = [cv2.IMWRITE_JPEG_QUALITY, quality]
    out = np.empty(planes.shape, np.uint8)

    def run(rows: range) -> None:
        for i in rows:
            img, dst = planes[i], out[i]
            bgr = cv2.imdecode(cv2.imencode(".jpg", cv2.merge((img[2], img[1], img[0])), flags)[1], cv2.IMREAD_COLOR)
            dst[2], dst[1], dst[0] = cv2.split(bgr)

    n = len(planes)
    workers = max(1, min(n, workers or torch.get_num_threads()))
    if workers == 1:
        run(range(n))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, [range(k, n, workers) for k in range(workers)]))
    return torch.from_numpy(out)  # uint8: ``corrupt`` passes 8-bit results through


@corruption(
    "jpeg_compression",
    family="digital",
    benchmark=True,
    order=14,
    cifar=_records(Quality, 80, 65, 58, 50, 40),  # make_cifar_c.py jpeg_compression
    imagenet=_records(Quality, 25, 18, 15, 10, 7),
)  # make_imagenet_c.py jpeg_compression
def jpeg_compression(x: torch.Tensor, c: Quality, params: Params, profile: str) -> torch.Tensor:
    if x.device.type == "cpu":
        return jpeg_cpu(_to_uint8(x), int(c.quality))
    # libjpeg on the host (the reference's codec, byte-identical to PIL; nvjpeg's encoder is not): one copy of the
    # batch each way, the images coded in parallel on every host core while the device waits
    pixels = jpeg_cpu(_to_uint8(x).cpu(), int(c.quality), workers=os.cpu_count())
    return pixels.to(x.device)  # uint8: ``corrupt`` passes 8-bit results through


@corruption(
    "pixelate",
    family="digital",
    benchmark=True,
    order=13,
    cifar=_records(Factor, 0.95, 0.9, 0.85, 0.75, 0.65),  # make_cifar_c.py pixelate
    imagenet=_records(Factor, 0.6, 0.5, 0.4, 0.3, 0.25),
)  # make_imagenet_c.py pixelate
def pixelate(x: torch.Tensor, c: Factor, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    sh, sw = int(h * c.factor), int(w * c.factor)  # make_cifar_c.py pixelate: resize to int(32 * c) with BOX, then back
    # Pillow's 8-bit BOX resize, horizontal pass then vertical, each rounded to 8 bits (libImaging/Resample.c). The
    # up-scaling passes are pure gathers, which commute with the other axis' pass, so both down passes run first. Each
    # down pass is a gather of whole rows (filters.pil_box_down_rows): the width pass runs on the transposed image,
    # written as int16 once into a buffer with the zero row that rows with fewer taps read
    if sh >= h or sw >= w:  # factor >= 1 (not a -C constant): the generic per-axis path
        v = torch.round(x * 255).to(torch.int32)
        v = filters.pil_box_resize_axis(filters.pil_box_resize_axis(v, sw, -1), w, -1)
        return filters.pil_box_resize_axis(filters.pil_box_resize_axis(v, sh, -2), h, -2).to(torch.uint8)
    return pixelate_pixels(torch.mul(x, 255).round_(), sh, sw).contiguous()


def pixelate_pixels(v: torch.Tensor, sh: int, sw: int) -> torch.Tensor:
    """``pixelate`` on 8-bit pixel values ``v`` (uint8, or float integers) with down sizes sh < h, sw < w: uint8."""
    b, ch, h, w = v.shape
    vz = torch.zeros(b, ch, w + 1, h, dtype=torch.int16, device=v.device)
    vz[..., :w, :].copy_(v.transpose(-1, -2))
    v = filters.pil_box_down_rows(vz, w, sw)  # (B, C, sw, h): width reduced
    vz = torch.zeros(b, ch, h + 1, sw, dtype=torch.int32, device=v.device)
    vz[..., :h, :].copy_(v.transpose(-1, -2))
    v = filters.pil_box_down_rows(vz, h, sh).to(torch.uint8)  # (B, C, sh, sw)
    dev = str(v.device)
    # both up passes as row gathers: the height pass, then the width pass on the transposed (small) image; the
    # result is returned as a transposed view (a gather along the last dim is ~2x slower than the transposing copy)
    v = v.index_select(-2, filters.box_up_index(sh, h, dev)).transpose(-1, -2).contiguous()  # (B, C, sw, h)
    return v.index_select(-2, filters.box_up_index(sw, w, dev)).transpose(-1, -2)  # 8-bit like PIL's result


def _elastic_sample(x: torch.Tensor, c: Elastic, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    return {
        "affine_jitter": torch.rand(b, 3, 2, generator=g, device=x.device, dtype=torch.float64) * 2 - 1,
        "dx": torch.rand(b, 1, h, w, generator=g, device=x.device, dtype=torch.float64).mul_(2).sub_(1),
        "dy": torch.rand(b, 1, h, w, generator=g, device=x.device, dtype=torch.float64).mul_(2).sub_(1),
    }


def elastic_scale(profile: str, h: int) -> float:
    unit, native = K.ELASTIC_UNIT[profile]
    return unit * h / native


@corruption(
    "elastic_transform",
    family="digital",
    benchmark=True,
    order=12,
    monotone=False,
    sample=_elastic_sample,
    # make_cifar_c.py elastic_transform, in units of IMSIZE=32
    cifar=_records(Elastic, (0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    # make_imagenet_c.py elastic_transform, in units of 244 ("should have been 224")
    imagenet=_records(
        Elastic, (2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)
    ),
)
def elastic_transform(x: torch.Tensor, c: Elastic, params: Params, profile: str) -> torch.Tensor:
    b, ch, h, w = x.shape
    unit = elastic_scale(profile, h)
    alpha, sigma, affine = c.alpha * unit, c.sigma * unit, c.affine * unit
    dev = x.device
    # random affine from three jittered points (cv2.getAffineTransform + warpAffine, BORDER_REFLECT_101)
    center = device_constant((h // 2, w // 2), dev, torch.float64)
    size = min(h, w) // 3
    pts1 = torch.stack([center + size, torch.stack([center[0] + size, center[1] - size]), center - size])
    pts2 = pts1[None] + params["affine_jitter"] * affine
    src = torch.cat([pts1, torch.ones(3, 1, dtype=torch.float64, device=dev)], 1).expand(b, 3, 3)
    # the _ex forms skip the singularity check, a read of its info back to the host (three non-collinear points)
    a_t = torch.linalg.solve_ex(src, pts2).result  # (B, 3, 2): dst = [src, 1] @ a_t
    fwd = torch.zeros(b, 3, 3, dtype=torch.float64, device=dev)
    fwd[:, :2, :] = a_t.transpose(1, 2)
    fwd[:, 2, 2] = 1
    inv = torch.linalg.inv_ex(fwd).inverse
    ys, xs = torch.meshgrid(
        torch.arange(h, device=dev, dtype=torch.float64),
        torch.arange(w, device=dev, dtype=torch.float64),
        indexing="ij",
    )
    pix = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, -1, 3)
    src_xy = (pix @ inv.transpose(1, 2))[..., :2].reshape(b, h, w, 2)
    grid = torch.stack([src_xy[..., 0] / max(w - 1, 1) * 2 - 1, src_xy[..., 1] / max(h - 1, 1) * 2 - 1], -1)
    x = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=True)
    # smooth displacement field (skimage gaussian, mode='reflect', truncate=3) and map_coordinates(order=1, 'reflect')
    dx = filters.gaussian_filter(params["dx"], sigma, mode="symmetric", truncate=3) * alpha
    dy = filters.gaussian_filter(params["dy"], sigma, mode="symmetric", truncate=3) * alpha
    cx = xs[None] + dx[:, 0]
    cy = ys[None] + dy[:, 0]
    grid = torch.stack([(2 * cx + 1) / w - 1, (2 * cy + 1) / h - 1], -1)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)


# ---- entry point -----------------------------------------------------------------------------------------------------
def check_images(images: torch.Tensor, what: str = "images") -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        got = f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}"
        raise UserError(f"{what}: expected a uint8 tensor of shape (N, 3, H, W), got {got}")


def severity_constants(name: str, severity: int, profile: str) -> Any:
    """The constants of ``name`` at ``severity`` (1..5) for ``profile``; UserError names what is allowed."""
    check_profile(profile)
    return CORRUPTIONS.get(name).constants(profile, severity)


def corrupt(
    images: torch.Tensor, name: str, severity: int, generator: torch.Generator | None = None, profile: str = "cifar"
) -> torch.Tensor:
    """Corrupt a uint8 (N, 3, H, W) batch with ``name`` at ``severity`` (1..5); returns uint8 of the same shape.

    Randomness comes only from ``generator`` (on the images' device), so a seeded generator reproduces the output.
    ``profile`` picks the CIFAR (make_cifar_c.py) or ImageNet (make_imagenet_c.py) constants.
    """
    check_images(images)
    c = severity_constants(name, severity, profile)
    spec = CORRUPTIONS.get(name)
    if images.shape[0] == 0:
        return images.clone()
    from augmix_lab.corruptions import compiled

    if compiled.supports(images, name, c):  # fused per-image loops from the uint8 pixels (CPU, numba)
        return compiled.corrupt(images, name, c, generator, profile)
    if (
        name == "pixelate"
        and int(images.shape[-2] * c.factor) < images.shape[-2]
        and int(images.shape[-1] * c.factor) < images.shape[-1]
    ):
        # integer-only kernel: straight from the uint8 pixels (the float detour is most of its cost)
        return _pixelate_uint8(images, c.factor)
    if name == "jpeg_compression":
        # libjpeg works on the uint8 pixels: images / 255 -> uint8 would give them back unchanged (1e-3 guard)
        if images.device.type == "cpu":
            return jpeg_cpu(images.contiguous(), int(c.quality))
        return jpeg_cpu(images.cpu(), int(c.quality), workers=os.cpu_count()).to(images.device)
    x = _float_images(images)
    params = spec.sample(x, c, generator, profile)  # all draws for the whole batch: streams independent of chunking
    return _apply_chunked(images, x, spec, c, params, profile)


def corrupt_shared(
    images: torch.Tensor,
    name: str,
    severity: int,
    generator: torch.Generator | None = None,
    profile: str = "cifar",
    group: int = 1,
) -> torch.Tensor:
    """``corrupt`` where each run of ``group`` consecutive images shares one parameter draw (the same noise field,
    angle, ...): one sampled transform applied to a fixed image set, as Minimal Sample Distance needs (Mintun et al.
    2021, minimal_sample_distance.ipynb: one sampled seed per transform, applied to every image)."""
    check_images(images)
    if group < 1 or images.shape[0] % group:
        raise ValueError(f"corrupt_shared: {images.shape[0]} images is not a multiple of group={group}")
    spec = CORRUPTIONS.get(name)
    if spec.deterministic or group == 1 or images.shape[0] == 0:
        return corrupt(images, name, severity, generator, profile)
    c = severity_constants(name, severity, profile)
    x = _float_images(images)
    params = spec.sample(x[::group], c, generator, profile)  # one draw per group (samplers read shapes only)
    params = _repeat_params(params, group)
    return _apply_chunked(images, x, spec, c, params, profile)


def _apply_chunked(
    images: torch.Tensor, x: torch.Tensor, spec: Any, c: Any, params: Params, profile: str
) -> torch.Tensor:
    """The kernel on ``x`` in cache-sized chunks on CPU (whole batch elsewhere), written as uint8."""
    n = _chunk_images(x)
    if n >= x.shape[0]:
        return _as_uint8(spec.apply(x, c, params, profile))
    out = torch.empty_like(images)
    for i in range(0, x.shape[0], n):
        rows = slice(i, i + n)
        _as_uint8(spec.apply(x[rows], c, _slice_params(params, rows), profile), out[rows])
    return out


def _repeat_params(params: Params, group: int) -> Params:
    """Every batch-first params entry with each row repeated ``group`` times (batch-free values as they are)."""

    def rep(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.repeat_interleave(group, dim=0) if v.ndim else v
        if isinstance(v, (tuple, list)):
            return type(v)(rep(e) for e in v)
        return v

    return {k: rep(v) for k, v in params.items()}


def _pixelate_uint8(images: torch.Tensor, factor: float) -> torch.Tensor:
    h, w = images.shape[-2:]
    sh, sw = int(h * factor), int(w * factor)
    n = _chunk_images(images)
    if n >= images.shape[0]:
        return pixelate_pixels(images, sh, sw).contiguous()
    out = torch.empty_like(images)
    for i in range(0, images.shape[0], n):
        out[i : i + n] = pixelate_pixels(images[i : i + n], sh, sw)
    return out


def _as_uint8(y: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    # kernels whose result is already 8-bit (jpeg, pixelate) may return uint8: no float round trip
    if y.dtype == torch.uint8:
        return y if out is None else out.copy_(y)
    return _to_uint8(y, out)


# images per kernel call on CPU: ~2 MB of float32 per chunk, so temporaries stay in cache and in the malloc heap
# (a whole 224 px batch's temporaries are fresh mmaps whose page faults cost more than the arithmetic; measured)
_CHUNK_ELEMENTS = 1 << 19


_BUFFERS = threading.local()
_MAX_BUFFER_ELEMENTS = 1 << 24  # 64 MB of float32 kept per thread at most


def _float_images(images: torch.Tensor) -> torch.Tensor:
    """images / 255 in float32. On CPU written into a per-thread buffer reused across calls: a fresh 224 px batch
    is an mmap whose first-touch page faults cost as much as a cheap corruption (measured); values are identical."""
    n = images.numel()
    if images.device.type != "cpu" or n > _MAX_BUFFER_ELEMENTS:
        return images.float().div_(255)
    buf = getattr(_BUFFERS, "x", None)
    if buf is None or buf.numel() < n:
        buf = _BUFFERS.x = torch.empty(n)
    return buf[:n].view(images.shape).copy_(images).div_(255)


def _scratch(key: str, n: int, dtype: torch.dtype) -> torch.Tensor:
    """A per-thread CPU buffer of at least ``n`` elements, reused across calls (contents undefined)."""
    buf = getattr(_BUFFERS, key, None)
    if buf is None or buf.numel() < n:
        buf = torch.empty(n, dtype=dtype)
        setattr(_BUFFERS, key, buf)
    return buf[:n]


def _chunk_images(x: torch.Tensor) -> int:
    if x.device.type != "cpu":
        return x.shape[0]  # accelerators want the whole batch in one launch
    return max(1, _CHUNK_ELEMENTS // max(1, x[0].numel()))


def _slice_params(params: Params, rows: slice) -> Params:
    """Rows of every params entry: samplers return batch-first tensors (or tuples of them) or batch-free values."""

    def cut(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v[rows]
        if isinstance(v, (tuple, list)):
            return type(v)(cut(e) for e in v)
        return v

    return {k: cut(v) for k, v in params.items()}


# the C-bar kernels register in the same registry (corruptions/cbar.py)
from augmix_lab.corruptions import cbar as _cbar  # noqa: E402,F401
