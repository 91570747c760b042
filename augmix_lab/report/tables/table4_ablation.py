"""Paper Table 4: the ablation, variants × datasets, mean corruption error."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import MEAN_CORRUPTION_ERROR
from augmix_lab.report.loading import Condition
from augmix_lab.report.tables.core import Results, Table, plain
from augmix_lab.report.tables.registry import register_table


@register_table("table4_ablation", order=30, paper="table4", paper_metrics=(MEAN_CORRUPTION_ERROR,))
def ablation_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    """Paper Table 4: rows variants, columns datasets, cells mean corruption error."""
    metric = MEAN_CORRUPTION_ERROR
    if not res.has(metric):
        return None
    conds = [c for c in plain(res.conditions) if metric in res.per_seed[c] or not res.per_seed[c]]
    if not conds:
        return None
    datasets = sorted({c.dataset for c in conds})
    row_keys = sorted(
        {(c.model, c.variant, c.axes) for c in conds}, key=lambda k: (k[0], k[1] != res.runs.baseline, k[1], k[2])
    )
    lookup = {(c.model, c.variant, c.axes, c.dataset): c for c in conds}
    table = Table(
        "table4_ablation",
        "Ablation (paper Table 4): mean corruption error (%) by variant and dataset",
        ["Model", "Variant", *datasets],
        [],
        res.legend(),
        key_names=("model", "variant", "dataset"),
    )
    for model, variant, axes in row_keys:
        label = Condition("", model, variant, axes).label
        row = [model, label]
        for d in datasets:
            c = lookup.get((model, variant, axes, d))
            row.append(res.cell(c, metric, table.notes))
            if c is not None:
                table.put((model, label, d), res.stat(c, metric), **res.tidy_extra(c, metric))
        table.rows.append(row)
    return table
