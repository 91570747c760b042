"""Reads one study's runs out of MLflow (the report's only input) into plain, sorted records."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augmix_lab.errors import UserError

TAG_ROLE = "augmix_lab.role"
TAG_STUDY = "augmix_lab.study"
TAG_BASELINE = "augmix_lab.baseline"
TAG_TRIAL_KEY = "augmix_lab.trial_key"
TAG_VARIANT = "augmix_lab.variant"
TAG_SEED = "augmix_lab.seed"
TAG_AXES = "augmix_lab.axes"
TAG_ERROR = "augmix_lab.error"
TAG_PARENT = "mlflow.parentRunId"

SWEEP_BASE = "base"  # axes["sweep"] of a study's un-swept point (augmix_lab.study.expand)
STUDY_ARTIFACT = "study.yaml"  # the parent run's copy of the study file
HISTORY_METRICS = ("test_error", "train_loss")  # per-epoch curves drawn in the report
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

    @property
    def label(self) -> str:
        if not self.axes:
            return self.variant
        return f"{self.variant} [{', '.join(f'{k}={json.loads(v)}' for k, v in self.axes)}]"

    def axis_value(self, key: str) -> Any:
        for k, v in self.axes:
            if k == key:
                return json.loads(v)
        return None

    def grid_axes(self) -> tuple[tuple[str, str], ...]:
        """The axes that pair a condition with its baseline: everything but the swept knob."""
        return tuple((k, v) for k, v in self.axes if k != self.sweep)


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
    condition: Condition = field(init=False)

    def __post_init__(self) -> None:
        sweep = self.axes.get("sweep")
        if sweep == SWEEP_BASE:
            sweep = None
        other = sorted(
            (k, json.dumps(v, sort_keys=True)) for k, v in self.axes.items() if k not in _NON_LABEL_AXES
        )
        self.condition = Condition(
            dataset=self.params.get("dataset.name") or str(self.axes.get("dataset.name", "?")),
            model=self.params.get("model") or str(self.axes.get("model", "?")),
            variant=self.variant,
            axes=tuple(other),
            sweep=str(sweep) if sweep else None,
        )


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

    @property
    def finished(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status == "FINISHED"]

    @property
    def unfinished(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status != "FINISHED"]


def _client(tracking_uri: str):  # noqa: ANN202 - MlflowClient is imported lazily (slow import)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def check_store_exists(tracking_uri: str) -> None:
    """A missing SQLite file would be silently created by MLflow; say what is wrong instead."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri[len("sqlite:///") :])  # '////abs' keeps its leading slash, '///rel' is relative
        if not path.is_file():
            raise UserError(f"no MLflow store at {path}: run the study first ('augmix-lab run STUDY.yaml')")


def resolve_experiment(tracking_uri: str, experiment: str | None) -> str:
    """The named experiment, or the store's only experiment that holds augmix-lab trials."""
    client = _client(tracking_uri)
    names = sorted(e.name for e in client.search_experiments())
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


def _search_all(client: Any, experiment_id: str, filter_string: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=filter_string, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


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
        raise UserError(f"run {run_id}: tag {TAG_AXES} is not JSON: {value!r}") from None
    if not isinstance(axes, dict):
        raise UserError(f"run {run_id}: tag {TAG_AXES} must be a JSON object, got {value!r}")
    return axes


_STATUS_RANK = {"FINISHED": 0, "RUNNING": 1, "SCHEDULED": 1, "FAILED": 2, "KILLED": 3}


def load_study_runs(tracking_uri: str, experiment: str, *, with_predictions: bool = True) -> StudyRuns:
    """All trial runs of the experiment, one per trial key (a FINISHED run wins over retries and failures)."""
    check_store_exists(tracking_uri)
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise UserError(f"experiment {experiment!r} not found in {tracking_uri}")
    parents = _search_all(client, exp.experiment_id, f"tags.`{TAG_ROLE}` = 'study'")
    parents.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))
    parent = parents[-1] if parents else None
    study = parent.data.tags.get(TAG_STUDY, experiment) if parent else experiment
    baseline = (parent.data.tags.get(TAG_BASELINE) or _baseline_from_study_file(client, parent)) if parent else None

    by_key: dict[str, TrialRecord] = {}
    for run in _search_all(client, exp.experiment_id, f"tags.`{TAG_ROLE}` = 'trial'"):
        tags = run.data.tags
        if parent is not None and tags.get(TAG_STUDY, study) != study:
            continue  # another study logging into the same experiment
        metrics = {k: float(v) for k, v in run.data.metrics.items() if v is not None and math.isfinite(float(v))}
        record = TrialRecord(
            run_id=run.info.run_id,
            trial_key=tags.get(TAG_TRIAL_KEY, run.info.run_id),
            status=run.info.status,
            variant=tags.get(TAG_VARIANT, "?"),
            seed=_parse_seed(tags.get(TAG_SEED) or run.data.params.get("seed")),
            axes=_parse_axes(tags.get(TAG_AXES), run.info.run_id),
            params=dict(run.data.params),
            metrics=metrics,
            error=tags.get(TAG_ERROR),
            start_time=run.info.start_time or 0,
        )
        kept = by_key.get(record.trial_key)
        if kept is None or _prefer(record, kept):
            by_key[record.trial_key] = record
    trials = sorted(by_key.values(), key=_trial_order)

    histories: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for t in trials:
        histories[t.run_id] = {}
        for name in HISTORY_METRICS:
            latest: dict[int, tuple[int, float]] = {}
            for m in client.get_metric_history(t.run_id, name):
                # epochs are steps 1..E (step 0 holds final metrics); a re-logged step keeps its newest value
                if m.step >= 1 and (m.step not in latest or m.timestamp >= latest[m.step][0]):
                    latest[int(m.step)] = (int(m.timestamp), float(m.value))
            if latest:
                histories[t.run_id][name] = [(step, latest[step][1]) for step in sorted(latest)]
    predictions = _load_predictions(client, trials, tracking_uri) if with_predictions and baseline else {}
    return StudyRuns(tracking_uri, experiment, study, baseline, trials, histories, predictions)


def _baseline_from_study_file(client: Any, parent: Any) -> str | None:
    """``baseline:`` of the study file stored on the parent run, when the parent carries no baseline tag."""
    import tempfile

    import yaml

    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(parent.info.run_id, STUDY_ARTIFACT, tmp)
            spec = yaml.safe_load(Path(local).read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - no readable study file: the report simply has no baseline
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


def _load_predictions(client: Any, trials: list[TrialRecord], tracking_uri: str) -> dict[str, np.ndarray]:
    """Per-image clean correctness from ``predictions/clean.npy`` (bool, or int predictions + ``labels.npy``)."""
    import tempfile

    import mlflow.artifacts

    out: dict[str, np.ndarray] = {}
    for t in trials:
        if t.status != "FINISHED":
            continue
        try:
            names = {Path(a.path).name for a in client.list_artifacts(t.run_id, PREDICTIONS_DIR)}
        except Exception:  # noqa: BLE001 - an unreadable artifact store only disables the optional bootstrap
            continue
        if "clean.npy" not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=t.run_id, artifact_path=PREDICTIONS_DIR, dst_path=tmp, tracking_uri=tracking_uri
                )
            )
            preds = np.load(local / "clean.npy", allow_pickle=False)
            if preds.dtype == np.bool_:
                out[t.run_id] = preds.reshape(-1)
            elif (local / "labels.npy").is_file():
                labels = np.load(local / "labels.npy", allow_pickle=False)
                if preds.ndim == 2:  # scores / probabilities per class
                    preds = preds.argmax(axis=1)
                out[t.run_id] = (preds.reshape(-1) == labels.reshape(-1))
    return out
