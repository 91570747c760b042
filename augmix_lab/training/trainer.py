"""One trial end to end: seed, load data, train with checkpoints and resume, then score into a ``Scorecard``.

Recipe (reference google-research/augmix cifar.py unless noted): SGD with Nesterov momentum 0.9, lr 0.1, weight
decay 5e-4 (1e-4 with Mixup, paper Sec. 4.1), batch 128, cosine annealing stepped per iteration from lr to 1e-6
(LambdaLR), one forward over cat(views) so BatchNorm sees the n·B batch, loss = CE(clean) + λ·JSD(all views).
Data stay uint8 on the training device and are batched by index; the augmentation runs on that device too.
On CPU the whole trial is bit-for-bit reproducible for a seed, including across a kill and resume.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from augmix_lab.config import TrialConfig
from augmix_lab.data.trial import load_trial_data, load_trial_split  # noqa: F401 - load_trial_split re-exported
from augmix_lab.device import resolve_device
from augmix_lab.errors import TrialFailed, UserError
from augmix_lab.evaluation.registry import (
    EPOCH_TIME_S,
    IMAGES_PER_S,
    LABELLED_FRACTION,
    LR,
    TEST_ERROR,
    TRAIN_DEVICE_S,
    TRAIN_ERROR,
    TRAIN_IMAGES_PER_S,
    TRAIN_LOSS,
)
from augmix_lab.models import create_model
from augmix_lab.models.timm_models import input_convention, pretrained_classes, resize_inputs
from augmix_lab.training.checkpoint import (
    CHECKPOINT_FORMAT,
    Fetch,
    capture_rng_state,
    checkpoint_paths,
    choose_resume,
    final_model,
    load_final,
    restore_rng_state,
    save_atomic,
)
from augmix_lab.training.init import load_init_weights
from augmix_lab.training.self_training import IndexStream, PseudoLabelSet, add_head_dropout, load_student_set
from augmix_lab.training.step import (
    PoolBatch,
    TrainStep,
    build_train_step,
    memory_format_for,
    trial_generators,
    trial_optimizer,
)
from augmix_lab.training.step import amp_dtype as _amp_dtype

COSINE_FINAL_LR = 1e-6  # reference cifar.py: get_lr(step, total, 1, 1e-6 / lr)
STEP_DECAY_FACTOR = 0.1  # reference imagenet.py: lr * 0.1 ** (epoch // (epochs // 3))
EPOCH_TEST_LIMIT = (
    10_000  # per-epoch test_error uses the first 10k test images (all of CIFAR/shapes; 1/5 of ImageNet val)
)
EPOCH_TEST_BATCH = 500  # batch for the per-epoch clean test pass
FINITE_CHECK_EVERY = 50  # steps between host reads of the device-side non-finite-loss flag (and at epoch end)


# ---------------------------------------------------------------------------------------------- public types


class TrialCallbacks:
    """Hooks the orchestrator, tracker or CLI attach to a trial; pass functions or subclass and override.

    ``on_epoch_metrics(epoch, metrics)``: after each trained epoch (1-based), BEFORE the checkpoint that lets a
    resume skip it is written - the place to log the epoch, so no crash or take-over between the two can lose it.
    ``on_epoch_end(epoch, metrics, checkpoint)``: then, ``checkpoint`` is ``workdir/checkpoints/last.pt`` when it
    was written this epoch, else None. ``on_resume(start_epoch, history, note)``: after restoring, with the restored
    epochs' metrics and a warning when an unreadable checkpoint was skipped (else None). ``on_evaluated(scorecard)``:
    after evaluation. ``on_train_start(start_epoch, epochs, batches_per_epoch)`` and
    ``on_batch_end(epoch, batch, images)``: progress display only.
    """

    def __init__(
        self,
        on_epoch_end: Callable[[int, dict[str, float], Path | None], None] | None = None,
        on_evaluated: Callable[[Any], None] | None = None,
        on_train_start: Callable[[int, int, int], None] | None = None,
        on_batch_end: Callable[[int, int, int], None] | None = None,
        on_epoch_metrics: Callable[[int, dict[str, float]], None] | None = None,
        on_resume: Callable[[int, list[dict[str, float]], str | None], None] | None = None,
    ) -> None:
        self._on_epoch_end, self._on_evaluated = on_epoch_end, on_evaluated
        self._on_train_start, self._on_batch_end = on_train_start, on_batch_end
        self._on_epoch_metrics, self._on_resume = on_epoch_metrics, on_resume

    def on_epoch_metrics(self, epoch: int, metrics: dict[str, float]) -> None:
        if self._on_epoch_metrics is not None:
            self._on_epoch_metrics(epoch, metrics)

    def on_resume(self, start_epoch: int, history: list[dict[str, float]], note: str | None) -> None:
        if self._on_resume is not None:
            self._on_resume(start_epoch, history, note)

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


def amp_dtype(cfg: TrialConfig, device: torch.device) -> torch.dtype | None:
    """bf16 where the device supports it, else fp16 (with a GradScaler); None when AMP is off."""
    return _amp_dtype(cfg.train.amp, device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def trial_model(cfg: TrialConfig, num_classes: int, weights: bool = True) -> nn.Module:
    """The trial's model: a registered one or ``timm:<arch>`` (its local ``pretrained`` weights when ``weights``), its
    ``norm`` (bn | dubin), every input resized to ``cfg.resize`` when set (the pretrained config's interpolation)."""
    model = create_model(
        cfg.model, num_classes, pretrained=cfg.pretrained if weights else None, norm=getattr(cfg, "norm", "bn")
    )  # AugMax's norm: dubin
    if cfg.resize is not None:
        convention = input_convention(cfg.model, cfg.pretrained) or {}
        resize_inputs(model, cfg.resize, convention.get("interpolation", "bilinear"))
    return model


def _check_evaluated_weights(cfg: TrialConfig, num_classes: int) -> None:
    """An evaluate-only trial's pretrained weights must classify the dataset's classes (a fresh head would be
    scored)."""
    if not (cfg.evaluate_only and cfg.pretrained is not None):
        return
    classes = pretrained_classes(cfg.model, cfg.pretrained)
    if classes is not None and classes != num_classes:
        raise UserError(
            f"field 'pretrained': {cfg.pretrained} classifies {classes} classes, dataset "
            f"{cfg.dataset.name!r} has {num_classes}; an evaluate-only trial (epochs: 0) needs "
            "weights for the dataset's classes (train with epochs >= 1 to fine-tune)"
        )


def lr_factor(
    step: int,
    *,
    total_steps: int,
    steps_per_epoch: int,
    epochs: int,
    warmup_steps: int,
    schedule: str,
    final_ratio: float,
) -> float:
    """Multiplier of the base lr at iteration ``step`` (0-based): linear warm-up, then cosine or step decay."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "step":
        epoch = step // max(1, steps_per_epoch)
        return STEP_DECAY_FACTOR ** (epoch // max(1, epochs // 3))
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(progress * math.pi))  # reference get_lr


def training_totals(history: list[dict[str, float]], train_time: float, seen: int) -> tuple[float, float]:
    """(device seconds, images) of training up to this epoch: the previous epoch's running totals plus this one."""
    last = history[-1] if history else {}
    spent = float(last.get(TRAIN_DEVICE_S, 0.0))
    images = spent * float(last.get(TRAIN_IMAGES_PER_S, 0.0))
    return spent + train_time, images + seen


def _batches_per_epoch(n: int, batch_size: int) -> int:
    # Keep the last partial batch like the reference DataLoader, except a lone image (BatchNorm needs 2 in train).
    return n // batch_size + (1 if n % batch_size > 1 else 0)


def _hard_labels(targets: torch.Tensor) -> torch.Tensor:
    return targets if targets.dtype == torch.int64 else targets.argmax(1)


def trial_scorer(
    model: nn.Module,
    ds: Any,
    cfg: TrialConfig,
    device: torch.device,
    *,
    batch_size: int | None = None,
    memory_format: torch.memory_format = torch.channels_last,
) -> Any:
    """The trial's ``evaluation.Scorer``: its dataset's normalisation, the precision it trained in (its AMP dtype;
    ``amp: off``: float32), ``eval.batch_size`` unless given."""
    from augmix_lab.evaluation.scoring import Scorer

    return Scorer(
        model,
        ds.mean,
        ds.std,
        device,
        autocast_dtype=amp_dtype(cfg, device),
        batch_size=batch_size or cfg.eval.batch_size,
        memory_format=memory_format,
    )


# ---------------------------------------------------------------------------------------------- the trial


class NonFiniteGuard:
    """The first non-finite loss of a run, tracked on the device (no host sync per step); ``check`` reads it."""

    def __init__(self, device: torch.device) -> None:
        self.batch = torch.zeros((), dtype=torch.int64, device=device)  # 0 = every loss so far was finite
        self.loss = torch.zeros((), dtype=torch.float32, device=device)

    def update(self, loss: torch.Tensor, batch: int) -> None:
        first = ~torch.isfinite(loss) & (self.batch == 0)
        self.batch = torch.where(first, batch, self.batch)
        self.loss = torch.where(first, loss.float(), self.loss)

    def check(self, epoch: int) -> None:
        batch = int(self.batch)  # the one host read, every FINITE_CHECK_EVERY steps and at epoch end
        if batch:
            raise TrialFailed(f"non-finite loss ({float(self.loss)}) at epoch {epoch}, batch {batch}")


class Trainer:
    """One trial in small steps: ``build()``, ``restore()``, ``train_epoch(e)``, ``save_last(e)``, ``save_final()``,
    ``evaluate()``; ``run()`` chains them (resume from ``last.pt``, train, checkpoint, evaluate)."""

    def __init__(
        self,
        cfg: TrialConfig,
        workdir: str | Path,
        callbacks: TrialCallbacks | None = None,
        data_root: str | Path | None = None,
        check_every: int = FINITE_CHECK_EVERY,
        resume_sources: Sequence[tuple[str, Fetch]] = (),
    ) -> None:
        self.cfg, self.workdir, self.data_root = cfg, Path(workdir), data_root
        self.resume_sources = tuple(resume_sources)  # copies to fall back on beyond last.pt's previous one
        self.resume_note: str | None = None
        self.callbacks = callbacks or TrialCallbacks()
        self.check_every = max(1, int(check_every))
        self.last_path, self.final_path = checkpoint_paths(self.workdir)
        self.history: list[dict[str, float]] = []
        self.start_epoch = 0

    # -- build -----------------------------------------------------------------------------------------------

    def build(self) -> Trainer:
        """Device, seed, data, model, optimizer, per-iteration schedule, RNG streams and the shared step."""
        cfg = self.cfg
        self.device = device = resolve_device(cfg.device)
        if cfg.train.threads is not None:
            torch.set_num_threads(cfg.train.threads)
        seed_everything(cfg.seed)
        data = load_trial_data(cfg, self.data_root)
        self.ds = ds = data.dataset  # with dataset.labelled: the labelled part; the pool comes without labels
        self.pool = data.pool
        self.fingerprint = cfg.fingerprint(ds.version)
        self.memory_format = memory_format_for(cfg.train.channels_last)
        _check_evaluated_weights(cfg, ds.num_classes)
        model = trial_model(cfg, ds.num_classes).to(device=device, memory_format=self.memory_format)
        self.model = model
        load_init_weights(model, cfg.init, cfg.model)  # two-stage: parent's weights, fresh optimizer (training/init.py)
        if cfg.teacher.is_set() and cfg.teacher.dropout:
            add_head_dropout(model, cfg.teacher.dropout)  # a noised student (Noisy Student); no weights added
        optimizer = trial_optimizer(cfg, model)
        self.steps_per_epoch = _batches_per_epoch(len(ds.train_labels), cfg.train.batch_size)
        scheduler = self._scheduler(optimizer)
        self.generators = trial_generators(cfg, device)  # separate streams (training.step)
        if cfg.dataset.labelled is not None:  # the pool's order (only trials with a pool: older checkpoints load)
            self.generators["pool"] = torch.Generator(device=device).manual_seed(cfg.seed * 1000 + 4)
        self.loader = self._imagenet_loader(ds, device)
        self.step: TrainStep = build_train_step(
            cfg,
            model,
            num_classes=ds.num_classes,
            mean=ds.mean,
            std=ds.std,
            kind=ds.kind,
            image_size=ds.image_size,
            device=device,
            generators=self.generators,
            optimizer=optimizer,
            scheduler=scheduler,
            crop_flip=self.loader is None,
        )
        self.autocast_dtype = self.step.autocast_dtype
        # the per-epoch test scores the model in the layout it trains in (scoring never changes it)
        self.scorer = trial_scorer(
            model, ds, cfg, device, batch_size=EPOCH_TEST_BATCH, memory_format=self.memory_format
        )
        self.train_images = ds.train_images.to(device) if isinstance(ds.train_images, torch.Tensor) else ds.train_images
        self.train_labels = ds.train_labels.to(device)
        self._build_pool()
        return self

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        """The per-iteration schedule: linear warm-up, then cosine or step decay (``lr_factor``)."""
        cfg = self.cfg
        schedule: dict[str, Any] = dict(
            total_steps=max(1, cfg.epochs * self.steps_per_epoch),
            steps_per_epoch=self.steps_per_epoch,
            epochs=cfg.epochs,
            warmup_steps=int(round(cfg.train.warmup_epochs * self.steps_per_epoch)),
            schedule=cfg.train.schedule,
            final_ratio=COSINE_FINAL_LR / cfg.train.lr,
        )
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, **schedule))

    def _build_pool(self) -> None:
        """The unlabelled pool's streams: the teacher's pseudo-labels (a self-training student) and/or the plain pool
        images of hooks that label online (FixMatch). Neither ever sees the pool's labels: the pool has none."""
        cfg, device = self.cfg, self.device
        self.pseudo: PseudoLabelSet | None = None
        self.pool_hooks = [h for h in self.step.hooks if h.needs_pool]
        self.trial_metrics: dict[str, float] = {}
        if self.pool is not None:
            total = len(self.ds.train_labels) + len(self.pool)
            self.trial_metrics[LABELLED_FRACTION] = len(self.ds.train_labels) / max(1, total)
        if not cfg.teacher.is_set() and not self.pool_hooks:
            self.streams: dict[str, IndexStream] = {}
            return
        if self.pool is None or len(self.pool) == 0:
            raise UserError(
                "field 'dataset.labelled': a self-training student or FixMatch needs an unlabelled pool "
                "(dataset.labelled keeping fewer than all training images)"
            )
        if not isinstance(self.pool.images, torch.Tensor):
            raise UserError(
                f"dataset {cfg.dataset.name!r}: self-training and FixMatch need in-memory images "
                "(a cifar-kind dataset), not a lazy image folder"
            )
        self.pool_images = self.pool.images.to(device)
        self.streams = {}
        if cfg.teacher.is_set():
            self.pseudo = load_student_set(cfg, self.pool)
            self.pseudo_indices = self.pseudo.indices.to(device)
            self.pseudo_targets = self.pseudo.targets.to(device)
            self.streams["pseudo"] = IndexStream(len(self.pseudo.indices), self.generators["pool"], device)
            self.trial_metrics.update(self.pseudo.stats())
        if self.pool_hooks:
            self.streams["pool"] = IndexStream(len(self.pool), self.generators["pool"], device)

    def _pool_batch(self, labelled: int) -> PoolBatch | None:
        """The pool's share of a step with ``labelled`` labelled images (Noisy Student: ratio × B pseudo-labelled;
        FixMatch: μ × B unlabelled)."""
        if not self.streams:
            return None
        batch = PoolBatch()
        if "pseudo" in self.streams:
            pick = self.streams["pseudo"].take(max(1, round(self.cfg.teacher.ratio * labelled)))
            batch.pseudo_images = self.pool_images[self.pseudo_indices[pick]]
            batch.targets = self.pseudo_targets[pick]
        if "pool" in self.streams:
            want = max(h.pool_batch(labelled) for h in self.pool_hooks)
            batch.images = self.pool_images[self.streams["pool"].take(want)]
        return batch

    def _imagenet_loader(self, ds: Any, device: torch.device) -> Any:
        """An ``ImageNetLoader`` (parallel decode, RRC + flip on the device) for a lazy ImageNet folder, else None.

        The method ``none`` (no crop/flip at all) keeps the plain index batches.
        """
        from augmix_lab.data.imagenet import ImageNetLoader, LazyImageFolder
        from augmix_lab.training.spec import MethodSpec

        if ds.kind != "imagenet" or not isinstance(ds.train_images, LazyImageFolder):
            return None
        if "none" in MethodSpec.parse(self.cfg.method).parts:
            return None
        return ImageNetLoader(
            ds.train_images,
            self.cfg.train.batch_size,
            device=device,
            size=ds.image_size,
            augment_generator=self.generators["augment"],
            shuffle_generator=self.generators["shuffle"],
            decode="auto",
        )

    # -- save / restore --------------------------------------------------------------------------------------

    def restore(self) -> int:
        """Resume from ``last.pt`` (refusing another trial's), or when it cannot be read from the newest readable
        copy (its previous one, then ``resume_sources``) with a warning in ``resume_note``, or from scratch when none
        can be read (saying so); returns the last finished epoch."""
        point = choose_resume(self.last_path, self.fingerprint, self.resume_sources)
        self.resume_note = point.note()
        state = point.state
        if state is None:
            return self.start_epoch
        step = self.step
        assert step.scaler is not None  # set by the step's __post_init__
        self.model.load_state_dict(state["model"])
        step.optimizer.load_state_dict(state["optimizer"])
        step.scheduler.load_state_dict(state["scheduler"])
        step.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"], self.generators)
        for name, stream in self.streams.items():
            stream.load_state_dict(state["streams"][name])
        if step.student_loss is not None:
            step.student_loss.load_state_dict(state["student_loss"])
        self.start_epoch, self.history = int(state["epoch"]), list(state["history"])
        return self.start_epoch

    def save_last(self, epoch: int) -> Path:
        step = self.step
        assert step.scaler is not None  # set by the step's __post_init__
        return save_atomic(  # the previous one stays beside it: the fallback if this one is ever unreadable
            {
                "format": CHECKPOINT_FORMAT,
                "fingerprint": self.fingerprint,
                "epoch": epoch,
                "model": self.model.state_dict(),
                "optimizer": step.optimizer.state_dict(),
                "scheduler": step.scheduler.state_dict(),
                "scaler": step.scaler.state_dict(),
                "rng": capture_rng_state(self.generators),
                "history": self.history,
                **({"streams": {name: st.state_dict() for name, st in self.streams.items()}} if self.streams else {}),
                **({"student_loss": step.student_loss.state_dict()} if step.student_loss is not None else {}),
            },
            self.last_path,
            keep_previous=True,
            copies=3,  # last, its previous copy, and final.pt's room
        )

    def save_final(self) -> Path:
        return save_atomic(
            {
                "format": CHECKPOINT_FORMAT,
                "fingerprint": self.fingerprint,
                "epoch": self.cfg.epochs,
                "model": self.model.state_dict(),
                "config": self.cfg.model_dump(mode="json"),
                "data_version": self.ds.version,
                "num_classes": self.ds.num_classes,
            },
            self.final_path,
        )

    # -- train -----------------------------------------------------------------------------------------------

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the shuffled training set; the host reads device values only every ``check_every`` steps."""
        from augmix_lab.data import iterate_batches

        cfg, device, step = self.cfg, self.device, self.step
        self.model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        wrong = torch.zeros((), device=device, dtype=torch.int64)
        guard = NonFiniteGuard(device)
        extras: dict[str, torch.Tensor] = {}
        seen = 0
        batches = (
            iter(self.loader)
            if self.loader is not None
            else iterate_batches(
                self.train_images,
                self.train_labels,
                cfg.train.batch_size,
                shuffle=True,
                generator=self.generators["shuffle"],
                drop_last=False,
            )
        )
        for batch_idx, (images, labels) in enumerate(batches, start=1):
            if batch_idx > self.steps_per_epoch:
                break  # the lone trailing image (see _batches_per_epoch)
            images = torch.as_tensor(images).to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            out = step(images, labels, self._pool_batch(labels.shape[0]))
            guard.update(out.loss, batch_idx)
            for name, value in out.extras.items():
                extras[name] = extras[name] + value.double() if name in extras else value.double()
            batch_n = labels.shape[0]
            loss_sum += out.loss.double() * batch_n
            wrong += (out.logits.argmax(1) != _hard_labels(out.targets)).sum()
            seen += batch_n
            if batch_idx % self.check_every == 0:
                guard.check(epoch)
            self.callbacks.on_batch_end(epoch, batch_idx, batch_n)
        guard.check(epoch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - t0
        test_error = self.test_error()
        spent, images = training_totals(self.history, train_time, seen)
        return {  # the registered history metrics (evaluation/registry.py)
            TRAIN_LOSS: float(loss_sum) / max(1, seen),
            TRAIN_ERROR: 100.0 * float(wrong) / max(1, seen),
            TEST_ERROR: test_error,
            LR: float(step.scheduler.get_last_lr()[0]),  # the rate for the next step (last one of this epoch ≈ this)
            EPOCH_TIME_S: time.perf_counter() - t0,
            IMAGES_PER_S: seen / max(train_time, 1e-9),
            **{name: float(total) / max(1, batch_idx) for name, total in extras.items()},  # e.g. FixMatch's mask
            TRAIN_DEVICE_S: spent,  # the training cost so far (a resumed trial counts its earlier epochs)
            TRAIN_IMAGES_PER_S: images / max(spent, 1e-9),
        }

    def test_error(self) -> float:
        """Top-1 error (%) on the first ``EPOCH_TEST_LIMIT`` test images (a lazy ImageNet folder: its eval view)."""
        self.model.eval()
        n = min(EPOCH_TEST_LIMIT, len(self.ds.test_labels))
        return 100.0 * (n - self.scorer.correct(self.ds.test_images, self.ds.test_labels, stop=n)) / max(1, n)

    def train(self) -> None:
        """Every epoch after the restored one: train, record, checkpoint every ``checkpoint_every`` and at the end."""
        cfg = self.cfg
        self.callbacks.on_train_start(self.start_epoch, cfg.epochs, self.steps_per_epoch)
        for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
            metrics = self.train_epoch(epoch)
            self.history.append({"epoch": epoch, **metrics})
            self.callbacks.on_epoch_metrics(epoch, metrics)  # logged before the checkpoint that lets a resume skip it
            written: Path | None = None
            if epoch % cfg.train.checkpoint_every == 0 or epoch == cfg.epochs:
                written = self.save_last(epoch)
            self.callbacks.on_epoch_end(epoch, metrics, written)

    # -- evaluate --------------------------------------------------------------------------------------------

    def evaluate(self) -> Any:
        scorecard = _evaluate(self.model, self.ds, self.cfg, self.device, self.data_root)
        scorecard.summary.update(self.trial_metrics)  # the labelled split and pseudo-labels (kind="trial" metrics)
        self.callbacks.on_evaluated(scorecard)
        return scorecard

    def run(self) -> TrialResult:
        self.build()
        self.restore()
        resumed_from = self.start_epoch
        if resumed_from or self.resume_note:
            self.callbacks.on_resume(resumed_from, list(self.history), self.resume_note)
        self.train()
        final = self.save_final()
        scorecard = self.evaluate()
        return TrialResult(scorecard=scorecard, history=self.history, checkpoint=final, resumed_from_epoch=resumed_from)


def run_trial(
    cfg: TrialConfig,
    workdir: str | Path,
    callbacks: TrialCallbacks | None = None,
    data_root: str | Path | None = None,
    resume_sources: Sequence[tuple[str, Fetch]] = (),
) -> TrialResult:
    """Train (resuming from ``workdir/checkpoints/last.pt`` when present, else from the newest readable copy among
    its previous one and ``resume_sources``), evaluate, return a ``TrialResult``."""
    return Trainer(cfg, workdir, callbacks=callbacks, data_root=data_root, resume_sources=resume_sources).run()


def _evaluate(model: nn.Module, ds: Any, cfg: TrialConfig, device: torch.device, data_root: str | Path | None) -> Any:
    from augmix_lab.evaluation import evaluate_model

    model.eval()
    return evaluate_model(
        model,
        ds,
        cfg.eval,
        device=device,
        data_root=cfg.dataset.root or data_root,
        autocast_dtype=amp_dtype(cfg, device),
    )  # the precision it trained in; amp off: float32


def evaluate_checkpoint(cfg: TrialConfig, checkpoint_path: str | Path, data_root: str | Path | None = None) -> Any:
    """Re-score a stored ``final.pt`` with ``cfg.eval`` without training (train once, evaluate many)."""
    state = load_final(checkpoint_path)
    device = resolve_device(cfg.device)
    if cfg.train.threads is not None:
        torch.set_num_threads(cfg.train.threads)
    ds = load_trial_data(cfg, data_root).dataset
    if state["data_version"] != ds.version:
        raise UserError(
            f"{checkpoint_path} was trained on data version {state['data_version']!r}, but the dataset now is "
            f"{ds.version!r}; retrain or point --data-root at the original data"
        )
    if state["fingerprint"] != cfg.fingerprint(ds.version):
        raise UserError(f"{checkpoint_path} was trained with a different training config than the one given")
    return _evaluate(final_model(state, ds.num_classes, device), ds, cfg, device, data_root)


def checkpoint_predictor(
    path: Path | str, dataset: Any, device: str = "cpu", batch_size: int = 200
) -> Callable[[np.ndarray], np.ndarray]:
    """NHWC uint8 -> class ids with the model of a trial's ``final.pt`` (weights_only load), scored as its trial
    scores it (``evaluation.Scorer``: the same normalisation, the AMP dtype it trained in)."""
    from augmix_lab.evaluation.scoring import Scorer

    state = load_final(path)
    if int(state["num_classes"]) != dataset.num_classes:
        raise UserError(
            f"{path}: a {state['num_classes']}-class model, but {dataset.name} has {dataset.num_classes} classes"
        )
    dev = resolve_device(device)
    amp = _amp_dtype(str(state["config"].get("train", {}).get("amp", "off")), dev)
    return Scorer(
        final_model(state, dataset.num_classes, dev),
        dataset.mean,
        dataset.std,
        dev,
        autocast_dtype=amp,
        batch_size=batch_size,
    ).predict
