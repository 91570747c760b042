"""Trial checkpoints: atomic writes, ``weights_only`` loads, and capture/restore of every RNG the trial uses.

Everything stored is a tensor or a plain Python container/number/string, so ``torch.load(weights_only=True)``
reads it back; NumPy's RNG state is kept as an int64 tensor of its key plus plain numbers.

A trial may resume on another kind of device than the one that wrote ``last.pt`` (the device is not in the trial's
key): a generator whose stored state is for another device kind (a CUDA Philox state is 16 bytes, a CPU Mersenne
Twister state ~5 KB) is reseeded from a hash of the stored state and its name, so the resumed run is deterministic
for that checkpoint but not the stream an uninterrupted run on the first device would have drawn (a warning says
so). CUDA's global states are restored for as many devices as are visible.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augmix_lab.errors import UserError

CHECKPOINT_FORMAT = 1  # bump when the layout below changes incompatibly
CHECKPOINT_DIR = "checkpoints"  # under the trial's work directory
LAST_CHECKPOINT = "last.pt"  # resumable state: model, optimizer, scheduler, scaler, RNGs, history
FINAL_CHECKPOINT = "final.pt"  # trained weights + config + data version: what evaluate_checkpoint reads


def checkpoint_paths(workdir: str | Path) -> tuple[Path, Path]:
    """(last, final) checkpoint paths of a trial's work directory."""
    folder = Path(workdir) / CHECKPOINT_DIR
    return folder / LAST_CHECKPOINT, folder / FINAL_CHECKPOINT


def save_atomic(obj: dict[str, Any], path: Path) -> Path:
    """Write ``obj`` with torch.save to a temp file beside ``path`` and rename it over ``path`` (no torn files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``); unreadable or foreign files raise ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means "not our checkpoint"
        raise UserError(f"{path}: not a readable augmix-lab checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path}: not an augmix-lab checkpoint of format {CHECKPOINT_FORMAT}")
    return data


def capture_rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Python, NumPy, torch CPU (+ all CUDA devices when initialised) and the trial's own generators."""
    version, key, gauss = random.getstate()
    np_name, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(key), gauss],
        "numpy": {"name": np_name, "key": torch.from_numpy(np_key.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "generators": {name: g.get_state() for name, g in generators.items()},
        "generator_devices": {name: g.device.type for name, g in generators.items()},
    }
    return state


def restore_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> list[str]:
    """Put every RNG back; returns the names of the trial generators reseeded because the checkpoint's state is for
    another device kind (see the module docstring)."""
    version, key, gauss = state["python"]
    random.setstate((version, tuple(key), gauss))
    npst = state["numpy"]
    np.random.set_state((npst["name"], npst["key"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):  # fewer devices here: skip the rest
            torch.cuda.set_rng_state(cuda_state, index)
    stored_devices = state.get("generator_devices", {})
    reseeded = []
    for name, g in generators.items():
        stored = state["generators"][name]
        # checkpoints before the device kind was stored: a state of another size is another device's
        kind = stored_devices.get(name) or (g.device.type if stored.numel() == g.get_state().numel() else "another")
        if kind == g.device.type:
            g.set_state(stored)
            continue
        digest = hashlib.sha256(stored.numpy().tobytes() + name.encode()).digest()
        g.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
        reseeded.append(name)
    if reseeded:
        warnings.warn(f"resuming on {next(iter(generators.values())).device.type} from a checkpoint written on "
                      f"another device kind: generator(s) {', '.join(reseeded)} reseeded from the checkpoint (the "
                      "resumed run is reproducible, not the stream an uninterrupted run would have drawn)",
                      RuntimeWarning, stacklevel=2)
    return reseeded
