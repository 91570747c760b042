"""A labelled subset of the training split and the unlabelled pool beside it (``dataset.labelled``).

The subset is class-balanced and seeded: per class, a seeded permutation of that class's images and its first
``k_c`` (``round(fraction * n_c)`` or ``per_class``), as the semi-supervised benchmarks draw labelled folds
(google-research/fixmatch scripts/create_split.py shuffles each class with the fold's seed and takes labelled images
in the classes' proportions; its unlabelled set is the whole training split, ours the rest only). The rest of the
training split is the pool. ``UnlabelledPool`` has no labels field: training gets the pool without its labels, so no
code path of a training step can read them (the structural guarantee of issue 25). ``withheld_labels`` returns them
separately, and only the pseudo-label scorer calls it (``training/self_training.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from augmix_lab.errors import UserError


@dataclass(frozen=True)
class UnlabelledPool:
    """The training images kept without labels: ``images`` (uint8 N×C×H×W, or a lazy folder) and their ``positions``
    in the training split; ``version`` identifies the pool's content (data version + split)."""

    images: Any
    positions: torch.Tensor
    version: str

    def __len__(self) -> int:
        return int(self.positions.numel())


def split_seed(spec: Any, trial_seed: int) -> int:
    """The split's seed: ``labelled.seed`` when given, else the trial's seed."""
    return int(spec.seed) if spec.seed is not None else int(trial_seed)


def spec_text(spec: Any, seed: int) -> str:
    """The split in a version string: ``fraction=0.1,seed=0`` / ``per_class=25,seed=0``."""
    size = f"fraction={spec.fraction:g}" if spec.fraction is not None else f"per_class={spec.per_class}"
    return f"{size},seed={seed}"


def quotas(counts: torch.Tensor, spec: Any) -> torch.Tensor:
    """Labelled images per class: ``floor(fraction * n_c + 0.5)`` (round half up), or ``per_class``."""
    if spec.fraction is not None:
        return torch.floor(counts.double() * float(spec.fraction) + 0.5).to(torch.int64)
    return torch.full_like(counts, int(spec.per_class))


def quota_problem(labels: torch.Tensor, num_classes: int, spec: Any) -> str | None:
    """Why this split is impossible (a class left with no labelled image, or asked for more than it has), else None."""
    counts = torch.bincount(labels.to(torch.int64), minlength=num_classes)
    want = quotas(counts, spec)
    empty = [c for c in range(num_classes) if counts[c] > 0 and want[c] == 0]
    if empty:
        c, smallest = empty[0], int(counts[counts > 0].min())
        return (
            f"fraction {spec.fraction:g} leaves class {c} ({int(counts[c])} training images) with no labelled "
            f"image ({len(empty)} class(es) in all); allowed: a fraction >= {0.5 / smallest:.3g} (every class "
            "keeps one) or per_class"
        )
    short = [c for c in range(num_classes) if want[c] > counts[c]]
    if short:
        c = short[0]
        return (
            f"per_class {spec.per_class} exceeds class {c}'s {int(counts[c])} training images; allowed: "
            f"1..{int(counts[counts > 0].min())}"
        )
    return None


def labelled_positions(labels: torch.Tensor, num_classes: int, spec: Any, seed: int) -> torch.Tensor:
    """Sorted positions of the labelled images: per class, the first k_c of a seeded permutation."""
    problem = quota_problem(labels, num_classes, spec)
    if problem:
        raise UserError(f"field 'dataset.labelled': {problem}")
    stream = int.from_bytes(hashlib.sha256(f"labelled:{seed}".encode()).digest()[:8], "little") >> 1
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(stream))
    by_class = labels[perm].to(torch.int64)
    want = quotas(torch.bincount(labels.to(torch.int64), minlength=num_classes), spec)
    # rank of each permuted image within its class: a stable sort by class keeps the permutation order inside a class
    order = torch.sort(by_class, stable=True).indices
    starts = torch.cumsum(torch.bincount(by_class, minlength=num_classes), 0) - torch.bincount(
        by_class, minlength=num_classes
    )
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order)) - starts[by_class[order]]
    keep = rank < want[by_class]
    return torch.sort(perm[keep]).values


_LABELS_CACHE: dict[str, tuple[torch.Tensor, int] | None] = {}


def training_labels(dataset: Any) -> tuple[torch.Tensor, int] | None:
    """(training labels after train_subset and holdout, class count) of a ``DatasetConfig``, for plan-time checks:
    the dataset's cheap ``train_labels`` when registered (shapes), else its loaded labels; None when the data is not
    there yet (the preflight names the missing input)."""
    from augmix_lab.data.base import DATASETS, load_dataset

    cache_key = repr(
        (dataset.name, sorted(dataset.options.items()), dataset.root, dataset.train_subset, dataset.holdout)
    )
    if cache_key not in _LABELS_CACHE:
        cheap = DATASETS.meta(dataset.name).get("train_labels") if dataset.name in DATASETS else None
        try:
            if callable(cheap):
                labels, num_classes = cheap(**dataset.options)
            else:
                ds = load_dataset(dataset.name, root=dataset.root, **dataset.options)
                labels, num_classes = ds.train_labels, ds.num_classes
        except UserError:
            _LABELS_CACHE[cache_key] = None
            return None
        labels = labels[: dataset.train_subset] if dataset.train_subset is not None else labels
        if dataset.holdout is not None and 1 <= dataset.holdout < len(labels):
            labels = labels[: len(labels) - dataset.holdout]
        _LABELS_CACHE[cache_key] = (labels, int(num_classes))
    return _LABELS_CACHE[cache_key]


def split_labelled(ds: Any, spec: Any, trial_seed: int) -> tuple[Any, UnlabelledPool | None]:
    """(the dataset with only the labelled training images, the unlabelled pool); ``spec`` None: (ds, None)."""
    if spec is None:
        return ds, None
    seed = split_seed(spec, trial_seed)
    positions = labelled_positions(ds.train_labels, ds.num_classes, spec, seed)
    mask = torch.ones(len(ds.train_labels), dtype=torch.bool)
    mask[positions] = False
    pool_positions = torch.nonzero(mask).flatten()
    version = f"{ds.version}|labelled[{spec_text(spec, seed)}]"
    labelled = dataclasses.replace(
        ds,
        train_images=_take(ds.train_images, positions, ds.train_labels),
        train_labels=ds.train_labels[positions],
        version=version,
    )
    return labelled, UnlabelledPool(_take(ds.train_images, pool_positions), pool_positions, f"{version}|pool")


def withheld_labels(ds: Any, pool: UnlabelledPool) -> torch.Tensor:
    """The pool's true labels, for scoring pseudo-labels only (``ds``: the training split before the split)."""
    return ds.train_labels[pool.positions]


def _take(images: Any, positions: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
    """The images at ``positions``; a lazy folder keeps its files (with ``labels``, else -1: the pool has none)."""
    if isinstance(images, torch.Tensor):
        return images[positions]
    files = [images.files[int(i)] for i in positions]
    kept = labels[positions] if labels is not None else torch.full((len(files),), -1, dtype=torch.int64)
    return type(images)(files, kept)
