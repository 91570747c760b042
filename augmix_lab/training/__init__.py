"""Training: losses (CE + JSD), PGD adversarial examples, checkpoints, and the one-trial trainer ``run_trial``."""

from augmix_lab.training.losses import augmix_loss, cross_entropy, jsd_consistency
from augmix_lab.training.trainer import (
    TrialCallbacks,
    TrialResult,
    evaluate_checkpoint,
    resolve_device,
    run_trial,
)

__all__ = [
    "TrialCallbacks",
    "TrialResult",
    "augmix_loss",
    "cross_entropy",
    "evaluate_checkpoint",
    "jsd_consistency",
    "resolve_device",
    "run_trial",
]
