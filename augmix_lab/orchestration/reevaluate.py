"""Re-evaluation: re-score the stored checkpoints of finished trials whose evaluation settings changed; never retrains."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from augmix_lab.orchestration.plan import StudyPlan
from augmix_lab.study import Trial


def local_checkpoint(logger: object, out_dir: Path, key: str) -> Path:
    """The trial's final checkpoint in its work directory, downloaded from the store when it is not there."""
    from augmix_lab.orchestration.trainable import FINAL_CHECKPOINT_FILE, trial_workdir

    ckpt = trial_workdir(out_dir, key) / "checkpoints" / FINAL_CHECKPOINT_FILE
    if not ckpt.is_file():
        got = Path(logger.download_checkpoint("final", ckpt.parent))  # type: ignore[attr-defined]
        if got != ckpt:
            got.replace(ckpt)
    return ckpt


def reevaluate_trial(trial: Trial, run_id: str, uri: str, out_dir: Path, data_root: str | None) -> dict:
    """Score one stored checkpoint with the trial's current settings and log it into the trial's run."""
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.training import evaluate_checkpoint

    logger = TrialLogger(uri, run_id)
    card = evaluate_checkpoint(trial.config, local_checkpoint(logger, out_dir, trial.key), data_root=data_root)
    logger.log_scorecard(card.summary, card.table, card.predictions)
    logger.mark_evaluated(trial.eval_key)
    return card.summary


def reevaluate(plan: StudyPlan, uri: str, console: Console, data_root: str | None) -> list[str]:
    """Re-score every trial in ``plan.reevaluate``; moves each success to ``plan.complete``. Returns failed keys."""
    failed = []
    by_key = {t.key: t for t in plan.trials}
    for key, run_id in plan.reevaluate.items():
        t = by_key[key]
        try:
            summary = reevaluate_trial(t, run_id, uri, plan.out_dir, data_root)
            plan.complete[key] = run_id
            console.print(f"[cyan]RE-EVALUATED[/cyan] {t.label}  mCE {summary.get('mean_corruption_error', float('nan')):.2f}%")
        except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the study
            failed.append(key)
            console.print(f"[red]RE-EVALUATION FAILED[/red] {t.label}: {type(exc).__name__}: {exc}")
    for key in plan.complete:
        plan.reevaluate.pop(key, None)
    return failed
