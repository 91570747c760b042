"""Model soups beside their best single member and the members' mean (Wortsman et al., ICML 2022); see report/soups.py."""

from __future__ import annotations

from typing import Sequence

from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table


@register_table("soups", order=110)
def soups_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    from augmix_lab.report.soups import soup_table  # report/soups.py also draws the soup plots

    return soup_table(res)
