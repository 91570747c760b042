"""Paper Table 2: clean error, CE per corruption and mCE (ImageNet-C)."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import CE, CLEAN_ERROR, MCE, METRICS, family_key, spec_for_key
from augmix_lab.report.paper_numbers import IMAGENET_CORRUPTIONS
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table
from augmix_lab.report.tables.shapes import metric_columns_table


@register_table(
    "table2_imagenet_c", order=70, paper="table2",
    paper_metrics=(CLEAN_ERROR, *(family_key(CE, c) for c in IMAGENET_CORRUPTIONS), MCE),
)  # fmt: skip
def table2(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not (res.has(MCE) or any(spec_for_key(m) is METRICS.get(CE) for m in res.metrics)):
        return None
    return metric_columns_table(
        res, "table2_imagenet_c", "Clean error, CE per corruption and mCE (paper Table 2)",
        CLEAN_ERROR, CE, IMAGENET_CORRUPTIONS, MCE,
    )  # fmt: skip
