"""`augmix-lab data download|verify|list|info`: exit codes and messages, with a real local server and no internet."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from augmix_lab.cli.main import main
from augmix_lab.data import DOWNLOADS, Downloadable, RemoteFile
from test_data_cifar import write_cifar
from test_data_download import closed_port_url


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", served
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.slow  # a fresh interpreter imports torch and every subcommand module
def test_download_without_network_exits_1_in_a_subprocess(tmp_path: Path) -> None:
    mirror = closed_port_url().rsplit("/", 1)[0]
    env = {**os.environ, "AUGMIX_LAB_MIRROR": mirror}
    proc = subprocess.run(
        [sys.executable, "-m", "augmix_lab.cli.main", "data", "download", "cifar10", "--data-root", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"could not download {mirror}/cifar-10-python.tar.gz" in err
    assert f"download it manually to {tmp_path / 'cifar-10-python.tar.gz'}" in err


def test_offline_download_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUGMIX_LAB_OFFLINE", "1")
    assert main(["data", "download", "cifar100", "--data-root", str(tmp_path)]) == 1
    assert "offline mode" in capsys.readouterr().err


def test_download_then_verify_a_catalog_entry(
    file_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, served = file_server
    content = os.urandom(30_000)
    (served / "tiny.bin").write_bytes(content)
    spec = Downloadable(
        name="tiny", files=(RemoteFile(f"{base_url}/tiny.bin", "tiny.bin", md5=hashlib.md5(content).hexdigest()),)
    )
    monkeypatch.setitem(DOWNLOADS._items, "tiny", spec)
    monkeypatch.setitem(DOWNLOADS._meta, "tiny", {})
    root = tmp_path / "root"
    assert main(["data", "download", "tiny", "--data-root", str(root)]) == 0
    assert (root / "tiny.bin").read_bytes() == content
    assert main(["data", "verify", "tiny", "--data-root", str(root)]) == 0
    assert main(["data", "download", "tiny", "--data-root", str(root)]) == 0
    assert "already present and verified" in capsys.readouterr().out
    (root / "tiny.bin").write_bytes(content[:-1] + b"!")
    assert main(["data", "verify", "tiny", "--data-root", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"checksum mismatch for {root / 'tiny.bin'}" in err and "expected md5" in err


def test_verify_names_the_bad_cifar_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_cifar(tmp_path, "cifar10", as_tar=True, py2_style=True)  # loads fine, but is not the official archive
    assert main(["data", "verify", "cifar10", "--data-root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "cifar-10-python.tar.gz") in err and "expected md5 c58f30108f718f92721af3b95e74349a" in err
    assert main(["data", "verify", "cifar100", "--data-root", str(tmp_path)]) == 1
    assert "cifar-100-python.tar.gz is missing" in capsys.readouterr().err


def test_list_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_cifar(tmp_path, "cifar10", as_tar=False, py2_style=True)
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "present" in lines["cifar10"] and "missing" in lines["cifar100"] and "generated" in lines["shapes"]
    assert main(["data", "info", "cifar10", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train:       (15, 3, 32, 32) uint8" in out and "airplane, automobile" in out and "version:     cifar10-sha256:" in out
    assert main(["data", "info", "shapes", "-o", "n_train=30", "-o", "n_test=10", "--data-root", str(tmp_path)]) == 0
    assert "version:     shapes-v1-train30-test10-seed0" in capsys.readouterr().out


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "download", "cifar11", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset or downloadable 'cifar11'" in err and "Allowed: cifar10, " in err and "shapes" in err
    assert main(["data", "info", "shapes", "-o", "n_train", "--data-root", str(tmp_path)]) == 2
    assert "must look like KEY=VALUE" in capsys.readouterr().err
    assert main(["data", "info", "cifar10", "--data-root", str(tmp_path)]) == 2
    assert f"augmix-lab data download cifar10 --data-root {tmp_path}" in capsys.readouterr().err
    assert main(["data", "download", "imagenet", "--data-root", str(tmp_path)]) == 2
    assert "manual download" in capsys.readouterr().err
