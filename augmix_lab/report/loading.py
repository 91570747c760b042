"""Reads one study's runs out of MLflow (the report's only input) into plain, sorted records: the trial runs, their
curves and per-image predictions, the study's soup runs, and the study-level analysis inputs (Fourier heat maps of
the trials, the parent run's affinity/diversity table). The report's one reader of the store (through
``tracking.reader.StoreReader``): it reads only, so it needs neither checkpoints nor torch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augmix_lab.analysis.fourier import FourierHeatMap
from augmix_lab.errors import UserError
from augmix_lab.evaluation.registry import CLEAN_ERROR, MEAN_CORRUPTION_ERROR, metric_names
from augmix_lab.study.init import ROUND_AXIS
from augmix_lab.tracking.reader import StoreReader
from augmix_lab.tracking.tags import AFFINITY_ARTIFACT, MSD_ARTIFACT, ROLE_SOUP, TRACKING_TAGS

SWEEP_BASE = "base"  # axes["sweep"] of a study's un-swept point (augmix_lab.study.expand)
STUDY_ARTIFACT = "study.yaml"  # the parent run's copy of the study file
SCORECARD_TABLE = "scorecard/table.csv"  # the tidy per-cell table evaluation logs (its ``source`` column)
EVALUATED_ONLY = "(evaluated only)"  # the label mark of an evaluate-only trial's condition (``epochs: 0``)
# axes that are shown as their own columns (dataset, model) or are bookkeeping, never part of a row label
_NON_LABEL_AXES = {"variant", "seed", "sweep", "dataset.name", "model"}


@dataclass(frozen=True)
class Condition:
    """What seeds are averaged over: same dataset, model, variant and remaining axis values."""

    dataset: str
    model: str
    variant: str
    axes: tuple[tuple[str, str], ...] = ()  # other axis values, JSON-encoded, sorted by key
    sweep: str | None = None  # the knob this condition sweeps, if it is a sweep point
    evaluated_only: bool = field(default=False, compare=False)  # epochs 0: given weights scored, nothing trained

    @property
    def label(self) -> str:
        mark = f" {EVALUATED_ONLY}" if self.evaluated_only else ""
        if not self.axes:
            return self.variant + mark
        return f"{self.variant} [{', '.join(f'{k}={json.loads(v)}' for k, v in self.axes)}]{mark}"

    def axis_value(self, key: str) -> Any:
        for k, v in self.axes:
            if k == key:
                return json.loads(v)
        return None

    def grid_axes(self) -> tuple[tuple[str, str], ...]:
        """The axes that pair a condition with its baseline: everything but the swept knob and a self-training
        chain's round (every round of a student pairs with the baseline of its seed)."""
        return tuple((k, v) for k, v in self.axes if k != self.sweep and k != ROUND_AXIS)


@dataclass
class TrialRecord:
    run_id: str
    trial_key: str
    status: str
    variant: str
    seed: int | None
    axes: dict[str, Any]
    params: dict[str, str]
    metrics: dict[str, float]
    error: str | None
    start_time: int
    sources: dict[str, str] = field(default_factory=dict)  # benchmark ("C", "P") -> source of its tidy rows
    condition: Condition = field(init=False)

    def __post_init__(self) -> None:
        sweep = self.axes.get("sweep")
        if sweep == SWEEP_BASE:
            sweep = None
        other = sorted((k, json.dumps(v, sort_keys=True)) for k, v in self.axes.items() if k not in _NON_LABEL_AXES)
        self.condition = Condition(
            dataset=self.params.get("dataset.name") or str(self.axes.get("dataset.name", "?")),
            model=self.params.get("model") or str(self.axes.get("model", "?")),
            variant=self.variant,
            axes=tuple(other),
            sweep=str(sweep) if sweep else None,
            evaluated_only=self.params.get("epochs") == "0",
        )


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
    affinity: Any = None  # the parent run's analyses/affinity_diversity.csv (a DataFrame)
    extra_points: list[ExtraPoint] = field(default_factory=list)
    msd: Any = None  # the parent run's analyses/msd.csv (a DataFrame; report/msd.py)


