"""Trials without results (failed, killed or still running); always built, last."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.report.stats import MISSING
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table


@register_table("failed_trials", order=1000)
def failed_table(res: Results, built: Sequence[Table] = ()) -> Table:
    table = Table(
        "failed_trials",
        "Trials without results (failed, killed or still running)",
        ["Trial key", "Dataset", "Model", "Variant", "Seed", "Status", "Error"],
        [],
        ["These runs are left out of every statistic above."],
    )
    for t in res.runs.unfinished:
        c = t.condition
        error = (t.error or "").replace("\n", " ").strip() or MISSING
        seed = MISSING if t.seed is None else str(t.seed)
        table.rows.append([t.trial_key, c.dataset, c.model, c.label, seed, t.status, error])
    return table
