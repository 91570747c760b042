"""numba kernels of the compiled op engine (``augment/compiled.py``, which documents the semantics); needs numba.

Images are handled as flat planar buffers: image (C, H, W) -> 1-D uint8 of C·H·W values, channel ch at ch·H·W.
Every kernel follows the Pillow C code named in its docstring, in the same arithmetic (double or float32).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from augmix_lab.jit import kernel


@kernel()
def _autocontrast(buf, c, p):  # noqa: ANN001, ANN202
    """ImageOps.autocontrast (cutoff 0): lut[ix] = int(ix·scale + offset), scale = 255 / (hi - lo), per channel."""
    lut = np.empty(256, np.uint8)
    for ch in range(c):
        base = ch * p
        lo, hi = np.uint8(255), np.uint8(0)
        for q in range(base, base + p):  # uint8 min/max: a vectorised loop
            lo = min(lo, buf[q])
            hi = max(hi, buf[q])
        lo, hi = np.int64(lo), np.int64(hi)
        if hi <= lo:
            continue  # PIL: "don't bother" on a flat channel
        scale = 255.0 / (hi - lo)
        offset = -lo * scale
        for ix in range(256):
            lut[ix] = min(max(int(ix * scale + offset), 0), 255)
        for q in range(base, base + p):
            buf[q] = lut[buf[q]]


@kernel()
def _equalize(buf, c, p):  # noqa: ANN001, ANN202
    """ImageOps.equalize: step = (pixels - last non-empty bin) // 255; lut[i] = (step // 2 + pixels below i) // step."""
    hist = np.empty(256, np.int64)
    odd = np.empty(256, np.int64)
    lut = np.empty(256, np.uint8)
    for ch in range(c):
        base = ch * p
        hist[:] = 0
        odd[:] = 0
        for q in range(base, base + p - 1, 2):  # two histograms: neighbours with equal values do not wait on each other
            hist[buf[q]] += 1
            odd[buf[q + 1]] += 1
        if p % 2:
            hist[buf[base + p - 1]] += 1
        hist += odd
        top = 255
        while hist[top] == 0:
            top -= 1
        step = (p - hist[top]) // 255
        if step == 0:
            continue  # identity (also a single-valued channel)
        below = step // 2
        step_f = np.float64(step)
        for i in range(256):
            # floor(below / step) in double: exact for integers far below 2^53 (an int64 division is ~10x slower)
            lut[i] = min(int(np.float64(below) / step_f), 255)  # Image.point clips the table to 255
            below += hist[i]
        for q in range(base, base + p):
            buf[q] = lut[buf[q]]


@kernel()
def _luma(buf, p, q):  # noqa: ANN001, ANN202
    """PIL convert("L") of the RGB pixel q (Convert.c L24 fixed point)."""
    return (np.int64(buf[q]) * 19595 + np.int64(buf[p + q]) * 38470 + np.int64(buf[2 * p + q]) * 7471 + 0x8000) >> 16


@kernel()
def _blend(degenerate, value, factor):  # noqa: ANN001, ANN202
    """Blend.c: float32 ``deg + f·(img - deg)``, clipped to [0, 255], truncated (the torch kernel's order)."""
    d = np.float32(degenerate)
    v = (np.float32(value) - d) * factor + d
    if v <= 0:
        return np.uint8(0)
    if v >= 255:
        return np.uint8(255)
    return np.uint8(int(v))


