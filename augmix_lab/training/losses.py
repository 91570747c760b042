"""Training losses: cross-entropy (hard or soft targets) plus the AugMix Jensen-Shannon consistency term.

Paper (Hendrycks et al., ICLR 2020) Eq. 2: JS(p_orig; p_1; p_2) = 1/3 (KL[p_orig‖M] + KL[p_1‖M] + KL[p_2‖M]),
M = (p_orig + p_1 + p_2)/3; Eq. 3 / Algorithm 1: loss = L(p_orig, y) + λ·JS. Reference google-research/augmix
cifar.py: one forward over cat(clean, aug1, aug2), CE on the clean logits only, M clamped to [1e-7, 1] before the
log, ``F.kl_div(log M, p_i, reduction='batchmean')``, λ = 12. Generalised here to any number of views n ≥ 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MIXTURE_CLAMP_MIN = 1e-7  # reference cifar.py: torch.clamp(p_mixture, 1e-7, 1) "to avoid exploding KL divergence"


def jsd_consistency(logits_views: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Generalised Jensen-Shannon divergence (1/n) Σ_i KL(p_i ‖ M) between the softmax of each view, batch-mean.

    Args:
        logits_views: n ≥ 2 tensors of shape (B, K), one per view of the same B images (views[0] = clean).
    Returns:
        A scalar tensor in [0, min(log n, log K)] (up to the 1e-7 clamp), zero iff all views agree.
    """
    n = len(logits_views)
    if n < 2:
        raise ValueError(f"jsd_consistency needs at least 2 views (got {n})")
    probs = [F.softmax(logits.float(), dim=1) for logits in logits_views]
    log_mixture = torch.clamp(torch.stack(probs).mean(0), MIXTURE_CLAMP_MIN, 1.0).log()
    return sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probs) / n


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean CE for int64 class targets (B,) or soft float targets (B, K) (mixup/cutmix), with optional smoothing."""
    logits = logits.float()
    if targets.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        return F.cross_entropy(logits, targets.long(), label_smoothing=label_smoothing)
    if targets.shape != logits.shape:
        raise ValueError(f"soft targets must have the logits' shape {tuple(logits.shape)} (got {tuple(targets.shape)})")
    soft = targets.float()
    if label_smoothing > 0:
        soft = soft * (1.0 - label_smoothing) + label_smoothing / logits.shape[1]  # same rule as F.cross_entropy
    return -(soft * F.log_softmax(logits, dim=1)).sum(1).mean()


def augmix_loss(
    logits_views: list[torch.Tensor] | tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    weight: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """CE on the clean view + ``weight``·JSD over all views (paper Eq. 3); a single view gives plain CE."""
    loss = cross_entropy(logits_views[0], targets, label_smoothing)
    if len(logits_views) > 1 and weight > 0:
        loss = loss + weight * jsd_consistency(logits_views)
    return loss


def split_views(logits: torch.Tensor, num_views: int) -> list[torch.Tensor]:
    """Undo the view-major concatenation of one forward pass over cat(views) (reference: torch.split by B)."""
    if logits.shape[0] % num_views:
        raise ValueError(f"batch of {logits.shape[0]} logits is not divisible into {num_views} views")
    return list(torch.split(logits, logits.shape[0] // num_views))
