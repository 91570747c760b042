"""The cluster path with real, separate processes: `ray start --head` on 127.0.0.1, an `mlflow server` with its own
backend store (SQLite; PostgreSQL too where Debian's server binaries are installed), and `augmix-lab run
studies/smoke.yaml --address ...` as its own driver process. Everything must arrive through the server; both servers
are stopped by their process group ids afterwards (never `ray stop`, which would stop every Ray on the machine).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests
import torch
from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.yaml"
BIN = Path(sys.executable).parent  # the console scripts of this virtual environment: ray, mlflow, augmix-lab
START_TIMEOUT_S = 180  # a Ray head or an MLflow server takes 10-30 s to come up on a loaded 2-core machine

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_group(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM the process group we started, then SIGKILL what is left of it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def wait_until(check, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}: {log.read_text()[-3000:]}")
        if check():
            return
        time.sleep(1)
    pytest.fail(f"{what} did not come up in {START_TIMEOUT_S} s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    """The environment every cluster process shares: Ray's token authentication with one fresh token (the
    documented way to hand a cluster's token to its nodes and drivers), and no inherited RAY_ADDRESS."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    return env


@contextmanager
def ray_head(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """`ray start --head --block` in its own process group: the head's address while it lives.

    Ray listens on every interface and advertises the node's IP (it replaces a loopback --node-ip-address), so
    the test reaches it through 127.0.0.1 and keeps the dashboard off.
    """
    port = free_port()
    temp_dir = f"/tmp/ray-c{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:8]}"  # AF_UNIX path limit
    log = tmp_path / "ray-head.log"
    cmd = [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
           "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    with open(log, "w") as fh:  # started in its own folder: its workers do not run in any study's directory
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                cwd=tmp_path)
    address = f"127.0.0.1:{port}"

    def ready() -> bool:
        status = subprocess.run([str(BIN / "ray"), "status", f"--address={address}"], capture_output=True,
                                env=env, timeout=60)
        return status.returncode == 0

    try:
        wait_until(ready, "ray head", proc, log)
        yield address
    finally:
        stop_group(proc, grace_s=5)  # `ray start --block` sits out SIGTERM's whole grace: its processes are ours
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextmanager
def mlflow_server(tmp_path: Path, backend_uri: str) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 with the given backend store and proxied artifacts in tmp_path/artifacts."""
    port = free_port()
    log = tmp_path / "mlflow-server.log"
    cmd = [str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri, "--serve-artifacts",
           "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no GenAI job runner processes
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(ready, "mlflow server", proc, log)
        yield url
    finally:
        stop_group(proc)


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL server binaries (package postgresql), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server's tools as Debian's `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server(bindir: Path) -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1 (trust auth), stopped with `pg_ctl stop` (it holds the pid)."""
    base = Path(tempfile.mkdtemp(prefix="augmix-pg-"))
    data, log = base / "data", base / "server.log"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=trust"]),
                   check=True, capture_output=True, timeout=120)
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "120",
                                 "-o", f"-h 127.0.0.1 -p {port} -k {base}", "start"]),
                   check=True, capture_output=True, timeout=180)
    try:
        subprocess.run(_as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow",
                                     "mlflow"]), check=True, capture_output=True, timeout=60)
        yield f"postgresql://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def run_smoke_on_cluster(tmp_path: Path, env: dict[str, str], address: str, tracking_uri: str) -> Path:
    """`augmix-lab run smoke.yaml --address ...` in its own process, logging to the server; returns its out dir."""
    study = tmp_path / "smoke.yaml"
    shutil.copy(SMOKE, study)
    out_dir = tmp_path / "out"
    env = {**env, "MLFLOW_TRACKING_URI": tracking_uri}
    result = subprocess.run([str(BIN / "augmix-lab"), "run", str(study), "--out", str(out_dir), "--address", address],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2/2 complete, 0 failed" in result.stderr
    return out_dir


def assert_arrived_through_server(tracking_uri: str, out_dir: Path, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("smoke")
    assert experiment is not None
    trials = client.search_runs([experiment.experiment_id], "tags.`augmix_lab.role` = 'trial'")
    assert sorted(r.data.tags["augmix_lab.variant"] for r in trials) == ["augmix", "standard"]
    (study_run,) = client.search_runs([experiment.experiment_id], "tags.`augmix_lab.role` = 'study'")
    for run in trials:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == study_run.info.run_id
        assert {"clean_error", "mean_corruption_error", "corruption_error.gaussian_noise"} <= set(run.data.metrics)
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1]
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), "artifacts are proxied by the server"
        listed = {f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")}
        assert {"checkpoints/final.pt", "checkpoints/last.pt"} <= listed
        local = client.download_artifacts(run.info.run_id, "checkpoints/final.pt", str(tmp_path / run.info.run_id))
        state = torch.load(local, weights_only=True)
        assert state["fingerprint"] == run.data.tags["augmix_lab.trial_key"]
    assert not (out_dir / "mlflow.db").exists(), "nothing went to an embedded store"
    assert not (out_dir / "mlartifacts").exists()


@pytest.fixture(scope="module")
def head_address(tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str]) -> Iterator[str]:
    """One Ray head for both backends: its start-up is the costliest step, and the store under test is the server."""
    with ray_head(tmp_path_factory.mktemp("ray-head"), cluster_env) as address:
        yield address


