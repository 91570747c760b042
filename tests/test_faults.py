"""Fault injection (issue 27): every fault that lost data or left the store wrong, driven on purpose, on a real MLflow
SQLite store, real checkpoints, real study files and the real CLI.

Two drivers on one study, a take-over between an epoch and its checkpoint, Ctrl-C, a driver crash, a full disk,
truncated / unreadable checkpoints, a truncated, empty or random-bytes ``mlflow.db`` and a truncated CIFAR batch.
Kept fast: one MLflow store for the module (creating one costs seconds) that every study here points its
``tracking.uri`` at, tiny in-process trials instead of Ray where the worker's side is what is tested, and the Ray
paths (a worker that dies in every attempt, Ctrl-C inside a Tune run) in one ``slow`` test.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from mlflow import MlflowClient

from augmix_lab.cli.main import main
from augmix_lab.cli.status_cmd import study_status
from augmix_lab.config import TrialConfig
from augmix_lab.errors import UserError
from augmix_lab.orchestration import runner, trainable
from augmix_lab.orchestration.lock import DriverLock, driver_lock, read_holder
from augmix_lab.tracking import TRACKING_TAGS, StudyTracker, TrialLogger, resolve_tracking
from augmix_lab.training.checkpoint import choose_resume, load_checkpoint, previous_path, save_atomic

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = "faults"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, StudyTracker, str, Path]:
    """(uri, tracker, parent run id, the store's folder): one MLflow store for the whole module."""
    folder = tmp_path_factory.mktemp("faults-store")
    uri, artifacts = resolve_tracking(None, folder)
    tracker = StudyTracker(uri, EXPERIMENT, artifacts)
    return uri, tracker, tracker.start_study(EXPERIMENT, "h", f"name: {EXPERIMENT}\n"), folder


def tiny_config(epochs: int = 3, seed: int = 0) -> TrialConfig:
    """A trial of a second or two: 64 shapes images, small_cnn, clean evaluation only."""
    return TrialConfig.model_validate({
        "dataset": {"name": "shapes", "options": {"n_train": 64, "n_test": 32}}, "model": "small_cnn",
        "epochs": epochs, "seed": seed, "method": "standard", "jsd": {"arity": 1},
        "train": {"batch_size": 32, "threads": 1}, "eval": {"corruptions": {"enabled": False}, "calibration": False},
        "device": "cpu"})


def new_run(store: tuple, key: str, launch: str = "launch-1") -> str:
    _, tracker, parent, _ = store
    run_id, _ = tracker.trial_run(parent, key, study=EXPERIMENT, variant="v", seed=0, axes={}, params={},
                                  config_yaml="{}\n", eval_key="e0", launch=launch)
    return run_id


def train(store: tuple, key: str, run_id: str, out: Path, cfg: TrialConfig, launch: str = "launch-1") -> None:
    """The Tune trainable, in this process (no Tune session: its reports are dropped)."""
    trainable.train_trial({"trial_key": key}, trials={key: {"config": cfg.model_dump(mode="json"), "run_id": run_id,
                                                          "launch": launch}},
                          tracking_uri=store[0], out_dir=str(out))


def logged_epochs(uri: str, run_id: str) -> list[int]:
    """Every train_loss row of the run, duplicates included."""
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run_id, "train_loss"))


@pytest.fixture()
def no_reports(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    reports: list[dict] = []
    monkeypatch.setattr(trainable, "_report", lambda metrics, checkpoint_dir=None: reports.append(metrics))
    return reports


def study_file(tmp_path: Path, store: tuple, name: str, variants: str = "", epochs: int = 2) -> Path:
    """A two-trial study (more with ``variants``: YAML list items) logging into the module's store."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        tracking: {{uri: "{store[0]}"}}
        resources: {{cpus_per_trial: 1, retries: 0}}
        base:
          dataset: {{name: shapes, options: {{n_train: 64, n_test: 32}}}}
          model: small_cnn
          epochs: {epochs}
          train: {{batch_size: 32, threads: 1}}
          eval: {{corruptions: {{enabled: false}}, calibration: false}}
        variants:
          - {{name: standard, method: standard, jsd: {{arity: 1}}}}
          - {{name: cutout, method: cutout, jsd: {{arity: 1}}}}
        """) + variants + "seeds: [0]\n")
    return path


# ---- 1. one driver per study ------------------------------------------------------------------------------------------

