"""Self-training: a teacher's pseudo-labels for the unlabelled pool, stored once, and the student's loss.

Noisy Student (Xie et al., CVPR 2020; code google-research/noisystudent) and Zoph et al. ("Rethinking Pre-training and
Self-training", NeurIPS 2020) train a teacher on the labelled images, let it label the unlabelled images *without
noise* (eval mode, no augmentation), filter and balance those labels, and train a noised student on both.

- **Labelling** (``teacher_logits``): the teacher in eval mode on the normalized pool images, no crop or flip.
- **Targets** (noisystudent main.py): soft = teacher probabilities ** (1/T), renormalised (= softmax(logits / T));
  hard (--teacher_softmax_temp=-1) = the argmax.
- **Filter** (noisystudent filter_unlabel.py, local_scripts/imagenet/filter_unlabel.sh): keep images whose top
  probability (T = 1) is >= ``threshold`` (0.3 there); with ``per_class`` N, per predicted class keep the N most
  confident, and with ``upsample`` repeat the images of a class that has fewer. Deviation, one line: the reference
  picks a per-class threshold on a 0.01 grid and rounds its copy counts at random; we keep exactly the top N and give
  the extra copies to the most confident images, so the set is a pure function of the teacher and the pool.
- **Accuracy**: the kept images' argmax against the pool's withheld labels, which only ``make_pseudo_labels`` reads
  (``data.labelled.withheld_labels``); the set handed to training holds pool indices and targets, never labels.
- **The set** is content-addressed (``set_key``: teacher key + pool + labelling options) and stored as an ``.npz``
  (``PseudoLabelSet.save``), so every student asking for the same set reuses it.
- **Student loss** (``StudentLoss``): ``ratio`` = noisystudent main.py's ``(lab_loss·B + unl_loss·B·r) / B`` =
  L_labelled + r·L_pseudo (label smoothing on labelled and hard pseudo-labels, none on soft ones, as main.py);
  ``normalized`` = Zoph et al.'s loss normalisation ½(L_h + α·(L̄_h / L̄_p)·L_p) with L̄ running means of each loss.
  Source of that formula: the project's fact sheet (methods-benchmarks-facts.md §2, marked [unverified]); the paper's
  own text was not reachable from this machine to check it, and the paper gives no averaging constant: our running
  means are exponential with momentum 0.99 per step (``NORMALIZE_MOMENTUM``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from augmix_lab.errors import UserError
from augmix_lab.evaluation.registry import PSEUDO_LABEL_ACCURACY, PSEUDO_LABELS_KEPT
from augmix_lab.training.losses import cross_entropy

SET_FORMAT = 1  # bump when the stored layout changes
SET_DIR = "pseudo_labels"  # <study out>/pseudo_labels/<set key>.npz, and the teacher run's artifact folder
LABEL_BATCH = 500  # pool images per teacher forward pass
NORMALIZE_MOMENTUM = 0.99  # running means of the normalized loss (our choice: the paper gives none)


def pool_identity(cfg: Any, data_version: str) -> dict[str, Any]:
    """The pool a trial config draws (data, subset, holdout, labelled split), without loading any data."""
    from augmix_lab.data.labelled import spec_text, split_seed

    d, spec = cfg.dataset, cfg.dataset.labelled
    return {
        "data": data_version,
        "train_subset": d.train_subset,
        "holdout": d.holdout,
        "labelled": spec_text(spec, split_seed(spec, cfg.seed)) if spec is not None else None,
    }


def set_key(teacher_key: str, pool: dict[str, Any], labelling: dict[str, Any]) -> str:
    """The content address of a pseudo-label set."""
    payload = json.dumps({"teacher": teacher_key, "pool": pool, "labelling": labelling}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def set_path(out_dir: str | os.PathLike[str], key: str) -> Path:
    return Path(out_dir) / SET_DIR / f"{key}.npz"


@dataclass
class PseudoLabelSet:
    """Kept pool images: ``indices`` into the pool (repeats = copies from upsampling), ``targets`` (int64 class ids
    or float32 probabilities), the teacher's top probability ``confidence``; ``meta`` says what made it."""

    indices: Tensor
    targets: Tensor
    confidence: Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return int(torch.unique(self.indices).numel())

    @property
    def soft(self) -> bool:
        return self.targets.dtype.is_floating_point

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Atomic ``.npz`` write (no pickles: ``meta`` is a JSON string)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(
                    fh,
                    indices=self.indices.numpy(),
                    targets=self.targets.numpy(),
                    confidence=self.confidence.numpy(),
                    meta=np.array(json.dumps(self.meta)),
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PseudoLabelSet:
        try:
            with np.load(Path(path), allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                out = cls(
                    torch.from_numpy(npz["indices"]),
                    torch.from_numpy(npz["targets"]),
                    torch.from_numpy(npz["confidence"]),
                    meta,
                )
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"{path}: not a readable pseudo-label set ({type(exc).__name__}: {exc})") from None
        if meta.get("format") != SET_FORMAT:
            raise UserError(f"{path}: pseudo-label set of format {meta.get('format')}, expected {SET_FORMAT}")
        return out

    def stats(self) -> dict[str, float]:
        """The registered per-trial metrics of this set (``pseudo_labels_kept``, ``pseudo_label_accuracy``)."""
        out = {PSEUDO_LABELS_KEPT: float(self.kept)}
        if self.meta.get(PSEUDO_LABEL_ACCURACY) is not None:
            out[PSEUDO_LABEL_ACCURACY] = float(self.meta[PSEUDO_LABEL_ACCURACY])
        return out


@torch.no_grad()
def teacher_logits(
    model: nn.Module,
    images: Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    device: torch.device,
    batch: int = LABEL_BATCH,
) -> Tensor:
    """The teacher's logits on the pool, unaugmented and in eval mode (float32, on the CPU), scored by the one
    ``evaluation.Scorer``."""
    from augmix_lab.evaluation.scoring import Scorer

    return torch.from_numpy(Scorer(model.eval(), mean, std, device, batch_size=batch)(images))


def select(
    confidence: Tensor, predicted: Tensor, num_classes: int, threshold: float, per_class: int | None, upsample: bool
) -> Tensor:
    """Pool indices kept by the filter (see the module docstring), repeats included; sorted within each class by
    decreasing confidence (ties: pool order)."""
    above = confidence >= threshold
    if per_class is None:
        return torch.nonzero(above).flatten()
    kept = []
    for c in range(num_classes):
        idx = torch.nonzero(above & (predicted == c)).flatten()
        idx = idx[torch.sort(confidence[idx], descending=True, stable=True).indices][:per_class]
        if upsample and 0 < len(idx) < per_class:  # filter_unlabel.py --upsample=1: copies up to N per class
            copies = torch.full((len(idx),), per_class // len(idx), dtype=torch.int64)
            copies[: per_class % len(idx)] += 1  # the most confident get the remaining copies
            idx = torch.repeat_interleave(idx, copies)
        kept.append(idx)
    return torch.cat(kept) if kept else torch.empty(0, dtype=torch.int64)


def build_set(
    logits: Tensor, options: Any, withheld: Tensor | None = None, meta: dict[str, Any] | None = None
) -> PseudoLabelSet:
    """Filter, balance and turn the teacher's logits into targets (``options``: a ``TeacherConfig``)."""
    probs = torch.softmax(logits.float(), dim=1)
    confidence, predicted = probs.max(dim=1)
    indices = select(confidence, predicted, logits.shape[1], options.threshold, options.per_class, options.upsample)
    if options.labels == "soft":
        targets = torch.softmax(logits[indices].float() / options.temperature, dim=1)
    else:
        targets = predicted[indices]
    out = PseudoLabelSet(
        indices, targets, confidence[indices].float(), {"format": SET_FORMAT, "pool_size": len(logits), **(meta or {})}
    )
    if withheld is not None:
        distinct = torch.unique(indices)
        correct = (
            (predicted[distinct] == withheld[distinct].to(predicted.dtype)).double().mean()
            if len(distinct)
            else torch.tensor(float("nan"), dtype=torch.float64)
        )
        out.meta[PSEUDO_LABEL_ACCURACY] = 100.0 * float(correct)
    out.meta[PSEUDO_LABELS_KEPT] = out.kept
    return out


def make_pseudo_labels(
    cfg: Any,
    checkpoint: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None,
    meta: dict[str, Any] | None = None,
) -> PseudoLabelSet:
    """The teacher's (``checkpoint``: its final.pt) pseudo-label set for the pool of the student ``cfg``."""
    from augmix_lab.data.labelled import withheld_labels
    from augmix_lab.data.trial import load_trial_split
    from augmix_lab.device import resolve_device
    from augmix_lab.training.checkpoint import final_model, load_final

    full, labelled, pool = load_trial_split(cfg, data_root)
    if pool is None or len(pool) == 0:
        raise UserError("field 'teacher': the student has no unlabelled pool (set dataset.labelled below 1)")
    if not isinstance(pool.images, Tensor):
        raise UserError("field 'teacher': self-training needs in-memory images (a cifar-kind dataset)")
    state = load_final(Path(checkpoint))
    if state.get("data_version") != labelled.version:
        raise UserError(
            f"{checkpoint}: the teacher was trained on data {state.get('data_version')!r}, the student's "
            f"labelled split is {labelled.version!r} (a teacher must share the student's split)"
        )
    device = resolve_device(cfg.device)
    model = final_model(state, int(state["num_classes"]), device)  # built as the teacher's trial built it
    logits = teacher_logits(model, pool.images, labelled.mean, labelled.std, device)
    return build_set(logits, cfg.teacher, withheld_labels(full, pool), {"pool_version": pool.version, **(meta or {})})


def load_student_set(cfg: Any, pool: Any) -> PseudoLabelSet:
    """The pseudo-label set the driver handed this student (``teacher.labels_file``), checked against its pool."""
    path = cfg.teacher.labels_file
    if not path or not Path(path).is_file():
        raise UserError(
            f"field 'teacher.labels_file': no pseudo-label set at {path!r}; the study driver labels the "
            "pool with the teacher and sets it (run the study with 'augmix-lab run')"
        )
    got = PseudoLabelSet.load(path)
    if got.meta.get("pool_version") != pool.version or got.meta.get("pool_size") != len(pool):
        raise UserError(
            f"{path}: pseudo-labels for pool {got.meta.get('pool_version')!r} "
            f"({got.meta.get('pool_size')} images), but this student's pool is {pool.version!r} "
            f"({len(pool)} images)"
        )
    if len(got.indices) == 0:
        raise UserError(
            f"{path}: the teacher's filter kept no pool image (teacher.threshold "
            f"{cfg.teacher.threshold:g}); lower the threshold"
        )
    return got


def add_head_dropout(model: nn.Module, p: float) -> Any:
    """Noisy Student's model noise: dropout on the input of the model's last ``nn.Linear`` (the classifier), active
    only in training mode, so the teacher's labelling and evaluation see the plain model. Returns the hook handle."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise UserError(
            f"field 'teacher.dropout': {p} needs a model with a linear classifier; "
            f"{type(model).__name__} has none (allowed: 0)"
        )
    return heads[-1].register_forward_pre_hook(
        lambda m, args: (nn.functional.dropout(args[0], p, m.training), *args[1:])
    )


class IndexStream:
    """Indices into ``n`` items in shuffled passes without replacement, ``take(k)`` at a time, across epochs (the
    reference repeats and shuffles its unlabelled dataset: noisystudent / fixmatch ``.repeat().shuffle()``)."""

    def __init__(self, n: int, generator: torch.Generator, device: torch.device) -> None:
        self.n, self.generator, self.device = int(n), generator, device
        self.perm = torch.empty(0, dtype=torch.int64, device=device)
        self.pos = 0

    def take(self, k: int) -> Tensor:
        parts = []
        while k > 0:
            if self.pos >= len(self.perm):
                self.perm = torch.randperm(self.n, generator=self.generator, device=self.generator.device)
                self.perm, self.pos = self.perm.to(self.device), 0
            got = self.perm[self.pos : self.pos + k]
            parts.append(got)
            self.pos += len(got)
            k -= len(got)
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def state_dict(self) -> dict[str, Any]:
        return {"perm": self.perm.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.perm, self.pos = state["perm"].to(self.device), int(state["pos"])


class StudentLoss:
    """The student's loss over a batch of labelled images and pseudo-labelled pool images (module docstring)."""

    def __init__(self, kind: str, ratio: float, alpha: float, label_smoothing: float, device: torch.device) -> None:
        self.kind, self.ratio, self.alpha, self.label_smoothing = kind, float(ratio), float(alpha), label_smoothing
        # running means of L_h and L_p (loss: normalized), kept on the device; 0 = not started
        self.means = torch.zeros(2, dtype=torch.float32, device=device)

    def __call__(self, labelled_logits: Tensor, labels: Tensor, pseudo_logits: Tensor, targets: Tensor) -> Tensor:
        lab = cross_entropy(labelled_logits, labels, self.label_smoothing)
        smoothing = 0.0 if targets.dtype.is_floating_point else self.label_smoothing  # main.py: soft CE unsmoothed
        pseudo = cross_entropy(pseudo_logits, targets, smoothing)
        if self.kind == "ratio":
            return lab + self.ratio * pseudo
        now = torch.stack([lab.detach(), pseudo.detach()]).float()
        started = self.means.sum() > 0
        self.means = torch.where(started, NORMALIZE_MOMENTUM * self.means + (1 - NORMALIZE_MOMENTUM) * now, now)
        scale = self.means[0] / self.means[1].clamp_min(1e-12)
        return 0.5 * (lab + self.alpha * scale * pseudo)

    def state_dict(self) -> dict[str, Tensor]:
        return {"means": self.means.detach().cpu()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.means = state["means"].to(self.means.device)
