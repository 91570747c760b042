"""Paper Table 1: corruption error by architecture and method (non-ImageNet datasets)."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import MEAN_CORRUPTION_ERROR
from augmix_lab.report.tables.core import IMAGENET_DATASETS, Results, Table
from augmix_lab.report.tables.registry import register_table
from augmix_lab.report.tables.shapes import architecture_table


@register_table("table1_corruption_error", order=40, paper="table1", paper_metrics=(MEAN_CORRUPTION_ERROR,))
def table1(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not res.has(MEAN_CORRUPTION_ERROR):
        return None
    return architecture_table(
        res, "table1_corruption_error", "Corruption error (%) by architecture and method (paper Table 1)",
        [("-C error", MEAN_CORRUPTION_ERROR)], lambda d: d not in IMAGENET_DATASETS,
    )  # fmt: skip
