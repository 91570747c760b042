"""The report's analyses beyond the paper: effective robustness (Taori et al., NeurIPS 2020), Fourier heat maps (Yin et
al., NeurIPS 2019), affinity/diversity (Gontijo-Lopes et al., ICLR 2021) and minimal sample distance (report/msd.py).
The numbers come from the pure functions of ``augmix_lab.analysis``; this module only reads the store (through
``tracking.reader``) and lays out tables/plots.

Runs outside the trial grid (model soups: role ``soup``) join the effective-robustness table and scatter as
``ExtraPoint``s with their role.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from augmix_lab.analysis.effective_robustness import TrendFit, effective_robustness, fit_trend
from augmix_lab.analysis.fourier import FourierHeatMap
from augmix_lab.errors import UserError
from augmix_lab.evaluation.fourier_eval import ARRAY_NAMES, ARTIFACT_DIR, heat_map_from_arrays
from augmix_lab.evaluation.registry import CLEAN_ERROR, MEAN_CORRUPTION_ERROR
from augmix_lab.report.loading import Condition, StudyRuns
from augmix_lab.report.msd import load_msd, msd_plots
from augmix_lab.report.stats import MISSING, SeedStats, format_stat, summarize
from augmix_lab.report.tables import Results, Table
from augmix_lab.tracking.tags import AFFINITY_ARTIFACT, ROLE_SOUP, TRACKING_TAGS

CLEAN, SHIFTED = CLEAN_ERROR, MEAN_CORRUPTION_ERROR  # percent errors -> accuracies = 1 - error / 100
EXTRA_ROLES = (ROLE_SOUP,)  # run roles drawn beside the trials (model soups, logged by the soups driver)
ER_METRIC = "effective_robustness"


@dataclass(frozen=True)
class ExtraPoint:
    """A finished run outside the trial grid (e.g. a model soup) with its clean and -C errors (percent)."""

    dataset: str
    model: str
    label: str
    role: str
    clean_error: float
    c_error: float


@dataclass
class AnalysisInputs:
    """What the analyses read from the store beyond the trial metrics."""

    heat_maps: dict[str, FourierHeatMap] = field(default_factory=dict)  # trial run id -> heat map
    affinity: pd.DataFrame | None = None  # the parent run's analyses/affinity_diversity.csv
    extra_points: list[ExtraPoint] = field(default_factory=list)
    msd: pd.DataFrame | None = None  # the parent run's analyses/msd.csv (report/msd.py)


def load_analysis_inputs(runs: StudyRuns) -> AnalysisInputs:
    """Heat maps of finished trials, the study run's affinity table and soup runs; an unreadable store gives empty
    inputs (the tables then say what is missing)."""
    from augmix_lab.tracking.reader import StoreReader
    from augmix_lab.tracking.store import is_sqlite_uri, sqlite_path

    out = AnalysisInputs()
    if is_sqlite_uri(runs.tracking_uri) and not Path(sqlite_path(runs.tracking_uri)).is_file():
        return out  # synthetic results: opening a missing SQLite store would create it
    try:
        reader = StoreReader(runs.tracking_uri)
        exp_id = reader.experiment_id(runs.experiment)
    except Exception:  # noqa: BLE001 - synthetic results or an unreachable store: no store-only inputs
        return out
    if exp_id is None:
        return out
    for t in runs.finished:
        names = reader.artifact_names(t.run_id, ARTIFACT_DIR)
        if names and "error.npy" in names:
            hm = heat_map_from_arrays(reader.arrays(t.run_id, ARTIFACT_DIR, ARRAY_NAMES))
            if hm is not None:
                out.heat_maps[t.run_id] = hm
    parents = sorted(reader.runs(exp_id, "study"), key=lambda r: (r.start_time, r.run_id))
    if parents:
        out.affinity = reader.table(parents[-1].run_id, AFFINITY_ARTIFACT)
        out.msd = load_msd(reader, parents[-1].run_id)
    by_key = {t.trial_key: t for t in runs.trials}
    for role in EXTRA_ROLES:
        for r in reader.runs(exp_id, role):
            if r.status != "FINISHED" or CLEAN not in r.metrics or SHIFTED not in r.metrics:
                continue
            if r.tags.get(TRACKING_TAGS.study, runs.study) != runs.study:
                continue  # another study's soup in the same experiment
            dataset, model = _extra_dataset_model(r, by_key)
            kind = r.tags.get(TRACKING_TAGS.soup_kind)
            label = f"{kind} soup" if kind else (r.tags.get(TRACKING_TAGS.run_name) or r.run_id[:8])
            group = r.tags.get(TRACKING_TAGS.soup_group)
            out.extra_points.append(ExtraPoint(dataset, model, f"{label} ({group})" if group else label, role,
                                               r.metrics[CLEAN], r.metrics[SHIFTED]))
    out.extra_points.sort(key=lambda p: (p.dataset, p.model, p.role, p.label))
    return out


def _extra_dataset_model(run: Any, by_key: dict[str, Any]) -> tuple[str, str]:
    """A soup's dataset and model: its params when logged, else those of its member trials (tag = JSON trial keys)."""
    if "dataset.name" in run.params:
        return run.params["dataset.name"], run.params.get("model", "?")
    try:
        tags = run.tags
        keys = json.loads(tags.get(TRACKING_TAGS.soup_members) or tags.get(TRACKING_TAGS.soup_candidates) or "[]")
    except json.JSONDecodeError:
        keys = []
    members = [by_key[k].condition for k in keys if k in by_key]
    return (members[0].dataset, members[0].model) if members else ("?", "?")


