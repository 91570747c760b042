"""Numeric tidy companions of the report tables (``tables/<name>.tidy.csv``): one row per cell, numbers not strings.

Columns: the table's key columns (``Table.key_names``), then ``mean, std, ci_low, ci_high, min, max, n`` of the
values behind the cell, then the table's extra columns (``p_vs_baseline``/``p``, ``source``, ``paper`` …). The interval
is the 95 % Student-t interval from 3 seeds (blank below: the display shows min–max).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from augmix_lab.report.stats import MIN_SEEDS_FOR_INTERVAL, SeedStats
from augmix_lab.report.tables import Table

TIDY_SUFFIX = ".tidy.csv"
STAT_COLUMNS = ("mean", "std", "ci_low", "ci_high", "min", "max", "n")


def stat_columns(s: SeedStats) -> dict[str, object]:
    has_ci = s.n >= MIN_SEEDS_FOR_INTERVAL
    low, high = (s.mean - s.ci95, s.mean + s.ci95) if has_ci else (math.nan, math.nan)
    return {"mean": s.mean, "std": s.std, "ci_low": low, "ci_high": high,
            "min": min(s.values, default=math.nan), "max": max(s.values, default=math.nan), "n": s.n}  # fmt: skip


def _snake(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "column"


def tidy_rows(table: Table) -> list[dict[str, object]]:
    """The table's numbers as rows: explicit ``Table.tidy``, else from ``values``, else the display rows as they are."""
    if table.tidy is not None:
        return list(table.tidy)
    if table.values:
        rows = []
        for key, stat in table.values.items():
            names = table.key_names or tuple(f"key{i + 1}" for i in range(len(key)))
            rows.append({**dict(zip(names, key)), **stat_columns(stat), **table.extras.get(key, {})})
        return rows
    return [dict(zip((_snake(h) for h in table.header), row)) for row in table.rows]


def _value(v: object) -> object:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return v


def write_tidy(table: Table, out_dir: Path) -> Path:
    """Writes ``tables/<name>.tidy.csv`` (columns: union of the rows' keys in first-seen order)."""
    rows = tidy_rows(table)
    columns: list[str] = list(table.key_names)
    for r in rows:
        columns += [k for k in r if k not in columns]
    path = Path(out_dir) / "tables" / f"{table.name}{TIDY_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_value(r.get(c, "")) for c in columns])
    return path
