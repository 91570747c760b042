"""The report-table registry: every report table is one module under ``report/tables/`` and one ``@register_table``.

```python
@register_table("my_table", order=65, paper="table7", paper_metrics=(CLEAN_ERROR,))  # evaluation.registry names
def my_table(res: Results, built: Sequence[Table]) -> Table | None:
    ...  # return None when the study's runs do not support the table
```
``build_tables`` calls every registered builder in ``order`` and keeps the tables that are not None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from augmix_lab.registry import Registry
from augmix_lab.report.tables.core import Results, Table

TableBuilder = Callable[[Results, Sequence[Table]], "Table | None"]


@dataclass(frozen=True)
class TableSpec:
    """One registered table: its file stem (= ``Table.name``), position in the report and the paper table it mirrors."""

    name: str
    build: TableBuilder
    order: int
    paper: str | None = None  # e.g. "table4": lets vs_paper put the paper's numbers beside ours
    paper_metrics: tuple[str, ...] = ()  # summary keys vs_paper looks up in paper_numbers for this paper table


TABLES: Registry[TableSpec] = Registry("report table")


def register_table(
    name: str, *, order: int, paper: str | None = None, paper_metrics: Sequence[str] = ()
) -> Callable[[TableBuilder], TableBuilder]:
    """Decorator ``@register_table("table4_ablation", order=30, paper="table4")`` on ``fn(res, built) -> Table|None``;
    ``paper_metrics`` are the summary keys the vs_paper table compares with ``paper_numbers`` for that paper table."""

    def decorator(fn: TableBuilder) -> TableBuilder:
        TABLES.add(name, TableSpec(name, fn, order, paper, tuple(paper_metrics)))
        return fn

    return decorator


def table_specs() -> list[TableSpec]:
    """Every registered table in report order (ties broken by name)."""
    return sorted((TABLES.get(n) for n in TABLES.names()), key=lambda s: (s.order, s.name))


def build_tables(res: Results) -> list[Table]:
    """Every table the study's runs support, in report order; ``built`` lets a table see the ones before it."""
    built: list[Table] = []
    for spec in table_specs():
        table = spec.build(res, tuple(built))
        if table is None:
            continue
        if table.name != spec.name:  # one name per table: the file stem, the registry key and Report.table(name)
            raise ValueError(f"report table registered as {spec.name!r} returned a table named {table.name!r}")
        built.append(table)
    return built


def paper_tables(built: Sequence[Table]) -> dict[str, tuple[str, ...]]:
    """Paper table id -> the metrics to compare, for the tables already built that mirror a paper table."""
    specs = [TABLES.get(t.name) for t in built if t.name in TABLES]
    return {s.paper: s.paper_metrics for s in specs if s.paper}
