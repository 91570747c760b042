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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn as nn
from torch import Tensor

from augmix_lab.augment.base import MethodParams, ParamsOwner
from augmix_lab.registry import Registry


class TrainingHook(ParamsOwner):
    """Base: ``augmentation`` is the augmentation method the hook trains on; ``options`` its validated ``Params``."""

    augmentation: ClassVar[str] = "standard"

    def __init__(self, name: str, params: Mapping[str, Any] | None, mean: Sequence[float], std: Sequence[float],
                 device: torch.device) -> None:
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

    def before_forward(self, model: nn.Module, views: list[Tensor], targets: Tensor,
                       generators: dict[str, torch.Generator], autocast_dtype: torch.dtype | None) -> list[Tensor]:
        """The views the model trains on (default: unchanged)."""
        return views


TRAINING_HOOKS: Registry[type[TrainingHook]] = Registry("training method")
