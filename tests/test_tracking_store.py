"""A tiny fake study through the tracking API, against an embedded SQLite store AND a real `mlflow server`.

The server is the one `augmix-lab ui --study DIR --port 0` starts (one server process for the whole module), so the
same fixture also proves that `ui` prints a URL that serves HTTP 200 and stops its server on SIGTERM.
Everything is read back with plain `mlflow.search_runs` / `MlflowClient`, the way the report reads it.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import mlflow
import pandas as pd
import pytest
import requests
import torch
from mlflow import MlflowClient

from ui_wait import wait_for_ui

from augmix_lab.paths import default_tracking_uri
from augmix_lab.tracking import TRACKING_TAGS, StudyTracker, TrialLogger, metric_history, resolve_tracking



def _error_percent(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) != y).float().mean().item()


def _tiny_model_and_data(seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(6, 3)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 6, generator=g))
        model.bias.copy_(torch.randn(3, generator=g))
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(123))
    y = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(321))
    return model, x, y


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`augmix-lab ui` over a fresh study folder: its printed URL, the folder, and its log files."""
    study = tmp_path_factory.mktemp("served-study")
    StudyTracker(default_tracking_uri(study), "bootstrap")  # the embedded store `ui --study` expects
    out_log, err_log = study / "ui.stdout", study / "ui.stderr"
    with open(out_log, "w") as out, open(err_log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "augmix_lab.cli.main", "ui", "--study", str(study),
                                 "--port", "0"], stdout=out, stderr=err, start_new_session=True)
    try:
        url = wait_for_ui(proc, out_log, detail=lambda: f"out={out_log.read_text()!r} "
                                                       f"err={err_log.read_text()[-2000:]!r}").group(0)
        yield {"url": url, "study": study, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # ui turns SIGTERM into a clean stop of its server's process group
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def sqlite_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedded store for the module (creating MLflow's schema costs seconds); tests use own experiments."""
    return tmp_path_factory.mktemp("embedded-study")


@pytest.fixture(params=["sqlite", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    """Where the fake study logs: (uri, artifact location, folder where artifact files must land)."""
    if request.param == "sqlite":
        study = request.getfixturevalue("sqlite_study")
        uri, artifacts = resolve_tracking(None, study)
        return {"uri": uri, "artifacts": artifacts, "files": study / "mlartifacts"}
    server = request.getfixturevalue("ui_server")
    uri, artifacts = resolve_tracking(server["url"], tmp_path)
    assert artifacts is None  # proxied: the server stores artifacts beside its own store
    return {"uri": uri, "artifacts": None, "files": server["study"] / "mlartifacts"}


@pytest.mark.slow
@pytest.mark.integration
def test_ui_serves_http_200_on_its_printed_url(ui_server: dict) -> None:
    page = requests.get(ui_server["url"], timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()


@pytest.mark.slow
@pytest.mark.integration
def test_fake_study_is_complete_and_readable_with_plain_mlflow(backend: dict, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    uri = backend["uri"]
    experiment = f"fake-{tmp_path.name}"
    tracker = StudyTracker(uri, experiment, backend["artifacts"])
    parent = tracker.start_study("fake", "studyhash1", "name: fake\nvariants: [standard, augmix]\n",
                                 tags={TRACKING_TAGS.baseline: "standard"})
    assert tracker.start_study("fake", "studyhash1", "name: fake\n") == parent  # one parent per study

    expected = {}
    for seed, variant in enumerate(["standard", "augmix"]):
        key = f"key{seed}"
        run_id, outcome = tracker.trial_run(
            parent, key, study="fake", variant=variant, seed=seed, axes={"variant": variant},
            params={"model": "small_cnn", "method": variant, "augmix": {"width": 3}, "seed": seed},
            config_yaml=f"method: {variant}\n", eval_key="eval0")
        assert outcome == "created"
        logger = TrialLogger(uri, run_id)
        for epoch in (1, 2):
            assert logger.log_epoch(epoch, {"train_loss": 2.0 / epoch, "test_error": 50.0 / epoch, "lr": 0.1})
        model, x, y = _tiny_model_and_data(seed)
        error = _error_percent(model, x, y)
        table = pd.DataFrame({"benchmark": ["c", "c"], "corruption": ["fog", "fog"], "severity": [1, 2],
                              "error": [error + 1, error + 2], "n": [64, 64]})
        logger.log_scorecard({"clean_error": error, "mean_corruption_error": error + 1.5}, table)
        checkpoint = tmp_path / f"trial{seed}" / "model.pt"
        checkpoint.parent.mkdir()
        torch.save({"model": model.state_dict(), "epoch": 2}, checkpoint)
        assert logger.log_checkpoint(checkpoint, "final") == "checkpoints/final.pt"
        logger.set_status("FINISHED")
        expected[run_id] = (variant, seed, error, table)
    failed_id, _ = tracker.trial_run(parent, "key-broken", study="fake", variant="broken", seed=0, axes={},
                                     params={"model": "small_cnn"}, config_yaml="", eval_key="eval0")
    TrialLogger(uri, failed_id).set_status("FAILED", "TrialFailed: non-finite loss")
    tracker.finish_study(parent, "FINISHED")

    # plain mlflow, as the report reads it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="pandas")
    assert len(runs) == 4
    trials = runs[runs[f"tags.{TRACKING_TAGS.role}"] == "trial"]
    assert set(trials[f"tags.{TRACKING_TAGS.parent_run_id}"]) == {parent}
    client = MlflowClient(uri)
    study_run = client.get_run(parent)
    assert study_run.info.status == "FINISHED"
    assert study_run.data.tags[TRACKING_TAGS.baseline] == "standard"
    assert study_run.data.tags[TRACKING_TAGS.study_hash] == "studyhash1"
    assert study_run.data.tags[TRACKING_TAGS.version_prefix + "torch"] == torch.__version__.split("+")[0]
    assert "study.yaml" in {a.path for a in client.list_artifacts(parent)}

    for run_id, (variant, seed, error, table) in expected.items():
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        tags = run.data.tags
        assert (tags[TRACKING_TAGS.variant], tags[TRACKING_TAGS.seed]) == (variant, str(seed))
        assert tags[TRACKING_TAGS.axes] == f'{{"variant": "{variant}"}}'
        assert run.data.params["augmix.width"] == "3" and run.data.params["method"] == variant
        assert metric_history(uri, run_id, "test_error") == [(1, 50.0), (2, 25.0)]
        assert run.data.metrics["clean_error"] == pytest.approx(error)
        artifacts = {a.path for a in client.list_artifacts(run_id)}
        assert {"trial_config.yaml", "scorecard", "checkpoints"} <= artifacts
        csv = Path(client.download_artifacts(run_id, "scorecard/table.csv", str(tmp_path / f"dl{seed}")))
        pd.testing.assert_frame_equal(pd.read_csv(csv), table)

        # the checkpoint comes back from the store, loads safely, and reproduces the logged error
        local = TrialLogger(uri, run_id).download_checkpoint("final", tmp_path / f"restore{seed}")
        assert local.name == "final.pt"
        state = torch.load(io.BytesIO(local.read_bytes()), weights_only=True)
        model, x, y = _tiny_model_and_data(seed=99)  # different weights until the checkpoint is loaded
        model.load_state_dict(state["model"])
        assert _error_percent(model, x, y) == pytest.approx(run.data.metrics["clean_error"])
        stored = list(backend["files"].glob(f"**/{run_id}/artifacts/checkpoints/final.pt"))
        assert len(stored) == 1  # the file really lives in the study's artifact folder

    failed = client.get_run(failed_id)
    assert failed.info.status == "FAILED" and failed.data.tags[TRACKING_TAGS.error] == "TrialFailed: non-finite loss"
    finished_ids = list(expected)
    completed = tracker.completed_trials()
    assert (completed["key0"], completed["key1"]) == tuple(finished_ids) and "key-broken" not in completed
    assert tracker.completed_trials(["key1", "key-broken", "nope"]) == {"key1": finished_ids[1]}


@pytest.mark.slow
@pytest.mark.integration
def test_resume_after_crash_logs_each_epoch_once(backend: dict, tmp_path: Path) -> None:
    uri = backend["uri"]
    tracker = StudyTracker(uri, f"resume-{tmp_path.name}", backend["artifacts"])
    parent = tracker.start_study("resume", "h", "name: resume\n")
    run_id, _ = tracker.trial_run(parent, "k", study="resume", variant="v", seed=0, axes={}, params={},
                                  config_yaml="", eval_key="e")
    first = TrialLogger(uri, run_id)
    for epoch in (1, 2, 3):
        first.log_epoch(epoch, {"train_loss": float(epoch), "lr": 0.1})
    # "crash": the driver re-runs the study, finds the unfinished run, a fresh worker replays from epoch 1
    again, outcome = tracker.trial_run(parent, "k", study="resume", variant="v", seed=0, axes={}, params={},
                                       config_yaml="", eval_key="e")
    assert (again, outcome) == (run_id, "resumed")
    second = TrialLogger(uri, again)
    assert second.last_logged_epoch() == 3
    logged = [second.log_epoch(epoch, {"train_loss": 10.0 + epoch, "lr": 0.1}) for epoch in (1, 2, 3, 4, 5)]
    assert logged == [False, False, False, True, True]
    raw = MlflowClient(uri).get_metric_history(run_id, "train_loss")
    assert sorted(m.step for m in raw) == [1, 2, 3, 4, 5]  # each step exactly once, no overlap
    assert metric_history(uri, run_id, "train_loss") == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 14.0), (5, 15.0)]

    # a finished trial is never reopened: asking again gives a fresh nested run
    second.set_status("FINISHED")
    fresh, outcome = tracker.trial_run(parent, "k", study="resume", variant="v", seed=0, axes={}, params={},
                                       config_yaml="", eval_key="e")
    assert outcome == "created" and fresh != run_id
