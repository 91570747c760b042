"""The op table: each augmentation op as a batched kernel taking its PIL argument, and ``apply_ops_``.

An op's *argument* is what the PIL call takes (posterize bits, solarize threshold, rotate degrees, shear, pixels,
enhance factor). How a method turns its random level into that argument lives with the method (AugMix below in
``augmix.py``, torchvision's bins in ``policies.py``). ``apply_ops_`` runs one op per image for a whole batch:
images are grouped by op (one host sync per call for the group sizes) and every geometric op of the call goes
through ONE batched affine resampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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


def _zeros(t: Tensor) -> Tensor:
    return torch.zeros_like(t)


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
        Op("translate_x", matrix=lambda a, h, w: F.translate_matrices(a, _zeros(a))),
        Op("translate_y", matrix=lambda a, h, w: F.translate_matrices(_zeros(a), a)),
    ]
}


def apply_ops_(
    images: Tensor, op_ids: Tensor, arguments: Tensor, ops: Sequence[Op], interpolation: str = "bilinear"
) -> Tensor:
    """In place: image i gets ``ops[op_ids[i]]`` with ``arguments[i]``; op id -1 leaves the image unchanged.

    Each op runs only on the images that drew it; all geometric images share one ``F.affine`` call.
    """
    n, _, h, w = images.shape
    if n == 0:
        return images
    device = images.device
    op_ids = op_ids.to(device)
    arguments = arguments.to(device)
    # sort key: pixel ops first (in table order), then geometric ops, then "no op" rows (dropped)
    pixel = [i for i, op in enumerate(ops) if not op.geometric]
    geometric = [i for i, op in enumerate(ops) if op.geometric]
    order_of_op = torch.empty(len(ops) + 1, dtype=torch.long, device=device)
    order_of_op[torch.tensor(pixel + geometric, device=device, dtype=torch.long) + 1] = torch.arange(
        len(ops), device=device
    )
    order_of_op[0] = len(ops)
    keys = order_of_op[op_ids + 1]
    rows = torch.argsort(keys, stable=True)
    counts = torch.bincount(keys, minlength=len(ops) + 1).tolist()  # the one host sync
    start = 0
    for rank, op_index in enumerate(pixel):
        count = counts[rank]
        if count:
            idx = rows[start : start + count]
            out = ops[op_index].kernel(images.index_select(0, idx), arguments.index_select(0, idx))  # type: ignore[misc]
            images.index_copy_(0, idx, out)
        start += count
    geo_start = start
    matrices = []
    for rank, op_index in enumerate(geometric, start=len(pixel)):
        count = counts[rank]
        if count:
            idx = rows[start : start + count]
            matrices.append(ops[op_index].matrix(arguments.index_select(0, idx), h, w))  # type: ignore[misc]
        start += count
    if matrices:
        idx = rows[geo_start:start]
        out = F.affine(images.index_select(0, idx), torch.cat(matrices), interpolation)
        images.index_copy_(0, idx, out)
    return images
