"""The op table: each augmentation op as a batched kernel taking its PIL argument, and the op engines.

An op's *argument* is what the PIL call takes (posterize bits, solarize threshold, rotate degrees, shear, pixels,
enhance factor). How a method turns its random level into that argument lives with the method (AugMix below in
``augmix.py``, torchvision's bins in ``policies.py``). ``apply_op_chains`` (the "sorted" engine) runs a
chain of ops per image for a whole batch: per step images are regrouped by op and every geometric op of a step
without a kernel of its own (rotate; shears have bilinear 1-D kernels) goes through ONE batched affine resampling.
``apply_ops_masked`` is the sync-free engine: every op runs on every row and ``torch.where`` keeps each row's own
result (about as many times the op work as there are ops, no host read). The "compiled" engine (``augment/compiled.py``,
numba, CPU only) runs each image's chains in one fused compiled loop. ``apply_chains`` runs a batch through the engine
``resolve_engine`` picks, for AugMix and the policies alike: ``auto`` is the compiled engine on CPU where it runs the
ops (numba importable, every op compiled, bilinear), and otherwise follows the measurement stored for this hardware
and image size (``benchmarks/gpu_proof.py``'s engines section writes it), ``sorted`` until one is stored. The torch
engines agree to within one uint8 level (every kernel is row-independent, but ``F.affine``'s float grid depends on the
batch it runs in: a few values in 10^4 at 224 px land on the other side of a truncation); the compiled one equals PIL
and agrees with sorted per its table (``augment/compiled.py``), so the choice is one of speed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from augmix_lab.augment import compiled
from augmix_lab.augment import functional as F
from augmix_lab.device import hardware_name
from augmix_lab.paths import cache_dir, read_cache_json, write_cache_json


@dataclass(frozen=True)
class Op:
    """One op: a pixel kernel ``(images, argument) -> images`` or an affine ``(argument, h, w) -> (M, 6)``.

    ``bilinear``: an optional kernel that does the affine's bilinear resampling itself, faster than the shared
    ``F.affine`` (shears: a 1-D lerp per line); both engines run it in place of the matrix when bilinear.
    """

    name: str
    kernel: Callable[[Tensor, Tensor], Tensor] | None = None
    matrix: Callable[[Tensor, int, int], Tensor] | None = None
    bilinear: Callable[[Tensor, Tensor], Tensor] | None = None

    @property
    def geometric(self) -> bool:
        return self.matrix is not None

    def pixel_kernel(self, interpolation: str) -> Callable[[Tensor, Tensor], Tensor] | None:
        """The kernel that runs this op on its own rows under ``interpolation``, or None: it joins ``F.affine``."""
        return self.bilinear if self.geometric and interpolation == "bilinear" else self.kernel


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("identity", kernel=lambda x, a: x),
        Op("autocontrast", kernel=lambda x, a: F.autocontrast(x)),
        Op("equalize", kernel=lambda x, a: F.equalize(x)),
        Op("invert", kernel=lambda x, a: F.invert(x)),
        Op("posterize", kernel=F.posterize),
        Op("solarize", kernel=F.solarize),
        Op("color", kernel=F.color),
        Op("contrast", kernel=F.contrast),
        Op("brightness", kernel=F.brightness),
        Op("sharpness", kernel=F.sharpness),
        Op("rotate", matrix=lambda a, h, w: F.rotation_matrices(a, h, w)),
        Op("shear_x", matrix=lambda a, h, w: F.shear_x_matrices(a), bilinear=F.shear_x),
        Op("shear_y", matrix=lambda a, h, w: F.shear_y_matrices(a), bilinear=F.shear_y),
        # Whole-pixel shifts (AugMix's int_parameter; torchvision's int(magnitude)): a gather, exactly PIL's affine
        Op("translate_x", kernel=lambda x, a: F.shift_x(x, a.trunc())),
        Op("translate_y", kernel=lambda x, a: F.shift_y(x, a.trunc())),
    ]
}


Engine = Literal["auto", "sorted", "masked", "compiled"]
ENGINES: tuple[str, ...] = ("auto", "sorted", "masked", "compiled")
# Module-wide default for the op engine of AugMix and the policies ("auto": see ``resolve_engine``)
ENGINE: Engine = "auto"
# "auto" before any measurement of this hardware: sorted does each op on its own rows only (masked does every op on
# every row, ~9x the op work with AugMix's 9 ops) at the price of one host read per chain step (3 per AugMix call)
UNMEASURED_ENGINE = "sorted"
ENGINE_FILE = "augment-engines.json"  # in the project cache folder (``paths.cache_dir()``), beside step-costs.json


def resolve_engine(
    engine: str | None,
    device: torch.device,
    image_size: int | None = None,
    op_names: Sequence[str] = (),
    interpolation: str = "bilinear",
) -> str:
    """ "sorted", "masked" or "compiled" for ``engine`` (None: the module's ``ENGINE``) on ``device``, for images of
    ``image_size`` px and chains of ``op_names`` under ``interpolation``.

    ``auto``: on CPU the compiled engine where it runs these ops (``compiled.supports``: numba importable, every op
    compiled, bilinear); otherwise the winner stored for this hardware at the nearest measured size, else
    ``UNMEASURED_ENGINE``. ``compiled`` where it cannot run (off the CPU, numba missing, an op or interpolation it
    lacks) falls back to that same torch choice.
    """
    choice = ENGINE if engine is None else engine
    if choice not in ENGINES:
        raise ValueError(f"augment engine must be one of {', '.join(ENGINES)}, got {choice!r}")
    if choice in ("sorted", "masked"):
        return choice
    if torch.device(device).type == "cpu" and compiled.supports(op_names, interpolation):
        return "compiled"
    measured = measured_engines(engine_hardware(device))
    if not measured:
        return UNMEASURED_ENGINE
    size = max(1, image_size or min(measured))  # no size given: the smallest measured one
    return measured[min(measured, key=lambda s: abs(math.log(s / size)))]


def engine_hardware(device: torch.device | str) -> str:
    """The key measurements are stored under: device type and hardware name (``cuda:NVIDIA H100 80GB HBM3``)."""
    dev = torch.device(device)
    try:
        return f"{dev.type}:{hardware_name(str(dev))}"
    except Exception:  # noqa: BLE001 - a device this process cannot query has no stored measurement
        return f"{dev.type}:unknown"


def engine_store_path() -> Path:
    return cache_dir() / ENGINE_FILE


def _read_store(path: Path) -> dict[str, Any]:
    return read_cache_json(path)  # absent or corrupted: nothing measured


@functools.cache
def measured_engines(hardware: str) -> dict[int, str]:
    """image size -> winning engine stored for ``hardware`` (read once per process; ``store_engine_winner`` resets)."""
    entry = _read_store(engine_store_path()).get(hardware)
    if not isinstance(entry, dict):
        return {}
    out = {}
    for size, row in entry.items():
        winner = row.get("winner") if isinstance(row, dict) else None
        if str(size).isdigit() and winner in ("sorted", "masked"):
            out[int(size)] = winner
    return out


def store_engine_winner(device: torch.device | str, image_size: int, seconds: dict[str, float], **info: Any) -> str:
    """Store the faster engine of ``seconds`` ({"sorted": s, "masked": s}) for this hardware at ``image_size``
    (atomic write + rename; an unwritable cache folder only costs the measurement). Returns the winner."""
    winner = min(("sorted", "masked"), key=lambda e: seconds[e])
    path = engine_store_path()
    data = _read_store(path)
    entry = data.setdefault(engine_hardware(device), {})
    entry[str(int(image_size))] = {"winner": winner, "seconds": seconds, "torch": torch.__version__, **info}
    write_cache_json(path, data)
    measured_engines.cache_clear()
    return winner


_GROUPING_CACHE: dict[tuple[tuple[str, ...], str, str], tuple[list[int], Tensor]] = {}


def _grouping(ops: tuple[Op, ...], interpolation: str, device: torch.device) -> tuple[list[int], Tensor]:
    """Op indices in processing order (pixel kernels, then those sharing ``F.affine``) and, per op id + 1 (0: no op),
    its rank in that order (no op last)."""
    key = (tuple(op.name for op in ops), interpolation, str(device))
    if key not in _GROUPING_CACHE:
        ranked = sorted(range(len(ops)), key=lambda i: ops[i].pixel_kernel(interpolation) is None)
        rank = torch.empty(len(ops) + 1, dtype=torch.long)
        rank[torch.tensor(ranked, dtype=torch.long) + 1] = torch.arange(len(ops))
        rank[0] = len(ops)
        _GROUPING_CACHE[key] = (ranked, rank.to(device))
    return _GROUPING_CACHE[key]


def apply_op_chains(
    images: Tensor,
    op_ids: Tensor,
    arguments: Tensor,
    ops: Sequence[Op],
    interpolation: str = "bilinear",
    source_rows: Tensor | None = None,
) -> Tensor:
    """Row r becomes ``ops[op_ids[r, S-1]](... ops[op_ids[r, 0]](image r))``, each with its argument; -1 skips.

    The CPU engine ("sorted"). Per step the rows are regrouped by op with one row gather (one host read for the
    group sizes; row gathers are cheap on CPU, row scatters are not), so every op runs on a contiguous slice in
    place and all geometric rows of the step share ONE ``F.affine`` call; one gather restores the row order at the
    end. ``source_rows``: row r starts as ``images[source_rows[r]]`` (e.g. an image repeated per chain) without
    materialising the repeats first.
    """
    device = images.device
    op_ids, arguments = op_ids.to(device), arguments.to(device)
    ranked, rank_of_op = _grouping(tuple(ops), interpolation, device)
    position = torch.arange(op_ids.shape[0], device=device)  # the original index of each current row
    source = position if source_rows is None else source_rows.to(device)
    pixels = images
    for step in range(op_ids.shape[1]):
        keys = rank_of_op[op_ids[position, step] + 1]
        order = torch.argsort(keys, stable=True)
        counts = torch.bincount(keys, minlength=len(ops) + 1).tolist()  # the one host read per step
        pixels = pixels.index_select(0, source.index_select(0, order) if step == 0 else order)
        position = position.index_select(0, order)
        _run_step(pixels, ranked, ops, counts, arguments[position, step], interpolation)
    if op_ids.shape[1] == 0:
        pixels = images.index_select(0, source)
    return pixels.index_select(0, torch.argsort(position))


def _run_step(
    pixels: Tensor, ranked: list[int], ops: Sequence[Op], counts: list[int], args: Tensor, interpolation: str
) -> None:
    """One step in place on regrouped rows: the op of rank r owns the r-th run of ``counts`` rows."""
    _, _, h, w = pixels.shape
    matrices, geometric_start, start = [], None, 0
    for rank, op_index in enumerate(ranked):
        end = start + counts[rank]
        op = ops[op_index]
        kernel = op.pixel_kernel(interpolation)
        if end > start and kernel is None:
            geometric_start = start if geometric_start is None else geometric_start
            matrices.append(op.matrix(args[start:end], h, w))  # type: ignore[misc]
        elif end > start and kernel is not None:
            pixels[start:end] = kernel(pixels[start:end], args[start:end])
        start = end
    if matrices:
        pixels[geometric_start:start] = F.affine(pixels[geometric_start:start], torch.cat(matrices), interpolation)


def apply_chains(
    images: Tensor,
    op_ids: Tensor,
    arguments: Tensor,
    ops: Sequence[Op],
    interpolation: str = "bilinear",
    source_rows: Tensor | None = None,
    engine: str | None = None,
) -> Tensor:
    """``apply_op_chains``' result (row r: its chain of ops, -1 skips) through the engine ``resolve_engine`` picks for
    ``engine`` on the images' device and size, these ops and ``interpolation``: the one entry point of AugMix and the
    policies."""
    names = [op.name for op in ops]
    chosen = resolve_engine(engine, images.device, images.shape[-1], names, interpolation)
    if chosen == "compiled":
        return compiled.apply_op_chains(images, op_ids, arguments, names, source_rows=source_rows)
    if chosen == "sorted":
        return apply_op_chains(images, op_ids, arguments, ops, interpolation, source_rows)
    rows = images if source_rows is None else images.index_select(0, source_rows.to(images.device))
    for step in range(op_ids.shape[1]):
        rows = apply_ops_masked(rows, op_ids[:, step], arguments[:, step], ops, interpolation)
    return rows


def apply_ops_masked(
    images: Tensor,
    op_ids: Tensor,
    arguments: Tensor,
    ops: Sequence[Op],
    interpolation: str = "bilinear",
    source_rows: Tensor | None = None,
) -> Tensor:
    """Sync-free: ``out[i] = ops[op_ids[i]](images[i])`` (op id -1: unchanged), rows kept in order (one step).

    Every op in ``ops`` runs on every row and ``torch.where`` keeps each row's own result, so no group size is read
    back to the host. Kernels are row-independent, so a row's result equals ``apply_op_chains``' (to one level where
    the shared ``F.affine`` ran in a different batch, see the module docstring). Rows
    of other ops get argument 0 (valid for every op) so no kernel sees an out-of-range value. All geometric rows share
    one ``F.affine`` call on the whole batch (identity matrix for the others, whose result is discarded).
    ``source_rows``: row i is ``images[source_rows[i]]``.
    """
    device = images.device
    op_ids = op_ids.to(device)
    arguments = arguments.to(device)
    out = images if source_rows is None else images.index_select(0, source_rows.to(device))
    n, _, h, w = out.shape
    result = out.clone()
    matrices: Tensor | None = None
    geometric_rows: Tensor | None = None
    for op_index, op in enumerate(ops):
        rows = op_ids == op_index
        args = torch.where(rows, arguments, torch.zeros_like(arguments))
        kernel = op.pixel_kernel(interpolation)
        if kernel is None:
            m = op.matrix(args, h, w)  # type: ignore[misc]
            if matrices is None:
                matrices = F.translate_matrices(torch.zeros_like(args), torch.zeros_like(args)).to(m.dtype)
                geometric_rows = rows
            else:
                geometric_rows = geometric_rows | rows
            matrices = torch.where(rows.view(n, 1), m, matrices)
        else:
            result = torch.where(rows.view(n, 1, 1, 1), kernel(out, args), result)
    if matrices is not None:
        warped = F.affine(out, matrices, interpolation)
        result = torch.where(geometric_rows.view(n, 1, 1, 1), warped, result)  # type: ignore[union-attr]
    return result
