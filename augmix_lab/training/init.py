"""Two-stage training: start a trial from another trial's final weights (``init:`` in a trial config).

Only the model's weights are taken over; the optimizer, schedule and RNG streams start fresh (a fine-tuning run is a new
training run that happens to begin at a trained point, as in the model-soups recipe, Wortsman et al., ICML 2022).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from augmix_lab.config import file_sha256
from augmix_lab.errors import UserError


def read_init_state(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(model state dict, metadata) from a final.pt of this tool or a plain state-dict file; loads weights only."""
    p = Path(path)
    if not p.is_file():
        raise UserError(
            f"field 'init.checkpoint': no such file {str(p)!r}; allowed: an existing final.pt or state-dict file"
        )
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)  # safe loading (docs/architecture.md)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means "not a weights file"
        raise UserError(
            f"field 'init.checkpoint': {p} is not a readable weights file ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
        return dict(data["model"]), {k: v for k, v in data.items() if k != "model"}
    if isinstance(data, Mapping) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return dict(data), {}
    raise UserError(f"field 'init.checkpoint': {p} holds neither an augmix-lab final checkpoint nor a state dict")


def load_init_weights(model: nn.Module, init: Any, model_name: str = "") -> str | None:
    """Load ``init`` (an ``InitConfig``) into ``model`` in place; returns the file loaded, or None without an init.

    A fixed file must still have the content the trial's key was computed from (``init.sha256``); a parent's
    checkpoint is found by the driver under the parent's key (``trials/<parent_key>/``). A different architecture is a
    ``UserError``.
    """
    if not init.is_set():
        return None
    if init.checkpoint is None:
        raise UserError(
            f"field 'init.from_variant': {init.from_variant!r}: the parent's final checkpoint was not "
            "resolved; run the trial through its study (augmix-lab run), which trains the parent first"
        )
    state, meta = read_init_state(init.checkpoint)
    if init.parent_key is None and init.sha256 is not None and file_sha256(init.checkpoint) != init.sha256:
        raise UserError(
            f"field 'init.checkpoint': {init.checkpoint} changed since the study was planned (sha256 "
            f"{file_sha256(init.checkpoint)[:12]}, expected {init.sha256[:12]}); re-run to re-plan"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        parent_model = (meta.get("config") or {}).get("model", "?") if isinstance(meta.get("config"), Mapping) else "?"
        raise UserError(
            f"field 'init.checkpoint': {init.checkpoint} does not fit model {model_name!r} (it was "
            f"trained as {parent_model!r}): {detail[:400]}; allowed: weights of the same model and number "
            "of classes"
        ) from None
    return str(init.checkpoint)
