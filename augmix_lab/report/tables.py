"""Seed-aggregated results and the paper-style tables built from them (display strings + the numbers behind them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from augmix_lab.evaluation.registry import METRICS, key_title, spec_for_key, specs
from augmix_lab.report.loading import Condition, StudyRuns, TrialRecord
from augmix_lab.report.paper_numbers import (
    IMAGENET_CORRUPTIONS,
    IMAGENET_P_PERTURBATIONS,
    paper_method,
    paper_value,
)
from augmix_lab.report.stats import (
    MISSING,
    BootstrapResult,
    PairedComparison,
    SeedStats,
    format_number,
    format_p,
    format_stat,
    paired_bootstrap,
    paired_t_test,
    summarize,
)

DAGGER = "†"
SOURCE_MARK = "‡"  # a -C/-P cell not computed on the released benchmark files
IMAGENET_DATASETS = {"imagenet"}
_SOURCE_WORDS = {
    "generated": "generated with 'augmix-lab data make-c/make-p'",
    "on_the_fly": "generated on the fly",
    "unknown": "of unknown source (the runs logged no 'source' in scorecard/table.csv)",
}


def metric_title(metric: str) -> str:
    """Display title of a summary key, from the metric registry."""
    return key_title(metric)


def summary_metrics(res: "Results") -> list[str]:
    """The summary table's columns: registered metrics with a ``summary`` position that any run logged."""
    ranked = sorted((s for s in specs() if s.summary is not None), key=lambda s: s.summary)  # type: ignore[arg-type,return-value]
    shown = [s.name for s in ranked if res.has(s.name)]
    return shown or [s.name for s in specs() if s.benchmark is None and res.has(s.name)][:1]


def source_note(dataset: str, benchmark: str, source: str) -> str:
    words = " and ".join(_SOURCE_WORDS.get(part, part) for part in source.split("+"))
    return f"{SOURCE_MARK} {dataset}-{benchmark} {words}, not the released benchmark."


def direction_note(metrics: Iterable[str]) -> str:
    """What sign of Δ is better, from each metric's ``higher_is_better``."""
    lower = [metric_title(m) for m in metrics if not _higher(m)]
    higher = [metric_title(m) for m in metrics if _higher(m)]
    if not higher:
        return "Δ < 0 means fewer errors than the baseline."
    parts = [f"Δ < 0 is better for {', '.join(lower)}" if lower else "", f"Δ > 0 is better for {', '.join(higher)}"]
    return "; ".join(p for p in parts if p) + "."


def _higher(metric: str) -> bool:
    spec = spec_for_key(metric)
    return bool(spec and spec.higher_is_better)


@dataclass
class Table:
    """A rendered-ready table; ``values`` keeps the statistics behind each cell for tests and the CSV of numbers."""

    name: str
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    values: dict[tuple[str, ...], SeedStats] = field(default_factory=dict)