# ---- effective robustness --------------------------------------------------------------------------------------------
def _acc(error_pct: float) -> float:
    return min(1.0, max(0.0, 1.0 - error_pct / 100.0))


def baseline_method(res: Results) -> str | None:
    """The training method of the study's baseline variant (e.g. 'standard'); None without a baseline."""
    return next((t.params.get("method") for t in res.runs.trials if t.variant == res.runs.baseline), None)


def baseline_trends(res: Results) -> dict[str, TrendFit | str]:
    """Per dataset: the trend fitted over every finished run trained with the baseline's method (Taori et al.'s
    "standard models": seeds, architectures, epochs), or the reason there is none."""
    out: dict[str, TrendFit | str] = {}
    datasets = sorted({c.dataset for c in res.conditions})
    method = baseline_method(res)
    for d in datasets:
        if not res.runs.baseline or method is None:
            out[d] = "the study declares no baseline variant"
            continue
        pts = [(t.metrics[CLEAN], t.metrics[SHIFTED]) for t in res.runs.finished
               if t.condition.dataset == d and t.params.get("method") == method and CLEAN in t.metrics
               and SHIFTED in t.metrics]
        try:
            out[d] = fit_trend([_acc(c) for c, _ in pts], [_acc(s) for _, s in pts])
        except UserError as exc:
            out[d] = str(exc)
    return out


def _er_stats(fit: TrendFit, pairs: list[tuple[float, float]]) -> SeedStats:
    return summarize([100.0 * effective_robustness(fit, _acc(c), _acc(s)) for c, s in pairs])


def effective_robustness_table(res: Results, inputs: AnalysisInputs) -> Table | None:
    """Each variant's -C accuracy minus the baseline trend's prediction at its clean accuracy (percent points)."""
    if not res.has(SHIFTED) or not res.has(CLEAN):
        return None
    trends = baseline_trends(res)
    table = Table(ER_METRIC, "Effective robustness (Taori et al. 2020): -C accuracy above the baseline trend",
                  ["Dataset", "Model", "Variant", "Role", "Clean acc. (%)", "-C acc. (%)", "Trend -C acc. (%)",
                   "Eff. robustness (pp)"], [])
    for d, fit in trends.items():
        if isinstance(fit, TrendFit):
            table.notes.append(f"{d}: logit(-C acc.) = {fit.slope:.3f} · logit(clean acc.) + {fit.intercept:.3f}, "
                               f"least squares over {fit.n_points} run(s) trained with the baseline's method "
                               f"'{baseline_method(res)}'.")
        else:
            table.notes.append(f"{d}: no trend, so no effective robustness: {fit}")
    table.notes.append("Accuracies are means over seeds; effective robustness is per run, then mean ± 95 % CI "
                       "over seeds, in percent points.")
    for c in res.conditions:
        pairs = [(t.metrics[CLEAN], t.metrics[SHIFTED]) for t in res.trials.get(c, [])
                 if CLEAN in t.metrics and SHIFTED in t.metrics]
        role = "baseline" if res.params.get(c, {}).get("method") == baseline_method(res) else "trial"
        table.rows.append(_er_row(c.dataset, c.model, c.label, role, pairs, trends.get(c.dataset), table))
    for p in inputs.extra_points:
        table.rows.append(_er_row(p.dataset, p.model, p.label, p.role, [(p.clean_error, p.c_error)],
                                  trends.get(p.dataset), table))
    return table


