"""The study manifest (``<out>/manifest.json``): expanded trials with their state, study-file hash, git commit, versions.

Comparing the manifest left by the previous run with the freshly expanded study gives the verdict printed before
anything runs: which trials are new, which are reused, and which are orphaned (in the old study, no longer in this one).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from augmix_lab.study.expand import Trial
from augmix_lab.study.schema import Study

MANIFEST_NAME = "manifest.json"
STATES = ("pending", "complete", "reevaluate", "failed")


def manifest_path(out_dir: Path) -> Path:
    return Path(out_dir) / MANIFEST_NAME


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = manifest_path(out_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a torn write from a killed driver: treat as absent, the tracking store stays authoritative
    return data if isinstance(data, dict) else None


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("augmix-lab", "torch", "torchvision", "ray", "mlflow", "pydantic", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_manifest(out_dir: Path, study: Study, trials: list[Trial], states: dict[str, str]) -> Path:
    """Atomically (write + rename) record the study's trials and their states."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "study": study.name,
        "study_file": str(study.path.resolve()),
        "study_hash": study.hash,
        "git_commit": _git_commit(),
        "packages": _versions(),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "plugins": {
            p.module: {"digest": p.digest, "path": p.path, "distribution": p.distribution} for p in study.plugins
        },
        "trials": [
            {
                "key": t.key,
                "variant": t.variant,
                "seed": t.seed,
                "axes": t.axes,
                "eval_key": t.eval_key,
                "label": t.label,
                "epochs": t.config.epochs,
                "state": states.get(t.key, "pending"),
            }
            for t in trials
        ],
    }
    path = manifest_path(out_dir)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".manifest-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.chmod(tmp, 0o644)  # mkstemp's private mode would hide the manifest from collaborators
    os.replace(tmp, path)
    return path


@dataclass
class Verdict:
    """How this expansion relates to the previous run of the study in the same directory."""

    previous_hash: str | None
    new: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    eval_changed: list[str] = field(default_factory=list)
    plugins_changed: list[str] = field(default_factory=list)  # "module (old -> new)", "module (added)", "... (removed)"

    @property
    def edited(self) -> bool:
        return self.previous_hash is not None and bool(self.new or self.orphaned or self.eval_changed)

    def summary(self, study_hash: str) -> str:
        if self.previous_hash is None:
            return f"new study: {len(self.new)} trials"
        state = "unchanged" if self.previous_hash == study_hash else "edited"
        parts = [
            f"study file {state}",
            f"{len(self.new)} new",
            f"{len(self.reused)} reused",
            f"{len(self.orphaned)} orphaned",
        ]
        if self.eval_changed:
            parts.append(f"{len(self.eval_changed)} with changed evaluation settings (re-evaluated, not retrained)")
        text = ": ".join(parts[:1]) + ": " + ", ".join(parts[1:]) + " trials"
        if self.plugins_changed:  # every trial's key holds the plugins' digests: a changed one makes them all new
            text += f"; plugin code changed: {', '.join(self.plugins_changed)}"
        return text


def verdict(previous: dict[str, Any] | None, trials: list[Trial]) -> Verdict:
    if previous is None:
        return Verdict(previous_hash=None, new=[t.key for t in trials])
    old = {row["key"]: row for row in previous.get("trials", []) if isinstance(row, dict) and "key" in row}
    v = Verdict(previous_hash=previous.get("study_hash"))
    keys = {t.key for t in trials}
    for t in trials:
        if t.key in old:
            v.reused.append(t.key)
            if old[t.key].get("eval_key") != t.eval_key:
                v.eval_changed.append(t.key)
        else:
            v.new.append(t.key)
    v.orphaned = [k for k in old if k not in keys]
    v.plugins_changed = plugin_changes(previous.get("plugins") or {}, trials)
    return v


def plugin_changes(previous: dict[str, Any], trials: list[Trial]) -> list[str]:
    """Plugins whose digest differs from the previous run's manifest: 'module (old -> new)', added, removed."""
    now: dict[str, str] = {}
    for t in trials:
        now.update(t.config.plugins)
    before = {k: (v.get("digest") if isinstance(v, dict) else str(v)) for k, v in previous.items()}
    out = [f"{m} ({before[m]} -> {d})" for m, d in sorted(now.items()) if m in before and before[m] != d]
    out += [f"{m} (added)" for m in sorted(set(now) - set(before))]
    return out + [f"{m} (removed)" for m in sorted(set(before) - set(now))]
