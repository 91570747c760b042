"""The one-trial trainer on real generated `shapes` data: learning, bit-exact reproducibility, kill + resume,
divergence, checkpoints that load with weights_only, re-scoring a stored checkpoint, schedule and PGD."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from augmix_lab.config import TrialConfig
from augmix_lab.errors import TrialFailed, UserError
from augmix_lab.training import TrialCallbacks, evaluate_checkpoint, run_trial
from augmix_lab.training import step as step_module
from augmix_lab.training.adversarial import pgd_attack
from augmix_lab.training.trainer import COSINE_FINAL_LR, lr_factor

TIMING_KEYS = {"epoch_time_s", "images_per_s", "train_device_s", "train_images_per_s"}


def tiny_config(**overrides: Any) -> TrialConfig:
    """A trial that takes seconds: 128 shapes images, 2 epochs, AugMix + JSD(3), clean evaluation only."""
    base: dict[str, Any] = {
        "dataset": {"name": "shapes", "options": {"n_train": 256, "n_test": 128}, "train_subset": 128},
        "model": "small_cnn",
        "epochs": 2,
        "seed": 3,
        "method": "augmix",
        "jsd": {"arity": 3},
        "train": {"batch_size": 64, "threads": 2},
        "eval": {"corruptions": {"enabled": False}, "calibration": False},
        "device": "cpu",
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return TrialConfig.model_validate(base)


def without_timing(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]


def final_weights(result: Any) -> dict[str, torch.Tensor]:
    return torch.load(result.checkpoint, weights_only=True)["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_small_cnn_learns_shapes_in_five_epochs(tmp_path: Path) -> None:
    cfg = tiny_config(
        dataset={"options": {"n_train": 4000, "n_test": 500}, "train_subset": None},
        method="standard", jsd={"arity": 1}, epochs=5, train={"batch_size": 32},
    )
    result = run_trial(cfg, tmp_path)
    errors = [h["test_error"] for h in result.history]
    assert errors[-1] < 80.0, errors  # chance is 90 % on 10 balanced classes
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # The final evaluation scores the same 500 test images with the same weights as the last epoch's test pass.
    assert result.scorecard.summary["clean_error"] == pytest.approx(errors[-1], abs=1e-6)
    assert set(result.history[0]) == {"epoch", "train_loss", "train_error", "test_error", "lr", "epoch_time_s",
                                      "images_per_s", "train_device_s", "train_images_per_s"}


@pytest.fixture(scope="module")
def reference_trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One uninterrupted tiny trial shared by the reproducibility, resume and checkpoint tests."""
    data_root = tmp_path_factory.getbasetemp() / "data-cache"  # the cache conftest points every test at
    workdir = tmp_path_factory.mktemp("reference-trial")
    return workdir, run_trial(tiny_config(), workdir, data_root=data_root)


def test_the_trainer_logs_exactly_the_registered_history_metrics(reference_trial: tuple[Path, Any]) -> None:
    from augmix_lab.evaluation.registry import metric_names

    optional = set(metric_names("history", group="gpu"))  # CUDA only (tracking.gpu_epoch_stats)
    optional |= set(metric_names("history", group="online_pseudo_labels"))  # only trials whose hook labels online
    for epoch in reference_trial[1].history:
        assert set(epoch) - {"epoch"} == set(metric_names("history")) - optional


def test_same_seed_gives_identical_trials_and_another_seed_does_not(reference_trial: tuple[Path, Any],
                                                                    tmp_path: Path) -> None:
    _, first = reference_trial
    second = run_trial(tiny_config(), tmp_path / "b")
    assert without_timing(first.history) == without_timing(second.history)
    assert_same_weights(final_weights(first), final_weights(second))
    other = run_trial(tiny_config(seed=4, epochs=1), tmp_path / "c")
    assert other.history[0]["train_loss"] != first.history[0]["train_loss"]


