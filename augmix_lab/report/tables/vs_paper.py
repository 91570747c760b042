"""Our numbers beside the AugMix paper's wherever a condition reproduces a paper setup."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.report.paper_numbers import paper_method, paper_value
from augmix_lab.report.stats import format_number, format_stat
from augmix_lab.report.tables.core import SOURCE_MARK, Results, Table, metric_title, plain
from augmix_lab.report.tables.registry import paper_tables, register_table


@register_table("vs_paper", order=90)
def paper_comparison_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    """Our number beside the paper's wherever a condition reproduces a paper setup (dataset, model, method)."""
    table = Table(
        "vs_paper",
        "Ours vs. the AugMix paper (same dataset, model and method; other settings may differ)",
        ["Paper table", "Dataset", "Model", "Variant", "Metric", "Ours", "Paper", "Δ (ours − paper)"],
        [],
        ["Paper numbers from Hendrycks et al., ICLR 2020 (augmix_lab/report/paper_numbers.py cites each row)."],
        key_names=("paper_table", "dataset", "model", "variant", "metric"),
    )
    skipped = False
    compared = paper_tables(built)
    for paper_table in sorted(compared):
        for c in plain(res.conditions):
            method = paper_method(res.params[c])
            for m in compared[paper_table]:
                ref = paper_value(paper_table, c.dataset, c.model, method, m)
                s = res.stat(c, m)
                if ref is None or s is None:
                    continue
                if not res.released(c, m):  # the paper's numbers are on the released benchmark files only
                    skipped = True
                    continue
                table.rows.append(
                    [paper_table, c.dataset, c.model, c.label, metric_title(m), format_stat(s),
                     format_number(ref, 1), format_number(s.mean - ref)]
                )  # fmt: skip
                table.put((paper_table, c.dataset, c.model, c.label, m), s, paper=ref, diff_vs_paper=s.mean - ref)
    if skipped:
        table.notes.append(
            f"Left out: -C/-P numbers not computed on the released benchmark files ({SOURCE_MARK} in the other tables)."
        )
    return table if table.rows else None
