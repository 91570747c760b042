"""The study driver: validate -> verdict -> expand -> skip finished -> (Ray up) re-evaluate eval-only changes as Ray
tasks -> Ray Tune the rest (re-packing CUDA out-of-memory trials into larger GPU shares) -> (Ray down).

The driver alone talks to the tracking store's structure: it creates the study's parent run and every trial's run before
anything launches (no creation races on SQLite, no duplicate runs on re-runs), then hands each trial its run id. Each
invocation builds a fresh ``tune.Tuner`` over the unfinished trials only; resumption is per trial, from the
content-addressed work directory ``<out>/trials/<key>/`` (or Tune's / MLflow's copy of its checkpoint), so a re-run
after Ctrl-C, a killed driver or an edited study never repeats finished work.

Each job lives in its own module: ``plan`` (plan, store lookup, verdict, tables), ``ray_session`` (start/connect/stop
Ray), ``reevaluate`` (re-score stored checkpoints), ``tune_driver`` (the Tuner); this module only strings them together.
"""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from augmix_lab.console import make_console
from augmix_lab.orchestration.analyses import run_study_analyses
from augmix_lab.orchestration.plan import (
    StudyPlan,
    experiment_for,
    load_plan,
    lookup_store,
    print_trial_table,
    print_verdict,
)
from augmix_lab.orchestration.ray_session import ray_session
from augmix_lab.orchestration.reevaluate import reevaluate
from augmix_lab.orchestration.soups import run_soups
from augmix_lab.orchestration.tune_driver import run_tune
from augmix_lab.orchestration.waves import run_waves
from augmix_lab.study.manifest import write_manifest


def create_runs(plan: StudyPlan, tracker: Any, parent_id: str, launch: str) -> dict[str, str]:
    """One run per unfinished trial, created (or reclaimed) by the driver before anything launches."""
    run_ids = {}
    for t in plan.todo:
        run_ids[t.key], _status = tracker.trial_run(
            parent_id, t.key, study=plan.study.name, variant=t.variant, seed=t.seed, axes=t.axes,
            params=t.config.training_dict(),
            config_yaml=yaml.safe_dump(t.config.model_dump(mode="json"), sort_keys=False),
            eval_key=t.eval_key, launch=launch,
        )
    return run_ids


def override_tags(study: Any) -> dict[str, str]:
    """Tags for the study's parent run: the ``--set`` overrides of this invocation (none: no tag)."""
    from augmix_lab.tracking.tags import TRACKING_TAGS

    overrides = list(getattr(study, "overrides", ()) or ())
    return {TRACKING_TAGS.overrides: json.dumps(overrides)} if overrides else {}


def open_study(plan: StudyPlan) -> tuple[str, Any, str]:
    """The store's URI, the study's tracker and its parent run id (tagged with the study file and baseline)."""
    from augmix_lab.tracking import TRACKING_TAGS, StudyTracker, check_reachable, resolve_tracking

    uri, artifact_location = resolve_tracking(plan.study.spec.tracking.uri, plan.out_dir)
    check_reachable(uri)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    tracker = StudyTracker(uri, experiment_for(plan.study), artifact_location)
    parent_id = tracker.start_study(plan.study.name, plan.study.hash, plan.study.text,
                                    tags={TRACKING_TAGS.study_file: str(plan.study.path.resolve()),
                                          **override_tags(plan.study)},
                                    baseline=plan.study.spec.baseline or "")
    return uri, tracker, parent_id


def train_missing(plan: StudyPlan, uri: str, tracker: Any, parent_id: str, *, max_concurrent: int | None,
                  data_root: str | None, console: Console) -> list[str]:
    """Train ``plan.todo`` on Ray Tune (Ray is up); moves the finished ones to ``plan.complete``. Returns failed keys."""
    launch = uuid.uuid4().hex  # this invocation's claim on the runs it hands out (tracking "one owner per run")
    run_ids = create_runs(plan, tracker, parent_id, launch)
    finished, failed = run_waves(plan, uri, run_ids, launch, console, max_concurrent, data_root, run_tune)
    plan.complete.update({k: run_ids[k] for k in finished})
    return failed


def run_study(study_path: str | Path, *, out: str | None = None, address: str | None = None,
              max_concurrent: int | None = None, dry_run: bool = False, data_root: str | None = None,
              console: Console | None = None, overrides: tuple[str, ...] = (), smoke: bool = False) -> int:
    """``augmix-lab run``. Exit code: 0 all trials complete, 1 any failed; bad input raises ``UserError`` (exit 2)."""
    from augmix_lab.corruptions.sources import warn_source_fallbacks
    from augmix_lab.orchestration.smoke import smoke_plan

    console = console or make_console(stderr=True)
    plan = load_plan(study_path, out, overrides)  # validates the study: exit 2 before anything starts
    if smoke:
        plan = smoke_plan(plan, data_root, console)
    warn_source_fallbacks([t.config for t in plan.trials], data_root)  # 'auto' that would not read released files
    print_verdict(console, plan)
    if dry_run:
        print_trial_table(console, plan)
        console.print(f"dry run: {len(plan.trials)} trials, nothing started")
        return 0

    uri, tracker, parent_id = open_study(plan)
    lookup_store(plan, uri)
    console.print(f"{len(plan.trials)} trials: {len(plan.complete)} complete, {len(plan.reevaluate)} to re-evaluate, "
                  f"{len(plan.todo)} to train  (store {uri})")
    write_manifest(plan.out_dir, plan.study, plan.trials, plan.states())

    # one Ray session for both: re-scorings run as Ray tasks on the workers, then the Tuner trains the rest
    needs_ray = bool(plan.reevaluate or plan.todo)
    with ray_session(address or plan.study.spec.resources.address, plan.out_dir) if needs_ray else nullcontext():
        failed = reevaluate(plan, uri, console, data_root) if plan.reevaluate else []
        if plan.todo:
            failed += train_missing(plan, uri, tracker, parent_id, max_concurrent=max_concurrent,
                                    data_root=data_root, console=console)
    states = plan.states()
    states.update({k: "failed" for k in failed})
    write_manifest(plan.out_dir, plan.study, plan.trials, states)
    ok = len(plan.complete) == len(plan.trials) and not failed
    if plan.study.spec.soups.enabled:  # model soups of the finished trials, built in the driver
        ok = run_soups(plan, uri, tracker, parent_id, console, data_root) and ok
    run_study_analyses(plan, uri, parent_id, data_root, console)  # study-level analyses (affinity/diversity, MSD)
    tracker.finish_study(parent_id, "FINISHED" if ok else "FAILED")
    console.print(f"study {plan.study.name}: {len(plan.complete)}/{len(plan.trials)} complete, {len(failed)} failed "
                  f"-> {plan.out_dir}")
    return 0 if ok else 1
