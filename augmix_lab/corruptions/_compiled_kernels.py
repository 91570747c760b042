"""numba kernels of the compiled -C path (``corruptions/compiled.py`` documents the semantics); needs numba.

Images arrive as uint8 (N, C·H·W) planar buffers and leave as uint8: no float copy of the batch, one loop per image.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from augmix_lab.jit import kernel

_PRECISION_BITS = 22  # Pillow Resample.c: PRECISION_BITS = 32 - 8 - 2


@kernel()
def _splitmix64(state):  # noqa: ANN001, ANN202
    """SplitMix64 (Steele, Lea & Flood 2014): the next state and its 64-bit output (uint64 arithmetic wraps)."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@kernel(parallel=True)
def impulse_noise(images, keys, flip, salt, out):  # noqa: ANN001, ANN201
    """Salt & pepper per value: 32-bit uniform u < salt -> 255, u < flip -> 0, else the value (2 uniforms per draw)."""
    n = images.shape[1]
    for i in prange(images.shape[0]):
        state = np.uint64(keys[i])
        src = images[i]
        dst = out[i]
        for q in range(0, n, 2):
            state, z = _splitmix64(state)
            for j in range(2):
                if q + j < n:
                    u = (z >> np.uint64(32 * j)) & np.uint64(0xFFFFFFFF)
                    dst[q + j] = 255 if u < salt else (0 if u < flip else src[q + j])


@kernel(parallel=True)
def shot_noise(images, keys, prob, alias, photons, out):  # noqa: ANN001, ANN201
    """Poisson(v / 255 · photons) / photons per value v by its alias table (``functional._poisson_of_pixels``: the
    integer part of u·K picks the column, the fraction the branch), to uint8 like ``functional._to_uint8``."""
    k = prob.shape[1]
    n = images.shape[1]
    scale = np.float32(photons)
    for i in prange(images.shape[0]):
        state = np.uint64(keys[i])
        src = images[i]
        dst = out[i]
        for q in range(0, n, 2):
            state, z = _splitmix64(state)
            for j in range(2):
                if q + j < n:
                    t = np.float64((z >> np.uint64(32 * j)) & np.uint64(0xFFFFFFFF)) * (2.0**-32 * k)
                    col = int(t)  # t >= 0: truncation is floor
                    branch = t - col
                    col = min(col, k - 1)
                    v = src[q + j]
                    count = col if branch < prob[v, col] else alias[v, col]
                    y = np.float32(count) / scale * np.float32(255.0) + np.float32(1e-3)
                    dst[q + j] = np.uint8(np.int32(min(max(y, np.float32(0.0)), np.float32(255.0))))


@kernel(parallel=True)
def uniform_pm1(keys, out):  # noqa: ANN001, ANN201
    """out[i] = uniforms on [-1, 1) in steps of 2^-31 (32-bit draws, as ``textures.plasma_draws``) from keys[i]."""
    for i in prange(out.shape[0]):
        state = np.uint64(keys[i])
        row = out[i]
        for q in range(0, row.shape[0], 2):
            state, z = _splitmix64(state)
            for j in range(2):
                if q + j < row.shape[0]:
                    u = np.int64((z >> np.uint64(32 * j)) & np.uint64(0xFFFFFFFF)) - 2**31
                    row[q + j] = u * 2.0**-31


@kernel()
def _next(a, n):  # noqa: ANN001, ANN202
    """(a + 1) mod n for 0 <= a < n (np.roll's wrap), without an integer division."""
    return a + 1 if a + 1 < n else 0


@kernel()
def _prev(a, n):  # noqa: ANN001, ANN202
    return a - 1 if a > 0 else n - 1


