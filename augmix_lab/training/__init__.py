"""Training: losses (CE + JSD), training hooks (PGD adversarial training, AugMax), the method-string parser ``MethodSpec``,
checkpoints, the shared training step (``TrainStep``/``build_train_step``) and the one-trial ``Trainer``
(``run_trial`` is its one-call wrapper)."""

from augmix_lab.device import resolve_device
from augmix_lab.training import adversarial, augmax, fixmatch  # noqa: F401  (importing registers the training hooks)
from augmix_lab.training.checkpoint import FINAL_CHECKPOINT, LAST_CHECKPOINT, checkpoint_paths
from augmix_lab.training.hooks import TRAINING_HOOKS, TrainingHook
from augmix_lab.training.losses import augmix_loss, cross_entropy, jsd_consistency
from augmix_lab.training.spec import MethodSpec
from augmix_lab.training.step import StepOutput, TrainStep, build_train_step
from augmix_lab.training.trainer import (
    Trainer,
    TrialCallbacks,
    TrialResult,
    evaluate_checkpoint,
    run_trial,
)

__all__ = [
    "FINAL_CHECKPOINT",
    "LAST_CHECKPOINT",
    "MethodSpec",
    "TRAINING_HOOKS",
    "StepOutput",
    "TrainStep",
    "Trainer",
    "TrainingHook",
    "TrialCallbacks",
    "TrialResult",
    "augmix_loss",
    "build_train_step",
    "checkpoint_paths",
    "cross_entropy",
    "evaluate_checkpoint",
    "jsd_consistency",
    "resolve_device",
    "run_trial",
]
