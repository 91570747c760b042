"""-C error against training cost (issue 26: cost beside robustness), one point per variant."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from augmix_lab.evaluation.registry import TRAIN_DEVICE_S
from augmix_lab.report.cost import REFERENCE_METHOD, corruption_metric, cost_ratio
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import (
    Plot,
    axis_label,
    by_dataset_model,
    error_extent,
    safe_name,
    save_plot,
    series_label,
    source_legend,
    style_indices,
    style_of,
)
from augmix_lab.report.tables import Results


@register_plot("cost_vs_corruption_error", order=55)
def cost_plots(res: Results, out_dir: Path) -> list[Plot]:
    """-C error against training cost (device time × the Standard method's in the same study; without a Standard
    variant, device seconds), one point per variant with its seed interval on both axes."""
    plots = []
    plain = [c for c in res.conditions if c.sweep is None]
    for (dataset, model), conds in sorted(by_dataset_model(plain).items()):
        points = []
        for c in conds:
            metric = corruption_metric(res, c)
            ratio = cost_ratio(res, c)
            cost = ratio if ratio is not None else res.stat(c, TRAIN_DEVICE_S)
            if metric is not None and cost is not None and res.stat(c, metric) is not None:
                points.append((c, metric, cost, ratio is not None))
        if len(points) < 2 or len({relative for *_, relative in points}) > 1:
            continue  # nothing to compare, or costs on two different scales
        relative = points[0][3]
        fig = Figure(figsize=(6.0, 4.2))
        ax = fig.subplots()
        styles = style_indices(res)
        notes: list[str] = []
        for c, metric, cost, _ in points:
            s = res.stat(c, metric)
            assert s is not None
            xbar = cost.bar if math.isfinite(cost.bar) else 0.0
            xerr = np.array([[min(xbar, cost.mean * 0.999)], [xbar]])  # a log axis: the bar stays above zero
            style = style_of(styles[c.label])
            ax.errorbar(
                [cost.mean],
                [s.mean],
                xerr=xerr,
                yerr=error_extent([s.bar], [s.mean], metric),
                capsize=3,
                label=series_label(res, c, [metric], notes),
                linestyle="none",
                marker=style["marker"],
                color=style["color"],
            )
            ax.annotate(c.label, (cost.mean, s.mean), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"Training cost (device time, × {REFERENCE_METHOD})" if relative else "Training device time (s)")
        ax.set_ylabel(axis_label(points[0][1]))
        ax.set_title(f"-C error vs. training cost — {dataset}, {model}")
        source_legend(ax, notes)
        ax.legend(fontsize=8)
        caption = f"-C error against training cost ({dataset}, {model})"
        plots.append(save_plot(fig, out_dir, safe_name(f"cost_vs_corruption_error_{dataset}_{model}"), caption))
    return plots
