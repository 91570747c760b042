"""Self-training students beside their teachers, pseudo-labels and supervised models (issue 25); see
report/self_training.py."""

from __future__ import annotations

from typing import Sequence

from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table


@register_table("self_training", order=105)
def self_training_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    from augmix_lab.report.self_training import self_training_table as build  # it also draws the labelled-fraction plot

    return build(res)
