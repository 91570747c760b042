"""``imagefolder``: your own images, one folder per class: ``ROOT/train/<class>/*`` and ``ROOT/test/<class>/*``
(``ROOT/val/`` when there is no ``test/``), any of ``IMAGEFOLDER_EXTENSIONS``; classes are ``train``'s subfolders.

``dataset: {name: imagefolder, options: {root: DIR, image_size: N}}``: every image is decoded and resized once to
``image_size`` (short side, antialiased bilinear, then the centre square), kept in memory as uint8 tensors when both
splits fit in ``max_memory_gb`` (and cached as .npy under the data root, so the next trial does not decode again),
else decoded lazily: training through ``data.imagenet.ImageNetLoader`` (parallel decode, random-resized crop + flip on
the device), test batches decoded and resized per batch. Images up to ``SMALL_IMAGES`` px train like CIFAR (pad-4 crop
+ flip) and get the CIFAR -C/-P constants, larger ones like ImageNet (random-resized crop + flip, ImageNet constants):
the corruption profile is chosen by size, -C/-P are generated on the fly (``source: auto``/``on_the_fly``).

Data version (in every trial key): ``imagefolder-sha256:<16 hex>`` over each file's path relative to ROOT, size in
bytes and modification time (ns), plus the split sizes and ``image_size``; computed at plan time without decoding.
Renaming, adding, removing or touching a file makes a new version. Every file's header is checked when the version is
first computed (cached per version in ``$AUGMIX_LAB_CACHE``): an unreadable file is a ``UserError`` naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from augmix_lab.data.base import (
    CIFAR_MEAN,
    CIFAR_STD,
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDataset,
    check_int_option,
)
from augmix_lab.data.imagenet import LazyImageFolder, center_crop, decode_image, eval_batches, resize_short_side
from augmix_lab.errors import UserError

# torchvision.datasets.folder.IMG_EXTENSIONS
IMAGEFOLDER_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SMALL_IMAGES = 64  # up to this side: CIFAR-style training crop and -C/-P constants, above: ImageNet's
DECODE_CHUNK = 256  # images per decode task of the parallel in-memory build


def _split_dirs(root: Path) -> tuple[Path, Path]:
    train, test = root / "train", root / "test"
    if not test.is_dir():
        test = root / "val"
    if not root.is_dir() or not train.is_dir() or not test.is_dir():
        raise UserError(
            f"dataset 'imagefolder' option root={str(root)!r}: expected {root}/train/<class>/ and "
            f"{root}/test/<class>/ (or val/) folders of images; found "
            f"{', '.join(sorted(p.name for p in root.iterdir())) if root.is_dir() else 'no such folder'}"
        )
    return train, test


def _listing(split: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = split / name
        if not folder.is_dir():
            continue
        found = sorted(
            e.name for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(IMAGEFOLDER_EXTENSIONS)
        )
        files += [folder / f for f in found]
        labels += [label] * len(found)
    return files, labels


def scan(root: str | os.PathLike[str], image_size: int) -> dict[str, Any]:
    """Classes, files and labels of both splits and the data version (stat only, nothing decoded)."""
    root = Path(root).expanduser().resolve()
    train_dir, test_dir = _split_dirs(root)
    classes = sorted(e.name for e in os.scandir(train_dir) if e.is_dir())
    stray = sorted({e.name for e in os.scandir(test_dir) if e.is_dir()} - set(classes))
    if not classes or stray:
        detail = (
            f"{test_dir.name}/ has classes that train/ lacks: {', '.join(stray[:5])}"
            if stray
            else "train/ has no class folders"
        )
        raise UserError(f"dataset 'imagefolder' option root={str(root)!r}: not a class-folder layout: {detail}")
    train_files, train_labels = _listing(train_dir, classes)
    test_files, test_labels = _listing(test_dir, classes)
    for split, files in (("train", train_files), (test_dir.name, test_files)):
        if not files:
            raise UserError(
                f"dataset 'imagefolder' option root={str(root)!r}: {split}/ has no images "
                f"({', '.join(IMAGEFOLDER_EXTENSIONS)})"
            )
    h = hashlib.sha256()
    for f in (*train_files, *test_files):
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    version = (
        f"imagefolder-sha256:{h.hexdigest()[:16]}-train{len(train_files)}-{test_dir.name}{len(test_files)}"
        f"-size{image_size}"
    )
    return {
        "root": root,
        "classes": classes,
        "train": (train_files, train_labels),
        "test": (test_files, test_labels),
        "version": version,
    }


def _verified_file() -> Path:
    from augmix_lab.paths import cache_dir

    return cache_dir() / "imagefolder-verified.json"


def verify_readable(listing: dict[str, Any]) -> None:
    """Open every file's header once per data version; an unreadable file is a ``UserError`` naming it."""
    cache = _verified_file()
    try:
        seen = set(json.loads(cache.read_text()))
    except (OSError, ValueError):
        seen = set()
    if listing["version"] in seen:
        return
    for f in (*listing["train"][0], *listing["test"][0]):
        try:
            with Image.open(f) as im:
                im.verify()  # header and (PNG) chunk checksums; pixel data is decoded at load time
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            raise UserError(
                f"dataset 'imagefolder': cannot read image {f}: {type(exc).__name__}: {exc}; fix or remove the file"
            ) from None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(seen | {listing["version"]})[-1000:]))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only cache only costs a re-check next time


