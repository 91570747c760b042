"""Paired bootstrap over test images of the clean-error difference to the baseline (per-image predictions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from augmix_lab.evaluation.registry import CLEAN_ERROR
from augmix_lab.report.loading import Condition
from augmix_lab.report.stats import BootstrapResult, format_number, format_p, paired_bootstrap
from augmix_lab.report.tables.core import DAGGER, Results, Table
from augmix_lab.report.tables.registry import register_table

# (method run id, baseline run id) -> the two per-image arrays to compare, or None when they cannot be paired
PairArrays = Callable[[str, str], "tuple[np.ndarray, np.ndarray] | None"]


def bootstrap_rows(res: Results, table: Table, runs: Mapping[str, object], pair: PairArrays, metric: str,
                   n_resamples: int) -> None:  # fmt: skip
    """Adds one row per condition with a baseline: the bootstrap over images, averaged over matched seeds."""
    by_cond: dict[Condition, dict[int, str]] = {}
    for t in res.runs.finished:
        if t.run_id in runs and t.seed is not None:
            by_cond.setdefault(t.condition, {})[t.seed] = t.run_id
    for c in res.conditions:
        base = res.baseline_of(c)
        if base is None or c not in by_cond or base not in by_cond:
            continue
        seeds = sorted(set(by_cond[c]) & set(by_cond[base]))
        pairs = [p for s in seeds if (p := pair(by_cond[c][s], by_cond[base][s])) is not None]
        pairs = [(a, b) for a, b in pairs if a.shape == b.shape]
        if not pairs:
            continue
        r: BootstrapResult = paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs], n_resamples=n_resamples)
        mark = DAGGER if r.p_value < 0.05 else ""
        table.rows.append(
            [c.dataset, c.model, c.label, f"{format_number(r.diff)}{mark}",
             f"[{format_number(r.low)}, {format_number(r.high)}]", format_p(r.p_value), str(r.n_images),
             str(r.n_seeds)]
        )  # fmt: skip
        table.tidy = [*(table.tidy or []), {
            "dataset": c.dataset, "model": c.model, "variant": c.label, "metric": metric, "diff": r.diff,
            "ci_low": r.low, "ci_high": r.high, "p": r.p_value, "n_images": r.n_images, "n_seeds": r.n_seeds,
            "n_resamples": r.n_resamples,
        }]  # fmt: skip


@register_table("bootstrap_clean_error", order=100)
def bootstrap_table(res: Results, built: Sequence[Table] = (), n_resamples: int = 2000) -> Table | None:
    """Paired bootstrap over test images of the clean-error difference, where per-image predictions are stored."""
    preds = res.runs.predictions
    if not preds or not res.runs.baseline:
        return None
    table = Table(
        "bootstrap_clean_error",
        f"Paired bootstrap over test images: clean error difference to '{res.runs.baseline}'",
        ["Dataset", "Model", "Variant", "Δ clean error", "95 % interval", "p", "Images", "Seed pairs"],
        [],
        [f"{n_resamples} resamples of the test images (same images for both models), averaged over matched seeds."],
    )
    bootstrap_rows(res, table, preds, lambda a, b: (preds[a], preds[b]), CLEAN_ERROR, n_resamples)
    return table if table.rows else None
