"""Test error per epoch, mean over seeds, one line per variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from augmix_lab.evaluation.registry import TEST_ERROR
from augmix_lab.report.loading import Condition
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import (
    COLORS,
    Plot,
    by_dataset_model,
    error_extent,
    safe_name,
    save_plot,
    style_indices,
    style_of,
)
from augmix_lab.report.stats import summarize
from augmix_lab.report.tables import Results


@register_plot("training_curves", order=50)
def training_curve_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Test error per epoch, mean over seeds, one line per variant (sweep points left out for legibility)."""
    plots = []
    curves: dict[Condition, dict[int, list[float]]] = {}
    for t in res.runs.finished:
        if t.condition.sweep is not None:
            continue
        for step, value in res.runs.histories.get(t.run_id, {}).get(TEST_ERROR, []):
            curves.setdefault(t.condition, {}).setdefault(step, []).append(value)
    conds = sorted(curves, key=res.order)
    for (dataset, model), group in sorted(by_dataset_model(conds).items()):
        fig = Figure(figsize=(6.0, 4.0))
        ax = fig.subplots()
        styles = style_indices(res)
        for c in group:
            i = styles[c.label]
            steps = sorted(curves[c])
            stats = [summarize(curves[c][s]) for s in steps]
            means = np.array([s.mean for s in stats])
            ax.plot(steps, means, label=c.label, markevery=max(1, len(steps) // 10), **style_of(i))
            below, above = error_extent([s.bar for s in stats], means, TEST_ERROR)
            if np.any(below + above > 0):
                color = COLORS[i % len(COLORS)]
                ax.fill_between(steps, means - below, means + above, color=color, alpha=0.15, linewidth=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Test error (%)")
        ax.set_title(f"Training curves — {dataset}, {model}")
        ax.legend(fontsize=8)
        caption = f"Test error per epoch ({dataset}, {model})"
        plots.append(save_plot(fig, out_dir, safe_name(f"training_curves_{dataset}_{model}"), caption))
    return plots
