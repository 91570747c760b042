"""Batched image-filtering building blocks shared by the corruption and perturbation kernels.

Border modes follow the libraries the reference scripts call: ``edge`` = scipy/skimage ``nearest``, ``symmetric`` =
scipy ``reflect`` (half-sample), ``reflect`` = cv2 ``BORDER_REFLECT_101`` / scipy ``mirror``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from augmix_lab.device import device_cached, device_constant


@functools.lru_cache(maxsize=256)
def _pad_index_np(n: int, pad: int, mode: str) -> np.ndarray:
    return np.pad(np.arange(n), pad, mode=mode)  # type: ignore[call-overload]  # mode: a numpy.pad mode name (str)


@device_cached
def _pad_index(n: int, pad: int, mode: str) -> np.ndarray:
    return _pad_index_np(n, pad, mode)


def pad_index(n: int, pad: int, mode: str, device: torch.device) -> torch.Tensor:
    """Indices into a length-``n`` axis padded by ``pad`` on both sides with a numpy.pad ``mode`` (cached per device)."""
    return _pad_index(n, pad, mode, device=device)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage.gaussian_filter's kernel: radius int(truncate * sigma + 0.5), normalised weights."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


@functools.lru_cache(maxsize=128)
def _filter_matrix(kernel: tuple[float, ...], n: int, mode: str) -> np.ndarray:
    """The padded 1-D correlation along an axis of length n as an (n, n) matrix."""
    k = np.asarray(kernel)
    radius = (len(k) - 1) // 2
    m = np.zeros((n, n))
    rows = np.repeat(np.arange(n), len(k))
    taps = np.tile(np.arange(len(k)), n)
    if mode == "constant":
        cols = rows + taps - radius
        keep = (cols >= 0) & (cols < n)
        np.add.at(m, (rows[keep], cols[keep]), k[taps[keep]])
    else:
        cols = _pad_index_np(n, radius, mode)[rows + taps]
        np.add.at(m, (rows, cols), k[taps])
    return m


def filter1d(x: torch.Tensor, kernel: np.ndarray | torch.Tensor, dim: int, mode: str) -> torch.Tensor:
    """Correlate ``x`` along ``dim`` with a 1-D kernel, padding with numpy.pad ``mode`` (or zeros for 'constant').

    Done as one matmul with the (n, n) filter matrix: on CPU ~30x faster than a single-channel conv1d for the
    small kernels of the -C constants (measured, benchmarks/corruption_throughput.py), and as fast for wide ones.
    """
    key = tuple(float(v) for v in np.asarray(torch.as_tensor(kernel).cpu(), dtype=np.float64).ravel())
    if x.shape[dim] >= _BANDED_MIN_RATIO * len(key):
        return _filter1d_taps(x, key, dim, mode)
    x = x.movedim(dim, -1)
    return (x @ _filter_matrix_t(key, x.shape[-1], mode, x.dtype, device=x.device)).movedim(-1, dim)


@device_cached
def _filter_matrix_t(kernel: tuple[float, ...], n: int, mode: str, dtype: torch.dtype) -> torch.Tensor:
    """The transposed ``_filter_matrix`` as a tensor of ``dtype`` (what ``filter1d`` multiplies by)."""
    return torch.as_tensor(_filter_matrix(kernel, n, mode).T.copy(), dtype=dtype)


# axes at least this many times longer than the kernel are filtered tap by tap: the (n, n) matmul's work grows with
# n per pixel, the taps' with the kernel length (224 px, 15 taps: ~10x fewer operations; measured faster)
_BANDED_MIN_RATIO = 6


def _filter1d_taps(x: torch.Tensor, key: tuple[float, ...], dim: int, mode: str) -> torch.Tensor:
    """``filter1d`` as a sum of shifted copies of the padded axis, one multiply-add pass per tap."""
    dim = dim % x.ndim
    n = x.shape[dim]
    radius = (len(key) - 1) // 2
    if mode == "constant":
        pad = [0, 0] * (x.ndim - 1 - dim) + [radius, radius]
        padded = F.pad(x, pad)
    else:
        padded = x.index_select(dim, pad_index(n, radius, mode, x.device))
    out = padded.narrow(dim, 0, n) * key[0]
    for t in range(1, len(key)):
        out.add_(padded.narrow(dim, t, n), alpha=key[t])
    return out


def gaussian_filter(x: torch.Tensor, sigma: float, mode: str = "edge", truncate: float = 4.0) -> torch.Tensor:
    """skimage.filters.gaussian / scipy gaussian_filter over the last two dims (H, W); sigma 0 is the identity."""
    if sigma <= 0:
        return x
    k = gaussian_kernel1d(sigma, truncate)
    return filter1d(filter1d(x, k, -1, mode), k, -2, mode)


@functools.lru_cache(maxsize=64)
def _kernel_spectrum(kernel: tuple[tuple[float, ...], ...], height: int, width: int) -> np.ndarray:
    """rfft2 of the flipped kernel zero-padded to (height, width): correlation as a circular convolution."""
    k = np.zeros((height, width))
    flipped = np.asarray(kernel)[::-1, ::-1]
    k[: flipped.shape[0], : flipped.shape[1]] = flipped
    return np.fft.rfft2(k)


@device_cached
def _spectrum_tensor(kernel: tuple[tuple[float, ...], ...], height: int, width: int, double: bool) -> torch.Tensor:
    """``_kernel_spectrum`` as a tensor (on each device once): converted once per (kernel, size), not per call."""
    spectrum = torch.as_tensor(_kernel_spectrum(kernel, height, width))
    return spectrum.to(torch.complex128 if double else torch.complex64)


def filter2d(x: torch.Tensor, kernel: np.ndarray, mode: str = "reflect") -> torch.Tensor:
    """cv2.filter2D (correlation, BORDER_REFLECT_101 by default) on (B, C, H, W) with one shared odd square kernel.

    Through the FFT of the padded image, like cv2 for large kernels: the 17x17 defocus disks run ~5-9x faster than
    a direct single-channel conv2d on CPU; the result equals the direct sum to ~1e-6.
    """
    kh, kw = kernel.shape
    h, w = x.shape[-2:]
    if mode == "reflect" and kh // 2 < h and kw // 2 < w:  # torch's reflect = numpy 'reflect' = BORDER_REFLECT_101
        padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    else:
        rows = pad_index(h, kh // 2, mode, x.device)
        cols = pad_index(w, kw // 2, mode, x.device)
        padded = x.index_select(-2, rows).index_select(-1, cols)
    ph, pw = padded.shape[-2:]
    key = tuple(tuple(float(v) for v in row) for row in np.asarray(kernel, dtype=np.float64))
    double = x.dtype == torch.float64
    spectrum = _spectrum_tensor(key, ph, pw, double, device=x.device)
    real = padded if double else padded.float()
    full = torch.fft.irfft2(torch.fft.rfft2(real) * spectrum, s=(ph, pw))
    return full[..., kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w].to(x.dtype)


def motion_blur_kernel(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick MotionBlurImage weights: width 2*ceil(radius)+1 taps of a one-sided Gaussian, normalised."""
    width = int(2 * math.ceil(radius) + 1)  # MagickCore GetOptimalKernelWidth1D for radius > 0
    i = np.arange(width, dtype=np.float64)
    k = np.exp(-(i**2) / (2 * sigma**2))
    return k / k.sum()


