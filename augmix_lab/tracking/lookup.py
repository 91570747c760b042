"""The driver's reader of the store: finished trials (any study, any experiment) and their evaluation settings.

Read-only: looking up never creates an experiment or a run, so ``augmix-lab plan`` can use it on an existing store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from augmix_lab.tracking.records import chunks
from augmix_lab.tracking.store import call_with_retries, make_client
from augmix_lab.tracking.tags import ROLE_TRIAL, TRACKING_TAGS

PAGE = 1000  # runs per search page (MLflow's SQL store accepts up to 50000)
_EXPERIMENTS_PER_SEARCH = 100


@dataclass(frozen=True)
class FinishedTrial:
    """A FINISHED trial run: its id and the evaluation settings (``eval_key``) its scorecard was made with."""

    run_id: str
    eval_key: str | None


def quoted(value: str) -> str:
    """A value quoted for an MLflow filter string (the grammar has no escapes, so pick a quote it lacks)."""
    for quote in ("'", '"'):
        if quote not in value:
            return f"{quote}{value}{quote}"
    raise ValueError(f"cannot search for a value holding both quote characters: {value!r}")


def tag_filter(tag: str, value: str) -> str:
    return f"tags.`{tag}` = {quoted(value)}"


def search_runs(client: Any, experiment_ids: list[str], filter_string: str) -> list[Any]:
    """Every active run of ``experiment_ids`` matching ``filter_string``, oldest first, all pages."""
    from mlflow.entities import ViewType

    runs: list[Any] = []
    token = None
    while True:
        page = call_with_retries(
            client.search_runs,
            experiment_ids,
            filter_string=filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def active_experiment_ids(client: Any) -> list[str]:
    from mlflow.entities import ViewType

    ids: list[str] = []
    token = None
    while True:
        page = call_with_retries(
            client.search_experiments, view_type=ViewType.ACTIVE_ONLY, max_results=PAGE, page_token=token
        )
        ids += [e.experiment_id for e in page]
        token = page.token
        if not token:
            return ids


def experiment_id(client: Any, name: str) -> str | None:
    """The id of the active experiment ``name``, or None (never creates it)."""
    experiment = call_with_retries(client.get_experiment_by_name, name)
    return experiment.experiment_id if experiment is not None and experiment.lifecycle_stage == "active" else None


def finished_trials(
    uri: str, experiment_name: str | None, trial_keys: Iterable[str] | None = None, *, client: Any = None
) -> dict[str, FinishedTrial]:
    """``{trial_key: FinishedTrial}`` of FINISHED trial runs anywhere in the store (any experiment or study).

    A trial key identifies the training (config + data), so a new study that overlaps an old one reuses its
    finished trials. Several finished runs of one key: ``experiment_name``'s newest wins, then the newest overall.
    """
    wanted = None if trial_keys is None else set(trial_keys)
    if wanted is not None and not wanted:
        return {}
    client = client or make_client(uri)
    home = experiment_id(client, experiment_name) if experiment_name else None
    runs: list[Any] = []
    for ids in chunks(active_experiment_ids(client), _EXPERIMENTS_PER_SEARCH):
        runs += search_runs(
            client, list(ids), f"{tag_filter(TRACKING_TAGS.role, ROLE_TRIAL)} and attributes.status = 'FINISHED'"
        )

    def preference(run: Any) -> tuple[bool, int]:
        return run.info.experiment_id == home, run.info.end_time or 0

    best: dict[str, Any] = {}
    for run in runs:
        key = run.data.tags.get(TRACKING_TAGS.trial_key)
        if key is None or (wanted is not None and key not in wanted):
            continue
        if key not in best or preference(run) > preference(best[key]):
            best[key] = run
    return {key: FinishedTrial(run.info.run_id, run.data.tags.get(TRACKING_TAGS.eval_key)) for key, run in best.items()}


def _study_trial_runs(client: Any, experiment_name: str, study: str) -> list[Any]:
    """The study's trial runs in ``experiment_name``, oldest first (none when the experiment does not exist)."""
    home = experiment_id(client, experiment_name)
    if home is None:
        return []
    return search_runs(
        client, [home], f"{tag_filter(TRACKING_TAGS.role, ROLE_TRIAL)} and {tag_filter(TRACKING_TAGS.study, study)}"
    )


def logged_step_costs(uri: str, experiment_name: str, study: str, *, client: Any = None) -> dict[str, float]:
    """``{trial_key: seconds per training image}`` from the last ``images_per_s`` each of the study's trial runs
    logged (what ``plan`` checks its cached step costs against)."""
    from augmix_lab.evaluation.registry import IMAGES_PER_S

    runs = _study_trial_runs(client or make_client(uri), experiment_name, study)
    out = {}
    for run in runs:
        key, rate = run.data.tags.get(TRACKING_TAGS.trial_key), run.data.metrics.get(IMAGES_PER_S)
        if key is not None and rate is not None and rate > 0:
            out[key] = 1.0 / float(rate)
    return out


@dataclass(frozen=True)
class TrialState:
    """The newest run of one trial key in a study: its status, failure reason and the last epoch it logged."""

    run_id: str
    status: str  # MLflow's: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    error: str | None
    last_epoch: int | None
    start_time: int
    stopped: str | None = None  # a KILLED run: why (tags.STOP_KINDS)
    note: str | None = None  # the run's description: a stopped run's reason


def trial_states(uri: str, experiment_name: str, study: str, *, client: Any = None) -> dict[str, TrialState]:
    """``{trial_key: TrialState}`` of the study's trial runs in ``experiment_name`` (the newest run per key).

    Read-only and one search (tags only), so a study can be watched while it runs.
    """
    runs = _study_trial_runs(client or make_client(uri), experiment_name, study)
    states: dict[str, TrialState] = {}
    for run in runs:  # oldest first: a newer run of the same key replaces the older one
        tags = run.data.tags
        key = tags.get(TRACKING_TAGS.trial_key)
        if key is None:
            continue
        epoch = tags.get(TRACKING_TAGS.last_epoch, "")
        states[key] = TrialState(
            run.info.run_id,
            run.info.status,
            tags.get(TRACKING_TAGS.error),
            int(epoch) if epoch.isdigit() else None,
            run.info.start_time or 0,
            tags.get(TRACKING_TAGS.stopped),
            tags.get(TRACKING_TAGS.note),
        )
    return states
