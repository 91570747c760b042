"""`augmix-lab run STUDY --smoke`: every trial shrunk, run into <out>/smoke; missing inputs listed at once, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from augmix_lab.cli.main import main
from augmix_lab.orchestration.preflight import missing_inputs
from augmix_lab.orchestration.smoke import SMOKE_CORRUPTIONS, SMOKE_STEPS, SMOKE_TEST_IMAGES, smoke_config, smoke_trials
from augmix_lab.study import dataset_version, expand_study, read_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.yaml"
QUICKSTART = ROOT / "studies" / "quickstart.yaml"

MISSING = """name: needs_data
base: {model: small_cnn, epochs: 1, eval: {corruptions: {source: released}, perturbations: {enabled: true, source: generated}}}
variants: [{name: standard, method: standard, jsd: {arity: 1}}]
grid: {dataset.name: [cifar10, cifar100]}
"""


def test_smoke_trials_are_shrunk_and_seeds_collapsed() -> None:
    trials = expand_study(read_study(QUICKSTART, ["seeds=3"]))
    smoke = smoke_trials(trials)
    assert len(smoke) == len(trials) // 3 == len({t.variant for t in trials})
    for t in smoke:
        cfg = t.config
        assert cfg.epochs == 1 and cfg.dataset.train_subset == cfg.train.batch_size * SMOKE_STEPS
        assert cfg.dataset.test_subset == SMOKE_TEST_IMAGES
        assert len(cfg.eval.corruptions.names) == SMOKE_CORRUPTIONS and len(cfg.eval.corruptions.severities) == 1
        assert t.key == cfg.fingerprint(dataset_version(cfg.dataset))
        assert t.key not in {x.key for x in trials}  # never mistaken for a real trial
    original = next(x for x in trials if x.variant == smoke[0].variant).config
    assert (smoke[0].config.model, smoke[0].config.method, smoke[0].config.train.batch_size) == \
        (original.model, original.method, original.train.batch_size)


def test_smoke_config_keeps_evaluation_options_but_few_cells() -> None:
    from augmix_lab.config import TrialConfig

    cfg = TrialConfig.model_validate({"eval": {"perturbations": {"enabled": True}, "corruptions": {"source": "auto"}}})
    small = smoke_config(cfg)
    assert small.eval.perturbations.enabled and small.eval.perturbations.max_videos == 2
    assert len(small.eval.perturbations.names) == 1 and small.eval.corruptions.severities == [5]
    assert small.eval.calibration == cfg.eval.calibration and small.eval.corruptions.source == "auto"


def test_missing_datasets_are_listed_at_once_with_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "needs_data.yaml"
    study.write_text(MISSING)
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert main(["run", str(study), "--smoke", "--data-root", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for name in ("cifar10", "cifar100"):
        assert f"augmix-lab data download {name} --data-root {empty}" in err
        assert f"augmix-lab data download {name}-c --data-root {empty}" in err
        assert f"augmix-lab data make-p --dataset {name} --data-root {empty}" in err
    assert "6 missing input(s), nothing started" in err
    assert not out.exists(), "nothing may start (no store, no Ray) when inputs are missing"


def test_present_inputs_pass_the_preflight(tmp_path: Path) -> None:
    trials = expand_study(read_study(SMOKE))
    assert missing_inputs([t.config for t in trials], str(tmp_path)) == []  # shapes is generated; on-the-fly -C


@pytest.mark.slow
@pytest.mark.integration
def test_smoke_run_end_to_end_leaves_the_study_store_untouched(ray_session, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    study = tmp_path / "smoke.yaml"
    shutil.copy(SMOKE, study)
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out), "--smoke", "--set", "seeds=[0,1]"]) == 0
    err = capsys.readouterr().err
    assert "4 trials -> 2 smoke trials" in err and "2/2 complete, 0 failed" in err
    assert "INFO mlflow" not in err
    assert sorted(p.name for p in out.iterdir()) == ["smoke"], "the study's own store and manifest stay untouched"
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'smoke' / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    trials = client.search_runs(ids, "tags.`augmix_lab.role` = 'trial'")
    assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials)
    assert all("mean_corruption_error" in r.data.metrics for r in trials)
    parent = client.search_runs(ids, "tags.`augmix_lab.role` = 'study'")[0]
    assert parent.data.tags["augmix_lab.overrides"] == '["seeds=[0,1]"]'
