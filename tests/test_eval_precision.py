"""Evaluation runs in the trial's AMP dtype and honours ``train.amp: off`` (it used to autocast without a dtype on
CUDA: fp16 even with amp off while training used bf16, and a different precision on CPU than on GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from augmix_lab.config import EvalConfig, TrialConfig
from augmix_lab.data import ImageDataset
from augmix_lab.evaluation import evaluate_model
from augmix_lab.training import trainer as trainer_module


class Recorder(torch.nn.Module):
    """A linear classifier that records the autocast state of every forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 2)
        self.seen: list[torch.dtype | None] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on = torch.is_autocast_enabled(x.device.type)
        self.seen.append(torch.get_autocast_dtype(x.device.type) if on else None)
        return self.fc(x.flatten(1))


def _dataset() -> ImageDataset:
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    return ImageDataset(name="tiny", kind="cifar", train_images=images, train_labels=labels, test_images=images,
                        test_labels=labels, classes=["a", "b"], mean=(0.5,) * 3, std=(0.5,) * 3, image_size=8,
                        version="tiny")


@pytest.mark.parametrize(("amp", "expected"), [("off", None), ("on", torch.bfloat16)])
def test_trial_evaluation_uses_the_training_precision(amp: str, expected: torch.dtype | None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrialConfig.model_validate({"model": "small_cnn", "train": {"amp": amp},
                                      "eval": {"corruptions": {"enabled": False}, "calibration": False}})
    model = Recorder()
    card = trainer_module._evaluate(model, _dataset(), cfg, torch.device("cpu"), None)
    assert model.seen and set(model.seen) == {expected}
    assert np.isfinite(card.summary["clean_error"])
    scorer = trainer_module.trial_scorer(model, _dataset(), cfg, torch.device("cpu"))
    model.seen.clear()
    scorer.logits(torch.rand(2, 3, 8, 8))  # the Fourier heat map's forward ([0, 1] floats) too
    assert model.seen == [expected]
    model.seen.clear()
    scorer.correct(_dataset().test_images, _dataset().test_labels)  # the per-epoch test, soups and affinity too
    assert model.seen == [expected]


def test_evaluate_model_without_a_dtype_runs_float32() -> None:
    model = Recorder()
    evaluate_model(model, _dataset(), EvalConfig.model_validate({"corruptions": {"enabled": False}}), device="cpu")
    assert set(model.seen) == {None}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("amp", "expected"), [("off", None), ("auto", torch.bfloat16)])
def test_cuda_evaluation_runs_in_the_training_precision(amp: str, expected: torch.dtype | None) -> None:
    cfg = TrialConfig.model_validate({"model": "small_cnn", "train": {"amp": amp},
                                      "eval": {"corruptions": {"enabled": False}, "calibration": False}})
    model = Recorder().cuda()
    trainer_module._evaluate(model, _dataset(), cfg, torch.device("cuda"), None)
    assert model.seen and set(model.seen) == {expected}  # never fp16 (the old dtype-less autocast on CUDA)
