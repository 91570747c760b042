"""Training-time methods as registered hooks (``TRAINING_HOOKS``): a method that changes the training step itself
rather than the data, e.g. ``adversarial`` (PGD examples). A hook names the augmentation it trains on, may replace
the views before the forward pass, and says what it costs per step (for ``plan``'s estimate).

Add one: subclass ``TrainingHook`` in its own module, decorate with ``@TRAINING_HOOKS.register("name")``, import the
module in ``augmix_lab/training/__init__.py``; ``MethodSpec`` then accepts the name in ``method``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from augmix_lab.registry import Registry


class TrainingHook:
    """Base: ``augmentation`` is the augmentation method the hook trains on; ``cfg`` is the trial's ``TrialConfig``."""

    augmentation: ClassVar[str] = "standard"

    def __init__(self, cfg: Any, mean: Sequence[float], std: Sequence[float], device: torch.device) -> None:
        self.cfg = cfg
        self.mean_values, self.std_values = tuple(mean), tuple(std)
        # built once on the training device (no host-to-device copy per step): normalized <-> [0, 1] pixels
        self.mean = torch.tensor(self.mean_values, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(self.std_values, device=device).view(1, -1, 1, 1)

    @classmethod
    def cost_factor(cls, cfg: Any) -> float:
        """Forward+backward passes per step relative to a plain step (the cost estimate multiplies by it)."""
        return 1.0

    def before_forward(self, model: nn.Module, views: list[Tensor], targets: Tensor,
                       generators: dict[str, torch.Generator], autocast_dtype: torch.dtype | None) -> list[Tensor]:
        """The views the model trains on (default: unchanged)."""
        return views


TRAINING_HOOKS: Registry[type[TrainingHook]] = Registry("training method")
