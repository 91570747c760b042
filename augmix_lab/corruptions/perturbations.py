"""-P perturbation sequences, batched: ``perturb_sequence(images, name, generator, profile) -> (N, T, 3, H, W) uint8``.

Follows hendrycks/robustness make_cifar_p.py / make_imagenet_p.py (frame counts and parameters on each ``@perturbation``):
noise videos are the clean frame plus 30 independent noisy copies; the others sweep a parameter frame by frame
(the same transform for every image of a frame, so each frame is one batched op). Differences: geometric frames use
torchvision's tensor affine (bilinear, zero fill) instead of PIL's; motion blur / snow use our ImageMagick-equivalent
line kernel; ImageNet-P's Resize(256)/CenterCrop(224) ordering is left to the caller (frames are made at input size);
spatter (a validation sequence) is not implemented.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from augmix_lab.corruptions import filters
from augmix_lab.corruptions.functional import Shift, check_images, snow_layer
from augmix_lab.corruptions.functional import brightness as _brightness_kernel
from augmix_lab.corruptions.registry import (
    DIFFICULTIES,
    PERTURBATIONS,
    check_perturbation_names,
    check_profile,
    perturbation,
)
from augmix_lab.errors import UserError


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255 + 1e-3).floor().to(torch.uint8)  # np.uint8(255 * x): truncation


def _affine(
    x: torch.Tensor,
    *,
    angle: float = 0.0,
    translate: tuple[float, float] = (0, 0),
    scale: float = 1.0,
    shear: float = 0.0,
    nearest: bool = False,
) -> torch.Tensor:
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    mode = InterpolationMode.NEAREST if nearest else InterpolationMode.BILINEAR
    return TF.affine(x, angle=angle, translate=list(translate), scale=scale, shear=[shear, 0.0], interpolation=mode)


def _tilt(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """make_cifar_p.py tilt: perspective warp P2 @ T @ RX(theta) @ RY(phi) @ P1 with phi = theta, zero fill, bilinear."""
    b, c, h, w = x.shape
    t = math.radians(degrees)
    f = math.sqrt(w**2 + h**2)
    p1 = torch.tensor([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]], dtype=torch.float64)
    rx = torch.tensor(
        [[1, 0, 0, 0], [0, math.cos(t), -math.sin(t), 0], [0, math.sin(t), math.cos(t), 0], [0, 0, 0, 1]],
        dtype=torch.float64,
    )
    ry = torch.tensor(
        [[math.cos(t), 0, -math.sin(t), 0], [0, 1, 0, 0], [math.sin(t), 0, math.cos(t), 0], [0, 0, 0, 1]],
        dtype=torch.float64,
    )
    tr = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]], dtype=torch.float64)
    p2 = torch.tensor([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]], dtype=torch.float64)
    inv = torch.linalg.inv(p2 @ tr @ rx @ ry @ p1)  # cv2.warpPerspective samples src = M^-1 dst
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    src = torch.stack([xs, ys, torch.ones_like(xs)], -1) @ inv.T
    sx, sy = src[..., 0] / src[..., 2], src[..., 1] / src[..., 2]
    grid = torch.stack([sx / (w - 1) * 2 - 1, sy / (h - 1) * 2 - 1], -1)[None].to(x.device, torch.float32)
    out = F.grid_sample(x.float(), grid.expand(b, h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=True)
    return out


class NoiseLevels(NamedTuple):
    levels: tuple[float, float, float]  # per difficulty 1..3 (the released <name>, _2, _3 files)


class MotionP(NamedTuple):
    radius: float
    sigma: float
    step: float  # angle = (i - offset) * step degrees
    offset: int


class SnowP(NamedTuple):
    loc: float
    scale: float
    zoom: float
    threshold: float
    radius: float
    sigma: float
    step: float  # angle = i * step + start degrees
    start: float
    blend: float


class Ramp(NamedTuple):
    step: float  # per-frame change of the swept parameter


class ScaleP(NamedTuple):
    step: float  # scale = (i * step + start) / 100
    start: float


class BlurP(NamedTuple):
    start: float  # sigma = start + step * i
    step: float


class SpatterP(NamedTuple):
    loc: float
    scale: float
    sigma: float
    threshold: float
    intensity: float


Frames = list[torch.Tensor]
_NOISE_FRAMES = {"cifar": 31, "imagenet": 31}  # make_cifar_p.py / make_imagenet_p.py: clean + range(1, 31)
_SWEEP_FRAMES = {"cifar": 31, "imagenet": 31}  # range(0, 31)


def _noise_frames(draw):
    """Noise videos: the clean frame plus independent noisy copies (make_cifar_p.py noise blocks)."""

    def frames(images, x, p, n_frames, g, profile, difficulty) -> Frames:
        level = p.levels[difficulty - 1]
        return [images] + [_to_uint8(draw(x, level, g)) for _ in range(1, n_frames)]

    return frames


gaussian_noise = perturbation(
    "gaussian_noise",
    split="test",
    order=0,
    noise=True,
    frames=_NOISE_FRAMES,
    params={
        "cifar": NoiseLevels((0.02, 0.04, 0.06)),  # make_cifar_p.py: sigma per difficulty
        "imagenet": NoiseLevels((0.03, 0.05, 0.08)),
    },  # make_imagenet_p.py
)(_noise_frames(lambda x, level, g: x + level * torch.randn(x.shape, generator=g, device=x.device)))
shot_noise = perturbation(
    "shot_noise",
    split="test",
    order=1,
    noise=True,
    frames=_NOISE_FRAMES,
    params={
        "cifar": NoiseLevels((700, 400, 200)),  # make_cifar_p.py: poisson lambda per difficulty
        "imagenet": NoiseLevels((300, 120, 60)),
    },  # make_imagenet_p.py
)(_noise_frames(lambda x, level, g: torch.poisson(x * level, generator=g) / level))
speckle_noise = perturbation(
    "speckle_noise",
    split="validation",
    order=0,
    noise=True,
    frames=_NOISE_FRAMES,
    params={
        "cifar": NoiseLevels((0.05, 0.07, 0.10)),  # make_cifar_p.py: speckle sigma per difficulty
        "imagenet": NoiseLevels((0.05, 0.10, 0.15)),
    },  # make_imagenet_p.py
)(_noise_frames(lambda x, level, g: x + x * level * torch.randn(x.shape, generator=g, device=x.device)))


@perturbation(
    "motion_blur",
    split="test",
    order=2,
    frames={"cifar": 21, "imagenet": 31},  # make_cifar_p.py range(0, 21); make_imagenet_p.py range(0, 31)
    params={
        "cifar": MotionP(6, 1.8, 9, 20),  # make_cifar_p.py: radius 6, sigma 1.8, angle (i - 20) * 9
        "imagenet": MotionP(10, 3, 4, 30),
    },
)  # make_imagenet_p.py: radius 10, sigma 3, angle (i - 30) * 4
def motion_blur(images, x, p: MotionP, n_frames, g, profile, difficulty) -> Frames:
    frames = []
    for i in range(n_frames):
        angle = torch.full((x.shape[0],), float((i - p.offset) * p.step), dtype=torch.float64)
        frames.append(_to_uint8(torch.round(filters.motion_blur(x, p.radius, p.sigma, angle) * 255) / 255))
    return frames


@perturbation(
    "zoom_blur", split="test", order=3, frames=_SWEEP_FRAMES, params={"cifar": Ramp(0.004), "imagenet": Ramp(0.004)}
)  # make_*_p.py: running mean of scale 1 + 0.004 i
def zoom_blur(images, x, p: Ramp, n_frames, g, profile, difficulty) -> Frames:
    frames = [images]
    avg = x.clone()
    for i in range(1, n_frames):
        avg += _affine(images, scale=1 + p.step * i).float() / 255
        frames.append(_to_uint8(avg / (i + 1)))
    return frames


@perturbation(
    "snow",
    split="test",
    order=4,
    frames=_SWEEP_FRAMES,
    # make_cifar_p.py: loc, scale, zoom, thr, r, sigma, angle 4i-150, blend
    params={
        "cifar": SnowP(0.05, 0.3, 2, 0.5, 10, 2, 4, -150, 0.85),
        "imagenet": SnowP(0.05, 0.3, 2, 0.5, 14, 4, 4, -150, 0.85),
    },
)  # make_imagenet_p.py: r=14 sigma=4
def snow(images, x, p: SnowP, n_frames, g, profile, difficulty) -> Frames:
    b = x.shape[0]
    layer0 = p.loc + p.scale * torch.randn((b, 1) + tuple(x.shape[-2:]), generator=g, device=x.device)
    base = p.blend * x + (1 - p.blend) * torch.maximum(x, filters.rgb_to_gray(x) * 1.5 + 0.5)
    frames = []
    for i in range(n_frames):
        angle = torch.full((b,), float(i * p.step + p.start), dtype=torch.float64)
        flakes = snow_layer(layer0, p.zoom, p.threshold, p.radius, p.sigma, angle)
        frames.append(_to_uint8(base + flakes + torch.rot90(flakes, 2, dims=(-2, -1))))
    return frames


@perturbation(
    "brightness",
    split="test",
    order=5,
    frames=_SWEEP_FRAMES,
    params={
        "cifar": Ramp(1.5),  # make_cifar_p.py: V shift (i - 15) * 1.5 / 100
        "imagenet": Ramp(2.0),
    },
)  # make_imagenet_p.py: (i - 15) * 2 / 100
def brightness(images, x, p: Ramp, n_frames, g, profile, difficulty) -> Frames:
    return [
        _to_uint8(_brightness_kernel(x, Shift((i - 15) * p.step / 100), {}, profile).clamp(0, 1))
        for i in range(n_frames)
    ]


@perturbation(
    "translate",
    split="test",
    order=6,
    frames={"cifar": 16, "imagenet": 41},  # make_cifar_p.py range(0, 16); make_imagenet_p.py range(0, 41)
    params={"cifar": Ramp(7), "imagenet": Ramp(20)},
)  # dx = i - 7 px (CIFAR), i - 20 px (ImageNet)
def translate(images, x, p: Ramp, n_frames, g, profile, difficulty) -> Frames:
    return [_affine(images, translate=(i - p.step, 0), nearest=True) for i in range(n_frames)]


@perturbation(
    "rotate", split="test", order=7, frames=_SWEEP_FRAMES, params={"cifar": Ramp(1.0), "imagenet": Ramp(1.0)}
)  # make_*_p.py: angle i - 15 degrees
def rotate(images, x, p: Ramp, n_frames, g, profile, difficulty) -> Frames:
    return [_affine(images, angle=float((i - 15) * p.step)) for i in range(n_frames)]


@perturbation(
    "tilt",
    split="test",
    order=8,
    frames=_SWEEP_FRAMES,
    params={
        "cifar": Ramp(0.75),  # make_cifar_p.py: 0.75 (i - 15) degrees about both axes
        "imagenet": Ramp(1.0),
    },
)  # make_imagenet_p.py: (i - 15) degrees
def tilt(images, x, p: Ramp, n_frames, g, profile, difficulty) -> Frames:
    return [torch.round(_tilt(images, p.step * (i - 15))).clamp(0, 255).to(torch.uint8) for i in range(n_frames)]


@perturbation(
    "scale",
    split="test",
    order=9,
    frames=_SWEEP_FRAMES,
    params={
        "cifar": ScaleP(2, 70),  # make_cifar_p.py: scale (2 i + 70) / 100
        "imagenet": ScaleP(2.5, 40),
    },
)  # make_imagenet_p.py: (2.5 i + 40) / 100
def scale(images, x, p: ScaleP, n_frames, g, profile, difficulty) -> Frames:
    return [_affine(images, scale=(i * p.step + p.start) / 100) for i in range(n_frames)]


@perturbation(
    "gaussian_blur",
    split="validation",
    order=1,
    frames=_SWEEP_FRAMES,
    params={
        "cifar": BlurP(0.3, 0.015),  # make_cifar_p.py: sigma 0.3 + 0.015 i, truncate 7
        "imagenet": BlurP(0.25, 0.035),
    },
)  # make_imagenet_p.py: sigma 0.25 + 0.035 i
def gaussian_blur(images, x, p: BlurP, n_frames, g, profile, difficulty) -> Frames:
    return [
        _to_uint8(filters.gaussian_filter(x, p.start + p.step * i, mode="edge", truncate=7.0)) for i in range(n_frames)
    ]


@perturbation(
    "spatter",
    split="validation",
    order=2,
    frames=_SWEEP_FRAMES,
    implemented=False,
    params={
        "cifar": SpatterP(0.6, 0.265, 1.75, 0.7, 0.6),  # make_cifar_p.py: loc, scale, sigma, thr, intensity
        "imagenet": SpatterP(0.6, 0.265, 1.75, 0.7, 0.6),
    },
)  # [UNVERIFIED for ImageNet-P] CIFAR values
def spatter(images, x, p: SpatterP, n_frames, g, profile, difficulty) -> Frames:
    # registered so the released CIFAR-10-P file list knows it; no kernel (see module doc)
    raise UserError("perturbation 'spatter' is not implemented (released files only)")


@perturbation(
    "shear", split="validation", order=3, frames=_SWEEP_FRAMES, params={"cifar": Ramp(1.0), "imagenet": Ramp(1.0)}
)  # make_*_p.py: shear i - 15 degrees
def shear(images, x, p: Ramp, n_frames, g, profile, difficulty) -> Frames:
    return [_affine(images, shear=float((i - 15) * p.step)) for i in range(n_frames)]


def perturb_sequence(
    images: torch.Tensor,
    name: str,
    generator: torch.Generator | None = None,
    profile: str = "cifar",
    difficulty: int = 1,
) -> torch.Tensor:
    """The -P video of every image: uint8 (N, T, 3, H, W) with the published frame count for ``profile``.

    ``difficulty`` (1..3) picks the noise level of noise sequences (the released ``_2`` / ``_3`` files).
    """
    check_images(images)
    check_profile(profile)
    check_perturbation_names([name], "perturbation")
    if difficulty not in DIFFICULTIES:
        raise UserError(f"difficulty {difficulty!r}: allowed are 1, 2, 3")
    spec = PERTURBATIONS.get(name)
    x = images.float() / 255
    frames = spec.frames_fn(images, x, spec.params[profile], spec.frames[profile], generator, profile, difficulty)
    return torch.stack(frames, dim=1)
