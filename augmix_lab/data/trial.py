"""A trial's data, loaded one way for every user: the trainer, re-evaluation, soups and the study-level analyses.

``load_trial_data(cfg, data_root)``: the dataset of ``cfg.dataset`` (name, root, options), cut to its
``train_subset`` / ``test_subset`` (smoke runs), normalised as the trial's pretrained weights expect (a ``timm:`` model
with ``pretrained``: the pretrained config's mean/std), then split into what the trial trains on and the held-out tail
(``dataset.holdout``: the last N training images, never trained on; data/holdout.py), then into the labelled part
and the unlabelled pool (``dataset.labelled``: data/labelled.py; the pool carries no labels).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import torch

from augmix_lab.data import labelled as labelled_split  # called through the module: tests poison its output
from augmix_lab.data.base import load_dataset
from augmix_lab.data.holdout import split_holdout


@dataclass(frozen=True)
class TrialData:
    """``dataset``: what the trial trains and tests on (held-out tail removed; with ``dataset.labelled`` only its
    labelled images); the held-out images and labels, or None when the trial declares no ``dataset.holdout``;
    ``pool``: the unlabelled pool (``UnlabelledPool``, no labels) or None; ``unsplit``: the training split before
    ``dataset.labelled`` (only for scoring pseudo-labels against the withheld labels)."""

    dataset: Any
    heldout_images: torch.Tensor | None = None
    heldout_labels: torch.Tensor | None = None
    pool: Any = None
    unsplit: Any = None


def subset_dataset(ds: Any, train_subset: int | None, test_subset: int | None) -> Any:
    """The first N train/test images (smoke runs); the version string records the cut."""
    if train_subset is None and test_subset is None:
        return ds

    def head(images: Any, n: int) -> Any:  # a lazy folder stays lazy (slicing it would decode every file)
        return images.head(n) if hasattr(images, "head") else images[:n]

    changes: dict[str, Any] = {}
    if train_subset is not None:
        changes.update(train_images=head(ds.train_images, train_subset), train_labels=ds.train_labels[:train_subset])
    if test_subset is not None:
        changes.update(test_images=head(ds.test_images, test_subset), test_labels=ds.test_labels[:test_subset])
    changes["version"] = f"{ds.version}|train[:{train_subset}]|test[:{test_subset}]"
    return dataclasses.replace(ds, **changes)


def load_trial_data(cfg: Any, data_root: str | os.PathLike[str] | None = None) -> TrialData:
    """The data of a trial config (``TrialConfig``: its ``dataset`` block, ``model`` and ``pretrained``)."""
    from augmix_lab.models.timm_models import input_convention

    dataset_cfg = cfg.dataset
    ds = load_dataset(dataset_cfg.name, dataset_cfg.root or data_root, **dataset_cfg.options)  # options may hold root
    ds = subset_dataset(ds, dataset_cfg.train_subset, dataset_cfg.test_subset)
    convention = input_convention(cfg.model, cfg.pretrained)
    if convention is not None:  # pretrained weights: normalise as they were trained (timm's pretrained config)
        ds = dataclasses.replace(ds, mean=convention["mean"], std=convention["std"])
    ds, heldout_images, heldout_labels = split_holdout(ds, dataset_cfg.holdout)
    labelled, pool = labelled_split.split_labelled(ds, dataset_cfg.labelled, cfg.seed)
    return TrialData(labelled, heldout_images, heldout_labels, pool=pool, unsplit=ds)


def load_trial_split(cfg: Any, data_root: str | os.PathLike[str] | None = None) -> tuple[Any, Any, Any]:
    """(the training split before ``dataset.labelled``, the labelled dataset, the unlabelled pool or None)."""
    data = load_trial_data(cfg, data_root)
    return data.unsplit, data.dataset, data.pool