@kernel()
def _plasma(draws, m, wibbledecay):  # noqa: ANN001, ANN202
    """``textures.plasma_from_draws`` (make_cifar_c.py plasma_fractal) for one map ``m`` (S, S) from its flat draws:
    per level (coarse to fine) the square step, then the two diamond steps, each n×n row-major; the same sums in the
    same order. Returns (min, max - min): the map normalised to [0, 1] is (m - min) / (max - min), as the torch path
    computes it (its max after subtracting the min is the rounded max - min: subtraction is monotone)."""
    size = m.shape[0]
    m[0, 0] = 0.0  # the only point read before it is written
    stepsize = size
    wibble = 100.0  # make_cifar_c.py plasma_fractal: wibble = 100
    at = 0
    while stepsize >= 2:
        half = stepsize // 2
        n = size // stepsize
        for a in range(n):  # square: corners + roll(-1, rows), then + roll(-1, cols)
            for b in range(n):
                a1, b1 = _next(a, n), _next(b, n)
                s = (m[a * stepsize, b * stepsize] + m[a1 * stepsize, b * stepsize]) + (
                    m[a * stepsize, b1 * stepsize] + m[a1 * stepsize, b1 * stepsize]
                )
                m[a * stepsize + half, b * stepsize + half] = s / 4 + (draws[at + a * n + b] * wibble) * wibble
        at += n * n
        for a in range(n):  # diamonds: (dr + roll(dr, 1, rows)) + ul + roll(ul, -1, cols) at (0::step, half::step)
            for b in range(n):
                dr = m[a * stepsize + half, b * stepsize + half]
                s = ((dr + m[_prev(a, n) * stepsize + half, b * stepsize + half]) + m[a * stepsize, b * stepsize]) + m[
                    a * stepsize, _next(b, n) * stepsize
                ]
                m[a * stepsize, b * stepsize + half] = s / 4 + (draws[at + a * n + b] * wibble) * wibble
        at += n * n
        for a in range(n):  # (dr + roll(dr, 1, cols)) + ul + roll(ul, -1, rows) at (half::step, 0::step)
            for b in range(n):
                dr = m[a * stepsize + half, b * stepsize + half]
                s = ((dr + m[a * stepsize + half, _prev(b, n) * stepsize + half]) + m[a * stepsize, b * stepsize]) + m[
                    _next(a, n) * stepsize, b * stepsize
                ]
                m[a * stepsize + half, b * stepsize] = s / 4 + (draws[at + a * n + b] * wibble) * wibble
        at += n * n
        stepsize //= 2
        wibble /= wibbledecay
    lo = m.min()
    return lo, m.max() - lo


@kernel(parallel=True)
def fog(images, draws, mapsize, wibbledecay, strength, out, c, h, w):  # noqa: ANN001, ANN201
    """make_cifar_c.py fog per image: x + strength·plasma, rescaled by max / (max + strength), to uint8 like
    ``functional._to_uint8`` (floor(clamp(y·255 + 1e-3, 0, 255))); x = image / 255 in float32 as the torch path."""
    p = h * w
    s32 = np.float32(strength)
    unit = np.empty(256, np.float32)  # image / 255 in float32: the same values as the division, one per level
    for v in range(256):
        unit[v] = np.float32(v) / np.float32(255.0)
    for i in prange(images.shape[0]):
        m = np.empty((mapsize, mapsize), np.float64)
        lo, span = _plasma(draws[i], m, wibbledecay)
        src = images[i]
        dst = out[i]
        top = np.uint8(0)
        for q in range(c * p):
            top = max(top, src[q])
        top32 = unit[top]
        denominator = top32 + s32
        row = np.empty(w, np.float32)
        haze = np.empty(w, np.float32)
        for y in range(h):
            for x in range(w):  # vectorised: the plasma row in float32, times the strength
                haze[x] = s32 * np.float32((m[y, x] - lo) / span)
            for ch in range(c):
                base = ch * p + y * w
                for x in range(w):
                    row[x] = unit[src[base + x]]
                for x in range(w):  # vectorised: the torch path's float32 operations, in its order
                    v = (row[x] + haze[x]) * top32 / denominator * np.float32(255.0) + np.float32(1e-3)
                    row[x] = min(max(v, np.float32(0.0)), np.float32(255.0))
                for x in range(w):
                    dst[base + x] = np.uint8(np.int32(row[x]))


@kernel(parallel=True)
def pixelate(images, idx_w, taps_w, k_w, idx_h, taps_h, k_h, up_w, up_h, out, c, h, w):  # noqa: ANN001, ANN201
    """Pillow BOX down (width, then height: 8-bit fixed point, Resample.c) and BOX up (a gather) per image."""
    sw, sh = idx_w.shape[0], idx_h.shape[0]
    p = h * w
    half = 1 << (_PRECISION_BITS - 1)
    for i in prange(images.shape[0]):
        rows = np.empty((h, sw), np.int64)
        small = np.empty((sh, sw), np.uint8)
        src = images[i]
        dst = out[i]
        for ch in range(c):
            base = ch * p
            for y in range(h):
                for j in range(sw):
                    acc = 0
                    for t in range(taps_w[j]):
                        acc += np.int64(src[base + y * w + idx_w[j, t]])
                    rows[y, j] = min(max((acc * k_w[j] + half) >> _PRECISION_BITS, 0), 255)
            for a in range(sh):
                for j in range(sw):
                    acc = 0
                    for t in range(taps_h[a]):
                        acc += rows[idx_h[a, t], j]
                    small[a, j] = min(max((acc * k_h[a] + half) >> _PRECISION_BITS, 0), 255)
            for y in range(h):
                o = base + y * w
                if y > 0 and up_h[y] == up_h[y - 1]:  # BOX up-scaling repeats rows: copy the previous one
                    dst[o : o + w] = dst[o - w : o]
                    continue
                line = small[up_h[y]]
                for x in range(w):
                    dst[o + x] = line[up_w[x]]


__all__ = ["fog", "impulse_noise", "pixelate", "uniform_pm1"]
