"""Measured step costs for ``plan``'s estimate, cached per (model, method, batch, device, threads, image size, ...).

The cache is one small JSON file, ``$AUGMIX_LAB_CACHE/step-costs.json`` (default ``~/.cache/augmix-lab/``), keyed by
everything the timing depends on, including the torch version and the CPU/GPU name, so a new machine or a torch upgrade
measures again. It is safe to delete; an unreadable or corrupted file is ignored (and rewritten on the next store).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from augmix_lab.config import TrialConfig
from augmix_lab.device import hardware_name as device_name  # the hardware the timing holds for
from augmix_lab.paths import CACHE_ENV, cache_dir  # noqa: F401  (CACHE_ENV: the cache folder's variable)

CACHE_FILE = "step-costs.json"
CACHE_VERSION = 1  # bump when what is measured changes, so old entries are not reused


def cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def step_cost_key(cfg: TrialConfig, *, classes: int, image_size: int, kind: str, batch: int, device: str) -> str:
    """Content key of one measurement: what the timed step builds and runs, and where."""
    v1 = cfg.v1_dict()  # the method's options in the layout older cache entries were keyed by
    payload = {
        "v": CACHE_VERSION, "torch": torch.__version__, "device": device, "hardware": device_name(device),
        "threads": cfg.train.threads or torch.get_num_threads(), "model": cfg.model, "method": cfg.method,
        "jsd_arity": cfg.jsd.arity, "augmix": v1["augmix"], "method_params": v1["method_params"],
        "adversarial": v1["adversarial"], "amp": cfg.train.amp,
        "channels_last": cfg.train.channels_last, "compile": cfg.train.compile, "classes": classes,
        "image_size": image_size, "kind": kind, "batch": batch,
    }
    if cfg.norm != "bn":
        payload["norm"] = cfg.norm  # absent for the default, so cached measurements keep their keys
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent or corrupted: measure again
    return data if isinstance(data, dict) else {}


def lookup(key: str, path: Path | None = None) -> tuple[float, float] | None:
    """(train seconds per image, forward seconds per image) for ``key``, or None."""
    entry = _read(path or cache_path()).get(key)
    try:
        train_s, eval_s = float(entry["train_s_per_image"]), float(entry["eval_s_per_image"])
    except (TypeError, KeyError, ValueError):
        return None
    return (train_s, eval_s) if train_s > 0 and eval_s > 0 else None


def store(key: str, value: tuple[float, float], path: Path | None = None, **info: Any) -> None:
    """Add one measurement (atomic write + rename; a read-only cache directory only costs the re-measurement)."""
    path = path or cache_path()
    data = _read(path)
    data[key] = {"train_s_per_image": value[0], "eval_s_per_image": value[1], **info}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".step-costs-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass
