"""Pure batched image kernels on uint8 N×C×H×W tensors, each reproducing one PIL operation.

Every kernel takes per-image parameters (one value per image, a tensor of shape (N,)), contains no randomness,
and runs on the images' device without host round-trips. Rounding follows Pillow 10-13's C code exactly
(``libImaging``: Blend.c truncates in float32, Filter.c rounds, Geometry.c truncates a double bilinear sum,
Convert.c's L24 luma), so pointwise kernels are bit-exact against PIL and resampling kernels differ only where
float32 coordinates land on the other side of a rounding boundary than PIL's doubles (bounds pinned in tests).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from augmix_lab.device import device_constant  # noqa: F401  (re-exported: the one per-device constant cache)

__all__ = [
    "apply_lut",
    "autocontrast",
    "autocontrast_lut",
    "channel_histograms",
    "equalize",
    "equalize_lut",
    "posterize",
    "solarize",
    "invert",
    "affine",
    "rotation_matrices",
    "shear_x_matrices",
    "shear_y_matrices",
    "shear_x",
    "shear_y",
    "translate_matrices",
    "luminance",
    "blend",
    "color",
    "contrast",
    "brightness",
    "sharpness",
    "smooth",
    "normalize",
    "normalize_float",
    "denormalize_uint8",
    "shift",
    "shift_x",
    "shift_y",
]


def _per_image(values: Tensor, images: Tensor, dtype: torch.dtype) -> Tensor:
    """(N,) parameters as an (N,1,1,1) tensor that broadcasts over one image each."""
    return values.to(device=images.device, dtype=dtype).reshape(-1, 1, 1, 1)


def _flat_indices(images: Tensor) -> Tensor:
    """int32 (N·C·H·W,) index of every pixel into a flat (N·C·256) table: value + 256·(image·C + channel).

    int32 (not int64) halves the index traffic; it covers up to 2^31 / 256 = 8M image channels per call.
    """
    n, c = images.shape[:2]
    offsets = torch.arange(0, n * c * 256, 256, device=images.device, dtype=torch.int32).unsqueeze(1)
    return images.reshape(n * c, -1).to(torch.int32).add_(offsets).reshape(-1)


def apply_lut(images: Tensor, lut: Tensor, flat_indices: Tensor | None = None) -> Tensor:
    """Map every pixel through its own image's and channel's table: ``lut`` is uint8 (N, C, 256).

    ``flat_indices``: ``_flat_indices(images)`` when the caller already has it (histogram ops), else computed.
    """
    index = _flat_indices(images) if flat_indices is None else flat_indices
    return lut.reshape(-1).index_select(0, index).reshape(images.shape)


def autocontrast_lut(lo: Tensor, hi: Tensor) -> Tensor:
    """PIL's ``ImageOps.autocontrast`` (cutoff 0) table, uint8 (N, C, 256), from each channel's min and max (N, C).

    Computed in float64 exactly as PIL does (``int(ix * scale + offset)``, scale = 255/(hi-lo)), so PIL's own float
    quirks are reproduced; identity where the channel is flat ("don't bother").
    """
    lo, hi = lo.double().unsqueeze(2), hi.double().unsqueeze(2)
    ix = torch.arange(256, device=lo.device, dtype=torch.float64)
    scale = torch.full_like(hi, 255.0) / (hi - lo).clamp_min(1.0)  # tensor/tensor: torch computes 255/x as 255*(1/x)
    lut = (ix * scale + (-lo * scale)).to(torch.int32).clamp_(0, 255)  # int(): truncation toward zero, as in C
    return torch.where(hi > lo, lut, ix.to(torch.int32)).to(torch.uint8)


def autocontrast(images: Tensor) -> Tensor:
    """``ImageOps.autocontrast(img)`` (cutoff 0): stretch each channel's [min, max] to [0, 255]."""
    flat = images.reshape(*images.shape[:2], -1)
    return apply_lut(images, autocontrast_lut(flat.amin(dim=2), flat.amax(dim=2)))  # 15x faster than aminmax on uint8


