"""The one way to make a rich console: full layout on a terminal, unwrapped lines when piped (logs, CI, tests)."""

from __future__ import annotations

from rich.console import Console

PIPED_WIDTH = 160  # tables in logs stay one row per line at this width


def make_console(stderr: bool = False) -> Console:
    """A terminal gets rich's own width; a pipe or file gets soft-wrapped text, so a message is one grep-able line."""
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)
