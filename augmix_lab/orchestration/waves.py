"""Two-stage studies on Ray Tune: run the trials in dependency waves, parents before children.

A trial's parents are its init's parent (two-stage) and its teacher (self-training; ``study.init.parents_of``). Each
wave is one Tune run over the trials whose parents are all finished (complete in the store, or finished in an earlier
wave). Before a wave, each child's ``init.checkpoint`` is pointed at its parent's ``final.pt`` in the study's trial
directory (downloaded from the parent's MLflow run when missing, as re-evaluation does), and each student's
``teacher.labels_file`` at its teacher's pseudo-label set (``pseudo_labels.ensure_pseudo_labels``: made once, then
reused); neither path enters the child's key. A parent that failed or was stopped marks its children (and theirs)
FAILED with the reason, and the rest of the study goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augmix_lab.study.expand import Trial
from augmix_lab.study.init import parent_of, parents_of
from augmix_lab.tracking import TrialLogger


def with_init_checkpoint(trial: Trial, checkpoint: Path) -> Trial:
    cfg = trial.config
    return dataclasses.replace(
        trial, config=cfg.model_copy(update={"init": cfg.init.model_copy(update={"checkpoint": str(checkpoint)})})
    )


class _ParentOutputMissing(RuntimeError):
    def __init__(self, parent: str, message: str) -> None:
        super().__init__(message)
        self.parent = parent


def _with_parent_inputs(
    plan: Any, t: Trial, uri: str, runs: dict[str, str], data_root: str | None, console: Any
) -> Trial:
    """The trial with its parents' outputs on this disk: the init parent's final.pt, the teacher's pseudo-labels."""
    from augmix_lab.orchestration.pseudo_labels import ensure_pseudo_labels, with_labels_file
    from augmix_lab.orchestration.trainable import final_checkpoint

    parent = parent_of(t.config)
    if parent is not None:
        try:
            t = with_init_checkpoint(t, final_checkpoint(plan.out_dir, parent, uri, runs.get(parent)))
        except Exception as exc:  # noqa: BLE001 - reported as the child's failure reason
            raise _ParentOutputMissing(parent, f"no final checkpoint ({exc})") from exc
    teacher = t.config.teacher.parent_key
    if teacher is not None:
        try:
            t = with_labels_file(t, ensure_pseudo_labels(plan, t, uri, runs, data_root, console))
        except Exception as exc:  # noqa: BLE001 - reported as the child's failure reason
            raise _ParentOutputMissing(teacher, f"no pseudo-labels ({type(exc).__name__}: {exc})") from exc
    return t


def dependency_waves(todo: list[Trial], done: set[str]) -> list[list[Trial]]:
    """``todo`` split into waves, each depending only on ``done`` and earlier waves (for display and tests)."""
    waves, have, left = [], set(done), list(todo)
    while left:
        ready = [t for t in left if all(p in have for p in parents_of(t.config))]
        if not ready:  # parents outside todo and not done: cannot run (run_waves reports them as failed)
            break
        waves.append(ready)
        have |= {t.key for t in ready}
        left = [t for t in left if t.key not in have]
    return waves


def run_waves(
    plan: Any,
    uri: str,
    run_ids: dict[str, str],
    launch: str,
    console: Any,
    max_concurrent: int | None,
    data_root: str | None,
    run_tune: Callable[..., tuple[list[str], list[str]]],
) -> tuple[list[str], list[str]]:
    """``run_tune`` once per dependency wave over ``plan.todo``; returns (finished keys, failed keys) like run_tune."""
    from augmix_lab.orchestration.pseudo_labels import link_runs

    all_todo = list(plan.todo)
    if all(not parents_of(t.config) for t in all_todo):
        return run_tune(plan, uri, run_ids, launch, console, max_concurrent, data_root)  # one stage: one Tune run
    waves = _Waves(plan, uri, run_ids, launch, console, data_root)
    link_runs(plan, all_todo, uri, waves.runs, run_ids, launch)  # students tagged with their teachers
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

    def __init__(
        self, plan: Any, uri: str, run_ids: dict[str, str], launch: str, console: Any, data_root: str | None = None
    ) -> None:
        self.plan, self.uri, self.run_ids, self.launch, self.console = plan, uri, run_ids, launch, console
        self.data_root = data_root
        self.done = set(plan.complete) | set(plan.reevaluate)  # trained already (re-evaluation never retrains)
        self.runs = {**plan.complete, **plan.reevaluate, **run_ids}
        self.labels = {t.key: t.label for t in plan.trials}
        self.finished: list[str] = []
        self.failed: list[str] = []
        self.reasons: dict[str, str] = {}

    def next_wave(self, left: list[Trial]) -> tuple[list[Trial], list[Trial]]:
        """(trials to run now, each pointed at its parents' outputs; trials failed because of a parent)."""
        ready, blocked = [], []
        waiting = {x.key for x in left}
        for t in left:
            lost = [p for p in parents_of(t.config) if p in self.reasons or (p not in self.done and p not in waiting)]
            if lost:
                blocked.append(t)
                why = self.reasons.get(lost[0], "did not finish")
                self.reasons[t.key] = f"parent trial {self.labels.get(lost[0], lost[0])} {why}"
            elif all(p in self.done for p in parents_of(t.config)):
                ready.append(t)
        wave = []
        for t in ready:
            try:
                wave.append(_with_parent_inputs(self.plan, t, self.uri, self.runs, self.data_root, self.console))
            except _ParentOutputMissing as exc:  # a lost checkpoint or pseudo-label set fails its children only
                self.reasons[t.key] = f"parent trial {self.labels.get(exc.parent, exc.parent)}: {exc}"
                blocked.append(t)
        for t in blocked:
            self.failed.append(t.key)
            TrialLogger(self.uri, self.run_ids[t.key], self.launch).set_status("FAILED", self.reasons[t.key])
            self.console.print(f"[red]FAILED[/red] {t.label}: {self.reasons[t.key]}")
        return wave, blocked

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