def channel_histograms(images: Tensor, flat_indices: Tensor | None = None) -> Tensor:
    """Per image and channel 256-bin histograms, int64 (N, C, 256), in one bincount over the whole batch."""
    n, c = images.shape[:2]
    index = _flat_indices(images) if flat_indices is None else flat_indices
    if images.device.type == "cpu":
        return torch.bincount(index, minlength=n * c * 256).reshape(n, c, 256)
    # CUDA's bincount reads the max index back to size its output: an index_add_ of known size never syncs
    hist = torch.zeros(n * c * 256, dtype=torch.int64, device=images.device)
    return hist.index_add_(0, index, torch.ones_like(index, dtype=torch.int64)).reshape(n, c, 256)


def equalize_lut(hist: Tensor, top: Tensor, n_pixels: int) -> Tensor:
    """PIL's ``ImageOps.equalize`` table, uint8 (N, C, 256), from each channel's histogram of ``n_pixels`` values and
    its largest value ``top`` (N, C) (the last non-empty bin).

    PIL: step = (pixels - count of the last non-empty bin) // 255; identity when step is 0 (this also covers a
    single-valued channel); lut[i] = (step // 2 + pixels below i) // step, clipped to 255 by ``Image.point``.
    """
    # integers in float: sums are exact below 2^24 and floor(a / b) is exact while a + b < 2^24 (the quotient's
    # rounding cannot reach the next integer), much faster than int64 division; float64 for images over 2^22 pixels
    dtype = torch.float32 if 2 * n_pixels < 2**23 else torch.float64
    counts = hist.to(dtype)
    last_count = counts.gather(2, top.long().unsqueeze(2))
    step = last_count.neg_().add_(n_pixels).div_(255).floor_()
    below = counts.cumsum(dim=2).sub_(counts)
    lut = below.add_(step.div(2).floor_()).div_(step.clamp_min(1)).floor_().clamp_(max=255)
    return torch.where(step > 0, lut, torch.arange(256, device=hist.device, dtype=dtype)).to(torch.uint8)


def equalize(images: Tensor) -> Tensor:
    """``ImageOps.equalize(img)``: PIL's histogram table per channel (``equalize_lut``)."""
    index = _flat_indices(images)  # shared by the histogram and the table lookup
    hist = channel_histograms(images, index)
    top = images.reshape(*images.shape[:2], -1).amax(dim=2)
    return apply_lut(images, equalize_lut(hist, top, images.shape[2] * images.shape[3]), index)


def posterize(images: Tensor, bits: Tensor) -> Tensor:
    """``ImageOps.posterize(img, bits)``: keep the top ``bits`` (1..8) bits of every channel."""
    mask = (255 << (8 - bits.long())) & 255
    return images & _per_image(mask, images, torch.uint8)


def solarize(images: Tensor, threshold: Tensor) -> Tensor:
    """``ImageOps.solarize(img, threshold)``: invert every value >= threshold (threshold may be fractional)."""
    # integer pixels: x >= t  <=>  x >= ceil(t); a threshold above 255 inverts nothing (flip value 0 there)
    t = threshold.to(device=images.device, dtype=torch.float32).ceil().clamp_(0, 256)
    flip = torch.where(t < 256, 255, 0).to(torch.uint8).reshape(-1, 1, 1, 1)
    invert_mask = images >= t.clamp(max=255).to(torch.uint8).reshape(-1, 1, 1, 1)
    return images ^ (invert_mask * flip)  # 255 - x == x ^ 255 on uint8


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
    angle = degrees.double() * (-torch.pi / 180.0)
    cos = torch.cos(angle).mul_(1e15).round_().div_(1e15)
    sin = torch.sin(angle).mul_(1e15).round_().div_(1e15)
    cx, cy = width / 2.0, height / 2.0
    c = cos * -cx + sin * -cy + cx
    f = -sin * -cx + cos * -cy + cy
    return torch.stack([cos, sin, c, -sin, cos, f], dim=1)


