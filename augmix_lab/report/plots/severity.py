"""Paper Figure 7: error and RMS calibration error against severity (0 = clean)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from augmix_lab.evaluation.registry import specs
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import (
    Plot,
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


@register_plot("severity", order=30)
def severity_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Paper Figure 7: error and RMS calibration error against severity (0 = clean)."""
    plots = []
    plain = [c for c in res.conditions if c.sweep is None]
    panels = [(s.clean or "", s.prefix or "", s.axis_label) for s in specs() if s.per == "severity"]
    for (dataset, model), conds in sorted(by_dataset_model(plain).items()):
        used = [p for p in panels if any(m.startswith(p[1]) for c in conds for m in res.per_seed[c])]
        if not used:
            continue
        fig = Figure(figsize=(5.0 * len(used), 3.8))
        axes = fig.subplots(1, len(used), squeeze=False)[0]
        styles = style_indices(res)
        for ax, (clean_metric, prefix, ylabel) in zip(axes, used):
            notes: list[str] = []
            for c in conds:
                i = styles[c.label]
                points = []
                s0 = res.stat(c, clean_metric)
                if s0 is not None:
                    points.append((0, s0.mean, s0.bar))
                severity_keys = [m for m in res.per_seed[c] if m.startswith(prefix) and m[len(prefix) :].isdigit()]
                for m in severity_keys:
                    s = res.stat(c, m)
                    assert s is not None
                    points.append((int(m[len(prefix) :]), s.mean, s.bar))
                if not points:
                    continue
                xs, ys, es = zip(*sorted(points))
                label = series_label(res, c, severity_keys, notes)
                ax.errorbar(xs, ys, yerr=error_extent(es, ys, clean_metric), capsize=3, label=label, **style_of(i))
            ax.set_xlabel("Severity (0 = clean)")
            ax.set_ylabel(ylabel)
            ax.set_xticks(range(0, 6))
            source_legend(ax, notes)
            ax.legend(fontsize=8)
        fig.suptitle(f"Error and calibration vs. severity — {dataset}, {model}")
        caption = f"Error and RMS calibration vs severity ({dataset}, {model})"
        plots.append(save_plot(fig, out_dir, safe_name(f"severity_{dataset}_{model}"), caption))
    return plots
