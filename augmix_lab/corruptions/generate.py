"""Our -C / -P generator for any dataset, written in the released layout, plus the on-the-fly mode for evaluation.

Every (corruption, severity, batch) gets its own generator seeded from a stable hash of (seed, name, severity, batch
index), so files are reproducible under a seed, independent of which corruptions are made, and the on-the-fly mode
corrupts exactly the same pixels as make-c with the same seed and batch size.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from augmix_lab.corruptions import released
from augmix_lab.corruptions.registry import (
    PERTURBATIONS,
    SUITES,
    check_corruption_names,
    check_perturbation_names,
    corruption_names,
    perturbation_names,
)

GENERATOR_VERSION = "2"  # bump when kernels change what they produce (2: glass_blur copies, frost photographs)


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from a stable hash of ``parts`` (Python's hash() is salted per process)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_generator(device: torch.device | str, *parts: object) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(stable_seed(*parts))
    return g


def profile_for(dataset) -> str:
    """The dataset's own ``profile`` when it sets one (imagefolder: by image size), else CIFAR constants for 32-px
    'cifar' kind datasets (cifar10/100, shapes) and ImageNet constants otherwise."""
    if getattr(dataset, "profile", None):
        return dataset.profile
    return "cifar" if getattr(dataset, "kind", "cifar") == "cifar" else "imagenet"


def profile_for_name(dataset: str) -> str:
    """``profile_for`` without loading the data: from the registered image size (ImageNet's 224 px -> "imagenet")."""
    from augmix_lab.data import DATASETS

    size = DATASETS.meta(dataset).get("image_size") if dataset in DATASETS else None
    return "imagenet" if size is not None and size > 64 else "cifar"


def corrupted_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    name: str,
    severity: int,
    *,
    seed: int,
    batch_size: int,
    profile: str,
    device: torch.device | str = "cpu",
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """On-the-fly -C: yield (corrupted uint8 batch on ``device``, labels) for ``images`` (uint8 N×3×H×W, or a lazy
    ImageNet folder, streamed as its reference eval view)."""
    from augmix_lab.corruptions.functional import corrupt
    from augmix_lab.data.batching import image_batches

    for k, batch in enumerate(image_batches(images, batch_size)):
        start = k * batch_size
        batch = batch.to(device)
        g = make_generator(batch.device, seed, name, severity, k)
        yield corrupt(batch, name, severity, g, profile), labels[start : start + batch_size]


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(tmp, path)


def _label_array(labels: torch.Tensor, num_classes: int) -> np.ndarray:
    dtype = np.uint8 if num_classes <= 256 else np.int64  # released labels.npy is uint8 (make_cifar_c.py)
    return labels.cpu().numpy().astype(dtype)


def make_c(
    dataset,
    out_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    corruptions: list[str] | None = None,
    profile: str | None = None,
    batch_size: int = 500,
    device: str = "cpu",
    data_root: str | os.PathLike[str] | None = None,
    progress=None,
    suite: str = "c",
) -> Path:
    """Write ``<out>/<NAME>-C/<corruption>.npy`` (5*N, H, W, 3) uint8 severity-major + ``labels.npy`` for ``dataset``.

    ``dataset`` is an ImageDataset or a dataset name (loaded from ``data_root``); ``out_dir`` defaults to
    ``<data_root>/generated``. Corruptions default to every registered one (the 15 benchmark + 4 extra built-ins).
    ``suite="c_bar"`` writes ``<NAME>-C-Bar`` with the profile's 10 C-bar corruptions and int64 labels, the layout
    of make_cifar10_c_bar.py.
    """
    dataset, out = _resolve(dataset, out_dir, data_root)
    profile = profile or profile_for(dataset)
    if corruptions is None:
        names = corruption_names(suite=suite, profile=profile if suite != "c" else None)
    else:
        names = check_corruption_names(
            corruptions, "corruptions", suite=suite, profile=profile if suite != "c" else None
        )
    images, labels = _test_split(dataset)
    kind = SUITES[suite]
    target = out / released.benchmark_dirname(dataset.name, kind)
    target.mkdir(parents=True, exist_ok=True)
    n = len(images)
    for name in names:
        arr = np.empty((5 * n,) + tuple(images.shape[2:]) + (3,), dtype=np.uint8)
        for severity in range(1, 6):
            row = (severity - 1) * n
            for batch, _ in corrupted_batches(
                images, labels, name, severity, seed=seed, batch_size=batch_size, profile=profile, device=device
            ):
                arr[row : row + len(batch)] = batch.permute(0, 2, 3, 1).cpu().numpy()
                row += len(batch)
        _atomic_save(target / f"{name}.npy", arr)
        if progress:
            progress(name)
    label_array = _label_array(labels, dataset.num_classes)
    if suite == "c_bar":  # make_cifar10_c_bar.py: labels = np.zeros(...).astype(np.int)
        label_array = label_array.astype(np.int64)
    _atomic_save(target / "labels.npy", np.tile(label_array, 5))
    _write_marker(target, dataset, seed, profile, kind)
    return target


def make_p(
    dataset,
    out_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    perturbations: list[str] | None = None,
    profile: str | None = None,
    difficulties: tuple[int, ...] = (1,),
    batch_size: int = 200,
    max_videos: int | None = None,
    device: str = "cpu",
    data_root: str | os.PathLike[str] | None = None,
    progress=None,
) -> Path:
    """Write ``<out>/<NAME>-P/<perturbation>.npy`` (N, T, H, W, 3) uint8 (+ ``_2``/``_3`` noise difficulties) + labels."""
    from augmix_lab.corruptions.perturbations import perturb_sequence

    dataset, out = _resolve(dataset, out_dir, data_root)
    names = (
        perturbation_names(implemented_only=True)
        if perturbations is None
        else check_perturbation_names(perturbations, "perturbations")
    )
    profile = profile or profile_for(dataset)
    images, labels = _test_split(dataset)
    if max_videos is not None:
        images, labels = images[:max_videos], labels[:max_videos]
    target = out / released.benchmark_dirname(dataset.name, "P")
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        for difficulty in difficulties if PERTURBATIONS.get(name).noise else (1,):
            parts = []
            for k, start in enumerate(range(0, len(images), batch_size)):
                batch = images[start : start + batch_size].to(device)
                g = make_generator(batch.device, seed, "P", name, difficulty, k)
                parts.append(perturb_sequence(batch, name, g, profile, difficulty).permute(0, 1, 3, 4, 2).cpu().numpy())
            suffix = "" if difficulty == 1 else f"_{difficulty}"
            _atomic_save(target / f"{name}{suffix}.npy", np.concatenate(parts))
            if progress:
                progress(name + suffix)
    _atomic_save(target / "labels.npy", _label_array(labels, dataset.num_classes))
    _write_marker(target, dataset, seed, profile, "P")
    return target


def _resolve(dataset, out_dir, data_root):
    from augmix_lab.data import load_dataset, resolve_data_root

    if isinstance(dataset, str):
        dataset = load_dataset(dataset, data_root)
    out = Path(out_dir) if out_dir is not None else resolve_data_root(data_root) / released.GENERATED_SUBDIR
    return dataset, out


def _test_split(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    images = dataset.test_images
    if not isinstance(images, torch.Tensor):  # lazy ImageNet folders: decode once
        images = torch.stack([images[i] for i in range(len(images))])
    return images, torch.as_tensor(dataset.test_labels)


def _write_marker(target: Path, dataset, seed: int, profile: str, kind: str) -> None:
    from augmix_lab.corruptions.textures import frost_origin

    info = {
        "dataset": dataset.name,
        "dataset_version": getattr(dataset, "version", ""),
        "seed": seed,
        "profile": profile,
        "kind": kind,
        "generator_version": GENERATOR_VERSION,
    }
    if kind == "C":
        info["frost_textures"] = frost_origin()  # "synthetic": frost made without the photographs (labelled)
    (target / released.GENERATED_MARKER).write_text(json.dumps(info, indent=1, sort_keys=True))
