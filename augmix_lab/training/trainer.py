"""One trial end to end: seed, load data, train with checkpoints and resume, then score into a ``Scorecard``.

Recipe (reference google-research/augmix cifar.py unless noted): SGD with Nesterov momentum 0.9, lr 0.1, weight
decay 5e-4 (1e-4 with Mixup, paper Sec. 4.1), batch 128, cosine annealing stepped per iteration from lr to 1e-6
(LambdaLR), one forward over cat(views) so BatchNorm sees the n·B batch, loss = CE(clean) + λ·JSD(all views).
Data stay uint8 on the training device and are batched by index; the augmentation runs on that device too.
On CPU the whole trial is bit-for-bit reproducible for a seed, including across a kill and resume.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from augmix_lab.config import TrialConfig
from augmix_lab.errors import TrialFailed, UserError
from augmix_lab.models import create_model
from augmix_lab.training.adversarial import pgd_attack
from augmix_lab.training.checkpoint import (
    CHECKPOINT_FORMAT,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_atomic,
)
from augmix_lab.training.losses import augmix_loss, split_views

ADVERSARIAL_METHOD = "adversarial"  # trained on PGD examples; its augmentation is "standard" (architecture.md)
COSINE_FINAL_LR = 1e-6  # reference cifar.py: get_lr(step, total, 1, 1e-6 / lr)
STEP_DECAY_FACTOR = 0.1  # reference imagenet.py: lr * 0.1 ** (epoch // (epochs // 3))
EPOCH_TEST_LIMIT = 10_000  # per-epoch test_error uses the first 10k test images (all of CIFAR/shapes; 1/5 of ImageNet val)
EPOCH_TEST_BATCH = 500  # batch for the per-epoch clean test pass


# ---------------------------------------------------------------------------------------------- public types


class TrialCallbacks:
    """Hooks the orchestrator, tracker or CLI attach to a trial; pass functions or subclass and override.

    ``on_epoch_end(epoch, metrics, checkpoint)``: after each trained epoch (1-based), ``checkpoint`` is
    ``workdir/checkpoints/last.pt`` when it was written this epoch, else None. ``on_evaluated(scorecard)``:
    after evaluation. ``on_train_start(start_epoch, epochs, batches_per_epoch)`` and
    ``on_batch_end(epoch, batch, images)``: progress display only.
    """

    def __init__(
        self,
        on_epoch_end: Callable[[int, dict[str, float], Path | None], None] | None = None,
        on_evaluated: Callable[[Any], None] | None = None,
        on_train_start: Callable[[int, int, int], None] | None = None,
        on_batch_end: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self._on_epoch_end, self._on_evaluated = on_epoch_end, on_evaluated
        self._on_train_start, self._on_batch_end = on_train_start, on_batch_end

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        if self._on_epoch_end is not None:
            self._on_epoch_end(epoch, metrics, checkpoint)

    def on_evaluated(self, scorecard: Any) -> None:
        if self._on_evaluated is not None:
            self._on_evaluated(scorecard)

    def on_train_start(self, start_epoch: int, epochs: int, batches_per_epoch: int) -> None:
        if self._on_train_start is not None:
            self._on_train_start(start_epoch, epochs, batches_per_epoch)

    def on_batch_end(self, epoch: int, batch: int, images: int) -> None:
        if self._on_batch_end is not None:
            self._on_batch_end(epoch, batch, images)


@dataclass
class TrialResult:
    scorecard: Any  # augmix_lab.evaluation.Scorecard (None when evaluation was skipped)
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None  # final.pt: weights + config + data version
    resumed_from_epoch: int = 0  # 0 = started fresh


# ---------------------------------------------------------------------------------------------- helpers


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available else CPU; an unavailable CUDA request is a ``UserError``."""
    if name == "auto":
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


def _switch(setting: str, device: torch.device) -> bool:
    return setting == "on" or (setting == "auto" and device.type == "cuda")


