"""Minimal sample distance, augmentation × corruption (Mintun et al., NeurIPS 2021)."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table


@register_table("msd", order=97)
def msd_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    from augmix_lab.report.msd import msd_table as build  # the analysis lives in report/msd.py with its plot

    return build(res, res.analysis.msd)
