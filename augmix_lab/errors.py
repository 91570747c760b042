"""Exception types that map to the CLI's exit codes (2 = bad input, 1 = failure)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (study file, CLI flag, missing dataset): the CLI prints it in one line and exits 2."""

    exit_code = 2


class TrialFailed(RuntimeError):
    """A trial could not finish (diverged, crashed); the message is the recorded failure reason."""

    exit_code = 1
