"""MLflow tracking: the system of record that ``augmix-lab report`` reads (and nothing else).

Design (why it is shaped like this — each point avoids a known Ray/MLflow trap):

- **The driver creates every run.** ``StudyTracker`` (study runner process) gets or creates the experiment once,
  opens one parent run per study (``start_study``; a re-run of the study continues the same parent) and one nested run
  per trial (``trial_run``, tag ``mlflow.parentRunId``) *before* the trial starts. No two processes race to create an
  experiment or a run in a SQLite store, and a restarted trial gets its unfinished run back instead of a duplicate.
- **Workers log into a given run id through an explicit URI.** ``TrialLogger(uri, run_id)`` pickles to two strings
  and uses ``MlflowClient(tracking_uri=uri)``: never the global/active run, never ``mlflow.start_run`` in a worker,
  never a URI that depends on the worker's working directory (relative SQLite paths are made absolute on the driver).
- **One owner per run.** Each ``augmix-lab run`` invocation tags the runs it hands out with its launch id
  (``augmix_lab.launch``); a worker left over from a killed driver finds another id there at its next write and
  stops (``TrialSuperseded``) instead of overwriting the re-run's results.
- **Batched, idempotent logging.** One ``log_batch`` per epoch with ``step=epoch``; epochs at or before the last logged
  one are skipped, so a crash + resume never writes duplicate or overlapping steps. Params are the flattened trial
  config, cut to MLflow's limits (the full config is the ``trial_config.yaml`` artifact).
- **Checkpoints are uploaded explicitly** (``checkpoints/final.pt``, ``checkpoints/last.pt``) from the trial's
  persistent workdir, and can be downloaded again on another machine.
- **Concurrency on SQLite.** The driver switches the database to WAL; every store call retries ``database is locked``
  with jittered backoff (MLflow itself sets a 20 s busy timeout per session). For many machines use ``mlflow server``
  with PostgreSQL (see ``docker/``).
- **Fail fast.** ``check_reachable`` probes the store with plain HTTP / DB connections and a short timeout, because
  MLflow's own client retries an unreachable server for minutes.

- **Browsable.** The experiment is tagged ``mlflow.experimentKind = custom_model_development``; each trial logs its
  datasets as run inputs (``inputs.py``: training set + one per benchmark scored) and MLflow's own system-metrics
  sampler runs in the trial's process where ``psutil`` is installed (``system.py``).

Layout in the store: experiment = study's ``tracking.experiment`` (default: study name); tag names in ``tags.py``;
per-epoch metrics (steps 1..E) and final scorecard metrics (step 0) named as in docs/architecture.md; artifacts
``study.yaml`` (parent), ``trial_config.yaml``, ``scorecard/table.csv``, ``scorecard/summary.json``, ``checkpoints/``.
"""

from augmix_lab.tracking.gpu import GPU_METRICS, gpu_epoch_stats
from augmix_lab.tracking.lookup import FinishedTrial, finished_trials
from augmix_lab.tracking.records import flatten_config
from augmix_lab.tracking.store import check_reachable, resolve_tracking
from augmix_lab.tracking.study import StudyTracker
from augmix_lab.tracking.tags import TRACKING_TAGS, TrackingTags
from augmix_lab.tracking.trial import TrialLogger, TrialSuperseded, metric_history

__all__ = [
    "FinishedTrial",
    "GPU_METRICS",
    "StudyTracker",
    "TrialLogger",
    "TrialSuperseded",
    "TRACKING_TAGS",
    "TrackingTags",
    "check_reachable",
    "finished_trials",
    "flatten_config",
    "gpu_epoch_stats",
    "metric_history",
    "resolve_tracking",
]