def test_killed_trial_resumes_to_exactly_the_uninterrupted_result(reference_trial: tuple[Path, Any],
                                                                  tmp_path: Path) -> None:
    _, uninterrupted = reference_trial

    class Killed(Exception):
        pass

    def kill_after_first_epoch(epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        assert checkpoint is not None and checkpoint.name == "last.pt"
        raise Killed

    workdir = tmp_path / "killed"
    with pytest.raises(Killed):
        run_trial(tiny_config(), workdir, callbacks=TrialCallbacks(on_epoch_end=kill_after_first_epoch))
    assert not (workdir / "checkpoints" / "final.pt").exists()

    reported: list[int] = []
    resumed = run_trial(tiny_config(), workdir, callbacks=TrialCallbacks(on_epoch_end=lambda e, m, c: reported.append(e)))
    assert resumed.resumed_from_epoch == 1 and uninterrupted.resumed_from_epoch == 0
    assert reported == [2]  # only epochs after the checkpoint are reported again
    assert without_timing(resumed.history) == without_timing(uninterrupted.history)
    assert_same_weights(final_weights(resumed), final_weights(uninterrupted))
    assert resumed.scorecard.summary["clean_error"] == uninterrupted.scorecard.summary["clean_error"]
    first, last = resumed.history  # the training cost is a running total, carried across the resume
    assert 0 < first["train_device_s"] < last["train_device_s"]
    assert last["train_images_per_s"] * last["train_device_s"] == pytest.approx(2 * 128)  # 2 epochs of 128 images


def test_checkpoints_load_with_weights_only_and_hold_the_resume_state(reference_trial: tuple[Path, Any]) -> None:
    workdir, result = reference_trial
    last = torch.load(workdir / "checkpoints" / "last.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "rng", "epoch", "history"} <= set(last)
    assert last["epoch"] == 2 and len(last["history"]) == 2
    assert {"python", "numpy", "torch", "generators"} <= set(last["rng"])
    final = torch.load(result.checkpoint, weights_only=True)
    assert final["config"]["model"] == "small_cnn" and "|train[:128]|" in final["data_version"]
    assert not list((workdir / "checkpoints").glob("*.tmp"))  # atomic writes leave no temp files


def test_evaluate_checkpoint_rescores_without_training(reference_trial: tuple[Path, Any]) -> None:
    workdir, result = reference_trial
    card = evaluate_checkpoint(tiny_config(), result.checkpoint)
    assert card.summary["clean_error"] == result.scorecard.summary["clean_error"]
    with pytest.raises(UserError, match="different training config"):
        evaluate_checkpoint(tiny_config(seed=99), result.checkpoint)
    with pytest.raises(UserError, match="not a final checkpoint"):
        evaluate_checkpoint(tiny_config(), workdir / "checkpoints" / "last.pt")


def test_a_last_checkpoint_of_another_trial_is_refused(reference_trial: tuple[Path, Any]) -> None:
    workdir, _ = reference_trial
    with pytest.raises(UserError, match="belongs to another trial"):
        run_trial(tiny_config(seed=8), workdir)


def test_non_finite_loss_fails_the_trial_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_loss = step_module.augmix_loss
    calls = {"n": 0}

    def loss_that_diverges(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(step_module, "augmix_loss", loss_that_diverges)
    with pytest.raises(TrialFailed, match=r"^non-finite loss \(nan\) at epoch 1, batch 2$"):
        run_trial(tiny_config(), tmp_path)
    assert calls["n"] == 2  # stopped at once, not at the end of the epoch


def test_jsd_arity_needs_a_view_producing_method(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"'standard'.*JSD"):
        run_trial(tiny_config(method="standard"), tmp_path)


def test_adversarial_training_runs_on_pgd_examples(tmp_path: Path) -> None:
    cfg = tiny_config(method="adversarial", jsd={"arity": 1}, epochs=1, method_params={"adversarial": {"iterations": 2}})
    result = run_trial(cfg, tmp_path)
    assert math.isfinite(result.history[0]["train_loss"])


def test_cosine_schedule_follows_the_reference_formula() -> None:
    total, lr = 100, 0.1
    kw = dict(total_steps=total, steps_per_epoch=10, epochs=10, schedule="cosine", final_ratio=COSINE_FINAL_LR / lr)

    def reference_get_lr(step: int) -> float:  # augmix cifar.py get_lr(step, total, 1, 1e-6 / lr)
        lo = COSINE_FINAL_LR / lr
        return lo + (1 - lo) * 0.5 * (1 + math.cos(step / total * math.pi))

    for step in (0, 1, 37, 50, 99, 100):
        assert lr_factor(step, warmup_steps=0, **kw) == pytest.approx(reference_get_lr(step), rel=1e-12)
    assert lr_factor(total, warmup_steps=0, **kw) * lr == pytest.approx(1e-6)
    warm = [lr_factor(s, warmup_steps=10, **kw) for s in range(12)]
    assert warm[:10] == pytest.approx([(s + 1) / 10 for s in range(10)]) and warm[10] == pytest.approx(1.0)
    step_kw = {**kw, "schedule": "step"}
    assert [lr_factor(s, warmup_steps=0, **step_kw) for s in (0, 29, 30, 60, 99)] == pytest.approx(
        [1, 1, 0.1, 0.01, 0.001]  # reference imagenet.py: 0.1 ** (epoch // (epochs // 3))
    )


def test_pgd_stays_in_the_epsilon_ball_raises_the_loss_and_leaves_the_model_alone() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4),
    ).train()
    x = torch.rand(16, 3, 8, 8)
    y = torch.randint(0, 4, (16,))
    bn = model[1]
    running_before = bn.running_mean.clone()
    eps = 8 / 255
    adv = pgd_attack(model, x, y, mean=(0.5,) * 3, std=(0.5,) * 3, epsilon=eps, step_size=2 / 255, iterations=7,
                     generator=torch.Generator().manual_seed(1))
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert torch.equal(bn.running_mean, running_before)  # attack forwards do not touch running stats
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        clean_loss = F.cross_entropy(model((x - 0.5) / 0.5), y)
        adv_loss = F.cross_entropy(model((adv - 0.5) / 0.5), y)
    assert adv_loss > clean_loss
