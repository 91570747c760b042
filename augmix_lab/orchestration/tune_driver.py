"""Tune driving: ``tune.Tuner`` rounds over a plan's unfinished trials, run quietly, their results sorted by outcome.

Round 1 runs every unfinished trial with ``resources.gpus_per_trial``. A trial that ran out of CUDA memory with a GPU
fraction below 1 reports ``OOM_METRIC`` instead of failing; the next round re-runs just those trials with the fraction
doubled (0.25 -> 0.5 -> 1, ``next_gpu_fraction``), each resuming from its last checkpoint, and the re-pack is recorded
in the trial's run (tag ``augmix_lab.repacks``). At a whole GPU an OOM is an ordinary failure (the trainable records it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from augmix_lab.orchestration.plan import StudyPlan
from augmix_lab.paths import ray_storage_dir

_QUIET_LOGGERS = ("ray.tune", "ray.train", "ray.air")


def scheduler(plan: StudyPlan) -> Any:
    res = plan.study.spec.resources
    if res.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        metric=res.asha.metric,
        mode=res.asha.mode,
        time_attr="training_iteration",
        max_t=max(1, max(t.config.epochs for t in plan.todo)) + 1,  # +1: the final evaluated report
        grace_period=res.asha.grace_period,
        reduction_factor=res.asha.reduction_factor,
    )


def next_gpu_fraction(fraction: float) -> float | None:
    """The GPU share to re-pack an out-of-memory trial into: doubled, capped at a whole GPU; None when there is none."""
    if not 0 < fraction < 1:
        return None
    return min(1.0, 2.0 * fraction)


def make_trainable(
    plan: StudyPlan, uri: str, run_ids: dict[str, str], launch: str, data_root: str | None, keys: list[str], gpus: float
) -> Any:
    """The function trainable with the round's trials' configs, run ids and launch id bound in (Ray ships it once)."""
    from ray import tune

    from augmix_lab.orchestration.trainable import INJECT_CRASH_ENV, INJECT_OOM_ENV, train_trial

    res = plan.study.spec.resources
    by_key = {t.key: t for t in plan.todo}
    runs = {**plan.complete, **plan.reevaluate, **run_ids}  # a child's parent may be a finished trial
    payload = {
        k: {
            "config": by_key[k].config.model_dump(mode="json"),
            "run_id": run_ids[k],
            "launch": launch,
            "parent_run_id": runs.get(by_key[k].config.init.parent_key or ""),
            "teacher_run_id": runs.get(by_key[k].config.teacher.parent_key or ""),
        }
        for k in keys
    }
    trainable = tune.with_parameters(
        train_trial,
        trials=payload,
        tracking_uri=uri,
        out_dir=str(plan.out_dir),
        data_root=data_root,
        cpus_per_trial=res.cpus_per_trial,
        gpus_per_trial=gpus,
        inject_oom=os.environ.get(INJECT_OOM_ENV),
        inject_crash=os.environ.get(INJECT_CRASH_ENV),
        plugins=[p.to_dict() for p in plan.study.plugins],
    )
    return tune.with_resources(trainable, {"cpu": res.cpus_per_trial, "gpu": gpus})


def make_tuner(
    plan: StudyPlan,
    trainable: Any,
    progress: Any,
    max_concurrent: int | None,
    keys: list[str] | None = None,
    round_no: int = 1,
) -> Any:
    from ray import tune

    from augmix_lab.orchestration.interrupt import interrupt_stopper

    res = plan.study.spec.resources
    keys = [t.key for t in plan.todo] if keys is None else keys
    labels = {t.key: t.label for t in plan.todo}
    return tune.Tuner(
        trainable,
        param_space={"trial_key": tune.grid_search(keys)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent or res.max_concurrent_trials,
            scheduler=scheduler(plan),
            reuse_actors=True,  # no new worker process (torch import, ~5 s) per trial; trials share no state
            trial_name_creator=lambda trial: labels.get(trial.config["trial_key"], trial.trial_id),
            trial_dirname_creator=lambda trial: trial.config["trial_key"],
        ),
        run_config=tune.RunConfig(
            name=f"{plan.study.name}-{time.strftime('%Y%m%d-%H%M%S')}" + (f"-r{round_no}" if round_no > 1 else ""),
            storage_path=res.storage_path or str(ray_storage_dir(plan.out_dir)),
            failure_config=tune.FailureConfig(max_failures=res.retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[progress],
            verbose=0,
            stop=interrupt_stopper(),  # Ctrl-C ends every trial cleanly (orchestration/interrupt.py)
        ),
    )


@contextmanager
def quiet_ray_logs() -> Iterator[None]:
    """Our progress view reports each trial; failures' tracebacks are in MLflow and Ray's logs."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def crash_reason(error: Any, attempts: int) -> str:
    """A trial Ray gave up on, in one line: how often it ran and its last error."""
    from augmix_lab.errors import one_line

    return f"crashed in each of its {attempts} attempt(s) (resources.retries = {attempts - 1}): {one_line(error)}"