def _sample_grid(matrices: Tensor, n: int, height: int, width: int, interpolation: str, device: torch.device) -> Tensor:
    """``grid_sample``'s (N, H, W, 2) grid for PIL's affine sampling, outside points sent where zero padding reads 0.

    PIL's input point of output pixel (x, y) is xin = a(x+.5) + b(y+.5) + c (and yin); it is computed directly in
    normalized units (align_corners=False: u = 2·xin/W - 1) as one batched product with the pixel centres. Inside
    ([0, W) × [0, H)) PIL clamps the bilinear neighbours to the image, which equals clamping the point to the pixel
    centres' box [1/W - 1, 1 - 1/W]. floor(xin / W) = floor(u/2 + 1/2) is 0 inside and a nonzero integer outside;
    adding it times 4 to the clamped point moves outside points past every tap (no comparison or mask passes).
    Scalar ops only: broadcasting a length-2 tensor is slow on CPU.
    """
    centres, scale, shift = _grid_constants(height, width, str(matrices.device), torch.device(device))
    coef = torch.addcmul(shift, matrices.to(torch.float64).view(n, 2, 3), scale)  # rows: u = 2·xin/W - 1, v too
    coef = coef.transpose(1, 2).to(device=device, dtype=torch.float32)  # (N, 3, 2)
    grid = torch.einsum("pk,nkj->npj", centres, coef)  # (N, H·W, 2); measured 3-10x faster than matmul's broadcast
    # a square image shares its constants between the axes: scalar ops on the whole grid (no strided passes)
    axes = [(grid, width)] if width == height else [(grid[..., 0], width), (grid[..., 1], height)]
    for u, size in axes:
        step = 2.0 / size
        if interpolation == "nearest":  # PIL takes pixel floor(xin): aim at that pixel's centre
            u.add_(1.0).mul_(size / 2).floor_().add_(0.5).mul_(step).sub_(1.0)
        inside = u.clamp(step / 2 - 1.0, 1.0 - step / 2)
        u.mul_(0.5).add_(0.5).floor_()  # floor(xin / W): 0 inside [0, W), a nonzero integer outside
        torch.add(inside, u, alpha=4.0, out=u)
    return grid.view(n, height, width, 2)


@functools.cache
def _grid_constants(height: int, width: int, matrix_device: str, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Per size and device, made once: the (H·W, 3) pixel centres (x + .5, y + .5, 1) and the float64 (1, 2, 3)
    scale and shift taking PIL's coefficient rows to normalized units (u = 2·xin/W - 1)."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    centres = torch.stack([xs.reshape(-1) + 0.5, ys.reshape(-1) + 0.5, torch.ones(height * width)], dim=1)
    scale = torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float64).view(1, 2, 1).expand(1, 2, 3)
    shift = torch.tensor([[0.0, 0.0, -1.0]] * 2, dtype=torch.float64).view(1, 2, 3)
    return centres.float().to(device), scale.to(matrix_device), shift.to(matrix_device)


# grid_sample sums 4 weighted corners; in a flat region the weights' float32 sum can fall a hair below 1 and
# truncation would then lose a level that PIL (lerp of lerps, exact there) keeps. 1e-3 >> that error (~3e-5).
_TRUNCATION_GUARD = 1e-3


def to_uint8(values: Tensor) -> Tensor:
    """Truncate float values in [0, 256) to uint8: through int16, ~5x faster on CPU than a direct float->uint8 cast."""
    return values.to(torch.int16).to(torch.uint8)


