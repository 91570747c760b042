"""``augmix-lab data check-c``: how close our -C generator is to a released benchmark, cell by cell, on the same images.

For every (corruption, severity) whose released files are present, the first ``limit`` test images are corrupted by
our generator (the streams of ``make-c``) and compared with the released images of the same clean images:
- strength: mean |corrupted - clean| (0-255) and PSNR (dB, pooled MSE) on each side; ``ratio`` = ours / released with
  a 95 % interval from the paired per-image values (delta method);
- error (with a model): the model's error (%) on each side and the paired difference ours - released with its 95 %
  interval (per-image 0/1 errors, normal approximation).
Verdict per cell, an equivalence reading of those intervals: ``close`` when the ratio's interval lies within
1 +- tolerance (and the error difference's within +- error_tolerance points), ``weaker`` / ``stronger`` when it lies
wholly beyond, ``unclear`` otherwise (too few images to tell: raise ``limit``).

Layouts (``released.py``): CIFAR's ``<corruption>.npy`` (5N, H, W, 3) + ``labels.npy``, rows aligned with the test
set (make_cifar_c.py walks it in order); ImageNet's ``<corruption>/<severity>/<wnid>/<file>`` JPEGs named like the
validation files, made from Resize(256) + CenterCrop(224) and saved with PIL quality 85 (make_imagenet_c.py), so our
side takes the same clean view and the same JPEG round trip.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from augmix_lab.corruptions import released
from augmix_lab.corruptions.registry import SEVERITIES, check_corruption_names, corruption_names
from augmix_lab.errors import UserError

Z95 = 1.959964  # two-sided 95 % normal quantile
JPEG_QUALITY = 85  # make_imagenet_c.py: Image.fromarray(...).save(path, quality=85, optimize=True)
COLUMNS = ["corruption", "severity", "n", "mad_ours", "mad_released", "ratio", "ratio_lo", "ratio_hi", "psnr_ours",
           "psnr_released", "psnr_diff", "error_ours", "error_released", "error_diff", "error_diff_lo",
           "error_diff_hi", "strength_verdict", "error_verdict", "verdict"]  # fmt: skip


@dataclass(frozen=True)
class CheckSettings:
    limit: int | None = 1000  # first N test images per cell (None: all)
    seed: int = 0  # seed of our generator (make-c's streams)
    tolerance: float = 0.10  # allowed relative strength difference
    error_tolerance: float = 2.0  # allowed error difference, percentage points
    batch_size: int = 200
    device: str = "cpu"


# ---- statistics ----------------------------------------------------------------------------------------------------
def per_image_distances(corrupted: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: mean |corrupted - clean| and mean squared difference (0-255 units), NHWC uint8 inputs."""
    d = corrupted.astype(np.float32) - clean.astype(np.float32)
    axes = tuple(range(1, d.ndim))
    return np.abs(d).mean(axis=axes), np.square(d).mean(axis=axes)


def psnr(mse: np.ndarray) -> float:
    """PSNR in dB of the pooled mean squared error (8-bit peak 255); inf for identical images."""
    m = float(np.mean(mse))
    return math.inf if m == 0 else 10 * math.log10(255.0**2 / m)


def ratio_interval(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float, float]:
    """mean(ours) / mean(theirs) and its 95 % interval for paired samples (delta method)."""
    n, mb, ma = len(ours), float(np.mean(theirs)), float(np.mean(ours))
    if mb == 0:  # released left the images unchanged: ours is stronger unless it did too
        return (1.0, 1.0, 1.0) if ma == 0 else (math.inf, math.inf, math.inf)
    r = ma / mb
    if n < 2:
        return r, -math.inf, math.inf
    se = float(np.std(ours - r * theirs, ddof=1)) / (mb * math.sqrt(n))
    return r, r - Z95 * se, r + Z95 * se


def paired_difference(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float, float]:
    """Mean of ours - theirs (per-image 0/1 errors) in percentage points and its 95 % interval."""
    d = 100.0 * (ours.astype(np.float64) - theirs.astype(np.float64))
    mean = float(d.mean())
    if len(d) < 2:
        return mean, -math.inf, math.inf
    half = Z95 * float(d.std(ddof=1)) / math.sqrt(len(d))
    return mean, mean - half, mean + half


def equivalence(lo: float, hi: float, low: float, high: float) -> str:
    """Verdict of an interval against the band [low, high]: close / weaker / stronger / unclear."""
    if math.isnan(lo) or math.isnan(hi):
        return "unclear"
    if low <= lo and hi <= high:
        return "close"
    if hi < low:
        return "weaker"
    if lo > high:
        return "stronger"
    return "unclear"


def cell_verdict(strength: str, error: str | None) -> str:
    parts = {strength} | ({error} if error else set())
    decided = parts & {"weaker", "stronger"}
    if len(decided) == 2:
        return "mixed"
    if decided:
        return decided.pop()
    return "unclear" if "unclear" in parts else "close"


