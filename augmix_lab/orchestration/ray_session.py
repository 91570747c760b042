"""The Ray session of one `augmix-lab run`: connect to a cluster (with its token) or start a local Ray, and stop it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augmix_lab.errors import UserError
from augmix_lab.paths import ray_storage_dir

RAY_AUTH_MODE_ENV = "RAY_AUTH_MODE"  # Ray's token-authentication switch (ray/_private/authentication)
RAY_TOKEN_FILE = "~/.ray/auth_token"  # where `ray start --head` saves a cluster's token by default
_START_ATTEMPTS = 2  # Ray waits a fixed 30 s for its raylet; a heavily loaded machine can miss that once


def short_temp_dir(out_dir: Path) -> str:
    """Ray's session dir: short on purpose, its unix socket paths must stay under ~107 bytes (AF_UNIX limit)."""
    return f"/tmp/ray-{hashlib.sha256(str(out_dir).encode()).hexdigest()[:8]}"


def use_token_if_available() -> None:
    """Connect with token auth when a token is at hand and the mode is unset, as Ray does for clusters it starts.

    `ray start --head` turns token authentication on by default, but a driver connecting by address does not, so
    without this a driver on the head node itself is refused ("Authentication token is missing").
    """
    try:  # Ray's own rule (and its config refresh); private, hence the guard
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def connect(address: str, runtime_env: dict[str, Any] | None = None) -> None:
    """Join the running cluster at ``address``; a refusal becomes a one-line ``UserError`` naming the token."""
    import ray

    use_token_if_available()
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR", runtime_env=runtime_env)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(
            f"cannot connect to the Ray cluster at {address!r}: {exc}. If the cluster uses token authentication "
            f"(the default of `ray start` since Ray 2.5x), set {RAY_AUTH_MODE_ENV}=token and give this machine its "
            f"token as $RAY_AUTH_TOKEN or {RAY_TOKEN_FILE}".replace("\n", " ")
        ) from None


def start_local(out_dir: Path, runtime_env: dict[str, Any] | None = None) -> None:
    """Start a local Ray sized to this machine, its session logs linked from the study directory."""
    import ray

    temp_dir = short_temp_dir(out_dir)
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            ray.init(
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                _temp_dir=temp_dir,
                log_to_driver=False,
                logging_level="ERROR",
                configure_logging=True,
                runtime_env=runtime_env,
            )
            break
        except Exception:  # noqa: BLE001 - Ray raises a bare Exception on a start-up timeout
            ray.shutdown()
            if attempt == _START_ATTEMPTS:
                raise
    link_logs(out_dir, Path(temp_dir))


def link_logs(out_dir: Path, temp_dir: Path) -> None:
    """Ray's session logs live in the short temp dir; make them findable from the study directory."""
    logs = ray_storage_dir(out_dir) / "logs"
    logs.parent.mkdir(parents=True, exist_ok=True)
    try:
        if logs.is_symlink() or logs.exists():
            logs.unlink()
        logs.symlink_to(temp_dir / "session_latest" / "logs")
    except OSError:
        pass


def plugin_runtime_env(plugins: Iterable[Any]) -> dict[str, Any] | None:
    """Ray's job ``runtime_env`` that ships the study's plugin files and folders to every worker (``py_modules``:
    each node imports the driver's copy, whatever its working directory); None when there is nothing to ship."""
    from augmix_lab.plugins import runtime_env_modules

    modules = runtime_env_modules(plugins)
    return {"py_modules": modules} if modules else None


def init_ray(address: str | None, out_dir: Path, runtime_env: dict[str, Any] | None = None) -> bool:
    """Connect to ``address`` / ``$RAY_ADDRESS``, or start a local Ray sized to this machine. True if we started it.

    A Ray that is already up (a notebook's, a test session's) is used as it is: its workers share this machine's
    disk, so plugins are imported from their paths there (``plugins.ensure_plugins``)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        connect(address, runtime_env)
    else:
        start_local(out_dir, runtime_env)
    return True


@contextmanager
def ray_session(address: str | None, out_dir: Path, plugins: Iterable[Any] = ()) -> Iterator[None]:
    """Ray for the block; shut down afterwards only if this block started (or joined) it. ``plugins`` are shipped
    to the workers through the job's runtime environment."""
    started = init_ray(address, out_dir, plugin_runtime_env(plugins))
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()
