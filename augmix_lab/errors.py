"""Exception types that map to the CLI's exit codes (2 = bad input, 1 = failure)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (study file, CLI flag, missing dataset): the CLI prints it in one line and exits 2."""

    exit_code = 2


class TrialFailed(RuntimeError):
    """A trial could not finish (diverged, crashed); the message is the recorded failure reason."""

    exit_code = 1


class DiskFull(TrialFailed):
    """A write failed because the disk holding ``path`` is full; says where and about how much room is needed."""

    def __init__(self, path: object, need_bytes: float | None = None, what: str = "this trial's checkpoints") -> None:
        self.path, self.need_bytes, self.what = path, need_bytes, what
        need = f" (need about {max(1, round(need_bytes / 2**20))} MB for {what})" if need_bytes else ""
        super().__init__(
            f"no space left on {path}{need}; free some space there, then re-run the same command to resume"
        )

    def __reduce__(self) -> tuple:  # pickles across Ray processes with its own arguments
        return (DiskFull, (self.path, self.need_bytes, self.what))


def one_line(exc: BaseException) -> str:
    """``Type: message`` in one line; for a message that carries a traceback (Ray's errors), its last line."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and lines[0].startswith("Traceback"):
        return lines[-1]
    return f"{type(exc).__name__}: {lines[0]}"


_DISK_FULL_TEXT = ("no space left on device", "database or disk is full", "disk quota exceeded")


def is_disk_full(exc: BaseException | None) -> bool:
    """True when ``exc`` or anything in its cause/context chain is a full disk (errno or the libraries' wording)."""
    import errno

    seen: set[int] = set()
    codes = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFull) or (isinstance(exc, OSError) and exc.errno in codes):
            return True
        if any(text in str(exc).lower() for text in _DISK_FULL_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