class Results:
    """Per-condition, per-metric values over seeds, and the paired comparisons with the baseline."""

    def __init__(self, runs: StudyRuns) -> None:
        self.runs = runs
        self.per_seed: dict[Condition, dict[str, dict[int, float]]] = {}
        self.params: dict[Condition, dict[str, str]] = {}
        self.trials: dict[Condition, list[TrialRecord]] = {}
        for i, t in enumerate(runs.finished):
            self.trials.setdefault(t.condition, []).append(t)
            seed = t.seed if t.seed is not None else -1 - i  # unknown seeds never pair up
            per_metric = self.per_seed.setdefault(t.condition, {})
            self.params.setdefault(t.condition, t.params)
            for metric, value in t.metrics.items():
                per_metric.setdefault(metric, {})[seed] = value
        for t in runs.unfinished:  # planned conditions without results still get a row of missing cells
            self.params.setdefault(t.condition, t.params)
        for c in self.params:
            self.per_seed.setdefault(c, {})
        self.conditions = sorted(self.params, key=self.order)
        self.metrics = sorted({m for per_metric in self.per_seed.values() for m in per_metric})

    def order(self, c: Condition) -> tuple:
        """Datasets, models, then the baseline variant first, then variants by name, then axis values."""
        return (c.dataset, c.model, c.variant != self.runs.baseline, c.variant, c.sweep or "", c.axes)

    def stat(self, c: Condition, metric: str) -> SeedStats | None:
        values = self.per_seed.get(c, {}).get(metric)
        return summarize([values[s] for s in sorted(values)]) if values else None

    def has(self, metric: str) -> bool:
        return metric in self.metrics

    def baseline_of(self, c: Condition) -> Condition | None:
        if not self.runs.baseline:
            return None
        base = Condition(c.dataset, c.model, self.runs.baseline, c.grid_axes(), None)
        return base if base != c and base in self.per_seed else None

    def compare(self, c: Condition, metric: str) -> PairedComparison | None:
        base = self.baseline_of(c)
        if base is None or c not in self.per_seed:
            return None
        mine, theirs = self.per_seed[c].get(metric), self.per_seed[base].get(metric)
        if not mine or not theirs:
            return None
        return paired_t_test(mine, theirs)

    def source(self, c: Condition, metric: str) -> tuple[str, str] | None:
        """(benchmark, source) when ``metric`` of ``c`` comes from -C/-P rows that are not all released files."""
        spec = spec_for_key(metric)
        if spec is None or spec.benchmark not in ("C", "P") or metric not in self.per_seed.get(c, {}):
            return None
        found = sorted({t.sources.get(spec.benchmark, "unknown") for t in self.trials.get(c, [])})
        return None if found in ([], ["released"]) else (spec.benchmark, "+".join(found))

    def released(self, c: Condition, metric: str) -> bool:
        return self.source(c, metric) is None

    def cell(self, c: Condition | None, metric: str, notes: list[str] | None = None) -> str:
        """A formatted cell; a non-released -C/-P source gets the mark and its line in ``notes`` (once)."""
        if c is None:
            return MISSING
        comparison = self.compare(c, metric)
        mark = DAGGER if comparison is not None and comparison.significant else ""
        return format_stat(self.stat(c, metric), mark=mark + self.source_mark(c, metric, notes))

    def source_mark(self, c: Condition, metric: str, notes: list[str] | None) -> str:
        src = self.source(c, metric)
        if src is None:
            return ""
        note = source_note(c.dataset, *src)
        if notes is not None and note not in notes:
            notes.append(note)
        return SOURCE_MARK

    def legend(self) -> list[str]:
        notes = [
            "Cells: mean ± half-width of the 95 % Student-t interval over seeds (n = number of seeds); "
            f"{MISSING} = no finished run. Errors and calibration errors in percent."
        ]
        if self.runs.baseline:
            notes.append(
                f"{DAGGER} p < 0.05, paired t-test over seeds against the baseline variant "
                f"'{self.runs.baseline}' (runs matched by seed, dataset, model and grid axes)."
            )
        return notes


def _plain(conditions: Iterable[Condition]) -> list[Condition]:
    """Conditions that are not sweep points (sweeps have their own plots and summary rows)."""
    return [c for c in conditions if c.sweep is None]


def summary_table(res: Results) -> Table:
    metrics = summary_metrics(res)
    table = Table(
        "summary",
        "Summary: every variant × key metric",
        ["Dataset", "Model", "Variant", *(metric_title(m) for m in metrics)],
        [],
        res.legend(),
    )
    for c in res.conditions:
        table.rows.append([c.dataset, c.model, c.label, *(res.cell(c, m, table.notes) for m in metrics)])
        for m in metrics:
            s = res.stat(c, m)
            if s is not None:
                table.values[(c.dataset, c.model, c.label, m)] = s
    return table


def baseline_table(res: Results) -> Table | None:
    if not res.runs.baseline:
        return None
    metrics = [m for m in summary_metrics(res) if spec_for_key(m) is None or spec_for_key(m).summary is not None]  # type: ignore[union-attr]
    table = Table(
        "vs_baseline",
        f"Difference to the baseline '{res.runs.baseline}' (method − baseline, paired over seeds)",
        ["Dataset", "Model", "Variant", "Metric", "Δ mean ± CI95", "Pairs", "p (paired t)"],
        [],
        [f"{DAGGER} p < 0.05. {direction_note(metrics)}"],
    )
    for c in res.conditions:
        for m in metrics:
            comp = res.compare(c, m)
            if comp is None:
                continue
            mark = (DAGGER if comp.significant else "") + res.source_mark(c, m, table.notes)
            table.rows.append(
                [c.dataset, c.model, c.label, metric_title(m), format_stat(comp.diff, mark=mark),
                 str(comp.diff.n), format_p(comp.p_value)]
            )  # fmt: skip
            table.values[(c.dataset, c.model, c.label, m)] = comp.diff
    return table if table.rows else None