def imagefolder_version(*, root: str | None = None, image_size: int | None = None, max_memory_gb: float = 4.0) -> str:
    """The data version at plan time (file list, sizes, mtimes); files' headers checked (cached per version)."""
    _check_options(root, image_size, max_memory_gb)
    assert root is not None and image_size is not None  # _check_options raised otherwise
    listing = scan(root, image_size)
    verify_readable(listing)
    return listing["version"]


def _check_options(root: Any, image_size: Any, max_memory_gb: Any) -> None:
    if not isinstance(root, str) or not root:
        raise UserError(
            f"dataset 'imagefolder' option root={root!r}: required; allowed: the folder holding train/ "
            "and test/ (relative to the study file)"
        )
    if image_size is None:
        raise UserError(
            "dataset 'imagefolder' option image_size: required; allowed: an integer >= 8 (the side every "
            "image is resized to)"
        )
    check_int_option("imagefolder", "image_size", image_size, 8)
    if isinstance(max_memory_gb, bool) or not isinstance(max_memory_gb, (int, float)) or max_memory_gb < 0:
        raise UserError(f"dataset 'imagefolder' option max_memory_gb={max_memory_gb!r}: allowed: a number >= 0")


class ResizedImageFolder(LazyImageFolder):
    """A lazy split whose items are already at the dataset's size: decoded, short side resized, centre-cropped."""

    def __init__(self, files: list[Path], labels: torch.Tensor, image_size: int) -> None:
        super().__init__(files, labels)
        self.image_size = image_size

    def __getitem__(self, index: Any) -> torch.Tensor | list[torch.Tensor]:
        if isinstance(index, (int, np.integer)) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            return _decode_resized(self.files[int(index)], self.image_size)
        return list(self.batch(index))

    def batch(self, indices: Any, *, resize: int | None = None, crop: int | None = None) -> torch.Tensor:
        return super().batch(indices, resize=resize or self.image_size, crop=crop or self.image_size)

    def eval_batches(
        self, batch_size: int, *, stop: int | None = None, num_workers: int | None = None
    ) -> Iterator[torch.Tensor]:
        """The images at the dataset's size (not ImageNet's 256/224 view), decoded in parallel."""
        return eval_batches(
            self.files[:stop], batch_size, num_workers=num_workers, resize=self.image_size, crop=self.image_size
        )

    def head(self, n: int | None) -> ResizedImageFolder:
        return ResizedImageFolder(self.files[:n], self.labels[:n], self.image_size)


