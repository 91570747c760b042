"""AugMax (Wang, Xiao, Kossaifi, Yu, Anandkumar, Wang; NeurIPS 2021): AugMix's chains mixed with adversarially
chosen weights, trained with DuBIN (``norm: dubin``, models/dubin.py) and a 3-way JSD.

Follows VITA-Group/AugMax (commit 176acdb): ``augmax_training_ddp.py`` (the step and its defaults),
``augmax_modules/augmax.py`` (``AugMaxDataset``: two independent tuples of ``width`` AugMix chains per image;
``AugMaxModule``: ``(1 - m)·x + m·Σ softmax(q)_i·chain_i``; ``AugMixModule``: Dirichlet(1) / Beta(1, 1) weights) and
``utils/attacks.py`` (``FriendlyAugMaxAttack``, ``AugMaxAttack``). Per step: the first tuple's mixing weights start at
m ~ U[0, 1), q ~ U[0, 1)^width and take ``steps`` signed-gradient ascent steps of size ``step_size`` on the summed
cross-entropy, the model in eval mode on DuBIN's auxiliary BN (route A), m clamped to [0, 1]; FAT (``attacker: fat``)
stops when every image has been misclassified ``tau`` times. The second tuple is mixed as AugMix does. Loss:
CE(clean) + λ·JSD(clean, AugMax, AugMix) with λ = 10 (``--Lambda``).

Differences by design, each one line: the chains come from AugMix's batched ops (``AugmentAndMix``) on the clean
view; the three views go through one forward (AugMax rows on the auxiliary BN, clean and AugMix rows sharing the main
BN) where the official code makes three calls; FAT's early stop is read on the host only on CPU (on other devices the
remaining steps run with a zero update, which leaves the same images). The official FAT also means to freeze the
images that used up their budget, but its ``grad.data[~idx].zero_()`` writes into a copy, so every image keeps
moving until all are done: ``mask_stopped: false`` (the default) does what the code does, ``true`` what it means.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from augmix_lab.augment.augmix import AugmentAndMix
from augmix_lab.augment.base import MethodParams
from augmix_lab.augment.functional import denormalize_uint8
from augmix_lab.models.dubin import dual_layers, routed
from augmix_lab.training.hooks import TRAINING_HOOKS, TrainingHook


class AugMaxParams(MethodParams):
    """AugMax's options (``method_params.augmax``); defaults are augmax_training_ddp.py's (CIFAR)."""

    width: int = Field(3, ge=1, description="an integer >= 1 (chains per tuple)")  # --mixture_width 3
    depth: int = Field(-1, description="-1 (random chain depth in 1..3) or an integer >= 1")  # --mixture_depth -1
    severity: int = Field(3, ge=1, le=10, description="an integer in 1..10")  # --aug_severity 3
    attacker: Literal["fat", "pgd"] = Field("fat", description="fat or pgd")  # --attacker fat
    steps: int = Field(5, ge=0, description="an integer >= 0: ascent steps on the mixing weights")  # --steps 5
    step_size: float = Field(0.1, gt=0, description="> 0")  # --alpha 0.1
    tau: int = Field(1, ge=1, description="an integer >= 1: FAT's misclassification budget")  # --tau 1
    consistency_weight: float = Field(10.0, ge=0, description=">= 0: λ of the JSD")  # --Lambda 10 (ImageNet 12)
    mask_stopped: bool = Field(False, description="true or false (module docstring: FAT's intended per-image stop)")


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[None]:
    """utils/context.py ``ctx_noparamgrad_and_eval``: eval mode and no parameter gradients, restored after."""
    training = {m: m.training for m in model.modules()}
    grads = {p: p.requires_grad for p in model.parameters()}
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for m, flag in training.items():
            m.training = flag
        for p, flag in grads.items():
            p.requires_grad_(flag)


def augmax_mix(clean: Tensor, chains: Tensor, m: Tensor, q: Tensor) -> Tensor:
    """augmax.py ``AugMaxModule.forward``: (1 - m)·x + m·Σ_i softmax(q)_i·chain_i; chains (k, N, C, H, W)."""
    w = torch.softmax(q, dim=1)
    mix = torch.einsum("nk,knchw->nchw", w, chains)
    m = m.view(-1, 1, 1, 1)
    return (1 - m) * clean + m * mix


def augmax_attack(
    model: nn.Module,
    clean: Tensor,
    chains: Tensor,
    labels: Tensor,
    *,
    steps: int,
    step_size: float,
    attacker: str = "fat",
    tau: int = 1,
    mask_stopped: bool = False,
    generator: torch.Generator | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """attacks.py ``FriendlyAugMaxAttack.attack`` (``attacker="fat"``) / ``AugMaxAttack.attack`` (``"pgd"``),
    untargeted: returns the AugMax images and their m, q. The caller sets the model's mode and BN route."""
    n, k = clean.shape[0], chains.shape[0]
    device = clean.device
    m = torch.rand(n, generator=generator, device=device).to(clean.dtype)  # m_adv = torch.rand(N) in [0, 1)
    q = torch.rand((n, k), generator=generator, device=device).to(clean.dtype)  # q_adv = torch.rand((N, width))
    budget = torch.full((n,), tau, device=device)
    go = torch.ones((), dtype=torch.bool, device=device)
    for _ in range(steps):
        m.requires_grad_(True)
        q.requires_grad_(True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(augmax_mix(clean, chains, m, q)).float()
        active = torch.ones((n,), dtype=torch.bool, device=device)
        if attacker == "fat":
            wrong = logits.argmax(1) != labels
            budget = torch.where(wrong & (budget != 0), budget - 1, budget)
            active = budget > 0
            go = active.any()
            if device.type == "cpu" and not bool(go):
                break  # attacks.py: every image used its budget (read on the host only where that is free)
        loss = F.cross_entropy(logits, labels, reduction="sum")  # attacks.py: CrossEntropyLoss(reduction="sum")
        grad_m, grad_q = torch.autograd.grad(loss, [m, q])
        update_m, update_q = torch.sign(grad_m), torch.sign(grad_q)
        if mask_stopped:
            update_m, update_q = update_m * active, update_q * active[:, None]
        update_m, update_q = update_m * go, update_q * go  # after the official break nothing moves
        m = (m.detach() + step_size * update_m).clamp(0, 1)  # sign-SGD ascent, m clamped to [0, 1]
        q = q.detach() + step_size * update_q
    return augmax_mix(clean, chains, m.detach(), q.detach()).detach(), m.detach(), q.detach()


@TRAINING_HOOKS.register("augmax")
class AugMaxTraining(TrainingHook):
    """AugMax: to the clean view it adds the AugMax view and an AugMix view (3 views, JSD weight λ)."""

    Params = AugMaxParams
    augmentation = "standard"  # the hook makes both augmented views from the clean one

    def __init__(self, name: str, params: Any, mean: Any, std: Any, device: torch.device) -> None:
        super().__init__(name, params, mean, std, device)
        opts = self.options
        assert isinstance(opts, AugMaxParams)
        # augmax.py aug(): AugMix's ops (augmentations.augmentations: no all_ops), depth, severity
        self.augmix = AugmentAndMix(
            width=opts.width,
            depth=opts.depth,
            severity=opts.severity,
            all_ops=False,
            mean=self.mean_values,
            std=self.std_values,
        )

    @classmethod
    def cost_factor(cls, options: MethodParams) -> float:
        assert isinstance(options, AugMaxParams)
        return 3.0 + options.steps  # three views through forward+backward, plus one per ascent step

    def jsd_weight(self) -> float | None:
        return float(self.options.consistency_weight)  # type: ignore[attr-defined]

    def before_forward(
        self,
        model: nn.Module,
        views: list[Tensor],
        targets: Tensor,
        generators: dict[str, torch.Generator],
        autocast_dtype: torch.dtype | None,
    ) -> list[Tensor]:
        opts = self.options
        assert isinstance(opts, AugMaxParams)
        clean = views[0]
        base = denormalize_uint8(clean, self.mean_values, self.std_values)  # exact for the pipeline's clean view
        n = base.shape[0]
        gen = generators["augment"]
        chains = self.augmix.augment_chains(base, self.augmix.make_params(n, gen))  # tuple 1 (AugMaxDataset)
        chains_f = torch.stack([(c.float() / 255 - self.mean) / self.std for c in chains])
        augmix_view = self.augmix(base, gen)  # tuple 2 through AugMixModule: Dirichlet(1) / Beta(1, 1)
        labels = targets if targets.dtype == torch.int64 else targets.argmax(1)
        with attack_mode(model), routed(model, "A"):  # augmax_training_ddp.py: route 'A', ctx_noparamgrad_and_eval
            adv, _, _ = augmax_attack(
                model,
                clean,
                chains_f,
                labels,
                steps=opts.steps,
                step_size=opts.step_size,
                attacker=opts.attacker,
                tau=opts.tau,
                mask_stopped=opts.mask_stopped,
                generator=generators["attack"],
                autocast_dtype=autocast_dtype,
            )
        return [clean, adv, augmix_view, *views[1:]]

    def forward_context(self, model: nn.Module, views: list[Tensor]) -> AbstractContextManager[Any]:
        n = views[0].shape[0]
        return routed(model, (n, 2 * n)) if dual_layers(model) else nullcontext()  # AugMax rows: auxiliary BN