def _er_row(dataset: str, model: str, label: str, role: str, pairs: list[tuple[float, float]],
            fit: TrendFit | str | None, table: Table) -> list[str]:
    clean = summarize([100.0 * _acc(c) for c, _ in pairs])
    shifted = summarize([100.0 * _acc(s) for _, s in pairs])
    if isinstance(fit, TrendFit) and pairs:
        trend = summarize([100.0 * fit.predict(_acc(c)) for c, _ in pairs])
        er = _er_stats(fit, pairs)
        table.values[(dataset, model, label, ER_METRIC)] = er
        cells = [format_stat(trend), format_stat(er)]
    else:
        cells = [MISSING, MISSING]
    return [dataset, model, label, role, format_stat(clean), format_stat(shifted), *cells]


def effective_robustness_plots(res: Results, inputs: AnalysisInputs, out_dir: Path) -> list:
    """Per dataset: every run on logit-scaled axes (clean vs -C accuracy), the baseline trend, soups as stars."""
    from augmix_lab.report.plots import _safe, _save, _style, _style_indices

    plots = []
    styles = _style_indices(res)
    for d, fit in baseline_trends(res).items():
        runs = [t for t in res.runs.finished if t.condition.dataset == d and CLEAN in t.metrics and SHIFTED in t.metrics]
        extra = [p for p in inputs.extra_points if p.dataset == d]
        if not runs and not extra:
            continue
        fig = Figure(figsize=(6.0, 4.5))
        ax = fig.subplots()
        xs = [_acc(t.metrics[CLEAN]) for t in runs] + [_acc(p.clean_error) for p in extra]
        seen: set[str] = set()
        for t in runs:
            label = t.condition.label
            style = _style(styles[label])
            ax.plot([_clip(_acc(t.metrics[CLEAN]))], [_clip(_acc(t.metrics[SHIFTED]))], linestyle="none",
                    marker=style["marker"], color=style["color"], label=None if label in seen else label)
            seen.add(label)
        for p in extra:
            ax.plot([_clip(_acc(p.clean_error))], [_clip(_acc(p.c_error))], linestyle="none", marker="*",
                    markersize=12, color="#D55E00", markeredgecolor="black", label=f"{p.label} ({p.role})")
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
        plots.append(_save(fig, out_dir, _safe(f"effective_robustness_{d}"),
                           f"Clean vs -C accuracy of every run with the baseline trend ({d})"))
    return plots


def _clip(p: float) -> float:
    return min(max(p, 1e-3), 1 - 1e-3)  # logit axes cannot show 0 or 1


# ---- Fourier heat maps -----------------------------------------------------------------------------------------------
def mean_heat_maps(res: Results, inputs: AnalysisInputs) -> dict[Condition, tuple[np.ndarray, FourierHeatMap, int]]:
    """Per condition: (error grid averaged over seeds, one member for its frequencies, number of seeds)."""
    out = {}
    for c in res.conditions:
        maps = [inputs.heat_maps[t.run_id] for t in res.trials.get(c, []) if t.run_id in inputs.heat_maps]
        maps = [m for m in maps if m.error.shape == maps[0].error.shape] if maps else []
        if maps:
            out[c] = (np.mean([m.error for m in maps], axis=0), maps[0], len(maps))
    return out