def affine(images: Tensor, matrices: Tensor, interpolation: str = "bilinear") -> Tensor:
    """PIL ``Image.transform(size, AFFINE, matrix, resample)`` for a batch, each image with its own matrix, fill 0.

    PIL (Geometry.c) samples at xin = a(x+.5) + b(y+.5) + c; outside [0, W)×[0, H) the pixel is 0; inside, BILINEAR
    interpolates the 4 neighbours of (xin-.5, yin-.5) with indices clamped to the image and truncates the result,
    NEAREST takes pixel (floor xin, floor yin). ``_sample_grid`` turns that into a zero-padded ``grid_sample``.
    Float32 instead of PIL's doubles can move a value across a truncation boundary (±1 level, pinned in tests).
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
    n, c, h, w = images.shape
    grid = _sample_grid(matrices, n, h, w, interpolation, images.device)
    # bilinear: the guard rides on the input (one fused uint8 -> float pass); inside points' weights sum to 1
    source = images + _TRUNCATION_GUARD if interpolation == "bilinear" else images.float()
    out = torch.nn.functional.grid_sample(source, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return to_uint8(out)


def shift(images: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """Integer translation with zero fill: ``out[y, x] = in[y + dy, x + dx]`` (== PIL affine with integer c, f)."""
    n, c, h, w = images.shape
    rows = torch.arange(h, device=images.device).reshape(1, h) + dy.to(images.device).long().reshape(n, 1)
    cols = torch.arange(w, device=images.device).reshape(1, w) + dx.to(images.device).long().reshape(n, 1)
    valid = ((rows >= 0) & (rows < h)).reshape(n, 1, h, 1) & ((cols >= 0) & (cols < w)).reshape(n, 1, 1, w)
    index = (rows.clamp(0, h - 1).reshape(n, h, 1) * w + cols.clamp(0, w - 1).reshape(n, 1, w)).reshape(n, 1, h * w)
    out = torch.gather(images.reshape(n, c, h * w), 2, index.expand(n, c, h * w)).reshape(n, c, h, w)
    return out * valid


def _shift_along(images: Tensor, offsets: Tensor, dim: int) -> Tensor:
    """``out[..., i, ...] = in[..., i + offset, ...]`` along ``dim`` (2: rows, 3: columns), zero fill.

    The lines (rows, or whole images flattened for a row shift: a shift by ``offset·W`` pixels) are zero-padded by
    their own length on both sides, so every shift in [-L, L] (beyond it: all zeros) is a gather along the last,
    contiguous axis (a gather across rows costs twice as much) and needs no validity mask.
    """
    n, c, h, w = images.shape
    lines = images if dim == 3 else images.view(n, c, 1, h * w)
    length, step = (w, 1) if dim == 3 else (h * w, w)
    padded = lines.new_zeros((*lines.shape[:3], 3 * length))
    padded.narrow(3, length, length).copy_(lines)
    d = offsets.to(images.device).long().mul(step).clamp_(-length, length).add_(length).view(n, 1, 1, 1)
    index = torch.arange(length, device=images.device).view(1, 1, 1, length) + d
    return torch.gather(padded, 3, index.expand(*lines.shape)).view(n, c, h, w)


def shift_x(images: Tensor, dx: Tensor) -> Tensor:
    """``shift(images, dx, 0)``: AugMix translate_x (PIL affine (1, 0, dx, 0, 1, 0) with integer dx), exactly."""
    return _shift_along(images, dx, 3)


def shift_y(images: Tensor, dy: Tensor) -> Tensor:
    """``shift(images, 0, dy)``: AugMix translate_y, exactly."""
    return _shift_along(images, dy, 2)


def _shear_lines(lines: Tensor, shear: Tensor) -> tuple[Tensor, Tensor]:
    """PIL's bilinear shear along the last axis of (N, C, J, L) ``lines``: line j sampled at i + .5 + shear·(j + .5).

    Along a line the offset o = shear·(j + .5) is constant, so the taps are i + floor(o) and the next one (clamped to
    the line, as PIL clamps its neighbours) with the line's one weight frac(o): one gather of L + 1 taps per line and
    a lerp (PIL's ``a + (b - a)·d`` in double, Geometry.c; the other axis' weight is exactly 0). Returns the values
    and the (N, 1, J, L) mask of points inside [0, L) (PIL fills the others with 0).
    """
    n, c, j, length = lines.shape
    centres, taps_at, positions = _line_constants(j, length, lines.device)
    o = shear.to(device=lines.device, dtype=torch.float64).view(n, 1) * centres  # (N, J)
    start = o.floor()
    weight = (o - start).float().view(n, 1, j, 1)
    index = (taps_at + start.long().unsqueeze(2)).clamp_(0, length - 1)  # (N, J, L + 1)
    taps = torch.gather(lines, 3, index.unsqueeze(1).expand(n, c, j, length + 1)).float()
    values = torch.lerp(taps[..., :length], taps[..., 1:], weight)  # one pass; PIL agreement measured the same
    # inside: 0 <= i + .5 + o < L  <=>  ceil(-.5 - o) <= i < ceil(L - .5 - o), for integer i (each bound rounded
    # on its own, as PIL compares; ceil(L - .5 - o) = L + ceil(-.5 - o) fails on points exactly on the border)
    lo = (-0.5 - o).ceil_().to(torch.int32).unsqueeze(2)
    hi = (length - 0.5 - o).ceil_().to(torch.int32).unsqueeze(2)
    return values, ((positions >= lo) & (positions < hi)).unsqueeze(1)


@functools.cache
def _line_constants(lines: int, length: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Per size and device, made once: line centres j + .5 (float64), tap offsets 0..L and int32 positions 0..L-1."""
    centres = torch.arange(lines, dtype=torch.float64).add_(0.5).view(1, lines)
    taps_at = torch.arange(length + 1).view(1, 1, length + 1)
    positions = torch.arange(length, dtype=torch.int32).view(1, 1, length)
    return centres.to(device), taps_at.to(device), positions.to(device)


