"""Per-image C-bar oracle for the tests: the transforms of facebookresearch/augmentation-corruption
``imagenet_c_bar/corrupt.py`` written out pixel by pixel in numpy, on one HWC uint8 image with *given* random draws
(the reference draws them inside from a seeded ``RandomState``; here they come from our sampler, so a batched kernel
can be compared with the per-image definition on the same draws). It calls the libraries the reference calls
(scipy.ndimage zoom / rotate / gaussian_filter, scipy.fft.ifft2, skimage.draw.line_aa). Slow; tests only.

``oracle(name, image, level, params, i)`` applies corruption ``name`` at ``level`` (the CSV float) to ``image`` with
row ``i`` of our batched ``params``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def _fp(level: float, maxval: float) -> float:
    return float(level) * maxval / 10.0  # corrupt.py float_parameter


def _bilinear(image: np.ndarray, point: np.ndarray) -> np.ndarray:
    """utils/image.py bilinear_interpolation: four neighbours, each 0 outside the image."""
    h, w = image.shape[:2]
    top, left = int(np.floor(point[0])), int(np.floor(point[1]))

    def at(r: int, c: int) -> np.ndarray:
        return image[r, c, :] if 0 <= r < h and 0 <= c < w else np.zeros(image.shape[2])

    upper = at(top, left) * (1.0 - point[1] + left) + at(top, left + 1) * (point[1] - left)
    lower = at(top + 1, left) * (1.0 - point[1] + left) + at(top + 1, left + 1) * (point[1] - left)
    return upper * (1.0 - point[0] + top) + lower * (point[0] - top)


def _clip_u8(v: np.ndarray) -> np.ndarray:
    return np.clip(v, 0, 255).astype(np.uint8)


# ---- Fourier noises ------------------------------------------------------------------------------------------------
def _fourier(power: np.ndarray, phases: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
    from scipy.fft import ifft2

    s = power.shape[0]
    if centre is None:
        full = np.concatenate((phases, phases[::-1, ::-1]), axis=1)
    else:
        column = np.concatenate((centre, np.array([[0.0]]), centre[::-1, :]), axis=0)
        full = np.concatenate((phases, column, phases[::-1, ::-1]), axis=1)
    spectrum = power * (np.cos(full) + np.sin(full) * 1j)
    spectrum = np.roll(np.roll(spectrum, s // 2, axis=0), s // 2, axis=1)
    noise = np.real(ifft2(spectrum))
    return noise / np.std(noise)


def _radius(s: int) -> np.ndarray:
    centre = s / 2
    return np.array([[np.linalg.norm(np.array([x, y]) - centre) for x in range(s)] for y in range(s)])


def blue_noise_sample(image, level, p, size):
    centre = p.get("centre")
    noise = _fourier(_radius(size), p["phases"][0], None if centre is None else centre[0])
    mask = noise > _fp(level, 3.0) - 2.5
    return _clip_u8(image * mask.reshape(size, size, 1))


def brownish_noise(image, level, p, size):
    power = 1 / (_radius(size) ** 2 + 1)
    centre = p.get("centre")
    noise = np.stack([_fourier(power, p["phases"][k], None if centre is None else centre[k]) for k in range(3)], axis=2)
    return _clip_u8(image + _fp(level, 64) * noise)


# ---- checkerboard, sparkles, lines ----------------------------------------------------------------------------------
def checkerboard_cutout(image, level, p, size):
    angle, scale = float(p["angle"]), float(p["scale"])
    n = int(4 * size // scale)
    grid = p["cells"][:n, :n] < _fp(level, 1.0)
    out = np.empty_like(image)
    for y in range(size):
        for x in range(size):
            nx = (np.cos(angle) * y + np.sin(angle) * x) / scale
            ny = (-np.sin(angle) * y + np.cos(angle) * x) / scale
            keep = int(nx % 2) != int(ny % 2) or not grid[int(nx), int(ny)]
            out[y, x] = image[y, x] if keep else 128
    return out


def _star(value, point, centre, radius, lengths, amount):
    rays = len(lengths)
    dp = point - centre
    dist = np.linalg.norm(dp)
    d = (np.arctan2(dp[1], dp[0]) + np.pi) / (2 * np.pi) * rays
    i = int(d)
    f = d - i
    if radius != 0:
        length = lengths[i % rays] + f * (lengths[(i + 1) % rays] - lengths[i % rays])
        g = (length**2 / (dist**2 + 1e-4)) ** ((100 - amount) / 50.0)
        f = (1 - (f - 0.5) ** 2) * g
    return np.clip(f, 0, 1)


WHITE = np.array([255, 255, 255])  # corrupt.py color: an int array, so colour - value is float64


def sparkles(image, level, p, size):
    radius = _fp(level, 0.1) * size
    out = image.astype(np.float64)
    for k in range(5):
        rays = int(p["rays"][k])
        lengths = [max(1, radius + 0.25 * radius * z) for z in p["ray_noise"][k][:rays]]
        centre = p["centres"][k]
        new = np.empty_like(out)
        for y in range(size):
            for x in range(size):
                value = out[y, x, :].astype(np.float32)  # the reference reads each pixel as float32
                new[y, x] = value + _star(value, np.array([y, x]), centre, radius, lengths, 50) * (WHITE - value)
        out = new
    return _clip_u8(out)


def inverse_sparkles(image, level, p, size):
    radius = 0.25 * size
    amount = 100 - _fp(level, 65)
    rays = int(p["rays"])
    lengths = [radius + 0.25 * radius * z for z in p["ray_noise"][:rays]]
    out = np.empty(image.shape)
    for y in range(size):
        for x in range(size):
            value = image[y, x, :].astype(np.float32)
            f = _star(value, np.array([y, x]), p["centre"], radius, lengths, amount)
            out[y, x] = WHITE + f * (value - WHITE)
    return _clip_u8(out)


def lines(image, level, p, size):
    from skimage.draw import line_aa

    out = image.copy()
    for u in p["lines"]:
        x, y = size * u[0], size * u[1]
        a = float(p["angle"]) + 2 * np.pi * float(p["variation"]) * (u[2] - 0.5)
        s, c = np.sin(a) * size, np.cos(a) * size
        rr, cc, val = line_aa(int(x - c), int(y - s), int(x + c), int(y + s))
        keep = (rr >= 0) & (cc >= 0) & (rr < size) & (cc < size)
        rr, cc, val = rr[keep], cc[keep], val[keep].reshape(-1, 1)
        out[rr, cc, :] = (1.0 - val) * out[rr, cc, :].astype(np.float32) + val * 128
    return out


# ---- warps -----------------------------------------------------------------------------------------------------------
def pinch_and_twirl(image, level, p, size):
    n = p["signs"].shape[0]
    angles = p["signs"] * _fp(level, np.pi / 2)
    amount = _fp(level, 0.4) + 0.1
    out = image.copy().astype(np.float32)
    cell = size // n
    radius = cell / 2

    def warp(point, centre, angle):
        dx, dy = point[0] - centre[0], point[1] - centre[1]
        dist = np.linalg.norm(point - centre)
        if dist > radius or np.round(dist, 3) == 0.0:
            return point
        d = dist / radius
        t = np.sin(np.pi * 0.5 * d) ** (-amount)
        dx, dy = dx * t, dy * t
        a = angle * (1 - d) ** 2
        return centre + np.array([dx * np.cos(a) - dy * np.sin(a), dx * np.sin(a) + dy * np.cos(a)])

    for i in range(n):
        for j in range(n):
            left, up = i * cell, j * cell
            centre = np.array([up + radius, left + radius])
            block = np.array(
                [
                    [_bilinear(out, warp(np.array([y, x]), centre, angles[i, j])) for x in range(left, left + cell)]
                    for y in range(up, up + cell)
                ]
            )
            out[up : up + cell, left : left + cell, :] = block
    return _clip_u8(out)


def ripple(image, level, p, size):
    amps = np.array([_fp(level, 0.025)] * 2) * size
    out = np.array(
        [
            [
                _bilinear(
                    image,
                    np.array([y, x]) + amps * np.sin(2 * np.pi * np.array([y, x]) / p["wavelengths"] + p["phases"]),
                )
                for x in range(size)
            ]
            for y in range(size)
        ]
    )
    return _clip_u8(out)


def transverse_chromatic_abberation(image, level, p, size):
    from scipy.ndimage import zoom

    scale = _fp(level, 0.5)
    scales = np.array([1.0, 1.0 + scale / 2, 1.0 + scale])[p["order"]]
    out = image.copy()
    for ch in range(3):
        zoomed = zoom(image[:, :, ch], scales[ch], prefilter=False)
        edge = (zoomed.shape[0] - size) // 2
        out[:, :, ch] = zoomed[edge : edge + size, edge : edge + size]
    return out


def circular_motion_blur(image, level, p, size):
    from scipy.ndimage import rotate

    amount = _fp(level, 15)
    img = image.astype(np.float32) / 255
    out = np.zeros_like(img)
    total = 0.0
    for i in range(21):
        t = 2 * i / 20 - 1
        factor = np.exp(-2 * t**2)
        out += factor * rotate(img, t * amount, reshape=False)
        total += factor
    return _clip_u8(out / total * 255)


# ---- ImageNet-C-bar procedural noises ------------------------------------------------------------------------------
def single_frequency_greyscale(image, level, p, size):
    freq, phase = p["freq"], float(p["phase"])
    noise = np.array([[np.sin(x * freq[0] + y * freq[1] + phase) for x in range(size)] for y in range(size)])
    return _clip_u8(image + _fp(level, 196) * np.stack([noise] * 3, axis=2))


def cocentric_sine_waves(image, level, p, size):
    x0, y0 = p["offset"]
    freq, amp, width = float(p["freq"]), float(p["amplitude"]), float(p["ring_width"])

    def ring(x, y):
        angle = np.arctan2(x - x0, y - y0) * freq
        return ((np.sqrt((x - x0) ** 2 + (y - y0) ** 2) + np.sin(angle) * amp) % width) / width - 0.5

    noise = np.array([[ring(x, y) for x in range(size)] for y in range(size)])
    return _clip_u8(image + _fp(level, 128) * np.stack([noise] * 3, axis=2))


def plasma_noise(image, level, p, size):
    rand, iters, sharp, scale = float(p["time"]), int(p["iterations"]), float(p["sharpness"]), float(p["scale"])

    def kernel(x, y):
        x, y = x / scale, y / scale
        i = np.array([1.0, 1.0, 1.0, 0.0])
        for _ in range(iters):
            r = np.array([np.cos(y * i[0] - i[3] + rand / i[1]), np.sin(x * i[0] - i[3] + rand / i[1])]) / i[2]
            r += np.array([-r[1], r[0]]) * 0.3
            x, y = x + r[0], y + r[1]
            i *= np.array([1.93, 1.15, 2.25 - sharp, rand * i[1]])
        return [np.sin(x - rand), np.sin((x + y + np.sin(rand)) * 0.5), np.sin(y + rand)]

    noise = np.array([[kernel(x, y) for x in range(size)] for y in range(size)])
    intensity = _fp(level, 64)
    return _clip_u8((1 - intensity / 255) * image + intensity * noise)


def perlin_noise(image, level, p, size):
    b_, n_ = 256, 16 * 256
    g = p["gradients"] / b_
    g = np.array([v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else v for v in g])
    perm = np.arange(2 * b_ + 2)
    for i in range(b_ - 1, -1, -1):
        j = int(p["swaps"][i])
        perm[i], perm[j] = perm[j], perm[i]
    for i in range(b_ + 2):
        perm[b_ + i] = perm[i]
        g[b_ + i, :] = g[i, :]

    def noise(x, y):
        t = x + n_
        bx0, rx0 = int(t) % b_, t % 1
        bx1, rx1 = (bx0 + 1) % b_, t % 1 - 1.0
        t = y + n_
        by0, ry0 = int(t) % b_, t % 1
        by1, ry1 = (by0 + 1) % b_, t % 1 - 1.0
        i, j = perm[bx0], perm[bx1]
        b00, b10, b01, b11 = perm[i + by0], perm[j + by0], perm[i + by1], perm[j + by1]
        sx, sy = rx0**2 * (3.0 - 2.0 * rx0), ry0**2 * (3.0 - 2.0 * ry0)
        u, v = rx0 * g[b00, 0] + ry0 * g[b00, 1], rx1 * g[b10, 0] + ry0 * g[b10, 1]
        a = u + sx * (v - u)
        u, v = rx0 * g[b01, 0] + ry1 * g[b01, 1], rx1 * g[b11, 0] + ry1 * g[b11, 1]
        b = u + sx * (v - u)
        return 1.5 * (a + sy * (b - a))

    m = np.array([[1, 0], [0, 1]]) / (32 * size / 224)

    def kernel(y, x):
        q = np.matmul(np.array([y, x]), m)
        t, f = 0.0, 1.0
        while f <= 16.0:
            t += np.abs(noise(f * q[0], f * q[1])) / f
            f *= 2
        return np.clip(0.5 * t + 0.5, 0, 1.0)

    field = np.array([[kernel(y, x) for x in range(size)] for y in range(size)])
    alpha = _fp(level, 0.5)
    return _clip_u8((1 - alpha) * image.astype(np.float32) + 255 * alpha * np.stack([field] * 3, axis=2))


def caustic_refraction(image, level, p, size):
    from scipy.ndimage import gaussian_filter

    time, scale = float(p["time"]), float(p["size"])
    lens, light = _fp(level, 0.5 * size), _fp(level, 2.0)

    def caustic(point):
        q = (point / scale % 1) * 6.28318530718 - 250
        i, c = q.copy(), 1.0
        for n in range(5):
            t = time * (1.0 - (3.5 / (n + 1)))
            i = q + np.array([np.cos(t - i[0]) + np.sin(t + i[1]), np.sin(t - i[1]) + np.cos(t + i[0])])
            c += 1.0 / np.sqrt((q[0] / (np.sin(i[0] + t) / 0.005)) ** 2 + (q[1] / (np.cos(i[1] + t) / 0.005)) ** 2)
        c = 1.17 - (c / 5.0) ** 1.4
        return np.array([np.clip(np.abs(c) ** 8.0, 0, 1)] * 3)

    def refract(normal):
        incident = np.array([0.0, 0.0, 1.0])
        if np.abs(np.dot(incident, normal)) >= 1.0 - 1e-3:
            return incident
        out_angle = np.arcsin(np.sin(np.arccos(np.dot(incident, normal))) / 4.0)
        spectator = np.cross(incident, normal)
        spectator /= np.linalg.norm(spectator)
        rotation = np.stack((normal, np.cross(normal, spectator), spectator), axis=0)
        return np.matmul(np.linalg.inv(rotation), np.array([np.cos(out_angle), np.sin(out_angle), 0.0]))

    field = gaussian_filter(np.array([[caustic(np.array([y, x])) for x in range(size)] for y in range(size)]), sigma=1)
    img = image.astype(np.float32) / 255

    def luma(y, x):
        inside = 0 <= y < size and 0 <= x < size
        return np.dot(field[y, x, :] if inside else np.zeros(3), np.array([0.2126, 0.7152, 0.0722]))

    out = np.empty(image.shape)
    for y in range(size):
        for x in range(size):
            north, south, west, east = luma(y, x - 1), luma(y, x + 1), luma(y - 1, x), luma(y + 1, x)
            normal = np.array([east - west, south - north, 1.0])
            vector = np.round(refract(normal / np.linalg.norm(normal)) * lens, 3)
            pixel = _bilinear(img, np.array([y, x]) + vector[0:2])
            pixel = pixel + (north - south) * light + (east - west) * light
            out[y, x] = np.clip(pixel, 0, 1)
    return (out * 255).astype(np.uint8)


ORACLES: dict[str, Callable[..., np.ndarray]] = {
    f.__name__: f for f in (
        blue_noise_sample, brownish_noise, checkerboard_cutout, sparkles, inverse_sparkles, lines, pinch_and_twirl,
        ripple, transverse_chromatic_abberation, circular_motion_blur, single_frequency_greyscale,
        cocentric_sine_waves, plasma_noise, perlin_noise, caustic_refraction)
}  # fmt: skip


def row(params: dict[str, Any], i: int) -> dict[str, Any]:
    """Row ``i`` of batched params as numpy (every params tensor is batch-first)."""
    return {k: v[i].detach().cpu().numpy() for k, v in params.items()}


def oracle(name: str, image: np.ndarray, level: float, params: dict[str, Any], i: int) -> np.ndarray:
    """The per-image reference of ``name`` at ``level`` on HWC uint8 ``image`` with draws ``params`` row ``i``."""
    if math.isnan(level):
        raise ValueError("level must be a number")
    return ORACLES[name](image, level, row(params, i), image.shape[0])
