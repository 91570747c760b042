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

from typing import Any

# name -> submodule; imported on first use, so ``status``'s plain-SQL reads (``sqlite_reader``) load neither MLflow
# nor the metric registry's numpy/pandas
_EXPORTS = {
    "GPU_METRICS": "gpu",
    "gpu_epoch_stats": "gpu",
    "FinishedTrial": "lookup",
    "finished_trials": "lookup",
    "flatten_config": "records",
    "check_reachable": "store",
    "resolve_tracking": "store",
    "StudyTracker": "study",
    "TRACKING_TAGS": "tags",
    "TrackingTags": "tags",
    "TrialLogger": "trial",
    "TrialSuperseded": "trial",
    "metric_history": "trial",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
