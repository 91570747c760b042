"""Two-stage studies on Ray Tune: run the trials in dependency waves, parents before children.

Each wave is one Tune run over the trials whose parents are finished (complete in the store, or finished in an earlier
wave). Before a wave, each child's ``init.checkpoint`` is pointed at its parent's ``final.pt`` in the study's trial
directory (downloaded from the parent's MLflow run when missing, as re-evaluation does); the path never enters the
child's key. A parent that failed or was stopped marks its children (and theirs) FAILED with the reason, and the rest
of the study goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from augmix_lab.study.expand import Trial
from augmix_lab.study.init import parent_of
from augmix_lab.tracking import TrialLogger


def with_init_checkpoint(trial: Trial, checkpoint: Path) -> Trial:
    cfg = trial.config
    return dataclasses.replace(trial, config=cfg.model_copy(update={"init": cfg.init.model_copy(
        update={"checkpoint": str(checkpoint)})}))


def dependency_waves(todo: list[Trial], done: set[str]) -> list[list[Trial]]:
    """``todo`` split into waves, each depending only on ``done`` and earlier waves (for display and tests)."""
    waves, have, left = [], set(done), list(todo)
    while left:
        ready = [t for t in left if parent_of(t.config) is None or parent_of(t.config) in have]
        if not ready:  # parents outside todo and not done: cannot run (run_waves reports them as failed)
            break
        waves.append(ready)
        have |= {t.key for t in ready}
        left = [t for t in left if t.key not in have]
    return waves


def run_waves(plan: Any, uri: str, run_ids: dict[str, str], launch: str, console: Any, max_concurrent: int | None,
              data_root: str | None,
              run_tune: Callable[..., tuple[list[str], list[str]]]) -> tuple[list[str], list[str]]:
    """``run_tune`` once per dependency wave over ``plan.todo``; returns (finished keys, failed keys) like run_tune."""
    all_todo = list(plan.todo)
    if all(parent_of(t.config) is None for t in all_todo):
        return run_tune(plan, uri, run_ids, launch, console, max_concurrent, data_root)  # one stage: one Tune run
    waves = _Waves(plan, uri, run_ids, launch, console)
    left = list(all_todo)
    try:
        while left:
            wave, blocked = waves.next_wave(left)
            if not wave and not blocked:
                break  # pragma: no cover - every remaining trial waits on another remaining one (resolution forbids)
            if wave:
                plan.todo = wave
                waves.settle(wave, *run_tune(plan, uri, run_ids, launch, console, max_concurrent, data_root))
            settled = {t.key for t in wave} | {t.key for t in blocked}
            left = [t for t in left if t.key not in settled]
    finally:
        plan.todo = all_todo
    return waves.finished, waves.failed


class _Waves:
    """The bookkeeping of ``run_waves``: what is done, what failed and why (a child's reason names its parent's)."""

    def __init__(self, plan: Any, uri: str, run_ids: dict[str, str], launch: str, console: Any) -> None:
        self.plan, self.uri, self.run_ids, self.launch, self.console = plan, uri, run_ids, launch, console
        self.done = set(plan.complete) | set(plan.reevaluate)  # trained already (re-evaluation never retrains)
        self.runs = {**plan.complete, **plan.reevaluate, **run_ids}
        self.labels = {t.key: t.label for t in plan.trials}
        self.finished: list[str] = []
        self.failed: list[str] = []
        self.reasons: dict[str, str] = {}

    def next_wave(self, left: list[Trial]) -> tuple[list[Trial], list[Trial]]:
        """(trials to run now, each child pointed at its parent's final.pt; trials failed because of a parent)."""
        ready, blocked = [], []
        for t in left:
            parent = parent_of(t.config)
            if parent is None or parent in self.done:
                ready.append(t)
            elif parent in self.reasons or parent not in {x.key for x in left}:
                blocked.append(t)
        for t in blocked:
            parent = parent_of(t.config)
            assert parent is not None  # a trial without a parent is ready, never blocked
            why = self.reasons.get(parent, "did not finish")
            self.reasons[t.key] = f"parent trial {self.labels.get(parent, parent)} {why}"
        wave = []
        for t in ready:
            ckpt = self._parent_checkpoint(t)
            if ckpt is None:
                blocked.append(t)
            else:
                wave.append(t if ckpt is True else with_init_checkpoint(t, ckpt))
        for t in blocked:
            self.failed.append(t.key)
            TrialLogger(self.uri, self.run_ids[t.key], self.launch).set_status("FAILED", self.reasons[t.key])
            self.console.print(f"[red]FAILED[/red] {t.label}: {self.reasons[t.key]}")
        return wave, blocked

    def _parent_checkpoint(self, t: Trial) -> Path | Literal[True] | None:
        """True: no parent; the parent's final.pt; None: it cannot be had (the reason is recorded)."""
        from augmix_lab.orchestration.trainable import final_checkpoint

        parent = parent_of(t.config)
        if parent is None:
            return True
        try:
            return final_checkpoint(self.plan.out_dir, parent, self.uri, self.runs.get(parent))
        except Exception as exc:  # noqa: BLE001 - a lost parent checkpoint fails its children only
            self.reasons[t.key] = f"parent trial {self.labels.get(parent, parent)}: no final checkpoint ({exc})"
            return None

    def settle(self, wave: list[Trial], finished: list[str], failed: list[str]) -> None:
        """Record one wave's Tune results; a trial neither finished nor failed was stopped early."""
        self.finished += finished
        self.failed += failed
        self.done |= set(finished)
        for k in failed:
            self.reasons[k] = "failed"
        for t in wave:
            if t.key not in self.done and t.key not in self.reasons:
                self.reasons[t.key] = "was stopped early"
