"""Affinity and diversity of an augmentation (Gontijo-Lopes, Smullin, Cubuk, Dyer; ICLR 2021, "Tradeoffs in data
augmentation: an empirical study", arXiv 2002.08973). Accuracies are fractions in [0, 1]; both measures are ratios
(the ICLR version; the first arXiv version defined affinity as a difference).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from augmix_lab.errors import UserError

# the study-level table (one row per variant trial and seed), logged on the study's parent run
# (tracking.tags.AFFINITY_ARTIFACT) by orchestration/analyses.py and read by the report
COLUMNS = [
    "dataset",
    "model",
    "variant",
    "label",
    "method",
    "seed",
    "run_id",
    "heldout",
    "n_images",
    "clean_acc",
    "augmented_acc",
    "affinity",
    "train_loss",
    "baseline_train_loss",
    "diversity",
]


def affinity(augmented_acc, clean_acc):
    """Accuracy of the clean-trained baseline on augmented held-out data ÷ its accuracy on clean held-out data
    (the paper's "Affinity"); 1 = the augmentation leaves the data in-distribution for that model."""
    a, c = np.asarray(augmented_acc, dtype=np.float64), np.asarray(clean_acc, dtype=np.float64)
    if np.any(c <= 0) or np.any(c > 1) or np.any(a < 0) or np.any(a > 1):
        raise UserError(
            f"affinity: augmented_acc={a.tolist()}, clean_acc={c.tolist()}; allowed: fractions in [0, 1] "
            "with a clean accuracy above 0"
        )
    out = a / c
    return float(out) if out.ndim == 0 else out


def diversity(augmented_train_loss, baseline_train_loss):
    """Final training loss of the model trained with the augmentation ÷ the clean-trained baseline's final training
    loss (the paper's "Diversity"); > 1 = the augmentation makes the training data harder to fit."""
    a, b = np.asarray(augmented_train_loss, dtype=np.float64), np.asarray(baseline_train_loss, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.any(a < 0) or np.any(b <= 0):
        raise UserError(
            f"diversity: augmented_train_loss={a.tolist()}, baseline_train_loss={b.tolist()}; "
            "allowed: finite losses >= 0, baseline loss > 0"
        )
    out = a / b
    return float(out) if out.ndim == 0 else out


def affinity_diversity_table(rows: Iterable[Mapping[str, Any]]) -> Any:
    """One row per (variant trial, seed) with ``clean_acc``, ``augmented_acc`` (fractions), ``train_loss`` and
    ``baseline_train_loss`` filled in; adds ``affinity`` (ratio of accuracies) and ``diversity`` (ratio of final
    training losses; NaN when a loss is missing). A pandas DataFrame with ``COLUMNS``."""
    import pandas as pd

    out = []
    for r in rows:
        r = {c: r.get(c, math.nan) for c in COLUMNS}
        r["affinity"] = affinity(r["augmented_acc"], r["clean_acc"]) if r["clean_acc"] > 0 else math.nan
        ok = all(isinstance(r[k], (int, float)) and math.isfinite(r[k]) for k in ("train_loss", "baseline_train_loss"))
        r["diversity"] = (
            diversity(r["train_loss"], r["baseline_train_loss"]) if ok and r["baseline_train_loss"] > 0 else math.nan
        )
        out.append(r)
    return pd.DataFrame(out, columns=COLUMNS)