# ---- the two layouts: clean images, released images and labels per cell -------------------------------------------
class _NpyCells:
    """CIFAR layout: rows of ``<corruption>.npy`` are the test set in order."""

    def __init__(self, directory: Path, dataset, limit: int | None) -> None:
        self.set = released.CorruptionSet(directory)
        labels = np.asarray(self.set.labels())
        n = self.set.per_severity()
        test_labels = np.asarray(dataset.test_labels)
        if n != len(test_labels):
            raise UserError(
                f"{directory / 'labels.npy'}: {n} images per severity, but {dataset.name}'s test set has "
                f"{len(test_labels)}; the released rows must be the test set in order"
            )
        self.count = n if limit is None else min(limit, n)
        if not np.array_equal(labels[: self.count].astype(np.int64), test_labels[: self.count].astype(np.int64)):
            raise UserError(
                f"{directory / 'labels.npy'}: labels differ from {dataset.name}'s test labels, so the rows "
                "are not the test images in order; check --data-root and the dataset options"
            )
        self.labels = test_labels[: self.count].astype(np.int64)
        self.clean = dataset.test_images[: self.count].permute(0, 2, 3, 1).numpy()

    def has(self, name: str) -> bool:
        return self.set.has(name)

    def released(self, name: str, severity: int) -> np.ndarray:
        images, _ = self.set.images(name, severity)
        return np.asarray(images[: self.count])

    def ours(self, corrupted: torch.Tensor) -> np.ndarray:
        return corrupted.permute(0, 2, 3, 1).cpu().numpy()


class _FolderCells:
    """ImageNet layout: ``<corruption>/<severity>/<wnid>/<file>`` named like the validation files."""

    def __init__(self, directory: Path, dataset, limit: int | None) -> None:
        files = getattr(dataset.test_images, "files", None)
        if files is None:
            raise UserError(
                f"{directory}: a folder-of-JPEGs benchmark needs a file-backed dataset (imagenet); "
                f"{dataset.name} holds its images in memory"
            )
        self.directory = directory
        chosen = list(files) if limit is None else list(files)[:limit]
        self.relative = [Path(p.parent.name) / p.name for p in chosen]
        self.count = len(chosen)
        self.labels = np.asarray(dataset.test_labels)[: self.count].astype(np.int64)
        self.clean = np.stack([_reference_view(p) for p in chosen])

    def has(self, name: str) -> bool:
        return all((self.directory / name / str(s)).is_dir() for s in SEVERITIES)

    def released(self, name: str, severity: int) -> np.ndarray:
        cell = self.directory / name / str(severity)
        paths = [cell / rel for rel in self.relative]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise UserError(
                f"{missing[0]} is missing ({len(missing)} of {len(paths)} images of this cell); the "
                "released folder must hold the validation images under their own names"
            )
        return released.decode_images(paths)

    def ours(self, corrupted: torch.Tensor) -> np.ndarray:
        return np.stack([_jpeg_round_trip(im) for im in corrupted.permute(0, 2, 3, 1).cpu().numpy()])


def _reference_view(path: Path) -> np.ndarray:
    """make_imagenet_c.py's clean view: trn.Resize(256) + trn.CenterCrop(224) on the PIL image."""
    import torchvision.transforms.functional as TF
    from PIL import Image

    with Image.open(path) as im:
        view = TF.center_crop(TF.resize(im.convert("RGB"), 256), 224)
        return np.asarray(view)


