"""Tune driving: one ``tune.Tuner`` over a plan's unfinished trials, run quietly, its results sorted by outcome."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console

from augmix_lab.orchestration.plan import StudyPlan
from augmix_lab.paths import ray_storage_dir

_QUIET_LOGGERS = ("ray.tune", "ray.train", "ray.air")


def scheduler(plan: StudyPlan) -> Any:
    res = plan.study.spec.resources
    if res.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(metric=res.asha.metric, mode=res.asha.mode, time_attr="training_iteration",
                         max_t=max(1, max(t.config.epochs for t in plan.todo)) + 1,  # +1: the final evaluated report
                         grace_period=res.asha.grace_period, reduction_factor=res.asha.reduction_factor)


def make_trainable(plan: StudyPlan, uri: str, run_ids: dict[str, str], launch: str, data_root: str | None) -> Any:
    """The function trainable with every trial's config, run id and launch id bound in (Ray ships it once)."""
    from ray import tune

    from augmix_lab.orchestration.trainable import train_trial

    res = plan.study.spec.resources
    payload = {t.key: {"config": t.config.model_dump(mode="json"), "run_id": run_ids[t.key], "launch": launch}
               for t in plan.todo}
    trainable = tune.with_parameters(train_trial, trials=payload, tracking_uri=uri, out_dir=str(plan.out_dir),
                                     data_root=data_root, cpus_per_trial=res.cpus_per_trial)
    return tune.with_resources(trainable, {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial})


def make_tuner(plan: StudyPlan, trainable: Any, progress: Any, max_concurrent: int | None) -> Any:
    from ray import tune

    res = plan.study.spec.resources
    labels = {t.key: t.label for t in plan.todo}
    return tune.Tuner(
        trainable,
        param_space={"trial_key": tune.grid_search([t.key for t in plan.todo])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent or res.max_concurrent_trials, scheduler=scheduler(plan),
            reuse_actors=True,  # no new worker process (torch import, ~5 s) per trial; trials share no state
            trial_name_creator=lambda trial: labels.get(trial.config["trial_key"], trial.trial_id),
            trial_dirname_creator=lambda trial: trial.config["trial_key"],
        ),
        run_config=tune.RunConfig(
            name=f"{plan.study.name}-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=res.storage_path or str(ray_storage_dir(plan.out_dir)),
            failure_config=tune.FailureConfig(max_failures=res.retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1), callbacks=[progress], verbose=0,
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


def sort_results(grid: Any, uri: str, run_ids: dict[str, str], launch: str) -> tuple[list[str], list[str]]:
    """(finished keys, failed keys); a trial the scheduler stopped early is recorded as KILLED."""
    from augmix_lab.orchestration.trainable import DONE_METRIC, FAILED_METRIC
    from augmix_lab.tracking import TrialLogger

    finished, failed = [], []
    for result in grid:
        key = (result.config or {}).get("trial_key")
        metrics = result.metrics or {}
        if key is None:
            continue
        if result.error is not None or metrics.get(FAILED_METRIC):
            failed.append(key)
        elif metrics.get(DONE_METRIC):
            finished.append(key)
        else:  # stopped by the scheduler (ASHA) before the end: a deliberate outcome, recorded as KILLED
            TrialLogger(uri, run_ids[key], launch).set_status("KILLED", "stopped early by the ASHA scheduler")
    return finished, failed


def run_tune(plan: StudyPlan, uri: str, run_ids: dict[str, str], launch: str, console: Console,
             max_concurrent: int | None, data_root: str | None) -> tuple[list[str], list[str]]:
    """One Tuner over the unfinished trials. Returns (finished keys, failed keys)."""
    from augmix_lab.orchestration.progress import StudyProgress

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter honours verbose=0: no tables, no banners
    progress = StudyProgress(len(plan.todo), {t.key: t.label for t in plan.todo}, console,
                             epochs={t.key: t.config.epochs for t in plan.todo})
    tuner = make_tuner(plan, make_trainable(plan, uri, run_ids, launch, data_root), progress, max_concurrent)
    with quiet_ray_logs(), progress:
        grid = tuner.fit()
    return sort_results(grid, uri, run_ids, launch)
