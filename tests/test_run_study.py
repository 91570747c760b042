"""`augmix-lab run` end to end on real Ray (2 local CPUs, one session) and a real MLflow SQLite store.

One smoke run is shared by the tests that inspect it (complete, re-run trains nothing, eval-only change re-evaluates);
the killed-driver test needs a separate driver process; the failure test injects a diverging variant (lr 1e30).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augmix_lab.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.yaml"

pytestmark = pytest.mark.integration  # the end-to-end core: in the default run


def trial_runs(out_dir: Path) -> list:
    """Every trial run in the study's store (all experiments)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out_dir / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, "tags.`augmix_lab.role` = 'trial'", max_results=1000)


def checkpoint_mtimes(out_dir: Path) -> dict[str, float]:
    return {str(p.relative_to(out_dir)): p.stat().st_mtime_ns for p in (out_dir / "trials").rglob("*.pt")}


@pytest.fixture(scope="module")
def smoke_run(ray_session, tmp_path_factory: pytest.TempPathFactory):
    out_dir = tmp_path_factory.mktemp("smoke") / "out"
    study = out_dir.parent / "smoke.yaml"
    shutil.copy(SMOKE, study)
    code = main(["run", str(study), "--out", str(out_dir)])
    return code, study, out_dir


def test_smoke_study_runs_end_to_end(smoke_run) -> None:
    code, _, out_dir = smoke_run
    assert code == 0
    runs = trial_runs(out_dir)
    assert sorted(r.data.tags["augmix_lab.variant"] for r in runs) == ["augmix", "standard"]
    for run in runs:
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        assert 0 <= metrics["clean_error"] <= 100 and 0 <= metrics["mean_corruption_error"] <= 100
        assert {"corruption_error.gaussian_noise", "corruption_error.contrast", "train_loss", "test_error"} <= set(metrics)
        key = run.data.tags["augmix_lab.trial_key"]
        assert (out_dir / "trials" / key / "checkpoints" / "final.pt").is_file()
        assert run.data.tags["mlflow.parentRunId"], "trial runs are nested under the study's parent run"
    from mlflow.tracking import MlflowClient

    from augmix_lab.tracking import TRACKING_TAGS

    client = MlflowClient(tracking_uri=f"sqlite:///{out_dir / 'mlflow.db'}")
    for run in runs:  # per-image predictions for the report's paired bootstrap, logged by the Tune trainable
        assert [a.path for a in client.list_artifacts(run.info.run_id, "predictions")] == ["predictions/predictions.npz"]
    parent = client.get_run(runs[0].data.tags["mlflow.parentRunId"])
    assert parent.data.tags[TRACKING_TAGS.baseline] == "standard"  # the study's `baseline:`, for the report
    client = MlflowClient(tracking_uri=f"sqlite:///{out_dir / 'mlflow.db'}")
    assert client.get_experiment(runs[0].info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    for run in runs:  # the UI's Dataset column: the training set and the benchmark it was scored on
        inputs = {d.dataset.name: {t.key: t.value for t in d.tags} for d in run.inputs.dataset_inputs}
        assert inputs == {"shapes": {"mlflow.data.context": "train"}, "shapes-C": {"mlflow.data.context": "eval"}}
    from augmix_lab import results

    df = results.load(out_dir)
    assert len(df) == 2 * (1 + 2 * 2) and df["error"].between(0, 100).all()  # clean + 2 corruptions x 2 severities
    import json

    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert [t["state"] for t in manifest["trials"]] == ["complete", "complete"]
    assert (out_dir / "ray").is_dir()


def test_second_run_trains_nothing(smoke_run, capsys: pytest.CaptureFixture[str]) -> None:
    code, study, out_dir = smoke_run
    assert code == 0
    before_runs = {(r.info.run_id, r.info.status, r.info.end_time) for r in trial_runs(out_dir)}
    before_ckpt = checkpoint_mtimes(out_dir)
    capsys.readouterr()
    assert main(["run", str(study), "--out", str(out_dir)]) == 0
    err = capsys.readouterr().err
    assert "2 complete, 0 to re-evaluate, 0 to train" in err
    assert "study file unchanged: 0 new, 2 reused, 0 orphaned" in err
    assert {(r.info.run_id, r.info.status, r.info.end_time) for r in trial_runs(out_dir)} == before_runs
    assert checkpoint_mtimes(out_dir) == before_ckpt


def test_changing_only_evaluation_re_scores_without_training(smoke_run, capsys: pytest.CaptureFixture[str]) -> None:
    code, study, out_dir = smoke_run
    assert code == 0
    edited = study.parent / "smoke_eval.yaml"
    edited.write_text(study.read_text().replace("severities: [1, 3]", "severities: [5]"))
    last_before = {k: v for k, v in checkpoint_mtimes(out_dir).items() if k.endswith("last.pt")}
    runs_before = {r.info.run_id for r in trial_runs(out_dir)}
    capsys.readouterr()
    assert main(["run", str(edited), "--out", str(out_dir)]) == 0
    err = capsys.readouterr().err
    assert "2 to re-evaluate, 0 to train" in err and err.count("RE-EVALUATED") == 2
    runs = trial_runs(out_dir)
    assert {r.info.run_id for r in runs} == runs_before, "re-evaluation logs into the existing runs"
    assert {k: v for k, v in checkpoint_mtimes(out_dir).items() if k.endswith("last.pt")} == last_before
    from augmix_lab.study import expand_study, read_study

    new_eval_keys = {t.eval_key for t in expand_study(read_study(edited))}
    assert {r.data.tags["augmix_lab.eval_key"] for r in runs} == new_eval_keys
    workers = [r.data.tags["augmix_lab.eval_worker"] for r in runs]  # "host:pid" of the process that scored it
    assert all(int(w.rsplit(":", 1)[1]) != os.getpid() for w in workers), "re-scored in Ray tasks, not the driver"


def test_re_evaluations_run_as_ray_tasks_and_a_broken_checkpoint_fails_alone(
        smoke_run, capsys: pytest.CaptureFixture[str]) -> None:
    code, study, out_dir = smoke_run
    assert code == 0
    edited = study.parent / "smoke_eval_broken.yaml"
    edited.write_text(study.read_text().replace("severities: [1, 3]", "severities: [2]"))
    runs = {r.data.tags["augmix_lab.variant"]: r for r in trial_runs(out_dir)}
    broken_key = runs["augmix"].data.tags["augmix_lab.trial_key"]
    (out_dir / "trials" / broken_key / "checkpoints" / "final.pt").write_bytes(b"not a checkpoint")
    fetched = out_dir / "trials" / runs["standard"].data.tags["augmix_lab.trial_key"] / "checkpoints" / "final.pt"
    fetched.unlink()  # the worker downloads it from the run's MLflow artifacts (a node without the study directory)
    capsys.readouterr()
    assert main(["run", str(edited), "--out", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert "2 to re-evaluate, 0 to train" in err
    assert err.count("RE-EVALUATED") == 1 and err.count("RE-EVALUATION FAILED") == 1
    assert "augmix" in err.split("RE-EVALUATION FAILED")[1].splitlines()[0]  # the failure names its trial and reason
    from augmix_lab.study import expand_study, read_study

    new_eval = {t.variant: t.eval_key for t in expand_study(read_study(edited))}
    after = {r.data.tags["augmix_lab.variant"]: r for r in trial_runs(out_dir)}
    assert after["standard"].data.tags["augmix_lab.eval_key"] == new_eval["standard"]
    assert after["augmix"].data.tags["augmix_lab.eval_key"] == runs["augmix"].data.tags["augmix_lab.eval_key"]
    worker = after["standard"].data.tags["augmix_lab.eval_worker"]
    assert int(worker.rsplit(":", 1)[1]) != os.getpid()
    assert fetched.is_file()
    import json

    states = {t["key"]: t["state"] for t in json.loads((out_dir / "manifest.json").read_text())["trials"]}
    assert states[broken_key] == "failed"


def test_cuda_oom_trial_is_repacked_into_a_bigger_gpu_share_and_finishes(
        ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13: an injected CUDA OOM in epoch 2 at 0.25 GPU -> one re-pack to 0.5 -> FINISHED, each epoch once."""
    from mlflow.tracking import MlflowClient

    from augmix_lab.study import expand_study, read_study
    from augmix_lab.tracking.reader import StoreReader

    study = tmp_path / "oom.yaml"
    study.write_text(SMOKE.read_text().replace("name: smoke", "name: oom").replace("epochs: 1", "epochs: 2")
                     .replace("cpus_per_trial: 1,", "cpus_per_trial: 1, gpus_per_trial: 0.25,")
                     .replace("  - {name: augmix, method: augmix, jsd: {arity: 3}}\n", ""))
    (trial,) = expand_study(read_study(study))
    monkeypatch.setenv("AUGMIX_LAB_INJECT_OOM", f"{trial.key}:2")
    out_dir = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out_dir)]) == 0
    err = capsys.readouterr().err
    assert "OUT OF GPU MEMORY" in err and "RE-PACKED" in err
    (run,) = trial_runs(out_dir)
    assert run.info.status == "FINISHED"
    assert run.data.tags["augmix_lab.repacks"] == "0.25->0.5"
    assert run.data.tags["augmix_lab.gpu_fraction"] == "0.5"
    assert (out_dir / "trials" / trial.key / ".oom_injected").read_text().startswith("epoch 2")
    uri = f"sqlite:///{out_dir / 'mlflow.db'}"
    raw_steps = sorted(m.step for m in MlflowClient(tracking_uri=uri).get_metric_history(run.info.run_id, "train_loss"))
    assert raw_steps == [1, 2], "every epoch logged exactly once across the OOM and the re-packed retry"
    assert [step for step, _ in StoreReader(uri).history(run.info.run_id, "train_loss")] == [1, 2]


def test_failed_trial_is_recorded_and_the_study_carries_on(ray_session, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "fails.yaml"
    study.write_text(SMOKE.read_text().replace("name: smoke", "name: fails").replace(
        "  - {name: augmix, method: augmix, jsd: {arity: 3}}",
        "  - {name: diverges, method: standard, jsd: {arity: 1}, train: {lr: 1.0e+30}}"))
    out_dir = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out_dir)]) == 1
    status = {r.data.tags["augmix_lab.variant"]: r for r in trial_runs(out_dir)}
    assert status["standard"].info.status == "FINISHED"
    assert status["diverges"].info.status == "FAILED"
    assert "non-finite" in status["diverges"].data.tags["augmix_lab.error"]
    assert "FAILED" in capsys.readouterr().err
    assert main(["status", str(study), "--out", str(out_dir)]) == 0  # the store's view, with the reason
    out = capsys.readouterr().out
    assert "1 done, 0 re-evaluate, 0 running, 1 failed, 0 to run" in out and "non-finite" in out


def test_killed_driver_finishes_on_rerun_with_every_trial_once(ray_session, tmp_path: Path) -> None:
    study = tmp_path / "killed.yaml"
    study.write_text(SMOKE.read_text().replace("name: smoke", "name: killed").replace("epochs: 1", "epochs: 3"))
    out_dir = tmp_path / "out"
    log = tmp_path / "driver.log"
    env = {**os.environ, "AUGMIX_LAB_DATA": os.environ["AUGMIX_LAB_DATA"]}
    with open(log, "w") as fh:
        driver = subprocess.Popen(
            [sys.executable, "-m", "augmix_lab.cli.main", "run", str(study), "--out", str(out_dir), "--max-concurrent", "1"],
            stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "FINISHED" not in log.read_text():
            assert driver.poll() is None, f"driver exited early: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no trial finished in time: {log.read_text()[-2000:]}"
            time.sleep(0.5)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started, as a machine crash would
        driver.wait(timeout=60)
    before = trial_runs(out_dir)
    done_before = [r for r in before if r.info.status == "FINISHED"]
    unfinished_before = [r.info.run_id for r in before if r.info.status != "FINISHED"]
    assert len(done_before) == 1
    assert main(["run", str(study), "--out", str(out_dir)]) == 0
    runs = trial_runs(out_dir)
    keys = [r.data.tags["augmix_lab.trial_key"] for r in runs]
    assert len(keys) == len(set(keys)) == 2, "every trial exactly once in MLflow"
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {done_before[0].info.run_id, *unfinished_before} <= {r.info.run_id for r in runs}, "runs are reused"
    finished_first = next(r for r in runs if r.info.run_id == done_before[0].info.run_id)
    assert finished_first.info.end_time == done_before[0].info.end_time, "a finished trial is never re-run"
