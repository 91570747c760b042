"""-P perturbation sequences, batched: ``perturb_sequence(images, name, generator, profile) -> (N, T, 3, H, W) uint8``.

Follows hendrycks/robustness make_cifar_p.py / make_imagenet_p.py (frame counts and parameters in ``constants``):
noise videos are the clean frame plus 30 independent noisy copies; the others sweep a parameter frame by frame
(the same transform for every image of a frame, so each frame is one batched op). Differences: geometric frames use
torchvision's tensor affine (bilinear, zero fill) instead of PIL's; motion blur / snow use our ImageMagick-equivalent
line kernel; ImageNet-P's Resize(256)/CenterCrop(224) ordering is left to the caller (frames are made at input size);
spatter (a validation sequence) is not implemented.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from augmix_lab.corruptions import constants as K
from augmix_lab.corruptions import filters
from augmix_lab.corruptions.functional import brightness as _brightness_kernel
from augmix_lab.corruptions.functional import check_images, snow_layer
from augmix_lab.errors import UserError


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255 + 1e-3).floor().to(torch.uint8)  # np.uint8(255 * x): truncation


def _affine(x: torch.Tensor, *, angle: float = 0.0, translate: tuple[int, int] = (0, 0), scale: float = 1.0,
            shear: float = 0.0, nearest: bool = False) -> torch.Tensor:
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
    rx = torch.tensor([[1, 0, 0, 0], [0, math.cos(t), -math.sin(t), 0], [0, math.sin(t), math.cos(t), 0], [0, 0, 0, 1]],
                      dtype=torch.float64)
    ry = torch.tensor([[math.cos(t), 0, -math.sin(t), 0], [0, 1, 0, 0], [math.sin(t), 0, math.cos(t), 0], [0, 0, 0, 1]],
                      dtype=torch.float64)
    tr = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]], dtype=torch.float64)
    p2 = torch.tensor([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]], dtype=torch.float64)
    inv = torch.linalg.inv(p2 @ tr @ rx @ ry @ p1)  # cv2.warpPerspective samples src = M^-1 dst
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    src = torch.stack([xs, ys, torch.ones_like(xs)], -1) @ inv.T
    sx, sy = src[..., 0] / src[..., 2], src[..., 1] / src[..., 2]
    grid = torch.stack([sx / (w - 1) * 2 - 1, sy / (h - 1) * 2 - 1], -1)[None].to(x.device, torch.float32)
    out = F.grid_sample(x.float(), grid.expand(b, h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=True)
    return out


def perturb_sequence(images: torch.Tensor, name: str, generator: torch.Generator | None = None,
                     profile: str = "cifar", difficulty: int = 1) -> torch.Tensor:
    """The -P video of every image: uint8 (N, T, 3, H, W) with the published frame count for ``profile``.

    ``difficulty`` (1..3) picks the noise level of noise sequences (the released ``_2`` / ``_3`` files).
    """
    check_images(images)
    if profile not in K.PROFILES:
        raise UserError(f"profile {profile!r}: allowed are {', '.join(K.PROFILES)}")
    frames_by_name = K.P_FRAMES[profile]
    if name not in frames_by_name or name == "spatter":
        allowed = ", ".join(n for n in frames_by_name if n != "spatter")
        raise UserError(f"unknown or unsupported perturbation {name!r}; allowed: {allowed}")
    if difficulty not in (1, 2, 3):
        raise UserError(f"difficulty {difficulty!r}: allowed are 1, 2, 3")
    n_frames = frames_by_name[name]
    p = K.P_PARAMS[profile][name]
    x = images.float() / 255
    dev, b = x.device, x.shape[0]
    frames: list[torch.Tensor] = []
    if name in K.NOISE_PERTURBATIONS:
        level = p[difficulty - 1]
        frames.append(images)
        for _ in range(1, n_frames):
            if name == "gaussian_noise":
                z = x + level * torch.randn(x.shape, generator=generator, device=dev)
            elif name == "shot_noise":
                z = torch.poisson(x * level, generator=generator) / level
            else:
                z = x + x * level * torch.randn(x.shape, generator=generator, device=dev)
            frames.append(_to_uint8(z))
    elif name == "motion_blur":
        radius, sigma, step, offset = p
        for i in range(n_frames):
            angle = torch.full((b,), float((i - offset) * step), dtype=torch.float64)
            frames.append(_to_uint8(torch.round(filters.motion_blur(x, radius, sigma, angle) * 255) / 255))
    elif name == "zoom_blur":
        frames.append(images)
        avg = x.clone()
        for i in range(1, n_frames):
            avg += _affine(images, scale=1 + p * i).float() / 255
            frames.append(_to_uint8(avg / (i + 1)))
    elif name == "snow":
        loc, scale, zoom, thr, radius, sigma, step, start, blend = p
        layer0 = loc + scale * torch.randn((b, 1) + tuple(x.shape[-2:]), generator=generator, device=dev)
        base = blend * x + (1 - blend) * torch.maximum(x, filters.rgb_to_gray(x) * 1.5 + 0.5)
        for i in range(n_frames):
            angle = torch.full((b,), float(i * step + start), dtype=torch.float64)
            flakes = snow_layer(layer0, zoom, thr, radius, sigma, angle)
            frames.append(_to_uint8(base + flakes + torch.rot90(flakes, 2, dims=(-2, -1))))
    elif name == "brightness":
        for i in range(n_frames):
            frames.append(_to_uint8(_brightness_kernel(x, (i - 15) * p / 100, {}, profile).clamp(0, 1)))
    elif name == "translate":
        for i in range(n_frames):
            frames.append(_affine(images, translate=(i - p, 0), nearest=True))
    elif name == "rotate":
        for i in range(n_frames):
            frames.append(_affine(images, angle=float((i - 15) * p)))
    elif name == "shear":
        for i in range(n_frames):
            frames.append(_affine(images, shear=float((i - 15) * p)))
    elif name == "scale":
        step, start = p
        for i in range(n_frames):
            frames.append(_affine(images, scale=(i * step + start) / 100))
    elif name == "tilt":
        for i in range(n_frames):
            frames.append(torch.round(_tilt(images, p * (i - 15))).clamp(0, 255).to(torch.uint8))
    elif name == "gaussian_blur":
        start, step = p
        for i in range(n_frames):
            frames.append(_to_uint8(filters.gaussian_filter(x, start + step * i, mode="edge", truncate=7.0)))
    return torch.stack(frames, dim=1)
