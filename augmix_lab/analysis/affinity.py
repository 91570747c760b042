"""Affinity and diversity of an augmentation (Gontijo-Lopes, Smullin, Cubuk, Dyer; ICLR 2021, "Tradeoffs in data
augmentation: an empirical study", arXiv 2002.08973). Accuracies are fractions in [0, 1]; both measures are ratios
(the ICLR version; the first arXiv version defined affinity as a difference).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from augmix_lab.errors import UserError


def affinity(augmented_acc, clean_acc):
    """Accuracy of the clean-trained baseline on augmented held-out data ÷ its accuracy on clean held-out data
    (the paper's "Affinity"); 1 = the augmentation leaves the data in-distribution for that model."""
    a, c = np.asarray(augmented_acc, dtype=np.float64), np.asarray(clean_acc, dtype=np.float64)
    if np.any(c <= 0) or np.any(c > 1) or np.any(a < 0) or np.any(a > 1):
        raise UserError(f"affinity: augmented_acc={a.tolist()}, clean_acc={c.tolist()}; allowed: fractions in [0, 1] "
                        "with a clean accuracy above 0")
    out = a / c
    return float(out) if out.ndim == 0 else out


def diversity(augmented_train_loss, baseline_train_loss):
    """Final training loss of the model trained with the augmentation ÷ the clean-trained baseline's final training
    loss (the paper's "Diversity"); > 1 = the augmentation makes the training data harder to fit."""
    a, b = np.asarray(augmented_train_loss, dtype=np.float64), np.asarray(baseline_train_loss, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.any(a < 0) or np.any(b <= 0):
        raise UserError(f"diversity: augmented_train_loss={a.tolist()}, baseline_train_loss={b.tolist()}; "
                        "allowed: finite losses >= 0, baseline loss > 0")
    out = a / b
    return float(out) if out.ndim == 0 else out


@torch.no_grad()
def augmented_accuracy(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    batch_size: int = 512,
) -> float:
    """Accuracy (fraction) of ``model_fn`` (batch → logits) on ``augment(batch)`` for every held-out batch, on the
    images' device; ``augment=None`` gives the clean accuracy. ``augment`` draws its own randomness per image."""
    if batch_size < 1:
        raise UserError(f"augmented_accuracy: batch_size={batch_size}; allowed: >= 1")
    if len(images) == 0 or len(images) != len(labels):
        raise UserError(f"augmented_accuracy: {len(images)} images and {len(labels)} labels; allowed: equally many, "
                        "at least one")
    correct = 0
    for i in range(0, len(images), batch_size):
        xb, yb = images[i:i + batch_size], labels[i:i + batch_size]
        if augment is not None:
            xb = augment(xb)
        correct += int((model_fn(xb).argmax(1) == yb.to(xb.device)).sum())
    return correct / len(images)
