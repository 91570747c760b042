"""What every report figure shares (matplotlib Agg, PNG + SVG), readable in grayscale and byte-stable across runs.

Every series differs by marker, line style and hatch as well as colour; SVG ids are salted with a fixed string and
dates/creator metadata are dropped so identical inputs give identical files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from augmix_lab.evaluation.registry import METRICS, spec_for_key
from augmix_lab.report.loading import Condition
from augmix_lab.report.tables import Results, metric_title

# Okabe-Ito colour-blind-safe palette; grayscale readers rely on the markers, dashes and hatches below.
COLORS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#999999")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 2)), (0, (8, 3)))
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---")
RC = {
    "svg.hashsalt": "augmix-lab",  # stable element ids in SVGs
    "svg.fonttype": "none",  # text stays text (smaller, no glyph paths)
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "hatch.linewidth": 0.8,
}
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}
DPI = 120


@dataclass(frozen=True)
class Plot:
    name: str
    caption: str
    files: dict[str, str]  # format -> path relative to the report root


def style_indices(res: Results) -> dict[str, int]:
    """One style per row label across every plot, so a variant looks the same everywhere."""
    labels: list[str] = []
    for c in res.conditions:
        if c.label not in labels:
            labels.append(c.label)
    return {label: i for i, label in enumerate(labels)}


def style_of(i: int) -> dict[str, Any]:
    return {
        "color": COLORS[i % len(COLORS)],
        "marker": MARKERS[i % len(MARKERS)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
    }


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def save_plot(fig: Figure, out_dir: Path, name: str, caption: str) -> Plot:
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(plot_dir / f"{name}.png", format="png", dpi=DPI, metadata=PNG_METADATA)
    fig.savefig(plot_dir / f"{name}.svg", format="svg", metadata=SVG_METADATA)
    return Plot(name, caption, {"png": f"plots/{name}.png", "svg": f"plots/{name}.svg"})


def error_extent(cis: Sequence[float], means: Sequence[float] | np.ndarray, metric: str) -> np.ndarray:
    """(2, n) error bar extents: the 95 % interval (``SeedStats.bar``; half the min–max range at 2 seeds), cut to the
    metric's registered range ([0, 100] % unless AlexNet-normalized), so no bar draws an impossible error below 0 or
    above 100."""
    spec = spec_for_key(metric) or (METRICS.get(metric) if metric in METRICS else None)
    upper_bound = spec.upper if spec is not None else 100.0
    ci = np.array([v if math.isfinite(v) else 0.0 for v in cis])
    mean = np.array([m if math.isfinite(m) else 0.0 for m in means])
    return np.stack([np.minimum(ci, np.maximum(mean, 0.0)), np.minimum(ci, np.maximum(upper_bound - mean, 0.0))])


def axis_label(metric: str) -> str:
    spec = spec_for_key(metric)
    return f"{metric_title(metric)} ({spec.unit})" if spec is not None and spec.unit else metric_title(metric)


def series_label(res: Results, c: Condition, metrics: Sequence[str], notes: list[str]) -> str:
    """A series' legend label, marked when any of its -C/-P values is not from the released benchmark files."""
    marks = [res.source_mark(c, m, notes) for m in metrics]
    return f"{c.label} {marks[0]}" if any(marks) else c.label


def source_legend(ax: Any, notes: list[str]) -> None:
    """One legend line per non-released source shown in this axis (an invisible handle carries the text)."""
    for note in notes:
        ax.plot([], [], linestyle="none", label=note)


def by_dataset_model(conds: Sequence[Condition]) -> dict[tuple[str, str], list[Condition]]:
    groups: dict[tuple[str, str], list[Condition]] = {}
    for c in conds:
        groups.setdefault((c.dataset, c.model), []).append(c)
    return groups
