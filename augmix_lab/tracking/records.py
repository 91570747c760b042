"""What goes into a run: tag names, flattened params within MLflow's limits, batching, and environment tags."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from augmix_lab.tracking.tags import ROLE_STUDY, ROLE_TRIAL, TRACKING_TAGS, TrackingTags  # noqa: F401 - re-exported

T = TypeVar("T")

# MLflow limits (mlflow/utils/validation.py, 3.x): keys <= 250 chars, <= 100 params+tags and <= 1000 metrics per
# log_batch. Param values may be 6000 chars now, but servers before MLflow 1.x/2.x allowed only 250/500 (mlflow
# #1976, #6183), so we stay at 500: longer values live in the trial_config.yaml artifact.
MAX_KEY_CHARS = 250
MAX_PARAM_VALUE_CHARS = 500
MAX_TAG_VALUE_CHARS = 5000  # MLflow allows 8000 (validation.py MAX_TAG_VAL_LENGTH); leave room for older servers
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000


TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
TRACKED_PACKAGES = ("torch", "torchvision", "ray", "mlflow", "augmix-lab")


def flatten_config(nested: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``{"dotted.key": "value"}``; lists and empty mappings become compact JSON, scalars ``str``."""
    flat: dict[str, str] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, prefix=f"{name}."))
        elif isinstance(value, (Mapping, list, tuple)):
            flat[name] = json.dumps(value, sort_keys=True, default=str)
        else:
            flat[name] = str(value)
    return flat


def limit_params(flat: Mapping[str, str]) -> dict[str, str]:
    """Fit params into MLflow's limits: long values become a marker (the config artifact has them), long keys a hash."""
    limited: dict[str, str] = {}
    for key, value in flat.items():
        if len(key) > MAX_KEY_CHARS:
            digest = hashlib.sha256(key.encode()).hexdigest()[:12]
            key = f"{key[: MAX_KEY_CHARS - 14]}~{digest}"
        if len(value) > MAX_PARAM_VALUE_CHARS:
            value = f"<{len(value)} chars: see artifact trial_config.yaml>"
        limited[key] = value
    return limited


def limit_tag(value: str) -> str:
    return value if len(value) <= MAX_TAG_VALUE_CHARS else value[: MAX_TAG_VALUE_CHARS - 15] + " ...[truncated]"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def to_float(key: str, value: Any) -> float:
    """A metric value as float; a value that is not a number is a bug in the caller, never silently dropped."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric {key!r}: expected a number, got {type(value).__name__} {value!r}") from None


def environment_tags() -> dict[str, str]:
    """Code version, package versions and hardware of this process: enough to say what produced a result."""
    tags = {
        TRACKING_TAGS.python: platform.python_version(),
        TRACKING_TAGS.platform: platform.platform(),
        TRACKING_TAGS.cpu_count: str(os.cpu_count() or 0),
        TRACKING_TAGS.gpus: json.dumps(_gpu_names()),
    }
    for package in TRACKED_PACKAGES:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "not installed"
        tags[f"{TRACKING_TAGS.version_prefix}{package.replace('-', '_')}"] = version
    commit, dirty = _git_state(Path(__file__).resolve().parent)
    if commit:
        tags[TRACKING_TAGS.git_commit] = commit
        tags[TRACKING_TAGS.source_git_commit] = commit
        tags[TRACKING_TAGS.git_dirty] = str(dirty).lower()
    return tags


def _gpu_names() -> list[str]:
    try:
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - hardware probing must never fail a study
        pass
    return []


def _git_state(folder: Path) -> tuple[str | None, bool]:
    """(commit, has uncommitted changes to tracked files) of the repository holding ``folder``, or (None, False)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, False
    return commit or None, bool(status)
