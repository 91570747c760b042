"""-C error against the labelled fraction for supervised, pre-trained and self-trained arms (issue 25; Zoph et al.,
NeurIPS 2020); the arms and fractions come from report/tables/self_training.py."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from augmix_lab.evaluation.registry import MEAN_CORRUPTION_ERROR
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import COLORS, MARKERS, Plot, error_extent, safe_name, save_plot
from augmix_lab.report.tables.core import Results, metric_title
from augmix_lab.report.tables.self_training import (
    ARMS,
    LABELLED_FRACTION_AXIS,
    applies,
    arm_of,
    labelled_fraction,
)


@register_plot("self_training", order=65)
def self_training_plots(res: Results, out_dir: Path) -> list[Plot]:
    """-C error against the labelled fraction, one series per variant, coloured by arm (error bars over seeds)."""
    conds = [c for c in applies(res) if res.stat(c, MEAN_CORRUPTION_ERROR) is not None]
    plots = []
    for dataset, model in sorted({(c.dataset, c.model) for c in conds}):
        series: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for c in conds:
            if (c.dataset, c.model) != (dataset, model):
                continue
            other = ", ".join(f"{k}={v}" for k, v in c.axes if k != LABELLED_FRACTION_AXIS)
            name = f"{c.variant} [{other}]" if other else c.variant
            s = res.stat(c, MEAN_CORRUPTION_ERROR)
            assert s is not None
            series.setdefault((arm_of(res, c), name), []).append((labelled_fraction(res, c), s.mean, s.bar))
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.subplots()
        fractions = sorted({100 * x for points in series.values() for x, _, _ in points})
        dodge = 0.012 * ((fractions[-1] - fractions[0]) or fractions[-1] or 1.0)  # series side by side, bars apart
        for i, ((arm, name), points) in enumerate(
            sorted(series.items(), key=lambda kv: (ARMS.index(kv[0][0]), kv[0][1]))
        ):
            xs, ys, bars = zip(*sorted(points))
            shift = (i - (len(series) - 1) / 2) * dodge
            ax.errorbar(
                [100 * x + shift for x in xs],
                ys,
                yerr=error_extent(bars, ys, MEAN_CORRUPTION_ERROR),
                capsize=3,
                color=COLORS[ARMS.index(arm) % len(COLORS)],
                marker=MARKERS[i % len(MARKERS)],
                linestyle="-" if len(xs) > 1 else "none",
                label=f"{name} ({arm})",
            )
        ax.set_xticks(fractions)
        ax.set_xlabel("Labelled fraction of the training split (%; series offset sideways to keep bars apart)")
        ax.set_ylabel(f"{metric_title(MEAN_CORRUPTION_ERROR)} (%)")
        ax.set_title(f"-C error vs labelled data by arm — {dataset}, {model}")
        ax.legend(fontsize=8)
        caption = f"-C error against the labelled fraction: supervised, pre-trained, self-trained ({dataset}, {model})"
        plots.append(save_plot(fig, out_dir, safe_name(f"self_training_{dataset}_{model}"), caption))
    return plots
