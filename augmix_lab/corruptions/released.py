"""Released -C / -P benchmarks: their published layouts, safe loaders, integrity checks and download catalog entries.

Layouts (hendrycks/robustness README, make_cifar_c.py, ImageNet-P/video_loader.py):
- ``<root>/CIFAR-10-C/<corruption>.npy`` uint8 (5*N, 32, 32, 3), severity-major (rows (s-1)*N .. s*N-1), + ``labels.npy``
  (CIFAR-100-C likewise); our generator writes the same layout for any dataset under ``<root>/generated/<NAME>-C``.
- ``<root>/CIFAR-10-P/<perturbation>.npy`` uint8 (N, T, 32, 32, 3) (noise also ``_2``/``_3``); no labels.
- ``<root>/Tiny-ImageNet-C/<corruption>/<severity>/<wnid>/*.JPEG`` and ``<root>/ImageNet-C/...`` the same.
- ``<root>/ImageNet-P/<perturbation>/<wnid>/*.mp4`` videos, decoded with cv2.VideoCapture.
- C-bar (Mintun et al. 2021): ``<root>/CIFAR-10-C-Bar/<corruption>.npy`` + ``labels.npy`` (int64) as written by
  make_cifar10_c_bar.py, and ``<root>/ImageNet-C-Bar/<corruption>/<severity>/<wnid>/*.JPEG`` with severity folders
  ``1``..``5`` (the preprocessed tarball, README) or the level as ``{:.2f}`` (make_imagenet_c_bar.py); the tarball's
  own top folder may sit in between.
Every .npy is opened memory-mapped with ``allow_pickle=False`` after checking that its header matches its file size,
so a truncated download is reported by name and never silently used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augmix_lab.corruptions.registry import PERTURBATIONS, corruption_names, perturbation_names
from augmix_lab.errors import UserError

# released folder names per dataset and kind; other datasets use "<NAME>-C" / "<NAME>-P"
RELEASED_DIRS: dict[tuple[str, str], str] = {
    ("cifar10", "C"): "CIFAR-10-C",
    ("cifar100", "C"): "CIFAR-100-C",
    ("cifar10", "P"): "CIFAR-10-P",
    ("cifar100", "P"): "CIFAR-100-P",
    ("tiny_imagenet", "C"): "Tiny-ImageNet-C",
    ("tiny_imagenet", "P"): "Tiny-ImageNet-P",
    ("imagenet", "C"): "ImageNet-C",
    ("imagenet", "P"): "ImageNet-P",
    ("cifar10", "C-bar"): "CIFAR-10-C-Bar",  # make_cifar10_c_bar.py out_dir
    ("imagenet", "C-bar"): "ImageNet-C-Bar",  # make_imagenet_c_bar.py out_dir
}
KIND_SUFFIX = {"C-bar": "C-Bar"}  # "<NAME>-C-Bar" for generated C-bar folders (the released folders' spelling)
LABEL_DTYPES = ("uint8", "int64", "int32", "int16")  # labels.npy: uint8 (CIFAR-10-C), int64 (CIFAR-10-C-Bar)
GENERATED_SUBDIR = "generated"  # make-c / make-p output lives under <root>/generated/<NAME>-C, never over a release
GENERATED_MARKER = "generated.json"
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def benchmark_dirname(dataset: str, kind: str) -> str:
    """Folder name of ``dataset``'s -C (``kind="C"``) or -P benchmark: the released name or ``<NAME>-C``."""
    return RELEASED_DIRS.get((dataset, kind), f"{dataset.upper()}-{KIND_SUFFIX.get(kind, kind)}")


def released_dir(root: Path | str, dataset: str, kind: str) -> Path:
    return Path(root) / benchmark_dirname(dataset, kind)


def generated_dir(root: Path | str, dataset: str, kind: str) -> Path:
    return Path(root) / GENERATED_SUBDIR / benchmark_dirname(dataset, kind)


# ---- npy integrity ---------------------------------------------------------------------------------------------------
def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from an .npy header, without reading the data; UserError on a bad header."""
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            if major == 1:
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(
            f"{path}: not a readable .npy file ({exc}); delete it and download or generate it again"
        ) from None
    if dtype.hasobject:
        raise UserError(f"{path}: holds Python objects (pickle), refused; expected a uint8 image array")
    return tuple(shape), dtype, offset


def check_npy(
    path: Path,
    shape_tail: tuple[int, ...] | None = None,
    length: int | None = None,
    dtype: str | tuple[str, ...] = "uint8",
) -> tuple[int, ...]:
    """Check an .npy file exists and its header matches its size (truncation), dtype and shape; returns the shape."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is missing")
    shape, dt, offset = npy_header(path)
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise UserError(
            f"{path} is truncated or corrupted: {actual} bytes on disk, header {shape} {dt} needs {expected}; "
            "delete it and download or generate it again"
        )
    allowed = (dtype,) if isinstance(dtype, str) else tuple(dtype)
    if all(dt != np.dtype(d) for d in allowed):
        raise UserError(f"{path}: dtype {dt}, expected {' or '.join(allowed)}")
    if shape_tail is not None and tuple(shape[-len(shape_tail) :]) != tuple(shape_tail):
        raise UserError(f"{path}: shape {shape}, expected (..., {', '.join(map(str, shape_tail))})")
    if length is not None and shape[0] != length:
        raise UserError(f"{path}: {shape[0]} rows, expected {length}")
    return shape