def fourier_plots(res: Results, inputs: AnalysisInputs, out_dir: Path) -> list:
    """One panel per variant (per dataset and model), zero frequency at the centre as in Yin et al. (2019)."""
    from augmix_lab.report.plots import _safe, _save

    maps = mean_heat_maps(res, inputs)
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
            image = ax.imshow(100.0 * grid, origin="lower", cmap="viridis", vmin=0.0, vmax=vmax,
                              extent=(fx[0] - sx / 2, fx[-1] + sx / 2, fy[0] - sy / 2, fy[-1] + sy / 2))
            ax.set_title(f"{c.label} (n={n})", fontsize=8)
            ax.set_xlabel("horizontal frequency", fontsize=7)
            ax.set_ylabel("vertical frequency", fontsize=7)
            ax.grid(False)
        for ax in axes[len(conds):]:
            ax.set_visible(False)
        if image is not None:
            fig.colorbar(image, cax=cax, label="Error (%)")
        hm0 = maps[conds[0]][1]
        caption = (f"Fourier heat maps ({dm[0]}, {dm[1]}): error under additive Fourier-basis noise of L2 norm "
                   f"{hm0.norm:g} on {hm0.n_images} test images; low frequencies at the centre")
        plots.append(_save(fig, out_dir, _safe(f"fourier_heatmap_{dm[0]}_{dm[1]}"), caption))
    return plots


# ---- affinity and diversity ------------------------------------------------------------------------------------------
def _affinity_groups(res: Results, inputs: AnalysisInputs) -> list[dict[str, Any]]:
    df = inputs.affinity
    if df is None or not len(df):
        return []
    shifted = {t.run_id: t.metrics.get(SHIFTED, math.nan) for t in res.runs.finished}
    out = []
    for (d, m, label), g in df.groupby(["dataset", "model", "label"], sort=True):
        out.append({"dataset": d, "model": m, "label": label, "method": str(g["method"].iloc[0]),
                    "heldout": ", ".join(sorted({str(h) for h in g["heldout"]})),
                    "affinity": summarize(list(g["affinity"])), "diversity": summarize(list(g["diversity"])),
                    "c_error": summarize([shifted.get(str(r), math.nan) for r in g["run_id"]])})
    return out


def affinity_table(res: Results, inputs: AnalysisInputs) -> Table | None:
    groups = _affinity_groups(res, inputs)
    if not groups:
        return None
    table = Table("affinity_diversity", "Affinity and diversity of each augmentation (Gontijo-Lopes et al. 2021)",
                  ["Dataset", "Model", "Variant", "Method", "Affinity", "Diversity", "-C error (%)", "Held-out"], [],
                  ["Affinity = accuracy of the baseline (clean-trained) model on augmented held-out images ÷ its "
                   "clean held-out accuracy; diversity = final training loss with the augmentation ÷ the baseline's. "
                   "Mean ± 95 % CI over seeds.",
                   "Held-out: train[-H:][:N] = the first N of the study's held-out split (the last H training "
                   "images, never trained on); test[:N] = the test split's first N images (no held-out split "
                   "declared)."])
    for g in groups:
        table.rows.append([g["dataset"], g["model"], g["label"], g["method"], format_stat(g["affinity"], 3),
                           format_stat(g["diversity"], 3), format_stat(g["c_error"]), g["heldout"]])
        table.values[(g["dataset"], g["model"], g["label"], "affinity")] = g["affinity"]
        table.values[(g["dataset"], g["model"], g["label"], "diversity")] = g["diversity"]
    return table


def affinity_plots(res: Results, inputs: AnalysisInputs, out_dir: Path) -> list:
    from augmix_lab.report.plots import _safe, _save

    groups = _affinity_groups(res, inputs)
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
        plots.append(_save(fig, out_dir, _safe(f"affinity_diversity_{dm[0]}_{dm[1]}"),
                           f"Affinity vs diversity per augmentation, coloured by -C error ({dm[0]}, {dm[1]})"))
    return plots


# ---- entry points (builder.write_report) -----------------------------------------------------------------------------
def analysis_plots(res: Results, inputs: AnalysisInputs, out_dir: Path) -> list:
    import matplotlib

    from augmix_lab.report.plots import RC

    with matplotlib.rc_context(RC):
        return [*effective_robustness_plots(res, inputs, out_dir), *fourier_plots(res, inputs, out_dir),
                *affinity_plots(res, inputs, out_dir), *msd_plots(res, inputs.msd, out_dir)]
