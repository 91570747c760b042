"""CIFAR-10 / CIFAR-100 from the official python-version archives (extracted or still in the .tar.gz).

Format (https://www.cs.toronto.edu/~kriz/cifar.html): each batch is a pickled dict with ``data`` (N×3072 uint8,
row-major 32×32 R, then G, then B planes) and ``labels`` (CIFAR-100: ``fine_labels``); the meta file holds
``label_names`` (``fine_label_names``). Decoded tensors are cached beside the source as an ``.npz``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from augmix_lab.data.base import CIFAR_MEAN, CIFAR_STD, DATASETS, ImageDataset, missing_dataset_error
from augmix_lab.data.download import DOWNLOADS, Downloadable, RemoteFile, checksum_mismatch
from augmix_lab.data.safe_pickle import as_text, as_uint8_array, normalize_keys, safe_load
from augmix_lab.errors import UserError

CACHE_FORMAT = 1  # bump when the cached arrays' layout changes


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant's files live and which keys hold its labels and class names."""

    name: str
    archive: RemoteFile
    folder: str
    train_members: tuple[tuple[str, str], ...]  # (file name, md5)
    test_members: tuple[tuple[str, str], ...]
    meta_member: tuple[str, str]
    labels_key: str
    classes_key: str

    @property
    def members(self) -> tuple[tuple[str, str], ...]:
        return (*self.train_members, *self.test_members, self.meta_member)