def motion_blur(x: torch.Tensor, radius: float, sigma: float, angles_deg: torch.Tensor) -> torch.Tensor:
    """Per-image line motion blur with MagickMotionBlurImage semantics (one-sided kernel, edge pixels repeated).

    Output pixel (y, x) = sum_i k_i * input(y + oy_i, x + ox_i), ox_i = ceil(i cos(a) - 0.5), oy_i = ceil(i sin(a) - 0.5),
    angle ``a`` per image (B,) in degrees; coordinates outside the image are clamped (ImageMagick's default edge
    virtual pixels).
    """
    b, c, h, w = x.shape
    k = motion_blur_kernel(radius, sigma)
    if x.device.type == "cpu" and angles_deg.device.type == "cpu":
        return _motion_blur_slices(x, k, angles_deg)
    a = torch.deg2rad(angles_deg.to(torch.float64))
    rows0 = torch.arange(h, device=x.device)
    cols0 = torch.arange(w, device=x.device)
    out = torch.zeros_like(x)
    for i, weight in enumerate(k):
        ox = torch.ceil(i * torch.cos(a) - 0.5).long().to(x.device)
        oy = torch.ceil(i * torch.sin(a) - 0.5).long().to(x.device)
        rows = (rows0[None, :] + oy[:, None]).clamp_(0, h - 1)
        cols = (cols0[None, :] + ox[:, None]).clamp_(0, w - 1)
        shifted = x.gather(2, rows[:, None, :, None].expand(b, c, h, w))
        shifted = shifted.gather(3, cols[:, None, None, :].expand(b, c, h, w))
        out.add_(shifted, alpha=float(weight))
    return out


