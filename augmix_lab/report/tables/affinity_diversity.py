"""Affinity and diversity of each augmentation (Gontijo-Lopes et al., ICLR 2021)."""

from __future__ import annotations

from typing import Sequence

from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table


@register_table("affinity_diversity", order=96)
def affinity_diversity_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    from augmix_lab.report.analyses import affinity_table  # the analysis lives in report/analyses.py with its plots

    return affinity_table(res, res.analysis)
