"""The one training step, shared by the trainer, ``plan``'s cost estimate and ``benchmarks/train_step.py``.

augment (on the device) → training hooks (e.g. PGD) → one forward over cat(views) so BatchNorm sees the n·B batch
(reference cifar.py) → CE + λ·JSD → backward → optimizer, scaler and per-iteration scheduler step. The step never
reads a device value on the host: it returns device tensors, and the caller decides when to look (airbench style).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from augmix_lab.augment.base import Context, split_method
from augmix_lab.device import switch
from augmix_lab.training.hooks import TRAINING_HOOKS, TrainingHook
from augmix_lab.training.losses import augmix_loss, jsd_consistency, split_views
from augmix_lab.training.spec import MethodSpec


@dataclass
class StepOutput:
    """Device tensors of one step: ``loss`` (0-dim, detached), the labelled images' clean-view ``logits`` (detached)
    and ``targets``; ``extras``: per-step values of registered history metrics (0-dim), averaged over the epoch."""

    loss: Tensor
    logits: Tensor
    targets: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class PoolBatch:
    """What a step takes from the unlabelled pool, never its labels: pseudo-labelled images with the teacher's
    ``targets`` (self-training students) and/or plain ``images`` for hooks that label online (FixMatch)."""

    pseudo_images: Tensor | None = None
    targets: Tensor | None = None
    images: Tensor | None = None


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """bf16 where the device supports it, else fp16 (with a GradScaler); None when AMP is off (``auto``: CUDA only)."""
    if not switch(setting, device):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def memory_format_for(setting: str) -> torch.memory_format:
    # auto: channels_last everywhere (measured ~1.7x faster small_cnn steps on CPU too, benchmarks/train_step.py)
    return torch.channels_last if setting != "off" else torch.contiguous_format


@dataclass
class TrainStep:
    """``step(images_uint8, labels) -> StepOutput``: one SGD step of ``model`` on an augmented batch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    augmentation: Callable[..., Any]
    generators: dict[str, torch.Generator]
    hooks: Sequence[TrainingHook] = ()
    jsd_weight: float = 12.0  # reference cifar.py: loss += 12 * JSD
    label_smoothing: float = 0.0
    memory_format: torch.memory_format = torch.contiguous_format
    autocast_dtype: torch.dtype | None = None
    scheduler: Any = None  # stepped per iteration (reference cifar.py LambdaLR)
    compile: bool = False  # torch.compile of model forward + loss
    compile_backend: Any = None  # torch.compile's backend (None: inductor; the CPU quick paths use "eager")
    scaler: torch.amp.GradScaler | None = None
    student_loss: Any = None  # training.self_training.StudentLoss: a self-training student's labelled + pseudo loss
    _forward_loss: Callable[..., tuple[Tensor, Tensor, dict[str, Tensor]]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        device_type = next(self.model.parameters()).device.type
        if self.scaler is None:
            self.scaler = torch.amp.GradScaler(device_type, enabled=self.autocast_dtype == torch.float16)
        self._device_type = device_type
        if self.compile:
            # dynamo keeps its compiled variants on forward_loss's code object for the life of the process: on a
            # reused Ray worker the 9th variant (recompile_limit 8) would run eager with only a log line. One step
            # per trial, so a fresh cache per trial (the inductor kernel cache on disk stays warm)
            torch.compiler.reset()
            self._forward_loss = torch.compile(self.forward_loss, backend=self.compile_backend or "inductor")
        else:
            self._forward_loss = self.forward_loss

    def forward_loss(
        self,
        inputs: Tensor,
        targets: Tensor,
        num_views: int,
        labelled: int | None = None,
        pseudo_targets: Tensor | None = None,
        extra_sizes: Sequence[int] = (),
        extra_counts: Sequence[int] = (),
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """(loss, clean-view logits, extras) of one forward over all views, then the hooks' extra views
        (``extra_sizes``: images per extra view; ``extra_counts``: extra views per hook, in hook order).

        With ``pseudo_targets`` the views hold ``labelled`` labelled images, then the pseudo-labelled ones: their
        cross-entropies combine by ``student_loss``; the JSD term spans every image of the batch."""
        with torch.autocast(self._device_type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            logits = self.model(inputs)
        logits = logits.float()
        extra = (
            list(torch.split(logits[logits.shape[0] - sum(extra_sizes) :], list(extra_sizes))) if extra_sizes else []
        )
        logits_views = split_views(logits[: logits.shape[0] - sum(extra_sizes)], num_views)
        weight = self.jsd_weight if num_views > 1 else 0.0
        if pseudo_targets is None:
            loss = augmix_loss(logits_views, targets, weight, label_smoothing=self.label_smoothing)
        else:
            clean = logits_views[0]
            loss = self.student_loss(clean[:labelled], targets[:labelled], clean[labelled:], pseudo_targets)
            loss = loss + weight * jsd_consistency(logits_views) if weight > 0 else loss
        extras: dict[str, Tensor] = {}
        at = 0
        for hook, count in zip(self.hooks, extra_counts):
            if count:
                hook_loss, values = hook.extra_loss(extra[at : at + count])
                loss, at = loss + hook_loss, at + count
                extras.update(values)
        return loss, logits_views[0], extras

    def __call__(self, images: Tensor, labels: Tensor, pool: PoolBatch | None = None) -> StepOutput:
        labelled = images.shape[0]
        pseudo_targets = pool.targets if pool is not None and pool.pseudo_images is not None else None
        if pseudo_targets is not None:  # one augmentation call over labelled + pseudo-labelled images (batched)
            hard = pseudo_targets.argmax(1) if pseudo_targets.dtype.is_floating_point else pseudo_targets
            assert pool is not None and pool.pseudo_images is not None  # pseudo_targets come from them
            images, labels = torch.cat([images, pool.pseudo_images]), torch.cat([labels, hard])
        out = self.augmentation(images, labels, self.generators["augment"])
        views, targets = list(out.views), out.targets
        for hook in self.hooks:
            views = hook.before_forward(self.model, views, targets, self.generators, self.autocast_dtype)
        per_hook = [
            hook.extra_views(pool.images, self.generators)  # pool views (FixMatch's weak + strong) join
            if pool is not None and pool.images is not None and hook.pool_batch(labelled)
            else []
            for hook in self.hooks
        ]  # the same forward pass
        extra = [v for views_of in per_hook for v in views_of]
        inputs = torch.cat(views + extra) if len(views) + len(extra) > 1 else views[0]
        inputs = inputs.contiguous(memory_format=self.memory_format)
        if self.compile:  # one graph for every batch size: the last partial batch does not recompile
            torch._dynamo.maybe_mark_dynamic(inputs, 0)
            torch._dynamo.maybe_mark_dynamic(targets, 0)
        assert self._forward_loss is not None and self.scaler is not None  # set by __post_init__
        with ExitStack() as contexts:  # e.g. AugMax's DuBIN routing of its rows
            for hook in self.hooks:
                contexts.enter_context(hook.forward_context(self.model, views))
            loss, logits, extras = self._forward_loss(
                inputs,
                targets,
                len(views),
                labelled,
                pseudo_targets,
                tuple(v.shape[0] for v in extra),
                tuple(map(len, per_hook)),
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return StepOutput(
            loss=loss.detach(),
            logits=logits[:labelled].detach(),
            targets=targets[:labelled],
            extras={k: v.detach() for k, v in extras.items()},
        )


def create_hooks(
    cfg: Any,
    spec: MethodSpec,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    ctx: Context | None = None,
) -> list[TrainingHook]:
    options = cfg.method_options()
    hooks = [TRAINING_HOOKS.get(name)(name, options.get(name), mean, std, device) for name in spec.hooks]
    if ctx is not None:
        for hook in hooks:
            hook.setup(ctx, options)
    return hooks


def hooks_cost_factor(cfg: Any) -> float:
    """Cost of one step with the method's training hooks relative to the step without them."""
    spec = MethodSpec.parse(cfg.method)
    params = spec.parse_params(cfg.method_options())
    factor = 1.0
    for name in spec.hooks:
        factor *= TRAINING_HOOKS.get(name).cost_factor(params[name])
    return factor


def augmentation_options(cfg: Any, spec: MethodSpec | None = None) -> dict[str, Any]:
    """The options of the augmentation parts of the trial's method (its hooks' options go to the hooks)."""
    names = split_method((spec or MethodSpec.parse(cfg.method)).augmentation)
    return {name: opts for name, opts in cfg.method_options().items() if name in names}


def weight_decay(cfg: Any) -> float:
    """The trial's SGD weight decay: ``train.weight_decay``, else its method's (``MethodSpec.weight_decay``)."""
    return MethodSpec.parse(cfg.method).weight_decay(cfg.train.weight_decay)


def trial_optimizer(cfg: Any, model: nn.Module) -> torch.optim.Optimizer:
    """The trial's SGD (reference cifar.py: momentum, Nesterov, weight decay as the method prescribes)."""
    return torch.optim.SGD(model.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum,
                           nesterov=cfg.train.nesterov, weight_decay=weight_decay(cfg))  # fmt: skip


def trial_generators(cfg: Any, device: torch.device) -> dict[str, torch.Generator]:
    """The trial's separate random streams, so that e.g. a change of augmentation never changes the batch order."""
    return {name: torch.Generator(device=device).manual_seed(cfg.seed * 1000 + i)
            for i, name in enumerate(("shuffle", "augment", "attack"), start=1)}  # fmt: skip


def build_train_step(
    cfg: Any,
    model: nn.Module,
    *,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    kind: str,
    image_size: int,
    device: torch.device,
    generators: dict[str, torch.Generator] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    with_hooks: bool = True,
    crop_flip: bool = True,
    compile_backend: Any = None,
) -> TrainStep:
    """The trial's step for ``cfg`` (a ``TrialConfig``): its augmentation, hooks, AMP, layout and compile settings.

    ``model`` must already be on ``device``; without ``optimizer`` an SGD with the trial's settings is made.
    ``with_hooks=False`` leaves the training hooks out (the estimate scales by ``hooks_cost_factor`` instead).
    ``crop_flip=False``: the batches come already cropped and flipped (``data.imagenet.ImageNetLoader``).
    ``compile_backend``: torch.compile's backend when the trial compiles (None: inductor).
    """
    from augmix_lab.augment import create_augmentation

    spec = MethodSpec.parse(cfg.method).check()
    augmentation = create_augmentation(
        method=spec.augmentation,
        params=augmentation_options(cfg, spec),
        jsd_arity=cfg.jsd.arity,
        num_classes=num_classes,
        mean=mean,
        std=std,
        kind=kind,
        image_size=image_size,
        crop_flip=crop_flip,
    )
    ctx = Context(num_classes=int(num_classes), mean=tuple(map(float, mean)), std=tuple(map(float, std)), kind=kind,
                  image_size=int(image_size))  # fmt: skip
    hooks = create_hooks(cfg, spec, mean, std, device, ctx) if with_hooks else []
    prescribed = [w for w in (hook.jsd_weight() for hook in hooks) if w is not None]
    return TrainStep(
        model=model,
        optimizer=optimizer or trial_optimizer(cfg, model),
        augmentation=augmentation,
        generators=generators or trial_generators(cfg, device),
        hooks=hooks,
        jsd_weight=prescribed[0] if prescribed else cfg.jsd.weight,
        label_smoothing=cfg.train.label_smoothing,
        memory_format=memory_format_for(cfg.train.channels_last),
        autocast_dtype=amp_dtype(cfg.train.amp, device),
        scheduler=scheduler,
        compile=switch(cfg.train.compile, device),
        compile_backend=compile_backend,
        student_loss=student_loss(cfg, device),
    )


def student_loss(cfg: Any, device: torch.device) -> Any:
    """A self-training student's loss (``TrialConfig.teacher``), else None."""
    teacher = getattr(cfg, "teacher", None)
    if teacher is None or not teacher.is_set():
        return None
    from augmix_lab.training.self_training import StudentLoss

    return StudentLoss(teacher.loss, teacher.ratio, teacher.alpha, cfg.train.label_smoothing, device)
