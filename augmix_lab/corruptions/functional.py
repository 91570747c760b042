"""Batched -C corruption kernels: ``corrupt(images_uint8_nchw, name, severity, generator, profile)``.

Each corruption is a pair (torchvision v2 style): ``sample(x, c, generator, profile) -> params`` draws all randomness for
the whole batch, ``apply(x, c, params, profile) -> x`` is deterministic. ``x`` is float (B, 3, H, W) in [0, 1]; ``c`` is
the severity's constants from ``constants.SEVERITY``. Semantics follow hendrycks/robustness make_cifar_c.py /
make_imagenet_c.py per image; where we deliberately differ:
- motion_blur / snow: ImageMagick's MagickMotionBlurImage (via Wand) is replaced by ``filters.motion_blur``, the same
  one-sided Gaussian line kernel with edge pixels repeated, in float (ImageMagick rounds to 8 bits).
- frost: synthetic textures (``textures.py``) instead of the frost photographs.
- glass_blur: the reference swaps pixels one at a time in descending raster order. We group the loop positions into
  residue classes modulo 2*delta+1, whose swaps are disjoint, and apply each class as one batched permutation in the
  order the reference first reaches each class. Every swap happens with the reference's distribution; only the swap
  order differs, so a pixel travels at most ~(2*delta+1) steps per iteration (tests pin the strength as bounded).
- jpeg_compression uses torchvision.io's libjpeg (same standard tables and 4:2:0 subsampling as PIL); pixelate uses
  PIL's BOX weights as matrices, rounding once per resize.
- outputs are truncated to uint8 like the reference's ``np.uint8(...)`` (with a 1e-3 guard so exact integers survive).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from augmix_lab.corruptions import constants as K
from augmix_lab.corruptions import filters
from augmix_lab.corruptions.textures import frost_textures, plasma_fractal
from augmix_lab.errors import UserError
from augmix_lab.registry import Registry

Params = dict[str, Any]


@dataclass(frozen=True)
class CorruptionSpec:
    """One registered corruption: its family, sampler and deterministic kernel."""

    name: str
    family: str
    sample: Callable[[torch.Tensor, Any, torch.Generator | None, str], Params]
    apply: Callable[[torch.Tensor, Any, Params, str], torch.Tensor]


CORRUPTIONS: Registry[CorruptionSpec] = Registry("corruption")


def _no_params(x: torch.Tensor, c: Any, g: torch.Generator | None, profile: str) -> Params:
    return {}


def register_corruption(name: str, sample: Callable = _no_params) -> Callable:
    def decorator(apply: Callable) -> Callable:
        CORRUPTIONS.add(name, CorruptionSpec(name, K.FAMILIES[name], sample, apply))
        return apply

    return decorator


def _randn(x: torch.Tensor, g: torch.Generator | None, shape: tuple | None = None) -> torch.Tensor:
    return torch.randn(shape or x.shape, generator=g, device=x.device, dtype=x.dtype)


def _rand(x: torch.Tensor, g: torch.Generator | None, shape: tuple | None = None) -> torch.Tensor:
    return torch.rand(shape or x.shape, generator=g, device=x.device, dtype=x.dtype)


def _uniform(x: torch.Tensor, g: torch.Generator | None, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(x.shape[0], generator=g, device=x.device, dtype=torch.float64)


# ---- noise -----------------------------------------------------------------------------------------------------------
@register_corruption("gaussian_noise", sample=lambda x, c, g, p: {"noise": _randn(x, g) * c})
def gaussian_noise(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    return x + params["noise"]


@register_corruption("shot_noise", sample=lambda x, c, g, p: {"counts": torch.poisson(x * c, generator=g)})
def shot_noise(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    return params["counts"] / c


@register_corruption("impulse_noise", sample=lambda x, c, g, p: {"flip": _rand(x, g) <= c, "salt": _rand(x, g) <= 0.5})
def impulse_noise(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    # skimage.util.random_noise(mode='s&p', amount=c, salt_vs_pepper=0.5), per value (channel) like skimage
    salt_or_pepper = params["salt"].to(x.dtype)
    return torch.where(params["flip"], salt_or_pepper, x)


@register_corruption("speckle_noise", sample=lambda x, c, g, p: {"noise": _randn(x, g) * c})
def speckle_noise(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    return x + x * params["noise"]


# ---- blur ------------------------------------------------------------------------------------------------------------
@register_corruption("gaussian_blur")
def gaussian_blur(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    return filters.gaussian_filter(x, c, mode="edge")  # skimage gaussian: mode='nearest', truncate=4


def _glass_sample(x: torch.Tensor, c: tuple, g: torch.Generator | None, profile: str) -> Params:
    _, delta, iterations = c
    b, _, h, w = x.shape
    # np.random.randint(-delta, delta): offsets in [-delta, delta - 1], one (dx, dy) per visited position
    shape = (iterations, 2, b, h, w)
    return {"offsets": torch.randint(-delta, delta, shape, generator=g, device=x.device)}


def glass_shuffle(x: torch.Tensor, delta: int, offsets: torch.Tensor) -> torch.Tensor:
    """Local pixel shuffle of make_cifar_c.py glass_blur, as residue-class batched permutations (see module doc)."""
    b, ch, h, w = x.shape
    s = 2 * delta + 1
    flat = x.reshape(b, ch, h * w)
    identity = torch.arange(h * w, device=x.device).expand(b, h * w)
    for it in range(offsets.shape[0]):
        dx_all, dy_all = offsets[it, 0], offsets[it, 1]
        for kh in range(s):
            hs = torch.arange(h - delta - kh, delta, -s, device=x.device)  # reference: range(H - delta, delta, -1)
            if hs.numel() == 0:
                continue
            for kw in range(s):
                ws = torch.arange(w - delta - kw, delta, -s, device=x.device)
                if ws.numel() == 0:
                    continue
                dy = dy_all[:, hs][:, :, ws]
                dx = dx_all[:, hs][:, :, ws]
                p = (hs[:, None] * w + ws[None, :]).expand(b, -1, -1)
                q = p + dy * w + dx
                perm = identity.clone()
                perm.scatter_(1, p.reshape(b, -1), q.reshape(b, -1))
                perm.scatter_(1, q.reshape(b, -1), p.reshape(b, -1))
                flat = flat.gather(2, perm[:, None, :].expand(b, ch, h * w))
    return flat.reshape(b, ch, h, w)


@register_corruption("glass_blur", sample=_glass_sample)
def glass_blur(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    sigma, delta, _ = c
    x = torch.floor(filters.gaussian_filter(x, sigma, mode="edge") * 255) / 255  # reference: np.uint8(gaussian(...) * 255)
    x = glass_shuffle(x, delta, params["offsets"])
    return filters.gaussian_filter(x, sigma, mode="edge")


@functools.lru_cache(maxsize=32)
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """make_cifar_c.py disk(): normalised aliased disk (17x17 when radius <= 8), anti-aliased by cv2.GaussianBlur."""
    if radius <= 8:
        grid, ksize = np.arange(-8, 8 + 1), (3, 3)  # make_cifar_c.py disk: L = arange(-8, 9), ksize (3, 3)
    else:
        grid, ksize = np.arange(-radius, radius + 1), (5, 5)  # make_cifar_c.py disk: ksize (5, 5) for radius > 8
    xx, yy = np.meshgrid(grid, grid)
    aliased = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    aliased /= aliased.sum()
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


@register_corruption("defocus_blur")
def defocus_blur(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    return filters.filter2d(x, disk_kernel(float(c[0]), float(c[1])), mode="reflect")  # cv2.filter2D BORDER_REFLECT_101


@register_corruption("motion_blur", sample=lambda x, c, g, p: {"angle": _uniform(x, g, -45, 45)})
def motion_blur(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    return filters.motion_blur(x, c[0], c[1], params["angle"])  # make_cifar_c.py: angle ~ U(-45, 45)


@register_corruption("zoom_blur")
def zoom_blur(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    out = x.clone()
    for zoom in c:
        out += filters.clipped_zoom(x, zoom)
    return out / (len(c) + 1)


# ---- weather ---------------------------------------------------------------------------------------------------------
def _snow_sample(x: torch.Tensor, c: tuple, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    layer = c[0] + c[1] * _randn(x, g, (b, 1, h, w))
    return {"layer": layer, "angle": _uniform(x, g, -135, -45)}  # make_cifar_c.py snow: angle ~ U(-135, -45)


def snow_layer(layer: torch.Tensor, zoom: float, threshold: float, radius: float, sigma: float,
               angle: torch.Tensor) -> torch.Tensor:
    """Zoomed, thresholded, 8-bit quantised and motion-blurred snow flakes (B, 1, H, W), as make_cifar_c.py snow."""
    layer = filters.clipped_zoom(layer, zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255  # PIL 'L' image via astype(uint8)
    return torch.round(filters.motion_blur(layer, radius, sigma, angle) * 255) / 255  # 8-bit PNG out of ImageMagick


@register_corruption("snow", sample=_snow_sample)
def snow(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    flakes = snow_layer(params["layer"], c[2], c[3], c[4], c[5], params["angle"])
    blend = c[6]
    x = blend * x + (1 - blend) * torch.maximum(x, filters.rgb_to_gray(x) * 1.5 + 0.5)
    return x + flakes + torch.rot90(flakes, 2, dims=(-2, -1))


def _frost_sample(x: torch.Tensor, c: tuple, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    textures = frost_textures(K.FROST_TEXTURE_SCALE[profile])
    idx = torch.randint(0, len(textures), (b,), generator=g, device=x.device)  # reference: np.random.randint(5)
    u = torch.rand(b, 2, generator=g, device=x.device, dtype=torch.float64)
    return {"index": idx, "unit_offset": u}


def _fit_texture(tex: np.ndarray, h: int, w: int) -> np.ndarray:
    """Textures must be larger than the image for a random crop; enlarge (aspect kept) when the image is bigger."""
    th, tw = tex.shape[:2]
    if th > h and tw > w:
        return tex
    f = max((h + 1) / th, (w + 1) / tw)
    return cv2.resize(tex, (math.ceil(tw * f), math.ceil(th * f)))


@register_corruption("frost", sample=_frost_sample)
def frost(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    b, _, h, w = x.shape
    textures = [
        torch.from_numpy(_fit_texture(t, h, w)).permute(2, 0, 1).to(x.device, x.dtype) / 255
        for t in frost_textures(K.FROST_TEXTURE_SCALE[profile])
    ]
    crops = torch.empty_like(x)
    for i in range(b):
        tex = textures[int(params["index"][i])]
        # reference: randint(0, tex_h - H), randint(0, tex_w - W)
        top = int(params["unit_offset"][i, 0] * (tex.shape[1] - h))
        left = int(params["unit_offset"][i, 1] * (tex.shape[2] - w))
        crops[i] = tex[:, top : top + h, left : left + w]
    return c[0] * x + c[1] * crops


def _fog_sample(x: torch.Tensor, c: tuple, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    size = max(K.FOG_MAPSIZE[profile], 1 << (max(h, w) - 1).bit_length())
    return {"plasma": plasma_fractal(b, size, c[1], g, x.device)[:, None, :h, :w].to(x.dtype)}


@register_corruption("fog", sample=_fog_sample)
def fog(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)
    x = x + c[0] * params["plasma"]
    return x * max_val / (max_val + c[0])


@register_corruption("brightness")
def brightness(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    # rgb2hsv -> V + c clipped -> hsv2rgb keeps hue and saturation, i.e. scales RGB by V'/V (grey V'=c when V = 0)
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp(0, 1)
    return torch.where(v > 0, x * v_new / v.clamp_min(1e-12), v_new.expand_as(x))


def _spatter_sample(x: torch.Tensor, c: tuple, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    return {"liquid": c[0] + c[1] * _randn(x, g, (b, 1, h, w))}


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


@register_corruption("spatter", sample=_spatter_sample)
def spatter(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    _, sigma, threshold, intensity, mode = c[1], c[2], c[3], c[4], c[5]
    liquid = filters.gaussian_filter(params["liquid"].double(), sigma, mode="edge")
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if mode == 0:
        masks = [spatter_water_mask(layer[0].cpu().numpy(), intensity) for layer in liquid]
        m = torch.from_numpy(np.stack(masks))[:, None].to(x.device, x.dtype)
        color = torch.tensor(K.WATER_COLOR_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x + m * color  # the reference treats the RGB array as BGR, so channel order passes through
    m = (liquid > threshold).to(torch.float64)
    m = filters.gaussian_filter(m, intensity, mode="edge").to(x.dtype)
    m = torch.where(m < 0.8, torch.zeros_like(m), m)  # make_cifar_c.py spatter mud: m[m < 0.8] = 0
    color = torch.tensor(K.MUD_COLOR_RGB, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * (1 - m) + color * m


# ---- digital ---------------------------------------------------------------------------------------------------------
@register_corruption("contrast")
def contrast(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * c + means


@register_corruption("saturate")
def saturate(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    # rgb2hsv -> S*a + b clipped -> hsv2rgb with hue and value kept: channel = V - S' * (V - channel) / S (S = 1 - min/V).
    v = x.amax(dim=1, keepdim=True)
    mn = x.amin(dim=1, keepdim=True)
    s = torch.where(v > 0, (v - mn) / v.clamp_min(1e-12), torch.zeros_like(v))
    s_new = (s * c[0] + c[1]).clamp(0, 1)
    chroma = v - mn
    coloured = v - s_new * v * (v - x) / chroma.clamp_min(1e-12)
    # skimage gives grey pixels hue 0 (red), so a saturation offset tints them red: (V, V(1-S'), V(1-S'))
    grey = torch.cat([v, v * (1 - s_new), v * (1 - s_new)], dim=1)
    return torch.where(chroma > 0, coloured, grey)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255 + 1e-3).floor().to(torch.uint8)


@register_corruption("jpeg_compression")
def jpeg_compression(x: torch.Tensor, c: int, params: Params, profile: str) -> torch.Tensor:
    import warnings

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its image codecs in favour of torchcodec
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import decode_jpeg, encode_jpeg

        images = list(_to_uint8(x).cpu())
        decoded = decode_jpeg(encode_jpeg(images, quality=int(c)))
    return torch.stack(decoded).to(x.device, x.dtype) / 255


@register_corruption("pixelate")
def pixelate(x: torch.Tensor, c: float, params: Params, profile: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    sh, sw = int(h * c), int(w * c)  # make_cifar_c.py pixelate: resize to int(32 * c) with BOX, then back
    out = x
    for (ih, oh), (iw, ow) in (((h, sh), (w, sw)), ((sh, h), (sw, w))):
        mh = torch.as_tensor(filters.box_resize_matrix(ih, oh), dtype=x.dtype, device=x.device)
        mw = torch.as_tensor(filters.box_resize_matrix(iw, ow), dtype=x.dtype, device=x.device)
        out = torch.round(mh @ out @ mw.T * 255) / 255  # PIL stores each resize as 8-bit
    return out


def _elastic_sample(x: torch.Tensor, c: tuple, g: torch.Generator | None, profile: str) -> Params:
    b, _, h, w = x.shape
    return {
        "affine_jitter": torch.rand(b, 3, 2, generator=g, device=x.device, dtype=torch.float64) * 2 - 1,
        "dx": torch.rand(b, 1, h, w, generator=g, device=x.device, dtype=torch.float64) * 2 - 1,
        "dy": torch.rand(b, 1, h, w, generator=g, device=x.device, dtype=torch.float64) * 2 - 1,
    }


def elastic_scale(profile: str, h: int) -> float:
    unit, native = K.ELASTIC_UNIT[profile]
    return unit * h / native


@register_corruption("elastic_transform", sample=_elastic_sample)
def elastic_transform(x: torch.Tensor, c: tuple, params: Params, profile: str) -> torch.Tensor:
    b, ch, h, w = x.shape
    unit = elastic_scale(profile, h)
    alpha, sigma, affine = c[0] * unit, c[1] * unit, c[2] * unit
    dev = x.device
    # random affine from three jittered points (cv2.getAffineTransform + warpAffine, BORDER_REFLECT_101)
    center = torch.tensor([h // 2, w // 2], dtype=torch.float64, device=dev)
    size = min(h, w) // 3
    pts1 = torch.stack([center + size, torch.stack([center[0] + size, center[1] - size]), center - size])
    pts2 = pts1[None] + params["affine_jitter"] * affine
    src = torch.cat([pts1, torch.ones(3, 1, dtype=torch.float64, device=dev)], 1).expand(b, 3, 3)
    a_t = torch.linalg.solve(src, pts2)  # (B, 3, 2): dst = [src, 1] @ a_t
    fwd = torch.zeros(b, 3, 3, dtype=torch.float64, device=dev)
    fwd[:, :2, :] = a_t.transpose(1, 2)
    fwd[:, 2, 2] = 1
    inv = torch.linalg.inv(fwd)
    ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float64),
                            torch.arange(w, device=dev, dtype=torch.float64), indexing="ij")
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
    if profile not in K.PROFILES:
        raise UserError(f"profile {profile!r}: allowed are {', '.join(K.PROFILES)}")
    CORRUPTIONS.get(name)
    if not isinstance(severity, int) or not 1 <= severity <= 5:
        raise UserError(f"severity {severity!r} for {name!r}: allowed are the integers 1..5")
    return K.SEVERITY[profile][name][severity - 1]


def corrupt(images: torch.Tensor, name: str, severity: int, generator: torch.Generator | None = None,
            profile: str = "cifar") -> torch.Tensor:
    """Corrupt a uint8 (N, 3, H, W) batch with ``name`` at ``severity`` (1..5); returns uint8 of the same shape.

    Randomness comes only from ``generator`` (on the images' device), so a seeded generator reproduces the output.
    ``profile`` picks the CIFAR (make_cifar_c.py) or ImageNet (make_imagenet_c.py) constants.
    """
    check_images(images)
    c = severity_constants(name, severity, profile)
    spec = CORRUPTIONS.get(name)
    if images.shape[0] == 0:
        return images.clone()
    x = images.float() / 255
    params = spec.sample(x, c, generator, profile)
    return _to_uint8(spec.apply(x, c, params, profile))
