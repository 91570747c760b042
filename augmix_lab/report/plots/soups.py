"""Model soups: held-out accuracy vs -C error of each group's members and soups (Wortsman et al., ICML 2022)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from augmix_lab.analysis.soups import SOUP_KINDS
from augmix_lab.evaluation.registry import MEAN_CORRUPTION_ERROR
from augmix_lab.report.plots.registry import register_plot
from augmix_lab.report.plots.style import COLORS, MARKERS, Plot, safe_name, save_plot
from augmix_lab.report.tables import Results, metric_title
from augmix_lab.report.tables.soups import HELDOUT, soup_groups


@register_plot("soups", order=60)
def soup_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Held-out accuracy vs mean corruption error per group: members (circles) and each soup kind (its registered
    marker)."""
    plots = []
    for (dataset, model, init), group, members, heldout in soup_groups(res):
        pts = [
            (heldout[t.trial_key], t.metrics[MEAN_CORRUPTION_ERROR])
            for t in members
            if t.trial_key in heldout and MEAN_CORRUPTION_ERROR in t.metrics
        ]
        soup_pts = [
            (str(s.get("kind")), 100.0 * s["metrics"][HELDOUT], s["metrics"][MEAN_CORRUPTION_ERROR])
            for s in group
            if {HELDOUT, MEAN_CORRUPTION_ERROR} <= set(s.get("metrics", {}))
        ]
        if not pts and not soup_pts:
            continue
        fig = Figure(figsize=(5.5, 4.0))
        ax = fig.add_subplot(1, 1, 1)
        if pts:
            arr = np.array(pts)
            ax.scatter(arr[:, 0], arr[:, 1], marker=MARKERS[0], color=COLORS[7], label="members", zorder=2)
        for i, (kind, acc, err) in enumerate(soup_pts):
            ax.scatter(
                [acc],
                [err],
                marker=_marker(kind, i),
                s=120,
                color=COLORS[(i + 1) % len(COLORS)],
                edgecolors="black",
                label=f"{kind} soup",
                zorder=3,
            )
        ax.set_xlabel("Held-out accuracy (%)")
        ax.set_ylabel(f"{metric_title(MEAN_CORRUPTION_ERROR)} (%)")
        ax.set_title(f"Model soups — {dataset}, {model}")
        ax.legend(fontsize=8)
        caption = f"Held-out accuracy vs -C error: soups and their members ({dataset}, {model})"
        plots.append(save_plot(fig, out_dir, safe_name(f"soups_{dataset}_{model}_{init[:8]}"), caption))
    return plots


def _marker(kind: str, i: int) -> str:
    """The kind's registered marker (``register_soup_kind(..., marker=)``), else one of the shared markers."""
    return SOUP_KINDS.meta(kind)["marker"] if kind in SOUP_KINDS else MARKERS[(i + 1) % len(MARKERS)]
