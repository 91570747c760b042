"""Self-training in the driver: before a student's wave, its teacher labels the pool once (``training.self_training``).

The pseudo-label set is content-addressed (teacher key + pool + labelling options, ``student_set_key``): it lives at
``<out>/pseudo_labels/<key>.npz`` and as artifact ``pseudo_labels/<key>.npz`` on the teacher's MLflow run, and every
student asking for the same set reuses it (found locally, else downloaded from the teacher's run, else made). Making
one is a Ray task with a trial's resources when Ray is up (the teacher's forward pass over the pool), else inline.
Each student's run is tagged with its teacher's key and run, its round and the set's key (``link_runs``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from augmix_lab.evaluation.registry import PSEUDO_LABEL_ACCURACY
from augmix_lab.study.expand import Trial, dataset_version


def student_set_key(cfg: Any) -> str:
    """The content address of the pseudo-label set a student config asks for."""
    from augmix_lab.training.self_training import pool_identity, set_key

    return set_key(cfg.teacher.parent_key, pool_identity(cfg, dataset_version(cfg.dataset)), cfg.teacher.labelling())


def with_labels_file(trial: Trial, path: Path) -> Trial:
    """The student with its pseudo-label set's path (not part of its key, like ``init.checkpoint``)."""
    cfg = trial.config
    return dataclasses.replace(
        trial, config=cfg.model_copy(update={"teacher": cfg.teacher.model_copy(update={"labels_file": str(path)})})
    )


def label_pool(
    config: dict[str, Any], checkpoint: str, data_root: str | None, meta: dict[str, Any], threads: int = 1
) -> Any:
    """The teacher's pseudo-label set for the student ``config`` (a Ray task, or called inline)."""
    import torch

    from augmix_lab.config import TrialConfig
    from augmix_lab.training.self_training import make_pseudo_labels

    cfg = TrialConfig.model_validate(config)
    torch.set_num_threads(cfg.train.threads or max(1, int(threads)))
    return make_pseudo_labels(cfg, checkpoint, data_root, meta)


def _make(plan: Any, student: Trial, checkpoint: Path, data_root: str | None, meta: dict[str, Any]) -> Any:
    import ray

    config = student.config.model_dump(mode="json")
    res = plan.study.spec.resources
    if not ray.is_initialized():
        return label_pool(config, str(checkpoint), data_root, meta, int(res.cpus_per_trial))
    task = ray.remote(label_pool).options(
        num_cpus=res.cpus_per_trial, num_gpus=res.gpus_per_trial, max_retries=res.retries
    )
    return ray.get(task.remote(config, str(checkpoint), data_root, meta, int(res.cpus_per_trial)))


def ensure_pseudo_labels(
    plan: Any, student: Trial, uri: str, runs: dict[str, str], data_root: str | None, console: Any
) -> Path:
    """The student's pseudo-label set on this disk: reused when stored (here or on the teacher's run), else made by
    the teacher once and stored in both places."""
    from augmix_lab.orchestration.trainable import final_checkpoint
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.training.self_training import SET_DIR, set_path

    cfg = student.config
    teacher_key = cfg.teacher.parent_key
    assert teacher_key is not None
    key = student_set_key(cfg)
    path = set_path(plan.out_dir, key)
    if path.is_file():
        return path
    teacher_run = runs.get(teacher_key)
    if teacher_run is not None:
        got = TrialLogger(uri, teacher_run).download_file(f"{SET_DIR}/{path.name}", path.parent)
        if got is not None:
            return got
    checkpoint = final_checkpoint(plan.out_dir, teacher_key, uri, teacher_run)
    labels = {t.key: t.label for t in plan.trials}
    made = _make(plan, student, checkpoint, data_root, {"set_key": key, "teacher": teacher_key})
    made.save(path)
    if teacher_run is not None:
        TrialLogger(uri, teacher_run).log_file(path, SET_DIR)
    stats = made.meta
    console.print(
        f"[cyan]PSEUDO-LABELS[/cyan] {labels.get(teacher_key, teacher_key)}: kept {made.kept} of "
        f"{stats['pool_size']} pool images ({len(made.indices)} with copies), "
        f"{stats.get(PSEUDO_LABEL_ACCURACY, float('nan')):.1f} % correct against the withheld labels "
        f"[{key}]"
    )
    return path


def link_runs(
    plan: Any, todo: list[Trial], uri: str, runs: dict[str, str], run_ids: dict[str, str], launch: str
) -> None:
    """Tag each self-training student's run with its teacher (key, run), round and set key, and each two-stage
    child's run with its parent's run: the lineage the MLflow UI and the report follow."""
    from augmix_lab.tracking import TRACKING_TAGS, TrialLogger

    for t in todo:
        tags: dict[str, str] = {}
        cfg = t.config
        if cfg.teacher.is_set() and cfg.teacher.parent_key is not None:
            tags.update(
                {
                    TRACKING_TAGS.teacher_key: cfg.teacher.parent_key,
                    TRACKING_TAGS.round: str(cfg.teacher.round),
                    TRACKING_TAGS.pseudo_labels: student_set_key(cfg),
                }
            )
            if cfg.teacher.parent_key in runs:
                tags[TRACKING_TAGS.teacher_run] = runs[cfg.teacher.parent_key]
        if cfg.init.parent_key is not None and cfg.init.parent_key in runs:
            tags[TRACKING_TAGS.init_parent_run] = runs[cfg.init.parent_key]
        if tags and t.key in run_ids:
            TrialLogger(uri, run_ids[t.key], launch).set_tags(tags)
