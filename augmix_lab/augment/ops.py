"""The op table: each augmentation op as a batched kernel taking its PIL argument, and ``apply_ops_``.

An op's *argument* is what the PIL call takes (posterize bits, solarize threshold, rotate degrees, shear, pixels,
enhance factor). How a method turns its random level into that argument lives with the method (AugMix below in
``augmix.py``, torchvision's bins in ``policies.py``). ``apply_ops_`` runs one op per image for a whole batch:
images are grouped by op (one host sync per call for the group sizes) and every geometric op of the call goes
through ONE batched affine resampling. ``apply_ops_masked`` is the sync-free engine: every op runs on every row and
``torch.where`` keeps each row's own result (more FLOPs, no host read); ``resolve_engine`` picks one per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
from torch import Tensor

from augmix_lab.augment import functional as F


@dataclass(frozen=True)
class Op:
    """One op: a pixel kernel ``(images, argument) -> images`` or an affine ``(argument, h, w) -> (M, 6)``."""

    name: str
    kernel: Callable[[Tensor, Tensor], Tensor] | None = None
    matrix: Callable[[Tensor, int, int], Tensor] | None = None

    @property
    def geometric(self) -> bool:
        return self.matrix is not None


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
        Op("shear_x", matrix=lambda a, h, w: F.shear_x_matrices(a)),
        Op("shear_y", matrix=lambda a, h, w: F.shear_y_matrices(a)),
        # Whole-pixel shifts (AugMix's int_parameter; torchvision's int(magnitude)): a gather, exactly PIL's affine
        Op("translate_x", kernel=lambda x, a: F.shift_x(x, a.trunc())),
        Op("translate_y", kernel=lambda x, a: F.shift_y(x, a.trunc())),
    ]
}


Engine = Literal["auto", "sorted", "masked"]
ENGINES: tuple[str, ...] = ("auto", "sorted", "masked")
# Module-wide default for AugMix's op engine ("auto": masked on CUDA, where syncs stall the pipeline and extra FLOPs
# are cheap; sorted on CPU, where compute dominates and the one bincount read per call costs nothing)
ENGINE: Engine = "auto"


def resolve_engine(engine: str | None, device: torch.device) -> str:
    """"sorted" or "masked" for ``engine`` (None: the module's ``ENGINE``) on ``device``."""
    choice = ENGINE if engine is None else engine
    if choice not in ENGINES:
        raise ValueError(f"augment engine must be one of {', '.join(ENGINES)}, got {choice!r}")
    if choice == "auto":
        return "sorted" if device.type == "cpu" else "masked"
    return choice


_GROUPING_CACHE: dict[tuple[tuple[str, ...], str], tuple[list[int], list[int], Tensor]] = {}


def _grouping(ops: tuple[Op, ...], device: torch.device) -> tuple[list[int], list[int], Tensor]:
    """Pixel and geometric op indices, and the sort key of each op id (+1; -1 = no op sorts last)."""
    key = (tuple(op.name for op in ops), str(device))
    if key not in _GROUPING_CACHE:
        pixel = [i for i, op in enumerate(ops) if not op.geometric]
        geometric = [i for i, op in enumerate(ops) if op.geometric]
        order = torch.empty(len(ops) + 1, dtype=torch.long)
        order[torch.tensor(pixel + geometric, dtype=torch.long) + 1] = torch.arange(len(ops))
        order[0] = len(ops)
        _GROUPING_CACHE[key] = (pixel, geometric, order.to(device))
    return _GROUPING_CACHE[key]


def apply_ops_sorted(
    images: Tensor, op_ids: Tensor, arguments: Tensor, ops: Sequence[Op], interpolation: str = "bilinear",
    source_rows: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One op per image, rows regrouped by op: returns ``(out, order)`` with ``out[j] = op(images[order[j]])``.

    Regrouping costs one row gather; then every op works on a contiguous slice (no per-op gathers/scatters) and all
    geometric rows share one ``F.affine`` call. Op id -1 means "no op" (the row is carried unchanged, sorted last).
    ``source_rows``: row i is ``images[source_rows[i]]`` (e.g. an image repeated per chain) without materialising it.
    """
    device = images.device
    pixel, geometric, order_of_op = _grouping(tuple(ops), device)
    keys = order_of_op[op_ids.to(device) + 1]
    order = torch.argsort(keys, stable=True)
    counts = torch.bincount(keys, minlength=len(ops) + 1).tolist()  # the one host sync per call
    out = images.index_select(0, order if source_rows is None else source_rows.to(device).index_select(0, order))
    args = arguments.to(device).index_select(0, order)
    _, _, h, w = images.shape
    start = 0
    for rank, op_index in enumerate(pixel):
        end = start + counts[rank]
        if end > start:
            out[start:end] = ops[op_index].kernel(out[start:end], args[start:end])  # type: ignore[misc]
        start = end
    geo_start = start
    matrices = []
    for rank, op_index in enumerate(geometric, start=len(pixel)):
        end = start + counts[rank]
        if end > start:
            matrices.append(ops[op_index].matrix(args[start:end], h, w))  # type: ignore[misc]
        start = end
    if matrices:
        out[geo_start:start] = F.affine(out[geo_start:start], torch.cat(matrices), interpolation)
    return out, order


def apply_ops_(
    images: Tensor, op_ids: Tensor, arguments: Tensor, ops: Sequence[Op], interpolation: str = "bilinear"
) -> Tensor:
    """In place: image i gets ``ops[op_ids[i]]`` with ``arguments[i]``; op id -1 leaves the image unchanged."""
    if images.shape[0] == 0:
        return images
    out, order = apply_ops_sorted(images, op_ids, arguments, ops, interpolation)
    return images.index_copy_(0, order, out)


def apply_ops_masked(
    images: Tensor, op_ids: Tensor, arguments: Tensor, ops: Sequence[Op], interpolation: str = "bilinear",
    source_rows: Tensor | None = None,
) -> Tensor:
    """Sync-free: ``out[i] = ops[op_ids[i]](images[i])`` (op id -1: unchanged), rows kept in order.

    Every op in ``ops`` runs on every row and ``torch.where`` keeps each row's own result, so no group size is read
    back to the host. Kernels are row-independent, so a row's result equals ``apply_ops_sorted``'s bit for bit. Rows
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
        if op.geometric:
            m = op.matrix(args, h, w)  # type: ignore[misc]
            if matrices is None:
                matrices = F.translate_matrices(torch.zeros_like(args), torch.zeros_like(args)).to(m.dtype)
                geometric_rows = rows
            else:
                geometric_rows = geometric_rows | rows  # type: ignore[operator]
            matrices = torch.where(rows.view(n, 1), m, matrices)
        else:
            result = torch.where(rows.view(n, 1, 1, 1), op.kernel(out, args), result)  # type: ignore[misc]
    if matrices is not None:
        warped = F.affine(out, matrices, interpolation)
        result = torch.where(geometric_rows.view(n, 1, 1, 1), warped, result)  # type: ignore[union-attr]
    return result