def shear_x(images: Tensor, shear: Tensor) -> Tensor:
    """``img.transform(size, AFFINE, (1, shear, 0, 0, 1, 0), BILINEAR)`` (AugMix shear_x), one shear per image.

    Same as ``affine(images, shear_x_matrices(shear))`` up to float rounding, at about half its cost (measured on
    CPU): each row is a 1-D lerp (``_shear_lines``), where ``grid_sample`` computes and blends 4 taps per pixel.
    """
    values, inside = _shear_lines(images, shear)
    return to_uint8(values) * inside


def shear_y(images: Tensor, shear: Tensor) -> Tensor:
    """``img.transform(size, AFFINE, (1, 0, 0, shear, 1, 0), BILINEAR)``: ``shear_x`` of the transposed image."""
    values, inside = _shear_lines(images.transpose(2, 3).contiguous(), shear)  # a row gather beats a column one
    return (to_uint8(values) * inside).transpose(2, 3).contiguous()


# ------------------------------------------------------------------------------------------- enhance ops


def luminance(images: Tensor) -> Tensor:
    """PIL ``convert("L")`` of RGB: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16 (Convert.c L24), int32 (N,1,H,W).

    Equal to the documented ``(R·299 + G·587 + B·114) / 1000`` rounded half up, except on exact halves, which the
    fixed-point weights sometimes round down instead (checked in tests).
    """
    x = images.to(torch.int32)
    luma = x[:, 0:1] * 19595 + x[:, 1:2] * 38470 + x[:, 2:3] * 7471 + 0x8000
    return luma >> 16


def blend(degenerate: Tensor, images: Tensor, factor: Tensor) -> Tensor:
    """PIL ``Image.blend(degenerate, image, factor)``: float32 ``deg + f·(img - deg)``, clipped, truncated (Blend.c)."""
    f = _per_image(factor, images, torch.float32)
    deg = degenerate.float()
    out = (images.float() - deg).mul_(f).add_(deg)  # multiply, round, add, as Blend.c; addcmul's FMA differs
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
    """uint8 N×C×H×W -> float32 ``(x / 255 - mean) / std`` (ToTensor + Normalize), the one normalizer; float32 images
    are taken as already in [0, 1] (e.g. Fourier-perturbed ones): ``(x - mean) / std``, never in place."""
    c = images.shape[1]
    m = device_constant(tuple(mean), images.device).reshape(1, c, 1, 1)
    s = device_constant(tuple(std), images.device).reshape(1, c, 1, 1)
    if images.dtype == torch.float32:
        return images.sub(m).div_(s)
    if images.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 (or float32 in [0, 1]) images, got {images.dtype}")
    return images.float().div_(255).sub_(m).div_(s)


