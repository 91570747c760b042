"""`shapes`: a procedurally generated 10-class 32×32 dataset, so every study runs offline.

Design from /work/shared/notes/shapes-feasibility.md: random shape colour with a stripe texture, two-colour
gradient background, random rotation, centre 12–20 px, radius 7–11 px. Shapes are drawn from signed distance
functions with a 1-px linear ramp as anti-aliasing, vectorized over the whole batch. Parameters are sampled
first (`sample_shape_params`) and rendered deterministically (`render_shapes`), so the output depends only on
the seed and sizes, never on the rendering chunk size (byte-identical per seed on one platform; float maths may
differ by a ULP across CPU instruction sets, which the uint8 rounding almost always absorbs).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import torch

from augmix_lab.data.base import CIFAR_MEAN, CIFAR_STD, DATASETS, ImageDataset, check_int_option

GENERATOR_VERSION = 1  # bump whenever the rendered pixels change for the same options
IMAGE_SIZE = 32
CLASSES = ["disk", "square", "triangle", "cross", "ring", "bar", "diamond", "star", "ellipse", "half_disk"]
CENTER_RANGE = (12.0, 20.0)  # pixel coordinates of the shape centre (feasibility note)
RADIUS_RANGE = (7.0, 11.0)  # outer radius in pixels (feasibility note)
STRIPE_PERIOD_RANGE = (4.0, 9.0)  # pixels per stripe cycle on the shape
_RENDER_CHUNK = 4096  # images rendered at once (bounds memory at ~100 MB)


def sample_shape_params(labels: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """All random choices for ``len(labels)`` images (float32 tensors of shape (N,) or (N, 3))."""
    n = len(labels)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=generator)

    return {
        "label": labels.to(torch.int64),
        "cx": uniform(*CENTER_RANGE),
        "cy": uniform(*CENTER_RANGE),
        "radius": uniform(*RADIUS_RANGE),
        "angle": uniform(0.0, 2 * math.pi),
        "color_a": uniform(0.0, 1.0, 3),
        "color_b": uniform(0.0, 1.0, 3),
        "stripe_period": uniform(*STRIPE_PERIOD_RANGE),
        "stripe_angle": uniform(0.0, math.pi),
        "stripe_phase": uniform(0.0, 2 * math.pi),
        "bg_a": uniform(0.0, 1.0, 3),
        "bg_b": uniform(0.0, 1.0, 3),
        "bg_angle": uniform(0.0, 2 * math.pi),
    }


# ---- signed distance functions: (x, y) in shape-local pixels, r the outer radius; negative inside ----


def _box(x: torch.Tensor, y: torch.Tensor, half_w: torch.Tensor, half_h: torch.Tensor) -> torch.Tensor:
    qx, qy = x.abs() - half_w, y.abs() - half_h
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.maximum(qx, qy).clamp(max=0)


def _folded_star(
    x: torch.Tensor, y: torch.Tensor, points: int, outer: torch.Tensor, inner: torch.Tensor
) -> torch.Tensor:
    """Exact SDF of a star polygon (a regular polygon when inner = outer·cos(π/points)) by folding into one sector."""
    sector = 2 * math.pi / points
    theta = torch.remainder(torch.atan2(y, x), sector) - sector / 2
    rho = torch.sqrt(x * x + y * y)
    half = sector / 2
    # in the folded frame the outer vertex lies at angle 0 and the inner vertex at angle half
    qx = rho * torch.cos(half - theta.abs())
    qy = rho * torch.sin(half - theta.abs())
    v0x, v0y = outer, torch.zeros_like(outer)
    v1x, v1y = inner * math.cos(half), inner * math.sin(half)
    ex, ey = v1x - v0x, v1y - v0y
    t = (((qx - v0x) * ex + (qy - v0y) * ey) / (ex * ex + ey * ey)).clamp(0, 1)
    dist = torch.sqrt((qx - v0x - t * ex) ** 2 + (qy - v0y - t * ey) ** 2)
    side = ex * (qy - v0y) - ey * (qx - v0x)  # > 0 on the origin's side of the edge, i.e. inside
    return torch.where(side > 0, -dist, dist)


def _sdf(label: int, x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    rho = torch.sqrt(x * x + y * y)
    name = CLASSES[label]
    if name == "disk":
        return rho - r
    if name == "square":
        return _box(x, y, 0.75 * r, 0.75 * r)
    if name == "triangle":
        return _folded_star(x, y, 3, r, r * math.cos(math.pi / 3))
    if name == "cross":
        return torch.minimum(_box(x, y, r, 0.3 * r), _box(x, y, 0.3 * r, r))
    if name == "ring":
        return (rho - 0.7 * r).abs() - 0.3 * r
    if name == "bar":
        return _box(x, y, r, 0.32 * r)
    if name == "diamond":  # a rhombus (half-diagonals r and 0.6 r), so rotation never turns it into a square
        return _folded_rhombus(x, y, r, 0.6 * r)
    if name == "star":
        return _folded_star(x, y, 5, r, 0.45 * r)
    if name == "ellipse":  # semi-axes r and 0.55 r; first-order distance approximation
        a, b = r, 0.55 * r
        k = torch.sqrt((x / a) ** 2 + (y / b) ** 2)
        return (k - 1) * b
    if name == "half_disk":  # flat side through the centre, shifted so the shape's centre of mass is centred
        y = y + 0.42 * r
        return torch.maximum(torch.sqrt(x * x + y * y) - r, -y)
    raise AssertionError(name)


def _folded_rhombus(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact SDF of a rhombus with half-diagonals a (x) and b (y): distance to the edge (a,0)-(0,b) in |x|,|y|."""
    qx, qy = x.abs(), y.abs()
    ex, ey = -a, b
    t = (((qx - a) * ex + qy * ey) / (ex * ex + ey * ey)).clamp(0, 1)
    dist = torch.sqrt((qx - a - t * ex) ** 2 + (qy - t * ey) ** 2)
    side = qx * b + qy * a - a * b  # < 0 inside
    return torch.where(side < 0, -dist, dist)


