"""Driver side: the study's experiment, its parent run, one nested run per trial, and lookup of finished trials."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from augmix_lab.errors import UserError
from augmix_lab.paths import default_artifact_location
from augmix_lab.tracking.lookup import finished_trials, search_runs, tag_filter
from augmix_lab.tracking.records import (
    MAX_PARAMS_TAGS_PER_BATCH,
    TERMINAL_STATUSES,
    chunks,
    environment_tags,
    flatten_config,
    limit_params,
    limit_tag,
)
from augmix_lab.tracking.store import call_with_retries, is_sqlite_uri, make_client, prepare_sqlite_store, sqlite_path
from augmix_lab.tracking.tags import (
    EXPERIMENT_KIND_TRAINING,
    PLUGINS_ARTIFACT_DIR,
    ROLE_STUDY,
    ROLE_TRIAL,
    TRACKING_TAGS,
)
from augmix_lab.tracking.trial import clear_failure

STUDY_ARTIFACT = "study.yaml"
TRIAL_CONFIG_ARTIFACT = "trial_config.yaml"
MAX_PLUGIN_FILES = 200  # an installed plugin distribution larger than this logs its file list, not its files


class StudyTracker:
    """Creates and finds a study's runs. Lives in the driver; trials get a run id and log via ``TrialLogger``."""

    def __init__(self, uri: str, experiment_name: str, artifact_location: str | None = None) -> None:
        if not experiment_name or not str(experiment_name).strip():
            raise UserError("tracking experiment name must be a non-empty string")
        self.uri = uri
        self.experiment_name = str(experiment_name)
        if is_sqlite_uri(uri):
            prepare_sqlite_store(uri)
        self.client = make_client(uri)
        if artifact_location is None and is_sqlite_uri(uri):  # MLflow's default would be ./mlruns of the cwd
            artifact_location = default_artifact_location(sqlite_path(uri).parent)
        self.experiment_id = self._get_or_create_experiment(artifact_location)

    def __repr__(self) -> str:
        return f"StudyTracker(uri={self.uri!r}, experiment={self.experiment_name!r})"

    def _get_or_create_experiment(self, artifact_location: str | None) -> str:
        """Done once by the driver before any trial starts (concurrent creation races on SQLite, mlflow #4123)."""
        from mlflow.exceptions import MlflowException

        experiment = call_with_retries(self.client.get_experiment_by_name, self.experiment_name)
        if experiment is None:
            try:
                return call_with_retries(
                    self.client.create_experiment,
                    self.experiment_name,
                    artifact_location=artifact_location,
                    tags={TRACKING_TAGS.experiment_kind: EXPERIMENT_KIND_TRAINING},
                )
            except MlflowException as exc:
                if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = call_with_retries(self.client.get_experiment_by_name, self.experiment_name)
        if experiment.lifecycle_stage != "active":
            raise UserError(
                f"MLflow experiment {self.experiment_name!r} is deleted in {self.uri}; restore it "
                f"('mlflow experiments restore --experiment-id {experiment.experiment_id}') or set tracking.experiment"
            )
        if TRACKING_TAGS.experiment_kind not in experiment.tags:  # older stores; a kind chosen in the UI is kept
            call_with_retries(
                self.client.set_experiment_tag,
                experiment.experiment_id,
                TRACKING_TAGS.experiment_kind,
                EXPERIMENT_KIND_TRAINING,
            )
        return experiment.experiment_id

    def _search(self, filter_string: str) -> list[Any]:
        return search_runs(self.client, [self.experiment_id], filter_string)

    def _log_params_and_tags(self, run_id: str, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
        from mlflow.entities import Param, RunTag

        entries = [Param(k, v) for k, v in params.items()] + [RunTag(k, v) for k, v in tags.items()]
        for batch in chunks(entries, MAX_PARAMS_TAGS_PER_BATCH):
            call_with_retries(
                self.client.log_batch,
                run_id,
                params=[e for e in batch if isinstance(e, Param)],
                tags=[e for e in batch if isinstance(e, RunTag)],
            )

    def start_study(
        self,
        study_name: str,
        study_hash: str,
        study_yaml_text: str,
        tags: Mapping[str, Any] | None = None,
        baseline: str | None = None,
    ) -> str:
        """The study's parent run id: the existing one for this study + experiment (re-runs continue it), or new.

        ``baseline``: the study's baseline variant, tagged ``augmix_lab.baseline``; ``""`` = the study has none (a
        stale tag from an earlier version of the study is removed); ``None`` leaves the tag as it is.
        """
        study_tags = {
            **environment_tags(),
            **{str(k): limit_tag(str(v)) for k, v in (tags or {}).items()},
            TRACKING_TAGS.role: ROLE_STUDY,
            TRACKING_TAGS.study: study_name,
            TRACKING_TAGS.study_hash: study_hash,
            **({TRACKING_TAGS.baseline: limit_tag(baseline)} if baseline else {}),
            **({TRACKING_TAGS.baseline_tagged: "true"} if baseline is not None else {}),
        }
        existing = self._search(
            f"{tag_filter(TRACKING_TAGS.role, ROLE_STUDY)} and {tag_filter(TRACKING_TAGS.study, study_name)}"
        )
        if existing:
            run_id = existing[0].info.run_id
            call_with_retries(self.client.update_run, run_id, status="RUNNING")
            if baseline == "" and TRACKING_TAGS.baseline in existing[0].data.tags:  # the edited study dropped it
                call_with_retries(self.client.delete_tag, run_id, TRACKING_TAGS.baseline)
        else:
            run = call_with_retries(self.client.create_run, self.experiment_id, run_name=study_name)
            run_id = run.info.run_id
        self._log_params_and_tags(run_id, {}, study_tags)
        call_with_retries(self.client.log_text, run_id, study_yaml_text, STUDY_ARTIFACT)
        return run_id

    def log_plugins(self, run_id: str, plugins: Iterable[Any]) -> None:
        """The study's plugins on its parent run: tag ``augmix_lab.plugins`` and each plugin's source files under
        ``plugins/<module>/<digest>/`` (uploaded once per digest, so every version a study ran with is kept)."""
        from pathlib import Path

        plugins = list(plugins)
        if not plugins:
            return
        summary = {p.module: {"digest": p.digest, "source": p.distribution or p.path} for p in plugins}
        self._log_params_and_tags(run_id, {}, {TRACKING_TAGS.plugins: limit_tag(json.dumps(summary, sort_keys=True))})
        for p in plugins:
            folder = f"{PLUGINS_ARTIFACT_DIR}/{p.module}/{p.digest}"
            if call_with_retries(self.client.list_artifacts, run_id, folder):
                continue
            if len(p.files) > MAX_PLUGIN_FILES:
                call_with_retries(self.client.log_text, run_id, "\n".join(p.files) + "\n", f"{folder}/FILES.txt")
                continue
            for f in p.files:
                rel = Path(f).relative_to(p.root).parent.as_posix()
                call_with_retries(self.client.log_artifact, run_id, f, folder if rel == "." else f"{folder}/{rel}")

    def trial_run(
        self,
        parent_id: str,
        trial_key: str,
        *,
        study: str,
        variant: str,
        seed: int,
        axes: Mapping[str, Any],
        params: Mapping[str, Any],
        config_yaml: str,
        eval_key: str,
        launch: str | None = None,
    ) -> tuple[str, str]:
        """The run a trial logs into, as ``(run_id, "resumed" | "created")``.

        An unfinished run for ``trial_key`` under ``parent_id`` (RUNNING after a crash, FAILED, KILLED) is reused,
        so a resumed trial continues its own run; otherwise a nested run is created. Either way it is left SCHEDULED
        (queued): its worker marks it RUNNING when the trial starts, so a trial that never started is never shown
        running. ``launch`` (tag ``augmix_lab.launch``) hands the run to this invocation; older workers stop writing.
        """
        tags = {
            TRACKING_TAGS.role: ROLE_TRIAL,
            TRACKING_TAGS.study: study,
            TRACKING_TAGS.trial_key: trial_key,
            TRACKING_TAGS.variant: variant,
            TRACKING_TAGS.seed: str(seed),
            TRACKING_TAGS.axes: limit_tag(json.dumps(dict(axes), sort_keys=True, default=str)),
            TRACKING_TAGS.eval_key: eval_key,
            **({TRACKING_TAGS.launch: launch} if launch else {}),
        }
        flat = limit_params(flatten_config(params))
        runs = self._search(
            f"{tag_filter(TRACKING_TAGS.parent_run_id, parent_id)} and {tag_filter(TRACKING_TAGS.trial_key, trial_key)}"
        )
        unfinished = [r for r in runs if r.info.status != "FINISHED"]
        if unfinished:
            run = unfinished[-1]
            run_id, outcome = run.info.run_id, "resumed"
            clear_failure(self.client, run_id, run.data.tags)  # the old failure no longer describes this run
            flat = {k: v for k, v in flat.items() if k not in run.data.params}  # params are immutable in MLflow
        else:
            run_name = f"{variant}-seed{seed}-{trial_key[:8]}"
            run = call_with_retries(
                self.client.create_run,
                self.experiment_id,
                run_name=run_name,
                tags={TRACKING_TAGS.parent_run_id: parent_id, **tags},
            )
            run_id, outcome = run.info.run_id, "created"
        self._log_params_and_tags(run_id, flat, tags)
        call_with_retries(self.client.log_text, run_id, config_yaml, TRIAL_CONFIG_ARTIFACT)
        call_with_retries(self.client.update_run, run_id, status="SCHEDULED")  # after the launch tag: see docstring
        return run_id, outcome

    def completed_trials(self, trial_keys: Iterable[str] | None = None) -> dict[str, str]:
        """``{trial_key: run_id}`` of FINISHED trial runs anywhere in this store (any experiment or study).

        A trial key identifies the training (config + data), so a new study that overlaps an old one reuses its
        finished trials. Several finished runs of one key: this experiment's newest wins, then the newest overall.
        """
        found = finished_trials(self.uri, self.experiment_name, trial_keys, client=self.client)
        return {key: trial.run_id for key, trial in found.items()}

    def finish_study(self, parent_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
        """End the parent run; ``reason`` (why the driver failed or stopped) goes into its error tag and note, and
        a clean end removes an earlier one."""
        from mlflow.entities import RunTag

        status = status.upper()
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"status {status!r}: allowed {', '.join(TERMINAL_STATUSES)}")
        if reason:
            text = limit_tag(reason)
            call_with_retries(
                self.client.log_batch,
                parent_id,
                tags=[RunTag(TRACKING_TAGS.error, text), RunTag(TRACKING_TAGS.note, text)],
            )
        else:
            clear_failure(self.client, parent_id, call_with_retries(self.client.get_run, parent_id).data.tags)
        call_with_retries(self.client.set_terminated, parent_id, status=status)

    def settle_launch(self, launch: str, kind: str, reason: str) -> dict[str, list[str]]:
        """After the driver stopped early (``kind``: ``interrupted`` or ``driver_failed``), leave its trial runs true.

        Every unfinished run this launch handed out is first taken from it (its launch tag gets an ``:ended``
        suffix, so a worker that outlived the driver stops at its next write); then a RUNNING one (a trial that had
        started) ends KILLED with ``augmix_lab.stopped`` = ``kind`` and the note ``reason`` + the epoch it reached,
        and a SCHEDULED one (never started) stays SCHEDULED: to run. Returns ``{"stopped": keys, "queued": keys}``.
        """
        from mlflow.entities import RunTag

        from augmix_lab.tracking.trial import TrialLogger

        runs = self._search(tag_filter(TRACKING_TAGS.launch, launch))
        out: dict[str, list[str]] = {"stopped": [], "queued": []}
        for run in runs:
            if run.info.status in TERMINAL_STATUSES:
                continue
            ended = f"{launch}:ended"
            call_with_retries(self.client.log_batch, run.info.run_id, tags=[RunTag(TRACKING_TAGS.launch, ended)])
            key = run.data.tags.get(TRACKING_TAGS.trial_key, run.info.run_id)
            if run.info.status != "RUNNING":
                out["queued"].append(key)
                continue
            epoch = run.data.tags.get(TRACKING_TAGS.last_epoch)
            where = f" after epoch {epoch}" if epoch else " before its first epoch ended"
            TrialLogger(self.uri, run.info.run_id, ended).mark_stopped(kind, f"{reason}{where}")
            out["stopped"].append(key)
        return out
