"""Several trial PROCESSES logging into one embedded SQLite store at once: no lock errors, nothing lost."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from augmix_lab.tracking import TRACKING_TAGS, StudyTracker, TrialLogger, metric_history, resolve_tracking

N_TRIALS = 4
EPOCHS = 6
METRICS_PER_EPOCH = ("train_loss", "train_error", "test_error", "lr", "epoch_time_s", "images_per_s")


def _expected(trial: int, epoch: int, name: str) -> float:
    return trial * 1000 + epoch * 10 + METRICS_PER_EPOCH.index(name)


def _trial_worker(args: tuple[TrialLogger, int, str]) -> str:
    """What a Ray worker does with the logger it was handed: epochs, scorecard, checkpoint, status."""
    logger, trial, workdir = args
    for epoch in range(1, EPOCHS + 1):
        assert logger.log_epoch(epoch, {m: _expected(trial, epoch, m) for m in METRICS_PER_EPOCH})
    table = pd.DataFrame({"corruption": ["fog", "snow"], "severity": [1, 1], "error": [trial + 0.5, trial + 1.5]})
    logger.log_scorecard({"clean_error": float(trial), "mean_corruption_error": trial + 1.0}, table)
    checkpoint = Path(workdir) / f"trial{trial}.pt"
    checkpoint.write_bytes(bytes([trial]) * 4096)
    logger.log_checkpoint(checkpoint, "final")
    logger.set_status("FINISHED")
    return logger.run_id


@pytest.mark.slow
def test_concurrent_trial_processes_keep_the_sqlite_store_intact(tmp_path: Path) -> None:
    uri, artifacts = resolve_tracking(None, tmp_path)
    tracker = StudyTracker(uri, "concurrent", artifacts)
    parent = tracker.start_study("concurrent", "h", "name: concurrent\n")
    run_ids = [tracker.trial_run(parent, f"key{i}", study="concurrent", variant=f"v{i}", seed=i, axes={},
                                 params={"model": "small_cnn", "seed": i}, config_yaml="", eval_key="e")[0]
               for i in range(N_TRIALS)]
    jobs = [(TrialLogger(uri, run_id), i, str(tmp_path)) for i, run_id in enumerate(run_ids)]
    with multiprocessing.get_context("spawn").Pool(N_TRIALS) as pool:  # spawn: like Ray, no inherited state
        assert pool.map(_trial_worker, jobs) == run_ids

    client = MlflowClient(uri)
    for i, run_id in enumerate(run_ids):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.tags[TRACKING_TAGS.parent_run_id] == parent
        for name in METRICS_PER_EPOCH:
            assert metric_history(uri, run_id, name) == [(e, _expected(i, e, name)) for e in range(1, EPOCHS + 1)]
        assert len(client.get_metric_history(run_id, "train_loss")) == EPOCHS  # no duplicate rows
        assert run.data.metrics["clean_error"] == i and run.data.metrics["mean_corruption_error"] == i + 1
        table = pd.read_csv(client.download_artifacts(run_id, "scorecard/table.csv", str(tmp_path / f"t{i}")))
        assert table["error"].tolist() == [i + 0.5, i + 1.5]
        ckpt = Path(client.download_artifacts(run_id, "checkpoints/final.pt", str(tmp_path / f"c{i}")))
        assert ckpt.read_bytes() == bytes([i]) * 4096
    assert tracker.completed_trials() == {f"key{i}": run_id for i, run_id in enumerate(run_ids)}
