"""`imagenet`: an ImageFolder layout (``<root>/imagenet/{train,val}/<wnid>/*.JPEG``) decoded lazily on demand.

ImageNet does not fit in memory as uint8 tensors, so ``train_images`` / ``test_images`` are `LazyImageFolder`
objects: ``images[i]`` decodes one file to a uint8 3×H×W tensor (native size), ``images[index_tensor]`` a list
of them, and ``images.batch(indices)`` the reference evaluation view (Resize 256, CenterCrop 224) stacked N×3×224×224.

Training input (`ImageNetLoader`): DataLoader worker processes decode the JPEGs in parallel (PIL, or only read the
bytes when ``decode="cuda"`` and let ``torchvision.io.decode_jpeg`` decode the batch on the GPU), each image placed
top-left on a fixed canvas (edge-replicated), pinned and prefetched while the step runs; random-resized crop + flip
then run batched on the training device with each image's own size (``random_resized_crop_flip``).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

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


TRAIN_CANVAS = 512  # canvas side for training batches: ILSVRC-2012 images average ~400×350 (larger ones are downscaled)


def fit_canvas(image: torch.Tensor, canvas: int) -> tuple[torch.Tensor, int, int]:
    """Place a uint8 3×H×W image top-left on a canvas×canvas tensor (downscaled first if a side exceeds ``canvas``).

    The right/bottom margin repeats the last column/row, so bilinear sampling at a crop's edge never reads a
    foreign value (same as grid_sample's border mode). Returns (canvas tensor, height, width) of the placed image.
    """
    h, w = image.shape[-2:]
    if max(h, w) > canvas:  # keep the aspect ratio; antialiased like PIL's resize
        scale = canvas / max(h, w)
        size = (max(1, min(canvas, round(h * scale))), max(1, min(canvas, round(w * scale))))
        image = torch.nn.functional.interpolate(image[None].float(), size=size, mode="bilinear", antialias=True,
                                                align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
        h, w = size
    padded = torch.nn.functional.pad(image[None].float(), (0, canvas - w, 0, canvas - h), mode="replicate")
    return padded[0].to(torch.uint8), h, w


def random_resized_boxes_per_image(heights: torch.Tensor, widths: torch.Tensor, generator: torch.Generator,
                                   attempts: int = 10) -> torch.Tensor:
    """torchvision RandomResizedCrop.get_params with each image's own (h, w): (top, left, height, width) float (n, 4).

    scale (0.08, 1), ratio (3/4, 4/3), 10 attempts, then the centre-crop fallback (torchvision defaults), drawn
    batched from ``generator`` on its device.
    """
    device = generator.device
    n = heights.shape[0]
    h = heights.to(device=device, dtype=torch.float64).reshape(n, 1)
    w = widths.to(device=device, dtype=torch.float64).reshape(n, 1)
    u = torch.rand((n, 2 * attempts + 2), generator=generator, device=device, dtype=torch.float64)
    target = (0.08 + (1.0 - 0.08) * u[:, :attempts]) * h * w  # torchvision: area * uniform(scale)
    lo, hi = math.log(3 / 4), math.log(4 / 3)
    aspect = torch.exp(lo + (hi - lo) * u[:, attempts : 2 * attempts])
    cw, ch = torch.sqrt(target * aspect).round(), torch.sqrt(target / aspect).round()
    ok = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)
    any_ok = ok.any(dim=1)
    cw, ch = cw.gather(1, first).squeeze(1), ch.gather(1, first).squeeze(1)
    h, w = h.squeeze(1), w.squeeze(1)
    in_ratio = w / h  # fallback: the largest centred crop within ratio (3/4, 4/3)
    fw = torch.where(in_ratio < 3 / 4, w, torch.where(in_ratio > 4 / 3, (h * 4 / 3).round(), w))
    fh = torch.where(in_ratio < 3 / 4, (w * 4 / 3).round(), h)
    cw, ch = torch.where(any_ok, cw, fw), torch.where(any_ok, ch, fh)
    top = torch.where(any_ok, (u[:, -2] * (h - ch + 1)).floor(), ((h - ch) / 2).floor())  # torchvision: // 2
    left = torch.where(any_ok, (u[:, -1] * (w - cw + 1)).floor(), ((w - cw) / 2).floor())
    return torch.stack([top, left, ch, cw], dim=1)


def random_resized_crop_flip(canvases: torch.Tensor, heights: torch.Tensor, widths: torch.Tensor,
                             generator: torch.Generator, size: int = EVAL_CROP) -> torch.Tensor:
    """RandomResizedCrop(size) + RandomHorizontalFlip for a batch of canvases, each crop inside its own image.

    Runs on the canvases' device (the generator's device must match); bilinear without antialiasing, as
    ``augment.functional.resized_crop_flip``. uint8 N×3×size×size.
    """
    from augmix_lab.augment.functional import resized_crop_flip

    boxes = random_resized_boxes_per_image(heights, widths, generator)
    flip = torch.rand(canvases.shape[0], generator=generator, device=generator.device) < 0.5  # p = 0.5
    return resized_crop_flip(canvases, boxes, flip, size)


class _CanvasFiles(torch.utils.data.Dataset):
    """Worker-side view of a file list: decoded canvas (or raw JPEG bytes for GPU decoding) + size + label."""

    def __init__(self, files: Sequence[Path], labels: torch.Tensor, canvas: int, raw: bool) -> None:
        self.files, self.labels, self.canvas, self.raw = list(files), labels, canvas, raw

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        if self.raw:
            import torchvision.io

            return torchvision.io.read_file(str(self.files[i])), 0, 0, int(self.labels[i])
        image, h, w = fit_canvas(decode_image(self.files[i]), self.canvas)
        return image, h, w, int(self.labels[i])


def _collate_canvases(items: list[tuple[torch.Tensor, int, int, int]]) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = [item[0] for item in items]
    sizes = torch.tensor([[item[1], item[2]] for item in items], dtype=torch.int64).reshape(-1, 2)
    labels = torch.tensor([item[3] for item in items], dtype=torch.int64)
    stacked = torch.stack(data) if items and items[0][1] else data  # raw bytes stay a list (one length each)
    return stacked, sizes[:, 0], sizes[:, 1], labels


class ImageNetLoader:
    """Training batches of an ImageNet folder: parallel decode, pinned prefetch, RRC + flip on ``device``.

    Iterating yields ``(images, labels)`` on ``device``: uint8 N×3×size×size and int64 N, in the order drawn from
    ``shuffle_generator`` (or file order without one). ``num_workers`` decoder processes (default: every CPU core)
    each keep ``prefetch_factor`` batches ready while the training step runs. ``decode``: ``cpu`` (PIL in the
    workers), ``cuda`` (workers read bytes, ``torchvision.io.decode_jpeg`` decodes the batch on the GPU) or
    ``auto`` (cuda when ``device`` is CUDA and every file is a JPEG).
    """

    def __init__(self, folder: "LazyImageFolder", batch_size: int, *, device: str | torch.device = "cpu",
                 augment_generator: torch.Generator | None = None, shuffle_generator: torch.Generator | None = None,
                 num_workers: int | None = None, canvas: int = TRAIN_CANVAS, size: int = EVAL_CROP,
                 decode: str = "cpu", prefetch_factor: int = 4, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise UserError(f"ImageNetLoader batch_size: got {batch_size!r}; allowed: an integer >= 1")
        if decode not in ("cpu", "cuda", "auto"):
            raise UserError(f"ImageNetLoader decode: got {decode!r}; allowed: cpu, cuda, auto")
        self.device = torch.device(device)
        jpeg_only = all(str(f).lower().endswith((".jpeg", ".jpg")) for f in folder.files)
        if decode == "auto":
            decode = "cuda" if self.device.type == "cuda" and jpeg_only else "cpu"
        if decode == "cuda" and (self.device.type != "cuda" or not jpeg_only):
            raise UserError(f"ImageNetLoader decode: got 'cuda' for device {self.device} "
                            f"({'JPEG files' if jpeg_only else 'not all files are JPEGs'}); allowed: cpu, auto")
        self.folder, self.batch_size, self.canvas, self.size, self.decode = folder, batch_size, canvas, size, decode
        self.augment_generator = augment_generator or torch.Generator(device=self.device).manual_seed(0)
        self.shuffle_generator, self.drop_last = shuffle_generator, drop_last
        self.num_workers = (os.cpu_count() or 1) if num_workers is None else num_workers
        self.prefetch_factor = prefetch_factor

    def __len__(self) -> int:
        n = len(self.folder)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self) -> list[list[int]]:
        n = len(self.folder)
        if self.shuffle_generator is None:
            order = list(range(n))
        else:
            order = torch.randperm(n, generator=self.shuffle_generator, device=self.shuffle_generator.device).tolist()
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        return [order[i : min(i + self.batch_size, stop)] for i in range(0, stop, self.batch_size)]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        dataset = _CanvasFiles(self.folder.files, self.folder.labels, self.canvas, raw=self.decode == "cuda")
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self._batches(), num_workers=self.num_workers, collate_fn=_collate_canvases,
            pin_memory=self.device.type == "cuda", prefetch_factor=self.prefetch_factor if self.num_workers else None,
            persistent_workers=False,
        )
        for data, heights, widths, labels in loader:
            if self.decode == "cuda":
                data, heights, widths = self._decode_on_gpu(data)
            else:
                data = data.to(self.device, non_blocking=True)
            images = random_resized_crop_flip(data, heights, widths, self.augment_generator, self.size)
            yield images, labels.to(self.device, non_blocking=True)

    def _decode_on_gpu(self, raw: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torchvision.io

        decoded = torchvision.io.decode_jpeg(raw, mode=torchvision.io.ImageReadMode.RGB, device=self.device)
        placed = [fit_canvas(image, self.canvas) for image in decoded]  # runs on the GPU: images are there
        sizes = torch.tensor([[h, w] for _, h, w in placed], dtype=torch.int64)
        return torch.stack([p[0] for p in placed]), sizes[:, 0], sizes[:, 1]


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

    def loader(self, batch_size: int, **options: Any) -> ImageNetLoader:
        """Parallel-decoding training batches over these files (see `ImageNetLoader` for the options)."""
        return ImageNetLoader(self, batch_size, **options)

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
    image_size=EVAL_CROP,
    spec_version="imagenet-ilsvrc2012-folder",
)