def normalize_float(images01: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """float N×C×H×W in [0, 1] -> ``(x - mean) / std`` (torchvision Normalize on a ToTensor image)."""
    c = images01.shape[1]
    m = device_constant(tuple(mean), images01.device).reshape(1, c, 1, 1)
    s = device_constant(tuple(std), images01.device).reshape(1, c, 1, 1)
    return (images01 - m) / s


def denormalize_uint8(views: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """The uint8 images behind normalized views: exact for a view made by ``normalize`` (float error << 0.5 / 255),
    rounded and clamped for any other."""
    c = views.shape[1]
    m = device_constant(tuple(mean), views.device).reshape(1, c, 1, 1)
    s = device_constant(tuple(std), views.device).reshape(1, c, 1, 1)
    return (views * s + m).mul_(255).round_().clamp_(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------- crop, flip, resize


def shift_flip(images: Tensor, dx: Tensor, dy: Tensor, flip: Tensor) -> Tensor:
    """``crop(flip(img))`` of a zero-padded image: out[y, x] = flipped[y + dy, x + dx], 0 outside.

    With dx, dy in [-p, p] this is torchvision ``RandomHorizontalFlip`` then ``RandomCrop(size, padding=p)``
    (offset i = dy + p), the reference CIFAR train transform, for every image with its own offsets and flip.
    """
    n, c, h, w = images.shape
    device = images.device
    rows = torch.arange(h, device=device).reshape(1, h) + dy.to(device).long().reshape(n, 1)
    cols = torch.arange(w, device=device).reshape(1, w) + dx.to(device).long().reshape(n, 1)
    valid = ((rows >= 0) & (rows < h)).reshape(n, 1, h, 1) & ((cols >= 0) & (cols < w)).reshape(n, 1, 1, w)
    cols = torch.where(flip.to(device).bool().reshape(n, 1), w - 1 - cols, cols)
    index = rows.clamp(0, h - 1).reshape(n, h, 1) * w + cols.clamp(0, w - 1).reshape(n, 1, w)
    index = index.reshape(n, 1, h * w).expand(n, c, h * w)
    out = torch.gather(images.reshape(n, c, h * w), 2, index).reshape(n, c, h, w)
    return out * valid


def resized_crop_flip(
    images: Tensor, boxes: Tensor, flip: Tensor, size: int, heights: Tensor | None = None, widths: Tensor | None = None
) -> Tensor:
    """Crop box (top, left, height, width) of every image, resize to size×size (bilinear), optionally mirror.

    torchvision ``RandomResizedCrop`` + ``RandomHorizontalFlip`` for a batch; resizing is plain bilinear with
    half-pixel centres (no antialiasing, unlike torchvision's default for downscaling), rounded to uint8.
    ``heights`` / ``widths``: each image's own extent at the top-left of its (larger) canvas (default: the whole
    canvas); taps are clamped to it (``grid_sample``'s border mode), so nothing beyond it is ever read.

    Sampled straight from the uint8 pixels: two row gathers, four column gathers, then lerps of the gathered
    taps, so the float work is per output pixel (a float copy of a 256-image 512-px canvas batch is ~805 MB).
    """
    n, c, h, w = images.shape
    device = images.device
    b = boxes.to(device=device, dtype=torch.float32)
    t = torch.arange(size, device=device, dtype=torch.float32).add_(0.5).div_(size)  # output centres in [0, 1]
    xs = t.reshape(1, size).expand(n, size)
    xs = torch.where(flip.to(device).bool().reshape(n, 1), 1 - xs, xs)
    # pixel coordinates (align_corners=False: pixel j's centre is at j + .5 in edge coordinates)
    x = b[:, 1:2] + xs * b[:, 3:4] - 0.5
    y = b[:, 0:1] + t.reshape(1, size) * b[:, 2:3] - 0.5
    last_x = (widths.to(device).reshape(n, 1) if widths is not None else torch.full((n, 1), w, device=device)) - 1
    last_y = (heights.to(device).reshape(n, 1) if heights is not None else torch.full((n, 1), h, device=device)) - 1
    x = x.clamp_(min=0).minimum(last_x.to(x.dtype))  # border: the coordinate is clamped into the image
    y = y.clamp_(min=0).minimum(last_y.to(y.dtype))
    x0, y0 = x.floor(), y.floor()
    wx, wy = (x - x0).view(n, 1, 1, size), (y - y0).view(n, 1, size, 1)
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).minimum(last_x.long()), (y0 + 1).minimum(last_y.long())

    def rows(index: Tensor) -> Tensor:  # (N, C, size, W)
        return images.gather(2, index.view(n, 1, size, 1).expand(n, c, size, w))

    def cols(r: Tensor, index: Tensor) -> Tensor:  # (N, C, size, size) float
        return r.gather(3, index.view(n, 1, 1, size).expand(n, c, size, size)).float()

    top, bottom = rows(y0), rows(y1)
    out = cols(top, x0).lerp_(cols(top, x1), wx)
    lower = cols(bottom, x0).lerp_(cols(bottom, x1), wx)
    return out.lerp_(lower, wy).round_().clamp_(0, 255).to(torch.uint8)
