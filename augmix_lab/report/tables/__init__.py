"""Report tables: one module per table, each registered with ``@register_table`` (see ``registry.py``).

Every module of this package is imported here, so a new table is one new file with one decorator — no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from augmix_lab.report.tables.core import (
    DAGGER,
    IMAGENET_DATASETS,
    SOURCE_MARK,
    Results,
    Table,
    direction_note,
    metric_title,
    plain,
    source_note,
    summary_metrics,
    tidy_statistics,
)
from augmix_lab.report.tables.registry import TABLES, TableSpec, build_tables, register_table, table_specs

_SHARED = {"core", "registry", "shapes"}  # helpers, not tables
for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in _SHARED and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = [
    "DAGGER",
    "IMAGENET_DATASETS",
    "SOURCE_MARK",
    "TABLES",
    "Results",
    "Table",
    "TableSpec",
    "build_tables",
    "direction_note",
    "metric_title",
    "plain",
    "register_table",
    "source_note",
    "summary_metrics",
    "table_specs",
    "tidy_statistics",
]
