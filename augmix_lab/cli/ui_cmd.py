"""`augmix-lab ui`: serve the MLflow UI for a study's store on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

from augmix_lab.errors import UserError
from augmix_lab.paths import default_tracking_uri, study_dir
from augmix_lab.tracking.store import (
    SERVER_SCHEMES,
    TRACKING_URI_ENV,
    check_reachable,
    is_sqlite_uri,
    resolve_tracking,
    sqlite_path,
)

_STOP_WAIT_S = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--study",
        metavar="NAME_OR_DIR",
        help="a study name (runs/<name>) or output folder holding its embedded mlflow.db",
    )
    source.add_argument(
        "--tracking-uri", metavar="URI", help=f"any MLflow backend store URI (default: ${TRACKING_URI_ENV})"
    )
    parser.add_argument("--port", type=int, default=5000, help="port to serve on; 0 picks a free one (default 5000)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; anything else exposes the store without auth)",
    )


def _store(args: argparse.Namespace) -> tuple[str, Path | None]:
    """The backend URI to serve and the folder that holds its artifacts (None: leave it to MLflow)."""
    if args.study:
        folder = study_dir(args.study)
        if not folder.is_dir():
            raise UserError(
                f"--study {args.study!r}: no study folder at {folder}; run the study first, or pass its --tracking-uri"
            )
        uri = default_tracking_uri(folder)
        if not sqlite_path(uri).is_file():
            raise UserError(
                f"--study {args.study!r}: no embedded MLflow store at {sqlite_path(uri)}; this study "
                "logs elsewhere, pass --tracking-uri"
            )
        return uri, folder / "mlartifacts"
    given = args.tracking_uri or os.environ.get(TRACKING_URI_ENV)
    if not given:
        raise UserError(f"say which store to show: --study NAME_OR_DIR, --tracking-uri URI or ${TRACKING_URI_ENV}")
    uri, _ = resolve_tracking(given, Path.cwd())
    if is_sqlite_uri(uri):
        if not sqlite_path(uri).is_file():
            raise UserError(f"--tracking-uri {uri!r}: {sqlite_path(uri)} does not exist")
        return uri, sqlite_path(uri).parent / "mlartifacts"
    return uri, None


def _port(host: str, port: int) -> int:
    """``port``, checked free on ``host`` (0 -> a free one), so a clash is a clear error, not a server traceback."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port}: allowed 0..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot serve on {host}:{port} ({exc.strerror}); pick another --port / --host") from None
        return sock.getsockname()[1]


def _url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _start_page(uri: str, experiment: str | None) -> str:
    """The URL fragment the UI should open on: the study's runs table in MLflow 3.x's "Model training" mode (its
    default "GenAI" mode ignores the experiment's kind tag and opens on traces), else the experiment list."""
    from augmix_lab.tracking.reader import StoreReader
    from augmix_lab.tracking.tags import UI_WORKFLOW_TYPE

    query = f"?workflowType={UI_WORKFLOW_TYPE}"
    try:
        reader = StoreReader(uri)
        names = [n for n in reader.experiment_names() if n != "Default"]
        name = experiment if experiment in names else (names[0] if len(names) == 1 else None)
        exp_id = reader.experiment_id(name) if name else None
    except Exception:  # noqa: BLE001 - a store we cannot read still gets served; the list page is the fallback
        exp_id = None
    return f"/#/experiments/{exp_id}/runs{query}" if exp_id else f"/#/experiments{query}"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and its workers (its own process group, which we created)."""
    for sig, wait_s in ((signal.SIGTERM, _STOP_WAIT_S), (signal.SIGKILL, _STOP_WAIT_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run(args: argparse.Namespace) -> int:
    uri, artifacts = _store(args)
    if uri.split(":", 1)[0].lower() in SERVER_SCHEMES:
        check_reachable(uri)
        print(f"{uri} is already an MLflow server: open it in a browser", flush=True)
        return 0
    check_reachable(uri)
    port = _port(args.host, args.port)
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        args.host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if artifacts is not None:  # runs logged through this server put artifacts beside the store
        cmd += ["--artifacts-destination", artifacts.resolve().as_uri()]
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: --host {args.host} serves this store to the network without authentication",
            file=sys.stderr,
            flush=True,
        )
    # MLflow >= 3.x also starts a job runner + ~7 huey consumer processes for GenAI jobs; a tracking UI needs none.
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
    }
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` must not orphan the server
    try:
        page = _start_page(uri, study_dir(args.study).name if args.study else None)
        print(f"MLflow UI for {uri}: {_url(args.host, port)}{page}  (Ctrl-C to stop)", flush=True)
        code = proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            _stop(proc)
    if code != 0:
        print(f"augmix-lab: failed: mlflow server exited with code {code}", file=sys.stderr)
        return 1
    return 0
