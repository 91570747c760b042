"""Device resolution, defined once below every package that places tensors (evaluation, training, the estimate).

A top-level module, not part of ``training``: evaluation and the analyses resolve devices too, and must not import
the trainer for it (docs/architecture.md "layering")."""

from __future__ import annotations

import torch

from augmix_lab.errors import UserError


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``auto``/None → CUDA when available else CPU; an unavailable CUDA request is a ``UserError``."""
    if isinstance(name, torch.device):
        return name
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"device {name!r} is not a device; allowed: auto, cpu, cuda, cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r} is not supported; allowed: auto, cpu, cuda, cuda:N")
    return device


def switch(setting: str, device: torch.device) -> bool:
    """An ``auto|on|off`` setting: ``auto`` is on for CUDA, off on CPU."""
    return setting == "on" or (setting == "auto" and device.type == "cuda")