def sort_results(
    grid: Any, uri: str, run_ids: dict[str, str], launch: str, retries: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """(finished, failed, out-of-memory keys), each trial's run left true to the outcome.

    A trial whose retries are used up ends FAILED with Ray's last error when its worker could not say why (killed,
    lost); a trial the scheduler stopped early ends KILLED (``augmix_lab.stopped = scheduler``). After Ctrl-C the
    unfinished ones are left to the driver, which records them as interrupted (``runner.end_early``).
    """
    from augmix_lab.orchestration.interrupt import INTERRUPT
    from augmix_lab.orchestration.trainable import DONE_METRIC, FAILED_METRIC, OOM_METRIC
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.tracking.tags import STOP_SCHEDULER

    finished, failed, oom = [], [], []
    for result in grid:
        key = (result.config or {}).get("trial_key")
        metrics = result.metrics or {}
        if key is None:
            continue
        if metrics.get(DONE_METRIC):
            finished.append(key)
        elif metrics.get(FAILED_METRIC):
            failed.append(key)
        elif result.error is not None:  # (Ctrl-C never reaches the workers: Ray runs them in their own sessions)
            failed.append(key)
            TrialLogger(uri, run_ids[key], launch).fail_if_unfinished(crash_reason(result.error, retries + 1))
        elif INTERRUPT.requested:
            continue  # Ctrl-C stopped it: not a failure and not the scheduler's doing; end_early records it
        elif metrics.get(OOM_METRIC):
            oom.append(key)
        else:  # stopped by the scheduler (ASHA) before the end: a deliberate outcome, recorded as KILLED
            TrialLogger(uri, run_ids[key], launch).mark_stopped(STOP_SCHEDULER, "stopped early by the ASHA scheduler")
    return finished, failed, oom


ETA_BUDGET_S = 20.0  # at most this long measuring uncached step costs for the study ETA before training starts


def trial_costs(plan: StudyPlan, data_root: str | None) -> dict[str, tuple[float, float]]:
    """Predicted (seconds per epoch, seconds for the final evaluation) per unfinished trial, from the step costs of
    its method, model and batch (``plan``'s cache, else measured here within ``ETA_BUDGET_S``); never fails."""
    from augmix_lab.orchestration.estimate import estimate_trials

    try:
        estimates = estimate_trials(plan.todo, data_root=data_root, budget_s=ETA_BUDGET_S)
    except Exception:  # noqa: BLE001 - only the ETA depends on it (it falls back to the mean epoch time)
        return {}
    return {key: (est.epoch_seconds, est.final_eval_seconds) for key, est in estimates.items()}


def concurrent_slots(plan: StudyPlan, gpus: float, max_concurrent: int | None) -> int | None:
    """How many trials Tune runs at once on this cluster (CPUs, GPUs and the concurrency cap)."""
    import ray

    try:
        resources = ray.cluster_resources()
    except Exception:  # noqa: BLE001
        return None
    res = plan.study.spec.resources
    slots = int(resources.get("CPU", 1) // max(res.cpus_per_trial, 1e-9)) if res.cpus_per_trial else 10**6
    if gpus > 0:
        slots = min(slots, int(resources.get("GPU", 0) / gpus + 1e-9))
    cap = max_concurrent or res.max_concurrent_trials
    return max(1, min(slots, cap) if cap else slots)


def run_round(
    plan: StudyPlan,
    uri: str,
    run_ids: dict[str, str],
    launch: str,
    console: Console,
    max_concurrent: int | None,
    data_root: str | None,
    keys: list[str],
    gpus: float,
    round_no: int = 1,
    costs: dict[str, tuple[float, float]] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """One Tuner over ``keys`` with ``gpus`` GPU each. Returns (finished, failed, out-of-memory keys)."""
    from augmix_lab.orchestration.interrupt import INTERRUPT, graceful
    from augmix_lab.orchestration.progress import StudyProgress

    todo = [t for t in plan.todo if t.key in keys]
    progress = StudyProgress(
        len(keys),
        {t.key: t.label for t in todo},
        console,
        epochs={t.key: t.config.epochs for t in todo},
        costs=costs,
        slots=concurrent_slots(plan, gpus, max_concurrent),
    )
    trainable = make_trainable(plan, uri, run_ids, launch, data_root, keys, gpus)
    tuner = make_tuner(plan, trainable, progress, max_concurrent, keys, round_no)
    with quiet_ray_logs(), progress, graceful():
        grid = tuner.fit()
    outcome = sort_results(grid, uri, run_ids, launch, plan.study.spec.resources.retries)
    INTERRUPT.check()  # Ctrl-C during the round: the driver records the rest (runner.end_early)
    return outcome


def repack(
    plan: StudyPlan,
    uri: str,
    run_ids: dict[str, str],
    launch: str,
    console: Console,
    keys: list[str],
    old: float,
    new: float,
) -> None:
    """Record each out-of-memory trial's move to a larger GPU share in its run, and say so."""
    from augmix_lab.tracking import TrialLogger

    labels = {t.key: t.label for t in plan.todo}
    for key in keys:
        chain = TrialLogger(uri, run_ids[key], launch).record_repack(old, new)
        console.print(
            f"[yellow]RE-PACKED[/yellow] {labels.get(key, key)}: CUDA out of memory at {old:g} GPU, "
            f"retrying with {new:g} GPU from its last checkpoint ({chain})"
        )


def run_tune(
    plan: StudyPlan,
    uri: str,
    run_ids: dict[str, str],
    launch: str,
    console: Console,
    max_concurrent: int | None,
    data_root: str | None,
) -> tuple[list[str], list[str]]:
    """Tuner rounds over the unfinished trials, re-packing out-of-memory ones. Returns (finished, failed) keys."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter honours verbose=0: no tables, no banners
    # no per-trial CSV/JSON/TensorBoard result files: MLflow holds every result, and Tune leaves those files open when
    # it stops trials on Ctrl-C (TuneController._schedule_trial_stop never calls the loggers' log_trial_end)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    keys, gpus = [t.key for t in plan.todo], plan.study.spec.resources.gpus_per_trial
    finished: list[str] = []
    failed: list[str] = []
    round_no = 1
    costs = trial_costs(plan, data_root)  # the study ETA's per-trial costs (method, model, batch)
    while keys:
        done, bad, oom = run_round(
            plan, uri, run_ids, launch, console, max_concurrent, data_root, keys, gpus, round_no, costs
        )
        finished += done
        failed += bad
        bigger = next_gpu_fraction(gpus)
        if oom and bigger is None:  # the trainable fails an OOM at a whole GPU itself; this only guards the loop
            from augmix_lab.tracking import TrialLogger

            for key in oom:
                TrialLogger(uri, run_ids[key], launch).set_status("FAILED", f"CUDA out of memory at {gpus:g} GPU")
            return finished, failed + oom
        if oom:
            repack(plan, uri, run_ids, launch, console, oom, gpus, bigger)  # type: ignore[arg-type]
        keys, gpus, round_no = oom, bigger or gpus, round_no + 1
    return finished, failed