def _motion_blur_slices(x: torch.Tensor, k: np.ndarray, angles_deg: torch.Tensor) -> torch.Tensor:
    """CPU ``motion_blur``: each tap of each image is a shifted window of the edge-padded image (a view, no gather).

    Same offsets, weights and summation order as the gather path, so the same values; per image because every image
    has its own angle (the gathers of whole batches cost ~20x more on CPU, measured).
    """
    b, c, h, w = x.shape
    a = torch.deg2rad(angles_deg.to(torch.float64))
    taps = torch.arange(len(k), dtype=torch.float64)
    ox = torch.ceil(taps[:, None] * torch.cos(a)[None, :] - 0.5).long().tolist()  # (taps, B)
    oy = torch.ceil(taps[:, None] * torch.sin(a)[None, :] - 0.5).long().tolist()
    r = len(k) - 1
    padded = F.pad(x, (r, r, r, r), mode="replicate")  # clamped coordinates = edge pixels repeated
    out = torch.zeros_like(x)
    for j in range(b):
        dst, src = out[j], padded[j]
        for i, weight in enumerate(k):
            top, left = r + oy[i][j], r + ox[i][j]
            dst.add_(src[:, top : top + h, left : left + w], alpha=float(weight))
    return out


def clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """make_cifar_c.py clipped_zoom batched: centre crop ceil(h/zoom), scipy.ndimage.zoom(order=1), trim to h.

    scipy's zoom(order=1) maps output to input coordinates with align_corners semantics and an output size of
    round(crop * zoom), which F.interpolate(bilinear, align_corners=True) reproduces.
    """
    h, w = x.shape[-2:]
    ch, cw = int(math.ceil(h / zoom)), int(math.ceil(w / zoom))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    oh, ow = int(round(ch * zoom)), int(round(cw * zoom))
    lead = crop.shape[:-2]
    z = F.interpolate(crop.reshape(-1, 1, ch, cw), size=(oh, ow), mode="bilinear", align_corners=True)
    z = z.reshape(*lead, oh, ow)
    tt, tl = (oh - h) // 2, (ow - w) // 2
    return z[..., tt : tt + h, tl : tl + w]


def box_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """PIL Image.resize(BOX) weights for one axis (libImaging Resample.c precompute_coeffs with the box filter)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    m = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        t = (np.arange(xmin, xmax) - center + 0.5) / filterscale
        wts = ((t > -0.5) & (t <= 0.5)).astype(np.float64)
        if wts.sum() > 0:
            m[xx, xmin:xmax] = wts / wts.sum()
    return m


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """cv2.COLOR_RGB2GRAY weights (0.299, 0.587, 0.114) on (B, 3, H, W) -> (B, 1, H, W)."""
    w = device_constant((0.299, 0.587, 0.114), x.device, x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


# Pillow's fixed-point resampling (libImaging/Resample.c): PRECISION_BITS = 32 - 8 - 2
_PIL_PRECISION_BITS = 22


@functools.lru_cache(maxsize=64)
def _box_taps_np(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pillow BOX resize of one axis as (out, taps) source indices and fixed-point weights (normalize_coeffs_8bpc)."""
    m = box_resize_matrix(in_size, out_size)
    taps = max(int((m > 0).sum(1).max()), 1)
    idx = np.zeros((out_size, taps), np.int64)
    k = np.zeros((out_size, taps), np.int64)
    for o in range(out_size):
        cols = np.flatnonzero(m[o] > 0)
        idx[o, : len(cols)] = cols
        k[o, : len(cols)] = (m[o, cols] * (1 << _PIL_PRECISION_BITS) + 0.5).astype(np.int64)  # (int)(0.5 + k * 2^22)
    return idx, k


