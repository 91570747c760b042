"""Per-image NumPy/SciPy/PIL oracle of the -C corruptions, written after make_cifar_c.py / make_imagenet_c.py.

Used by tests (bounded-difference checks of the batched kernels) and by ``benchmarks/corruption_throughput.py`` as the
"reference kind" baseline. Differences from the scripts, all needed to run on today's PyPI stack:
``skimage.filters.gaussian(..., channel_axis=-1)`` instead of the removed ``multichannel=True``; an explicit
``numpy.random.Generator`` instead of the global ``np.random``; ImageMagick motion blur replaced by a per-image NumPy
line kernel with the same semantics (``_motion_blur_np``); the frost photographs read from the installed
imagecorruptions package (``textures.frost_photo_dir``; synthetic textures only when it is absent); glass_blur and
frost also take their draws as arguments (``glass_blur_port``, ``frost_port``) so tests can feed both sides the same.
Input and output: one (H, W, 3) uint8 image.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.resources import as_file
from io import BytesIO

import cv2
import numpy as np
import skimage as sk
from PIL import Image
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scizoom
from skimage.filters import gaussian
from skimage.util import random_noise

from augmix_lab.corruptions import constants as K
from augmix_lab.corruptions.filters import motion_blur_kernel
from augmix_lab.corruptions.functional import CORRUPTIONS, disk_kernel, elastic_scale, spatter_water_mask
from augmix_lab.corruptions.textures import FROST_DRAWN, FROST_FILES, fit_texture, frost_photo_dir, frost_textures


def _clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = scizoom(img[top : top + ch, top : top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top : trim_top + h, trim_top : trim_top + h]


def _motion_blur_np(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    k = motion_blur_kernel(radius, sigma)
    h, w = x.shape[:2]
    out = np.zeros(x.shape, np.float64)
    a = np.deg2rad(angle)
    for i, weight in enumerate(k):
        ox, oy = int(np.ceil(i * np.cos(a) - 0.5)), int(np.ceil(i * np.sin(a) - 0.5))
        rows = np.clip(np.arange(h) + oy, 0, h - 1)
        cols = np.clip(np.arange(w) + ox, 0, w - 1)
        out += weight * x[rows][:, cols]
    return out


def _plasma_fractal(mapsize: int, wibbledecay: float, rng: np.random.Generator) -> np.ndarray:
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize, wibble = mapsize, 100.0
    while stepsize >= 2:
        half = stepsize // 2
        corner = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        sq = corner + np.roll(corner, -1, axis=0)
        sq += np.roll(sq, -1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = sq / 4 + wibble * rng.uniform(
            -wibble, wibble, sq.shape
        )
        dr = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        ul = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        lt = dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = lt / 4 + wibble * rng.uniform(-wibble, wibble, lt.shape)
        tt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = tt / 4 + wibble * rng.uniform(-wibble, wibble, tt.shape)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


# per-image oracles keyed by registered corruption name (tests check the oracle bounds of exactly these)
ORACLES: dict[str, Callable[..., np.ndarray]] = {}


def _oracle(name: str) -> Callable:
    def decorator(fn: Callable) -> Callable:
        ORACLES[name] = fn
        return fn

    return decorator


@_oracle("gaussian_noise")
def _gaussian_noise(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    return x + rng.normal(size=x.shape, scale=c)


@_oracle("shot_noise")
def _shot_noise(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    return rng.poisson(x * c) / c


@_oracle("impulse_noise")
def _impulse_noise(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    return random_noise(x, mode="s&p", amount=c, rng=int(rng.integers(2**31)))


@_oracle("speckle_noise")
def _speckle_noise(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    return x + x * rng.normal(size=x.shape, scale=c)


@_oracle("gaussian_blur")
def _gaussian_blur(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    return gaussian(x, sigma=c, channel_axis=-1)


def glass_shuffle_loop(y: np.ndarray, delta: int, offsets: np.ndarray) -> np.ndarray:
    """make_cifar_c.py / make_imagenet_c.py glass_blur's pixel loop on one (H, W, 3) uint8 image, in place.

    ``offsets`` (iterations, 2, H, W) holds (dx, dy) per position (the reference draws them inside the loop). The
    "swap" line is kept as the reference writes it: on numpy rows it copies y[h', w'] into y[h, w] and leaves
    y[h', w'] unchanged (the right-hand side holds views), and those copies chain in the descending visiting order.
    """
    h, w = y.shape[:2]
    for it in range(offsets.shape[0]):
        for hh in range(h - delta, delta, -1):  # reference: range(32 - c[1], c[1], -1) (224 for ImageNet)
            for ww in range(w - delta, delta, -1):
                dx, dy = offsets[it, 0, hh, ww], offsets[it, 1, hh, ww]
                hp, wp = hh + dy, ww + dx
                y[hh, ww], y[hp, wp] = y[hp, wp], y[hh, ww]
    return y


def glass_blur_port(img: np.ndarray, c, offsets: np.ndarray) -> np.ndarray:
    """The reference glass_blur of one uint8 image with given draws ``offsets`` (see ``glass_shuffle_loop``); float."""
    sigma, delta, _ = c
    y = np.uint8(gaussian(img / 255.0, sigma=sigma, channel_axis=-1) * 255)
    return gaussian(glass_shuffle_loop(y, delta, offsets) / 255.0, sigma=sigma, channel_axis=-1)


@_oracle("glass_blur")
def _glass_blur(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    h, w = img.shape[:2]
    _, delta, iterations = c
    # np.random.randint(-delta, delta, size=(2,)) per visited position: (dx, dy) in [-delta, delta - 1]
    return glass_blur_port(img, c, rng.integers(-delta, delta, size=(iterations, 2, h, w)))


@_oracle("defocus_blur")
def _defocus_blur(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    kernel = disk_kernel(float(c[0]), float(c[1]))
    return np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], -1)


@_oracle("motion_blur")
def _motion_blur(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    return _motion_blur_np(img.astype(np.float64), c[0], c[1], rng.uniform(-45, 45)) / 255


@_oracle("zoom_blur")
def _zoom_blur(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    xf = x.astype(np.float32)
    acc = np.zeros_like(xf)
    for z in c:
        acc += _clipped_zoom(xf, z)
    return (xf + acc) / (len(c) + 1)


@_oracle("snow")
def _snow(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    h, w = img.shape[:2]
    xf = x.astype(np.float32)
    layer = rng.normal(size=(h, w), loc=c[0], scale=c[1])
    layer = _clipped_zoom(layer[..., None], c[2])
    layer[layer < c[3]] = 0
    layer = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8).astype(np.float64)
    layer = np.round(_motion_blur_np(layer, c[4], c[5], rng.uniform(-135, -45)))[..., None] / 255
    xf = c[6] * xf + (1 - c[6]) * np.maximum(xf, cv2.cvtColor(xf, cv2.COLOR_RGB2GRAY).reshape(h, w, 1) * 1.5 + 0.5)
    return xf + layer + np.rot90(layer, k=2)


@functools.lru_cache(maxsize=2)
def frost_photographs(profile: str) -> tuple[np.ndarray, ...]:
    """frost1..5 as make_cifar_c.py / make_imagenet_c.py read them: cv2.imread (BGR), CIFAR resized by 0.2; the
    synthetic fallback textures (``textures.frost_textures``, flipped to BGR) when the photographs are not installed."""
    folder = frost_photo_dir()
    if folder is None:
        return tuple(t[..., ::-1] for t in frost_textures(K.FROST_TEXTURE_SCALE[profile]))
    images: list[np.ndarray] = []
    for name, _ in FROST_FILES[:FROST_DRAWN]:
        with as_file(folder / name) as path:
            image = cv2.imread(str(path))
            if image is None:
                raise OSError(f"{path}: cv2.imread cannot read it")
            images.append(image)
    if profile == "cifar":
        images = [cv2.resize(t, (0, 0), fx=0.2, fy=0.2) for t in images]  # make_cifar_c.py frost
    return tuple(images)


@_oracle("frost")
def _frost(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    return frost_port(img, c, profile, int(rng.integers(FROST_DRAWN)), rng.random(2))


def frost_port(img: np.ndarray, c, profile: str, index: int, unit_offset: np.ndarray) -> np.ndarray:
    """The reference frost of one uint8 image with photograph ``index`` and corner ``floor(unit_offset * room)``
    (the reference's ``np.random.randint(0, size - 32)``); float in [0, 1] before clipping."""
    h, w = img.shape[:2]
    tex = fit_texture(frost_photographs(profile)[index], h, w)  # enlarged only for images larger than a photograph
    top, left = (np.asarray(unit_offset) * (tex.shape[0] - h, tex.shape[1] - w)).astype(np.int64)
    crop = tex[top : top + h, left : left + w][..., [2, 1, 0]]  # reference: BGR -> RGB
    return (c[0] * img.astype(np.float64) + c[1] * crop) / 255


@_oracle("fog")
def _fog(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    h, w = img.shape[:2]
    size = max(K.FOG_MAPSIZE[profile], 1 << (max(h, w) - 1).bit_length())
    max_val = x.max()
    out = x + c[0] * _plasma_fractal(size, c[1], rng)[:h, :w][..., None]
    return out * max_val / (max_val + c[0])


@_oracle("brightness")
def _brightness(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    hsv = sk.color.rgb2hsv(x)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
    return sk.color.hsv2rgb(hsv)


@_oracle("saturate")
def _saturate(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    hsv = sk.color.rgb2hsv(x)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * c[0] + c[1], 0, 1)
    return sk.color.hsv2rgb(hsv)


@_oracle("contrast")
def _contrast(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return (x - means) * c + means


@_oracle("jpeg_compression")
def _jpeg_compression(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    buf = BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=c)
    return np.asarray(Image.open(buf).convert("RGB"))


@_oracle("pixelate")
def _pixelate(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    h, w = img.shape[:2]
    pil = Image.fromarray(img).resize((int(w * c), int(h * c)), Image.BOX)
    return np.asarray(pil.resize((w, h), Image.BOX))


@_oracle("elastic_transform")
def _elastic_transform(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    h, w = img.shape[:2]
    unit = elastic_scale(profile, h)
    alpha, sigma, affine = c[0] * unit, c[1] * unit, c[2] * unit
    image = img.astype(np.float32) / 255
    center = np.asarray((h, w), dtype=np.float32) // 2
    size = min(h, w) // 3
    pts1 = np.asarray([center + size, [center[0] + size, center[1] - size], center - size], dtype=np.float32)
    pts2 = pts1 + rng.uniform(-affine, affine, size=pts1.shape).astype(np.float32)
    m = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    dx = gaussian(rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha
    dy = gaussian(rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha
    xx, yy, zz = np.meshgrid(np.arange(w), np.arange(h), np.arange(3))
    idx = (yy + dy[..., None]).reshape(-1), (xx + dx[..., None]).reshape(-1), zz.reshape(-1)
    return map_coordinates(image, idx, order=1, mode="reflect").reshape(image.shape)


@_oracle("spatter")
def _spatter(img: np.ndarray, x: np.ndarray, c, rng: np.random.Generator, profile: str) -> np.ndarray:
    h, w = img.shape[:2]
    xf = x.astype(np.float32)
    liquid = gaussian(rng.normal(size=(h, w), loc=c[0], scale=c[1]), sigma=c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:
        out = xf + spatter_water_mask(liquid, c[4])[..., None] * np.asarray(K.WATER_COLOR_BGR, dtype=np.float32)
    else:
        m = gaussian(np.where(liquid > c[3], 1, 0).astype(np.float32), sigma=c[4])
        m[m < 0.8] = 0
        out = xf * (1 - m[..., None]) + np.asarray(K.MUD_COLOR_RGB, dtype=np.float32) * m[..., None]
    return out


def reference_corrupt(
    img: np.ndarray, name: str, severity: int, rng: np.random.Generator, profile: str = "cifar"
) -> np.ndarray:
    """One image (H, W, 3) uint8 -> corrupted uint8, per the reference scripts (see module docstring)."""
    c = CORRUPTIONS.get(name).constants(profile, severity)
    c = c[0] if len(c) == 1 else c  # one-field records are the reference scripts' scalar c
    if name not in ORACLES:
        raise KeyError(f"no reference oracle for corruption {name!r}")
    out = ORACLES[name](img, img / 255.0, c, rng, profile)
    return out if out.dtype == np.uint8 else np.uint8(np.clip(out, 0, 1) * 255)  # jpeg / pixelate are uint8 already
