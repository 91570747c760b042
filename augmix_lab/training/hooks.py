"""Training-time methods as registered hooks (``TRAINING_HOOKS``): a method that changes the training step itself
rather than the data, e.g. ``adversarial`` (PGD examples). A hook names the augmentation it trains on, declares its
options as one ``Params`` model (the contract of ``augment/base.py``: validated from ``method_params.<name>``), may
replace the views before the forward pass, and says what it costs per step (for ``plan``'s estimate).

Add one (in the package or a plugin module imported before the study is read)::

    class MyParams(MethodParams):
        strength: float = Field(0.1, ge=0, description=">= 0")

    @TRAINING_HOOKS.register("my_hook")
    class MyHook(TrainingHook):
        Params = MyParams
        augmentation = "standard"          # what the data pipeline does for this part of the method string

        def before_forward(self, model, views, targets, generators, autocast_dtype):
            return [v * (1 - self.options.strength) for v in views]

``MethodSpec`` (``training/spec.py``) then accepts ``my_hook`` in ``method`` and validates ``method_params.my_hook``.

A hook that learns from unlabelled images (FixMatch, ``training/fixmatch.py``) sets ``needs_pool`` (the trial must
declare ``dataset.labelled``), asks for ``pool_batch(n)`` pool images per step, turns them into ``extra_views``
that join the one forward pass, and adds ``extra_loss`` over their logits. The pool arrives without labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import torch
import torch.nn as nn
from torch import Tensor

from augmix_lab.augment.base import Context, MethodParams, ParamsOwner
from augmix_lab.registry import Registry


class TrainingHook(ParamsOwner):
    """Base: ``augmentation`` is the augmentation method the hook trains on; ``options`` its validated ``Params``."""

    augmentation: ClassVar[str] = "standard"
    needs_pool: ClassVar[bool] = False  # trains on the unlabelled pool too (the trial needs dataset.labelled)

    def __init__(
        self,
        name: str,
        params: Mapping[str, Any] | None,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device,
    ) -> None:
        self.name = name
        self.options = self.parse_params(name, params)
        self.mean_values, self.std_values = tuple(mean), tuple(std)
        # built once on the training device (no host-to-device copy per step): normalized <-> [0, 1] pixels
        self.mean = torch.tensor(self.mean_values, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(self.std_values, device=device).view(1, -1, 1, 1)

    @classmethod
    def cost_factor(cls, options: MethodParams) -> float:
        """Forward+backward passes per step relative to a plain step (the cost estimate multiplies by it)."""
        return 1.0

    def before_forward(
        self,
        model: nn.Module,
        views: list[Tensor],
        targets: Tensor,
        generators: dict[str, torch.Generator],
        autocast_dtype: torch.dtype | None,
    ) -> list[Tensor]:
        """The views the model trains on (default: unchanged); a hook may add views (the loss takes CE on the first
        and the JSD over all of them)."""
        return views

    def setup(self, ctx: Context, options: Mapping[str, Mapping[str, Any]]) -> None:
        """Called once with the data context and every method's options (a hook that builds an augmentation)."""

    def pool_batch(self, labelled: int) -> int:
        """Unlabelled pool images this hook wants in a step with ``labelled`` labelled images (0: none)."""
        return 0

    def extra_views(self, pool: Tensor, generators: dict[str, torch.Generator]) -> list[Tensor]:
        """Normalized views of the pool images (uint8) that join the step's forward pass."""
        return []

    def extra_loss(self, logits: list[Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss over the logits of ``extra_views`` (one tensor each), added to the step's loss, and per-step
        values to average over the epoch (registered history metrics: name -> 0-dim device tensor)."""
        raise NotImplementedError

    def jsd_weight(self) -> float | None:
        """The JSD weight the hook's method prescribes for the views it trains on (None: the trial's jsd.weight)."""
        return None

    def forward_context(self, model: nn.Module, views: list[Tensor]) -> AbstractContextManager[Any]:
        """A context around the training forward over cat(views) (e.g. AugMax routes its rows to DuBIN's auxiliary
        BatchNorm); default: nothing."""
        return nullcontext()


TRAINING_HOOKS: Registry[type[TrainingHook]] = Registry("training method")