def pil_box_resize_axis(v: torch.Tensor, out_size: int, dim: int) -> torch.Tensor:
    """Pillow ``Image.resize(BOX)`` along one axis of integer pixels ``v`` (int32), exactly as its 8-bit pass.

    Each output is ``clip8((2^21 + sum_i v_i k_i) >> 22)`` with Pillow's fixed-point weights ``k_i``; sums stay below
    2^31 (255 * (2^22 + taps) + 2^21), so int32 is exact. Up-scaling has one tap of weight 2^22: a pure gather.
    """
    idx, k = _box_taps_np(v.shape[dim], out_size)
    if idx.shape[1] == 1 and (k == 1 << _PIL_PRECISION_BITS).all():
        return v.index_select(dim, box_up_index(v.shape[dim], out_size, str(v.device)))
    # a box row's weights are equal (1 / taps), so sum the taps first and multiply once; rows with fewer taps read
    # an appended zero slice at index ``in_size`` for their padding taps
    zero_pad = [0, 0] * (v.ndim - 1 - (dim % v.ndim)) + [0, 1]
    vz = F.pad(v, zero_pad)
    idx_t, k_t = _box_down_rows(v.shape[dim], out_size, str(v.device))
    acc = vz.index_select(dim, idx_t[:, 0])
    for t in range(1, idx.shape[1]):
        acc += vz.index_select(dim, idx_t[:, t])
    shape = [1] * v.ndim
    shape[dim] = out_size
    acc.mul_(k_t.reshape(shape))
    acc.add_(1 << (_PIL_PRECISION_BITS - 1))
    return (acc >> _PIL_PRECISION_BITS).clamp_(0, 255)


def _box_down_rows(in_size: int, out_size: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``_box_taps_np`` as tensors on ``device`` for ``pil_box_down_rows``: padding taps read row ``in_size``."""
    return _box_down_tensors(in_size, out_size, device=device)


@device_cached
def _box_down_tensors(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx, k = _box_taps_np(in_size, out_size)
    idx = np.where(k > 0, idx, in_size)
    return torch.as_tensor(idx), torch.as_tensor(k[:, 0], dtype=torch.int32)


def pil_box_down_rows(vz: torch.Tensor, in_size: int, out_size: int) -> torch.Tensor:
    """Pillow's 8-bit BOX pass along dim -2 of integer pixels ``vz`` whose row ``in_size`` is zeros (int32 result).

    Same arithmetic as ``pil_box_resize_axis`` (tap sum times the row's fixed-point weight, rounded and shifted), but
    the caller provides the zero row (written with the data, no padding copy) and each tap is a gather of whole rows.
    """
    idx, k = _box_down_rows(in_size, out_size, str(vz.device))
    acc = vz.index_select(-2, idx[:, 0]).to(torch.int32)
    for t in range(1, idx.shape[1]):
        acc += vz.index_select(-2, idx[:, t])
    acc.mul_(k[:, None]).add_(1 << (_PIL_PRECISION_BITS - 1))
    return (acc >> _PIL_PRECISION_BITS).clamp_(0, 255)


def box_up_index(in_size: int, out_size: int, device: str) -> torch.Tensor:
    """Source index of each output of Pillow's BOX up-scaling (one tap of weight 1: a gather), cached per device."""
    return _box_up_tensor(in_size, out_size, device=device)


@device_cached
def _box_up_tensor(in_size: int, out_size: int) -> torch.Tensor:
    idx, k = _box_taps_np(in_size, out_size)
    assert idx.shape[1] == 1 and (k == 1 << _PIL_PRECISION_BITS).all(), "not an up-scaling"
    return torch.as_tensor(idx[:, 0])
