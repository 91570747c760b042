"""JSD consistency and the AugMix loss against paper Eq. 2/3 and reference cifar.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from augmix_lab.training.losses import augmix_loss, cross_entropy, jsd_consistency, split_views


def _paper_eq2(logits: list[torch.Tensor]) -> torch.Tensor:
    """Direct Eq. 2: mean_i KL(p_i || M), M = mean_i p_i, per example, averaged over the batch (float64)."""
    probs = [F.softmax(z.double(), 1) for z in logits]
    m = sum(probs) / len(probs)
    kl = [(p * (p.log() - m.log())).sum(1) for p in probs]
    return (sum(kl) / len(probs)).mean()


@pytest.mark.parametrize("n", [2, 3, 4])
def test_matches_paper_eq2_on_random_logits(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    logits = [torch.randn(16, 10, generator=g) * 3 for _ in range(n)]
    assert jsd_consistency(logits).item() == pytest.approx(_paper_eq2(logits).item(), rel=1e-4, abs=1e-6)


def test_matches_reference_three_view_expression() -> None:
    g = torch.Generator().manual_seed(1)
    clean, a1, a2 = (torch.randn(8, 10, generator=g) for _ in range(3))
    pc, p1, p2 = (F.softmax(z, 1) for z in (clean, a1, a2))
    log_m = torch.clamp((pc + p1 + p2) / 3.0, 1e-7, 1).log()
    ref = (F.kl_div(log_m, pc, reduction="batchmean") + F.kl_div(log_m, p1, reduction="batchmean")
           + F.kl_div(log_m, p2, reduction="batchmean")) / 3.0
    targets = torch.randint(0, 10, (8,), generator=g)
    assert jsd_consistency([clean, a1, a2]).item() == pytest.approx(ref.item(), rel=1e-6)
    expected = F.cross_entropy(clean, targets) + 12 * ref
    assert augmix_loss([clean, a1, a2], targets, weight=12.0).item() == pytest.approx(expected.item(), rel=1e-6)


def test_identical_views_give_zero_and_the_order_of_views_does_not_matter() -> None:
    z = torch.randn(4, 10)
    assert jsd_consistency([z, z.clone(), z.clone()]).item() == pytest.approx(0.0, abs=1e-6)
    a, b, c = torch.randn(3, 4, 10).unbind(0)
    base = jsd_consistency([a, b, c]).item()
    assert base > 0.01
    for perm in ([b, a, c], [c, b, a], [a, c, b]):
        assert jsd_consistency(perm).item() == pytest.approx(base, rel=1e-5)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_bounded_by_log_views_and_log_classes(n: int) -> None:
    # Extreme disagreement: each view is confident in a different class -> approaches log(n) (K >= n).
    k = 10
    logits = [F.one_hot(torch.full((5,), i), k).float() * 50 for i in range(n)]
    value = jsd_consistency(logits).item()
    assert value == pytest.approx(math.log(n), rel=1e-3)
    assert value <= min(math.log(n), math.log(k)) + 1e-4
    two_classes = [F.one_hot(torch.full((5,), i % 2), 2).float() * 50 for i in range(n)]
    assert jsd_consistency(two_classes).item() <= math.log(2) + 1e-4  # paper: bounded by log(#classes)


def test_gradient_flows_to_every_view() -> None:
    views = [torch.randn(4, 10, requires_grad=True) for _ in range(3)]
    jsd_consistency(views).backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in views)


def test_single_view_is_plain_cross_entropy_and_needs_two_views_for_jsd() -> None:
    z, y = torch.randn(6, 10), torch.randint(0, 10, (6,))
    assert augmix_loss([z], y, weight=12.0).item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)
    with pytest.raises(ValueError, match="at least 2 views"):
        jsd_consistency([z])


def test_soft_targets_and_label_smoothing_agree_with_torch() -> None:
    z, y = torch.randn(6, 10), torch.randint(0, 10, (6,))
    one_hot = F.one_hot(y, 10).float()
    assert cross_entropy(z, one_hot).item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)
    smoothed = F.cross_entropy(z, y, label_smoothing=0.1).item()
    assert cross_entropy(z, one_hot, 0.1).item() == pytest.approx(smoothed, rel=1e-6)
    assert cross_entropy(z, y, 0.1).item() == pytest.approx(smoothed, rel=1e-6)
    mixed = 0.3 * one_hot + 0.7 * F.one_hot((y + 1) % 10, 10).float()
    expected = 0.3 * F.cross_entropy(z, y) + 0.7 * F.cross_entropy(z, (y + 1) % 10)
    assert cross_entropy(z, mixed).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="soft targets"):
        cross_entropy(z, torch.rand(6, 9))


def test_split_views_undoes_view_major_concatenation() -> None:
    views = [torch.full((3, 2), float(i)) for i in range(3)]
    parts = split_views(torch.cat(views), 3)
    assert all(torch.equal(p, v) for p, v in zip(parts, views))
    with pytest.raises(ValueError, match="divisible"):
        split_views(torch.zeros(7, 2), 3)
