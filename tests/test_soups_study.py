"""Model soups of a two-stage study, end to end on real MLflow (SQLite in tmp): trials trained in-process in
dependency waves (the Ray path is `run_tune`; here a stand-in trains each wave with `run_trial`), then soups."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path
from typing import Any

import pytest

from augmix_lab.errors import UserError
from augmix_lab.study import expand_study, read_study

STUDY = """
name: souptest
tracking: {uri: "sqlite:///%(db)s"}
output_dir: %(out)s
base:
  dataset: {name: shapes, options: {n_train: 320, n_test: 64}, holdout: 64}
  model: small_cnn
  epochs: 1
  train: {batch_size: 64, threads: 1}
  eval: {corruptions: {enabled: true, source: on_the_fly, names: [gaussian_noise], severities: [3]}}
  device: cpu
variants:
  - {name: base, method: standard, epochs: 2}
  - {name: ft_lr1, method: standard, init: {from_variant: base}, train: {lr: 0.05}}
  - {name: ft_lr2, method: standard, init: {from_variant: base}, train: {lr: 0.02}}
  - {name: ft_aug, method: augmix, init: {from_variant: base}, train: {lr: 0.02}}
soups: {enabled: true, heldout: {n: 48}, kinds: [uniform, greedy]}
"""


def in_process_tune(plan: Any, uri: str, run_ids: dict[str, str], launch: str, *_: Any) -> tuple[list, list]:
    """What the Ray trainable does for a trial, without Ray: train, log scorecard and final checkpoint, FINISHED."""
    from augmix_lab.orchestration.trainable import trial_workdir
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.training import run_trial

    for t in plan.todo:
        logger = TrialLogger(uri, run_ids[t.key], launch)
        result = run_trial(t.config, trial_workdir(plan.out_dir, t.key))
        logger.log_scorecard(result.scorecard.summary, result.scorecard.table)
        logger.log_checkpoint(result.checkpoint, "final")
        logger.set_status("FINISHED")
    return [t.key for t in plan.todo], []


def test_soups_of_a_fine_tuning_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from augmix_lab.orchestration.soups import build_study_soups
    from augmix_lab.orchestration import runner
    from augmix_lab.tracking.soups import soup_results

    path = tmp_path / "souptest.yaml"
    path.write_text(textwrap.dedent(STUDY) % {"db": tmp_path / "mlflow.db", "out": tmp_path / "out"})
    monkeypatch.setattr(runner, "ray_session", lambda *a, **k: contextlib.nullcontext())
    monkeypatch.setattr(runner, "run_tune", in_process_tune)
    assert runner.run_study(path) == 0
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    soups = {s["kind"]: s for s in soup_results(uri, "souptest", "souptest")}
    assert set(soups) == {"uniform", "greedy"}
    trials = {t.variant: t for t in expand_study(read_study(path))}
    ft = {trials[v].key for v in ("ft_lr1", "ft_lr2", "ft_aug")}
    assert set(soups["uniform"]["members"]) == ft and set(soups["greedy"]["candidates"]) == ft
    greedy = soups["greedy"]
    best = max(greedy["member_heldout_accuracy"].values())
    assert greedy["metrics"]["heldout_accuracy"] >= best  # Algorithm 1 never ends below its best member
    assert greedy["members"][0] == max(greedy["member_heldout_accuracy"], key=greedy["member_heldout_accuracy"].get)
    assert len(greedy["history"]) == 3 and greedy["history"][0]["accepted"]
    for s in soups.values():  # evaluated like a trial: clean, -C, calibration
        assert {"clean_error", "mean_corruption_error", "clean_ece"} <= set(s["metrics"])
        assert s["init"] == trials["base"].key
    # a second pass finds every soup in the store and builds nothing
    assert build_study_soups(str(path)) == 0
    assert len(soup_results(uri, "souptest", "souptest")) == 2


def test_members_with_different_inits_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = textwrap.dedent(STUDY) % {"db": tmp_path / "mlflow.db", "out": tmp_path / "out"}
    path.write_text(text.replace("kinds: [uniform, greedy]}", "variants: [base, ft_lr1]}"))
    with pytest.raises(UserError, match="different inits .*from scratch"):
        expand_study(read_study(path))
    path.write_text(text.replace("holdout: 64", "holdout: null"))
    with pytest.raises(UserError, match="dataset.holdout"):
        expand_study(read_study(path))


def test_build_soups_refuses_unrelated_members(tmp_path: Path) -> None:
    from augmix_lab.config import TrialConfig
    from augmix_lab.orchestration.soups import SoupIngredient, build_soups
    from augmix_lab.training.trainer import Trainer

    cfg = TrialConfig.model_validate({"dataset": {"name": "shapes", "options": {"n_train": 96, "n_test": 16},
                                                  "holdout": 16}, "epochs": 0, "train": {"threads": 1},
                                      "device": "cpu"})
    ings = []
    for seed in (0, 1):
        c = cfg.model_copy(update={"seed": seed})
        tr = Trainer(c, tmp_path / str(seed)).build()
        ings.append(SoupIngredient(key=tr.fingerprint, config=c, checkpoint=tr.save_final(), init=f"scratch:{seed}"))
    with pytest.raises(UserError, match="different inits"):
        build_soups(ings, ["uniform"], evaluate=False)


def test_soup_command_refuses_a_study_without_shared_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from augmix_lab.cli.main import main

    path = tmp_path / "scratch.yaml"
    text = textwrap.dedent(STUDY) % {"db": tmp_path / "mlflow.db", "out": tmp_path / "out"}
    path.write_text(text.replace("init: {from_variant: base}, ", "").replace("enabled: true", "enabled: false"))
    assert main(["soup", str(path)]) == 2  # bad input: nothing starts
    assert "no group of 2+ trials sharing one init" in capsys.readouterr().err
