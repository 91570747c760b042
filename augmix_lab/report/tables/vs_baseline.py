"""Difference to the declared baseline variant, paired over seeds."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import spec_for_key
from augmix_lab.report.stats import format_p, format_stat
from augmix_lab.report.tables.core import DAGGER, Results, Table, direction_note, metric_title, summary_metrics
from augmix_lab.report.tables.registry import register_table


@register_table("vs_baseline", order=20)
def baseline_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not res.runs.baseline:
        return None
    metrics = [m for m in summary_metrics(res) if spec_for_key(m) is None or spec_for_key(m).summary is not None]  # type: ignore[union-attr]
    table = Table(
        "vs_baseline",
        f"Difference to the baseline '{res.runs.baseline}' (method − baseline, paired over seeds)",
        ["Dataset", "Model", "Variant", "Metric", "Δ mean ± CI95", "Pairs", "p (paired t)"],
        [],
        [f"{DAGGER} p < 0.05. {direction_note(metrics)}"],
        key_names=("dataset", "model", "variant", "metric"),
    )
    for c in res.conditions:
        for m in metrics:
            comp = res.compare(c, m)
            if comp is None:
                continue
            mark = (DAGGER if comp.significant else "") + res.source_mark(c, m, table.notes)
            table.rows.append(
                [c.dataset, c.model, c.label, metric_title(m), format_stat(comp.diff, mark=mark),
                 str(comp.diff.n), format_p(comp.p_value, comp.diff.n)]
            )  # fmt: skip
            src = res.source(c, m)
            table.put((c.dataset, c.model, c.label, m), comp.diff, p=comp.p_value, source=src[1] if src else "released")
    return table if table.rows else None
