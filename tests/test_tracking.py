"""Tracking layer units on a real SQLite store: URI resolution, reachability, params within limits, retries, status."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path

import pytest
from mlflow import MlflowClient

from augmix_lab.errors import UserError
from augmix_lab.tracking import (
    TRACKING_TAGS,
    StudyTracker,
    TrialLogger,
    TrialSuperseded,
    check_reachable,
    flatten_config,
    resolve_tracking,
)
from augmix_lab.tracking.records import MAX_KEY_CHARS, MAX_PARAM_VALUE_CHARS, limit_params
from augmix_lab.tracking.store import call_with_retries


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudyTracker, str]:
    """One embedded store for the module; each test uses its own trial keys."""
    out = tmp_path_factory.mktemp("unit-study")
    uri, artifacts = resolve_tracking(None, out)
    tracker = StudyTracker(uri, "unit", artifacts)
    parent = tracker.start_study("unit", "hash0", "name: unit\n")
    return tracker, parent


def _trial(tracker: StudyTracker, parent: str, key: str, params: dict | None = None) -> str:
    run_id, _ = tracker.trial_run(parent, key, study="unit", variant="v", seed=0, axes={}, params=params or {},
                                  config_yaml="model: small_cnn\n", eval_key="e0")
    return run_id


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- flatten_config / limits -------------------------------------------------------------------------------------

def test_flatten_config_uses_dotted_keys_and_json_for_lists() -> None:
    flat = flatten_config({"model": "wrn40_2", "augmix": {"width": 3, "alpha": 1.0},
                           "eval": {"corruptions": {"names": ["fog", "snow"], "severities": [1, 2]}},
                           "method_params": {}, "dataset": {"root": None}})
    assert flat == {"model": "wrn40_2", "augmix.width": "3", "augmix.alpha": "1.0",
                    "eval.corruptions.names": '["fog", "snow"]', "eval.corruptions.severities": "[1, 2]",
                    "method_params": "{}", "dataset.root": "None"}


def test_limit_params_replaces_long_values_and_shortens_long_keys_uniquely() -> None:
    long_a, long_b = "k" * 300 + "a", "k" * 300 + "b"
    limited = limit_params({"short": "ok", "long": "x" * 2000, long_a: "1", long_b: "2"})
    assert limited["short"] == "ok"
    assert limited["long"].startswith("<2000 chars") and len(limited["long"]) <= MAX_PARAM_VALUE_CHARS
    shortened = [k for k in limited if k.startswith("kkk")]
    assert len(shortened) == 2 and all(len(k) <= MAX_KEY_CHARS for k in shortened)


def test_trial_params_beyond_one_batch_and_long_values_are_logged_within_limits(store) -> None:
    tracker, parent = store
    params = {f"group{i // 10}": {f"p{i}": i for i in range(i, i + 10)} for i in range(0, 250, 10)}
    params["method_params"] = {"cutout": {"holes": list(range(400))}}  # a JSON value far beyond 500 chars
    run_id = _trial(tracker, parent, "many-params", params)
    logged = MlflowClient(tracker.uri).get_run(run_id).data.params
    assert len(logged) == 251 and logged["group24.p249"] == "249"
    assert logged["method_params.cutout.holes"].startswith("<") and "trial_config.yaml" in logged[
        "method_params.cutout.holes"]


# --- resolve_tracking / check_reachable ----------------------------------------------------------------------------

def test_resolve_tracking_precedence_study_then_env_then_embedded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri, artifacts = resolve_tracking(None, tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert artifacts == (tmp_path / "mlartifacts").resolve().as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999/")
    assert resolve_tracking(None, tmp_path) == ("http://127.0.0.1:5999", None)  # a server places artifacts itself
    assert resolve_tracking("https://mlflow.example:443", tmp_path) == ("https://mlflow.example:443", None)


def test_relative_sqlite_path_is_made_absolute_for_workers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri, _ = resolve_tracking("sqlite:///sub/store.db", tmp_path / "out")
    assert uri == f"sqlite:///{tmp_path.resolve() / 'sub' / 'store.db'}"


def test_a_sqlite_study_without_an_artifact_location_keeps_artifacts_beside_its_database(tmp_path: Path,
                                                                                           monkeypatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    tracker = StudyTracker(f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}", "no-location")
    parent = tracker.start_study("s", "h", "name: s\n")
    run = MlflowClient(tracking_uri=tracker.uri).get_run(parent)
    assert run.info.artifact_uri.startswith((tmp_path / "db" / "mlartifacts").resolve().as_uri())
    assert not (cwd / "mlruns").exists(), "MLflow's default would have put it in the working directory"


@pytest.mark.parametrize("bad, expected", [
    ("file:///tmp/mlruns", "file store"),
    ("./mlruns", "file store"),
    ("ftp://host/x", "unsupported scheme 'ftp'"),
    ("sqlite:///:memory:", "in-memory"),
])
def test_resolve_tracking_rejects_unusable_uris(bad: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=expected):
        resolve_tracking(bad, tmp_path)


def test_check_reachable_unreachable_server_is_a_user_error() -> None:
    port = _closed_port()
    with pytest.raises(UserError, match=f"127.0.0.1:{port} is unreachable"):
        check_reachable(f"http://127.0.0.1:{port}", timeout_s=2)


def test_check_reachable_database_errors_hide_the_password() -> None:
    with pytest.raises(UserError) as exc:
        check_reachable(f"postgresql://user:s3cret@127.0.0.1:{_closed_port()}/db", timeout_s=1)
    assert "s3cret" not in str(exc.value) and "***" in str(exc.value)


def test_check_reachable_sqlite(tmp_path: Path) -> None:
    check_reachable(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}")  # will be created: folder is writable
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("hello, I am text")
    with pytest.raises(UserError, match="not a SQLite database"):
        check_reachable(f"sqlite:///{not_a_db}")
    with pytest.raises(UserError, match="is a folder"):
        check_reachable(f"sqlite:///{tmp_path}")


# --- store behaviour -----------------------------------------------------------------------------------------------

def test_store_is_switched_to_wal_journaling(store) -> None:
    import sqlite3

    tracker, _ = store
    path = tracker.uri[len("sqlite:///"):]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_call_with_retries_retries_only_transient_errors() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert call_with_retries(flaky) == "ok" and len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("no such table: runs")

    calls.clear()
    with pytest.raises(RuntimeError, match="no such table"):
        call_with_retries(broken)
    assert len(calls) == 1


def test_trial_logger_pickles_to_its_strings_and_logs_after_unpickling(store) -> None:
    tracker, parent = store
    run_id = _trial(tracker, parent, "pickled")
    logger = TrialLogger(tracker.uri, run_id)
    logger.last_logged_epoch()  # builds a client, which must not travel
    assert logger.__getstate__() == {"uri": tracker.uri, "run_id": run_id, "launch": None}
    clone = pickle.loads(pickle.dumps(logger))
    assert clone.log_epoch(1, {"train_loss": 0.5})
    assert MlflowClient(tracker.uri).get_run(run_id).data.metrics["train_loss"] == 0.5


def test_non_numeric_metrics_and_bad_statuses_are_errors_not_silently_dropped(store) -> None:
    tracker, parent = store
    logger = TrialLogger(tracker.uri, _trial(tracker, parent, "bad-input"))
    with pytest.raises(TypeError, match="'lr'"):
        logger.log_epoch(1, {"train_loss": 1.0, "lr": "fast"})
    with pytest.raises(ValueError, match="1-based"):
        logger.log_epoch(0, {"train_loss": 1.0})
    with pytest.raises(ValueError, match="allowed FINISHED"):
        logger.set_status("DONE")
    with pytest.raises(ValueError, match="allowed final, last"):
        logger.log_checkpoint(__file__, kind="best")


def test_failed_status_records_the_reason_and_a_retry_resumes_the_same_run_cleanly(store, tmp_path: Path) -> None:
    tracker, parent = store
    run_id = _trial(tracker, parent, "fails-once", {"eval": {"batch_size": 1000}})
    TrialLogger(tracker.uri, run_id).set_status("FAILED", "TrialFailed: non-finite loss nan at epoch 2 batch 7")
    run = MlflowClient(tracker.uri).get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags[TRACKING_TAGS.error] == "TrialFailed: non-finite loss nan at epoch 2 batch 7"
    assert run.data.tags["mlflow.note.content"] == run.data.tags[TRACKING_TAGS.error]

    again, outcome = tracker.trial_run(parent, "fails-once", study="unit", variant="v", seed=0, axes={},
                                       params={"eval": {"batch_size": 500}}, config_yaml="eval: {batch_size: 500}\n",
                                       eval_key="e1")
    run = MlflowClient(tracker.uri).get_run(again)
    assert (again, outcome) == (run_id, "resumed")
    assert run.info.status == "SCHEDULED" and TRACKING_TAGS.error not in run.data.tags  # queued until it starts
    assert TRACKING_TAGS.note not in run.data.tags
    assert run.data.tags[TRACKING_TAGS.eval_key] == "e1"
    # MLflow params are immutable: the first value stays, the re-written config artifact has the new one
    assert run.data.params["eval.batch_size"] == "1000"
    config = MlflowClient(tracker.uri).download_artifacts(again, "trial_config.yaml", str(tmp_path))
    assert Path(config).read_text() == "eval: {batch_size: 500}\n"


def test_experiment_is_reused_and_a_deleted_one_is_a_user_error(store) -> None:
    tracker, _ = store
    assert StudyTracker(tracker.uri, "unit").experiment_id == tracker.experiment_id
    doomed = StudyTracker(tracker.uri, "doomed")
    MlflowClient(tracker.uri).delete_experiment(doomed.experiment_id)
    with pytest.raises(UserError, match="'doomed' is deleted"):
        StudyTracker(tracker.uri, "doomed")


def test_a_retried_worker_marking_its_run_running_clears_the_old_failure(store) -> None:
    tracker, parent = store
    logger = TrialLogger(tracker.uri, _trial(tracker, parent, "ray-retry"))
    logger.set_status("FAILED", "OSError: node lost")
    logger.set_status("RUNNING")  # what the trainable does when Ray retries the trial
    run = MlflowClient(tracker.uri).get_run(logger.run_id)
    assert run.info.status == "RUNNING"
    assert TRACKING_TAGS.error not in run.data.tags and TRACKING_TAGS.note not in run.data.tags


def test_a_worker_of_an_older_launch_stops_at_its_next_write_and_changes_nothing(store) -> None:
    """A killed driver can leave a worker running; once a re-run takes the trial over, that worker writes nothing."""
    tracker, parent = store
    first, _ = tracker.trial_run(parent, "taken-over", study="unit", variant="v", seed=0, axes={}, params={},
                                 config_yaml="{}\n", eval_key="e0", launch="launch-1")
    stale = TrialLogger(tracker.uri, first, launch="launch-1")
    assert stale.log_epoch(1, {"train_loss": 2.0})
    again, outcome = tracker.trial_run(parent, "taken-over", study="unit", variant="v", seed=0, axes={}, params={},
                                       config_yaml="{}\n", eval_key="e0", launch="launch-2")
    assert (again, outcome) == (first, "resumed")
    current = TrialLogger(tracker.uri, again, launch="launch-2")
    assert current.log_epoch(2, {"train_loss": 1.0})
    current.set_status("FINISHED")
    with pytest.raises(TrialSuperseded, match="launch-2"):
        stale.log_epoch(2, {"train_loss": 9.0})
    with pytest.raises(TrialSuperseded):
        stale.set_status("FAILED", "RayActorError: the driver is gone")
    run = MlflowClient(tracker.uri).get_run(first)
    assert run.info.status == "FINISHED" and TRACKING_TAGS.error not in run.data.tags
    assert [m.value for m in MlflowClient(tracker.uri).get_metric_history(first, "train_loss")] == [2.0, 1.0]
    assert pickle.loads(pickle.dumps(current)).launch == "launch-2"


# --- study parent run / driver lookups ------------------------------------------------------------------------------

def test_study_baseline_tag_is_written_kept_and_dropped_with_the_study(store) -> None:  # noqa: ANN001
    tracker, _ = store
    parent = tracker.start_study("with-baseline", "h1", "name: with-baseline\n", baseline="standard")
    assert tracker.client.get_run(parent).data.tags[TRACKING_TAGS.baseline] == "standard"
    assert tracker.start_study("with-baseline", "h1", "name: with-baseline\n") == parent  # None: left as it is
    assert tracker.client.get_run(parent).data.tags[TRACKING_TAGS.baseline] == "standard"
    tracker.start_study("with-baseline", "h2", "name: with-baseline\n", baseline="")  # the edited study has none
    assert TRACKING_TAGS.baseline not in tracker.client.get_run(parent).data.tags


def test_finished_trials_carry_the_eval_key_a_re_evaluation_updates(store) -> None:  # noqa: ANN001
    from augmix_lab.tracking import finished_trials

    tracker, parent = store
    run_id = _trial(tracker, parent, "lookup-k")
    assert "lookup-k" not in finished_trials(tracker.uri, "unit", ["lookup-k"])  # still RUNNING
    logger = TrialLogger(tracker.uri, run_id)
    logger.set_status("FINISHED")
    assert finished_trials(tracker.uri, "unit", ["lookup-k"])["lookup-k"].eval_key == "e0"
    logger.mark_evaluated("e1")
    found = finished_trials(tracker.uri, "no-such-experiment", ["lookup-k", "other"])  # read-only: creates nothing
    assert {k: (f.run_id, f.eval_key) for k, f in found.items()} == {"lookup-k": (run_id, "e1")}
    assert tracker.client.get_experiment_by_name("no-such-experiment") is None


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # "mlflow.note.content": its parent is not a package
        return False


def test_every_tag_name_is_defined_in_tags_py() -> None:
    """A string that looks like a tag ("augmix_lab.x", "mlflow.x") and is not a module path lives in tracking/tags.py."""
    import ast
    import re

    package = Path(__file__).resolve().parent.parent / "augmix_lab"
    tag_like = re.compile(r"^(augmix_lab|mlflow)\.[A-Za-z_][A-Za-z0-9_.]*$")
    stray = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "tracking" / "tags.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and tag_like.match(node.value) \
                    and not _is_module(node.value.rstrip(".")):
                stray.append(f"{path.relative_to(package)}:{node.lineno}: {node.value}")
    assert not stray, "tag names belong in tracking/tags.py (TRACKING_TAGS):\n" + "\n".join(stray)
    assert len(set(TRACKING_TAGS.as_dict().values())) == len(TRACKING_TAGS.as_dict()), "each tag named once"
