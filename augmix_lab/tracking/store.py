"""Where the MLflow store is and how to talk to it safely: URI resolution, fast reachability checks, clients, retries.

Every client is created with an explicit tracking URI (never MLflow's global state or a process's working directory:
Ray workers run in other directories and on other machines). SQLite stores are switched to WAL journaling once by the
driver, and every call that may hit ``database is locked`` goes through :func:`call_with_retries`.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from augmix_lab.errors import UserError
from augmix_lab.paths import default_artifact_location, default_tracking_uri

_log = logging.getLogger(__name__)
T = TypeVar("T")

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable (mlflow/environment_variables.py)
SERVER_SCHEMES = ("http", "https")
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # SQLAlchemy dialects MLflow's SQL store supports
HOSTED_SCHEMES = ("databricks",)  # managed MLflow: reachable only with credentials we never look at
_SQLITE_BUSY_TIMEOUT_MS = 30_000  # our own connection when switching to WAL; MLflow sets 20 s per session itself

# Retry budget for "database is locked": ~0.05 * 2^k s with jitter, about 25 s in all before giving up.
_RETRY_ATTEMPTS = 10
_RETRY_BASE_S = 0.05
_RETRY_MAX_SLEEP_S = 5.0


def scheme_of(uri: str) -> str:
    """The URI's scheme without a SQLAlchemy driver suffix: ``postgresql+psycopg2://`` -> ``postgresql``."""
    return urlsplit(uri).scheme.split("+", 1)[0].lower()


def is_sqlite_uri(uri: str) -> bool:
    return scheme_of(uri) == "sqlite"


def sqlite_path(uri: str) -> Path:
    """The database file of a ``sqlite:///`` URI (three slashes + a relative path, four + an absolute one)."""
    if not uri.startswith("sqlite:///"):
        raise UserError(f"tracking URI {uri!r}: a SQLite URI looks like 'sqlite:////abs/path/mlflow.db'")
    return Path(uri[len("sqlite:///") :].split("?", 1)[0])


def resolve_tracking(study_uri: str | None, out_dir: str | os.PathLike[str]) -> tuple[str, str | None]:
    """Pick the study's store: ``tracking.uri`` in the study > ``$MLFLOW_TRACKING_URI`` > SQLite in ``out_dir``.

    Returns ``(uri, artifact_location)``. A relative SQLite path is made absolute here, on the driver, because trial
    workers run in other directories. The artifact location is the study's own folder for database stores, and
    ``None`` for servers, which place artifacts themselves (proxied ``mlflow-artifacts:/``).
    """
    uri = (study_uri or os.environ.get(TRACKING_URI_ENV) or "").strip() or default_tracking_uri(Path(out_dir))
    scheme = scheme_of(uri)
    if scheme in ("", "file") or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):  # bare path or Windows drive
        raise UserError(
            f"tracking URI {uri!r}: MLflow's file store is deprecated and unsafe with concurrent trials; "
            f"use 'sqlite:///{Path(urlsplit(uri).path or uri).resolve() / 'mlflow.db'}' or an http(s):// server"
        )
    allowed = SERVER_SCHEMES + DATABASE_SCHEMES + HOSTED_SCHEMES
    if scheme not in allowed:
        raise UserError(f"tracking URI {uri!r}: unsupported scheme {scheme!r}; allowed: {', '.join(allowed)}")
    if scheme == "sqlite":
        path = sqlite_path(uri)
        if str(path) in ("", ":memory:"):
            raise UserError(f"tracking URI {uri!r}: an in-memory SQLite store cannot be shared with trial workers")
        uri = f"sqlite:///{path.expanduser().resolve()}"
    if scheme in SERVER_SCHEMES + HOSTED_SCHEMES:
        return uri.rstrip("/"), None
    return uri, default_artifact_location(Path(out_dir))


def check_reachable(uri: str, timeout_s: float = 5) -> None:
    """Fail fast with a one-line ``UserError`` when the store cannot be used, before any trial is started.

    MLflow's own client retries unreachable servers for minutes, so this check uses plain HTTP / database
    connections with ``timeout_s``.
    """
    scheme = scheme_of(uri)
    if scheme in SERVER_SCHEMES:
        _check_server(uri, timeout_s)
    elif scheme == "sqlite":
        _check_sqlite(uri, timeout_s)
    elif scheme in DATABASE_SCHEMES:
        _check_database(uri, timeout_s)
    elif scheme not in HOSTED_SCHEMES:
        raise UserError(f"tracking URI {uri!r}: unsupported scheme {scheme!r}")


def _check_server(uri: str, timeout_s: float) -> None:
    import requests

    base = uri.rstrip("/")
    try:
        resp = requests.get(f"{base}/health", timeout=timeout_s)
        if resp.status_code != 200:  # older servers or a proxy in front: ask the REST API itself
            resp = requests.get(
                f"{base}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, timeout=timeout_s
            )
    except requests.RequestException as exc:
        raise UserError(
            f"MLflow tracking server {uri} is unreachable ({type(exc).__name__}); start it, or fix "
            f"'tracking.uri' / ${TRACKING_URI_ENV}"
        ) from None
    if resp.status_code != 200:
        raise UserError(
            f"MLflow tracking server {uri} answered HTTP {resp.status_code}; is it an MLflow server "
            "(and are credentials set in MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN)?"
        )


