"""The one training step, shared by the trainer, ``plan``'s cost estimate and ``benchmarks/train_step.py``.

augment (on the device) → training hooks (e.g. PGD) → one forward over cat(views) so BatchNorm sees the n·B batch
(reference cifar.py) → CE + λ·JSD → backward → optimizer, scaler and per-iteration scheduler step. The step never
reads a device value on the host: it returns device tensors, and the caller decides when to look (airbench style).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from augmix_lab.augment.base import split_method
from augmix_lab.device import switch
from augmix_lab.training.hooks import TRAINING_HOOKS, TrainingHook
from augmix_lab.training.losses import augmix_loss, split_views
from augmix_lab.training.spec import MethodSpec


@dataclass
class StepOutput:
    """Device tensors of one step: ``loss`` (0-dim, detached), clean-view ``logits`` (detached), ``targets``."""

    loss: Tensor
    logits: Tensor
    targets: Tensor


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
    _forward_loss: Callable[..., tuple[Tensor, Tensor]] | None = field(default=None, repr=False)

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

    def forward_loss(self, inputs: Tensor, targets: Tensor, num_views: int) -> tuple[Tensor, Tensor]:
        """(loss, clean-view logits) of one forward over all views."""
        with torch.autocast(self._device_type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            logits = self.model(inputs)
        logits_views = split_views(logits.float(), num_views)
        weight = self.jsd_weight if num_views > 1 else 0.0
        return augmix_loss(logits_views, targets, weight, label_smoothing=self.label_smoothing), logits_views[0]

    def __call__(self, images: Tensor, labels: Tensor) -> StepOutput:
        out = self.augmentation(images, labels, self.generators["augment"])
        views, targets = list(out.views), out.targets
        for hook in self.hooks:
            views = hook.before_forward(self.model, views, targets, self.generators, self.autocast_dtype)
        inputs = (torch.cat(views) if len(views) > 1 else views[0]).contiguous(memory_format=self.memory_format)
        if self.compile:  # one graph for every batch size: the last partial batch does not recompile
            torch._dynamo.maybe_mark_dynamic(inputs, 0)
            torch._dynamo.maybe_mark_dynamic(targets, 0)
        assert self._forward_loss is not None and self.scaler is not None  # set by __post_init__
        loss, logits = self._forward_loss(inputs, targets, len(views))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return StepOutput(loss=loss.detach(), logits=logits.detach(), targets=targets)


def create_hooks(cfg: Any, spec: MethodSpec, mean: Sequence[float], std: Sequence[float],
                 device: torch.device) -> list[TrainingHook]:
    options = cfg.method_options()
    return [TRAINING_HOOKS.get(name)(name, options.get(name), mean, std, device) for name in spec.hooks]


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


def build_train_step(cfg: Any, model: nn.Module, *, num_classes: int, mean: Sequence[float], std: Sequence[float],
                     kind: str, image_size: int, device: torch.device,
                     generators: dict[str, torch.Generator] | None = None,
                     optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                     with_hooks: bool = True, crop_flip: bool = True, compile_backend: Any = None) -> TrainStep:
    """The trial's step for ``cfg`` (a ``TrialConfig``): its augmentation, hooks, AMP, layout and compile settings.

    ``model`` must already be on ``device``; without ``optimizer`` an SGD with the trial's settings is made.
    ``with_hooks=False`` leaves the training hooks out (the estimate scales by ``hooks_cost_factor`` instead).
    ``crop_flip=False``: the batches come already cropped and flipped (``data.imagenet.ImageNetLoader``).
    ``compile_backend``: torch.compile's backend when the trial compiles (None: inductor).
    """
    from augmix_lab.augment import create_augmentation

    spec = MethodSpec.parse(cfg.method).check()
    augmentation = create_augmentation(
        method=spec.augmentation, params=augmentation_options(cfg, spec), jsd_arity=cfg.jsd.arity,
        num_classes=num_classes, mean=mean, std=std, kind=kind, image_size=image_size, crop_flip=crop_flip,
    )
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum,
                                    nesterov=cfg.train.nesterov, weight_decay=weight_decay(cfg))
    if generators is None:
        generators = {name: torch.Generator(device=device).manual_seed(cfg.seed * 1000 + i)
                      for i, name in enumerate(("shuffle", "augment", "attack"), start=1)}
    return TrainStep(
        model=model, optimizer=optimizer, augmentation=augmentation, generators=generators,
        hooks=create_hooks(cfg, spec, mean, std, device) if with_hooks else [], jsd_weight=cfg.jsd.weight,
        label_smoothing=cfg.train.label_smoothing, memory_format=memory_format_for(cfg.train.channels_last),
        autocast_dtype=amp_dtype(cfg.train.amp, device), scheduler=scheduler,
        compile=switch(cfg.train.compile, device), compile_backend=compile_backend,
    )
