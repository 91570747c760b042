"""Every tag name the tracking store carries, defined once: the driver, the trial workers and the report read it here."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrackingTags:
    """Tag names the tracking layer writes and the report/study code reads (attribute or ``[name]`` access)."""

    role: str = "augmix_lab.role"  # "study" | "trial"
    study: str = "augmix_lab.study"
    study_hash: str = "augmix_lab.study_hash"
    baseline: str = "augmix_lab.baseline"  # parent run: the study's `baseline` variant name (absent when unset)
    # parent run: "true" when the driver wrote ``baseline`` (so an absent one means "none"); older stores lack it
    baseline_tagged: str = "augmix_lab.baseline_tagged"
    study_file: str = "augmix_lab.study_file"  # parent run: absolute path of the study file run last
    overrides: str = "augmix_lab.overrides"  # parent run: JSON list of the --set overrides of the last invocation
    # parent run: JSON {module: {digest, source}} of the plugins the last invocation imported (sources: artifacts
    # plugins/<module>/<digest>/); trial run: JSON {module: file imported on the worker}
    plugins: str = "augmix_lab.plugins"
    trial_key: str = "augmix_lab.trial_key"
    variant: str = "augmix_lab.variant"
    seed: str = "augmix_lab.seed"
    axes: str = "augmix_lab.axes"  # JSON dict of this trial's axis values
    eval_key: str = "augmix_lab.eval_key"
    error: str = "augmix_lab.error"  # failure reason of a FAILED trial (or of the study's parent run)
    # a KILLED run: why it stopped, one of STOP_KINDS ("interrupted": Ctrl-C; "driver_failed": its driver crashed;
    # "scheduler": ASHA ended it early); the note says more. Re-running the study resumes the first two.
    stopped: str = "augmix_lab.stopped"
    last_epoch: str = "augmix_lab.last_epoch"  # last epoch logged, written in the same batch as its metrics
    launch: str = "augmix_lab.launch"  # the `augmix-lab run` invocation that owns the trial run now
    repacks: str = "augmix_lab.repacks"  # GPU fractions after CUDA OOM re-packs, e.g. "0.25->0.5->1"
    gpu_fraction: str = "augmix_lab.gpu_fraction"  # the gpus_per_trial the trial ran (or runs) with last
    eval_worker: str = "augmix_lab.eval_worker"  # "host:pid" of the Ray task that scored the checkpoint last
    git_commit: str = "augmix_lab.git_commit"
    git_dirty: str = "augmix_lab.git_dirty"
    python: str = "augmix_lab.python"
    platform: str = "augmix_lab.platform"
    cpu_count: str = "augmix_lab.cpu_count"
    gpus: str = "augmix_lab.gpus"
    version_prefix: str = "augmix_lab.version."  # + package name, e.g. augmix_lab.version.torch
    checkpoint_prefix: str = "augmix_lab.checkpoint."  # + kind -> artifact path
    # soup runs (role "soup")
    soup_key: str = "augmix_lab.soup_key"  # identity: kind, members, held-out/BN settings, eval settings
    soup_kind: str = "augmix_lab.soup_kind"  # uniform | greedy
    soup_members: str = "augmix_lab.soup_members"  # JSON list of the trial keys in the soup (greedy: in order added)
    soup_candidates: str = "augmix_lab.soup_candidates"  # JSON list of every trial key of the group
    soup_group: str = "augmix_lab.soup_group"  # dataset-model-init name of the group
    soup_init: str = "augmix_lab.soup_init"  # the members' shared init (parent trial key or checkpoint hash)
    parent_run_id: str = "mlflow.parentRunId"  # MLflow's own nesting tag (mlflow/utils/mlflow_tags.py)
    run_name: str = "mlflow.runName"
    note: str = "mlflow.note.content"  # shown as the run's description in the MLflow UI
    source_git_commit: str = "mlflow.source.git.commit"
    data_context: str = "mlflow.data.context"  # a run input's role (train/eval) (mlflow/utils/mlflow_tags.py)
    # experiment tag: which pages MLflow 3.x's UI shows (mlflow/server/js: ExperimentKind, "mlflow.experimentKind")
    experiment_kind: str = "mlflow.experimentKind"

    def __getitem__(self, name: str) -> str:
        return getattr(self, name)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


TRACKING_TAGS = TrackingTags()
ROLE_STUDY = "study"
ROLE_TRIAL = "trial"
ROLE_SOUP = "soup"
STOP_INTERRUPTED, STOP_DRIVER_FAILED, STOP_SCHEDULER = "interrupted", "driver_failed", "scheduler"
STOP_KINDS = (STOP_INTERRUPTED, STOP_DRIVER_FAILED, STOP_SCHEDULER)
# ExperimentKind.CUSTOM_MODEL_DEVELOPMENT of MLflow 3.x's UI (GENAI_DEVELOPMENT = "genai_development" opens on traces)
EXPERIMENT_KIND_TRAINING = "custom_model_development"
# MLflow >= 3.5's UI also keeps a global workflow switch ("genai" by default); this URL value opens the ML pages
UI_WORKFLOW_TYPE = "machine_learning"
# artifact on the study's parent run: the study-level affinity/diversity table (orchestration/analyses.py)
AFFINITY_ARTIFACT = "analyses/affinity_diversity.csv"
# artifact folder on the study's parent run: each plugin's source files, one folder per module and digest
PLUGINS_ARTIFACT_DIR = "plugins"