def _check_sqlite(uri: str, timeout_s: float) -> None:
    path = sqlite_path(uri)
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing != path:  # the file will be created: its nearest existing folder must be writable
        if not (existing.is_dir() and os.access(existing, os.W_OK)):
            raise UserError(f"tracking URI {uri!r}: cannot create {path} ({existing} is not a writable folder)")
        return
    if path.is_dir():
        raise UserError(f"tracking URI {uri!r}: {path} is a folder, not a SQLite database file")
    problem = sqlite_store_problem(path, timeout_s)
    if problem is not None and problem != NO_TABLES:  # a fresh database with no tables at all: MLflow fills it
        raise UserError(f"{path}: {problem}; it was left untouched")


NO_TABLES = "a SQLite database with no tables yet: not an MLflow store"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MLFLOW_TABLES = ("experiments", "runs", "tags", "alembic_version")


def sqlite_store_problem(path: Path, timeout_s: float = 5) -> str | None:
    """What keeps an existing file from being an MLflow SQLite store, found without writing a byte, or None.

    Checks, cheapest first: empty; SQLite's magic header; truncation (the header's page count x page size against
    the file size: https://www.sqlite.org/fileformat2.html#in_header_database_size); MLflow's tables; readable rows.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if size == 0:
        return "an empty file, not an MLflow store"
    if not header.startswith(_SQLITE_MAGIC):
        return "not a SQLite database (an MLflow store starts with 'SQLite format 3'), so not an MLflow store"
    if len(header) < 100:
        return f"a truncated SQLite database ({size} bytes)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and pages and size < pages * page_size:  # the header's size is valid
        return f"a truncated SQLite database ({size} bytes; its header says {pages * page_size})"
    if page_size and size % page_size:
        return f"a truncated SQLite database ({size} bytes: not a whole number of {page_size}-byte pages)"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s)
    except sqlite3.Error:
        conn = sqlite3.connect(path, timeout=timeout_s)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return NO_TABLES
        missing = [t for t in _MLFLOW_TABLES if t not in tables]
        if missing:
            return f"a SQLite database without MLflow's tables ({', '.join(missing)} missing), so not an MLflow store"
        conn.execute("SELECT count(*) FROM runs").fetchone()
        conn.execute("SELECT count(*) FROM tags").fetchone()
    except sqlite3.Error as exc:
        return f"an unreadable SQLite database ({exc})"
    finally:
        conn.close()
    return None


_BROKEN_DB_TEXT = (
    "database disk image is malformed",
    "file is not a database",
    "database or disk is full",
    "unable to open database file",
    "no such table",
)


@contextmanager
def store_errors(uri: str) -> Iterator[None]:
    """Turn a damaged SQLite store's raw SQLAlchemy/MLflow error (met past the cheap checks) into one ``UserError``
    line naming the file and what is wrong."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        text = str(exc)
        found = next((t for t in _BROKEN_DB_TEXT if t in text.lower()), None)
        if not is_sqlite_uri(uri) or found is None or "disk is full" in found:
            raise
        raise UserError(
            f"{sqlite_path(uri)}: an unreadable MLflow store ({found}); restore it from a backup or "
            "move it away to start a new one"
        ) from None


def _check_database(uri: str, timeout_s: float) -> None:
    import sqlalchemy

    scheme = scheme_of(uri)
    connect_args: dict[str, Any] = {}
    if scheme in ("postgresql", "mysql"):
        connect_args["connect_timeout"] = max(1, int(timeout_s))  # psycopg2 / PyMySQL option name
    elif scheme == "mssql":
        connect_args["timeout"] = max(1, int(timeout_s))  # pyodbc option name
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=connect_args)
    except ImportError as exc:
        raise UserError(f"tracking URI {_redact(uri)}: its database driver is not installed ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - malformed URIs raise several SQLAlchemy types
        raise UserError(f"tracking URI {_redact(uri)}: invalid database URI ({exc})") from None
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means: unreachable
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"tracking database {_redact(uri)} is unreachable: {first_line}") from None
    finally:
        engine.dispose()


def _redact(uri: str) -> str:
    """The URI without its password, for error messages."""
    parts = urlsplit(uri)
    if parts.password:
        return uri.replace(f":{parts.password}@", ":***@", 1)
    return uri


def prepare_sqlite_store(uri: str) -> None:
    """Create the store's folder and switch the database to WAL journaling (persistent, so workers inherit it).

    WAL lets readers proceed while one trial writes, which removes most ``database is locked`` errors when several
    trials log at once. Called once by the driver, before any worker opens the store.
    """
    path = sqlite_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=_SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # e.g. a network file system without shared memory: keep going, log it
            _log.warning("SQLite store %s stays in %s journal mode; concurrent trials rely on retries", path, mode)
    finally:
        conn.close()


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: SQLite lock contention (any store), MLflow's TEMPORARILY_UNAVAILABLE, and two trials
    registering the same dataset input at once (the loser's retry finds the row and links it)."""
    text = str(exc).lower()
    if "database is locked" in text or "database table is locked" in text or "sqlite_busy" in text:
        return True
    if "unique constraint" in text and "datasets" in text:  # MLflow's log_inputs checks, then inserts: a race
        return True
    return getattr(exc, "error_code", None) == "TEMPORARILY_UNAVAILABLE"


def call_with_retries(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, retried with jittered exponential backoff on transient store errors."""
    for attempt in range(_RETRY_ATTEMPTS):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_transient(exc) or attempt == _RETRY_ATTEMPTS - 1:
                raise
            delay = min(_RETRY_MAX_SLEEP_S, _RETRY_BASE_S * 2**attempt) * (0.5 + random.random())
            _log.debug("MLflow store busy (%s); retry %d in %.2f s", exc, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def make_client(uri: str) -> Any:
    """An ``MlflowClient`` bound to ``uri`` explicitly (never the global tracking URI)."""
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # MLflow's start-up INFO lines stay off the console
    return call_with_retries(MlflowClient, tracking_uri=uri)
