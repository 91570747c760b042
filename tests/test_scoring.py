"""One model, one accuracy on every scoring path (issue 23): the per-epoch test error, the final scorecard, a re-scored
checkpoint, ``data check-c``'s predictor, the Fourier heat map's clean error, a soup's held-out accuracy and affinity's
clean accuracy all score through ``evaluation.Scorer`` in the trial's precision (bf16 autocast here, ``amp: on``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from augmix_lab.augment import create_augmentation
from augmix_lab.config import TrialConfig
from augmix_lab.evaluation import evaluate_model
from augmix_lab.orchestration.analyses import augmentation_accuracies
from augmix_lab.orchestration.soups import SoupBench
from augmix_lab.training import Trainer, evaluate_checkpoint
from augmix_lab.training.trainer import checkpoint_predictor, trial_scorer

CONFIG = {"dataset": {"name": "shapes", "options": {"n_train": 192, "n_test": 96}, "holdout": 64},
          "model": "small_cnn", "epochs": 1, "seed": 5, "method": "standard", "device": "cpu",
          "train": {"batch_size": 32, "threads": 1, "amp": "on"},
          "eval": {"corruptions": {"enabled": False}, "calibration": False, "batch_size": 40,
                   "fourier": {"enabled": True, "n_images": 96, "stride": 16}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrialConfig, Trainer, Path, float]:
    cfg = TrialConfig.model_validate(CONFIG)
    trainer = Trainer(cfg, tmp_path_factory.mktemp("trial")).build()
    trainer.train()
    final = trainer.save_final()
    epoch_error = trainer.history[-1]["test_error"]
    return cfg, trainer, final, epoch_error


def test_the_per_epoch_test_the_scorecard_and_a_rescored_checkpoint_agree(trained) -> None:  # noqa: ANN001
    cfg, trainer, final, epoch_error = trained
    assert trainer.scorer.autocast_dtype is torch.bfloat16  # the per-epoch test runs in the training precision
    card = trainer.evaluate()
    assert card.summary["clean_error"] == pytest.approx(epoch_error, abs=1e-12)
    assert evaluate_checkpoint(cfg, final).summary["clean_error"] == pytest.approx(epoch_error, abs=1e-12)
    hm_clean = card.arrays["fourier/meta.npy"][2]  # the heat map's own clean error (fraction), same 96 images
    assert 100.0 * hm_clean == pytest.approx(epoch_error, abs=1e-9)
    ds = trainer.ds
    predict = checkpoint_predictor(final, ds, batch_size=17)  # NHWC arrays, as data check-c hands them
    nhwc = ds.test_images.permute(0, 2, 3, 1).numpy()
    assert 100.0 * (predict(nhwc) != ds.test_labels.numpy()).mean() == pytest.approx(epoch_error, abs=1e-9)


def test_a_soup_member_and_affinity_score_the_held_out_images_as_evaluation_does(trained) -> None:  # noqa: ANN001
    cfg, trainer, final, _ = trained
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    bench = SoupBench(cfg, heldout_n=None, bn_images=None, data_root=None)
    assert bench.scorer.autocast_dtype is torch.bfloat16  # soups score in the precision the members trained in
    soup_acc = bench.score(state)  # BatchNorm re-estimated, then the held-out images
    held = dataclasses.replace(bench.ds, test_images=bench.h_images, test_labels=bench.h_labels)
    no_fourier = cfg.eval.model_copy(update={"fourier": cfg.eval.fourier.model_copy(update={"enabled": False})})
    card = evaluate_model(bench.model, held, no_fourier,
                          device="cpu", autocast_dtype=torch.bfloat16)
    assert 100.0 * (1.0 - soup_acc) == pytest.approx(card.summary["clean_error"], abs=1e-9)
    scorer = trial_scorer(bench.model, bench.ds, cfg, torch.device("cpu"), batch_size=25)
    clean, _ = augmentation_accuracies(scorer, bench.h_images, bench.h_labels,
                                       create_augmentation("standard", image_size=32))
    assert clean == pytest.approx(soup_acc, abs=1e-12)
