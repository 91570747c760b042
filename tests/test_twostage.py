"""Two-stage studies: init resolution and hashing, trainer init loading, dependency waves (real MLflow, no Ray)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from augmix_lab.config import TrialConfig
from augmix_lab.errors import UserError
from augmix_lab.models import create_model
from augmix_lab.study import expand_study, read_study
from augmix_lab.training.trainer import Trainer

BASE = """
name: two
base:
  dataset: {name: shapes, options: {n_train: 256, n_test: 64}, holdout: 32}
  model: small_cnn
  epochs: 1
  train: {batch_size: 64, threads: 1}
  eval: {corruptions: {enabled: false}, calibration: false}
  device: cpu
"""


def write_study(tmp_path: Path, body: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(body))
    return path


def keys(path: Path) -> dict[tuple[str, int], Any]:
    return {(t.variant, t.seed): t for t in expand_study(read_study(path))}


FT = """
variants:
  - {name: base, method: standard}
  - {name: ft_a, method: augmix, init: {from_variant: base}, train: {lr: 0.01}}
  - {name: ft_b, method: augmix, augmix: {width: 1}, init: {from_variant: base}, train: {lr: 0.01}}
seeds: 2
"""


def test_child_key_follows_parent_key(tmp_path: Path) -> None:
    trials = keys(write_study(tmp_path, FT))
    for seed in (0, 1):
        assert trials[("ft_a", seed)].config.init.parent_key == trials[("base", seed)].key  # matched by seed
    changed = keys(write_study(tmp_path, FT.replace("{name: base, method: standard}",
                                                     "{name: base, method: standard, epochs: 2}"), "b.yaml"))
    assert changed[("base", 0)].key != trials[("base", 0)].key
    assert changed[("ft_a", 0)].key != trials[("ft_a", 0)].key  # the child retrains when its parent changes
    assert changed[("ft_a", 0)].config.epochs == trials[("ft_a", 0)].config.epochs
    # a trial without an init keeps the key it had before init existed
    plain = TrialConfig(dataset={"name": "shapes"})
    assert "init" not in plain.training_dict() and "holdout" not in plain.training_dict()["dataset"]


def test_checkpoint_init_is_hashed_by_content_not_path(tmp_path: Path) -> None:
    sd = create_model("small_cnn", 4).state_dict()
    torch.save(sd, tmp_path / "w1.pt")
    shutil.copy(tmp_path / "w1.pt", tmp_path / "w2.pt")  # same bytes (torch.save records the file's name inside)
    body = "variants:\n  - {name: ft, init: {checkpoint: %s}}\n"
    k1 = keys(write_study(tmp_path, body % "w1.pt", "a.yaml"))[("ft", 0)]
    k2 = keys(write_study(tmp_path, body % "w2.pt", "b.yaml"))[("ft", 0)]
    assert k1.key == k2.key and k1.config.init.sha256  # same content, other file: same training
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in sd.items()}, tmp_path / "w1.pt")
    k3 = keys(write_study(tmp_path, body % "w1.pt", "c.yaml"))[("ft", 0)]
    assert k3.key != k1.key


@pytest.mark.parametrize("body, message", [
    ("variants:\n  - {name: ft, init: {from_variant: nope}}\n", "unknown variant 'nope'"),
    ("variants:\n  - {name: ft, init: {checkpoint: missing.pt}}\n", "no such file"),
    ("variants:\n  - {name: a}\n  - {name: ft, init: {from_variant: a, checkpoint: x.pt}}\n", "not both"),
    ("variants:\n  - {name: a, init: {from_variant: ft}}\n  - {name: ft, init: {from_variant: a}}\n", "cycle"),
    ("variants:\n  - {name: a}\n  - {name: ft, init: {from_variant: a}}\ngrid: {train.lr: [0.1, 0.2]}\n", "2 trials"),
])
def test_bad_init_is_a_user_error_with_its_line(tmp_path: Path, body: str, message: str) -> None:
    path = write_study(tmp_path, body)
    with pytest.raises(UserError, match=message) as err:
        expand_study(read_study(path))
    assert str(path) in str(err.value)


def _cfg(**init: Any) -> TrialConfig:
    return TrialConfig.model_validate({
        "dataset": {"name": "shapes", "options": {"n_train": 64, "n_test": 16}}, "model": "small_cnn", "epochs": 1,
        "train": {"threads": 1}, "eval": {"corruptions": {"enabled": False}}, "device": "cpu",
        **({"init": init} if init else {})})


def test_trainer_loads_init_weights_only(tmp_path: Path) -> None:
    parent = Trainer(_cfg(), tmp_path / "parent").build()
    with torch.no_grad():
        for p in parent.model.parameters():
            p.add_(0.5)  # weights no fresh init would produce
    final = parent.save_final()
    child = Trainer(_cfg(checkpoint=str(final)), tmp_path / "child").build()
    for (name, a), b in zip(parent.model.state_dict().items(), child.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert all(not s for s in child.step.optimizer.state.values())  # fresh optimizer
    # a plain state dict works too; another architecture is refused clearly
    torch.save(create_model("allconv", 10).state_dict(), tmp_path / "allconv.pt")
    with pytest.raises(UserError, match="does not fit model 'small_cnn'"):
        Trainer(_cfg(checkpoint=str(tmp_path / "allconv.pt")), tmp_path / "c2").build()
    with pytest.raises(UserError, match="no such file"):
        Trainer(_cfg(checkpoint=str(tmp_path / "gone.pt")), tmp_path / "c3").build()
    with pytest.raises(UserError, match="only allowed in a study"):
        _cfg(from_variant="base").fingerprint("v")


def test_dependency_waves_and_failed_parent_fails_children(tmp_path: Path) -> None:
    from augmix_lab.console import make_console
    from augmix_lab.orchestration.plan import experiment_for
    from augmix_lab.orchestration.runner import create_runs
    from augmix_lab.orchestration.waves import dependency_waves, run_waves
    from augmix_lab.tracking import StudyTracker
    from augmix_lab.tracking.store import make_client

    study = read_study(write_study(tmp_path, FT.replace("seeds: 2", "seeds: 1")))
    trials = expand_study(study)
    waves = dependency_waves(trials, set())
    assert [[t.variant for t in w] for w in waves] == [["base"], ["ft_a", "ft_b"]]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = StudyTracker(uri, experiment_for(study))
    parent_id = tracker.start_study(study.name, study.hash, study.text)
    plan = SimpleNamespace(study=study, trials=trials, todo=list(trials), complete={}, reevaluate={}, out_dir=tmp_path)
    run_ids = create_runs(plan, tracker, parent_id, "L1")
    calls: list[list[str]] = []

    def fake_tune(plan: Any, *args: Any) -> tuple[list[str], list[str]]:
        calls.append([t.variant for t in plan.todo])
        return [], [t.key for t in plan.todo]  # every trial of the wave fails

    finished, failed = run_waves(plan, uri, run_ids, "L1", make_console(stderr=True), None, None, fake_tune)
    assert calls == [["base"]] and finished == [] and set(failed) == {t.key for t in trials}
    client = make_client(uri)
    child = next(t for t in trials if t.variant == "ft_a")
    run = client.get_run(run_ids[child.key])
    assert run.info.status == "FAILED" and "parent trial base" in run.data.tags["augmix_lab.error"]
    assert plan.todo == trials  # restored for the caller


def test_a_child_on_a_node_without_the_drivers_disk_fetches_the_parents_checkpoint_from_mlflow(tmp_path: Path) -> None:
    from augmix_lab.orchestration.trainable import _fetch_parent_checkpoint
    from augmix_lab.tracking import StudyTracker, TrialLogger

    parent = Trainer(_cfg(), tmp_path / "parent").build()
    final = parent.save_final()
    tracker = StudyTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "two")
    study_run = tracker.start_study("two", "h", "name: two\n")
    parent_run, _ = tracker.trial_run(study_run, "parent-key", study="two", variant="base", seed=0, axes={},
                                      params={}, config_yaml="{}\n", eval_key="e")
    TrialLogger(tracker.uri, parent_run).log_checkpoint(final, "final")
    elsewhere = str(tmp_path / "driver-only" / "final.pt")  # the driver's path, absent on this node
    child = _cfg(checkpoint=elsewhere).model_copy(update={"init": _cfg(checkpoint=elsewhere).init.model_copy(
        update={"parent_key": "parent-key"})})
    fetched = _fetch_parent_checkpoint(child, parent_run, tracker.uri, tmp_path / "worker")
    assert Path(fetched.init.checkpoint).is_file() and fetched.fingerprint("v") == child.fingerprint("v")
    loaded = Trainer(fetched, tmp_path / "child").build()
    for a, b in zip(parent.model.state_dict().values(), loaded.model.state_dict().values()):
        assert torch.equal(a, b)
    assert _fetch_parent_checkpoint(child, None, tracker.uri, tmp_path / "w2") is child  # no run: the trainer says why
