"""Self-training and pre-training in the report (issue 25): the ``self_training`` table and the -C error against the
labelled fraction per arm (Zoph et al., NeurIPS 2020, compare supervised, pre-trained and self-trained models as the
labelled data and the augmentation strength grow).

A condition's arm comes from its logged training params: ``teacher.parent`` = self-trained (Noisy Student), a method
whose training hook learns from the pool (FixMatch) = self-trained online, ``init.parent`` / ``init.sha256`` =
pre-trained, else supervised. The labelled fraction is the ``labelled_fraction`` metric (1 for trials without
``dataset.labelled``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from augmix_lab.evaluation.registry import (
    C_RMS_CALIB_ERROR,
    CLEAN_ERROR,
    LABELLED_FRACTION,
    MEAN_CORRUPTION_ERROR,
    PSEUDO_LABEL_ACCURACY,
    PSEUDO_LABELS_KEPT,
)
from augmix_lab.report.loading import Condition
from augmix_lab.report.stats import MISSING, format_number, format_p, format_stat
from augmix_lab.report.tables.core import DAGGER, Results, Table, metric_title
from augmix_lab.study.init import ROUND_AXIS

SUPERVISED, PRETRAINED, SELF_TRAINED, ONLINE = "supervised", "pre-trained", "self-trained", "self-trained (online)"
ARMS = (SUPERVISED, PRETRAINED, SELF_TRAINED, ONLINE)
TEACHER_PARAM, INIT_PARAMS = "teacher.parent", ("init.parent", "init.sha256")  # training_dict keys, flattened
LABELLED_PARAM = "dataset.labelled"
LABELLED_FRACTION_AXIS = "dataset.labelled.fraction"
METRICS = (CLEAN_ERROR, MEAN_CORRUPTION_ERROR, C_RMS_CALIB_ERROR)


def arm_of(params: dict[str, str]) -> str:
    """The condition's arm from its logged training params."""
    from augmix_lab.training import MethodSpec

    if params.get(TEACHER_PARAM):
        return SELF_TRAINED
    try:
        online = MethodSpec.parse(params.get("method") or "standard").needs_pool
    except Exception:  # noqa: BLE001 - a method this version does not know: not a pool-using one
        online = False
    if online:
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
    groups = {(c.dataset, c.model) for c in conds
              if LABELLED_FRACTION in res.per_seed[c] or arm_of(res.params.get(c, {})) != SUPERVISED}
    return [c for c in conds if (c.dataset, c.model) in groups]


def self_training_table(res: Results) -> Table | None:
    conds = applies(res)
    if not conds:
        return None
    base = res.runs.baseline or "the baseline"
    table = Table(
        "self_training",
        "Self-training: students, their teachers and pseudo-labels against supervised and pre-trained models",
        ["Dataset", "Model", "Arm", "Variant", "Round", "Teacher", "Labelled", "Pseudo-labels kept",
         f"{metric_title(PSEUDO_LABEL_ACCURACY)} (%)", *(metric_title(m) for m in METRICS),
         f"Δ {metric_title(MEAN_CORRUPTION_ERROR)} vs {base}", "p (paired t)"],
        [], res.legend() + [
            "Arm: self-trained = a teacher labelled the unlabelled pool once (Noisy Student); online = pseudo-labels "
            "made during training (FixMatch); pre-trained = init from another model's weights. Labelled = the share "
            "of the training split with labels. Pseudo-label accuracy = the kept labels' argmax against the labels "
            "withheld from training, % of the distinct pool images kept."],  # the legend has the † note
        key_names=("dataset", "model", "variant", "metric"),
    )
    metric = MEAN_CORRUPTION_ERROR
    for c in sorted(conds, key=lambda c: (c.dataset, c.model, ARMS.index(arm_of(res.params.get(c, {}))),
                                          c.variant, c.axes)):
        arm = arm_of(res.params.get(c, {}))
        student = arm == SELF_TRAINED
        kept = res.stat(c, PSEUDO_LABELS_KEPT)
        comp = res.compare(c, metric)
        table.rows.append([
            c.dataset, c.model, arm, c.label, str(c.axis_value(ROUND_AXIS) or 1) if student else MISSING,
            teacher_label(res, c) if student else MISSING, format_number(100 * labelled_fraction(res, c), 1) + " %",
            format_number(kept.mean, 0) if kept is not None else MISSING,
            res.cell(c, PSEUDO_LABEL_ACCURACY) if student else MISSING,
            *(res.cell(c, m, table.notes) for m in METRICS),
            format_stat(comp.diff, mark=DAGGER if comp.significant else "") if comp is not None else MISSING,
            format_p(comp.p_value, comp.diff.n) if comp is not None else MISSING,
        ])
        for m in (*METRICS, PSEUDO_LABEL_ACCURACY, PSEUDO_LABELS_KEPT, LABELLED_FRACTION):
            table.put((c.dataset, c.model, c.label, m), res.stat(c, m), arm=arm, **res.tidy_extra(c, m))
    return table


def self_training_plots(res: Results, out_dir: Path) -> list[Any]:
    """-C error against the labelled fraction, one series per variant, coloured by arm (error bars over seeds)."""
    from matplotlib.figure import Figure

    from augmix_lab.report.plots import COLORS, MARKERS, _err, _safe, _save

    conds = [c for c in applies(res) if res.stat(c, MEAN_CORRUPTION_ERROR) is not None]
    plots = []
    for dataset, model in sorted({(c.dataset, c.model) for c in conds}):
        series: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for c in conds:
            if (c.dataset, c.model) != (dataset, model):
                continue
            other = ", ".join(f"{k}={v}" for k, v in c.axes if k != LABELLED_FRACTION_AXIS)
            name = f"{c.variant} [{other}]" if other else c.variant
            s = res.stat(c, MEAN_CORRUPTION_ERROR)
            assert s is not None
            series.setdefault((arm_of(res.params.get(c, {})), name), []).append(
                (labelled_fraction(res, c), s.mean, s.bar))
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.subplots()
        fractions = sorted({100 * x for points in series.values() for x, _, _ in points})
        dodge = 0.012 * ((fractions[-1] - fractions[0]) or fractions[-1] or 1.0)  # series side by side, bars apart
        for i, ((arm, name), points) in enumerate(sorted(series.items(), key=lambda kv: (ARMS.index(kv[0][0]),
                                                                                         kv[0][1]))):
            xs, ys, bars = zip(*sorted(points))
            shift = (i - (len(series) - 1) / 2) * dodge
            ax.errorbar([100 * x + shift for x in xs], ys, yerr=_err(bars, ys, MEAN_CORRUPTION_ERROR), capsize=3,
                        color=COLORS[ARMS.index(arm) % len(COLORS)], marker=MARKERS[i % len(MARKERS)],
                        linestyle="-" if len(xs) > 1 else "none", label=f"{name} ({arm})")
        ax.set_xticks(fractions)
        ax.set_xlabel("Labelled fraction of the training split (%; series offset sideways to keep bars apart)")
        ax.set_ylabel(f"{metric_title(MEAN_CORRUPTION_ERROR)} (%)")
        ax.set_title(f"-C error vs labelled data by arm — {dataset}, {model}")
        ax.legend(fontsize=8)
        caption = f"-C error against the labelled fraction: supervised, pre-trained, self-trained ({dataset}, {model})"
        plots.append(_save(fig, out_dir, _safe(f"self_training_{dataset}_{model}"), caption))
    return plots

