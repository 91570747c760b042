"""One driver per study store: an exclusive lock file in the study's output directory.

The lock is ``fcntl.flock`` on ``<out>/driver.lock``, held by the driver for its whole life. The kernel drops it when
the process dies however it dies (kill -9 included), so a stale lock needs no clean-up and its take-over is the same
atomic ``flock`` call as a fresh lock: there is no window in which two drivers both believe they hold it. The file
says who holds it (host, pid, the pid's start time, command, since when), so a refused ``augmix-lab run`` can name the
holder and ``status`` can tell a live driver from a dead one. Readers (``status``, ``report``, ``plan``) never take it.
Where the filesystem has no locks (``ENOLCK`` / ``EOPNOTSUPP``, some network mounts) the driver goes on with a warning.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augmix_lab.errors import UserError

LOCK_FILE = "driver.lock"
_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


def lock_path(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / LOCK_FILE


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22): tells a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a study's driver lock."""

    host: str
    pid: int
    started: str  # ISO time the driver took the lock
    command: str = ""
    proc_start: str | None = None
    released: bool = False  # the driver let go of it (ended normally or by an exception it handled)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (since {self.started}: {self.command or 'augmix-lab run'})"

    def alive(self) -> bool | None:
        """True/False when it can be told on this host; None for a driver on another host."""
        if self.released:
            return False
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
        return self.proc_start is None or process_start(self.pid) == self.proc_start


def read_holder(out_dir: str | os.PathLike[str]) -> Holder | None:
    """The holder the lock file names (it stays after the driver ends: check ``Holder.alive``), or None."""
    try:
        data = json.loads(lock_path(out_dir).read_text() or "{}")
        return Holder(
            str(data["host"]),
            int(data["pid"]),
            str(data.get("started", "?")),
            str(data.get("command", "")),
            data.get("proc_start"),
            bool(data.get("released")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_driver(out_dir: str | os.PathLike[str]) -> Holder | None:
    """The driver running this study now, as far as this host can tell (another host's holder counts as live)."""
    holder = read_holder(out_dir)
    return holder if holder is not None and holder.alive() is not False else None


class DriverLock:
    """``acquire()`` the study's lock or raise ``UserError`` naming its holder; ``release()`` drops it."""

    def __init__(self, out_dir: str | os.PathLike[str], warn: Callable[[str], Any] | None = None) -> None:
        self.path = lock_path(out_dir)
        self.warn = warn or (lambda text: print(text, file=sys.stderr))
        self._fd: int | None = None
        self._started = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    def acquire(self) -> DriverLock:
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(
                f"{self.path}: cannot create the study's lock file ({exc.strerror}); is {self.path.parent} writable?"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = read_holder(self.path.parent)
                who = holder.describe() if holder is not None else "another process (the lock file names none yet)"
                raise UserError(
                    f"{self.path.parent}: another `augmix-lab run` drives this study: {who}; wait for it "
                    f"to end or stop it (Ctrl-C), then run again. `augmix-lab status` is safe meanwhile"
                ) from None
            if exc.errno in _UNSUPPORTED:
                self.warn(
                    f"warning: {self.path}: this filesystem has no file locks ({exc.strerror}); make sure only "
                    "one `augmix-lab run` uses this study directory at a time"
                )
                return self
            raise
        self._fd = fd
        self._write_holder(fd)
        return self

    def _write_holder(self, fd: int, **extra: Any) -> None:
        """Record this driver in the locked file (the lock, not the content, is what excludes others)."""
        pid = os.getpid()
        data = {
            "host": socket.gethostname(),
            "pid": pid,
            "proc_start": process_start(pid),
            "started": self._started,
            "command": " ".join(sys.argv[:3])[:200],
            **extra,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(data) + "\n").encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            try:
                self._write_holder(self._fd, released=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            except OSError:
                pass  # e.g. a full disk: the lock itself goes with the descriptor anyway
            os.close(self._fd)  # closing the descriptor drops the flock; the file stays, naming the last holder
            self._fd = None


@contextmanager
def driver_lock(out_dir: str | os.PathLike[str], warn: Callable[[str], Any] | None = None) -> Iterator[DriverLock]:
    lock = DriverLock(out_dir, warn).acquire()
    try:
        yield lock
    finally:
        lock.release()