def open_npy(path: Path, **expect) -> np.ndarray:
    """Memory-map a checked .npy file read-only (``allow_pickle=False``)."""
    check_npy(path, **expect)
    return np.load(path, mmap_mode="r", allow_pickle=False)


# ---- -C in the CIFAR layout (released or generated) ---------------------------------------------------------------
@dataclass(frozen=True)
class CorruptionSet:
    """One -C benchmark folder in the CIFAR layout: ``images(corruption, severity)`` -> memory-mapped NHWC slice."""

    directory: Path

    def labels(self) -> np.ndarray:
        return open_npy(self.directory / "labels.npy", dtype=LABEL_DTYPES)

    def per_severity(self) -> int:
        n = len(self.labels())
        if n % 5:
            raise UserError(f"{self.directory / 'labels.npy'}: {n} labels is not 5 severities x N")
        return n // 5

    def images(self, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
        """(images (N, H, W, 3) uint8 memmap, labels (N,)) of ``corruption`` at ``severity`` (rows (s-1)*N .. s*N-1)."""
        labels = self.labels()
        arr = open_npy(self.directory / f"{corruption}.npy", length=len(labels))
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise UserError(f"{self.directory / (corruption + '.npy')}: shape {arr.shape}, expected (5*N, H, W, 3)")
        n = self.per_severity()
        sl = slice((severity - 1) * n, severity * n)
        return arr[sl], np.asarray(labels[sl])

    def has(self, corruption: str) -> bool:
        return (self.directory / f"{corruption}.npy").is_file() and (self.directory / "labels.npy").is_file()


def verify_npy_benchmark(
    directory: Path, names: tuple[str, ...], rows: int | None, shape_tail: tuple[int, ...], labels: bool = True
) -> list[str]:
    """Problems (one line each, naming the file) of a CIFAR-layout benchmark folder; empty when intact."""
    problems = []
    if not directory.is_dir():
        return [f"{directory} is missing"]
    if labels:
        try:
            check_npy(directory / "labels.npy", length=rows, dtype=LABEL_DTYPES)
        except UserError as exc:
            problems.append(str(exc))
    for name in names:
        try:
            check_npy(directory / f"{name}.npy", shape_tail=shape_tail, length=rows)
        except UserError as exc:
            problems.append(str(exc))
    return problems


# ---- folders of JPEGs (Tiny-ImageNet-C, ImageNet-C) and MP4 videos (ImageNet-P) ------------------------------------
def list_folder_images(directory: Path, class_to_idx: dict[str, int] | None = None) -> tuple[list[Path], np.ndarray]:
    """Sorted image paths under ``<directory>/<wnid>/`` and their labels (by ``class_to_idx``, else sorted wnids)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is missing")
    wnids = sorted(d.name for d in directory.iterdir() if d.is_dir())
    mapping = class_to_idx or {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    for wnid in wnids:
        if wnid not in mapping:
            raise UserError(f"{directory / wnid}: class folder not in the dataset's classes")
        for p in sorted((directory / wnid).iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(p)
                labels.append(mapping[wnid])
    if not paths:
        raise UserError(f"{directory}: no images found (expected <wnid>/*.JPEG)")
    return paths, np.asarray(labels, dtype=np.int64)


def decode_images(paths: list[Path], size: int | None = None) -> np.ndarray:
    """Decode image files to uint8 (N, H, W, 3) RGB; a broken file raises UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                if size is not None and im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                out.append(np.asarray(im))
        except (UnidentifiedImageError, OSError) as exc:
            raise UserError(f"{p}: unreadable or truncated image ({exc})") from None
    return np.stack(out)


def folder_c_dir(
    root: Path, dataset: str, corruption: str, severity: int, kind: str = "C", level: float | None = None
) -> Path:
    """The JPEG folder of one -C (or C-bar) cell; C-bar also accepts ``{level:.2f}`` severity folders and the
    tarball's top folder in between (``has_folder_corruption``)."""
    base = corruption_folder(released_dir(root, dataset, kind), corruption)
    if level is not None and not (base / str(severity)).is_dir() and (base / f"{level:.2f}").is_dir():
        return base / f"{level:.2f}"  # make_imagenet_c_bar.py names severity folders by the level
    return base / str(severity)


def corruption_folder(directory: Path, corruption: str) -> Path:
    """``<directory>/<corruption>``, or ``<directory>/<top>/<corruption>`` when an archive's own top folder sits in
    between (the preprocessed ImageNet-C-bar tarball)."""
    direct = directory / corruption
    if direct.is_dir() or not directory.is_dir():
        return direct
    nested = [d / corruption for d in sorted(directory.iterdir()) if (d / corruption).is_dir()]
    return nested[0] if len(nested) == 1 else direct


def has_folder_corruption(directory: Path, corruption: str) -> bool:
    return corruption_folder(Path(directory), corruption).is_dir()


def load_video(path: str | Path) -> np.ndarray:
    """Decode one ImageNet-P video (cv2.VideoCapture, as ImageNet-P/video_loader.py) to uint8 (T, H, W, 3) RGB."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is missing")
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame[..., ::-1])  # BGR -> RGB
    finally:
        cap.release()
    if len(frames) < 2:
        raise UserError(f"{path}: unreadable or truncated video ({len(frames)} frames decoded)")
    return np.ascontiguousarray(np.stack(frames))


def list_videos(
    root: Path, perturbation: str, dataset: str = "imagenet", class_to_idx: dict[str, int] | None = None
) -> tuple[list[Path], np.ndarray]:
    directory = released_dir(root, dataset, "P") / perturbation
    if not directory.is_dir():
        raise UserError(f"{directory} is missing")
    wnids = sorted(d.name for d in directory.iterdir() if d.is_dir())
    mapping = class_to_idx or {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    for wnid in wnids:
        for p in sorted((directory / wnid).glob("*.mp4")):
            paths.append(p)
            labels.append(mapping.get(wnid, -1))
    if not paths:
        raise UserError(f"{directory}: no videos found (expected <wnid>/*.mp4)")
    return paths, np.asarray(labels, dtype=np.int64)


def verify_folder_benchmark(directory: Path, names: tuple[str, ...], severities: bool = True) -> list[str]:
    problems = []
    if not directory.is_dir():
        return [f"{directory} is missing"]
    for name in names:
        subdirs = [directory / name / str(s) for s in range(1, 6)] if severities else [directory / name]
        for d in subdirs:
            if not d.is_dir() or not any(d.iterdir()):
                problems.append(f"{d} is missing or empty")
    return problems


def verify_cbar_folders(root: Path, dataset: str) -> list[str]:
    """Problems of a C-bar JPEG-folder benchmark (severity folders 1..5 or the levels as {:.2f})."""
    from augmix_lab.corruptions.registry import CORRUPTIONS

    directory = released_dir(root, dataset, "C-bar")
    if not directory.is_dir():
        return [f"{directory} is missing"]
    problems = []
    for name in corruption_names(suite="c_bar", profile="imagenet"):
        for s, record in enumerate(CORRUPTIONS.get(name).severity["imagenet"], start=1):
            d = folder_c_dir(root, dataset, name, s, "C-bar", record.severity)
            if not d.is_dir() or not any(d.iterdir()):
                problems.append(f"{d} is missing or empty")
    return problems


# ---- verification entry point ----------------------------------------------------------------------------------------
CIFAR_C_ROWS = 50000  # make_cifar_c.py: 5 severities x 10000 test images


def cifar_p_files() -> tuple[str, ...]:
    """Released CIFAR-10-P file stems: noise sequences at 3 difficulties, then the other sequences (from the registry)."""
    names = perturbation_names()
    noise = [n for n in names if PERTURBATIONS.get(n).noise]
    return tuple([f"{n}{suffix}" for n in noise for suffix in ("", "_2", "_3")] + [n for n in names if n not in noise])


def __getattr__(name: str):
    # derived lazily from the registries so importing this module does not load the torch kernels
    if name == "ALL_CORRUPTIONS":
        return corruption_names()
    if name == "CIFAR_P_FILES":
        return cifar_p_files()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def verify(root: Path | str, name: str) -> list[str]:
    """Every problem of benchmark ``name`` (e.g. "cifar10-c") under ``root``, one line each naming the file."""
    root = Path(root)
    if name == "cifar10-c-bar":
        return verify_npy_benchmark(
            released_dir(root, "cifar10", "C-bar"),
            corruption_names(suite="c_bar", profile="cifar"),
            CIFAR_C_ROWS,
            (32, 32, 3),
        )
    if name == "imagenet-c-bar":
        return verify_cbar_folders(root, "imagenet")
    if name in ("cifar10-c", "cifar100-c"):
        d = released_dir(root, name.split("-")[0], "C")
        return verify_npy_benchmark(d, corruption_names(), CIFAR_C_ROWS, (32, 32, 3))
    if name == "cifar10-p":
        return verify_npy_benchmark(
            released_dir(root, "cifar10", "P"), cifar_p_files(), 10000, (32, 32, 3), labels=False
        )
    if name == "tiny-imagenet-c":
        return verify_folder_benchmark(released_dir(root, "tiny_imagenet", "C"), corruption_names(benchmark=True))
    if name == "imagenet-c":
        return verify_folder_benchmark(released_dir(root, "imagenet", "C"), corruption_names())
    if name == "imagenet-p":
        return verify_folder_benchmark(
            released_dir(root, "imagenet", "P"), perturbation_names("test"), severities=False
        )
    raise UserError(
        f"unknown benchmark {name!r}; allowed: cifar10-c, cifar100-c, cifar10-p, tiny-imagenet-c, "
        "imagenet-c, imagenet-p, cifar10-c-bar, imagenet-c-bar"
    )


def read_generated_marker(directory: Path) -> dict:
    p = Path(directory) / GENERATED_MARKER
    return json.loads(p.read_text()) if p.is_file() else {}
