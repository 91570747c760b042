"""Seed-aggregated results (``Results``), the ``Table`` every report table returns, and the helpers tables share."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from augmix_lab.evaluation.registry import key_title, spec_for_key, specs
from augmix_lab.report.loading import AnalysisInputs, Condition, StudyRuns, TrialRecord
from augmix_lab.report.stats import (
    FEW_PAIRS,
    MIN_PAIRS_FOR_TEST,
    MIN_SEEDS_FOR_INTERVAL,
    MISSING,
    PairedComparison,
    SeedStats,
    format_stat,
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
    "synthetic_frost": "with synthetic frost textures (frost photographs not installed: imagecorruptions)",
}


def metric_title(metric: str) -> str:
    """Display title of a summary key, from the metric registry."""
    return key_title(metric)


def summary_metrics(res: Results) -> list[str]:
    """The summary table's columns: registered metrics with a ``summary`` position that any run logged."""
    ranked = sorted((s for s in specs() if s.summary is not None), key=attrgetter("summary"))
    shown = [s.name for s in ranked if res.has(s.name)]
    history = sorted(
        (s for s in specs() if s.kind == "history" and s.sensitivity is not None), key=attrgetter("sensitivity")
    )
    return shown or [s.name for s in history if res.has(s.name)][:1]  # no evaluation yet: the test error


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
    key_names: tuple[str, ...] = ()  # tidy CSV column names of the ``values`` keys
    extras: dict[tuple[str, ...], dict[str, object]] = field(default_factory=dict)  # more tidy columns per key (p, …)
    tidy: list[dict[str, object]] | None = None  # explicit tidy rows, for tables whose numbers are not SeedStats

    def put(self, key: tuple[str, ...], stat: SeedStats | None, **extra: object) -> None:
        """Records the statistics behind one cell (and its extra tidy columns) for tests and the tidy CSV."""
        if stat is None:
            return
        self.values[key] = stat
        if extra:
            self.extras[key] = dict(extra)


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

    @functools.cached_property
    def analysis(self) -> AnalysisInputs:
        """The study-level analysis inputs read with the runs (``report.loading.AnalysisInputs``: heat maps, the
        affinity table, soups as extra points)."""
        return self.runs.analysis

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
        """(benchmark, source) when ``metric`` of ``c`` comes from -C/C-bar/-P rows that are not all released files."""
        spec = spec_for_key(metric)
        if spec is None or spec.benchmark not in ("C", "C-bar", "P") or metric not in self.per_seed.get(c, {}):
            return None
        trials = self.trials.get(c, [])
        found = sorted({part for t in trials for part in t.sources.get(spec.benchmark, "unknown").split("+")})
        return None if found in ([], ["released"]) else (spec.benchmark, "+".join(found))

    def tidy_extra(self, c: Condition, metric: str) -> dict[str, object]:
        """The tidy columns beside a cell's statistics: the paired p against the baseline and the -C/-P source."""
        comp = self.compare(c, metric)
        src = self.source(c, metric)
        return {"metric": metric, "p_vs_baseline": comp.p_value if comp else math.nan,
                "source": src[1] if src else "released"}  # fmt: skip

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
        if self.few_seeds():
            notes.append(
                f"With fewer than {MIN_SEEDS_FOR_INTERVAL} seeds a cell shows mean [min–max] (n=k, range), not an "
                f"interval; the paired t-test needs {MIN_PAIRS_FOR_TEST} seed pairs ('{FEW_PAIRS}' otherwise)."
            )
        if self.runs.baseline:
            notes.append(
                f"{DAGGER} p < 0.05, paired t-test over seeds against the baseline variant "
                f"'{self.runs.baseline}' (runs matched by seed, dataset, model and grid axes)."
            )
        return notes

    def few_seeds(self) -> bool:
        """Whether any condition's metric has 2 seeds (shown as a range; one seed needs no note)."""
        return any(1 < len(v) < MIN_SEEDS_FOR_INTERVAL for per in self.per_seed.values() for v in per.values())


def plain(conditions: Iterable[Condition]) -> list[Condition]:
    """Conditions that are not sweep points (sweeps have their own plots and summary rows)."""
    return [c for c in conditions if c.sweep is None]


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
