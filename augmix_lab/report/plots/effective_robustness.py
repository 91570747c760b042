"""Clean vs -C accuracy of every run on logit axes with the baseline's trend (Taori et al., NeurIPS 2020); soups as
stars."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from augmix_lab.analysis.effective_robustness import TrendFit
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import Plot, safe_name, save_plot, style_indices, style_of
from augmix_lab.report.tables import Results
from augmix_lab.report.tables.effective_robustness import CLEAN, SHIFTED, accuracy_of, baseline_trends


@register_plot("effective_robustness", order=70)
def effective_robustness_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Per dataset: every run on logit-scaled axes (clean vs -C accuracy), the baseline trend, soups as stars."""
    plots = []
    styles = style_indices(res)
    for d, fit in baseline_trends(res).items():
        runs = [
            t for t in res.runs.finished if t.condition.dataset == d and CLEAN in t.metrics and SHIFTED in t.metrics
        ]
        extra = [p for p in res.analysis.extra_points if p.dataset == d]
        if not runs and not extra:
            continue
        fig = Figure(figsize=(6.0, 4.5))
        ax = fig.subplots()
        xs = [accuracy_of(t.metrics[CLEAN]) for t in runs] + [accuracy_of(p.clean_error) for p in extra]
        seen: set[str] = set()
        for t in runs:
            label = t.condition.label
            style = style_of(styles[label])
            ax.plot(
                [_clip(accuracy_of(t.metrics[CLEAN]))],
                [_clip(accuracy_of(t.metrics[SHIFTED]))],
                linestyle="none",
                marker=style["marker"],
                color=style["color"],
                label=None if label in seen else label,
            )
            seen.add(label)
        for p in extra:
            ax.plot(
                [_clip(accuracy_of(p.clean_error))],
                [_clip(accuracy_of(p.c_error))],
                linestyle="none",
                marker="*",
                markersize=12,
                color="#D55E00",
                markeredgecolor="black",
                label=f"{p.label} ({p.role})",
            )
        if isinstance(fit, TrendFit):
            lx, ly = fit.line(_clip(min(xs)), _clip(max(xs)))
            ax.plot(lx, ly, color="#000000", linestyle="--", linewidth=1, label=f"trend of '{res.runs.baseline}'")
        else:
            ax.text(0.02, 0.98, f"no trend: {fit}"[:90], transform=ax.transAxes, va="top", fontsize=7)
        ax.set_xscale("logit")
        ax.set_yscale("logit")
        ax.set_xlabel("Clean accuracy (logit scale)")
        ax.set_ylabel("-C accuracy (logit scale)")
        ax.set_title(f"Effective robustness — {d}")
        ax.legend(fontsize=7)
        plots.append(
            save_plot(
                fig,
                out_dir,
                safe_name(f"effective_robustness_{d}"),
                f"Clean vs -C accuracy of every run with the baseline trend ({d})",
            )
        )
    return plots


def _clip(p: float) -> float:
    return min(max(p, 1e-3), 1 - 1e-3)  # logit axes cannot show 0 or 1
