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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augmix_lab.errors import DiskFull, UserError, is_disk_full

CHECKPOINT_FORMAT = 1  # bump when the layout below changes incompatibly
CHECKPOINT_DIR = "checkpoints"  # under the trial's work directory
LAST_CHECKPOINT = "last.pt"  # resumable state: model, optimizer, scheduler, scaler, RNGs, history
FINAL_CHECKPOINT = "final.pt"  # trained weights + config + data version: what evaluate_checkpoint reads


def checkpoint_paths(workdir: str | Path) -> tuple[Path, Path]:
    """(last, final) checkpoint paths of a trial's work directory."""
    folder = Path(workdir) / CHECKPOINT_DIR
    return folder / LAST_CHECKPOINT, folder / FINAL_CHECKPOINT


def aside_dir(path: str | Path) -> Path:
    """The sibling folder for copies kept beside a checkpoint folder (``checkpoints`` -> ``checkpoints.previous``):
    outside it, so the folder handed to Ray Tune each epoch holds only the current checkpoints."""
    folder = Path(path).parent
    return folder.with_name(f"{folder.name}.previous")


def previous_path(path: str | Path) -> Path:
    """Where ``save_atomic(..., keep_previous=True)`` keeps the copy it replaced (``checkpoints.previous/last.pt``)."""
    return aside_dir(path) / Path(path).name


def state_bytes(obj: Any) -> int:
    """The tensor bytes in a checkpoint dict (what it takes on disk, give or take the pickled structure)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(state_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_bytes(v) for v in obj)
    return 0


def save_atomic(obj: dict[str, Any], path: Path, *, keep_previous: bool = False, copies: int = 1) -> Path:
    """Write ``obj`` with torch.save to a temp file beside ``path``, fsync it, rename it over ``path`` and fsync the
    folder: ``path`` is always a whole checkpoint, the old one or the new one. ``keep_previous`` first moves the
    old one to ``previous_path(path)`` (the fallback when the newest one cannot be read). A full disk raises
    ``DiskFull`` naming the folder and the room ``copies`` checkpoints of this size need; nothing is left half-written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.is_file():
            previous_path(path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, Exception) and (is_disk_full(exc) or _too_little_room(path.parent, obj)):
            raise DiskFull(path.parent, state_bytes(obj) * max(1, copies)) from exc
        raise
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX: a directory entry is data of the directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def _too_little_room(folder: Path, obj: Any) -> bool:
    """After a failed write: is the folder's disk too full for it? (torch reports ENOSPC as 'unexpected pos')."""
    import shutil

    try:
        return shutil.disk_usage(folder).free < state_bytes(obj) + (1 << 20)
    except OSError:
        return False


def checkpoint_bytes(cfg: Any, num_classes: int) -> int:
    """About how much disk one trial's checkpoints take: last.pt and its previous copy (weights + SGD momentum +
    buffers) and final.pt (weights), from the model's parameter count (built on the meta device: no memory)."""
    from augmix_lab.models import create_model

    with torch.device("meta"):
        model = create_model(cfg.model, num_classes, norm=getattr(cfg, "norm", "bn"))
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return 2 * 2 * weights + weights


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


def load_final(path: str | Path) -> dict[str, Any]:
    """A trial's ``final.pt`` (weights + config + data version); a resumable ``last.pt`` is refused."""
    state = load_checkpoint(Path(path))
    if "config" not in state:
        raise UserError(f"{path}: a resumable last.pt, not a final checkpoint; use checkpoints/final.pt")
    return state


