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
    from augmix_lab.models.timm_models import input_convention

    run_ids = {}
    for t in plan.todo:
        convention = input_convention(t.config.model, t.config.pretrained)  # pretrained weights' input convention
        run_ids[t.key], _status = tracker.trial_run(
            parent_id,
            t.key,
            study=plan.study.name,
            variant=t.variant,
            seed=t.seed,
            axes=t.axes,
            params={**t.config.training_dict(), **({"input": convention} if convention else {})},
            config_yaml=yaml.safe_dump(t.config.model_dump(mode="json"), sort_keys=False),
            eval_key=t.eval_key,
            launch=launch,
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
    from augmix_lab.tracking.store import store_errors

    uri, artifact_location = resolve_tracking(plan.study.spec.tracking.uri, plan.out_dir)
    check_reachable(uri)  # a damaged store file: exit 2, never written into
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    with store_errors(uri):
        tracker = StudyTracker(uri, experiment_for(plan.study), artifact_location)
    parent_id = tracker.start_study(
        plan.study.name,
        plan.study.hash,
        plan.study.text,
        tags={TRACKING_TAGS.study_file: str(plan.study.path.resolve()), **override_tags(plan.study)},
        baseline=plan.study.spec.baseline or "",
    )
    tracker.log_plugins(parent_id, plan.study.plugins)  # tag + source files: the plugin code the trials ran
    return uri, tracker, parent_id


def train_missing(
    plan: StudyPlan,
    uri: str,
    tracker: Any,
    parent_id: str,
    launch: str,
    *,
    max_concurrent: int | None,
    data_root: str | None,
    console: Console,
) -> list[str]:
    """Train ``plan.todo`` on Ray Tune (Ray is up); moves the finished ones to ``plan.complete``. Returns failed keys.

    ``launch`` is this invocation's claim on the runs it hands out (tracking "one owner per run").
    """
    run_ids = create_runs(plan, tracker, parent_id, launch)
    finished, failed = run_waves(plan, uri, run_ids, launch, console, max_concurrent, data_root, run_tune)
    plan.complete.update({k: run_ids[k] for k in finished})
    return failed


def warm_compiled_kernels(plan: StudyPlan, console: Console) -> None:
    """Compile (or load from numba's disk cache) the CPU kernels once in the driver before trials start on CPU, so the
    Ray workers (one process per trial) load them from the cache instead of each compiling them (seconds of CPU)."""
    from augmix_lab import jit

    if not jit.available() or plan.study.spec.resources.gpus_per_trial > 0:
        return
    try:
        from augmix_lab.augment import compiled as augment_compiled
        from augmix_lab.corruptions import compiled as corruption_compiled

        seconds = augment_compiled.warm_up() + corruption_compiled.warm_up()
    except Exception as exc:  # noqa: BLE001 - an optimisation only: the trials then compile (or fall back) themselves
        console.print(f"[yellow]compiled CPU kernels not warmed up ({type(exc).__name__}: {exc})[/yellow]")
        return
    console.print(f"compiled CPU kernels ready in {seconds:.1f} s (numba cache {jit.kernel_cache_dir()})")


def run_study(
    study_path: str | Path,
    *,
    out: str | None = None,
    address: str | None = None,
    max_concurrent: int | None = None,
    dry_run: bool = False,
    data_root: str | None = None,
    console: Console | None = None,
    overrides: tuple[str, ...] = (),
    smoke: bool = False,
) -> int:
    """``augmix-lab run``. Exit code: 0 all trials complete, 1 any failed; bad input raises ``UserError`` (exit 2);
    Ctrl-C raises ``StudyInterrupted`` (exit 130) after recording the interrupted trials."""
    from augmix_lab.corruptions.sources import warn_source_fallbacks
    from augmix_lab.orchestration.interrupt import driver_sigint
    from augmix_lab.orchestration.lock import driver_lock
    from augmix_lab.orchestration.preflight import check_inputs
    from augmix_lab.orchestration.smoke import smoke_plan
    from augmix_lab.tracking import check_reachable, resolve_tracking

    console = console or make_console(stderr=True)
    plan = load_plan(study_path, out, overrides)  # validates the study: exit 2 before anything starts
    if smoke:
        plan = smoke_plan(plan, data_root, console)  # its own pre-flight of every input
    warn_source_fallbacks([t.config for t in plan.trials], data_root)  # 'auto' that would not read released files
    print_verdict(console, plan)
    if dry_run:
        print_trial_table(console, plan)
        console.print(f"dry run: {len(plan.trials)} trials, nothing started")
        return 0
    if not smoke:
        check_inputs([t.config for t in plan.trials], data_root)  # missing or damaged data: exit 2, nothing started
    check_reachable(resolve_tracking(plan.study.spec.tracking.uri, plan.out_dir)[0])  # a damaged store: exit 2
    with driver_lock(plan.out_dir, warn=console.print), driver_sigint(console.print):  # one driver per study
        return drive(plan, address=address, max_concurrent=max_concurrent, data_root=data_root, console=console)


def drive(
    plan: StudyPlan, *, address: str | None, max_concurrent: int | None, data_root: str | None, console: Console
) -> int:
    """The driver's work once it holds the study: store, Ray, re-evaluation, training, soups, analyses; however it
    ends (done, a failed trial, Ctrl-C, a crash) the parent run and every trial run it handed out say so."""
    uri, tracker, parent_id = open_study(plan)
    launch = uuid.uuid4().hex
    try:
        lookup_store(plan, uri)
        console.print(
            f"{len(plan.trials)} trials: {len(plan.complete)} complete, {len(plan.reevaluate)} to "
            f"re-evaluate, {len(plan.todo)} to train  (store {uri})"
        )
        write_manifest(plan.out_dir, plan.study, plan.trials, plan.states())

        # one Ray session for both: re-scorings run as Ray tasks on the workers, then the Tuner trains the rest
        needs_ray = bool(plan.reevaluate or plan.todo)
        if needs_ray:
            warm_compiled_kernels(plan, console)
        with (
            ray_session(address or plan.study.spec.resources.address, plan.out_dir, plan.study.plugins)
            if needs_ray
            else nullcontext()
        ):
            failed = reevaluate(plan, uri, console, data_root) if plan.reevaluate else []
            if plan.todo:
                failed += train_missing(
                    plan,
                    uri,
                    tracker,
                    parent_id,
                    launch,
                    max_concurrent=max_concurrent,
                    data_root=data_root,
                    console=console,
                )
        states = plan.states()
        states.update({k: "failed" for k in failed})
        write_manifest(plan.out_dir, plan.study, plan.trials, states)
        ok = len(plan.complete) == len(plan.trials) and not failed
        if plan.study.spec.soups.enabled:  # model soups of the finished trials, built in the driver
            ok = run_soups(plan, uri, tracker, parent_id, console, data_root) and ok
        run_study_analyses(plan, uri, parent_id, data_root, console)  # study-level analyses (affinity/diversity, MSD)
        tracker.finish_study(parent_id, "FINISHED" if ok else "FAILED", None if ok else _why_failed(plan, failed))
    except BaseException as exc:
        end_early(plan, uri, tracker, parent_id, launch, exc, console)
        raise
    console.print(
        f"study {plan.study.name}: {len(plan.complete)}/{len(plan.trials)} complete, {len(failed)} failed "
        f"-> {plan.out_dir}"
    )
    return 0 if ok else 1


def _why_failed(plan: StudyPlan, failed: list[str]) -> str:
    """The parent run's reason when a study ends unfinished."""
    if failed:
        return f"{len(failed)} of {len(plan.trials)} trials failed"
    return f"{len(plan.trials) - len(plan.complete)} of {len(plan.trials)} trials unfinished"


def end_early(
    plan: StudyPlan, uri: str, tracker: Any, parent_id: str, launch: str, exc: BaseException, console: Console
) -> None:
    """The driver stops before the end (Ctrl-C or a crash): record it in the store, then raise what the CLI shows.

    Trials that had started end KILLED (``augmix_lab.stopped``: ``interrupted`` or ``driver_failed``), trials that
    never started stay queued, the parent run ends KILLED (Ctrl-C) or FAILED with the reason. A full disk becomes
    ``DiskFull`` naming the study directory. Store writes that fail here are reported, never raised over ``exc``.
    """
    from augmix_lab.errors import DiskFull, is_disk_full, one_line
    from augmix_lab.orchestration.interrupt import RESUME_HINT, StudyInterrupted, shielded
    from augmix_lab.tracking.tags import STOP_DRIVER_FAILED, STOP_INTERRUPTED

    interrupted = isinstance(exc, KeyboardInterrupt)
    if interrupted:
        kind, trial_reason, parent_reason = STOP_INTERRUPTED, "interrupted (Ctrl-C)", f"{RESUME_HINT} (Ctrl-C)"
    else:
        need = study_checkpoint_bytes(plan)
        if not isinstance(exc, DiskFull) and (is_disk_full(exc) or disk_nearly_full(plan.out_dir, need)):
            # a full disk also shows as torn files read back later (Ray's "pickle data was truncated")
            cause = "" if is_disk_full(exc) else f" (the error it caused: {one_line(exc)})"
            exc = DiskFull(plan.out_dir, need, f"each trial's checkpoints{cause}")
        parent_reason = one_line(exc) if not isinstance(exc, DiskFull) else str(exc)
        kind, trial_reason = STOP_DRIVER_FAILED, f"its driver failed ({parent_reason})"
    with shielded():
        try:
            settled = tracker.settle_launch(launch, kind, trial_reason)
            tracker.finish_study(parent_id, "KILLED" if interrupted else "FAILED", parent_reason)
            plan.complete.update(tracker.completed_trials([t.key for t in plan.todo]))  # finished before the stop
            write_manifest(plan.out_dir, plan.study, plan.trials, plan.states())
        except Exception as store_exc:  # noqa: BLE001 - the store may be what failed (a full disk)
            console.print(
                f"[yellow]warning[/yellow]: could not record the study's end in {uri}: "
                f"{type(store_exc).__name__}: {(str(store_exc).splitlines() or [''])[0]}"
            )
            settled = {"stopped": [], "queued": []}
    if interrupted:
        console.print(
            f"{len(settled['stopped'])} running trial(s) recorded as interrupted, "
            f"{len(settled['queued'])} not started; {len(plan.complete)}/{len(plan.trials)} complete"
        )
        raise StudyInterrupted(RESUME_HINT) from None
    if isinstance(exc, DiskFull):
        raise exc from None


def disk_nearly_full(folder: Path, need: int | None) -> bool:
    """Less room left on ``folder``'s disk than one trial's checkpoints (or 1 MB): the likely cause of a crash."""
    import shutil

    folder = Path(folder)
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < max(need or 0, 1 << 20)
    except OSError:
        return False


def study_checkpoint_bytes(plan: StudyPlan) -> int | None:
    """About how much disk one trial's checkpoints take (the largest model of the study), for a full disk's message."""
    from augmix_lab.orchestration.estimate import KNOWN_SIZES
    from augmix_lab.training.checkpoint import checkpoint_bytes

    def classes(name: str) -> int:
        return KNOWN_SIZES.get(name, (0, 0, 10, 0))[2]  # the last layer only: other datasets' count barely matters

    try:
        return max(checkpoint_bytes(t.config, classes(t.config.dataset.name)) for t in plan.trials) or None
    except Exception:  # noqa: BLE001 - only decorates a message
        return None
