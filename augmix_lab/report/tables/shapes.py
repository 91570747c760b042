"""Table shapes shared by several paper tables: architectures × variants (Tables 1, 5, 6), metric columns (2, 3)."""

from __future__ import annotations

from collections.abc import Callable

from augmix_lab.evaluation.registry import METRICS, spec_for_key
from augmix_lab.report.loading import Condition
from augmix_lab.report.stats import MISSING, format_number
from augmix_lab.report.tables.core import Results, Table, metric_title, plain


def architecture_table(
    res: Results, name: str, title: str, blocks: list[tuple[str, str]], datasets: Callable[[str], bool]
) -> Table | None:
    """Paper Tables 1, 5, 6: per dataset and metric block, rows architectures (+ Mean), columns variants."""
    conds = [c for c in plain(res.conditions) if datasets(c.dataset)]
    conds = [c for c in conds if any(m in res.per_seed[c] for _, m in blocks) or not res.per_seed[c]]
    if not conds:
        return None
    columns = sorted({(c.variant, c.axes) for c in conds}, key=lambda k: (k[0] != res.runs.baseline, k[0], k[1]))
    col_labels = [Condition("", "", v, a).label for v, a in columns]
    lookup = {(c.dataset, c.model, c.variant, c.axes): c for c in conds}
    table = Table(name, title, ["Block", "Architecture", *col_labels], [], res.legend(),
                  key_names=("block", "model", "variant"))  # fmt: skip
    table.notes.append("Mean row: mean over the architectures of the per-architecture means (as in the paper).")
    for dataset in sorted({c.dataset for c in conds}):
        models = sorted({c.model for c in conds if c.dataset == dataset})
        for suffix, metric in blocks:
            if not any(metric in res.per_seed[c] for c in conds if c.dataset == dataset):
                continue
            block = f"{dataset} {suffix}"
            means: dict[str, list[float]] = {label: [] for label in col_labels}
            for model in models:
                row = [block, model]
                for (variant, axes), label in zip(columns, col_labels):
                    c = lookup.get((dataset, model, variant, axes))
                    row.append(res.cell(c, metric, table.notes))
                    s = res.stat(c, metric) if c is not None else None
                    if s is not None:
                        extra = res.tidy_extra(c, metric)  # type: ignore[arg-type]
                        table.put((block, model, label), s, dataset=dataset, **extra)
                        means[label].append(s.mean)
                table.rows.append(row)
            mean_row = [block, "Mean"]
            for label in col_labels:
                complete = len(means[label]) == len(models)  # a mean over some architectures would mislead
                mean_row.append(format_number(sum(means[label]) / len(models)) if complete else MISSING)
            table.rows.append(mean_row)
    return table if table.rows else None


def metric_columns_table(
    res: Results, name: str, title: str, first: str, per: str, order: tuple[str, ...], last: str
) -> Table | None:
    """Paper Tables 2 and 3: rows variants, columns clean error, per-corruption values, and their mean."""
    family = METRICS.get(per)
    names = [m for m in res.metrics if spec_for_key(m) is family]
    if not names and not res.has(last):
        return None
    rank = {f"{family.prefix}{n}": i for i, n in enumerate(order)}
    names.sort(key=lambda m: (rank.get(m, len(rank)), m))
    metrics = [first, *names, last]
    conds = [c for c in plain(res.conditions) if any(m in res.per_seed[c] for m in metrics[1:]) or not res.per_seed[c]]
    table = Table(name, title, ["Dataset", "Model", "Variant", *(metric_title(m) for m in metrics)], [], res.legend(),
                  key_names=("dataset", "model", "variant", "metric"))  # fmt: skip
    for c in conds:
        table.rows.append([c.dataset, c.model, c.label, *(res.cell(c, m, table.notes) for m in metrics)])
        for m in metrics:
            table.put((c.dataset, c.model, c.label, m), res.stat(c, m), **res.tidy_extra(c, m))
    return table
