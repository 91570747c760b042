"""Fourier heat maps (Yin et al., NeurIPS 2019) of each variant, averaged over seeds, read from the trials' stored
``fourier/*.npy`` (``eval.fourier``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from augmix_lab.analysis.fourier import FourierHeatMap
from augmix_lab.report.loading import Condition
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import Plot, safe_name, save_plot
from augmix_lab.report.tables import Results


def mean_heat_maps(res: Results) -> dict[Condition, tuple[np.ndarray, FourierHeatMap, int]]:
    """Per condition: (error grid averaged over seeds, one member for its frequencies, number of seeds)."""
    out = {}
    for c in res.conditions:
        maps = [res.analysis.heat_maps[t.run_id] for t in res.trials.get(c, []) if t.run_id in res.analysis.heat_maps]
        maps = [m for m in maps if m.error.shape == maps[0].error.shape] if maps else []
        if maps:
            out[c] = (np.mean([m.error for m in maps], axis=0), maps[0], len(maps))
    return out


@register_plot("fourier_heatmap", order=80)
def fourier_plots(res: Results, out_dir: Path) -> list[Plot]:
    """One panel per variant (per dataset and model), zero frequency at the centre as in Yin et al. (2019)."""
    maps = mean_heat_maps(res)
    plots = []
    for dm in sorted({(c.dataset, c.model) for c in maps}):
        conds = [c for c in maps if (c.dataset, c.model) == dm]
        cols = min(4, len(conds))
        rows = math.ceil(len(conds) / cols)
        fig = Figure(figsize=(3.2 * cols + 0.8, 3.0 * rows))
        # a narrow last column holds the shared colour bar (plain axes keep tight_layout valid)
        grid_axes = np.atleast_2d(fig.subplots(rows, cols + 1, gridspec_kw={"width_ratios": [1] * cols + [0.06]}))
        cax = grid_axes[0, -1]
        for extra in grid_axes[1:, -1]:
            extra.set_visible(False)
        axes = grid_axes[:, :-1].ravel()
        vmax = max(100.0 * float(maps[c][0].max()) for c in conds) or 1.0
        image = None
        for ax, c in zip(axes, conds):
            grid, hm, n = maps[c]
            fy, fx = hm.freqs_y, hm.freqs_x
            sy = (fy[1] - fy[0]) if len(fy) > 1 else 1
            sx = (fx[1] - fx[0]) if len(fx) > 1 else 1
            image = ax.imshow(
                100.0 * grid,
                origin="lower",
                cmap="viridis",
                vmin=0.0,
                vmax=vmax,
                extent=(fx[0] - sx / 2, fx[-1] + sx / 2, fy[0] - sy / 2, fy[-1] + sy / 2),
            )
            ax.set_title(f"{c.label} (n={n})", fontsize=8)
            ax.set_xlabel("horizontal frequency", fontsize=7)
            ax.set_ylabel("vertical frequency", fontsize=7)
            ax.grid(False)
        for ax in axes[len(conds) :]:
            ax.set_visible(False)
        if image is not None:
            fig.colorbar(image, cax=cax, label="Error (%)")
        hm0 = maps[conds[0]][1]
        caption = (
            f"Fourier heat maps ({dm[0]}, {dm[1]}): error under additive Fourier-basis noise of L2 norm "
            f"{hm0.norm:g} on {hm0.n_images} test images; low frequencies at the centre"
        )
        plots.append(save_plot(fig, out_dir, safe_name(f"fourier_heatmap_{dm[0]}_{dm[1]}"), caption))
    return plots
