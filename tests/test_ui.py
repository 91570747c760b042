"""`augmix-lab ui` input errors: one line, exit 2, before any server starts (serving is in test_tracking_store.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from augmix_lab.cli.main import main


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_missing_study_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--study", str(tmp_path / "no-such-study")]) == 2
    assert "no study folder" in _one_line_error(capsys)


def test_unknown_study_name_looks_under_the_runs_root(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--study", "never-ran"]) == 2
    assert "never-ran" in _one_line_error(capsys)


def test_study_folder_without_embedded_store_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--study", str(tmp_path)]) == 2
    err = _one_line_error(capsys)
    assert "mlflow.db" in err and "--tracking-uri" in err


def test_no_store_given_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["ui"]) == 2
    assert "--study" in _one_line_error(capsys)


def test_unreachable_server_uri_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["ui", "--tracking-uri", f"http://127.0.0.1:{port}"]) == 2
    assert "unreachable" in _one_line_error(capsys)


def test_busy_port_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    store = tmp_path / "mlflow.db"
    MlflowClient(f"sqlite:///{store}").search_experiments()  # a real (empty) MLflow store: only the port is wrong
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["ui", "--tracking-uri", f"sqlite:///{store}", "--port", str(port)]) == 2
    assert f"127.0.0.1:{port}" in _one_line_error(capsys)
