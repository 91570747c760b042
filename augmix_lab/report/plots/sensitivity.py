"""Paper Appendix A: hyperparameter sensitivity, the metric against each swept knob."""

from __future__ import annotations

import json
from operator import attrgetter
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from augmix_lab.config import v1_path
from augmix_lab.evaluation.registry import CLEAN_ERROR, specs
from augmix_lab.report.loading import Condition
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import (
    COLORS,
    Plot,
    axis_label,
    error_extent,
    safe_name,
    save_plot,
    source_legend,
    style_indices,
    style_of,
)
from augmix_lab.report.stats import SeedStats
from augmix_lab.report.tables import SOURCE_MARK, Results


def _primary_metrics() -> list[str]:
    ranked = sorted((s for s in specs() if s.sensitivity is not None), key=attrgetter("sensitivity"))
    return [s.name for s in ranked]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sweep_points(res: Results, group: tuple, knob: str, metric: str) -> dict[str, tuple[Any, SeedStats, bool]]:
    """JSON-encoded knob value -> (value, stats over seeds, is the un-swept baseline point) for one sweep line."""
    dataset, model, variant, grid = group
    points: dict[str, tuple[Any, SeedStats, bool]] = {}
    for c in res.conditions:
        if c.sweep == knob and (c.dataset, c.model, c.variant, c.grid_axes()) == group:
            s = res.stat(c, metric)
            if s is not None:
                points[json.dumps(c.axis_value(knob))] = (c.axis_value(knob), s, False)
    base_x = _param_value(res, group, knob)
    base_stat = res.stat(Condition(dataset, model, variant, grid, None), metric)
    if base_x is not None and base_stat is not None:
        points[json.dumps(base_x)] = (base_x, base_stat, True)  # the same training as a sweep point at that value
    return points


@register_plot("sensitivity", order=10)
def sensitivity_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Paper Appendix A: the metric against each swept knob, error bars over seeds, the baseline marked."""
    plots = []
    for knob in sorted({c.sweep for c in res.conditions if c.sweep}):
        sweep_conds = [c for c in res.conditions if c.sweep == knob]
        groups = sorted({(c.dataset, c.model, c.variant, c.grid_axes()) for c in sweep_conds})
        primary = next((m for m in _primary_metrics() if any(m in res.per_seed[c] for c in sweep_conds)), None)
        if primary is None:
            continue
        panels = [primary] + ([CLEAN_ERROR] if primary != CLEAN_ERROR and res.has(CLEAN_ERROR) else [])
        fig = Figure(figsize=(5.2 * len(panels), 3.8))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        values = {k: v for g in groups for m in panels for k, (v, _, _) in _sweep_points(res, g, knob, m).items()}
        numeric = all(_is_number(v) for v in values.values())
        ordered = sorted(values.items(), key=_sort_key)
        position = {k: (float(v) if numeric else float(i)) for i, (k, v) in enumerate(ordered)}
        styles = style_indices(res)
        for ax, metric in zip(axes, panels):
            notes: list[str] = []
            for group in groups:
                points = sorted(_sweep_points(res, group, knob, metric).items(), key=lambda kv: position[kv[0]])
                if not points:
                    continue
                dataset, model, variant, grid = group
                label = Condition(dataset, model, variant, grid).label
                label += f" ({dataset}, {model})" if len({g[:2] for g in groups}) > 1 else ""
                members = [
                    c
                    for c in res.conditions
                    if c.sweep in (knob, None) and (c.dataset, c.model, c.variant, c.grid_axes()) == group
                ]
                if any([res.source_mark(c, metric, notes) for c in members]):
                    label += f" {SOURCE_MARK}"
                i = styles.get(label, styles.get(variant, 0))
                xs = [position[k] for k, _ in points]
                means = [s.mean for _, (_, s, _) in points]
                ax.errorbar(xs, means, yerr=error_extent([s.bar for _, (_, s, _) in points], means, metric),
                            capsize=3, label=label, **style_of(i))  # fmt: skip
                for k, (v, s, is_base) in points:
                    if is_base:
                        ax.plot([position[k]], [s.mean], marker="*", markersize=16, color=COLORS[i % len(COLORS)],
                                markerfacecolor="white", markeredgewidth=1.5, linestyle="none",
                                label=f"{variant} baseline ({knob}={v})")  # fmt: skip
            ax.set_xlabel(knob)
            ax.set_ylabel(axis_label(metric))
            if not numeric:
                ax.set_xticks([position[k] for k, _ in ordered], [str(v) for _, v in ordered])
            source_legend(ax, notes)
            ax.legend(fontsize=8)
        fig.suptitle(f"Sensitivity to {knob} (mean ± 95 % CI over seeds; ± half the range with 2)")
        plots.append(save_plot(fig, out_dir, f"sensitivity_{safe_name(knob)}", f"Hyperparameter sensitivity: {knob}"))
    return plots


def _sort_key(kv: tuple[str, Any]) -> tuple:
    return (0, float(kv[1]), kv[0]) if _is_number(kv[1]) else (1, 0.0, kv[0])


def _param_value(res: Results, group: tuple, knob: str) -> Any:
    """The knob's value in the un-swept run of a group (its resolved param), parsed as a number when it is one."""
    dataset, model, variant, grid = group
    params = res.params.get(Condition(dataset, model, variant, grid, None))
    knob = knob if params is None or knob in params else v1_path(knob)  # params are logged in the v1 layout
    if params is None or knob not in params:
        return None
    raw = params[knob]
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw
