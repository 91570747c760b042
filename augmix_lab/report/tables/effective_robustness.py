"""Effective robustness (Taori et al., NeurIPS 2020) of every variant against the baseline's logit trend."""

from __future__ import annotations

from typing import Sequence

from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table


@register_table("effective_robustness", order=95)
def effective_robustness_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    from augmix_lab.report.analyses import effective_robustness_table  # the analysis lives in report/analyses.py with its plots

    return effective_robustness_table(res, res.analysis)