@kernel()
def _smooth(buf, out, c, h, w):  # noqa: ANN001, ANN202
    """ImageFilter.SMOOTH ([1 1 1; 1 5 1; 1 1 1] / 13, rounded as (sum + 6) // 13); border pixels copied."""
    out[:] = buf
    if h < 3 or w < 3:
        return
    p = h * w
    for ch in range(c):
        base = ch * p
        for y in range(1, h - 1):
            row = base + y * w
            for x in range(1, w - 1):
                q = row + x
                total = np.int64(0)
                for r in (q - w, q, q + w):
                    total += np.int64(buf[r - 1]) + np.int64(buf[r]) + np.int64(buf[r + 1])
                total += 4 * np.int64(buf[q])
                out[q] = np.uint8((total + 6) // 13)


@kernel()
def _affine(src, dst, c, h, w, m):  # noqa: ANN001, ANN202
    """Image.transform(AFFINE, m, BILINEAR), fill 0: Geometry.c ``affine_transform`` + ``bilinear_filter32RGB``.

    Input point (a x' + b y' + c, d x' + e y' + f) of pixel centre (x', y') = (x + .5, y + .5); outside [0, W)×[0, H)
    the pixel is 0; else lerp the neighbours of (xin - .5, yin - .5), indices clamped (the lower row always, the upper
    only when inside), along x then y, in double, truncated. When a row maps onto its own row (d = 0, e = 1, f = 0:
    shear_x) the y weight is exactly 0 and PIL's result is the x lerp alone; when x maps onto itself (a = 1, b = c =
    0: shear_y) the x weight is exactly 0: both run as 2-tap lerps, bit for bit the same values. Per output row a
    branch-free pass computes every pixel's taps and weights (outside pixels read a zero slot), then each channel
    lerps from a float64 copy of the image (measured ~1.4x faster than one branchy loop).
    """
    p = h * w
    fs = np.empty(c * (p + 1), np.float64)  # channel ch at ch·(p + 1), its zero slot at ch·(p + 1) + p
    for ch in range(c):
        for q in range(p):
            fs[ch * (p + 1) + q] = src[ch * p + q]
        fs[ch * (p + 1) + p] = 0.0
    if m[3] == 0.0 and m[4] == 1.0 and m[5] == 0.0:
        _affine_rows(fs, dst, c, h, w, m[0], m[1], m[2])
    elif m[0] == 1.0 and m[1] == 0.0 and m[2] == 0.0:
        _affine_columns(fs, dst, c, h, w, m[3], m[4], m[5])
    else:
        _affine_general(fs, dst, c, h, w, m)


@kernel()
def _affine_rows(fs, dst, c, h, w, a0, a1, a2):  # noqa: ANN001, ANN202
    """``_affine`` when yin = y + .5 exactly: out[y, x] = lerp(in[y, x0], in[y, x1], dx), 0 where xin is outside."""
    p = h * w
    i0 = np.empty(w, np.int64)
    i1 = np.empty(w, np.int64)
    wx = np.empty(w, np.float64)
    for y in range(h):
        t = a1 * (y + 0.5)
        row = y * w
        for x in range(w):
            xin = a0 * (x + 0.5) + t + a2
            ok = (xin >= 0.0) & (xin < w)
            xs = xin - 0.5
            fx = math.floor(xs)
            wx[x] = xs - fx
            xi = int(fx) if ok else 0
            i0[x] = row + min(max(xi, 0), w - 1) if ok else p
            i1[x] = row + min(max(xi + 1, 0), w - 1) if ok else p
        for ch in range(c):
            fb = ch * (p + 1)
            ob = ch * p + row
            for x in range(w):
                a = fs[fb + i0[x]]
                dst[ob + x] = np.uint8(np.int32(a + (fs[fb + i1[x]] - a) * wx[x]))


@kernel()
def _affine_columns(fs, dst, c, h, w, a3, a4, a5):  # noqa: ANN001, ANN202
    """``_affine`` when xin = x + .5 exactly: out[y, x] = lerp(in[y0, x], in[y1, x], dy) (y1 = y0 past the last row)."""
    p = h * w
    i0 = np.empty(w, np.int64)
    i1 = np.empty(w, np.int64)
    wy = np.empty(w, np.float64)
    for y in range(h):
        t = a4 * (y + 0.5)
        for x in range(w):
            yin = a3 * (x + 0.5) + t + a5
            ok = (yin >= 0.0) & (yin < h)
            ys = yin - 0.5
            fy = math.floor(ys)
            wy[x] = ys - fy
            yi = int(fy) if ok else 0
            r0 = min(max(yi, 0), h - 1) * w + x
            i0[x] = r0 if ok else p
            i1[x] = ((yi + 1) * w + x if yi + 1 < h else r0) if ok else p
        for ch in range(c):
            fb = ch * (p + 1)
            ob = ch * p + y * w
            for x in range(w):
                a = fs[fb + i0[x]]
                dst[ob + x] = np.uint8(np.int32(a + (fs[fb + i1[x]] - a) * wy[x]))


@kernel()
def _affine_general(fs, dst, c, h, w, m):  # noqa: ANN001, ANN202
    """``_affine`` for any matrix (rotate): 4 taps per pixel."""
    p = h * w
    a0, a1, a2, a3, a4, a5 = m[0], m[1], m[2], m[3], m[4], m[5]
    i00 = np.empty(w, np.int64)
    i01 = np.empty(w, np.int64)
    i10 = np.empty(w, np.int64)
    i11 = np.empty(w, np.int64)
    wx = np.empty(w, np.float64)
    wy = np.empty(w, np.float64)
    for y in range(h):
        yc = y + 0.5
        for x in range(w):
            xc = x + 0.5
            xin = a0 * xc + a1 * yc + a2
            yin = a3 * xc + a4 * yc + a5
            ok = (xin >= 0.0) & (xin < w) & (yin >= 0.0) & (yin < h)
            xs = xin - 0.5
            ys = yin - 0.5
            fx = math.floor(xs)
            fy = math.floor(ys)
            wx[x] = xs - fx
            wy[x] = ys - fy
            xi = int(fx) if ok else 0
            yi = int(fy) if ok else 0
            r0 = min(max(yi, 0), h - 1) * w
            r1 = (yi + 1) * w if yi + 1 < h else r0  # PIL: v2 = v1 past the last row
            x0 = min(max(xi, 0), w - 1)
            x1 = min(max(xi + 1, 0), w - 1)
            i00[x] = r0 + x0 if ok else p
            i01[x] = r0 + x1 if ok else p
            i10[x] = r1 + x0 if ok else p
            i11[x] = r1 + x1 if ok else p
        for ch in range(c):
            fb = ch * (p + 1)
            ob = ch * p + y * w
            for x in range(w):
                a = fs[fb + i00[x]]
                v1 = a + (fs[fb + i01[x]] - a) * wx[x]
                a = fs[fb + i10[x]]
                v2 = a + (fs[fb + i11[x]] - a) * wx[x]
                dst[ob + x] = np.uint8(np.int32(v1 + (v2 - v1) * wy[x]))


@kernel()
def _shift(src, dst, c, h, w, dx, dy):  # noqa: ANN001, ANN202
    """out[y, x] = in[y + dy, x + dx], 0 outside (PIL affine with integer offsets: an exact copy)."""
    p = h * w
    for ch in range(c):
        base = ch * p
        for y in range(h):
            sy = y + dy
            for x in range(w):
                sx = x + dx
                inside = 0 <= sy < h and 0 <= sx < w
                dst[base + y * w + x] = src[base + sy * w + sx] if inside else np.uint8(0)


@kernel()
def _apply_op(code, buf, tmp, arg, m, c, h, w):  # noqa: ANN001, ANN202, C901
    """One op (``compiled.OP_CODES``) on ``buf`` in place; ``tmp``: scratch of the same size."""
    p = h * w
    n = c * p
    if code == 1:
        _autocontrast(buf, c, p)
    elif code == 2:
        _equalize(buf, c, p)
    elif code == 3:
        for q in range(n):
            buf[q] = 255 - buf[q]
    elif code == 4:  # posterize: keep the top bits
        mask = np.uint8((255 << (8 - int(arg))) & 255)
        for q in range(n):
            buf[q] = buf[q] & mask
    elif code == 5:  # solarize: x >= t <=> x >= ceil(t) for integer x, t in float32 as the torch kernel
        t = min(max(math.ceil(np.float32(arg)), 0), 256)
        if t < 256:
            for q in range(n):
                if buf[q] >= t:
                    buf[q] = 255 - buf[q]
    elif code == 6:  # color: blend with L
        f = np.float32(arg)
        for q in range(p):
            luma = _luma(buf, p, q)
            for ch in range(c):
                buf[ch * p + q] = _blend(luma, buf[ch * p + q], f)
    elif code == 7:  # contrast: blend with the L mean, rounded half up
        f = np.float32(arg)
        total = np.int64(0)
        for q in range(p):
            total += _luma(buf, p, q)
        mean = (2 * total + p) // (2 * p)
        for q in range(n):
            buf[q] = _blend(mean, buf[q], f)
    elif code == 8:  # brightness: blend with black
        f = np.float32(arg)
        for q in range(n):
            buf[q] = _blend(0, buf[q], f)
    elif code == 9:  # sharpness: blend with SMOOTH
        f = np.float32(arg)
        _smooth(buf, tmp, c, h, w)
        for q in range(n):
            buf[q] = _blend(tmp[q], buf[q], f)
    elif code == 10 or code == 11 or code == 12:  # rotate, shear_x, shear_y
        _affine(buf, tmp, c, h, w, m)
        buf[:] = tmp
    elif code == 13 or code == 14:  # translate_x, translate_y: whole pixels (trunc)
        d = int(arg)
        _shift(buf, tmp, c, h, w, d if code == 13 else 0, d if code == 14 else 0)
        buf[:] = tmp


@kernel()
def _run_chain(buf, tmp, codes, args, coefs, c, h, w):  # noqa: ANN001, ANN202
    for s in range(codes.shape[0]):
        if codes[s] >= 0:
            _apply_op(codes[s], buf, tmp, args[s], coefs[s], c, h, w)


@kernel(parallel=True)
def op_chains(images, source, codes, args, coefs, out, c, h, w):  # noqa: ANN001, ANN201
    """out[r] = chain r (codes/args/coefs row r) applied to images[source[r]]; images (N, C·H·W), out (R, C·H·W)."""
    for r in prange(out.shape[0]):
        tmp = np.empty(out.shape[1], np.uint8)
        out[r, :] = images[source[r]]
        _run_chain(out[r], tmp, codes[r], args[r], coefs[r], c, h, w)


@kernel(parallel=True)
def augment_and_mix(images, codes, args, coefs, mix, scale, shift, out, c, h, w):  # noqa: ANN001, ANN201
    """out[n] = shift + scale·(mix[n, 0]·x + Σ_i mix[n, i + 1]·chain_i(x)) per channel, float32; chain i of image n
    is row n·k + i of codes/args/coefs. images (N, C·H·W) uint8, mix (N, k + 1), out (N, C·H·W) float32."""
    k = mix.shape[1] - 1
    p = h * w
    chw = images.shape[1]
    for i in prange(images.shape[0]):
        acc = np.empty(chw, np.float32)
        buf = np.empty(chw, np.uint8)
        tmp = np.empty(chw, np.uint8)
        src = images[i]
        weight = mix[i, 0]
        for q in range(chw):
            acc[q] = weight * np.float32(src[q])
        for j in range(k):
            r = i * k + j
            buf[:] = src
            _run_chain(buf, tmp, codes[r], args[r], coefs[r], c, h, w)
            weight = mix[i, j + 1]
            for q in range(chw):
                acc[q] += weight * np.float32(buf[q])
        for ch in range(c):
            sc = scale[ch]
            sh = shift[ch]
            for q in range(ch * p, (ch + 1) * p):
                out[i, q] = sh + acc[q] * sc
