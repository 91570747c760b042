"""Two-stage studies on Ray Tune: run the trials in dependency waves, parents before children.

Each wave is one Tune run over the trials whose parents are finished (complete in the store, or finished in an earlier
wave). Before a wave, each child's ``init.checkpoint`` is pointed at its parent's ``final.pt`` in the study's trial
directory (downloaded from the parent's MLflow run when missing, as re-evaluation does); the path never enters the
child's key. A parent that failed or was stopped marks its children (and theirs) FAILED with the reason, and the rest
of the study goes on.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from augmix_lab.study.expand import Trial
from augmix_lab.study.init import parent_of


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
    from augmix_lab.orchestration.trainable import final_checkpoint
    from augmix_lab.tracking import TrialLogger

    all_todo = list(plan.todo)
    if all(parent_of(t.config) is None for t in all_todo):
        return run_tune(plan, uri, run_ids, launch, console, max_concurrent, data_root)  # one stage: one Tune run
    done = set(plan.complete) | set(plan.reevaluate)  # trained already (re-evaluation never retrains)
    runs = {**plan.complete, **plan.reevaluate, **run_ids}
    labels = {t.key: t.label for t in plan.trials}
    finished: list[str] = []
    failed: list[str] = []
    reasons: dict[str, str] = {}
    left = list(all_todo)
    try:
        while left:
            ready, blocked = [], []
            for t in left:
                parent = parent_of(t.config)
                if parent is None or parent in done:
                    ready.append(t)
                elif parent in reasons or parent not in {x.key for x in left}:
                    blocked.append(t)
            for t in blocked:
                parent = parent_of(t.config)
                why = reasons.get(parent, "did not finish")  # type: ignore[arg-type]
                reasons[t.key] = f"parent trial {labels.get(parent, parent)} {why}"  # type: ignore[arg-type]
            wave = []
            for t in ready:
                parent = parent_of(t.config)
                if parent is None:
                    wave.append(t)
                    continue
                try:
                    ckpt = final_checkpoint(plan.out_dir, parent, uri, runs.get(parent))
                except Exception as exc:  # noqa: BLE001 - a lost parent checkpoint fails its children only
                    reasons[t.key] = f"parent trial {labels.get(parent, parent)}: no final checkpoint ({exc})"
                    blocked.append(t)
                    continue
                wave.append(with_init_checkpoint(t, ckpt))
            for t in blocked:
                failed.append(t.key)
                TrialLogger(uri, run_ids[t.key], launch).set_status("FAILED", reasons[t.key])
                console.print(f"[red]FAILED[/red] {t.label}: {reasons[t.key]}")
            if not wave and not blocked:
                break  # pragma: no cover - every remaining trial waits on another remaining one (resolution forbids)
            if wave:
                plan.todo = wave
                wave_finished, wave_failed = run_tune(plan, uri, run_ids, launch, console, max_concurrent, data_root)
                finished += wave_finished
                failed += wave_failed
                done |= set(wave_finished)
                for k in wave_failed:
                    reasons[k] = "failed"
                for t in wave:
                    if t.key not in done and t.key not in reasons:
                        reasons[t.key] = "was stopped early"
            settled = {t.key for t in wave} | {t.key for t in blocked}
            left = [t for t in left if t.key not in settled]
    finally:
        plan.todo = all_todo
    return finished, failed
