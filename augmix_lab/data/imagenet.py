"""`imagenet`: an ImageFolder layout (``<root>/imagenet/{train,val}/<wnid>/*.JPEG``) decoded lazily on demand.

ImageNet does not fit in memory as uint8 tensors, so ``train_images`` / ``test_images`` are `LazyImageFolder`
objects: ``images[i]`` decodes one file to a uint8 3×H×W tensor (native size), ``images[index_tensor]`` a list
of them, and ``images.batch(indices)`` the reference evaluation view (Resize 256, CenterCrop 224) stacked N×3×224×224.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from augmix_lab.data.base import DATASETS, IMAGENET_MEAN, IMAGENET_STD, ImageDataset, missing_dataset_error
from augmix_lab.errors import UserError

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")  # torchvision IMG_EXTENSIONS subset used by ILSVRC folders
EVAL_RESIZE = 256  # reference augmix imagenet.py: test transform Resize(256)
EVAL_CROP = 224  # reference augmix imagenet.py: CenterCrop(224)


def decode_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """One image file as a uint8 RGB 3×H×W tensor."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise UserError(f"cannot decode image {path}: {exc}") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def resize_short_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 3×H×W image so its shorter side is ``size`` (antialiased bilinear, like PIL's Resize)."""
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    new_h, new_w = (size, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), size)
    resized = torch.nn.functional.interpolate(
        image[None].float(), size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
    )
    return resized[0].round().clamp(0, 255).to(torch.uint8)


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size``×``size`` window of a 3×H×W image (H, W >= size)."""
    h, w = image.shape[-2:]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))  # torchvision center_crop offsets
    return image[:, top : top + size, left : left + size]


class LazyImageFolder:
    """An indexable list of image files that decodes on access (see the module docstring for the index forms)."""

    def __init__(self, files: Sequence[Path], labels: torch.Tensor) -> None:
        if len(files) != len(labels):
            raise ValueError(f"{len(files)} files but {len(labels)} labels")
        self.files = list(files)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: Any) -> torch.Tensor | list[torch.Tensor]:
        if isinstance(index, (int, np.integer)) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            return decode_image(self.files[int(index)])
        if isinstance(index, slice):
            return [decode_image(f) for f in self.files[index]]
        return [decode_image(self.files[int(i)]) for i in _as_index_list(index)]

    def batch(self, indices: Any, *, resize: int = EVAL_RESIZE, crop: int = EVAL_CROP) -> torch.Tensor:
        """Decode, resize the short side to ``resize`` (antialiased bilinear), centre-crop ``crop``: uint8 N×3×crop×crop."""
        chosen = range(len(self))[indices] if isinstance(indices, slice) else _as_index_list(indices)
        views = [center_crop(resize_short_side(decode_image(self.files[i]), resize), crop) for i in chosen]
        return torch.stack(views) if views else torch.empty(0, 3, crop, crop, dtype=torch.uint8)

    def __repr__(self) -> str:
        return f"LazyImageFolder({len(self)} files)"


def _as_index_list(index: Any) -> list[int]:
    if isinstance(index, torch.Tensor):
        return index.reshape(-1).cpu().tolist()
    return [int(i) for i in index]


def _list_split(split_dir: Path, classes: list[str]) -> tuple[list[Path], torch.Tensor]:
    files, labels = [], []
    for label, wnid in enumerate(classes):
        class_dir = split_dir / wnid
        if not class_dir.is_dir():
            continue
        names = sorted(e.name for e in os.scandir(class_dir) if e.name.lower().endswith(IMAGE_EXTENSIONS))
        files.extend(class_dir / name for name in names)
        labels.extend([label] * len(names))
    return files, torch.tensor(labels, dtype=torch.int64)


def load_imagenet(root: Path) -> ImageDataset:
    """ImageNet from ``<root>/imagenet/train`` and ``<root>/imagenet/val`` (one folder per wnid, as ImageFolder)."""
    base = Path(root) / "imagenet"
    train_dir, val_dir = base / "train", base / "val"
    if not (train_dir.is_dir() and val_dir.is_dir()):
        raise missing_dataset_error(
            "imagenet",
            [train_dir, val_dir],
            root,
            hint=f"ImageNet (ILSVRC2012) needs a manual download; arrange it as {base}/{{train,val}}/<wnid>/*.JPEG",
        )
    classes = sorted(e.name for e in os.scandir(train_dir) if e.is_dir())
    stray = sorted(set(e.name for e in os.scandir(val_dir) if e.is_dir()) - set(classes))
    if not classes or stray:
        detail = f"val has classes missing from train: {', '.join(stray[:5])}" if stray else "train has no class folders"
        raise UserError(f"{base} is not an ImageFolder layout: {detail}")
    train_files, train_labels = _list_split(train_dir, classes)
    val_files, val_labels = _list_split(val_dir, classes)
    digest = hashlib.sha256()
    for path in (*train_files, *val_files):
        digest.update(str(path.relative_to(base)).encode() + b"\n")
    return ImageDataset(
        name="imagenet",
        kind="imagenet",
        train_images=LazyImageFolder(train_files, train_labels),
        train_labels=train_labels,
        test_images=LazyImageFolder(val_files, val_labels),
        test_labels=val_labels,
        classes=classes,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        image_size=EVAL_CROP,
        version=f"imagenet-files-sha256:{digest.hexdigest()[:16]}-train{len(train_files)}-val{len(val_files)}",
    )


DATASETS.add(
    "imagenet", load_imagenet, description="ImageNet ImageFolder (manual download), decoded lazily", download=None,
    spec_version="imagenet-ilsvrc2012-folder",
)
