"""The one way to score a model on images: ``Scorer``.

Images (uint8 N×3×H×W, NHWC arrays of the released benchmarks, a lazy ImageNet folder's eval view, or float32 images
already in [0, 1] such as Fourier-perturbed ones) are normalised by the one ``augment.normalize``, laid out in the
model's memory format, and run on the model's device under ``torch.inference_mode`` in one precision: the trial's AMP
dtype (``training.amp_dtype``; None = float32, as ``train.amp: off``). Training's per-epoch test error, evaluation
(clean, -C, -P, Fourier), soups' held-out accuracy, affinity, ``data check-c``'s model error and ``plan``'s eval
timing all score through it, so one model gets one accuracy on every path (``tests/test_scoring.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from augmix_lab.augment import normalize
from augmix_lab.data.batching import image_batches


def as_uint8_batch(images: Any) -> torch.Tensor:
    """A batch as a uint8 N×3×H×W tensor: tensors as they are, NHWC arrays (released layout) transposed, a list of
    decoded images stacked."""
    if isinstance(images, torch.Tensor):
        return images
    if isinstance(images, np.ndarray):  # released layout is NHWC
        return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2)  # copy: memmaps are read-only
    return torch.stack(list(images))  # decoded images of one size (released folder batches)


class Scorer:
    """``model`` on ``device`` in one precision and memory format; images -> logits, predictions, accuracy.

    The model is put in ``memory_format`` once, here (channels_last is faster for convolutions on CPU (oneDNN) as well
    as on CUDA); a training model is scored in the format it trains in, so scoring never changes its layout.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        mean: Any,
        std: Any,
        device: torch.device,
        *,
        autocast_dtype: torch.dtype | None = None,
        batch_size: int = 500,
        memory_format: torch.memory_format = torch.channels_last,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model.to(memory_format=memory_format)
        self.device, self.batch_size, self.memory_format = torch.device(device), batch_size, memory_format
        self.mean, self.std = tuple(mean), tuple(std)
        self.autocast_dtype = autocast_dtype

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (or [0, 1] float32) images -> the model's normalised input on its device."""
        x = normalize(images.to(self.device, non_blocking=True), self.mean, self.std)
        return x.contiguous(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised model inputs (``inputs``, or an augmentation's views) -> float32 logits on the device."""
        dtype = self.autocast_dtype
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            return self.model(x.contiguous(memory_format=self.memory_format)).float()

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """One batch of images -> float32 logits on the device."""
        return self.forward(self.inputs(images))

    def batches(self, images: Any, stop: int | None = None) -> Iterator[torch.Tensor]:
        """uint8 batches of ``images[:stop]`` in order (a lazy folder: its eval view, decoded by workers)."""
        if hasattr(images, "eval_batches") or isinstance(images, torch.Tensor):
            yield from image_batches(images, self.batch_size, stop=stop)
            return
        n = len(images) if stop is None else min(stop, len(images))
        for start in range(0, n, self.batch_size):
            yield as_uint8_batch(images[start : min(n, start + self.batch_size)])

    def __call__(self, images: Any) -> np.ndarray:
        """Every image's logits, float32 (N, K) on the host."""
        if not len(images):
            return np.zeros((0, 0), np.float32)
        return np.concatenate([self.logits(b).cpu().numpy() for b in self.batches(images)])

    def predict(self, images: Any) -> np.ndarray:
        """Every image's class id (argmax of the logits)."""
        return self(images).argmax(axis=1)

    def correct(self, images: Any, labels: Any, stop: int | None = None) -> int:
        """How many of ``images[:stop]`` the model classifies as ``labels`` (summed on the device, read once)."""
        labels = torch.as_tensor(labels)
        right = torch.zeros((), dtype=torch.int64, device=self.device)
        start = 0
        for batch in self.batches(images, stop):
            y = labels[start : start + batch.shape[0]].to(self.device, non_blocking=True)
            right += (self.logits(batch).argmax(1) == y).sum()
            start += batch.shape[0]
        return int(right)

    def accuracy(self, images: Any, labels: Any, stop: int | None = None) -> float:
        """Top-1 accuracy (fraction) on ``images[:stop]``."""
        n = len(labels) if stop is None else min(stop, len(labels))
        return self.correct(images, labels, stop) / max(1, n)