@dataclass
class StudyRuns:
    """Everything the report needs, sorted so that identical stores give identical reports."""

    tracking_uri: str
    experiment: str
    study: str
    baseline: str | None
    trials: list[TrialRecord]
    histories: dict[str, dict[str, list[tuple[int, float]]]]  # run_id -> metric -> [(step, value)]
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # run_id -> per-image correctness (clean)
    c_predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # run_id -> -C cell -> correctness
    soups: list[dict[str, Any]] = field(default_factory=list)  # finished soup runs (tracking.soups.soup_results)
    analysis: AnalysisInputs = field(default_factory=AnalysisInputs)  # heat maps, affinity table, extra points

    @property
    def finished(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status == "FINISHED"]

    @property
    def unfinished(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status != "FINISHED"]


def check_store_exists(tracking_uri: str) -> None:
    """A missing SQLite file would be silently created by MLflow, and a damaged one raise a raw SQLAlchemy error or
    get a fresh schema written into it; say what is wrong instead (reading only)."""
    from augmix_lab.tracking.store import sqlite_store_problem

    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri[len("sqlite:///") :])  # '////abs' keeps its leading slash, '///rel' is relative
        if not path.is_file():
            raise UserError(f"no MLflow store at {path}: run the study first ('augmix-lab run STUDY.yaml')")
        problem = sqlite_store_problem(path)
        if problem is not None:
            raise UserError(f"{path}: {problem}; it was left untouched")


def resolve_experiment(tracking_uri: str, experiment: str | None) -> str:
    """The named experiment, or the store's only experiment that holds augmix-lab trials."""
    names = StoreReader(tracking_uri).experiment_names()
    if experiment is not None:
        if experiment not in names:
            raise UserError(
                f"experiment {experiment!r} not found in {tracking_uri}; existing: {', '.join(names) or 'none'}"
            )
        return experiment
    candidates = [n for n in names if n != "Default"]
    if len(candidates) == 1:
        return candidates[0]
    raise UserError(
        f"--experiment is required: {tracking_uri} holds {len(candidates)} experiments "
        f"({', '.join(candidates) or 'none'})"
    )


