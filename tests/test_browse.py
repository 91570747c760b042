"""Browsing results: the experiment-kind tag, dataset run inputs, system metrics, `results.load`, `augmix-lab status`,
the report's baseline tag, and the MLflow UI in a real headless Chromium.

One real SQLite store per module, filled through ``augmix_lab.tracking`` with the trial keys of ``studies/smoke.yaml``
(one trial FINISHED with a scorecard and its datasets, one FAILED with a reason); read back with MLflow's search API.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from ui_wait import wait_for_ui

from augmix_lab import results
from augmix_lab.cli.main import main
from augmix_lab.orchestration.plan import experiment_for, load_plan
from augmix_lab.orchestration.trainable import dataset_records
from augmix_lab.report.loading import load_study_runs
from augmix_lab.tracking import TRACKING_TAGS, StudyTracker, TrialLogger, resolve_tracking
from augmix_lab.tracking.system import start_system_metrics, stop_system_metrics
from augmix_lab.tracking.tags import EXPERIMENT_KIND_TRAINING

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.yaml"
FAILURE = "TrialFailed: non-finite loss 'nan' at epoch 1 batch 3"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Filled:
    study: Path
    out_dir: Path
    uri: str
    experiment: str
    parent_id: str
    done: str  # run id of the finished trial
    failed: str


def _table(seed: int) -> pd.DataFrame:
    """A tidy scorecard table as evaluation logs it: clean + 2 corruptions x 2 severities generated on the fly."""
    rows = [{"benchmark": "clean", "corruption": "clean", "severity": 0, "error": 10.0 + seed, "n": 128,
             "source": "test"}]  # fmt: skip
    rows += [{"benchmark": "C", "corruption": c, "severity": s, "error": 20.0 + 5 * s + i, "n": 128,
              "source": "on_the_fly"} for i, c in enumerate(("gaussian_noise", "contrast")) for s in (1, 3)]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    base = tmp_path_factory.mktemp("browse")
    study = base / "smoke.yaml"
    shutil.copy(SMOKE, study)
    out_dir = base / "smoke"  # named like the study, as `runs/<name>` is
    plan = load_plan(study, str(out_dir))
    uri, artifacts = resolve_tracking(None, out_dir)
    tracker = StudyTracker(uri, experiment_for(plan.study), artifacts)
    parent = tracker.start_study(plan.study.name, plan.study.hash, plan.study.text, baseline="standard")
    ids = []
    for t in plan.trials:
        run_id, _ = tracker.trial_run(parent, t.key, study=plan.study.name, variant=t.variant, seed=t.seed,
                                      axes=t.axes, params=t.config.training_dict(), config_yaml="{}\n",
                                      eval_key=t.eval_key)
        ids.append(run_id)
    done, failed = ids
    logger = TrialLogger(uri, done)
    logger.log_datasets(dataset_records(plan.trials[0].config))
    logger.log_epoch(1, {"train_loss": 2.0, "test_error": 50.0})
    logger.log_scorecard({"clean_error": 10.0, "mean_corruption_error": 31.0}, _table(0))
    logger.log_datasets(dataset_records(plan.trials[0].config, _table(0)))
    logger.set_status("FINISHED")
    TrialLogger(uri, failed).set_status("FAILED", f"{FAILURE}\nTraceback (most recent call last): ...")
    return Filled(study, out_dir, uri, experiment_for(plan.study), parent, done, failed)


def _client(filled: Filled) -> MlflowClient:
    return MlflowClient(tracking_uri=filled.uri)


def test_experiment_is_tagged_as_model_training_and_a_kind_chosen_in_the_ui_is_kept(filled: Filled) -> None:
    client = _client(filled)
    (exp,) = client.search_experiments(filter_string=f"tags.`{TRACKING_TAGS.experiment_kind}` = "
                                                     f"'{EXPERIMENT_KIND_TRAINING}'")
    assert exp.name == filled.experiment
    client.set_experiment_tag(exp.experiment_id, TRACKING_TAGS.experiment_kind, "genai_development")
    StudyTracker(filled.uri, filled.experiment)  # a re-run of the study
    assert client.get_experiment(exp.experiment_id).tags[TRACKING_TAGS.experiment_kind] == "genai_development"
    client.delete_experiment_tag(exp.experiment_id, TRACKING_TAGS.experiment_kind)  # a store from before the tag
    StudyTracker(filled.uri, filled.experiment)
    assert client.get_experiment(exp.experiment_id).tags[TRACKING_TAGS.experiment_kind] == EXPERIMENT_KIND_TRAINING


def test_training_set_and_benchmark_are_run_inputs_found_by_mlflow_search(filled: Filled) -> None:
    client = _client(filled)
    exp = client.get_experiment_by_name(filled.experiment)
    (run,) = client.search_runs([exp.experiment_id], "dataset.name = 'shapes-C' and dataset.context = 'eval'")
    assert run.info.run_id == filled.done
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["shapes", "shapes-C"]  # logged twice (start, evaluation): kept once
    train = inputs["shapes"]
    assert {t.key: t.value for t in train.tags} == {TRACKING_TAGS.data_context: "train"}
    version = dataset_records(load_plan(filled.study, str(filled.out_dir)).trials[0].config)[0].version
    assert train.dataset.digest == hashlib.sha256(version.encode()).hexdigest()[:12]
    assert json.loads(train.dataset.source)["options"] == {"n_train": 256, "n_test": 128}
    bench = inputs["shapes-C"].dataset
    assert json.loads(bench.source) == {"dataset": "shapes", "benchmark": "C", "source": "on_the_fly"}
    assert json.loads(bench.profile) == {"cells": 4, "corruptions": 2, "severities": [1, 3], "images": 512}


def test_results_load_is_tidy_with_numeric_errors_and_trial_columns(filled: Filled, monkeypatch) -> None:  # noqa: ANN001
    df = results.load(filled.uri, experiment=filled.experiment)
    assert len(df) == 5  # the finished trial's clean row + 2 corruptions x 2 severities; the failed trial has none
    assert pd.api.types.is_float_dtype(df["error"]) and pd.api.types.is_integer_dtype(df["severity"])
    row = df[(df.corruption == "contrast") & (df.severity == 3)].iloc[0]
    assert row.error == 36.0 and row.variant == "standard" and row.seed == 0 and row.run_id == filled.done
    assert row.method == "standard" and row.model == "small_cnn" and row["dataset.name"] == "shapes"
    monkeypatch.setenv("AUGMIX_LAB_RUNS", str(filled.out_dir.parent))
    pd.testing.assert_frame_equal(results.load("smoke"), df)  # a study name: runs/<name>/mlflow.db
    pd.testing.assert_frame_equal(results.load(filled.study), df)  # the study file: its store and experiment


def test_status_lists_done_failed_with_reason_and_to_run(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert main(["status", str(filled.study), "--out", str(filled.out_dir)]) == 0
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert "1 done, 0 re-evaluate, 0 running, 1 failed, 0 to run" in out
    assert FAILURE in out and "Traceback" not in out  # the reason's first line
    assert elapsed < 30  # about a second on an idle machine; no Ray, one search


def test_report_reads_the_baseline_tag_and_falls_back_to_the_study_file_only_for_older_stores(filled: Filled) -> None:
    assert load_study_runs(filled.uri, filled.experiment, with_predictions=False).baseline == "standard"
    tracker = StudyTracker(filled.uri, "no-baseline")
    tracker.start_study("nb", "h", "name: nb\nbaseline: augmix\n", baseline="")  # the driver: the study has none
    assert load_study_runs(filled.uri, "no-baseline", with_predictions=False).baseline is None
    old = StudyTracker(filled.uri, "older-store")
    old.start_study("old", "h", "name: old\nbaseline: augmix\n")  # no tag written: a store from before the tag
    assert load_study_runs(filled.uri, "older-store", with_predictions=False).baseline == "augmix"


def test_system_metrics_off_or_unavailable_is_a_silent_no_op(filled: Filled, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    assert start_system_metrics(filled.uri, filled.done) is None
    monkeypatch.delenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # psutil missing
    assert start_system_metrics(filled.uri, filled.done) is None
    stop_system_metrics(None)


@pytest.mark.skipif(__import__("importlib").util.find_spec("psutil") is None,
                    reason="psutil is not installed (MLflow's system-metrics sampler needs it)")
def test_system_metrics_are_sampled_into_a_running_trial(filled: Filled, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", raising=False)
    client = _client(filled)
    run = client.create_run(client.get_experiment_by_name(filled.experiment).experiment_id)
    monitor = start_system_metrics(filled.uri, run.info.run_id, interval_s=0.2)
    assert monitor is not None
    time.sleep(1.0)
    stop_system_metrics(monitor)
    metrics = client.get_run(run.info.run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics and "system/system_memory_usage_megabytes" in metrics


# ---- the MLflow UI in a real browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui_url(filled: Filled) -> Iterator[str]:
    """`augmix-lab ui --study DIR --port 0` over the filled store: the page URL it prints."""
    log = filled.out_dir / "ui.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "augmix_lab.cli.main", "ui", "--study", str(filled.out_dir),
                                 "--port", "0"], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        found = wait_for_ui(proc, log, r"http://127\.0\.0\.1:\d+/#\S*")
        yield found.group(0)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _dom(url: str, profile: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--window-size=1600,1000", "--virtual-time-budget=20000", "--dump-dom", url]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_ui_opens_on_the_runs_table_and_trials_show_parent_and_datasets(filled: Filled, ui_url: str,
                                                                        tmp_path: Path) -> None:
    exp_id = _client(filled).get_experiment_by_name(filled.experiment).experiment_id
    assert ui_url.endswith(f"/#/experiments/{exp_id}/runs?workflowType=machine_learning")
    runs_page = _dom(ui_url, tmp_path / "profile-runs")
    assert "matching runs" in runs_page and ">smoke<" in runs_page  # the runs table with the study's parent run
    assert "Detect Issues" not in runs_page and "Token Usage" not in runs_page  # not the GenAI overview
    base = ui_url.split("/#/")[0]
    trial_page = _dom(f"{base}/#/experiments/{exp_id}/runs/{filled.done}?workflowType=machine_learning",
                      tmp_path / "profile-trial")
    assert "Parent run" in trial_page and ">smoke<" in trial_page  # nested under the study's run
    digest = dataset_records(load_plan(filled.study, str(filled.out_dir)).trials[0].config)[0].digest
    assert f"shapes ({digest})" in trial_page.replace("<!-- -->", "")  # the Datasets section
    assert "System metrics" in trial_page