def ablation_table(res: Results) -> Table | None:
    """Paper Table 4: rows variants, columns datasets, cells mean corruption error."""
    metric = "mean_corruption_error"
    if not res.has(metric):
        return None
    conds = [c for c in _plain(res.conditions) if metric in res.per_seed[c] or not res.per_seed[c]]
    if not conds:
        return None
    datasets = sorted({c.dataset for c in conds})
    row_keys = sorted(
        {(c.model, c.variant, c.axes) for c in conds}, key=lambda k: (k[0], k[1] != res.runs.baseline, k[1], k[2])
    )
    lookup = {(c.model, c.variant, c.axes, c.dataset): c for c in conds}
    table = Table(
        "table4_ablation",
        "Ablation (paper Table 4): mean corruption error (%) by variant and dataset",
        ["Model", "Variant", *datasets],
        [],
        res.legend(),
    )
    for model, variant, axes in row_keys:
        label = Condition("", model, variant, axes).label
        row = [model, label]
        for d in datasets:
            c = lookup.get((model, variant, axes, d))
            row.append(res.cell(c, metric, table.notes))
            if c is not None:
                table.values[(model, label, d)] = res.stat(c, metric)  # type: ignore[assignment]
        table.rows.append(row)
    return table


def architecture_table(
    res: Results, name: str, title: str, blocks: list[tuple[str, str]], datasets: Callable[[str], bool]
) -> Table | None:
    """Paper Tables 1, 5, 6: per dataset and metric block, rows architectures (+ Mean), columns variants."""
    conds = [c for c in _plain(res.conditions) if datasets(c.dataset)]
    conds = [c for c in conds if any(m in res.per_seed[c] for _, m in blocks) or not res.per_seed[c]]
    if not conds:
        return None
    columns = sorted({(c.variant, c.axes) for c in conds}, key=lambda k: (k[0] != res.runs.baseline, k[0], k[1]))
    col_labels = [Condition("", "", v, a).label for v, a in columns]
    lookup = {(c.dataset, c.model, c.variant, c.axes): c for c in conds}
    table = Table(name, title, ["Block", "Architecture", *col_labels], [], res.legend())
    table.notes.append("Mean row: mean over the architectures of the per-architecture means (as in the paper).")
    for dataset in sorted({c.dataset for c in conds}):
        models = sorted({c.model for c in conds if c.dataset == dataset})
        for suffix, metric in blocks:
            if not any(metric in res.per_seed[c] for c in conds if c.dataset == dataset):
                continue
            block = f"{dataset} {suffix}"
            means: dict[str, list[float]] = {label: [] for label in col_labels}
            for model in models:
                row = [block, model]
                for (variant, axes), label in zip(columns, col_labels):
                    c = lookup.get((dataset, model, variant, axes))
                    row.append(res.cell(c, metric, table.notes))
                    s = res.stat(c, metric) if c is not None else None
                    if s is not None:
                        table.values[(block, model, label)] = s
                        means[label].append(s.mean)
                table.rows.append(row)
            mean_row = [block, "Mean"]
            for label in col_labels:
                complete = len(means[label]) == len(models)  # a mean over some architectures would mislead
                mean_row.append(format_number(sum(means[label]) / len(models)) if complete else MISSING)
            table.rows.append(mean_row)
    return table if table.rows else None