def _parse_seed(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_axes(value: str | None, run_id: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        axes = json.loads(value)
    except json.JSONDecodeError:
        raise UserError(f"run {run_id}: tag {TRACKING_TAGS.axes} is not JSON: {value!r}") from None
    if not isinstance(axes, dict):
        raise UserError(f"run {run_id}: tag {TRACKING_TAGS.axes} must be a JSON object, got {value!r}")
    return axes


_STATUS_RANK = {"FINISHED": 0, "RUNNING": 1, "SCHEDULED": 1, "FAILED": 2, "KILLED": 3}


def load_study_runs(tracking_uri: str, experiment: str, *, with_predictions: bool = True) -> StudyRuns:
    """All trial runs of the experiment, one per trial key (a FINISHED run wins over retries and failures)."""
    check_store_exists(tracking_uri)
    reader = StoreReader(tracking_uri)
    experiment_id = reader.experiment_id(experiment)
    if experiment_id is None:
        raise UserError(f"experiment {experiment!r} not found in {tracking_uri}")
    parents = reader.runs(experiment_id, "study")
    parents.sort(key=lambda r: (r.start_time, r.run_id))
    parent = parents[-1] if parents else None
    study = parent.tags.get(TRACKING_TAGS.study, experiment) if parent else experiment
    baseline = _baseline(reader, parent) if parent else None

    by_key: dict[str, TrialRecord] = {}
    for run in reader.runs(experiment_id, "trial"):
        tags = run.tags
        if parent is not None and tags.get(TRACKING_TAGS.study, study) != study:
            continue  # another study logging into the same experiment
        record = TrialRecord(
            run_id=run.run_id,
            trial_key=tags.get(TRACKING_TAGS.trial_key, run.run_id),
            status=run.status,
            variant=tags.get(TRACKING_TAGS.variant, "?"),
            seed=_parse_seed(tags.get(TRACKING_TAGS.seed) or run.params.get("seed")),
            axes=_parse_axes(tags.get(TRACKING_TAGS.axes), run.run_id),
            params=dict(run.params),
            metrics=dict(run.metrics),
            error=tags.get(TRACKING_TAGS.error),
            start_time=run.start_time,
        )
        kept = by_key.get(record.trial_key)
        if kept is None or _prefer(record, kept):
            by_key[record.trial_key] = record
    trials = sorted(by_key.values(), key=_trial_order)
    for t in trials:
        if t.status == "FINISHED":
            t.sources = benchmark_sources(reader.table(t.run_id, SCORECARD_TABLE))

    histories: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for t in trials:
        histories[t.run_id] = {}
        for name in metric_names("history", curve=True):  # per-epoch curves the report draws (registry: curve=True)
            points = reader.history(t.run_id, name)
            if points:
                histories[t.run_id][name] = points
    c_predictions: dict[str, dict[str, np.ndarray]] = {}
    predictions = _load_predictions(reader, trials, c_predictions) if with_predictions and baseline else {}
    from augmix_lab.tracking.soups import soup_results  # role=soup runs: their own table, never trial rows

    soups = soup_results(tracking_uri, experiment, study if parent is not None else None)
    runs = StudyRuns(tracking_uri, experiment, study, baseline, trials, histories, predictions, c_predictions, soups)
    runs.analysis = load_analysis_inputs(reader, runs, parent.run_id if parent is not None else None)
    return runs


def load_analysis_inputs(reader: StoreReader, runs: StudyRuns, parent_run_id: str | None) -> AnalysisInputs:
    """Heat maps of finished trials (``eval.fourier``), the study run's affinity table and the soups as extra points
    (effective robustness); what is missing stays empty (the tables then say so)."""
    from augmix_lab.evaluation.fourier_eval import ARRAY_NAMES, ARTIFACT_DIR, heat_map_from_arrays

    out = AnalysisInputs()
    for t in runs.finished:
        names = reader.artifact_names(t.run_id, ARTIFACT_DIR)
        if names and "error.npy" in names:
            hm = heat_map_from_arrays(reader.arrays(t.run_id, ARTIFACT_DIR, ARRAY_NAMES))
            if hm is not None:
                out.heat_maps[t.run_id] = hm
    if parent_run_id is not None:
        out.affinity = reader.table(parent_run_id, AFFINITY_ARTIFACT)
        out.msd = reader.table(parent_run_id, MSD_ARTIFACT)
    out.extra_points = soup_points(runs)
    return out


def soup_points(runs: StudyRuns) -> list[ExtraPoint]:
    """The study's finished soups with clean and -C errors, as points beside the trials (their members' dataset and
    model: the trial keys in the soup's tags)."""
    by_key = {t.trial_key: t for t in runs.trials}
    points = []
    for s in runs.soups:
        metrics = s.get("metrics", {})
        if CLEAN_ERROR not in metrics or MEAN_CORRUPTION_ERROR not in metrics:
            continue
        members = [by_key[k].condition for k in s.get("members") or s.get("candidates") or [] if k in by_key]
        dataset, model = (members[0].dataset, members[0].model) if members else ("?", "?")
        label = f"{s['kind']} soup" if s.get("kind") else str(s.get("run_id", "?"))[:8]
        label = f"{label} ({s['group']})" if s.get("group") else label
        points.append(
            ExtraPoint(dataset, model, label, ROLE_SOUP, metrics[CLEAN_ERROR], metrics[MEAN_CORRUPTION_ERROR])
        )
    return sorted(points, key=lambda p: (p.dataset, p.model, p.role, p.label))


def benchmark_sources(table: Any) -> dict[str, str]:
    """Benchmark -> source of its tidy rows ("released", "generated", "on_the_fly"; several joined by '+');
    empty when the run logged no table or no ``source`` column (an unknown source)."""
    if table is None or "source" not in table or "benchmark" not in table:
        return {}
    out: dict[str, str] = {}
    for bench in sorted({str(b) for b in table["benchmark"].dropna()} - {"clean"}):
        rows = table.loc[table["benchmark"].astype(str) == bench, "source"].dropna()
        values = sorted(
            {part for v in rows for part in str(v).split("+")}
        )  # a cell may carry "on_the_fly+synthetic_frost"
        if values:
            out[bench] = "+".join(values)
    return out


def _baseline(reader: StoreReader, parent: Any) -> str | None:
    """The parent run's ``augmix_lab.baseline`` tag (written by the driver); only stores written before the driver
    tagged it (no ``augmix_lab.baseline_tagged``) fall back to the study file stored on the parent run."""
    if parent.tags.get(TRACKING_TAGS.baseline):
        return parent.tags[TRACKING_TAGS.baseline]
    if parent.tags.get(TRACKING_TAGS.baseline_tagged) == "true":
        return None  # the study has no baseline
    return _baseline_from_study_file(reader, parent.run_id)


def _baseline_from_study_file(reader: StoreReader, parent_run_id: str) -> str | None:
    """``baseline:`` of the study file stored on the parent run, when the parent carries no baseline tag."""
    import yaml

    text = reader.text(parent_run_id, STUDY_ARTIFACT)
    try:
        spec = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:  # an unreadable study file: the report simply has no baseline
        return None
    baseline = spec.get("baseline") if isinstance(spec, dict) else None
    return str(baseline) if baseline else None


def _prefer(new: TrialRecord, old: TrialRecord) -> bool:
    """Duplicate runs of one trial (restarts): FINISHED first, then the latest start, then run id."""
    rank_new, rank_old = _STATUS_RANK.get(new.status, 4), _STATUS_RANK.get(old.status, 4)
    if rank_new != rank_old:
        return rank_new < rank_old
    return (new.start_time, new.run_id) > (old.start_time, old.run_id)


def _trial_order(t: TrialRecord) -> tuple:
    c = t.condition
    return (c.dataset, c.model, c.variant, c.axes, -1 if t.seed is None else t.seed, t.trial_key)


PREDICTIONS_DIR = "predictions"
PREDICTIONS_NPZ = "predictions.npz"  # written by every evaluation (augmix_lab/evaluation/predictions.py)


def _load_predictions(
    reader: StoreReader, trials: list[TrialRecord], c_out: dict[str, dict[str, np.ndarray]] | None = None
) -> dict[str, np.ndarray]:
    """Per-image clean correctness from ``predictions/predictions.npz`` (class ids + labels), and each -C cell's into
    ``c_out``; older stores: ``predictions/clean.npy`` (bool, or int predictions + ``labels.npy``)."""
    from augmix_lab.evaluation.predictions import c_cells, correctness

    out: dict[str, np.ndarray] = {}
    for t in trials:
        if t.status != "FINISHED":
            continue
        names = reader.artifact_names(t.run_id, PREDICTIONS_DIR)
        if names and PREDICTIONS_NPZ in names:
            stored = reader.npz(t.run_id, f"{PREDICTIONS_DIR}/{PREDICTIONS_NPZ}")
            clean = correctness(stored, "clean") if stored else None
            if clean is not None:
                out[t.run_id] = clean
            if stored and c_out is not None and c_cells(stored):
                c_out[t.run_id] = {k: correctness(stored, k) for k in c_cells(stored)}  # type: ignore[misc]
            continue
        if not names or "clean.npy" not in names:
            continue
        arrays = reader.arrays(t.run_id, PREDICTIONS_DIR, ("clean.npy", "labels.npy"))
        preds = arrays["clean.npy"]
        if preds.dtype == np.bool_:
            out[t.run_id] = preds.reshape(-1)
        elif "labels.npy" in arrays:
            if preds.ndim == 2:  # scores / probabilities per class
                preds = preds.argmax(axis=1)
            out[t.run_id] = preds.reshape(-1) == arrays["labels.npy"].reshape(-1)
    return out
