"""Measured step costs for ``plan``'s estimate, cached per (model, method, batch, device, threads, image size, ...).

The cache is one small JSON file, ``$AUGMIX_LAB_CACHE/step-costs.json`` (default ``~/.cache/augmix-lab/``), keyed by
everything the timing depends on, including the torch version and the CPU/GPU name, so a new machine or a torch upgrade
measures again. It is safe to delete; an unreadable or corrupted file is ignored (and rewritten on the next store).
Only trusted measurements are stored (``estimate.distrust``); ``neighbours`` and ``checked_against`` serve that check.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from augmix_lab import jit
from augmix_lab.config import TrialConfig
from augmix_lab.device import hardware_name as device_name  # the hardware the timing holds for
from augmix_lab.paths import (
    CACHE_ENV,  # noqa: F401  (the cache folder's variable, re-exported)
    cache_dir,
    read_cache_json,
    write_cache_json,
)

CACHE_FILE = "step-costs.json"
CACHE_VERSION = 1  # bump when what is measured changes, so old entries are not reused


def cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def step_cost_key(cfg: TrialConfig, *, classes: int, image_size: int, kind: str, batch: int, device: str) -> str:
    """Content key of one measurement: what the timed step builds and runs, and where."""
    v1 = cfg.v1_dict()  # the method's options in the layout older cache entries were keyed by
    payload = {
        "v": CACHE_VERSION,
        "torch": torch.__version__,
        "device": device,
        "hardware": device_name(device),
        "threads": cfg.train.threads or torch.get_num_threads(),
        "model": cfg.model,
        "method": cfg.method,
        "jsd_arity": cfg.jsd.arity,
        "augmix": v1["augmix"],
        "method_params": v1["method_params"],
        "adversarial": v1["adversarial"],
        "amp": cfg.train.amp,
        "channels_last": cfg.train.channels_last,
        "compile": cfg.train.compile,
        "classes": classes,
        "image_size": image_size,
        "kind": kind,
        "batch": batch,
    }
    if str(device).startswith("cpu") and jit.available():
        payload["cpu_engine"] = "compiled"  # numba's kernels time differently from the torch engine's (issue 28)
    if cfg.norm != "bn":
        payload["norm"] = cfg.norm  # absent for the default, so cached measurements keep their keys
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _read(path: Path) -> dict[str, Any]:
    return read_cache_json(path)  # absent or corrupted: measure again


_ENTRY_VERSION = 2  # entries without it were a median of 5 steps, possibly taken under load: measured again


def _entry(key: str, path: Path | None = None) -> dict[str, Any] | None:
    entry = _read(path or cache_path()).get(key)
    return entry if isinstance(entry, dict) and entry.get("entry_version") == _ENTRY_VERSION else None


def lookup(key: str, path: Path | None = None) -> tuple[float, float] | None:
    """(train seconds per image, forward seconds per image) for ``key``, or None."""
    entry = _entry(key, path)
    try:
        train_s, eval_s = float(entry["train_s_per_image"]), float(entry["eval_s_per_image"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    return (train_s, eval_s) if train_s > 0 and eval_s > 0 else None


def checked_against(key: str, logged_s: float, path: Path | None = None) -> bool:
    """Was ``key`` measured while the study's logged step time was ``logged_s`` (then it is not measured again)?"""
    entry = _entry(key, path) or {}
    try:
        return abs(float(entry.get("logged_s", "nan")) - logged_s) <= 1e-3 * logged_s
    except (TypeError, ValueError):
        return False


def neighbours(key: str, info: dict[str, Any], path: Path | None = None) -> list[float]:
    """Cached train costs of the same model, method, JSD arity, batch, image size, threads and device (other data,
    e.g. CIFAR-10 vs CIFAR-100), on this hardware and torch: what a new measurement should be close to."""
    same = ("model", "method", "jsd_arity", "batch", "image_size", "threads", "device", "hardware", "torch")
    mine = {**info, "hardware": device_name(info.get("device", "cpu")), "torch": torch.__version__}
    out = []
    for other, entry in _read(path or cache_path()).items():
        if other == key or not isinstance(entry, dict) or entry.get("entry_version") != _ENTRY_VERSION:
            continue
        if all(entry.get(f) == mine.get(f) for f in same):
            try:
                out.append(float(entry["train_s_per_image"]))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def store(key: str, value: tuple[float, float], path: Path | None = None, **info: Any) -> None:
    """Add one measurement (atomic write + rename; a read-only cache directory only costs the re-measurement)."""
    path = path or cache_path()
    data = _read(path)
    device = str(info.get("device", "cpu"))
    data[key] = {
        "train_s_per_image": value[0],
        "eval_s_per_image": value[1],
        "entry_version": _ENTRY_VERSION,
        "hardware": device_name(device),
        "torch": torch.__version__,
        **info,
    }
    write_cache_json(path, data)