HOLD = "import sys, time; from augmix_lab.orchestration.lock import DriverLock; DriverLock(sys.argv[1]).acquire(); " \
       "print('locked', flush=True); time.sleep(120)"
TAKE = "import sys; from augmix_lab.errors import UserError; from augmix_lab.orchestration.lock import DriverLock\n" \
       "try:\n    DriverLock(sys.argv[1]).acquire()\nexcept UserError:\n    print('refused', flush=True)\n" \
       "else:\n    print('took', flush=True); sys.stdin.read()"


def _python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env, **kwargs)


def test_a_second_driver_exits_2_naming_the_first_while_status_keeps_working(
        store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study, out = study_file(tmp_path, store, "two_drivers"), tmp_path / "out"
    holder = _python(HOLD, str(out))
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["run", str(study), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid} on {socket.gethostname()}" in err and "another `augmix-lab run`" in err
        assert len([line for line in err.splitlines() if line.startswith("augmix-lab:")]) == 1
        assert main(["status", str(study), "--out", str(out)]) == 0  # readers never take the lock
        assert f"driver: pid {holder.pid} on {socket.gethostname()}" in capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert read_holder(out).pid == holder.pid and read_holder(out).alive() is False  # a stale lock file remains
    with driver_lock(out):  # ... and is taken over at once
        assert read_holder(out).pid == os.getpid() and read_holder(out).alive()


def test_status_of_the_study_last_run_reads_no_torch_and_no_mlflow_and_accepts_set(
        store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``status`` while a driver runs: the trial list from the run's manifest, the store through plain SQL (what
    keeps it near half a second of CPU); ``--set`` of another study shape expands that shape instead."""
    from augmix_lab.orchestration.plan import load_plan
    from augmix_lab.study.manifest import write_manifest

    study, out = study_file(tmp_path, store, "watched"), tmp_path / "out"
    plan = load_plan(study, str(out))
    write_manifest(out, plan.study, plan.trials, {})
    tracker = StudyTracker(store[0], "watched")
    parent = tracker.start_study("watched", plan.study.hash, plan.study.text)
    first = plan.trials[0]
    run_id, _ = tracker.trial_run(parent, first.key, study="watched", variant=first.variant, seed=0, axes={},
                                  params={}, config_yaml="{}\n", eval_key=first.eval_key, launch="l")
    TrialLogger(store[0], run_id, "l").set_status("RUNNING")
    TrialLogger(store[0], run_id, "l").log_epoch(1, {"train_loss": 1.0})
    check = ("import sys; from augmix_lab.cli.main import main; code = main(sys.argv[1:]); "
             "heavy = [m for m in ('torch', 'mlflow', 'ray') if m in sys.modules]; "
             "print('heavy', heavy); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", check, "status", str(study), "--out", str(out)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "heavy []" in proc.stdout and "0 done, 0 re-evaluate, 1 running, 0 failed, 1 to run" in proc.stdout
    assert "epoch 1/2" in proc.stdout
    assert main(["status", str(study), "--out", str(out), "--set", "seeds=[0,1]"]) == 0
    assert "0 done, 0 re-evaluate, 1 running, 0 failed, 3 to run" in capsys.readouterr().out


def test_two_processes_taking_over_a_stale_lock_at_once_cannot_both_win(tmp_path: Path) -> None:
    dead = _python("import os; print(os.getpid())")
    dead.wait()
    pid = dead.stdout.read().strip()
    dead.stdout.close()
    (tmp_path / "driver.lock").write_text(f'{{"host": "{socket.gethostname()}", "pid": {pid}, '
                                          '"started": "earlier"}\n')
    racers = [_python(TAKE, str(tmp_path), stdin=subprocess.PIPE) for _ in range(2)]
    try:
        answers = sorted(r.stdout.readline().strip() for r in racers)
    finally:
        for r in racers:
            r.kill()
            r.wait()
            r.stdout.close()
            r.stdin.close()
    assert answers == ["refused", "took"]


def test_a_take_over_between_an_epoch_and_its_checkpoint_loses_no_epoch(
        store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_reports) -> None:
    """The interleaving that lost epoch 2: a second driver takes the trial over while the first one's worker is between
    training epoch 2 and writing its checkpoint. The old worker must stop without a checkpoint the new one would skip."""
    key, out, cfg = "take-over", tmp_path / "out", tiny_config(epochs=3)
    run_id = new_run(store, key, "driver-1")
    real_log_epoch = TrialLogger.log_epoch

    def log_epoch(self: TrialLogger, epoch: int, metrics: dict) -> bool:
        if self.launch == "driver-1" and epoch == 2:
            new_run(store, key, "driver-2")  # what the second `augmix-lab run` does to each unfinished trial
        return real_log_epoch(self, epoch, metrics)

    monkeypatch.setattr(TrialLogger, "log_epoch", log_epoch)
    train(store, key, run_id, out, cfg, "driver-1")
    last = out / "trials" / key / "checkpoints" / "last.pt"
    assert load_checkpoint(last)["epoch"] == 1, "no checkpoint past the last logged epoch"
    train(store, key, run_id, out, cfg, "driver-2")
    assert logged_epochs(store[0], run_id) == [1, 2, 3]
    assert MlflowClient(store[0]).get_run(run_id).info.status == "FINISHED"


# ---- 2. every way a run ends leaves the store true --------------------------------------------------------------------

def _trial_runs(uri: str, study: str) -> dict[str, Any]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], f"tags.`{TRACKING_TAGS.role}` = 'trial'")
    return {r.data.tags[TRACKING_TAGS.variant]: r for r in runs}


def _parent(uri: str, study: str) -> Any:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(study)
    return client.search_runs([exp.experiment_id], f"tags.`{TRACKING_TAGS.role}` = 'study'")[0]


@pytest.mark.parametrize(("fault", "code", "message"), [
    (KeyboardInterrupt, 130, "augmix-lab: interrupted: re-run the same command to resume"),
    (lambda: RuntimeError("boom in the driver"), 1, "RuntimeError: boom in the driver"),
    (lambda: OSError(errno.ENOSPC, "No space left on device"), 1, "no space left on "),
])
def test_the_driver_stopping_early_leaves_every_run_true_and_status_agrees(
        store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        fault: Any, code: int, message: str) -> None:
    """Ctrl-C, a crash and a full disk in the driver while the first trial runs its second epoch and the second one
    waits: the first ends interrupted, the second stays to run, the parent run ends KILLED / FAILED with the reason."""
    name = f"ends_{code}_{len(message)}"
    study, out = study_file(tmp_path, store, name), tmp_path / "out"

    def waves(plan: Any, uri: str, run_ids: dict, launch: str, *args: Any) -> Any:
        first = plan.todo[0].key
        logger = TrialLogger(uri, run_ids[first], launch)  # what the first trial's worker has done so far
        logger.set_status("RUNNING")
        logger.log_epoch(1, {"train_loss": 1.0})
        raise fault()

    monkeypatch.setattr(runner, "ray_session", lambda *args: runner.nullcontext())
    monkeypatch.setattr(runner, "run_waves", waves)
    assert main(["run", str(study), "--out", str(out)]) == code
    err = capsys.readouterr().err
    assert message in err
    runs = _trial_runs(store[0], name)
    started, queued = runs["standard"], runs["cutout"]
    assert started.info.status == "KILLED" and queued.info.status == "SCHEDULED"
    kind = "interrupted" if code == 130 else "driver_failed"
    assert started.data.tags[TRACKING_TAGS.stopped] == kind and "after epoch 1" in started.data.tags[TRACKING_TAGS.note]
    parent = _parent(store[0], name)
    assert parent.info.status == ("KILLED" if code == 130 else "FAILED")
    assert message.split(": ", 1)[-1] in parent.data.tags[TRACKING_TAGS.error]
    if "no space" in message:
        assert f"no space left on {out} (need about" in err and "MB for each trial's checkpoints" in err
    assert main(["status", str(study), "--out", str(out)]) == 0
    status = capsys.readouterr().out
    assert "0 done, 0 re-evaluate, 0 running, 1 interrupted, 0 failed, 1 to run" in status
    assert "driver: none running" in status
    rows = {r.label.split("-")[0]: r for r in study_status(str(study), str(out))[1]}
    assert rows["standard"].detail.endswith("after epoch 1; re-run to resume") and rows["cutout"].detail == ""


def test_a_worker_that_died_in_each_attempt_ends_failed_with_the_reason(store) -> None:
    """Ray gave up on a trial whose worker was killed every time: nothing in the worker could record it."""
    from types import SimpleNamespace

    from ray.exceptions import RayActorError

    from augmix_lab.orchestration.tune_driver import sort_results

    run_id = new_run(store, "killed-worker")
    TrialLogger(store[0], run_id, "launch-1").set_status("RUNNING")
    error = RayActorError(error_msg="The actor died unexpectedly before finishing this task.\n  worker killed")
    result = SimpleNamespace(config={"trial_key": "killed-worker"}, metrics={}, error=error)
    assert sort_results([result], store[0], {"killed-worker": run_id}, "launch-1", retries=1) == ([], ["killed-worker"], [])
    run = MlflowClient(store[0]).get_run(run_id)
    assert run.info.status == "FAILED"
    reason = run.data.tags[TRACKING_TAGS.error]
    assert "crashed in each of its 2 attempt(s)" in reason and "The actor died unexpectedly" in reason


# ---- 3. checkpoints: atomic, and an unreadable one falls back -----------------------------------------------------------

def _state(epoch: int, fingerprint: str = "fp") -> dict:
    return {"format": 1, "fingerprint": fingerprint, "epoch": epoch, "w": torch.full((4,), float(epoch))}


def test_an_unreadable_last_checkpoint_falls_back_to_the_newest_readable_copy(tmp_path: Path) -> None:
    last = tmp_path / "checkpoints" / "last.pt"
    for epoch in (1, 2, 3):
        save_atomic(_state(epoch), last, keep_previous=True)
    assert load_checkpoint(previous_path(last))["epoch"] == 2 and not list(last.parent.glob("*.tmp"))
    last.write_bytes(last.read_bytes()[:100])  # torn by hand, or by a disk that lied about fsync

    remote = tmp_path / "remote.pt"
    save_atomic(_state(2), remote)
    point = choose_resume(last, "fp", [("the trial's MLflow copy", lambda folder: remote)])
    assert point.epoch == 2 and point.source.startswith("the previous local checkpoint")
    assert f"skipped the unreadable {last}" in point.note() and "resuming from the previous local" in point.note()
    assert not last.exists() and (previous_path(last).parent / "last.pt.unreadable").is_file()  # set aside

    save_atomic(_state(4), remote)  # the MLflow copy is newer than the previous local one: it wins
    previous_path(last).write_bytes(b"\x00" * 10)
    point = choose_resume(last, "fp", [("the trial's MLflow copy", lambda folder: remote)])
    assert point.epoch == 4 and point.source == "the trial's MLflow copy"
    assert "the previous local checkpoint (" in point.note()

    remote.write_bytes(b"garbage")
    point = choose_resume(last, "fp", [("the trial's MLflow copy", lambda folder: remote),
                                       ("Ray Tune's copy", lambda folder: None)])
    assert point.state is None and point.note().endswith("restarting the trial from scratch")


def test_a_truncated_last_pt_resumes_from_the_trials_mlflow_copy(
        store, tmp_path: Path, no_reports: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    key, out, cfg = "truncated-last", tmp_path / "out", tiny_config(epochs=3)
    run_id = new_run(store, key)

    class Killed(BaseException):
        pass

    def killed_after_epoch_2(metrics: dict, checkpoint_dir: Path | None = None) -> None:
        if metrics.get("epoch") == 2:
            raise Killed  # the worker dies right after epoch 2's checkpoint went to MLflow
    monkeypatch.setattr(trainable, "_report", killed_after_epoch_2)
    with pytest.raises(Killed):
        train(store, key, run_id, out, cfg)
    folder = out / "trials" / key / "checkpoints"
    (folder / "last.pt").write_bytes((folder / "last.pt").read_bytes()[:1000])
    previous_path(folder / "last.pt").unlink()
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt"], "Tune copies this folder: only the checkpoint"
    reports: list[dict] = []
    monkeypatch.setattr(trainable, "_report", lambda metrics, checkpoint_dir=None: reports.append(metrics))
    train(store, key, run_id, out, cfg)
    run = MlflowClient(store[0]).get_run(run_id)
    assert run.info.status == "FINISHED" and logged_epochs(store[0], run_id) == [1, 2, 3]
    note = run.data.tags[TRACKING_TAGS.note]
    assert f"skipped the unreadable {folder / 'last.pt'}" in note and "the trial's MLflow copy (epoch 2)" in note
    assert [r["epoch"] for r in reports if "epoch" in r] == [3]  # only epoch 3 was trained again
    assert "the trial's MLflow copy (epoch 2)" in reports[0][trainable.NOTE_KEY]  # the driver prints it


# ---- 4. a full disk ---------------------------------------------------------------------------------------------------

def test_a_full_disk_fails_the_trial_naming_the_folder_and_keeps_the_store_and_checkpoint(
        store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_reports: list[dict]) -> None:
    import augmix_lab.training.checkpoint as checkpoint

    key, out, cfg = "full-disk", tmp_path / "out", tiny_config(epochs=3)
    finished = new_run(store, "finished-before")
    TrialLogger(store[0], finished).set_status("FINISHED")
    run_id = new_run(store, key)
    real_save, saves = torch.save, {"n": 0}

    def save_on_a_full_disk(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        saves["n"] += 1
        if saves["n"] == 2:  # epoch 2's last.pt: a few bytes go out, then the disk is full
            f.write(b"PK\x03\x04")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save_on_a_full_disk)
    train(store, key, run_id, out, cfg)
    run = MlflowClient(store[0]).get_run(run_id)
    folder = out / "trials" / key / "checkpoints"
    assert run.info.status == "FAILED"
    assert re.search(rf"no space left on {re.escape(str(folder))} \(need about \d+ MB for this trial's checkpoints\)",
                     run.data.tags[TRACKING_TAGS.error])
    assert no_reports[-1] == {trainable.FAILED_METRIC: 1}  # recorded, not retried by Ray
    assert logged_epochs(store[0], run_id) == [1, 2]  # epoch 2 was logged before its checkpoint failed
    assert load_checkpoint(folder / "last.pt")["epoch"] == 1 and not list(folder.glob(".*.tmp"))
    assert MlflowClient(store[0]).get_run(finished).info.status == "FINISHED"
    monkeypatch.setattr(checkpoint.torch, "save", real_save)  # space freed: the re-run resumes and finishes
    new_run(store, key)
    train(store, key, run_id, out, cfg)
    assert MlflowClient(store[0]).get_run(run_id).info.status == "FINISHED"
    assert logged_epochs(store[0], run_id) == [1, 2, 3]


def test_torchs_unexpected_pos_on_a_full_disk_is_named_as_a_full_disk(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """On an 8 MB output directory torch said only "[enforce fail at inline_container.cc:672] . unexpected pos"."""
    from types import SimpleNamespace

    import augmix_lab.training.checkpoint as checkpoint
    from augmix_lab.errors import DiskFull

    def torn(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(checkpoint.torch, "save", torn)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=8 << 20, used=8 << 20, free=0))
    with pytest.raises(DiskFull, match=rf"^no space left on {re.escape(str(tmp_path))} \(need about 1 MB"):
        save_atomic(_state(1), tmp_path / "last.pt")
    assert list(tmp_path.iterdir()) == [], "no torn temporary file is left behind"
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=1 << 40, used=0, free=1 << 40))
    with pytest.raises(RuntimeError, match="unexpected pos"):  # with room to spare it is not a full disk
        save_atomic(_state(1), tmp_path / "last.pt")


# ---- 5. a broken store, a damaged dataset -------------------------------------------------------------------------------

def _break(db: Path, kind: str) -> None:
    data = db.read_bytes()
    db.write_bytes({"empty": b"", "truncated": data[: len(data) // 2],
                    "random": os.urandom(len(data))}[kind])


BROKEN = {"empty": "an empty file, not an MLflow store", "truncated": "a truncated SQLite database",
          "random": "not a SQLite database"}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_store_stops_every_command_with_one_line_and_is_never_written(
        store, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    from augmix_lab import results

    source = Path(store[3]) / "mlflow.db"
    with sqlite3.connect(source) as conn:  # fold the WAL in, so the copy is the whole store
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    out = tmp_path / "broken"
    out.mkdir()
    db = out / "mlflow.db"
    shutil.copy(source, db)
    _break(db, kind)
    before = db.read_bytes()
    study = tmp_path / "broken.yaml"
    study.write_text(study_file(tmp_path, store, "broken").read_text().replace(f'tracking: {{uri: "{store[0]}"}}\n', ""))
    for argv in (["report", "--study", str(out)], ["plan", str(study), "--out", str(out), "--no-estimate"],
                 ["run", str(study), "--out", str(out)], ["status", str(study), "--out", str(out)]):
        assert main(argv) == 2, argv
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("augmix-lab:")]
        assert len(errors) == 1 and f"{db}: {BROKEN[kind]}" in errors[0], (argv, errors)
    with pytest.raises(UserError, match=BROKEN[kind]):
        results.load(out)
    assert db.read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["mlflow.db"]


def test_a_truncated_cifar_batch_is_found_before_anything_trains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from test_data_cifar import write_cifar

    from augmix_lab.data import cifar, download

    root = tmp_path / "data"
    root.mkdir()
    write_cifar(root, "cifar10", as_tar=False, py2_style=True)
    folder = root / cifar.CIFAR10.folder
    md5 = {p.name: download.file_digest(p, "md5") for p in folder.iterdir()}  # the tiny set's own checksums
    layout = dataclasses.replace(
        cifar.CIFAR10, train_members=tuple((m, md5[m]) for m, _ in cifar.CIFAR10.train_members),
        test_members=tuple((m, md5[m]) for m, _ in cifar.CIFAR10.test_members),
        meta_member=(cifar.CIFAR10.meta_member[0], md5[cifar.CIFAR10.meta_member[0]]))
    spec = download.DOWNLOADS.get("cifar10")
    monkeypatch.setitem(download.DOWNLOADS._items, "cifar10",
                        dataclasses.replace(spec, verify=partial(cifar.verify_cifar, layout)))
    study = tmp_path / "cifar.yaml"
    study.write_text(textwrap.dedent("""\
        name: cifar
        base: {dataset: cifar10, model: small_cnn, epochs: 1, eval: {corruptions: {enabled: false}}}
        variants: [{name: standard, method: standard, jsd: {arity: 1}}]
        """))
    digests = {"n": 0}
    real_digest = download.file_digest

    def counting_digest(path: Any, algorithm: str) -> str:
        digests["n"] += 1
        return real_digest(path, algorithm)

    monkeypatch.setattr(download, "file_digest", counting_digest)
    from augmix_lab.orchestration.preflight import missing_inputs

    cfg = TrialConfig.model_validate({"dataset": "cifar10"})
    assert missing_inputs([cfg], str(root)) == [] and digests["n"] == 7  # every file checked in full once ...
    assert missing_inputs([cfg], str(root)) == [] and digests["n"] == 7  # ... then trusted by size + mtime

    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-100])
    out = tmp_path / "out"
    for smoke in ([], ["--smoke"]):
        assert main(["run", str(study), "--out", str(out), "--data-root", str(root), *smoke]) == 2
        err = capsys.readouterr().err
        assert f"checksum mismatch for {batch}" in err
        assert f"augmix-lab data download cifar10 --data-root {root}" in err
        assert not out.exists(), "nothing started"


# ---- the Ray paths -------------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.integration
def test_on_ray_a_worker_dying_in_every_attempt_fails_and_ctrl_c_interrupts_cleanly(
        ray_session, store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Three trials one at a time: the first one's worker is killed in its only attempt (retries: 0), Ctrl-C comes
    after the second one's first epoch, the third never starts."""
    from augmix_lab.orchestration.progress import StudyProgress
    from augmix_lab.study import expand_study, read_study

    study = study_file(tmp_path, store, "on_ray", variants="  - {name: none, method: none, jsd: {arity: 1}}\n",
                       epochs=3)
    trials = expand_study(read_study(study))
    monkeypatch.setenv(trainable.INJECT_CRASH_ENV, f"{trials[0].key}:1")
    real = StudyProgress.on_trial_result

    def ctrl_c_after_one_epoch(self: Any, **info: Any) -> None:
        real(self, **info)
        if info["result"].get("epoch") == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(StudyProgress, "on_trial_result", ctrl_c_after_one_epoch)
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out), "--max-concurrent", "1"]) == 130
    err = capsys.readouterr().err
    assert "interrupted: re-run the same command to resume" in err
    runs = _trial_runs(store[0], "on_ray")
    assert runs["standard"].info.status == "FAILED"
    assert "crashed in each of its 1 attempt(s)" in runs["standard"].data.tags[TRACKING_TAGS.error]
    assert runs["cutout"].info.status == "KILLED" and runs["cutout"].data.tags[TRACKING_TAGS.stopped] == "interrupted"
    assert runs["none"].info.status == "SCHEDULED"
    assert _parent(store[0], "on_ray").info.status == "KILLED"
    assert main(["status", str(study), "--out", str(out)]) == 0
    assert "0 running, 1 interrupted, 1 failed, 1 to run" in capsys.readouterr().out
