"""Paper Table 6: clean error and -P mean flip probability."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import CLEAN_ERROR, MFP
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table
from augmix_lab.report.tables.shapes import architecture_table


@register_table("table6_clean_and_mfp", order=60, paper="table6", paper_metrics=(CLEAN_ERROR, MFP))
def table6(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not res.has(MFP):
        return None
    return architecture_table(
        res, "table6_clean_and_mfp", "Clean error and -P mean flip probability (%) (paper Table 6)",
        [("clean error", CLEAN_ERROR), ("-P mFP", MFP)], lambda d: True,
    )  # fmt: skip
