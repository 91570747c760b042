"""Index batching (airbench style): one permutation per epoch, batches are index slices, no per-sample Python."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def iterate_batches(
    images: Any,
    labels: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Any, torch.Tensor]]:
    """Yield ``(images[idx], labels[idx])`` batches covering every index once (the last partial one unless ``drop_last``).

    Works for tensors on any device and for lazy indexable image collections. ``shuffle`` draws one
    ``randperm`` from ``generator`` (required: randomness is explicit) on the generator's device. Without
    shuffling, tensor batches are views (slices), not copies.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(labels)
    if len(images) != n:
        raise ValueError(f"images and labels differ in length: {len(images)} vs {n}")
    stop = (n // batch_size) * batch_size if drop_last else n
    if not shuffle:
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, stop)
            yield images[start:end], labels[start:end]
        return
    if generator is None:
        raise ValueError("iterate_batches(shuffle=True) needs an explicit torch.Generator")
    order = torch.randperm(n, generator=generator, device=generator.device)
    image_order = order.to(images.device) if isinstance(images, torch.Tensor) else order.cpu()
    label_order = order.to(labels.device)
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, stop)
        yield images[image_order[start:end]], labels[label_order[start:end]]


def image_batches(images: Any, batch_size: int, *, stop: int | None = None) -> Iterator[torch.Tensor]:
    """uint8 N×3×H×W batches of ``images[:stop]`` in order: slices of a tensor, or a lazy ImageNet folder's reference
    eval view (resize 256, centre crop 224), decoded in parallel (``LazyImageFolder.eval_batches``)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if hasattr(images, "eval_batches"):
        yield from images.eval_batches(batch_size, stop=stop)
        return
    n = len(images) if stop is None else min(stop, len(images))
    for start in range(0, n, batch_size):
        yield torch.as_tensor(images[start : min(n, start + batch_size)])
