"""Affinity and diversity (Gontijo-Lopes et al., ICLR 2021) on hand-computed cases; the accuracies are measured by the
study's ``Scorer`` (orchestration/analyses.py: ``augmentation_accuracies``)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from augmix_lab.analysis import affinity, affinity_diversity_table, diversity
from augmix_lab.augment import create_augmentation, normalize
from augmix_lab.errors import UserError
from augmix_lab.evaluation.scoring import Scorer
from augmix_lab.orchestration.analyses import augmentation_accuracies

MEAN = STD = (0.5, 0.5, 0.5)


class Bright(torch.nn.Module):
    """Class 1 iff the top-left pixel of channel 0 is bright (> 127.5 before normalisation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = (x[:, 0, 0, 0] > 0).float()
        return torch.stack([1 - bright, bright], 1)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.zeros(8, 3, 4, 4, dtype=torch.uint8)
    images[:4, 0, 0, 0] = 200
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 0, 1])  # 6 of 8 right on clean data
    return images, labels


def _scorer() -> Scorer:
    return Scorer(Bright(), MEAN, STD, torch.device("cpu"), batch_size=3)


def test_identity_augmentation_has_affinity_one() -> None:
    images, labels = _data()
    clean, same = augmentation_accuracies(_scorer(), images, labels, create_augmentation("none", image_size=4))
    assert clean == pytest.approx(0.75) and affinity(same, clean) == 1.0


def test_destructive_augmentation_lowers_affinity_by_hand() -> None:
    images, labels = _data()

    def blackout(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> SimpleNamespace:
        return SimpleNamespace(views=[normalize(torch.zeros_like(x), MEAN, STD)], targets=y)

    clean, dark = augmentation_accuracies(_scorer(), images, labels, blackout)  # predicts 0 everywhere: 4 of 8
    assert (clean, dark) == (0.75, 0.5)
    assert affinity(dark, clean) == pytest.approx(2 / 3)


def test_diversity_is_a_loss_ratio() -> None:
    assert diversity(1.2, 0.4) == pytest.approx(3.0)
    assert diversity(0.4, 0.4) == 1.0


def test_the_table_adds_both_ratios_and_leaves_missing_losses_blank() -> None:
    df = affinity_diversity_table([{"variant": "a", "clean_acc": 0.8, "augmented_acc": 0.4, "train_loss": 0.9,
                                    "baseline_train_loss": 0.3},
                                   {"variant": "b", "clean_acc": 0.8, "augmented_acc": 0.8}])
    assert df.affinity.tolist() == [0.5, 1.0] and df.diversity[0] == pytest.approx(3.0) and math.isnan(df.diversity[1])


@pytest.mark.parametrize(("fn", "args"), [(affinity, (0.5, 0.0)), (affinity, (75.0, 90.0)), (diversity, (1.0, 0.0)),
                                          (diversity, (float("nan"), 1.0))])
def test_bad_values_are_refused(fn, args) -> None:  # noqa: ANN001
    with pytest.raises(UserError):
        fn(*args)
