"""Where a study keeps its files: output directory, embedded MLflow store, Ray storage."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

RUNS_ROOT_ENV = "AUGMIX_LAB_RUNS"  # overrides the default ./runs parent of study directories
CACHE_ENV = "AUGMIX_LAB_CACHE"  # folder of the project's measurement caches; default $XDG_CACHE_HOME/augmix-lab


def cache_dir() -> Path:
    """Where measurements are cached (plan's step costs, the op engine winners): ``$AUGMIX_LAB_CACHE``, else
    ``$XDG_CACHE_HOME/augmix-lab`` (``~/.cache/augmix-lab``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "augmix-lab"


def read_cache_json(path: Path) -> dict[str, Any]:
    """A cache file's JSON object; ``{}`` when it is absent or damaged (the cache is only ever a shortcut)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache_json(path: Path, data: dict[str, Any]) -> None:
    """Replace a cache file atomically (temp file + rename: a concurrent reader sees the old or the new one); an
    unwritable cache folder only costs the next measurement, so errors are swallowed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_ROOT_ENV, "runs")).resolve()


def study_dir(name_or_dir: str | os.PathLike[str]) -> Path:
    """A study's output directory: an existing path as given, else ``runs/<name>``."""
    p = Path(name_or_dir)
    if p.is_dir() or len(p.parts) > 1:
        return p.resolve()
    return runs_root() / str(name_or_dir)


def default_tracking_uri(out_dir: Path) -> str:
    """Embedded MLflow store: a SQLite file inside the study directory (no server needed)."""
    return f"sqlite:///{(Path(out_dir) / 'mlflow.db').resolve()}"


def default_artifact_location(out_dir: Path) -> str:
    return (Path(out_dir) / "mlartifacts").resolve().as_uri()


def ray_storage_dir(out_dir: Path) -> Path:
    """Ray Tune's storage for this study (never a hidden global ~/ray_results)."""
    return (Path(out_dir) / "ray").resolve()