def _jpeg_round_trip(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


# ---- the check ---------------------------------------------------------------------------------------------------
def released_cells(dataset, root: Path | str, limit: int | None):
    """The released -C folder of ``dataset`` under ``root`` as cells (CIFAR .npy or ImageNet folder layout)."""
    directory = released.released_dir(root, dataset.name, "C")
    if not directory.is_dir():
        from augmix_lab.corruptions.sources import download_command

        raise UserError(
            f"{directory} is missing: check-c compares against released files; get them with "
            f"'{download_command(dataset.name, 'C', root)}'"
        )
    if (directory / "labels.npy").is_file():
        return directory, _NpyCells(directory, dataset, limit)
    return directory, _FolderCells(directory, dataset, limit)


def check_c(
    dataset,
    root: Path | str,
    *,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    settings: CheckSettings = CheckSettings(),
    predict: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """One row per (corruption, severity): columns ``COLUMNS`` (see the module docstring).

    ``predict``: NHWC uint8 images -> predicted class ids (None: no error columns). Corruptions default to every
    registered one whose released files are present.
    """
    from augmix_lab.corruptions.generate import corrupted_batches, profile_for

    directory, cells = released_cells(dataset, root, settings.limit)
    bad = [s for s in severities if s not in SEVERITIES]
    if bad:
        raise UserError(f"--severities: {bad} not allowed; allowed are 1..5")
    if corruptions is None:
        names = [n for n in corruption_names() if cells.has(n)]
        if not names:
            raise UserError(
                f"{directory}: no released corruption files found (expected e.g. "
                f"{corruption_names()[0]}.npy or {corruption_names()[0]}/1/...)"
            )
    else:
        names = list(check_corruption_names(list(corruptions), "--corruptions"))
        absent = [n for n in names if not cells.has(n)]
        if absent:
            raise UserError(f"{directory}: no released files for {', '.join(absent)}")
    profile = profile_for(dataset)
    clean = cells.clean
    clean_t = torch.from_numpy(np.ascontiguousarray(clean)).permute(0, 3, 1, 2).contiguous()
    labels_t = torch.from_numpy(cells.labels)
    rows = []
    for name in names:
        for s in severities:
            ours = np.concatenate(
                [
                    cells.ours(batch)
                    for batch, _ in corrupted_batches(
                        clean_t,
                        labels_t,
                        name,
                        s,
                        seed=settings.seed,
                        batch_size=settings.batch_size,
                        profile=profile,
                        device=settings.device,
                    )
                ]
            )
            theirs = cells.released(name, s)
            row = compare_cell(name, s, clean, ours, theirs, cells.labels, predict, settings)
            rows.append(row)
            if progress:
                progress(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def compare_cell(
    name: str,
    severity: int,
    clean: np.ndarray,
    ours: np.ndarray,
    theirs: np.ndarray,
    labels: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray] | None,
    settings: CheckSettings,
) -> dict[str, Any]:
    if ours.shape != theirs.shape:
        raise UserError(
            f"{name} severity {severity}: released images {theirs.shape[1:]} vs ours {ours.shape[1:]}; "
            "not the same image size"
        )
    mad_o, mse_o = per_image_distances(ours, clean)
    mad_r, mse_r = per_image_distances(theirs, clean)
    ratio, lo, hi = ratio_interval(mad_o, mad_r)
    tol = settings.tolerance
    strength = equivalence(lo, hi, 1 - tol, 1 + tol)
    row: dict[str, Any] = {
        "corruption": name, "severity": severity, "n": len(clean),
        "mad_ours": float(mad_o.mean()), "mad_released": float(mad_r.mean()),
        "ratio": ratio, "ratio_lo": lo, "ratio_hi": hi,
        "psnr_ours": psnr(mse_o), "psnr_released": psnr(mse_r), "psnr_diff": psnr(mse_o) - psnr(mse_r),
        "error_ours": math.nan, "error_released": math.nan,
        "error_diff": math.nan, "error_diff_lo": math.nan, "error_diff_hi": math.nan,
    }  # fmt: skip
    error = None
    if predict is not None:
        wrong_o, wrong_r = predict(ours) != labels, predict(theirs) != labels
        diff, dlo, dhi = paired_difference(wrong_o, wrong_r)
        row.update(
            error_ours=100.0 * wrong_o.mean(),
            error_released=100.0 * wrong_r.mean(),
            error_diff=diff,
            error_diff_lo=dlo,
            error_diff_hi=dhi,
        )
        error = equivalence(dlo, dhi, -settings.error_tolerance, settings.error_tolerance)
    row.update(strength_verdict=strength, error_verdict=error or "", verdict=cell_verdict(strength, error))
    return row


def format_table(table: pd.DataFrame) -> list[str]:
    """The check as printed lines: one per cell, then a count of verdicts."""
    with_error = table["error_ours"].notna().any()
    head = (
        f"{'corruption':<18} {'sev':>3} {'n':>6} {'|Δ| ours':>9} {'|Δ| rel':>8} {'ratio [95% CI]':>20} "
        f"{'PSNR ours':>9} {'PSNR rel':>8} {'ΔdB':>6}"
    )
    if with_error:
        head += f" {'err ours':>8} {'err rel':>7} {'Δerr [95% CI]':>22}"
    lines = [head + "  verdict"]
    for r in table.itertuples():
        line = (
            f"{r.corruption:<18} {r.severity:>3} {r.n:>6} {r.mad_ours:>9.2f} {r.mad_released:>8.2f} "
            f"{f'{r.ratio:.3f} [{r.ratio_lo:.3f}, {r.ratio_hi:.3f}]':>20} {r.psnr_ours:>9.2f} "
            f"{r.psnr_released:>8.2f} {r.psnr_diff:>+6.2f}"
        )
        if with_error:
            ci = f"{r.error_diff:+.1f} [{r.error_diff_lo:+.1f}, {r.error_diff_hi:+.1f}]"
            line += f" {r.error_ours:>8.1f} {r.error_released:>7.1f} {ci:>22}"
        detail = (
            f" (|Δ| {r.strength_verdict}, error {r.error_verdict})"
            if with_error and r.strength_verdict != r.error_verdict
            else ""
        )
        lines.append(line + f"  {r.verdict}{detail}")
    counts = table["verdict"].value_counts()
    lines.append(
        ", ".join(f"{counts[v]} {v}" for v in ("close", "weaker", "stronger", "mixed", "unclear") if v in counts)
        + f" of {len(table)} cells"
    )
    return lines
