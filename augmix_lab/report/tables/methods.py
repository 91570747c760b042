"""The methods table: every variant's clean and -C error beside its training cost (× Standard's, measured in the
same study) and the number its own paper published (``report/paper_numbers.py: METHOD_PAPER_NUMBERS``)."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import CLEAN_ERROR, MCE, MEAN_CORRUPTION_ERROR, TRAIN_DEVICE_S, TRAIN_IMAGES_PER_S
from augmix_lab.report.cost import REFERENCE_METHOD, corruption_metric, cost_ratio, cost_reference
from augmix_lab.report.loading import Condition
from augmix_lab.report.paper_numbers import method_paper_number
from augmix_lab.report.stats import format_number, format_stat
from augmix_lab.report.tables.core import Results, Table, metric_title, plain
from augmix_lab.report.tables.registry import register_table

COST_KEY = "cost_vs_standard"  # the tidy CSV's metric column for the cost ratio
UNVERIFIED = "*"


def _jsd(params: dict[str, str]) -> bool:
    try:
        return int(float(params.get("jsd.arity", "1"))) > 1 or "augmax" in params.get("method", "").split("+")
    except ValueError:
        return False


@register_table("methods", order=45)
def methods_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not res.has(TRAIN_DEVICE_S):
        return None  # stores written before trials logged their cost
    conds = plain(res.conditions)
    metrics = [m for m in (CLEAN_ERROR, MEAN_CORRUPTION_ERROR, MCE) if any(m in res.per_seed[c] for c in conds)]
    header = [
        "Dataset",
        "Model",
        "Variant",
        *(metric_title(m) for m in metrics),
        f"Cost (× {REFERENCE_METHOD})",
        "Train img/s",
        "Train device s",
        "Paper -C (its setting)",
    ]
    table = Table(
        "methods",
        "Methods: error, training cost (× Standard's, same study) and each paper's own -C number",
        header,
        [],
        res.legend(),
        key_names=("dataset", "model", "variant", "metric"),
    )
    sources: set[tuple[str, str]] = set()
    for c in conds:
        row = [c.dataset, c.model, c.label, *(res.cell(c, m, table.notes) for m in metrics)]
        for m in metrics:
            table.put((c.dataset, c.model, c.label, m), res.stat(c, m), **res.tidy_extra(c, m))
        ratio = cost_ratio(res, c)
        row.append(format_stat(ratio, mark="×"))
        ref = cost_reference(res, c)
        table.put((c.dataset, c.model, c.label, COST_KEY), ratio, metric=COST_KEY, reference=ref.label if ref else "")
        for m in (TRAIN_IMAGES_PER_S, TRAIN_DEVICE_S):
            s = res.stat(c, m)
            row.append(format_number(s.mean, 0) if s is not None else "—")
            table.put((c.dataset, c.model, c.label, m), s, metric=m)
        row.append(_paper_cell(res, c, table, sources))
        table.rows.append(row)
    table.notes.append(
        f"Cost: training device time (the training loop's wall seconds on the trial's device) as a "
        f"multiple of the '{REFERENCE_METHOD}' method's in the same study, dataset, model and grid "
        "axes, paired by seed; — where the study has no such variant. Train img/s and device s are "
        "means over seeds (run totals)."
    )
    for method, source in sorted(sources):
        table.notes.append(f"Paper -C for {method}: {source}.")
    if any(UNVERIFIED in row[-1] for row in table.rows):
        table.notes.append(f"{UNVERIFIED} quoted by the team's fact sheet, not read in the paper itself.")
    return table if table.rows else None


def _paper_cell(res: Results, c: Condition, table: Table, sources: set[tuple[str, str]]) -> str:
    """The method paper's -C number for this setting, else its own setting's (named in the cell); the number and
    its setting also go into the tidy CSV beside our -C cell."""
    params = res.params[c]
    metric = corruption_metric(res, c) or MEAN_CORRUPTION_ERROR
    method = params.get("method", "?")
    number = method_paper_number(method, _jsd(params), c.dataset, c.model, metric)
    if number is None and metric == MCE:
        number = method_paper_number(method, _jsd(params), c.dataset, c.model, MEAN_CORRUPTION_ERROR)
    if number is None:
        return "—"
    sources.add((method, number.source))
    key = (c.dataset, c.model, c.label, metric)
    if key in table.values:
        table.extras.setdefault(key, {}).update(
            paper=number.value,
            paper_metric=number.metric,
            paper_model=number.model,
            paper_dataset=number.dataset,
            paper_jsd=number.jsd,
            paper_verified=number.verified,
        )
    same = (number.dataset, number.model) == (c.dataset, c.model)
    setting = "" if same else f" ({number.model}, {number.dataset})"
    mark = "" if number.verified else UNVERIFIED
    return f"{format_number(number.value, 2)}{mark} {metric_title(number.metric)}{setting}"
