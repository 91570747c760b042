"""Paper Table 5: RMS calibration error on clean and -C data."""

from __future__ import annotations

from typing import Sequence


from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table
from augmix_lab.report.tables.shapes import architecture_table


@register_table(
    "table5_calibration", order=50, paper="table5", paper_metrics=("clean_rms_calib_error", "c_rms_calib_error")
)
def table5(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not (res.has("clean_rms_calib_error") or res.has("c_rms_calib_error")):
        return None
    return architecture_table(
        res, "table5_calibration", "RMS calibration error (%) on clean and -C data (paper Table 5)",
        [("clean", "clean_rms_calib_error"), ("-C", "c_rms_calib_error")], lambda d: True,
    )  # fmt: skip
