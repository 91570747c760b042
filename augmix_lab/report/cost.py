"""Training cost beside robustness: each condition's training device time as a multiple of the Standard
variant's measured in the same study (same dataset, model and grid axes), paired by seed.

Every trial logs ``train_device_s`` (wall seconds of its training loop on its device) and ``train_images_per_s``
(``training/trainer.py``); the report reads the run's last value, the whole training's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from augmix_lab.evaluation.registry import MCE, MEAN_CORRUPTION_ERROR, TRAIN_DEVICE_S
from augmix_lab.report.loading import Condition
from augmix_lab.report.stats import SeedStats, summarize

if TYPE_CHECKING:
    from augmix_lab.report.tables.core import Results

REFERENCE_METHOD = "standard"  # costs are multiples of the Standard recipe's (the "× Standard's")


def cost_reference(res: Results, c: Condition) -> Condition | None:
    """The condition whose cost is 1×: a Standard-method condition of the same dataset, model and grid axes that
    logged its cost (the study's baseline first); None when the study has none."""
    same = [
        d
        for d in res.conditions
        if d.sweep is None
        and (d.dataset, d.model, d.grid_axes()) == (c.dataset, c.model, c.grid_axes())
        and res.params[d].get("method") == REFERENCE_METHOD
        and TRAIN_DEVICE_S in res.per_seed.get(d, {})
    ]
    same.sort(key=lambda d: (d.variant != res.runs.baseline, d.variant))
    return same[0] if same else None


def cost_ratio(res: Results, c: Condition) -> SeedStats | None:
    """Device time of ``c`` / its reference's: one ratio per seed both ran (a seed statistic), else the ratio of the
    seed means (n = 1)."""
    ref = cost_reference(res, c)
    mine = res.per_seed.get(c, {}).get(TRAIN_DEVICE_S)
    if ref is None or not mine:
        return None
    theirs = res.per_seed[ref][TRAIN_DEVICE_S]
    common = sorted(set(mine) & set(theirs))
    if common:
        return summarize([mine[s] / theirs[s] for s in common if theirs[s] > 0])
    base = sum(theirs.values()) / len(theirs)
    return summarize([(sum(mine.values()) / len(mine)) / base]) if base > 0 else None


def corruption_metric(res: Results, c: Condition) -> str | None:
    """The condition's -C headline: ImageNet-style mCE where it has one, else the mean -C error."""
    for metric in (MCE, MEAN_CORRUPTION_ERROR):
        if metric in res.per_seed.get(c, {}):
            return metric
    return None
