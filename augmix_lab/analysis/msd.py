"""Minimal Sample Distance (Mintun, Kirillov & Xie, "On Interaction Between Augmentations and Corruptions in Natural
Corruption Robustness", NeurIPS 2021; facebookresearch/augmentation-corruption ``minimal_sample_distance.ipynb``).

A transform ``t`` is encoded as f(t) = mean over a fixed image set D_S of the penultimate features of a clean-trained
model on t(x); MSD(p_a, p_c) = min over sampled augmentations a of ||f(a) - E_{c ~ p_c} f(c)||_2 (asymmetric on
purpose: a broad augmentation is close if any of its samples is), MMD = ||E f(a) - E f(c)||_2 for contrast. Each
sampled transform is ONE parameter draw applied to every image of D_S. Pure functions on tensors, batched on the
model's device; the study-level driver is ``orchestration/msd.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from augmix_lab.errors import UserError

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # uint8 batch, generator -> normalized float batch


class PenultimateFeatures:
    """``extractor(x)`` -> the input of the model's last ``nn.Linear`` (its penultimate layer) for a normalized float
    batch, float32 (N, D), computed in eval mode under inference_mode in batches of ``batch_size``."""

    def __init__(self, model: nn.Module, batch_size: int = 500) -> None:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise UserError(
                f"minimal sample distance: model {type(model).__name__} has no nn.Linear classifier whose "
                "input is the penultimate feature; allowed: the registered models"
            )
        self.model, self.head, self.batch_size = model.eval(), linears[-1], batch_size
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        captured: list[torch.Tensor] = []
        handle = self.head.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
        try:
            for start in range(0, x.shape[0], self.batch_size):
                batch = x[start : start + self.batch_size].to(self.device).contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
                    self.model(batch)
                out.append(captured.pop().float().flatten(1))
        finally:
            handle.remove()
        return torch.cat(out)


def augmentation_features(
    extract: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    augment: Augment,
    samples: int,
    seed: int,
    chunk: int = 500,
) -> torch.Tensor:
    """f(a) for ``samples`` augmentation draws a: (samples, D).

    One parameter set must transform every image of ``images`` (uint8 (M, 3, H, W), D_S). Augmentations draw one set
    per batch row from the generator alone (independently of the pixels), so each image is expanded to ``n`` copies
    and augmented with a generator seeded alike for every image: row j of every image's batch then uses draw j.
    """
    if images.ndim != 4 or images.dtype != torch.uint8 or not len(images):
        raise UserError(
            f"minimal sample distance: images must be uint8 (M, 3, H, W) with M >= 1, got "
            f"{images.dtype} {tuple(images.shape)}"
        )
    total: torch.Tensor | None = None
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        part = None
        for i in range(images.shape[0]):
            g = torch.Generator(device=images.device).manual_seed(seed + start)  # same draws for every image
            f = extract(augment(images[i : i + 1].expand(n, -1, -1, -1).contiguous(), g))
            part = f if part is None else part + f
        total = part if total is None else torch.cat([total, part])
    assert total is not None
    return total / images.shape[0]


def corruption_centre(
    extract: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    corrupt_group: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    normalize: Callable[[torch.Tensor], torch.Tensor],
    samples: int,
    seed: int,
    chunk: int = 10,
) -> torch.Tensor:
    """E_c f(c) over ``samples`` corruption draws c, each applied to every image of ``images``: (D,).

    ``corrupt_group(batch, generator)`` corrupts a uint8 batch of k stacked copies of ``images`` with one draw per copy
    (``corruptions.functional.corrupt_shared`` with ``group = len(images)``)."""
    m = images.shape[0]
    acc: torch.Tensor | None = None
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        g = torch.Generator(device=images.device).manual_seed(seed + start)
        f = extract(normalize(corrupt_group(images.repeat(k, 1, 1, 1), g)))  # (k * m, D), draw-major
        s = f.reshape(k, m, -1).mean(dim=1).sum(dim=0)
        acc = s if acc is None else acc + s
    assert acc is not None
    return acc / samples


def minimal_sample_distance(aug_features: torch.Tensor, centre: torch.Tensor) -> float:
    """min_a ||f(a) - E f(c)||_2 over the rows of ``aug_features`` (N, D)."""
    return float(torch.linalg.vector_norm(aug_features.double() - centre.double(), dim=1).min())


def mean_distance(aug_features: torch.Tensor, centre: torch.Tensor) -> float:
    """||E f(a) - E f(c)||_2 (the notebook's "MMD"): distance between the two distributions' centres."""
    return float(torch.linalg.vector_norm(aug_features.double().mean(dim=0) - centre.double()))
