"""Paper Figures 5 / 12 for any family metric registered with ``bars`` (per corruption first, then per
perturbation): one bar per name, grouped by method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from augmix_lab.evaluation.registry import MetricSpec, spec_for_key, specs
from augmix_lab.report.paper_numbers import IMAGENET_CORRUPTIONS, IMAGENET_P_PERTURBATIONS
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import (
    COLORS,
    HATCHES,
    Plot,
    by_dataset_model,
    error_extent,
    safe_name,
    save_plot,
    series_label,
    source_legend,
    style_indices,
)
from augmix_lab.report.tables import Results


def bar_plots(res: Results, out_dir: Path, spec: MetricSpec) -> list[Plot]:
    """Paper Figures 5 / 12 for any family metric registered with ``bars``: one bar per name, grouped by method."""
    assert spec.bars is not None and spec.prefix is not None
    prefix, caption = spec.bars
    order = IMAGENET_CORRUPTIONS if spec.per == "corruption" else IMAGENET_P_PERTURBATIONS
    plots = []
    plain = [c for c in res.conditions if c.sweep is None]
    for (dataset, model), conds in sorted(by_dataset_model(plain).items()):
        names = sorted(
            {m[len(spec.prefix) :] for c in conds for m in res.per_seed[c] if spec_for_key(m) is spec},
            key=lambda n: (order.index(n) if n in order else len(order), n),
        )
        conds = [c for c in conds if any(f"{spec.prefix}{n}" in res.per_seed[c] for n in names)]
        if not names or not conds:
            continue
        width = 0.8 / len(conds)
        fig = Figure(figsize=(max(6.0, 0.55 * len(names) * max(1, len(conds)) ** 0.5 + 2), 4.2))
        ax = fig.subplots()
        x = np.arange(len(names))
        styles = style_indices(res)
        notes: list[str] = []
        for j, c in enumerate(conds):
            i = styles[c.label]
            keys = [f"{spec.prefix}{n}" for n in names]
            stats = [res.stat(c, k) for k in keys]
            means = [s.mean if s else np.nan for s in stats]
            errs = error_extent([s.bar if s else np.nan for s in stats], means, spec.name)
            label = series_label(res, c, [k for k in keys if k in res.per_seed[c]], notes)
            ax.bar(x + (j - (len(conds) - 1) / 2) * width, means, width, yerr=errs, capsize=2, label=label,
                   color=COLORS[i % len(COLORS)], edgecolor="black", linewidth=0.6,
                   hatch=HATCHES[i % len(HATCHES)], alpha=0.85)  # fmt: skip
        ax.set_xticks(x, [n.replace("_", " ") for n in names], rotation=45, ha="right")
        ax.set_ylabel(spec.axis_label)
        ax.set_title(f"{caption} — {dataset}, {model}")
        source_legend(ax, notes)
        ax.legend(fontsize=8)
        name = safe_name(f"{prefix}_{dataset}_{model}")
        plots.append(save_plot(fig, out_dir, name, f"{caption} ({dataset}, {model})"))
    return plots


@register_plot("corruption_bars", order=20)
def corruption_bar_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Bars of every family metric per corruption (paper Figure 5)."""
    return [p for s in specs() if s.bars is not None and s.per == "corruption" for p in bar_plots(res, out_dir, s)]


@register_plot("perturbation_bars", order=40)
def perturbation_bar_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Bars of every other family metric (per perturbation: paper Figure 12), after the severity curves."""
    return [p for s in specs() if s.bars is not None and s.per != "corruption" for p in bar_plots(res, out_dir, s)]
