"""Affinity vs diversity per augmentation, coloured by -C error (Gontijo-Lopes et al., ICLR 2021)."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import Plot, safe_name, save_plot
from augmix_lab.report.tables import Results
from augmix_lab.report.tables.affinity_diversity import affinity_groups


@register_plot("affinity_diversity", order=90)
def affinity_plots(res: Results, out_dir: Path) -> list[Plot]:
    groups = affinity_groups(res)
    plots = []
    for dm in sorted({(g["dataset"], g["model"]) for g in groups}):
        gs = [g for g in groups if (g["dataset"], g["model"]) == dm]
        fig = Figure(figsize=(6.0, 4.5))
        ax = fig.subplots()
        x = [g["affinity"].mean if g["affinity"].n else math.nan for g in gs]
        y = [g["diversity"].mean if g["diversity"].n else math.nan for g in gs]
        c = [g["c_error"].mean if g["c_error"].n else math.nan for g in gs]
        sc = ax.scatter(x, y, c=c, cmap="viridis", edgecolors="black", s=60, plotnonfinite=True)
        for g, xi, yi in zip(gs, x, y):
            if math.isfinite(xi) and math.isfinite(yi):
                ax.annotate(g["label"], (xi, yi), fontsize=7, xytext=(4, 4), textcoords="offset points")
        fig.colorbar(sc, ax=ax, label="-C error (%)")
        ax.set_xlabel("Affinity")
        ax.set_ylabel("Diversity")
        ax.set_title(f"Affinity vs diversity — {dm[0]}, {dm[1]}")
        plots.append(
            save_plot(
                fig,
                out_dir,
                safe_name(f"affinity_diversity_{dm[0]}_{dm[1]}"),
                f"Affinity vs diversity per augmentation, coloured by -C error ({dm[0]}, {dm[1]})",
            )
        )
    return plots
