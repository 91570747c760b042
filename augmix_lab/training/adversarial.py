"""L∞ PGD adversarial examples for adversarial training (Madry et al., ICLR 2018), the paper's "Adv Training" baseline.

Recipe (Madry et al. CIFAR-10 challenge): ε = 8/255, step 2/255, 7 iterations, uniform random start in the ε-ball,
signed-gradient ascent on the cross-entropy, projection onto the ε-ball and [0, 1] after every step. The attack
works on [0, 1] pixels and normalises inside the forward. As in Madry et al.'s CIFAR training code, the model stays
in train mode during the attack (BatchNorm uses batch statistics); we freeze BatchNorm's running statistics for the
attack's forward passes (momentum 0) so that only the training step's forward updates them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from augmix_lab.augment.base import MethodParams
from augmix_lab.training.hooks import TRAINING_HOOKS, TrainingHook


@contextmanager
def frozen_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """Batch-statistics normalisation without updating running mean/var (momentum 0 keeps them unchanged)."""
    saved = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            saved.append((m, m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def pgd_attack(
    model: nn.Module,
    images01: torch.Tensor,
    targets: torch.Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    epsilon: float,
    step_size: float,
    iterations: int,
    generator: torch.Generator | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Return adversarial images in [0, 1] within ``epsilon`` (L∞) of ``images01``; model gradients are untouched.

    ``targets`` are class indices (or soft targets, whose argmax is attacked). The random start is drawn from
    ``generator`` (on the images' device), so the attack is reproducible.
    """
    mean_t = torch.tensor(mean, device=images01.device, dtype=images01.dtype).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images01.device, dtype=images01.dtype).view(1, -1, 1, 1)
    hard = targets if targets.dtype == torch.int64 else targets.argmax(1)
    x0 = images01.detach()
    noise = torch.rand(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x = (x0 + (noise * 2 - 1) * epsilon).clamp(0, 1)  # Madry et al.: uniform random start
    memory_format = torch.channels_last if images01.is_contiguous(memory_format=torch.channels_last) else None
    with frozen_batchnorm_stats(model):
        for _ in range(iterations):
            x.requires_grad_(True)
            inputs = (x - mean_t) / std_t
            if memory_format is not None:
                inputs = inputs.contiguous(memory_format=memory_format)
            with torch.autocast(x.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = F.cross_entropy(model(inputs).float(), hard)
            (grad,) = torch.autograd.grad(loss, x)
            x = x.detach() + step_size * grad.sign()
            x = torch.min(torch.max(x, x0 - epsilon), x0 + epsilon).clamp(0, 1)
    return x.detach()


class AdversarialParams(MethodParams):
    """PGD knobs (``method_params.adversarial``); defaults are Madry et al.'s CIFAR-10 challenge recipe."""

    epsilon: float = Field(8 / 255, ge=0, description="a number >= 0: the L-inf radius in [0, 1] pixel units")
    step_size: float = Field(2 / 255, gt=0, description="a number > 0, in [0, 1] pixel units")
    iterations: int = Field(7, ge=1, description="an integer >= 1")


@TRAINING_HOOKS.register("adversarial")
class AdversarialTraining(TrainingHook):
    """Madry et al. PGD training: the first view is replaced by its PGD example (``AdversarialParams``)."""

    Params = AdversarialParams
    augmentation = "standard"  # architecture.md: adversarial training runs on the standard crop/flip

    @classmethod
    def cost_factor(cls, options: MethodParams) -> float:
        assert isinstance(options, AdversarialParams)
        return 1.0 + options.iterations  # each PGD iteration is one more forward+backward

    def before_forward(
        self,
        model: nn.Module,
        views: list[Tensor],
        targets: Tensor,
        generators: dict[str, torch.Generator],
        autocast_dtype: torch.dtype | None,
    ) -> list[Tensor]:
        opts, mean, std = self.options, self.mean, self.std
        assert isinstance(opts, AdversarialParams)
        images01 = views[0] * std + mean  # attack in [0,1] pixel space
        adv = pgd_attack(
            model,
            images01,
            targets,
            mean=self.mean_values,
            std=self.std_values,
            epsilon=opts.epsilon,
            step_size=opts.step_size,
            iterations=opts.iterations,
            generator=generators["attack"],
            autocast_dtype=autocast_dtype,
        )
        return [(adv - mean) / std, *views[1:]]