# URLs, file names and md5s as in torchvision/datasets/cifar.py (CIFAR10 / CIFAR100 class attributes)
CIFAR10 = CifarLayout(
    name="cifar10",
    archive=RemoteFile(
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        filename="cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",  # torchvision CIFAR10.tgz_md5
        size=170498071,  # bytes of the official archive (torchvision download log)
    ),
    folder="cifar-10-batches-py",
    train_members=(
        ("data_batch_1", "c99cafc152244af753f735de768cd75f"),  # torchvision CIFAR10.train_list
        ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        ("data_batch_4", "634d18415352ddfa80567beed471001a"),
        ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    ),
    test_members=(("test_batch", "40351d587109b95175f43aff81a1287e"),),  # torchvision CIFAR10.test_list
    meta_member=("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),  # torchvision CIFAR10.meta
    labels_key="labels",
    classes_key="label_names",
)
CIFAR100 = CifarLayout(
    name="cifar100",
    archive=RemoteFile(
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        filename="cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",  # torchvision CIFAR100.tgz_md5
        size=169001437,  # bytes of the official archive (torchvision download log)
    ),
    folder="cifar-100-python",
    train_members=(("train", "16019d7e3df5f24257cddd939b257f8d"),),  # torchvision CIFAR100.train_list
    test_members=(("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),  # torchvision CIFAR100.test_list
    meta_member=("meta", "7973b15100ade9c7d40fb424638fde48"),  # torchvision CIFAR100.meta
    labels_key="fine_labels",  # the 100-class labels; coarse_labels are the 20 superclasses
    classes_key="fine_label_names",
)


def _extracted_complete(layout: CifarLayout, root: Path) -> bool:
    return all((root / layout.folder / member).is_file() for member, _ in layout.members)


def _locate(layout: CifarLayout, root: Path) -> tuple[list[Path], str]:
    """The source files to read (the extracted folder's members, else the archive) and a label for messages."""
    folder, archive = root / layout.folder, root / layout.archive.filename
    if _extracted_complete(layout, root):
        return [folder / m for m, _ in layout.members], str(folder)
    if archive.is_file():
        return [archive], f"{archive}:{layout.folder}"
    raise missing_dataset_error(layout.name, [folder, archive], root)


def _read_members(layout: CifarLayout, root: Path, files: list[Path]) -> dict[str, bytes]:
    """Member name -> bytes, from the extracted files or in one pass over the archive."""
    if files[0].name != layout.archive.filename:
        return {path.name: path.read_bytes() for path in files}
    wanted = {f"{layout.folder}/{member}": member for member, _ in layout.members}
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(files[0], "r:*") as tf:
            for info in tf:
                if info.name in wanted and info.isfile():
                    handle = tf.extractfile(info)
                    if handle is not None:
                        blobs[wanted[info.name]] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(
            f"{files[0]} is not a readable {layout.name} archive ({exc}); "
            f"check it with: augmix-lab data verify {layout.name} --data-root {root}"
        ) from None
    missing = [name for name in wanted if wanted[name] not in blobs]
    if missing:
        raise UserError(f"{files[0]} is not an official {layout.name} archive: it lacks {', '.join(missing)}")
    return blobs


def _decode_batch(layout: CifarLayout, blob: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        entry = normalize_keys(safe_load(io.BytesIO(blob), source=source))
        data = as_uint8_array(entry["data"], source=source)
        labels = np.asarray(entry[layout.labels_key], dtype=np.int64)
    except (ValueError, KeyError) as exc:
        raise UserError(f"{source} is not an official {layout.name} batch: {exc}") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise UserError(f"{source}: expected data N×3072 with N labels, got {data.shape} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels  # rows are R, G, B planes of 32×32 row-major pixels


def _read_split(
    layout: CifarLayout, blobs: dict[str, bytes], members: tuple[tuple[str, str], ...], where: str
) -> tuple[np.ndarray, np.ndarray]:
    decoded = [_decode_batch(layout, blobs[member], f"{where}/{member}") for member, _ in members]
    return np.concatenate([x for x, _ in decoded]), np.concatenate([y for _, y in decoded])


def _signature(files: list[Path]) -> str:
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


def _content_version(name: str, arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return f"{name}-sha256:{digest.hexdigest()[:16]}"


def _cache_path(layout: CifarLayout, root: Path) -> Path:
    return root / f"{layout.folder}.augmix-lab-v{CACHE_FORMAT}.npz"


def load_cifar(layout: CifarLayout, root: Path) -> ImageDataset:
    """Decode (or read from the cache) one CIFAR variant under ``root``."""
    files, where = _locate(layout, root)
    signature = _signature(files)
    cache = _cache_path(layout, root)
    arrays = _read_cache(cache, signature)
    if arrays is None:
        blobs = _read_members(layout, root, files)
        train_x, train_y = _read_split(layout, blobs, layout.train_members, where)
        test_x, test_y = _read_split(layout, blobs, layout.test_members, where)
        meta_blob = blobs[layout.meta_member[0]]
        try:
            meta = normalize_keys(safe_load(io.BytesIO(meta_blob), source=f"{where}/{layout.meta_member[0]}"))
            classes = [as_text(c) for c in meta[layout.classes_key]]
        except (ValueError, KeyError) as exc:
            raise UserError(
                f"{where}/{layout.meta_member[0]} is not an official {layout.name} meta file: {exc}"
            ) from None
        arrays = {
            "train_images": train_x,
            "train_labels": train_y,
            "test_images": test_x,
            "test_labels": test_y,
            "classes": np.array(classes, dtype=str),
            "version": np.array(_content_version(layout.name, [train_x, train_y, test_x, test_y])),
            "signature": np.array(signature),
        }
        _write_cache(cache, arrays)
    return ImageDataset(
        name=layout.name,
        kind="cifar",
        train_images=torch.from_numpy(np.ascontiguousarray(arrays["train_images"])),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=torch.from_numpy(np.ascontiguousarray(arrays["test_images"])),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        classes=[str(c) for c in arrays["classes"]],
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        image_size=32,
        version=str(arrays["version"]),
    )


def _read_cache(cache: Path, signature: str) -> dict[str, np.ndarray] | None:
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as npz:
            if str(npz["signature"]) != signature:
                return None  # the source files changed since the cache was written
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError):
        return None  # unreadable cache: decode again


def _write_cache(cache: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]  # keys are array names, never allow_pickle
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only data root just means no cache


def verify_cifar(layout: CifarLayout, root: Path) -> list[str]:
    """Problems with what ``load_cifar`` reads: the extracted files' md5s when the folder is complete (it is read
    first), else the archive's md5; the archive is checked too whenever it is there."""
    archive, folder = root / layout.archive.filename, root / layout.folder
    problems = []
    if archive.is_file() and (problem := checksum_mismatch(archive, md5=layout.archive.md5)):
        problems.append(f"checksum mismatch for {archive}: {problem}")
    if not folder.is_dir():
        return problems if archive.is_file() else [f"{archive} is missing (and {folder} is not there either)"]
    if archive.is_file() and not _extracted_complete(layout, root):
        return problems  # a partial folder is not read: the archive is
    for member, md5 in layout.members:
        path = folder / member
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif problem := checksum_mismatch(path, md5=md5):
            problems.append(
                f"checksum mismatch for {path}: {problem} (remove {folder}: the archive "
                f"{archive.name} is read directly)"
            )
    return problems


def load_cifar10(root: Path) -> ImageDataset:
    """CIFAR-10 (50k train / 10k test, 10 classes)."""
    return load_cifar(CIFAR10, root)


def load_cifar100(root: Path) -> ImageDataset:
    """CIFAR-100 with its 100 fine labels (50k train / 10k test)."""
    return load_cifar(CIFAR100, root)


for _layout, _loader, _title in ((CIFAR10, load_cifar10, "CIFAR-10"), (CIFAR100, load_cifar100, "CIFAR-100")):
    DOWNLOADS.add(
        _layout.name,
        Downloadable(
            name=_layout.name,
            files=(_layout.archive,),
            description=f"{_title} python-version archive (read directly, no extraction needed)",
            extract_dir=_layout.folder,
            verify=partial(verify_cifar, _layout),
        ),
    )
    DATASETS.add(
        _layout.name,
        _loader,
        description=f"{_title}, 32×32",
        download=_layout.name,
        image_size=32,
        spec_version=f"{_layout.name}-archive-md5:{_layout.archive.md5}",
    )
