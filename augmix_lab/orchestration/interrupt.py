"""Ctrl-C in the driver: stop the study cleanly, leave the store true, exit 130.

The driver owns SIGINT (Ray Tune's own handler is switched off with ``TUNE_DISABLE_SIGINT_HANDLER``, which would end
the trials as if a scheduler had stopped them). Inside a Tune run the first Ctrl-C only asks Tune to stop every trial
(``InterruptStopper.stop_all``): Tune ends them (a running trial gets up to ~10 s to stop before its worker is killed:
``TuneController._actor_force_cleanup_timeout``) and returns, and the driver then records the trials that had started
as interrupted (KILLED, ``augmix_lab.stopped = interrupted``) and leaves the ones that never started queued. Outside
a Tune run, or at a second Ctrl-C, it raises ``KeyboardInterrupt`` at once; the driver records the same either way.
Ray runs its workers in their own sessions, so a terminal's Ctrl-C reaches only the driver.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

RESUME_HINT = "interrupted: re-run the same command to resume"
TUNE_SIGINT_ENV = "TUNE_DISABLE_SIGINT_HANDLER"  # ray/tune/tune.py: _setup_signal_catching


class StudyInterrupted(KeyboardInterrupt):
    """The user stopped the study (Ctrl-C); the CLI prints the message and exits 130."""


class _Interrupt:
    """The driver's SIGINT state: ``requested`` once Ctrl-C was pressed; ``graceful`` while Tune may stop itself."""

    def __init__(self) -> None:
        self.requested = False
        self.graceful = False
        self.say: Callable[[str], Any] = print

    def handle(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - signal handler signature
        if self.graceful and not self.requested:
            self.requested = True
            self.say(
                "stopping the study: the running trials end and are recorded as interrupted "
                "(Ctrl-C again to stop at once)"
            )
            return
        self.requested = True
        raise StudyInterrupted(RESUME_HINT)

    def check(self) -> None:
        """Between steps of the driver: raise if Ctrl-C was pressed during a graceful stretch."""
        if self.requested:
            raise StudyInterrupted(RESUME_HINT)


INTERRUPT = _Interrupt()


@contextmanager
def driver_sigint(say: Callable[[str], Any] = print) -> Iterator[_Interrupt]:
    """Install the driver's Ctrl-C handler for the block (main thread only; elsewhere Python's default stays)."""
    INTERRUPT.requested, INTERRUPT.graceful, INTERRUPT.say = False, False, say
    if threading.current_thread() is not threading.main_thread():
        yield INTERRUPT
        return
    previous = signal.signal(signal.SIGINT, INTERRUPT.handle)
    try:
        yield INTERRUPT
    finally:
        signal.signal(signal.SIGINT, previous)
        INTERRUPT.graceful = False


@contextmanager
def graceful() -> Iterator[None]:
    """A Tune run: Ctrl-C stops it through ``InterruptStopper`` instead of raising inside Tune's loop."""
    os.environ[TUNE_SIGINT_ENV] = "1"  # Tune must not replace our handler (it would end trials as "completed")
    INTERRUPT.graceful = True
    try:
        yield
    finally:
        INTERRUPT.graceful = False


@contextmanager
def shielded() -> Iterator[None]:
    """Recording the end of a study: a further Ctrl-C waits until the store is written (a few calls)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupt_stopper() -> Any:
    """A ``tune.stopper.Stopper`` that ends every trial once Ctrl-C was pressed (checked by Tune every step)."""
    from ray.tune.stopper import Stopper

    class InterruptStopper(Stopper):
        def __call__(self, trial_id: str, result: dict) -> bool:  # noqa: ARG002
            return False

        def stop_all(self) -> bool:
            return INTERRUPT.requested

        def __reduce__(self) -> tuple:  # Tune pickles its run config; the state lives in this module
            return (interrupt_stopper, ())

    return InterruptStopper()
