"""download_file against a real local HTTP server with Range support: resume, restart, checksums, failures."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from augmix_lab.data import DownloadError, download_file, verify_file
from augmix_lab.data.download import extract_archive

PAYLOAD = bytes((i * 31 + i // 251) % 256 for i in range(200_000))
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Server(ThreadingHTTPServer):
    honour_range = True
    drop_after: int | None = None  # close the connection after this many body bytes (once)
    requests: list[dict[str, str | None]]


class _RangeHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path != "/data.bin":
            self.send_error(404, "no such file")
            return
        requested = self.headers.get("Range")
        self.server.requests.append({"range": requested})
        start = 0
        if requested and self.server.honour_range:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.drop_after is not None:
            self.wfile.write(body[: self.server.drop_after])
            self.server.drop_after = None
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _RangeHandler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _url(srv: _Server, path: str = "/data.bin") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/data.bin"  # nothing listens there any more


def test_full_download_verifies_and_leaves_no_partial_file(server: _Server, tmp_path: Path) -> None:
    dest = download_file(_url(server), tmp_path / "sub" / "data.bin", md5=PAYLOAD_MD5, sha256=PAYLOAD_SHA256)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "data.bin.part").exists()
    assert server.requests == [{"range": None}]
    # a second call finds the verified file and does not touch the network
    download_file(_url(server), dest, md5=PAYLOAD_MD5)
    assert len(server.requests) == 1


def test_resume_sends_range_and_appends(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:12_345])
    download_file(_url(server), dest, md5=PAYLOAD_MD5, expected_size=len(PAYLOAD))
    assert server.requests == [{"range": "bytes=12345-"}]
    assert dest.read_bytes() == PAYLOAD


def test_interrupted_download_keeps_partial_file_and_resumes(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    server.drop_after = 50_000
    with pytest.raises(DownloadError, match=r"could not download .*data\.bin: .*download it manually to"):
        download_file(_url(server), dest, md5=PAYLOAD_MD5)
    kept = (tmp_path / "data.bin.part").stat().st_size
    assert 0 < kept < len(PAYLOAD) and not dest.exists()
    download_file(_url(server), dest, md5=PAYLOAD_MD5)
    assert server.requests[-1] == {"range": f"bytes={kept}-"}
    assert dest.read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_from_zero(server: _Server, tmp_path: Path) -> None:
    server.honour_range = False
    (tmp_path / "data.bin.part").write_bytes(b"garbage prefix that must not survive")
    dest = download_file(_url(server), tmp_path / "data.bin", md5=PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD


def test_complete_partial_file_is_finished_after_416(server: _Server, tmp_path: Path) -> None:
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    dest = download_file(_url(server), tmp_path / "data.bin", sha256=PAYLOAD_SHA256)
    assert dest.read_bytes() == PAYLOAD and server.requests == [{"range": f"bytes={len(PAYLOAD)}-"}]


def test_checksum_mismatch_names_file_expected_and_got_and_deletes_partial(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    wrong = "0" * 32
    with pytest.raises(DownloadError) as exc:
        download_file(_url(server), dest, md5=wrong)
    message = str(exc.value)
    assert str(dest) in message and f"expected md5 {wrong}, got {PAYLOAD_MD5}" in message
    assert not dest.exists() and not (tmp_path / "data.bin.part").exists()


def test_network_failure_is_one_clear_error_and_keeps_partial(tmp_path: Path) -> None:
    url = closed_port_url()
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:10])
    with pytest.raises(DownloadError) as exc:
        download_file(url, tmp_path / "data.bin", md5=PAYLOAD_MD5)
    message = str(exc.value)
    assert message.startswith(f"could not download {url}: ") and f"download it manually to {tmp_path / 'data.bin'}" in message
    assert "\n" not in message
    assert (tmp_path / "data.bin.part").read_bytes() == PAYLOAD[:10]


def test_http_error_and_offline_mode(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        download_file(_url(server, "/missing.bin"), tmp_path / "missing.bin")
    monkeypatch.setenv("AUGMIX_LAB_OFFLINE", "1")
    with pytest.raises(DownloadError, match=r"offline mode \(AUGMIX_LAB_OFFLINE is set\)"):
        download_file(_url(server), tmp_path / "data.bin", md5=PAYLOAD_MD5)
    assert len(server.requests) == 0  # the 404 never reached the handler's log; offline made no request


def test_wrong_size_is_reported(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=rf"got {len(PAYLOAD)} of {len(PAYLOAD) + 1} bytes"):
        download_file(_url(server), tmp_path / "data.bin", expected_size=len(PAYLOAD) + 1)


def test_verify_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert verify_file(path, md5=PAYLOAD_MD5, sha256=PAYLOAD_SHA256) == path
    with pytest.raises(DownloadError, match=rf"checksum mismatch for {path}: expected sha256 {'a' * 64}, got {PAYLOAD_SHA256}"):
        verify_file(path, sha256="a" * 64)
    with pytest.raises(DownloadError, match="is missing"):
        verify_file(tmp_path / "nope.bin", md5=PAYLOAD_MD5)


def test_extract_refuses_members_outside_the_destination(tmp_path: Path) -> None:
    import io
    import tarfile

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DownloadError, match="could not extract"):
        extract_archive(evil, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()
