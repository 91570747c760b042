"""Affinity and diversity (Gontijo-Lopes et al., ICLR 2021) on hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from augmix_lab.analysis import affinity, augmented_accuracy, diversity
from augmix_lab.errors import UserError


def _model(x: torch.Tensor) -> torch.Tensor:  # class 1 iff the top-left pixel of channel 0 is bright
    bright = (x[:, 0, 0, 0].float() > 127).float()
    return torch.stack([1 - bright, bright], 1)


def _data():
    images = torch.zeros(8, 3, 4, 4, dtype=torch.uint8)
    images[:4, 0, 0, 0] = 200
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 0, 1])  # 6 of 8 right on clean data
    return images, labels


def test_identity_augmentation_has_affinity_one():
    images, labels = _data()
    clean = augmented_accuracy(_model, images, labels, batch_size=3)
    same = augmented_accuracy(_model, images, labels, lambda x: x.clone(), batch_size=3)
    assert clean == pytest.approx(0.75) and affinity(same, clean) == 1.0


def test_destructive_augmentation_lowers_affinity_by_hand():
    images, labels = _data()
    blackout = augmented_accuracy(_model, images, labels, torch.zeros_like)  # predicts 0 everywhere: 4 of 8
    assert blackout == 0.5
    assert affinity(blackout, 0.75) == pytest.approx(2 / 3)


def test_diversity_is_a_loss_ratio():
    assert diversity(1.2, 0.4) == pytest.approx(3.0)
    assert diversity(0.4, 0.4) == 1.0


@pytest.mark.parametrize(("fn", "args"), [(affinity, (0.5, 0.0)), (affinity, (75.0, 90.0)), (diversity, (1.0, 0.0)),
                                          (diversity, (float("nan"), 1.0))])
def test_bad_values_are_refused(fn, args):
    with pytest.raises(UserError):
        fn(*args)