def amp_dtype(cfg: TrialConfig, device: torch.device) -> torch.dtype | None:
    """bf16 where the device supports it, else fp16 (with a GradScaler); None when AMP is off."""
    if not _switch(cfg.train.amp, device):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def subset_dataset(ds: Any, train_subset: int | None, test_subset: int | None) -> Any:
    """The first N train/test images (smoke runs); the version string records the cut."""
    if train_subset is None and test_subset is None:
        return ds
    changes: dict[str, Any] = {}
    if train_subset is not None:
        changes.update(train_images=ds.train_images[:train_subset], train_labels=ds.train_labels[:train_subset])
    if test_subset is not None:
        changes.update(test_images=ds.test_images[:test_subset], test_labels=ds.test_labels[:test_subset])
    changes["version"] = f"{ds.version}|train[:{train_subset}]|test[:{test_subset}]"
    return dataclasses.replace(ds, **changes)


def load_trial_dataset(cfg: TrialConfig, data_root: str | Path | None) -> Any:
    from augmix_lab.data import load_dataset

    ds = load_dataset(cfg.dataset.name, root=cfg.dataset.root or data_root, **cfg.dataset.options)
    return subset_dataset(ds, cfg.dataset.train_subset, cfg.dataset.test_subset)


def lr_factor(step: int, *, total_steps: int, steps_per_epoch: int, epochs: int, warmup_steps: int, schedule: str,
              final_ratio: float) -> float:
    """Multiplier of the base lr at iteration ``step`` (0-based): linear warm-up, then cosine or step decay."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "step":
        epoch = step // max(1, steps_per_epoch)
        return STEP_DECAY_FACTOR ** (epoch // max(1, epochs // 3))
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(progress * math.pi))  # reference get_lr


def _batches_per_epoch(n: int, batch_size: int) -> int:
    # Keep the last partial batch like the reference DataLoader, except a lone image (BatchNorm needs 2 in train).
    return n // batch_size + (1 if n % batch_size > 1 else 0)


def _hard_labels(targets: torch.Tensor) -> torch.Tensor:
    return targets if targets.dtype == torch.int64 else targets.argmax(1)


def _as_views(images: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    return images.contiguous(memory_format=memory_format)


@torch.no_grad()
def clean_test_error(model: nn.Module, ds: Any, device: torch.device, limit: int = EPOCH_TEST_LIMIT,
                     memory_format: torch.memory_format = torch.contiguous_format,
                     autocast_dtype: torch.dtype | None = None) -> float:
    """Top-1 error (%) on the first ``limit`` test images, normalised with the one ``augment.normalize``."""
    from augmix_lab.augment import normalize

    model.eval()
    n = min(limit, len(ds.test_labels))
    wrong = 0
    for start in range(0, n, EPOCH_TEST_BATCH):
        end = min(n, start + EPOCH_TEST_BATCH)
        images = torch.as_tensor(ds.test_images[start:end]).to(device, non_blocking=True)
        labels = ds.test_labels[start:end].to(device)
        x = _as_views(normalize(images, ds.mean, ds.std), memory_format)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(x)
        wrong += int((logits.argmax(1) != labels).sum())
    return 100.0 * wrong / max(1, n)


# ---------------------------------------------------------------------------------------------- the trial


def _check_finite(loss: torch.Tensor, epoch: int, batch: int) -> None:
    if not torch.isfinite(loss).item():
        raise TrialFailed(f"non-finite loss ({float(loss.detach())}) at epoch {epoch}, batch {batch}")


def run_trial(
    cfg: TrialConfig,
    workdir: str | Path,
    callbacks: TrialCallbacks | None = None,
    data_root: str | Path | None = None,
) -> TrialResult:
    """Train (resuming from ``workdir/checkpoints/last.pt`` when present), evaluate, return a ``TrialResult``."""
    from augmix_lab.augment import create_augmentation

    callbacks = callbacks or TrialCallbacks()
    workdir = Path(workdir)
    ckpt_dir = workdir / "checkpoints"
    last_path, final_path = ckpt_dir / "last.pt", ckpt_dir / "final.pt"
    device = resolve_device(cfg.device)
    if cfg.train.threads is not None:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.seed)

    ds = load_trial_dataset(cfg, data_root)
    fingerprint = cfg.fingerprint(ds.version)
    adversarial = ADVERSARIAL_METHOD in cfg.method.split("+")
    aug_method = "+".join("standard" if m == ADVERSARIAL_METHOD else m for m in cfg.method.split("+"))
    augmentation = create_augmentation(
        method=aug_method, params=cfg.method_params, augmix=cfg.augmix, jsd_arity=cfg.jsd.arity,
        num_classes=ds.num_classes, mean=ds.mean, std=ds.std, kind=ds.kind, image_size=ds.image_size,
    )
    num_views = int(getattr(augmentation, "num_views", 1))
    if cfg.jsd.arity > 1 and num_views != cfg.jsd.arity:
        raise UserError(f"jsd.arity={cfg.jsd.arity} needs a method that produces views; {cfg.method!r} gives {num_views}")

    model = create_model(cfg.model, ds.num_classes)
    # auto: channels_last everywhere (measured ~1.7x faster small_cnn steps on CPU too, benchmarks/train_step.py)
    memory_format = torch.channels_last if cfg.train.channels_last != "off" else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    autocast_dtype = amp_dtype(cfg, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)

    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum, nesterov=cfg.train.nesterov,
        weight_decay=cfg.effective_weight_decay(),
    )
    n_train = len(ds.train_labels)
    steps_per_epoch = _batches_per_epoch(n_train, cfg.train.batch_size)
    total_steps = max(1, cfg.epochs * steps_per_epoch)
    warmup_steps = int(round(cfg.train.warmup_epochs * steps_per_epoch))
    schedule = dict(total_steps=total_steps, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs,
                    warmup_steps=warmup_steps, schedule=cfg.train.schedule, final_ratio=COSINE_FINAL_LR / cfg.train.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, **schedule))

    # Separate streams so that, e.g., a change of augmentation never changes the batch order.
    generators = {
        "shuffle": torch.Generator(device=device).manual_seed(cfg.seed * 1000 + 1),
        "augment": torch.Generator(device=device).manual_seed(cfg.seed * 1000 + 2),
        "attack": torch.Generator(device=device).manual_seed(cfg.seed * 1000 + 3),
    }

    start_epoch, history = 0, []
    if last_path.is_file():
        state = load_checkpoint(last_path)
        if state.get("fingerprint") != fingerprint:
            raise UserError(
                f"{last_path} belongs to another trial (fingerprint {state.get('fingerprint')}, expected {fingerprint});"
                " use a fresh work directory"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"], generators)
        start_epoch, history = int(state["epoch"]), list(state["history"])

    train_images = ds.train_images.to(device) if isinstance(ds.train_images, torch.Tensor) else ds.train_images
    train_labels = ds.train_labels.to(device)
    callbacks.on_train_start(start_epoch, cfg.epochs, steps_per_epoch)

    from augmix_lab.data import iterate_batches

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        wrong = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        batches = iterate_batches(train_images, train_labels, cfg.train.batch_size, shuffle=True,
                                  generator=generators["shuffle"], drop_last=False)
        for batch_idx, (images, labels) in enumerate(batches, start=1):
            if batch_idx > steps_per_epoch:
                break  # the lone trailing image (see _batches_per_epoch)
            images = torch.as_tensor(images).to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            out = augmentation(images, labels, generators["augment"])
            views, targets = list(out.views), out.targets
            if adversarial:
                mean_t = torch.tensor(ds.mean, device=device).view(1, -1, 1, 1)
                std_t = torch.tensor(ds.std, device=device).view(1, -1, 1, 1)
                images01 = views[0] * std_t + mean_t  # attack in [0,1] pixel space
                adv = pgd_attack(model, images01, targets, mean=ds.mean, std=ds.std,
                                 epsilon=cfg.adversarial.epsilon, step_size=cfg.adversarial.step_size,
                                 iterations=cfg.adversarial.iterations, generator=generators["attack"],
                                 autocast_dtype=autocast_dtype)
                views[0] = (adv - mean_t) / std_t
            inputs = _as_views(torch.cat(views) if len(views) > 1 else views[0], memory_format)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits = model(inputs)
            logits_views = split_views(logits.float(), len(views))
            loss = augmix_loss(logits_views, targets, cfg.jsd.weight if len(views) > 1 else 0.0,
                               label_smoothing=cfg.train.label_smoothing)
            _check_finite(loss, epoch, batch_idx)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            batch_n = labels.shape[0]
            loss_sum += loss.detach().double() * batch_n
            wrong += (logits_views[0].detach().argmax(1) != _hard_labels(targets)).sum()
            seen += batch_n
            callbacks.on_batch_end(epoch, batch_idx, batch_n)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - t0
        test_error = clean_test_error(model, ds, device, memory_format=memory_format, autocast_dtype=autocast_dtype)
        metrics = {
            "train_loss": float(loss_sum) / max(1, seen),
            "train_error": 100.0 * float(wrong) / max(1, seen),
            "test_error": test_error,
            "lr": float(scheduler.get_last_lr()[0]),  # the rate for the next step (last one of this epoch ≈ this)
            "epoch_time_s": time.perf_counter() - t0,
            "images_per_s": seen / max(train_time, 1e-9),
        }
        history.append({"epoch": epoch, **metrics})
        written: Path | None = None
        if epoch % cfg.train.checkpoint_every == 0 or epoch == cfg.epochs:
            written = save_atomic(
                {
                    "format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "epoch": epoch,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                    "rng": capture_rng_state(generators), "history": history,
                },
                last_path,
            )
        callbacks.on_epoch_end(epoch, metrics, written)

    final = save_atomic(
        {
            "format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "epoch": cfg.epochs,
            "model": model.state_dict(), "config": cfg.model_dump(mode="json"), "data_version": ds.version,
            "num_classes": ds.num_classes,
        },
        final_path,
    )
    scorecard = _evaluate(model, ds, cfg, device, data_root)
    callbacks.on_evaluated(scorecard)
    return TrialResult(scorecard=scorecard, history=history, checkpoint=final, resumed_from_epoch=start_epoch)


def _evaluate(model: nn.Module, ds: Any, cfg: TrialConfig, device: torch.device, data_root: str | Path | None) -> Any:
    from augmix_lab.evaluation import evaluate_model

    model.eval()
    return evaluate_model(model, ds, cfg.eval, device=device, data_root=cfg.dataset.root or data_root)


def evaluate_checkpoint(cfg: TrialConfig, checkpoint_path: str | Path, data_root: str | Path | None = None) -> Any:
    """Re-score a stored ``final.pt`` with ``cfg.eval`` without training (train once, evaluate many)."""
    state = load_checkpoint(Path(checkpoint_path))
    if "config" not in state:
        raise UserError(f"{checkpoint_path}: a resumable last.pt, not a final checkpoint; use checkpoints/final.pt")
    device = resolve_device(cfg.device)
    if cfg.train.threads is not None:
        torch.set_num_threads(cfg.train.threads)
    ds = load_trial_dataset(cfg, data_root)
    if state["data_version"] != ds.version:
        raise UserError(
            f"{checkpoint_path} was trained on data version {state['data_version']!r}, but the dataset now is "
            f"{ds.version!r}; retrain or point --data-root at the original data"
        )
    if state["fingerprint"] != cfg.fingerprint(ds.version):
        raise UserError(f"{checkpoint_path} was trained with a different training config than the one given")
    model = create_model(cfg.model, ds.num_classes)
    model.load_state_dict(state["model"])
    model = model.to(device)
    return _evaluate(model, ds, cfg, device, data_root)