def test_smoke_study_on_a_ray_head_and_an_mlflow_server(tmp_path: Path, cluster_env: dict[str, str],
                                                        head_address: str) -> None:
    with mlflow_server(tmp_path, f"sqlite:///{tmp_path / 'server.db'}") as url:
        out_dir = run_smoke_on_cluster(tmp_path, cluster_env, head_address, url)
        assert_arrived_through_server(url, out_dir, tmp_path)


@pytest.mark.skipif(postgres_bin() is None, reason="Debian's postgresql server is not installed (CI installs it)")
def test_smoke_study_with_a_postgresql_backed_mlflow_server(tmp_path: Path, cluster_env: dict[str, str],
                                                            head_address: str) -> None:
    import psycopg  # noqa: F401 - MLflow's PostgreSQL backend (SQLAlchemy 2) needs it; the test extra has it

    with postgres_server(postgres_bin()) as db, mlflow_server(tmp_path, db) as url:
        out_dir = run_smoke_on_cluster(tmp_path, cluster_env, head_address, url)
        assert_arrived_through_server(url, out_dir, tmp_path)


def test_a_plugin_method_reaches_the_workers_through_the_runtime_env(tmp_path: Path, cluster_env: dict[str, str],
                                                                    head_address: str) -> None:
    """The example's plugin, listed by a study in a folder the head never saw, trains on the cluster's workers: the
    driver ships it with Ray's runtime_env (py_modules) and each trial records which file it imported."""
    study_dir, elsewhere = tmp_path / "study", tmp_path / "elsewhere"
    study_dir.mkdir()
    elsewhere.mkdir()
    shutil.copy(ROOT / "examples" / "custom_augmentation" / "gaussian_da.py", study_dir / "gaussian_da.py")
    (study_dir / "plugin.yaml").write_text(
        "name: plugin_cluster\nplugins: [gaussian_da.py]\nresources: {cpus_per_trial: 1, retries: 0}\n"
        "base: {dataset: {name: shapes, options: {n_train: 128, n_test: 64}}, epochs: 1, train: {threads: 1},\n"
        "       eval: {corruptions: {source: on_the_fly, names: [gaussian_noise], severities: [1]}}}\n"
        "variants: [{name: noise, method: gaussian_da}]\n")
    out_dir = tmp_path / "out"
    result = subprocess.run([str(BIN / "augmix-lab"), "run", str(study_dir / "plugin.yaml"), "--out", str(out_dir),
                             "--address", head_address], cwd=elsewhere, capture_output=True, text=True,
                            env=cluster_env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{out_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("plugin_cluster")
    (run,) = client.search_runs([experiment.experiment_id], "tags.`augmix_lab.role` = 'trial'")
    assert run.info.status == "FINISHED" and "clean_error" in run.data.metrics
    imported = json.loads(run.data.tags["augmix_lab.plugins"])["gaussian_da"]
    assert "runtime_resources" in imported and not imported.startswith(str(study_dir)), imported
