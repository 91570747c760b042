"""The report's figures (matplotlib Agg, PNG + SVG), readable in grayscale and byte-stable across runs.

Every series differs by marker, line style and hatch as well as colour; SVG ids are salted with a fixed string and
dates/creator metadata are dropped so identical inputs give identical files.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from augmix_lab.config import v1_path
from augmix_lab.evaluation.registry import (
    CLEAN_ERROR,
    METRICS,
    TEST_ERROR,
    TRAIN_DEVICE_S,
    MetricSpec,
    spec_for_key,
    specs,
)
from augmix_lab.report.cost import REFERENCE_METHOD, corruption_metric, cost_ratio
from augmix_lab.report.loading import Condition
from augmix_lab.report.paper_numbers import IMAGENET_CORRUPTIONS, IMAGENET_P_PERTURBATIONS
from augmix_lab.report.stats import SeedStats, summarize
from augmix_lab.report.tables import SOURCE_MARK, Results, metric_title

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


def _style_indices(res: Results) -> dict[str, int]:
    """One style per row label across every plot, so a variant looks the same everywhere."""
    labels: list[str] = []
    for c in res.conditions:
        if c.label not in labels:
            labels.append(c.label)
    return {label: i for i, label in enumerate(labels)}


def _style(i: int) -> dict[str, Any]:
    return {
        "color": COLORS[i % len(COLORS)],
        "marker": MARKERS[i % len(MARKERS)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
    }


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def _save(fig: Figure, out_dir: Path, name: str, caption: str) -> Plot:
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(plot_dir / f"{name}.png", format="png", dpi=DPI, metadata=PNG_METADATA)
    fig.savefig(plot_dir / f"{name}.svg", format="svg", metadata=SVG_METADATA)
    return Plot(name, caption, {"png": f"plots/{name}.png", "svg": f"plots/{name}.svg"})


def _err(cis: Sequence[float], means: Sequence[float], metric: str) -> np.ndarray:
    """(2, n) error bar extents: the 95 % interval (``SeedStats.bar``; half the min–max range at 2 seeds), cut to the
    metric's registered range ([0, 100] % unless AlexNet-normalized), so no bar draws an impossible error below 0 or
    above 100."""
    spec = spec_for_key(metric) or (METRICS.get(metric) if metric in METRICS else None)
    upper_bound = spec.upper if spec is not None else 100.0
    ci = np.array([v if math.isfinite(v) else 0.0 for v in cis])
    mean = np.array([m if math.isfinite(m) else 0.0 for m in means])
    return np.stack([np.minimum(ci, np.maximum(mean, 0.0)), np.minimum(ci, np.maximum(upper_bound - mean, 0.0))])


def _axis_label(metric: str) -> str:
    spec = spec_for_key(metric)
    return f"{metric_title(metric)} ({spec.unit})" if spec is not None and spec.unit else metric_title(metric)


def _series_label(res: Results, c: Condition, metrics: Sequence[str], notes: list[str]) -> str:
    """A series' legend label, marked when any of its -C/-P values is not from the released benchmark files."""
    marks = [res.source_mark(c, m, notes) for m in metrics]
    return f"{c.label} {marks[0]}" if any(marks) else c.label


def _source_legend(ax: Any, notes: list[str]) -> None:
    """One legend line per non-released source shown in this axis (an invisible handle carries the text)."""
    for note in notes:
        ax.plot([], [], linestyle="none", label=note)


def _primary_metrics() -> list[str]:
    ranked = sorted((s for s in specs() if s.sensitivity is not None), key=lambda s: s.sensitivity)  # type: ignore[arg-type,return-value]
    return [s.name for s in ranked]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sweep_points(res: Results, group: tuple, knob: str, metric: str) -> dict[str, tuple[Any, SeedStats, bool]]:
    """JSON-encoded knob value -> (value, stats over seeds, is the un-swept baseline point) for one sweep line."""
    dataset, model, variant, grid = group
    points: dict[str, tuple[Any, SeedStats, bool]] = {}
    for c in res.conditions:
        if c.sweep == knob and (c.dataset, c.model, c.variant, c.grid_axes()) == group:
            s = res.stat(c, metric)
            if s is not None:
                points[json.dumps(c.axis_value(knob))] = (c.axis_value(knob), s, False)
    base_x = _param_value(res, group, knob)
    base_stat = res.stat(Condition(dataset, model, variant, grid, None), metric)
    if base_x is not None and base_stat is not None:
        points[json.dumps(base_x)] = (base_x, base_stat, True)  # the same training as a sweep point at that value
    return points