def render_shapes(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Render sampled params into uint8 N×3×32×32 images (deterministic; chunked to bound memory)."""
    n = len(params["label"])
    out = torch.empty(n, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    for start in range(0, n, _RENDER_CHUNK):
        chunk = {k: v[start : start + _RENDER_CHUNK] for k, v in params.items()}
        out[start : start + _RENDER_CHUNK] = _render_chunk(chunk)
    return out


def _render_chunk(p: dict[str, torch.Tensor]) -> torch.Tensor:
    n = len(p["label"])
    grid = torch.arange(IMAGE_SIZE, dtype=torch.float32) + 0.5  # pixel centres
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    gx, gy = gx.expand(n, -1, -1), gy.expand(n, -1, -1)
    col = lambda v: v.view(n, 1, 1)  # noqa: E731 - per-image scalar broadcast over H×W

    dx, dy = gx - col(p["cx"]), gy - col(p["cy"])
    cos, sin = col(torch.cos(p["angle"])), col(torch.sin(p["angle"]))
    lx, ly = cos * dx + sin * dy, -sin * dx + cos * dy  # rotate into the shape's frame
    sdf = torch.empty(n, IMAGE_SIZE, IMAGE_SIZE)
    for label in range(len(CLASSES)):
        idx = (p["label"] == label).nonzero().squeeze(1)
        if len(idx):
            sdf[idx] = _sdf(label, lx[idx], ly[idx], col(p["radius"])[idx])
    coverage = (0.5 - sdf).clamp(0, 1)  # 1-px linear ramp across the edge: analytic anti-aliasing

    stripe_dir = col(p["stripe_angle"])
    phase = 2 * math.pi * (gx * torch.cos(stripe_dir) + gy * torch.sin(stripe_dir)) / col(p["stripe_period"])
    stripes = (0.5 + 1.5 * torch.sin(phase + col(p["stripe_phase"]))).clamp(0, 1)  # soft square wave
    shape_rgb = p["color_a"].view(n, 3, 1, 1) * stripes.unsqueeze(1) + p["color_b"].view(n, 3, 1, 1) * (
        1 - stripes.unsqueeze(1)
    )

    bg_dir = col(p["bg_angle"])
    ramp = (0.5 + ((gx - 16) * torch.cos(bg_dir) + (gy - 16) * torch.sin(bg_dir)) / IMAGE_SIZE).clamp(0, 1)
    bg_rgb = p["bg_a"].view(n, 3, 1, 1) * (1 - ramp.unsqueeze(1)) + p["bg_b"].view(n, 3, 1, 1) * ramp.unsqueeze(1)

    alpha = coverage.unsqueeze(1)
    image = bg_rgb * (1 - alpha) + shape_rgb * alpha
    return (image * 255 + 0.5).clamp(0, 255).to(torch.uint8)


def balanced_labels(n: int, generator: torch.Generator) -> torch.Tensor:
    """Labels 0..9 repeated (counts differ by at most one), in random order."""
    labels = torch.arange(n) % len(CLASSES)
    return labels[torch.randperm(n, generator=generator)]


def _split_generator(seed: int, split: str) -> torch.Generator:
    split_seed = int.from_bytes(hashlib.sha256(f"shapes:{seed}:{split}".encode()).digest()[:8], "little") >> 1
    return torch.Generator().manual_seed(split_seed)


def generate_split(n: int, seed: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one split; train and test use independent streams derived from (seed, split)."""
    generator = _split_generator(seed, split)
    labels = balanced_labels(n, generator)
    return render_shapes(sample_shape_params(labels, generator)), labels


def shapes_train_labels(*, n_train: int = 20000, n_test: int = 5000, seed: int = 0) -> tuple[torch.Tensor, int]:
    """(the training labels these options generate, the class count), without rendering an image (plan-time checks
    of ``dataset.labelled``): the labels are the split's first draw."""
    shapes_version(n_train=n_train, n_test=n_test, seed=seed)  # validates the options
    return balanced_labels(int(n_train), _split_generator(int(seed), "train")), len(CLASSES)


def shapes_version(*, n_train: int = 20000, n_test: int = 5000, seed: int = 0) -> str:
    """The version string of the shapes data these options generate (validated, no generation)."""
    n_train = check_int_option("shapes", "n_train", n_train, 1)
    n_test = check_int_option("shapes", "n_test", n_test, 1)
    seed = check_int_option("shapes", "seed", seed, 0)
    return f"shapes-v{GENERATOR_VERSION}-train{n_train}-test{n_test}-seed{seed}"


def load_shapes(root: Path, *, n_train: int = 20000, n_test: int = 5000, seed: int = 0) -> ImageDataset:
    """The shapes dataset for these options: read from ``<root>/shapes/<version>.npz`` or generated and cached."""
    version = shapes_version(n_train=n_train, n_test=n_test, seed=seed)
    cache = Path(root) / "shapes" / f"{version}.npz"
    arrays = _read_cache(cache)
    if arrays is None:
        train_x, train_y = generate_split(int(n_train), int(seed), "train")
        test_x, test_y = generate_split(int(n_test), int(seed), "test")
        arrays = {"train_images": train_x, "train_labels": train_y, "test_images": test_x, "test_labels": test_y}
        _write_cache(cache, arrays)
    return ImageDataset(
        name="shapes",
        kind="cifar",
        classes=list(CLASSES),
        mean=CIFAR_MEAN,  # same preprocessing as CIFAR: reference augmix cifar.py Normalize([0.5]*3, [0.5]*3)
        std=CIFAR_STD,
        image_size=IMAGE_SIZE,
        version=version,
        options={"n_train": n_train, "n_test": n_test, "seed": seed},
        **arrays,
    )


def _read_cache(cache: Path) -> dict[str, torch.Tensor] | None:
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as npz:
            return {
                key: torch.from_numpy(npz[key])
                for key in ("train_images", "train_labels", "test_images", "test_labels")
            }
    except (OSError, ValueError, KeyError):
        return None  # unreadable or partial cache: regenerate


def _write_cache(cache: Path, arrays: dict[str, torch.Tensor]) -> None:
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            np.savez(handle, **{key: value.numpy() for key, value in arrays.items()})
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only data root just means no cache


DATASETS.add(
    "shapes",
    load_shapes,
    description="generated 10-class 32×32 shapes (offline)",
    download=None,
    spec_version=shapes_version,
    image_size=IMAGE_SIZE,
    train_labels=shapes_train_labels,
)
