"""Minimal sample distance against per-corruption error (Mintun, Kirillov & Xie, NeurIPS 2021, Fig. 2/3)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from augmix_lab.report.msd import msd_cells, spearman
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import COLORS, Plot, safe_name, save_plot
from augmix_lab.report.stats import format_number
from augmix_lab.report.tables import Results


@register_plot("msd_vs_error", order=95)
def msd_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Per dataset and model: MSD (x) against the variant's error on that corruption (y), one point per (variant,
    corruption); circles -C, triangles C-bar; Spearman's rho over all points in the title."""
    cells = msd_cells(res, res.analysis.msd)
    cells = cells[cells["error"].notna()] if len(cells) else cells
    plots = []
    for (dataset, model), g in cells.groupby(["dataset", "model"], sort=True):
        fig = Figure(figsize=(6.4, 4.6))
        ax = fig.subplots()
        labels = sorted(dict.fromkeys(g["label"]), key=lambda lab: (lab.split(" [")[0] != res.runs.baseline, lab))
        for i, label in enumerate(labels):
            for bench, marker in (("C", "o"), ("C-bar", "^")):
                pts = g[(g["label"] == label) & (g["benchmark"] == bench)]
                if len(pts):
                    ax.scatter(
                        pts["msd"],
                        pts["error"],
                        marker=marker,
                        color=COLORS[i % len(COLORS)],
                        edgecolors="black",
                        linewidths=0.5,
                        s=40,
                        label=f"{label} ({bench})",
                    )
        ax.set_xlabel("Minimal sample distance")
        ax.set_ylabel("Error on the corruption (%)")
        ax.set_title(
            f"MSD vs corruption error — {dataset}, {model} (Spearman ρ = {format_number(spearman(g), 2)}, "
            f"n = {len(g)})",
            fontsize=9,
        )
        ax.legend(fontsize=7)
        plots.append(
            save_plot(
                fig,
                out_dir,
                safe_name(f"msd_vs_error_{dataset}_{model}"),
                f"Minimal sample distance against the error on each corruption, per variant "
                f"({dataset}, {model}); circles -C, triangles C-bar",
            )
        )
    return plots