def sensitivity_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Paper Appendix A: the metric against each swept knob, error bars over seeds, the baseline marked."""
    plots = []
    for knob in sorted({c.sweep for c in res.conditions if c.sweep}):
        sweep_conds = [c for c in res.conditions if c.sweep == knob]
        groups = sorted({(c.dataset, c.model, c.variant, c.grid_axes()) for c in sweep_conds})
        primary = next((m for m in _primary_metrics() if any(m in res.per_seed[c] for c in sweep_conds)), None)
        if primary is None:
            continue
        panels = [primary] + ([CLEAN_ERROR] if primary != CLEAN_ERROR and res.has(CLEAN_ERROR) else [])
        fig = Figure(figsize=(5.2 * len(panels), 3.8))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        values = {k: v for g in groups for m in panels for k, (v, _, _) in _sweep_points(res, g, knob, m).items()}
        numeric = all(_is_number(v) for v in values.values())
        ordered = sorted(values.items(), key=_sort_key)
        position = {k: (float(v) if numeric else float(i)) for i, (k, v) in enumerate(ordered)}
        styles = _style_indices(res)
        for ax, metric in zip(axes, panels):
            notes: list[str] = []
            for group in groups:
                points = sorted(_sweep_points(res, group, knob, metric).items(), key=lambda kv: position[kv[0]])
                if not points:
                    continue
                dataset, model, variant, grid = group
                label = Condition(dataset, model, variant, grid).label
                label += f" ({dataset}, {model})" if len({g[:2] for g in groups}) > 1 else ""
                members = [c for c in res.conditions if c.sweep in (knob, None)
                           and (c.dataset, c.model, c.variant, c.grid_axes()) == group]
                if any([res.source_mark(c, metric, notes) for c in members]):
                    label += f" {SOURCE_MARK}"
                i = styles.get(label, styles.get(variant, 0))
                xs = [position[k] for k, _ in points]
                means = [s.mean for _, (_, s, _) in points]
                ax.errorbar(xs, means, yerr=_err([s.bar for _, (_, s, _) in points], means, metric),
                            capsize=3, label=label, **_style(i))  # fmt: skip
                for k, (v, s, is_base) in points:
                    if is_base:
                        ax.plot([position[k]], [s.mean], marker="*", markersize=16, color=COLORS[i % len(COLORS)],
                                markerfacecolor="white", markeredgewidth=1.5, linestyle="none",
                                label=f"{variant} baseline ({knob}={v})")  # fmt: skip
            ax.set_xlabel(knob)
            ax.set_ylabel(_axis_label(metric))
            if not numeric:
                ax.set_xticks([position[k] for k, _ in ordered], [str(v) for _, v in ordered])
            _source_legend(ax, notes)
            ax.legend(fontsize=8)
        fig.suptitle(f"Sensitivity to {knob} (mean ± 95 % CI over seeds; ± half the range with 2)")
        plots.append(_save(fig, out_dir, f"sensitivity_{_safe(knob)}", f"Hyperparameter sensitivity: {knob}"))
    return plots


def _sort_key(kv: tuple[str, Any]) -> tuple:
    return (0, float(kv[1]), kv[0]) if _is_number(kv[1]) else (1, 0.0, kv[0])


def _param_value(res: Results, group: tuple, knob: str) -> Any:
    """The knob's value in the un-swept run of a group (its resolved param), parsed as a number when it is one."""
    dataset, model, variant, grid = group
    params = res.params.get(Condition(dataset, model, variant, grid, None))
    knob = knob if params is None or knob in params else v1_path(knob)  # params are logged in the v1 layout
    if params is None or knob not in params:
        return None
    raw = params[knob]
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _by_dataset_model(res: Results, conds: Sequence[Condition]) -> dict[tuple[str, str], list[Condition]]:
    groups: dict[tuple[str, str], list[Condition]] = {}
    for c in conds:
        groups.setdefault((c.dataset, c.model), []).append(c)
    return groups


def bar_plots(res: Results, out_dir: Path, spec: MetricSpec) -> list[Plot]:
    """Paper Figures 5 / 12 for any family metric registered with ``bars``: one bar per name, grouped by method."""
    assert spec.bars is not None and spec.prefix is not None
    prefix, caption = spec.bars
    order = IMAGENET_CORRUPTIONS if spec.per == "corruption" else IMAGENET_P_PERTURBATIONS
    plots = []
    plain = [c for c in res.conditions if c.sweep is None]
    for (dataset, model), conds in sorted(_by_dataset_model(res, plain).items()):
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
        styles = _style_indices(res)
        notes: list[str] = []
        for j, c in enumerate(conds):
            i = styles[c.label]
            keys = [f"{spec.prefix}{n}" for n in names]
            stats = [res.stat(c, k) for k in keys]
            means = [s.mean if s else np.nan for s in stats]
            errs = _err([s.bar if s else np.nan for s in stats], means, spec.name)
            label = _series_label(res, c, [k for k in keys if k in res.per_seed[c]], notes)
            ax.bar(x + (j - (len(conds) - 1) / 2) * width, means, width, yerr=errs, capsize=2, label=label,
                   color=COLORS[i % len(COLORS)], edgecolor="black", linewidth=0.6,
                   hatch=HATCHES[i % len(HATCHES)], alpha=0.85)  # fmt: skip
        ax.set_xticks(x, [n.replace("_", " ") for n in names], rotation=45, ha="right")
        ax.set_ylabel(spec.axis_label)
        ax.set_title(f"{caption} — {dataset}, {model}")
        _source_legend(ax, notes)
        ax.legend(fontsize=8)
        name = _safe(f"{prefix}_{dataset}_{model}")
        plots.append(_save(fig, out_dir, name, f"{caption} ({dataset}, {model})"))
    return plots