def metric_columns_table(
    res: Results, name: str, title: str, first: str, per: str, order: tuple[str, ...], last: str
) -> Table | None:
    """Paper Tables 2 and 3: rows variants, columns clean error, per-corruption values, and their mean."""
    family = METRICS.get(per)
    names = [m for m in res.metrics if spec_for_key(m) is family]
    if not names and not res.has(last):
        return None
    rank = {f"{family.prefix}{n}": i for i, n in enumerate(order)}
    names.sort(key=lambda m: (rank.get(m, len(rank)), m))
    metrics = [first, *names, last]
    conds = [c for c in _plain(res.conditions) if any(m in res.per_seed[c] for m in metrics[1:]) or not res.per_seed[c]]
    table = Table(name, title, ["Dataset", "Model", "Variant", *(metric_title(m) for m in metrics)], [], res.legend())
    for c in conds:
        table.rows.append([c.dataset, c.model, c.label, *(res.cell(c, m, table.notes) for m in metrics)])
        for m in metrics:
            s = res.stat(c, m)
            if s is not None:
                table.values[(c.dataset, c.model, c.label, m)] = s
    return table


PAPER_TABLE_METRICS = {
    "table1": ("mean_corruption_error",),
    "table4": ("mean_corruption_error",),
    "table5": ("clean_rms_calib_error", "c_rms_calib_error"),
    "table6": ("clean_error", "mfp"),
    "table2": ("clean_error", *(f"ce.{c}" for c in IMAGENET_CORRUPTIONS), "mce"),
    "table3": ("clean_error", *(f"fr.{p}" for p in IMAGENET_P_PERTURBATIONS), "mfr"),
}


def paper_comparison_table(res: Results, tables_made: Iterable[str]) -> Table | None:
    """Our number beside the paper's wherever a condition reproduces a paper setup (dataset, model, method)."""
    table = Table(
        "vs_paper",
        "Ours vs. the AugMix paper (same dataset, model and method; other settings may differ)",
        ["Paper table", "Dataset", "Model", "Variant", "Metric", "Ours", "Paper", "Δ (ours − paper)"],
        [],
        ["Paper numbers from Hendrycks et al., ICLR 2020 (augmix_lab/report/paper_numbers.py cites each row)."],
    )
    skipped = False
    for paper_table in sorted(set(tables_made) & set(PAPER_TABLE_METRICS)):
        for c in _plain(res.conditions):
            method = paper_method(res.params[c])
            for m in PAPER_TABLE_METRICS[paper_table]:
                ref = paper_value(paper_table, c.dataset, c.model, method, m)
                s = res.stat(c, m)
                if ref is None or s is None:
                    continue
                if not res.released(c, m):  # the paper's numbers are on the released benchmark files only
                    skipped = True
                    continue
                table.rows.append(
                    [paper_table, c.dataset, c.model, c.label, metric_title(m), format_stat(s),
                     format_number(ref, 1), format_number(s.mean - ref)]
                )  # fmt: skip
                table.values[(paper_table, c.dataset, c.model, c.label, m)] = s
    if skipped:
        table.notes.append(f"Left out: -C/-P numbers not computed on the released benchmark files ({SOURCE_MARK} "
                           "in the other tables).")
    return table if table.rows else None


def failed_table(res: Results) -> Table:
    table = Table(
        "failed_trials",
        "Trials without results (failed, killed or still running)",
        ["Trial key", "Dataset", "Model", "Variant", "Seed", "Status", "Error"],
        [],
        ["These runs are left out of every statistic above."],
    )
    for t in res.runs.unfinished:
        c = t.condition
        error = (t.error or "").replace("\n", " ").strip() or MISSING
        seed = MISSING if t.seed is None else str(t.seed)
        table.rows.append([t.trial_key, c.dataset, c.model, c.label, seed, t.status, error])
    return table


def bootstrap_table(res: Results, n_resamples: int = 2000) -> Table | None:
    """Paired bootstrap over test images of the clean-error difference, where per-image predictions are stored."""
    preds = res.runs.predictions
    if not preds or not res.runs.baseline:
        return None
    by_cond: dict[Condition, dict[int, str]] = {}
    for t in res.runs.finished:
        if t.run_id in preds and t.seed is not None:
            by_cond.setdefault(t.condition, {})[t.seed] = t.run_id
    table = Table(
        "bootstrap_clean_error",
        f"Paired bootstrap over test images: clean error difference to '{res.runs.baseline}'",
        ["Dataset", "Model", "Variant", "Δ clean error", "95 % interval", "p", "Images", "Seed pairs"],
        [],
        [f"{n_resamples} resamples of the test images (same images for both models), averaged over matched seeds."],
    )
    for c in res.conditions:
        base = res.baseline_of(c)
        if base is None or c not in by_cond or base not in by_cond:
            continue
        seeds = sorted(set(by_cond[c]) & set(by_cond[base]))
        pairs = [(preds[by_cond[c][s]], preds[by_cond[base][s]]) for s in seeds]
        pairs = [(a, b) for a, b in pairs if a.shape == b.shape]
        if not pairs:
            continue
        r: BootstrapResult = paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs], n_resamples=n_resamples)
        mark = DAGGER if r.p_value < 0.05 else ""
        table.rows.append(
            [c.dataset, c.model, c.label, f"{format_number(r.diff)}{mark}",
             f"[{format_number(r.low)}, {format_number(r.high)}]", format_p(r.p_value), str(r.n_images),
             str(r.n_seeds)]
        )  # fmt: skip
    return table if table.rows else None


