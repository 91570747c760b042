"""Re-evaluation: re-score the stored checkpoints of finished trials whose evaluation settings changed; never retrains.

Each re-scoring is a Ray task with the trial's resources (``resources.cpus_per_trial`` / ``gpus_per_trial``), so on a
cluster they run in parallel on the GPU workers rather than one after another on the driver's device. The task fetches
the checkpoint itself (the trial's work directory, else the run's MLflow artifact) and logs the scorecard into the
trial's run through ``TrialLogger``; one bad checkpoint is reported with its reason and the study goes on.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from rich.console import Console

from augmix_lab.evaluation.registry import headline_text
from augmix_lab.orchestration.plan import StudyPlan


def reevaluate_trial(
    config: dict[str, Any],
    key: str,
    eval_key: str,
    run_id: str,
    uri: str,
    out_dir: str,
    data_root: str | None,
    cpus_per_trial: float = 1.0,
    plugins: list[dict[str, Any]] | None = None,
) -> dict:
    """Score one stored checkpoint with the trial's current settings and log it into the trial's run (a Ray task)."""
    import torch

    from augmix_lab.config import TrialConfig
    from augmix_lab.orchestration.trainable import dataset_records, final_checkpoint
    from augmix_lab.plugins import ensure_plugins
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.training import evaluate_checkpoint

    ensure_plugins(plugins or [])  # the study's methods, models, metrics ... in this worker too
    cfg = TrialConfig.model_validate(config)
    torch.set_num_threads(cfg.train.threads or max(1, int(cpus_per_trial)))  # as a trial: no oversubscription
    logger = TrialLogger(uri, run_id)
    card = evaluate_checkpoint(cfg, final_checkpoint(out_dir, key, uri, run_id), data_root=data_root)
    logger.log_scorecard(card.summary, card.table, card.arrays, card.predictions)
    logger.log_datasets(dataset_records(cfg, card.table))
    logger.mark_evaluated(eval_key, worker=f"{socket.gethostname()}:{os.getpid()}")
    return dict(card.summary)


def _reason(exc: BaseException) -> str:
    """The task's own exception (Ray wraps it in a RayTaskError whose text is the whole remote traceback)."""
    cause = getattr(exc, "cause", None)
    exc = cause if isinstance(cause, BaseException) else exc
    return f"{type(exc).__name__}: {exc}"


def submit(plan: StudyPlan, uri: str, data_root: str | None) -> dict[Any, str]:
    """One Ray task per trial to re-score, with the trial's resources; ``{object ref: trial key}``."""
    import ray

    res = plan.study.spec.resources
    task = ray.remote(reevaluate_trial).options(
        num_cpus=res.cpus_per_trial, num_gpus=res.gpus_per_trial, max_retries=res.retries
    )
    by_key = {t.key: t for t in plan.trials}
    refs = {}
    for key, run_id in plan.reevaluate.items():
        t = by_key[key]
        refs[
            task.remote(
                t.config.model_dump(mode="json"),
                key,
                t.eval_key,
                run_id,
                uri,
                str(plan.out_dir),
                data_root,
                res.cpus_per_trial,
                [p.to_dict() for p in plan.study.plugins],
            )
        ] = key
    return refs


def reevaluate(plan: StudyPlan, uri: str, console: Console, data_root: str | None) -> list[str]:
    """Re-score every trial in ``plan.reevaluate`` as parallel Ray tasks (Ray must be up); moves each success to
    ``plan.complete``. Returns failed keys."""
    import ray

    labels = {t.key: t.label for t in plan.trials}
    refs = submit(plan, uri, data_root)
    failed = []
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        key = refs[ready[0]]
        try:
            summary = ray.get(ready[0])
            plan.complete[key] = plan.reevaluate[key]
            console.print(f"[cyan]RE-EVALUATED[/cyan] {labels[key]}  {headline_text(summary)}")
        except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the study
            failed.append(key)
            console.print(f"[red]RE-EVALUATION FAILED[/red] {labels[key]}: {_reason(exc)}")
    for key in plan.complete:
        plan.reevaluate.pop(key, None)
    return failed
