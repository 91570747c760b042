"""Effective robustness (Taori et al., NeurIPS 2020) of every variant against the baseline's logit trend; runs outside
the trial grid (model soups: role ``soup``) join as ``ExtraPoint``s with their role. The numbers come from the pure
functions of ``analysis/effective_robustness.py``."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.analysis.effective_robustness import TrendFit, effective_robustness, fit_trend
from augmix_lab.errors import UserError
from augmix_lab.evaluation.registry import CLEAN_ERROR, MEAN_CORRUPTION_ERROR
from augmix_lab.report.stats import MISSING, SeedStats, format_stat, summarize
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table

CLEAN, SHIFTED = CLEAN_ERROR, MEAN_CORRUPTION_ERROR  # percent errors -> accuracies = 1 - error / 100
ER_METRIC = "effective_robustness"


def accuracy_of(error_pct: float) -> float:
    """A percent error as an accuracy in [0, 1]."""
    return min(1.0, max(0.0, 1.0 - error_pct / 100.0))


def baseline_method(res: Results) -> str | None:
    """The training method of the study's baseline variant (e.g. 'standard'); None without a baseline."""
    return next((t.params.get("method") for t in res.runs.trials if t.variant == res.runs.baseline), None)


def baseline_trends(res: Results) -> dict[str, TrendFit | str]:
    """Per dataset: the trend fitted over every finished run trained with the baseline's method (Taori et al.'s
    "standard models": seeds, architectures, epochs), or the reason there is none."""
    out: dict[str, TrendFit | str] = {}
    datasets = sorted({c.dataset for c in res.conditions})
    method = baseline_method(res)
    for d in datasets:
        if not res.runs.baseline or method is None:
            out[d] = "the study declares no baseline variant"
            continue
        pts = [
            (t.metrics[CLEAN], t.metrics[SHIFTED])
            for t in res.runs.finished
            if t.condition.dataset == d
            and t.params.get("method") == method
            and CLEAN in t.metrics
            and SHIFTED in t.metrics
        ]
        try:
            out[d] = fit_trend([accuracy_of(c) for c, _ in pts], [accuracy_of(s) for _, s in pts])
        except UserError as exc:
            out[d] = str(exc)
    return out


def _er_stats(fit: TrendFit, pairs: list[tuple[float, float]]) -> SeedStats:
    return summarize([100.0 * effective_robustness(fit, accuracy_of(c), accuracy_of(s)) for c, s in pairs])


@register_table("effective_robustness", order=95)
def effective_robustness_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    """Each variant's -C accuracy minus the baseline trend's prediction at its clean accuracy (percent points)."""
    if not res.has(SHIFTED) or not res.has(CLEAN):
        return None
    trends = baseline_trends(res)
    table = Table(
        ER_METRIC,
        "Effective robustness (Taori et al. 2020): -C accuracy above the baseline trend",
        [
            "Dataset",
            "Model",
            "Variant",
            "Role",
            "Clean acc. (%)",
            "-C acc. (%)",
            "Trend -C acc. (%)",
            "Eff. robustness (pp)",
        ],
        [],
    )
    for d, fit in trends.items():
        if isinstance(fit, TrendFit):
            table.notes.append(
                f"{d}: logit(-C acc.) = {fit.slope:.3f} · logit(clean acc.) + {fit.intercept:.3f}, "
                f"least squares over {fit.n_points} run(s) trained with the baseline's method "
                f"'{baseline_method(res)}'."
            )
        else:
            table.notes.append(f"{d}: no trend, so no effective robustness: {fit}")
    table.notes.append(
        "Accuracies are means over seeds; effective robustness is per run, then mean ± 95 % CI "
        "over seeds, in percent points."
    )
    for c in res.conditions:
        pairs = [
            (t.metrics[CLEAN], t.metrics[SHIFTED])
            for t in res.trials.get(c, [])
            if CLEAN in t.metrics and SHIFTED in t.metrics
        ]
        role = "baseline" if res.params.get(c, {}).get("method") == baseline_method(res) else "trial"
        table.rows.append(_er_row(c.dataset, c.model, c.label, role, pairs, trends.get(c.dataset), table))
    for p in res.analysis.extra_points:
        table.rows.append(
            _er_row(p.dataset, p.model, p.label, p.role, [(p.clean_error, p.c_error)], trends.get(p.dataset), table)
        )
    return table


def _er_row(
    dataset: str,
    model: str,
    label: str,
    role: str,
    pairs: list[tuple[float, float]],
    fit: TrendFit | str | None,
    table: Table,
) -> list[str]:
    clean = summarize([100.0 * accuracy_of(c) for c, _ in pairs])
    shifted = summarize([100.0 * accuracy_of(s) for _, s in pairs])
    if isinstance(fit, TrendFit) and pairs:
        trend = summarize([100.0 * fit.predict(accuracy_of(c)) for c, _ in pairs])
        er = _er_stats(fit, pairs)
        table.values[(dataset, model, label, ER_METRIC)] = er
        cells = [format_stat(trend), format_stat(er)]
    else:
        cells = [MISSING, MISSING]
    return [dataset, model, label, role, format_stat(clean), format_stat(shifted), *cells]
