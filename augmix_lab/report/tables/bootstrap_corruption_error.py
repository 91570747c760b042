"""Paired bootstrap over test images of the -C error difference to the baseline (mean over the shared -C cells)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from augmix_lab.evaluation.registry import MEAN_CORRUPTION_ERROR
from augmix_lab.report.tables.bootstrap_clean_error import bootstrap_rows
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table


@register_table("bootstrap_corruption_error", order=101)
def bootstrap_c_table(res: Results, built: Sequence[Table] = (), n_resamples: int = 2000) -> Table | None:
    """Per image: correctness averaged over the corruption × severity cells both runs scored; then the bootstrap."""
    cells = res.runs.c_predictions
    if not cells or not res.runs.baseline:
        return None

    def pair(a: str, b: str) -> tuple[np.ndarray, np.ndarray] | None:
        shared = sorted(set(cells[a]) & set(cells[b]))  # the same cells for both models, or no comparison
        if not shared or any(cells[a][k].shape != cells[b][k].shape for k in shared):
            return None
        return (np.mean([cells[a][k] for k in shared], axis=0), np.mean([cells[b][k] for k in shared], axis=0))

    table = Table(
        "bootstrap_corruption_error",
        f"Paired bootstrap over test images: -C error difference to '{res.runs.baseline}'",
        ["Dataset", "Model", "Variant", "Δ -C error", "95 % interval", "p", "Images", "Seed pairs"],
        [],
        [f"{n_resamples} resamples of the test images (same images for both models, each image's error averaged "
         "over the corruption × severity cells both runs scored), averaged over matched seeds."],
    )  # fmt: skip
    bootstrap_rows(res, table, cells, pair, MEAN_CORRUPTION_ERROR, n_resamples)
    return table if table.rows else None
