"""A validation split carved from the training data: the last N training images, never trained on.

Model soups choose their members on it (Wortsman et al., ICML 2022: held-out validation data, never the test set or
the shifted benchmarks). The cut is part of the trial's key (``dataset.holdout``) and recorded in the data version.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from augmix_lab.errors import UserError


def split_holdout(ds: Any, n: int | None) -> tuple[Any, torch.Tensor | None, torch.Tensor | None]:
    """(dataset without its last ``n`` training images, held-out images, held-out labels); n None: no split."""
    if n is None:
        return ds, None, None
    total = len(ds.train_labels)
    if not 1 <= n < total:
        raise UserError(
            f"field 'dataset.holdout': {n} held-out images of {total} training images; allowed: 1..{total - 1}"
        )
    images, labels = ds.train_images[total - n :], ds.train_labels[total - n :]
    kept = dataclasses.replace(
        ds,
        train_images=ds.train_images[: total - n],
        train_labels=ds.train_labels[: total - n],
        version=f"{ds.version}|holdout[-{n}:]",
    )
    return kept, images, labels
