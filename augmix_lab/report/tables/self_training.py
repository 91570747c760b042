"""Self-training students beside their teachers, pseudo-labels, supervised and pre-trained models (issue 25; Zoph et
al., NeurIPS 2020, compare supervised, pre-trained and self-trained models as the labelled data and the augmentation
strength grow). The -C error against the labelled fraction per arm: report/plots/self_training.py.

A condition's arm comes from its logged training params: ``teacher.parent`` = self-trained (Noisy Student), a run that
logged a metric of the ``online_pseudo_labels`` group (FixMatch's mask rate) = self-trained online, ``init.parent`` /
``init.sha256`` / ``pretrained.sha256`` = pre-trained, else supervised. The labelled fraction is the ``labelled_fraction`` metric (1 for trials without
``dataset.labelled``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from augmix_lab.evaluation.registry import (
    C_RMS_CALIB_ERROR,
    CLEAN_ERROR,
    LABELLED_FRACTION,
    MEAN_CORRUPTION_ERROR,
    ONLINE_PSEUDO_LABELS,
    PSEUDO_LABEL_ACCURACY,
    PSEUDO_LABELS_KEPT,
    metric_names,
)
from augmix_lab.report.loading import Condition
from augmix_lab.report.stats import MISSING, format_number, format_p, format_stat
from augmix_lab.report.tables.core import DAGGER, Results, Table, metric_title
from augmix_lab.report.tables.registry import register_table
from augmix_lab.study.init import ROUND_AXIS

SUPERVISED, PRETRAINED, SELF_TRAINED, ONLINE = "supervised", "pre-trained", "self-trained", "self-trained (online)"
ARMS = (SUPERVISED, PRETRAINED, SELF_TRAINED, ONLINE)
# training_dict keys, flattened
TEACHER_PARAM, INIT_PARAMS = "teacher.parent", ("init.parent", "init.sha256", "pretrained.sha256")
LABELLED_PARAM = "dataset.labelled"
LABELLED_FRACTION_AXIS = "dataset.labelled.fraction"
METRICS = (CLEAN_ERROR, MEAN_CORRUPTION_ERROR, C_RMS_CALIB_ERROR)


def arm_of(res: Results, c: Condition) -> str:
    """The condition's arm from its logged training params and metrics (no torch: the report only reads)."""
    params = res.params.get(c, {})
    if params.get(TEACHER_PARAM):
        return SELF_TRAINED
    online = set(metric_names(group=ONLINE_PSEUDO_LABELS))  # a hook that pseudo-labels online logs one of these
    if any(online & set(t.metrics) for t in _records(res, c)):
        return ONLINE
    if any(params.get(p) for p in INIT_PARAMS):
        return PRETRAINED
    return SUPERVISED


def labelled_fraction(res: Results, c: Condition) -> float:
    """Mean labelled fraction over the condition's seeds; without a finished run the configured fraction (NaN for
    ``per_class``); 1 for trials that keep every label."""
    s = res.stat(c, LABELLED_FRACTION)
    if s is not None and s.n:
        return s.mean
    params = res.params.get(c, {})
    if params.get(f"{LABELLED_PARAM}.fraction"):
        return float(params[f"{LABELLED_PARAM}.fraction"])
    return math.nan if params.get(f"{LABELLED_PARAM}.per_class") else 1.0


def _records(res: Results, c: Condition) -> list[Any]:
    return [t for t in res.runs.trials if t.condition == c]


def teacher_label(res: Results, c: Condition) -> str:
    """The row label of the condition's teacher (its trials' ``teacher.parent`` keys)."""
    keys = {t.params.get(TEACHER_PARAM) for t in _records(res, c)} - {None, ""}
    by_key = {t.trial_key: t for t in res.runs.trials}
    labels = sorted({by_key[k].condition.label for k in keys if k in by_key})
    return ", ".join(labels) if labels else (MISSING if not keys else "(not in this study)")


def applies(res: Results) -> list[Condition]:
    """The plain conditions of every (dataset, model) that has a labelled split, a student, online pseudo-labelling
    or a pre-trained init (its supervised conditions stay as the reference)."""
    conds = [c for c in res.conditions if c.sweep is None]
    groups = {
        (c.dataset, c.model) for c in conds if LABELLED_FRACTION in res.per_seed[c] or arm_of(res, c) != SUPERVISED
    }
    return [c for c in conds if (c.dataset, c.model) in groups]


@register_table("self_training", order=105)
def self_training_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    conds = applies(res)
    if not conds:
        return None
    base = res.runs.baseline or "the baseline"
    table = Table(
        "self_training",
        "Self-training: students, their teachers and pseudo-labels against supervised and pre-trained models",
        [
            "Dataset",
            "Model",
            "Arm",
            "Variant",
            "Round",
            "Teacher",
            "Labelled",
            "Pseudo-labels kept",
            f"{metric_title(PSEUDO_LABEL_ACCURACY)} (%)",
            *(metric_title(m) for m in METRICS),
            f"Δ {metric_title(MEAN_CORRUPTION_ERROR)} vs {base}",
            "p (paired t)",
        ],
        [],
        res.legend()
        + [
            "Arm: self-trained = a teacher labelled the unlabelled pool once (Noisy Student); online = pseudo-labels "
            "made during training (FixMatch); pre-trained = init from another model's weights. Labelled = the share "
            "of the training split with labels. Pseudo-label accuracy = the kept labels' argmax against the labels "
            "withheld from training, % of the distinct pool images kept."
        ],  # the legend has the † note
        key_names=("dataset", "model", "variant", "metric"),
    )
    metric = MEAN_CORRUPTION_ERROR
    for c in sorted(conds, key=lambda c: (c.dataset, c.model, ARMS.index(arm_of(res, c)), c.variant, c.axes)):
        arm = arm_of(res, c)
        student = arm == SELF_TRAINED
        kept = res.stat(c, PSEUDO_LABELS_KEPT)
        comp = res.compare(c, metric)
        table.rows.append(
            [
                c.dataset,
                c.model,
                arm,
                c.label,
                str(c.axis_value(ROUND_AXIS) or 1) if student else MISSING,
                teacher_label(res, c) if student else MISSING,
                format_number(100 * labelled_fraction(res, c), 1) + " %",
                format_number(kept.mean, 0) if kept is not None else MISSING,
                res.cell(c, PSEUDO_LABEL_ACCURACY) if student else MISSING,
                *(res.cell(c, m, table.notes) for m in METRICS),
                format_stat(comp.diff, mark=DAGGER if comp.significant else "") if comp is not None else MISSING,
                format_p(comp.p_value, comp.diff.n) if comp is not None else MISSING,
            ]
        )
        for m in (*METRICS, PSEUDO_LABEL_ACCURACY, PSEUDO_LABELS_KEPT, LABELLED_FRACTION):
            table.put((c.dataset, c.model, c.label, m), res.stat(c, m), arm=arm, **res.tidy_extra(c, m))
    return table
