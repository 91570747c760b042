"""Pure batched image kernels on uint8 N×C×H×W tensors, each reproducing one PIL operation.

Every kernel takes per-image parameters (one value per image, a tensor of shape (N,)), contains no randomness,
and runs on the images' device without host round-trips. Rounding follows Pillow 10-13's C code exactly
(``libImaging``: Blend.c truncates in float32, Filter.c rounds, Geometry.c truncates a double bilinear sum,
Convert.c's L24 luma), so pointwise kernels are bit-exact against PIL and resampling kernels differ only where
float32 coordinates land on the other side of a rounding boundary than PIL's doubles (bounds pinned in tests).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "apply_lut",
    "autocontrast",
    "equalize",
    "posterize",
    "solarize",
    "invert",
    "affine",
    "rotation_matrices",
    "shear_x_matrices",
    "shear_y_matrices",
    "translate_matrices",
    "luminance",
    "blend",
    "color",
    "contrast",
    "brightness",
    "sharpness",
    "smooth",
    "normalize",
    "shift",
]


def _per_image(values: Tensor, images: Tensor, dtype: torch.dtype) -> Tensor:
    """(N,) parameters as an (N,1,1,1) tensor that broadcasts over one image each."""
    return values.to(device=images.device, dtype=dtype).reshape(-1, 1, 1, 1)


def apply_lut(images: Tensor, lut: Tensor) -> Tensor:
    """Map every pixel through its own image's and channel's table: ``lut`` is uint8 (N, C, 256)."""
    n, c, h, w = images.shape
    index = images.reshape(n, c, h * w).long()
    return torch.gather(lut, 2, index).reshape(n, c, h, w)


def autocontrast(images: Tensor) -> Tensor:
    """``ImageOps.autocontrast(img)`` (cutoff 0): stretch each channel's [min, max] to [0, 255].

    The table is computed in float64 exactly as PIL does (``int(ix * scale + offset)``, scale = 255/(hi-lo)), so
    PIL's own float quirks are reproduced; it is only 256 entries per channel.
    """
    n, c = images.shape[:2]
    flat = images.reshape(n, c, -1)
    lo = flat.amin(dim=2).double().unsqueeze(2)
    hi = flat.amax(dim=2).double().unsqueeze(2)
    ix = torch.arange(256, device=images.device, dtype=torch.float64)
    scale = 255.0 / (hi - lo).clamp_min(1.0)
    offset = -lo * scale
    lut = (ix * scale + offset).trunc().clamp(0, 255)
    lut = torch.where(hi > lo, lut, ix)  # PIL: "don't bother" when the channel is flat
    return apply_lut(images, lut.to(torch.uint8))


def channel_histograms(images: Tensor) -> Tensor:
    """Per image and channel 256-bin histograms, int64 (N, C, 256), in one bincount."""
    n, c = images.shape[:2]
    offsets = torch.arange(n * c, device=images.device).mul_(256).unsqueeze(1)
    index = images.reshape(n * c, -1).long().add_(offsets)
    return torch.bincount(index.reshape(-1), minlength=n * c * 256).reshape(n, c, 256)


def equalize(images: Tensor) -> Tensor:
    """``ImageOps.equalize(img)``: PIL's histogram LUT per channel.

    PIL: step = (pixels - count of the last non-empty bin) // 255; identity when step is 0 (this also covers a
    single-valued channel); lut[i] = (step // 2 + pixels below i) // step, clipped to 255 by ``Image.point``.
    """
    hist = channel_histograms(images)
    n_pixels = images.shape[2] * images.shape[3]
    bins = torch.arange(256, device=images.device)
    last_bin = torch.where(hist > 0, bins, -1).amax(dim=2, keepdim=True)
    last_count = hist.gather(2, last_bin)
    step = (n_pixels - last_count) // 255
    below = hist.cumsum(dim=2) - hist
    lut = (step // 2 + below) // step.clamp_min(1)
    lut = torch.where(step > 0, lut.clamp(max=255), bins)
    return apply_lut(images, lut.to(torch.uint8))


def posterize(images: Tensor, bits: Tensor) -> Tensor:
    """``ImageOps.posterize(img, bits)``: keep the top ``bits`` (1..8) bits of every channel."""
    mask = (255 << (8 - bits.long())) & 255
    return images & _per_image(mask, images, torch.uint8)


def solarize(images: Tensor, threshold: Tensor) -> Tensor:
    """``ImageOps.solarize(img, threshold)``: invert every value >= threshold (threshold may be fractional)."""
    keep = images < _per_image(threshold, images, torch.float32)
    return torch.where(keep, images, 255 - images)


def invert(images: Tensor) -> Tensor:
    """``ImageOps.invert``."""
    return 255 - images


# ----------------------------------------------------------------------------------------------- geometry
# Matrices are PIL's ``Image.transform(AFFINE, data)`` coefficients (a, b, c, d, e, f), shape (N, 6): they map an
# output pixel centre (x + 0.5, y + 0.5) to input coordinates (a x + b y + c, d x + e y + f).


def translate_matrices(dx: Tensor, dy: Tensor) -> Tensor:
    """``img.transform(size, AFFINE, (1, 0, dx, 0, 1, dy))`` as used by AugMix's translate_x / translate_y."""
    one, zero = torch.ones_like(dx), torch.zeros_like(dx)
    return torch.stack([one, zero, dx, zero, one, dy], dim=1)


def shear_x_matrices(shear: Tensor) -> Tensor:
    """``(1, shear, 0, 0, 1, 0)``: AugMix / AutoAugment shear_x (shear about the top-left corner)."""
    one, zero = torch.ones_like(shear), torch.zeros_like(shear)
    return torch.stack([one, shear, zero, zero, one, zero], dim=1)


def shear_y_matrices(shear: Tensor) -> Tensor:
    """``(1, 0, 0, shear, 1, 0)``: AugMix / AutoAugment shear_y."""
    one, zero = torch.ones_like(shear), torch.zeros_like(shear)
    return torch.stack([one, zero, zero, shear, one, zero], dim=1)


def rotation_matrices(degrees: Tensor, height: int, width: int) -> Tensor:
    """``Image.rotate(degrees)`` (counter-clockwise, about (w/2, h/2), same size) as affine coefficients.

    Follows Pillow's ``Image.rotate``: angle = -radians(degrees), cos/sin rounded to 15 decimals, centre w/2, h/2.
    """
    angle = -torch.deg2rad(degrees.double())
    cos = torch.round(torch.cos(angle), decimals=15)
    sin = torch.round(torch.sin(angle), decimals=15)
    cx, cy = width / 2.0, height / 2.0
    c = cos * -cx + sin * -cy + cx
    f = -sin * -cx + cos * -cy + cy
    return torch.stack([cos, sin, c, -sin, cos, f], dim=1)


def _pixel_centres(n: int, height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
    ys = torch.arange(height, device=device, dtype=torch.float32).add_(0.5).reshape(1, height, 1)
    xs = torch.arange(width, device=device, dtype=torch.float32).add_(0.5).reshape(1, 1, width)
    return xs, ys


def affine(images: Tensor, matrices: Tensor, interpolation: str = "bilinear") -> Tensor:
    """PIL ``Image.transform(size, AFFINE, matrix, resample)`` for a batch, each image with its own matrix, fill 0.

    PIL (Geometry.c) samples at xin = a(x+.5) + b(y+.5) + c; outside [0, W)×[0, H) the pixel is 0; inside, BILINEAR
    interpolates the 4 neighbours of (xin-.5, yin-.5) with indices clamped to the image and truncates the result,
    NEAREST takes pixel (floor xin, floor yin). We compute coordinates and weights in float32 (PIL: double).
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
    n, c, h, w = images.shape
    m = matrices.to(device=images.device, dtype=torch.float32).reshape(n, 6, 1, 1)
    xs, ys = _pixel_centres(n, h, w, images.device)
    xin = m[:, 0] * xs + m[:, 1] * ys + m[:, 2]  # (N, H, W)
    yin = m[:, 3] * xs + m[:, 4] * ys + m[:, 5]
    valid = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    flat = images.reshape(n, c, h * w)
    if interpolation == "nearest":
        xi = xin.floor().clamp_(0, w - 1).long()
        yi = yin.floor().clamp_(0, h - 1).long()
        index = (yi * w + xi).reshape(n, 1, h * w).expand(n, c, h * w)
        out = torch.gather(flat, 2, index) * valid.reshape(n, 1, h * w)
        return out.reshape(n, c, h, w)
    px = xin.sub_(0.5)
    py = yin.sub_(0.5)
    x0f = px.floor()
    y0f = py.floor()
    dx = (px - x0f).reshape(n, 1, h * w)
    dy = (py - y0f).reshape(n, 1, h * w)
    x0 = x0f.long()
    y0 = y0f.long()
    x0c, x1c = x0.clamp(0, w - 1), (x0 + 1).clamp_(0, w - 1)
    y0c, y1c = y0.clamp(0, h - 1).mul_(w), (y0 + 1).clamp_(0, h - 1).mul_(w)

    def corner(rows: Tensor, cols: Tensor) -> Tensor:
        index = (rows + cols).reshape(n, 1, h * w).expand(n, c, h * w)
        return torch.gather(flat, 2, index).float()

    p00, p01 = corner(y0c, x0c), corner(y0c, x1c)
    p10, p11 = corner(y1c, x0c), corner(y1c, x1c)
    top = torch.addcmul(p00, p01 - p00, dx)
    bottom = torch.addcmul(p10, p11 - p10, dx)
    value = torch.addcmul(top, bottom - top, dy)
    value.mul_(valid.reshape(n, 1, h * w))
    return value.to(torch.uint8).reshape(n, c, h, w)


def shift(images: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """Integer translation with zero fill: ``out[y, x] = in[y + dy, x + dx]`` (== PIL affine with integer c, f)."""
    n, c, h, w = images.shape
    rows = torch.arange(h, device=images.device).reshape(1, h) + dy.to(images.device).long().reshape(n, 1)
    cols = torch.arange(w, device=images.device).reshape(1, w) + dx.to(images.device).long().reshape(n, 1)
    valid = ((rows >= 0) & (rows < h)).reshape(n, 1, h, 1) & ((cols >= 0) & (cols < w)).reshape(n, 1, 1, w)
    index = (rows.clamp(0, h - 1).reshape(n, h, 1) * w + cols.clamp(0, w - 1).reshape(n, 1, w)).reshape(n, 1, h * w)
    out = torch.gather(images.reshape(n, c, h * w), 2, index.expand(n, c, h * w)).reshape(n, c, h, w)
    return out * valid


# ------------------------------------------------------------------------------------------- enhance ops


def luminance(images: Tensor) -> Tensor:
    """PIL ``convert("L")`` of RGB: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16 (Convert.c L24), int32 (N,1,H,W).

    Equal to the documented ``(R·299 + G·587 + B·114) / 1000`` rounding for every 24-bit colour (checked in tests).
    """
    x = images.to(torch.int32)
    luma = x[:, 0:1] * 19595 + x[:, 1:2] * 38470 + x[:, 2:3] * 7471 + 0x8000
    return luma >> 16


def blend(degenerate: Tensor, images: Tensor, factor: Tensor) -> Tensor:
    """PIL ``Image.blend(degenerate, image, factor)``: float32 ``deg + f·(img - deg)``, clipped, truncated (Blend.c)."""
    f = _per_image(factor, images, torch.float32)
    deg = degenerate.float()
    out = torch.addcmul(deg, images.float() - deg, f)
    return out.clamp_(0, 255).to(torch.uint8)


def color(images: Tensor, factor: Tensor) -> Tensor:
    """``ImageEnhance.Color(img).enhance(f)``: blend with the L (grey) image, replicated to RGB."""
    return blend(luminance(images), images, factor)


def contrast(images: Tensor, factor: Tensor) -> Tensor:
    """``ImageEnhance.Contrast(img).enhance(f)``: blend with a flat image of the L mean rounded half up."""
    luma = luminance(images)
    n_pixels = luma.shape[2] * luma.shape[3]
    total = luma.sum(dim=(1, 2, 3), dtype=torch.int64)
    mean = (2 * total + n_pixels) // (2 * n_pixels)  # == int(sum / n + 0.5), exactly, in integers
    return blend(mean.reshape(-1, 1, 1, 1), images, factor)


def brightness(images: Tensor, factor: Tensor) -> Tensor:
    """``ImageEnhance.Brightness(img).enhance(f)``: blend with black."""
    f = _per_image(factor, images, torch.float32)
    return (images.float() * f).clamp_(0, 255).to(torch.uint8)


def smooth(images: Tensor) -> Tensor:
    """PIL ``ImageFilter.SMOOTH`` ([1 1 1; 1 5 1; 1 1 1] / 13, rounded): border pixels are copied unchanged."""
    n, c, h, w = images.shape
    if h < 3 or w < 3:
        return images.clone()
    x = images.to(torch.int16)
    rows = x[:, :, :-2] + x[:, :, 1:-1] + x[:, :, 2:]  # vertical 3-sums, (N,C,H-2,W)
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    total = box + 4 * x[:, :, 1:-1, 1:-1]  # centre weight 5 = 1 (in the box) + 4
    out = images.clone()
    out[:, :, 1:-1, 1:-1] = torch.div(total + 6, 13, rounding_mode="floor").to(torch.uint8)
    return out


def sharpness(images: Tensor, factor: Tensor) -> Tensor:
    """``ImageEnhance.Sharpness(img).enhance(f)``: blend with the SMOOTH-filtered image."""
    return blend(smooth(images), images, factor)


# --------------------------------------------------------------------------------------------- normalize


def normalize(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """uint8 N×C×H×W -> float32 ``(x / 255 - mean) / std`` (ToTensor + Normalize), the one normalizer."""
    if images.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images, got {images.dtype}")
    c = images.shape[1]
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).reshape(1, c, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).reshape(1, c, 1, 1)
    return images.float().div_(255).sub_(m).div_(s)
