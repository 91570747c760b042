"""`imagenet`: an ImageFolder layout (``<root>/imagenet/{train,val}/<wnid>/*.JPEG``) decoded lazily on demand.

ImageNet does not fit in memory as uint8 tensors, so ``train_images`` / ``test_images`` are `LazyImageFolder`
objects: ``images[i]`` decodes one file to a uint8 3×H×W tensor (native size), ``images[index_tensor]`` a list
of them, and ``images.batch(indices)`` the reference evaluation view (Resize 256, CenterCrop 224) stacked N×3×224×224.

Training input (`ImageNetLoader`): DataLoader worker processes decode the JPEGs in parallel (PIL, or only read the
bytes when ``decode="cuda"`` and let ``torchvision.io.decode_jpeg`` decode the batch on the GPU; files nvjpeg cannot
take, such as ILSVRC-2012's PNG named ``.JPEG`` and its CMYK JPEGs, are told by their header and decoded by PIL in
the worker), each image placed top-left on a fixed uint8 canvas, pinned and prefetched while the step runs;
random-resized crop + flip then run batched on the training device, sampled from the uint8 canvases with each
image's own size (``random_resized_crop_flip``).

Evaluation input (`eval_batches`): the reference eval view, decoded, resized and cropped by DataLoader workers in
file order, for the clean and on-the-fly -C evaluation and the trainer's per-epoch test error.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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


def shrink_to_canvas(image: torch.Tensor, canvas: int) -> torch.Tensor:
    """A uint8 3×H×W image downscaled (aspect kept, antialiased like PIL's resize) when a side exceeds ``canvas``."""
    h, w = image.shape[-2:]
    if max(h, w) <= canvas:
        return image
    scale = canvas / max(h, w)
    size = (max(1, min(canvas, round(h * scale))), max(1, min(canvas, round(w * scale))))
    return (
        torch.nn.functional.interpolate(
            image[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False
        )[0]
        .round()
        .clamp(0, 255)
        .to(torch.uint8)
    )


def fit_canvas(image: torch.Tensor, canvas: int) -> tuple[torch.Tensor, int, int]:
    """Place a uint8 3×H×W image top-left on a zero uint8 canvas×canvas tensor (``shrink_to_canvas`` first).

    Nothing beyond the image is ever read: the crop clamps its taps to each image's (height, width)
    (``random_resized_crop_flip``). Returns (canvas tensor, height, width) of the placed image.
    """
    image = shrink_to_canvas(image, canvas)
    h, w = image.shape[-2:]
    placed = torch.zeros((image.shape[0], canvas, canvas), dtype=torch.uint8, device=image.device)
    placed[:, :h, :w] = image
    return placed, h, w


def nvjpeg_decodable(data: bytes | memoryview) -> bool:
    """Whether ``torchvision.io.decode_jpeg(device="cuda")`` takes these file bytes: a baseline or extended
    sequential (SOF0/SOF1) 8-bit JPEG of 3 components without Adobe's RGB transform, i.e. plain YCbCr.

    False for everything else, which PIL decodes instead: a PNG named .JPEG (ILSVRC-2012 train n02105855_2933.JPEG),
    CMYK / YCCK JPEGs (4 components; about 22 in ILSVRC-2012 train), greyscale, progressive or 12-bit JPEGs, and
    anything unparsable. Reads the marker segments up to the frame header only.
    """
    data = memoryview(data)
    if bytes(data[:2]) != b"\xff\xd8":  # SOI
        return False
    i, adobe_transform = 2, None
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # segments without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        segment = data[i + 4 : i + 2 + length]
        if marker == 0xEE and bytes(segment[:5]) == b"Adobe" and len(segment) >= 12:  # APP14: colour transform
            adobe_transform = segment[11]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn (not DHT, JPG, DAC)
            return (
                marker in (0xC0, 0xC1)
                and len(segment) >= 6
                and segment[0] == 8
                and segment[5] == 3
                and adobe_transform != 0
            )
        if marker in (0xDA, 0xD9):  # a scan (or the end) before any frame header
            return False
        i += 2 + length
    return False


def random_resized_boxes_per_image(
    heights: torch.Tensor, widths: torch.Tensor, generator: torch.Generator, attempts: int = 10
) -> torch.Tensor:
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


def random_resized_crop_flip(
    canvases: torch.Tensor,
    heights: torch.Tensor,
    widths: torch.Tensor,
    generator: torch.Generator,
    size: int = EVAL_CROP,
) -> torch.Tensor:
    """RandomResizedCrop(size) + RandomHorizontalFlip for a batch of uint8 canvases, each crop inside its own image.

    Runs on the canvases' device (the generator's device must match); bilinear without antialiasing, sampled from
    the uint8 pixels with taps clamped to each image (``augment.functional.resized_crop_flip``). uint8 N×3×size×size.
    """
    from augmix_lab.augment.functional import resized_crop_flip

    boxes = random_resized_boxes_per_image(heights, widths, generator)
    flip = torch.rand(canvases.shape[0], generator=generator, device=generator.device) < 0.5  # p = 0.5
    return resized_crop_flip(canvases, boxes, flip, size, heights, widths)


class _CanvasFiles(torch.utils.data.Dataset):
    """Worker-side view of a file list: (payload, height, width, label).

    PIL decoding (``raw=False``): payload is the image on a uint8 canvas. GPU decoding (``raw=True``): the file's
    bytes (1-D uint8, height 0) when nvjpeg can take them, else the PIL-decoded 3×H×W image (``nvjpeg_decodable``).
    """

    def __init__(self, files: Sequence[Path], labels: torch.Tensor, canvas: int, raw: bool) -> None:
        self.files, self.labels, self.canvas, self.raw = list(files), labels, canvas, raw

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        label = int(self.labels[i])
        if self.raw:
            data = Path(self.files[i]).read_bytes()
            if nvjpeg_decodable(data):
                return torch.frombuffer(bytearray(data), dtype=torch.uint8), 0, 0, label
            image = shrink_to_canvas(decode_image(self.files[i]), self.canvas)
            return image, image.shape[1], image.shape[2], label
        image, h, w = fit_canvas(decode_image(self.files[i]), self.canvas)
        return image, h, w, label


def _collate_canvases(
    items: list[tuple[torch.Tensor, int, int, int]],
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PIL-decoded canvases: one stacked uint8 batch, heights, widths, labels."""
    data, heights, widths, labels = _collate_raw(items)
    return torch.stack(data), heights, widths, labels


def _collate_raw(
    items: list[tuple[torch.Tensor, int, int, int]],
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    """GPU decoding: payloads stay a list (file bytes of their own length, or PIL-decoded images of their own size)."""
    sizes = torch.tensor([[item[1], item[2]] for item in items], dtype=torch.int64).reshape(-1, 2)
    labels = torch.tensor([item[3] for item in items], dtype=torch.int64)
    return [item[0] for item in items], sizes[:, 0], sizes[:, 1], labels


class ImageNetLoader:
    """Training batches of an ImageNet folder: parallel decode, pinned prefetch, RRC + flip on ``device``.

    Iterating yields ``(images, labels)`` on ``device``: uint8 N×3×size×size and int64 N, in the order drawn from
    ``shuffle_generator`` (or file order without one). ``num_workers`` decoder processes (default: every CPU core)
    each keep ``prefetch_factor`` batches ready while the training step runs; they stay alive from one pass (epoch)
    to the next. ``decode``: ``cpu`` (PIL in the workers), ``cuda`` (workers read bytes, ``torchvision.io.decode_jpeg``
    decodes the batch on the GPU; files it cannot take are decoded by PIL in the workers, see ``nvjpeg_decodable``)
    or ``auto`` (cuda when ``device`` is CUDA and every file is named as a JPEG).
    """

    def __init__(
        self,
        folder: LazyImageFolder,
        batch_size: int,
        *,
        device: str | torch.device = "cpu",
        augment_generator: torch.Generator | None = None,
        shuffle_generator: torch.Generator | None = None,
        num_workers: int | None = None,
        canvas: int = TRAIN_CANVAS,
        size: int = EVAL_CROP,
        decode: str = "cpu",
        prefetch_factor: int = 4,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise UserError(f"ImageNetLoader batch_size: got {batch_size!r}; allowed: an integer >= 1")
        if decode not in ("cpu", "cuda", "auto"):
            raise UserError(f"ImageNetLoader decode: got {decode!r}; allowed: cpu, cuda, auto")
        self.device = torch.device(device)
        jpeg_only = all(str(f).lower().endswith((".jpeg", ".jpg")) for f in folder.files)
        if decode == "auto":
            decode = "cuda" if self.device.type == "cuda" and jpeg_only else "cpu"
        if decode == "cuda" and (self.device.type != "cuda" or not jpeg_only):
            raise UserError(
                f"ImageNetLoader decode: got 'cuda' for device {self.device} "
                f"({'JPEG files' if jpeg_only else 'not all files are JPEGs'}); allowed: cpu, auto"
            )
        self.folder, self.batch_size, self.canvas, self.size, self.decode = folder, batch_size, canvas, size, decode
        self.augment_generator = augment_generator or torch.Generator(device=self.device).manual_seed(0)
        self.shuffle_generator, self.drop_last = shuffle_generator, drop_last
        self.num_workers = (os.cpu_count() or 1) if num_workers is None else num_workers
        self.prefetch_factor = prefetch_factor
        self._loader: torch.utils.data.DataLoader | None = None  # made on the first pass, its workers kept

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

    def _data_loader(self) -> torch.utils.data.DataLoader:
        if self._loader is None:
            raw = self.decode == "cuda"
            dataset = _CanvasFiles(self.folder.files, self.folder.labels, self.canvas, raw=raw)
            self._loader = torch.utils.data.DataLoader(
                dataset,
                batch_sampler=_EpochBatches(self),
                num_workers=self.num_workers,
                collate_fn=_collate_raw if raw else _collate_canvases,
                pin_memory=self.device.type == "cuda",
                prefetch_factor=self.prefetch_factor if self.num_workers else None,
                persistent_workers=self.num_workers > 0,  # no worker start-up per epoch (or after a warm-up pass)
            )
        return self._loader

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for data, heights, widths, labels in self._data_loader():
            if self.decode == "cuda":
                data, heights, widths = self._decode_on_gpu(data)
            else:
                data = data.to(self.device, non_blocking=True)
            images = random_resized_crop_flip(data, heights, widths, self.augment_generator, self.size)
            yield images, labels.to(self.device, non_blocking=True)

    def _decode_on_gpu(self, items: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """File bytes decoded as one batch by ``decode_jpeg`` on the device, the workers' PIL-decoded images copied
        over; each placed top-left on a uint8 canvas (a copy per image, nothing read back)."""
        import warnings

        import torchvision.io

        raw = [i for i, item in enumerate(items) if item.ndim == 1]
        decoded: dict[int, torch.Tensor] = {}
        if raw:
            with warnings.catch_warnings():  # torchvision >= 0.29 deprecates its codecs in favour of torchcodec
                warnings.simplefilter("ignore", DeprecationWarning)
                images = torchvision.io.decode_jpeg(
                    [items[i] for i in raw], mode=torchvision.io.ImageReadMode.RGB, device=self.device
                )
            decoded = dict(zip(raw, images))
        canvases = torch.empty((len(items), 3, self.canvas, self.canvas), dtype=torch.uint8, device=self.device)
        sizes = []
        for i, item in enumerate(items):
            image = (
                shrink_to_canvas(decoded[i], self.canvas) if i in decoded else item.to(self.device, non_blocking=True)
            )
            h, w = image.shape[-2:]
            canvases[i, :, :h, :w] = image  # the margin is never read (taps are clamped to the image)
            sizes.append((h, w))
        size = torch.tensor(sizes, dtype=torch.int64).reshape(-1, 2)
        return canvases, size[:, 0], size[:, 1]


class _EpochBatches:
    """The loader's batch sampler: a fresh order per pass, drawn in the main process (workers persist)."""

    def __init__(self, loader: ImageNetLoader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.loader._batches())

    def __len__(self) -> int:
        return len(self.loader)


class _EvalFiles(torch.utils.data.Dataset):
    """Worker-side eval view: decode, resize the short side, centre-crop (``LazyImageFolder.batch`` per image)."""

    def __init__(self, files: Sequence[Path], resize: int, crop: int) -> None:
        self.files, self.resize, self.crop = list(files), resize, crop

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return center_crop(resize_short_side(decode_image(self.files[i]), self.resize), self.crop).contiguous()


def eval_batches(
    files: Sequence[Path],
    batch_size: int,
    *,
    num_workers: int | None = None,
    resize: int = EVAL_RESIZE,
    crop: int = EVAL_CROP,
) -> Iterator[torch.Tensor]:
    """The reference eval view of ``files`` in order, as uint8 N×3×crop×crop batches decoded by ``num_workers``
    DataLoader workers (default: every CPU core; one batch or ``num_workers=0``: in this process)."""
    files = list(files)
    batches = -(-len(files) // max(1, batch_size))
    workers = min((os.cpu_count() or 1) if num_workers is None else num_workers, batches)
    views = _EvalFiles(files, resize, crop)
    if workers <= 1:
        for start in range(0, len(files), batch_size):
            yield torch.stack([views[i] for i in range(start, min(len(files), start + batch_size))])
        return
    yield from torch.utils.data.DataLoader(views, batch_size=batch_size, shuffle=False, num_workers=workers)


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

    def eval_batches(
        self, batch_size: int, *, stop: int | None = None, num_workers: int | None = None
    ) -> Iterator[torch.Tensor]:
        """``batch`` (the reference eval view) of the first ``stop`` files in order, decoded in parallel
        (``eval_batches``): what evaluation and the per-epoch test error read."""
        return eval_batches(self.files[:stop], batch_size, num_workers=num_workers)

    def head(self, n: int | None) -> LazyImageFolder:
        """The first ``n`` files, still lazy (subsets for smoke runs; slicing decodes)."""
        return LazyImageFolder(self.files[:n], self.labels[:n])

    def __repr__(self) -> str:
        return f"LazyImageFolder({len(self)} files)"


def _as_index_list(index: Any) -> list[int]:
    if isinstance(index, torch.Tensor):
        return index.reshape(-1).cpu().tolist()
    return [int(i) for i in index]


def _list_split(split_dir: Path, classes: list[str]) -> tuple[list[Path], torch.Tensor]:
    files: list[Path] = []
    labels: list[int] = []
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
        detail = (
            f"val has classes missing from train: {', '.join(stray[:5])}" if stray else "train has no class folders"
        )
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
    "imagenet",
    load_imagenet,
    description="ImageNet ImageFolder (manual download), decoded lazily",
    download=None,
    image_size=EVAL_CROP,
    spec_version="imagenet-ilsvrc2012-folder",
)