def build_tables(res: Results) -> list[Table]:
    """Every table the study's runs support, in report order."""
    tables: list[Table] = [summary_table(res)]
    made: list[str] = []

    def add(table: Table | None, paper_name: str | None = None) -> None:
        if table is not None:
            tables.append(table)
            if paper_name:
                made.append(paper_name)

    add(baseline_table(res))
    add(ablation_table(res), "table4")
    not_imagenet: Callable[[str], bool] = lambda d: d not in IMAGENET_DATASETS  # noqa: E731
    if res.has("mean_corruption_error"):
        add(
            architecture_table(
                res, "table1_corruption_error", "Corruption error (%) by architecture and method (paper Table 1)",
                [("-C error", "mean_corruption_error")], not_imagenet,
            ),
            "table1",
        )  # fmt: skip
    if res.has("clean_rms_calib_error") or res.has("c_rms_calib_error"):
        add(
            architecture_table(
                res, "table5_calibration", "RMS calibration error (%) on clean and -C data (paper Table 5)",
                [("clean", "clean_rms_calib_error"), ("-C", "c_rms_calib_error")], lambda d: True,
            ),
            "table5",
        )  # fmt: skip
    if res.has("mfp"):
        add(
            architecture_table(
                res, "table6_clean_and_mfp", "Clean error and -P mean flip probability (%) (paper Table 6)",
                [("clean error", "clean_error"), ("-P mFP", "mfp")], lambda d: True,
            ),
            "table6",
        )  # fmt: skip
    if res.has("mce") or any(spec_for_key(m) is METRICS.get("ce") for m in res.metrics):
        add(
            metric_columns_table(
                res, "table2_imagenet_c", "Clean error, CE per corruption and mCE (paper Table 2)",
                "clean_error", "ce", IMAGENET_CORRUPTIONS, "mce",
            ),
            "table2",
        )  # fmt: skip
    if res.has("mfr") or any(spec_for_key(m) is METRICS.get("fr") for m in res.metrics):
        add(
            metric_columns_table(
                res, "table3_imagenet_p", "Clean error, flip rate per perturbation and mFR (paper Table 3)",
                "clean_error", "fr", IMAGENET_P_PERTURBATIONS, "mfr",
            ),
            "table3",
        )  # fmt: skip
    add(paper_comparison_table(res, made))
    add(bootstrap_table(res))
    from augmix_lab.report.soups import soup_table  # soups imports this module

    add(soup_table(res))
    tables.append(failed_table(res))
    return tables


def tidy_statistics(res: Results) -> list[dict[str, object]]:
    """One row per condition × metric with the raw numbers (the machine-readable companion of the tables)."""
    rows: list[dict[str, object]] = []
    for c in res.conditions:
        for m in sorted(res.per_seed[c]):
            s = res.stat(c, m)
            assert s is not None
            comp = res.compare(c, m)
            rows.append(
                {
                    "dataset": c.dataset,
                    "model": c.model,
                    "variant": c.variant,
                    "axes": ";".join(f"{k}={v}" for k, v in c.axes),
                    "metric": m,
                    "mean": s.mean,
                    "std": s.std,
                    "n": s.n,
                    "ci95": s.ci95,
                    "diff_vs_baseline": comp.diff.mean if comp else math.nan,
                    "p_vs_baseline": comp.p_value if comp else math.nan,
                }
            )
    return rows
