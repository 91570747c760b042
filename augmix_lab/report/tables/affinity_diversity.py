"""Affinity and diversity of each augmentation (Gontijo-Lopes et al., ICLR 2021), from the study run's
``analyses/affinity_diversity.csv`` (computed by ``run`` / ``analyze``: orchestration/analyses.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from augmix_lab.evaluation.registry import MEAN_CORRUPTION_ERROR
from augmix_lab.report.stats import format_stat, summarize
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table

SHIFTED = MEAN_CORRUPTION_ERROR


def affinity_groups(res: Results) -> list[dict[str, Any]]:
    """Per (dataset, model, label): affinity, diversity and -C error over seeds, from the stored table."""
    df = res.analysis.affinity
    if df is None or not len(df):
        return []
    shifted = {t.run_id: t.metrics.get(SHIFTED, math.nan) for t in res.runs.finished}
    out = []
    for (d, m, label), g in df.groupby(["dataset", "model", "label"], sort=True):
        out.append(
            {
                "dataset": d,
                "model": m,
                "label": label,
                "method": str(g["method"].iloc[0]),
                "heldout": ", ".join(sorted({str(h) for h in g["heldout"]})),
                "affinity": summarize(list(g["affinity"])),
                "diversity": summarize(list(g["diversity"])),
                "c_error": summarize([shifted.get(str(r), math.nan) for r in g["run_id"]]),
            }
        )
    return out


@register_table("affinity_diversity", order=96)
def affinity_diversity_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    groups = affinity_groups(res)
    if not groups:
        return None
    table = Table(
        "affinity_diversity",
        "Affinity and diversity of each augmentation (Gontijo-Lopes et al. 2021)",
        ["Dataset", "Model", "Variant", "Method", "Affinity", "Diversity", "-C error (%)", "Held-out"],
        [],
        [
            "Affinity = accuracy of the baseline (clean-trained) model on augmented held-out images ÷ its "
            "clean held-out accuracy; diversity = final training loss with the augmentation ÷ the baseline's. "
            "Mean ± 95 % CI over seeds.",
            "Held-out: train[-H:][:N] = the first N of the study's held-out split (the last H training "
            "images, never trained on); test[:N] = the test split's first N images (no held-out split "
            "declared).",
        ],
    )
    for g in groups:
        table.rows.append(
            [
                g["dataset"],
                g["model"],
                g["label"],
                g["method"],
                format_stat(g["affinity"], 3),
                format_stat(g["diversity"], 3),
                format_stat(g["c_error"]),
                g["heldout"],
            ]
        )
        table.values[(g["dataset"], g["model"], g["label"], "affinity")] = g["affinity"]
        table.values[(g["dataset"], g["model"], g["label"], "diversity")] = g["diversity"]
    return table
