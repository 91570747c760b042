"""Paper Table 5: RMS calibration error on clean and -C data."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import C_RMS_CALIB_ERROR, CLEAN_RMS_CALIB_ERROR
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table
from augmix_lab.report.tables.shapes import architecture_table


@register_table(
    "table5_calibration", order=50, paper="table5", paper_metrics=(CLEAN_RMS_CALIB_ERROR, C_RMS_CALIB_ERROR)
)
def table5(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not (res.has(CLEAN_RMS_CALIB_ERROR) or res.has(C_RMS_CALIB_ERROR)):
        return None
    return architecture_table(
        res, "table5_calibration", "RMS calibration error (%) on clean and -C data (paper Table 5)",
        [("clean", CLEAN_RMS_CALIB_ERROR), ("-C", C_RMS_CALIB_ERROR)], lambda d: True,
    )  # fmt: skip