def severity_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Paper Figure 7: error and RMS calibration error against severity (0 = clean)."""
    plots = []
    plain = [c for c in res.conditions if c.sweep is None]
    panels = [(s.clean or "", s.prefix or "", s.axis_label) for s in specs() if s.per == "severity"]
    for (dataset, model), conds in sorted(_by_dataset_model(res, plain).items()):
        used = [p for p in panels if any(m.startswith(p[1]) for c in conds for m in res.per_seed[c])]
        if not used:
            continue
        fig = Figure(figsize=(5.0 * len(used), 3.8))
        axes = fig.subplots(1, len(used), squeeze=False)[0]
        styles = _style_indices(res)
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
                label = _series_label(res, c, severity_keys, notes)
                ax.errorbar(xs, ys, yerr=_err(es, ys, clean_metric), capsize=3, label=label, **_style(i))
            ax.set_xlabel("Severity (0 = clean)")
            ax.set_ylabel(ylabel)
            ax.set_xticks(range(0, 6))
            _source_legend(ax, notes)
            ax.legend(fontsize=8)
        fig.suptitle(f"Error and calibration vs. severity — {dataset}, {model}")
        caption = f"Error and RMS calibration vs severity ({dataset}, {model})"
        plots.append(_save(fig, out_dir, _safe(f"severity_{dataset}_{model}"), caption))
    return plots


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
    for (dataset, model), group in sorted(_by_dataset_model(res, conds).items()):
        fig = Figure(figsize=(6.0, 4.0))
        ax = fig.subplots()
        styles = _style_indices(res)
        for c in group:
            i = styles[c.label]
            steps = sorted(curves[c])
            stats = [summarize(curves[c][s]) for s in steps]
            means = np.array([s.mean for s in stats])
            ax.plot(steps, means, label=c.label, markevery=max(1, len(steps) // 10), **_style(i))
            below, above = _err([s.bar for s in stats], means, TEST_ERROR)
            if np.any(below + above > 0):
                color = COLORS[i % len(COLORS)]
                ax.fill_between(steps, means - below, means + above, color=color, alpha=0.15, linewidth=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Test error (%)")
        ax.set_title(f"Training curves — {dataset}, {model}")
        ax.legend(fontsize=8)
        caption = f"Test error per epoch ({dataset}, {model})"
        plots.append(_save(fig, out_dir, _safe(f"training_curves_{dataset}_{model}"), caption))
    return plots


def cost_plots(res: Results, out_dir: Path) -> list[Plot]:
    """-C error against training cost (device time × the Standard method's in the same study; without a Standard
    variant, device seconds), one point per variant with its seed interval on both axes."""
    plots = []
    plain = [c for c in res.conditions if c.sweep is None]
    for (dataset, model), conds in sorted(_by_dataset_model(res, plain).items()):
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
        styles = _style_indices(res)
        notes: list[str] = []
        for c, metric, cost, _ in points:
            s = res.stat(c, metric)
            assert s is not None
            xbar = cost.bar if math.isfinite(cost.bar) else 0.0
            xerr = np.array([[min(xbar, cost.mean * 0.999)], [xbar]])  # a log axis: the bar stays above zero
            style = _style(styles[c.label])
            ax.errorbar([cost.mean], [s.mean], xerr=xerr, yerr=_err([s.bar], [s.mean], metric), capsize=3,
                        label=_series_label(res, c, [metric], notes), linestyle="none",
                        marker=style["marker"], color=style["color"])
            ax.annotate(c.label, (cost.mean, s.mean), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"Training cost (device time, × {REFERENCE_METHOD})" if relative else "Training device time (s)")
        ax.set_ylabel(_axis_label(points[0][1]))
        ax.set_title(f"-C error vs. training cost — {dataset}, {model}")
        _source_legend(ax, notes)
        ax.legend(fontsize=8)
        caption = f"-C error against training cost ({dataset}, {model})"
        plots.append(_save(fig, out_dir, _safe(f"cost_vs_corruption_error_{dataset}_{model}"), caption))
    return plots


def build_plots(res: Results, out_dir: Path) -> list[Plot]:
    from augmix_lab.report.soups import soup_plots  # soups imports this module

    bars = [s for s in specs() if s.bars is not None]
    with matplotlib.rc_context(RC):
        return [
            *sensitivity_plots(res, out_dir),
            *(p for s in bars if s.per == "corruption" for p in bar_plots(res, out_dir, s)),
            *severity_plots(res, out_dir),
            *(p for s in bars if s.per != "corruption" for p in bar_plots(res, out_dir, s)),
            *training_curve_plots(res, out_dir),
            *cost_plots(res, out_dir),
            *soup_plots(res, out_dir),
        ]
