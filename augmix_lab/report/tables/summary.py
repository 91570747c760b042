"""The summary table: every variant × key metric (always built, first)."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.report.tables.core import Results, Table, metric_title, summary_metrics
from augmix_lab.report.tables.registry import register_table


@register_table("summary", order=0)
def summary_table(res: Results, built: Sequence[Table] = ()) -> Table:
    metrics = summary_metrics(res)
    table = Table(
        "summary",
        "Summary: every variant × key metric",
        ["Dataset", "Model", "Variant", *(metric_title(m) for m in metrics)],
        [],
        res.legend(),
        key_names=("dataset", "model", "variant", "metric"),
    )
    for c in res.conditions:
        table.rows.append([c.dataset, c.model, c.label, *(res.cell(c, m, table.notes) for m in metrics)])
        for m in metrics:
            table.put((c.dataset, c.model, c.label, m), res.stat(c, m), **res.tidy_extra(c, m))
    return table
