"""Paper Table 3: clean error, flip rate per perturbation and mFR (ImageNet-P)."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import CLEAN_ERROR, FR, METRICS, MFR, family_key, spec_for_key
from augmix_lab.report.paper_numbers import IMAGENET_P_PERTURBATIONS
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table
from augmix_lab.report.tables.shapes import metric_columns_table


@register_table(
    "table3_imagenet_p", order=80, paper="table3",
    paper_metrics=(CLEAN_ERROR, *(family_key(FR, p) for p in IMAGENET_P_PERTURBATIONS), MFR),
)  # fmt: skip
def table3(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not (res.has(MFR) or any(spec_for_key(m) is METRICS.get(FR) for m in res.metrics)):
        return None
    return metric_columns_table(
        res, "table3_imagenet_p", "Clean error, flip rate per perturbation and mFR (paper Table 3)",
        CLEAN_ERROR, FR, IMAGENET_P_PERTURBATIONS, MFR,
    )  # fmt: skip