def final_model(state: dict[str, Any], num_classes: int, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The trained model of a ``load_final`` state, on ``device``, in eval mode (built as its trial built it:
    ``trial_model``, e.g. a ``timm:`` model's input resize)."""
    from types import SimpleNamespace

    from augmix_lab.training.trainer import trial_model

    if int(state.get("num_classes", num_classes)) != num_classes:
        raise UserError(f"a {state['num_classes']}-class checkpoint cannot score a {num_classes}-class dataset")
    cfg = state["config"]
    built_as = SimpleNamespace(
        model=str(cfg.get("model", "")),
        pretrained=cfg.get("pretrained"),
        resize=cfg.get("resize"),
        norm=str(cfg.get("norm", "bn")),
    )
    model = trial_model(built_as, num_classes, weights=False)  # type: ignore[arg-type]  # the state holds the weights
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def capture_rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Python, NumPy, torch CPU (+ all CUDA devices when initialised) and the trial's own generators."""
    version, key, gauss = random.getstate()
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)  # legacy=True, the default: the MT19937 5-tuple
    np_name, np_key, np_pos, np_has_gauss, np_gauss = np_state
    state: dict[str, Any] = {
        "python": [version, list(key), gauss],
        "numpy": {
            "name": np_name,
            "key": torch.from_numpy(np_key.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
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
    np.random.set_state(
        (npst["name"], npst["key"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        for index, cuda_state in enumerate(
            state["cuda"][: torch.cuda.device_count()]
        ):  # fewer devices here: skip the rest
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
        warnings.warn(
            f"resuming on {next(iter(generators.values())).device.type} from a checkpoint written on "
            f"another device kind: generator(s) {', '.join(reseeded)} reseeded from the checkpoint (the "
            "resumed run is reproducible, not the stream an uninterrupted run would have drawn)",
            RuntimeWarning,
            stacklevel=2,
        )
    return reseeded


# ---------------------------------------------------------------------------------------------- resuming

FETCH_DIR = ".fetched"  # in aside_dir: copies fetched from elsewhere while choosing (removed after)
UNREADABLE_SUFFIX = ".unreadable"  # an unreadable last.pt is moved aside (last.pt.unreadable), never deleted

Fetch = Callable[[Path], "Path | None"]  # given a folder to download into: the copy's path, or None when there is none


@dataclass
class ResumePoint:
    """The checkpoint a trial resumes from (``state`` None: from scratch), where it came from, and what was skipped."""

    state: dict[str, Any] | None
    source: str | None
    skipped: list[str] = field(default_factory=list)

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"]) if self.state is not None else 0

    def note(self) -> str | None:
        """The warning to show when a copy was skipped (None when the newest checkpoint was read as usual)."""
        if not self.skipped:
            return None
        skipped = "; ".join(self.skipped)
        if self.state is None:
            return f"no readable checkpoint (skipped {skipped}): restarting the trial from scratch"
        return f"skipped {skipped}; resuming from {self.source} (epoch {self.epoch})"


def _problem(exc: BaseException) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("/") and ": " in text else text


def choose_resume(last: Path, fingerprint: str, fallbacks: Sequence[tuple[str, Fetch]] = ()) -> ResumePoint:
    """``last`` when it loads and belongs to this trial; else the newest readable of its previous local copy and the
    ``fallbacks`` (name, fetch) - e.g. Ray Tune's copy, the trial's MLflow copy - with what was skipped and why.

    An unreadable ``last`` is moved aside (``checkpoints.previous/last.pt.unreadable``) so the next save cannot
    mistake it for a good previous copy. A ``last`` of another trial is refused (``UserError``): that is a wrong directory, not damage.
    """
    import shutil

    last = Path(last)
    skipped: list[str] = []
    if last.is_file():
        try:
            state = load_checkpoint(last)
        except UserError as exc:
            skipped.append(f"the unreadable {last} ({_problem(exc)})")
        else:
            if state.get("fingerprint") != fingerprint:
                raise UserError(
                    f"{last} belongs to another trial (fingerprint {state.get('fingerprint')}, expected "
                    f"{fingerprint}); use a fresh work directory"
                )
            return ResumePoint(state, f"{last}")
    fetch_dir = aside_dir(last) / FETCH_DIR
    candidates: list[tuple[str, Fetch]] = [
        ("the previous local checkpoint", lambda _d: previous_path(last)),
        *fallbacks,
    ]
    best: ResumePoint | None = None
    try:
        for number, (name, fetch) in enumerate(candidates):
            try:
                path = fetch(fetch_dir / str(number))
            except Exception:  # noqa: BLE001 - a source without a copy (no Tune session, no MLflow artifact)
                continue
            if path is None or not Path(path).is_file():
                continue
            try:
                state = load_checkpoint(Path(path))
            except UserError as exc:
                skipped.append(f"{name} ({_problem(exc)})")
                continue
            if state.get("fingerprint") != fingerprint:
                skipped.append(f"{name} (another trial's checkpoint)")
                continue
            if best is None or int(state["epoch"]) > best.epoch:
                best = ResumePoint(state, f"{name} ({path})" if name.startswith("the previous") else name)
    finally:
        shutil.rmtree(fetch_dir, ignore_errors=True)
    if skipped and last.is_file():
        aside_dir(last).mkdir(parents=True, exist_ok=True)
        os.replace(last, aside_dir(last) / (last.name + UNREADABLE_SUFFIX))
    point = best or ResumePoint(None, None)
    point.skipped = skipped
    return point