def _decode_resized(path: Path, size: int) -> torch.Tensor:
    return center_crop(resize_short_side(decode_image(path), size), size)


class _Decode(torch.utils.data.Dataset):
    """Chunks of files decoded and resized in a DataLoader worker (the in-memory build runs them in parallel)."""

    def __init__(self, files: list[Path], size: int) -> None:
        self.files, self.size = files, size

    def __len__(self) -> int:
        return -(-len(self.files) // DECODE_CHUNK)

    def __getitem__(self, i: int) -> torch.Tensor:
        chunk = self.files[i * DECODE_CHUNK : (i + 1) * DECODE_CHUNK]
        return torch.stack([_decode_resized(f, self.size) for f in chunk])


def decode_all(files: list[Path], size: int) -> torch.Tensor:
    """uint8 N×3×size×size of every file, decoded in parallel worker processes when there are several chunks."""
    dataset = _Decode(files, size)
    workers = min(len(dataset), max(0, min(8, (os.cpu_count() or 1))) if len(dataset) > 1 else 0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers)
    parts = list(loader)
    return torch.cat(parts) if parts else torch.empty(0, 3, size, size, dtype=torch.uint8)


def _cached_arrays(cache: Path, split: str, files: list[Path], size: int) -> torch.Tensor:
    """The split decoded once: read from ``cache/<split>.npy`` when there, else decoded and saved (atomically)."""
    path = cache / f"{split}.npy"
    if path.is_file():
        array = np.load(path, allow_pickle=False)
        if array.shape == (len(files), 3, size, size):
            return torch.from_numpy(array)
    images = decode_all(files, size)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{split}.{os.getpid()}.npy"
        np.save(tmp, images.numpy(), allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only data root: decode again next time
    return images


def load_imagefolder(
    data_root: Path, *, root: str | None = None, image_size: int | None = None, max_memory_gb: float = 4.0
) -> ImageDataset:
    """Both splits of the class folders under ``root`` (see the module docstring)."""
    _check_options(root, image_size, max_memory_gb)
    assert root is not None and image_size is not None  # _check_options raised otherwise
    listing = scan(root, image_size)
    (train_files, train_labels), (test_files, test_labels) = listing["train"], listing["test"]
    ytrain, ytest = torch.tensor(train_labels, dtype=torch.int64), torch.tensor(test_labels, dtype=torch.int64)
    in_memory = (len(train_files) + len(test_files)) * 3 * image_size**2 <= max_memory_gb * 2**30
    small = image_size <= SMALL_IMAGES and in_memory  # a lazy folder trains through the ImageNet loader (RRC)
    if in_memory:
        cache = Path(data_root) / "imagefolder" / listing["version"].split(":", 1)[1]
        train = _cached_arrays(cache, "train", train_files, image_size)
        test = _cached_arrays(cache, "test", test_files, image_size)
    else:
        train = ResizedImageFolder(train_files, ytrain, image_size)
        test = ResizedImageFolder(test_files, ytest, image_size)
    return ImageDataset(
        name="imagefolder",
        kind="cifar" if small else "imagenet",
        train_images=train,
        train_labels=ytrain,
        test_images=test,
        test_labels=ytest,
        classes=listing["classes"],
        mean=CIFAR_MEAN if small else IMAGENET_MEAN,
        std=CIFAR_STD if small else IMAGENET_STD,
        image_size=image_size,
        version=listing["version"],
        options={"root": str(listing["root"]), "image_size": image_size, "in_memory": in_memory},
        profile="cifar" if image_size <= SMALL_IMAGES else "imagenet",
    )


DATASETS.add(
    "imagefolder",
    load_imagefolder,
    download=None,
    spec_version=imagefolder_version,
    path_options=("root",),
    description="your own images in class folders: ROOT/train/<class>/*, ROOT/test/<class>/* (or val/)",
)
