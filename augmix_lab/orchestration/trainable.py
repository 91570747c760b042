"""The Ray Tune function trainable: run one trial (``augmix_lab.training.run_trial``) inside a Ray worker.

The hyperparameter space holds only the trial key; everything else (the resolved configs, the MLflow run ids created by the
driver, the tracking URI, the study directory) arrives through ``tune.with_parameters`` so infrastructure never pollutes
the trial's params. The trial logs to its pre-created MLflow run - each epoch before the checkpoint that lets a
resume skip it - reports each epoch to Tune with its checkpoint, and resumes from
``<out>/trials/<key>/checkpoints/last.pt``; when that is absent (another node of a cluster) or unreadable, from the
newest readable of its previous copy, Tune's checkpoint and the run's MLflow copy (``resume_sources``), with a warning
naming what was skipped. A full disk fails the trial with ``DiskFull`` (no Ray retry: retrying cannot help).

CUDA out-of-memory with a GPU fraction below 1 is not a failure: the trial reports ``OOM_METRIC`` once, leaves its
run RUNNING and ends normally; the driver re-queues it with a doubled fraction (``tune_driver.next_gpu_fraction``) and
it resumes from its last checkpoint. Tests inject such an OOM with ``$AUGMIX_LAB_INJECT_OOM`` (``inject_oom_hook``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from augmix_lab.config import TrialConfig
from augmix_lab.errors import DiskFull, TrialFailed, UserError, is_disk_full

# Metric a trial reports once when it ends without raising (so Ray does not retry a deterministic failure).
FAILED_METRIC = "augmix_lab_failed"
DONE_METRIC = "augmix_lab_done"
# Metric a trial reports once when CUDA ran out of memory and a larger GPU fraction may fit it (driver re-packs it).
OOM_METRIC = "augmix_lab_oom"
# Tests only: "<trial key>:<epoch>" makes that trial raise a CUDA OOM in its first batch of that epoch, once (a marker
# file in its work directory stops the retry from hitting it again). Read by the driver, shipped to the trainable.
INJECT_OOM_ENV = "AUGMIX_LAB_INJECT_OOM"
INJECTED_OOM_MARKER = ".oom_injected"
# Tests only: "<trial key>:<epoch>" kills that trial's worker process outright (os._exit, like kill -9 or the host's
# out-of-memory killer) in the first batch of that epoch, in every attempt: Ray retries it, then gives up.
INJECT_CRASH_ENV = "AUGMIX_LAB_INJECT_CRASH"
NOTE_KEY = "augmix_lab_note"  # a result's warning text (e.g. a skipped unreadable checkpoint) the driver prints
from augmix_lab.training.checkpoint import FINAL_CHECKPOINT as FINAL_CHECKPOINT_FILE  # noqa: E402
from augmix_lab.training.checkpoint import LAST_CHECKPOINT as CHECKPOINT_FILE  # noqa: E402


def trial_workdir(out_dir: str | Path, key: str) -> Path:
    """Where a trial keeps its checkpoints; content-addressed, so a re-run of any study in this directory finds it."""
    return Path(out_dir) / "trials" / key


def worker_workdir(out_dir: str | Path, key: str) -> Path:
    """The trial's work directory on this node: the study's own when reachable, else a node-local one.

    On a cluster the driver's study directory may not exist on the worker's node (no shared disk); the trial then
    works in a local folder and resumes from the checkpoint it uploaded to MLflow (``resume_sources``).
    """
    workdir = trial_workdir(out_dir, key)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir
    except OSError:
        local = Path(tempfile.gettempdir()) / "augmix-lab" / "trials" / key
        local.mkdir(parents=True, exist_ok=True)
        return local


def final_checkpoint(out_dir: str | Path, key: str, uri: str, run_id: str | None) -> Path:
    """A finished trial's ``final.pt`` in its work directory on this node, fetched from its run when absent
    (``tracking.checkpoints.fetch_checkpoint``): what re-evaluation, two-stage children, soups and analyses read."""
    from augmix_lab.tracking.checkpoints import fetch_checkpoint

    return fetch_checkpoint(uri, run_id, worker_workdir(out_dir, key) / "checkpoints" / FINAL_CHECKPOINT_FILE)


def resume_sources(logger: Any) -> list[tuple[str, Any]]:
    """Where else a trial's checkpoint may be, for ``training.choose_resume`` (a node without the study directory, or
    a local ``last.pt`` that cannot be read): Ray Tune's copy of the last reported one and the copy uploaded to the
    trial's MLflow run."""

    def from_tune(folder: Path) -> Path | None:
        from ray import tune

        ckpt = tune.get_checkpoint()
        if ckpt is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        ckpt.to_directory(str(folder))
        return folder / CHECKPOINT_FILE

    def from_mlflow(folder: Path) -> Path:
        from augmix_lab.tracking.checkpoints import fetch_checkpoint  # the one fetcher of a run's checkpoint

        return fetch_checkpoint(logger.uri, logger.run_id, folder / CHECKPOINT_FILE, kind="last")

    return [("Ray Tune's copy", from_tune), ("the trial's MLflow copy", from_mlflow)]


# What CUDA and its libraries say when an allocation fails (the caching allocator raises OutOfMemoryError; a kernel
# launch or a library handle that cannot get memory raises a RuntimeError with one of these)
CUDA_OOM_MESSAGES = (
    "CUDA out of memory",  # torch's caching allocator (older torch: a RuntimeError)
    "CUDA error: out of memory",  # cudaErrorMemoryAllocation from a launch or cudaMalloc outside the allocator
    "CUBLAS_STATUS_ALLOC_FAILED",  # cuBLAS handle / workspace
    "CUDNN_STATUS_ALLOC_FAILED",  # cuDNN
    "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
    "CUFFT_ALLOC_FAILED",  # cuFFT plans (the -C blur kernels run FFTs)
    "CUSOLVER_STATUS_ALLOC_FAILED",
    "CUSPARSE_STATUS_ALLOC_FAILED",
)


def is_cuda_oom(exc: BaseException) -> bool:
    """CUDA ran out of memory: ``torch.cuda.OutOfMemoryError``, or an error (or one it was raised from, e.g. a
    compile error wrapping it) whose message is one of ``CUDA_OOM_MESSAGES``."""
    import torch

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, torch.cuda.OutOfMemoryError) or any(m in str(exc) for m in CUDA_OOM_MESSAGES):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def inject_oom_hook(inject: str | None, key: str, workdir: Path) -> Any:
    """``on_batch_end`` for tests: raise a CUDA OOM in ``<epoch>``'s first batch of trial ``<key>``, once per workdir."""
    if not inject or ":" not in inject:
        return None
    target, _, epoch_text = inject.rpartition(":")
    if target != key or not epoch_text.isdigit():
        return None
    marker = workdir / INJECTED_OOM_MARKER

    def on_batch_end(epoch: int, batch: int, images: int) -> None:
        if epoch == int(epoch_text) and batch == 1 and not marker.exists():
            import torch

            marker.write_text(f"epoch {epoch}\n")
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected by {INJECT_OOM_ENV}={inject})")

    return on_batch_end


def inject_crash_hook(inject: str | None, key: str) -> Any:
    """``on_batch_end`` for tests: the worker process dies in ``<epoch>``'s first batch of trial ``<key>``."""
    target, _, epoch_text = (inject or "").rpartition(":")
    if target != key or not epoch_text.isdigit():
        return None

    def on_batch_end(epoch: int, batch: int, images: int) -> None:
        if epoch == int(epoch_text) and batch == 1:
            os._exit(70)  # no clean-up, no exception: nothing in the worker can record it

    return on_batch_end


def _chain(*hooks: Any) -> Any:
    hooks = tuple(h for h in hooks if h is not None)
    if not hooks:
        return None

    def on_batch_end(epoch: int, batch: int, images: int) -> None:
        for hook in hooks:
            hook(epoch, batch, images)

    return on_batch_end


def _release_gpu_memory() -> None:
    """Hand the cached blocks back so the next trial packed on this GPU (or this one's retry) can use them."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def run_releasing_oom(run: Any) -> tuple[Any, str | None]:
    """``(run(), None)``, or ``(None, "<type>: <message>")`` after a CUDA OOM, with its memory given back.

    The release happens after the ``except`` block: inside it the traceback still holds every frame's locals (the
    model, optimizer state, activations), so ``empty_cache`` would free nothing. The frames are cleared first, then
    the exception is dropped, then ``_release_gpu_memory`` runs. Other exceptions propagate unchanged.
    """
    try:
        return run(), None
    except Exception as exc:
        if not is_cuda_oom(exc):
            raise
        message = f"{type(exc).__name__}: {exc}"
        traceback.clear_frames(exc.__traceback__)
    _release_gpu_memory()  # exc is gone here: nothing keeps the trial's tensors alive
    return None, message


def dataset_records(cfg: TrialConfig, table: Any = None) -> list[Any]:
    """The trial's datasets as run inputs: its training set, and with a scorecard table each benchmark scored."""
    from augmix_lab.data import DATASETS, dataset_version
    from augmix_lab.tracking.inputs import benchmark_records, training_record

    name, options = cfg.dataset.name, dict(cfg.dataset.options)
    version = dataset_version(name, **options)
    records = [training_record(name, version, options, DATASETS.meta(name).get("description"))]
    return records + benchmark_records(name, version, table)


def disk_of(exc: BaseException, workdir: Path) -> Path:
    """The folder a disk-full error was about: the failed write's own path when the error names one."""
    while exc is not None:
        if isinstance(exc, DiskFull):
            return Path(str(exc.path))
        if isinstance(exc, OSError) and exc.filename:
            return Path(exc.filename).parent
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return workdir


def _checkpoint_room(workdir: Path) -> int | None:
    """Room this trial's checkpoints need, from its last.pt when there is one (last + previous + final)."""
    from augmix_lab.training.checkpoint import checkpoint_paths

    last = checkpoint_paths(workdir)[0]
    return 3 * last.stat().st_size if last.is_file() else None


def _import_plugins(plugins: list[dict[str, Any]] | None, logger: Any) -> bool:
    """The study's plugins imported in this worker (their origin tagged on the run); False: recorded as failed."""
    from augmix_lab.plugins import ensure_plugins
    from augmix_lab.tracking import TrialSuperseded

    if not plugins:
        return True
    try:
        logger.log_plugin_origins(ensure_plugins(plugins))
    except TrialSuperseded:
        return False  # a newer `augmix-lab run` owns this trial now: write nothing
    except UserError as exc:  # the code is missing or not the planned one: deterministic, no Ray retry
        logger.set_status("FAILED", f"{type(exc).__name__}: {exc}")
        _report({FAILED_METRIC: 1})
        return False
    return True


def _report(metrics: dict[str, Any], checkpoint_dir: Path | None = None) -> None:
    from ray import tune

    numeric: dict[str, Any] = {
        k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if isinstance(metrics.get(NOTE_KEY), str):
        numeric[NOTE_KEY] = metrics[NOTE_KEY]  # a warning for the driver to print
    if checkpoint_dir is not None and checkpoint_dir.is_dir():
        tune.report(numeric, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))
    else:
        tune.report(numeric)


def _fetch_parent_checkpoint(
    cfg: TrialConfig, parent_run_id: str | None, tracking_uri: str, workdir: Path
) -> TrialConfig:
    """A child trial on a node without the driver's disk: the parent's final.pt from its MLflow run, kept locally.

    The driver resolved ``init.checkpoint`` to a path on its own disk; the trial's key depends on the parent's key,
    not on that path, so pointing the config at the downloaded copy changes nothing else.
    """
    init = cfg.init
    if init.parent_key is None or init.checkpoint is None or Path(init.checkpoint).is_file() or not parent_run_id:
        return cfg
    from augmix_lab.tracking.checkpoints import fetch_checkpoint

    got = fetch_checkpoint(tracking_uri, parent_run_id, workdir / "parent" / FINAL_CHECKPOINT_FILE)
    return cfg.model_copy(update={"init": init.model_copy(update={"checkpoint": str(got)})})


def _fetch_pseudo_labels(cfg: TrialConfig, teacher_run_id: str | None, tracking_uri: str, workdir: Path) -> TrialConfig:
    """A student on a node without the driver's disk: its pseudo-label set from the teacher's MLflow run."""
    path = cfg.teacher.labels_file
    if path is None or Path(path).is_file() or not teacher_run_id:
        return cfg
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.training.self_training import SET_DIR

    got = TrialLogger(tracking_uri, teacher_run_id).download_file(f"{SET_DIR}/{Path(path).name}", workdir / SET_DIR)
    if got is None:
        return cfg  # the trainer says what is missing
    return cfg.model_copy(update={"teacher": cfg.teacher.model_copy(update={"labels_file": str(got)})})


def _fetch_parent_outputs(cfg: TrialConfig, spec: dict[str, Any], tracking_uri: str, workdir: Path) -> TrialConfig:
    """The init parent's final.pt and the teacher's pseudo-labels on this node (fetched from their runs if absent)."""
    cfg = _fetch_parent_checkpoint(cfg, spec.get("parent_run_id"), tracking_uri, workdir)
    return _fetch_pseudo_labels(cfg, spec.get("teacher_run_id"), tracking_uri, workdir)


def train_trial(
    config: dict[str, Any],
    *,
    trials: dict[str, dict[str, Any]],
    tracking_uri: str,
    out_dir: str,
    data_root: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    inject_oom: str | None = None,
    inject_crash: str | None = None,
    plugins: list[dict[str, Any]] | None = None,
) -> None:
    """Function trainable. ``config = {"trial_key": key}``; ``trials[key] = {"config": TrialConfig json, "run_id": id,
    "launch": the driver's launch id, "parent_run_id": a two-stage child's parent run, "teacher_run_id": a
    self-training student's teacher run}``; ``gpus_per_trial``: this
    round's GPU fraction (decides OOM re-pack vs failure); ``inject_oom``: tests only, ``$AUGMIX_LAB_INJECT_OOM`` as
    the driver read it; ``plugins``: the study's plugins (``augmix_lab.plugins.Plugin`` dicts), imported here first."""
    from augmix_lab.tracking import TrialLogger, TrialSuperseded
    from augmix_lab.tracking.system import start_system_metrics, stop_system_metrics
    from augmix_lab.training import run_trial

    key = config["trial_key"]
    spec = trials[key]
    cfg = _trial_config(spec, cpus_per_trial)
    workdir = worker_workdir(out_dir, key)
    logger = TrialLogger(tracking_uri, spec["run_id"], spec.get("launch"))
    if not _import_plugins(plugins, logger):
        return
    cfg = _fetch_parent_outputs(cfg, spec, tracking_uri, workdir)
    logger.set_status("RUNNING")
    logger.log_datasets(dataset_records(cfg))
    logger.last_logged_epoch()  # log_epoch skips what the run holds already (a resumed trial, a re-packed retry)
    monitor = start_system_metrics(tracking_uri, spec["run_id"])  # MLflow's sampler; None where unavailable
    try:
        callbacks = _callbacks(
            logger, cfg, key, _chain(inject_oom_hook(inject_oom, key, workdir), inject_crash_hook(inject_crash, key))
        )
        result, oom = run_releasing_oom(
            lambda: run_trial(
                cfg, workdir, callbacks=callbacks, data_root=data_root, resume_sources=resume_sources(logger)
            )
        )
    except TrialSuperseded:
        return  # a newer `augmix-lab run` owns this trial now (this worker outlived a killed driver): write nothing
    except Exception as exc:
        if _record_failure(logger, exc, workdir):
            return  # deterministic: ends normally, so Ray spends no retries on it
        raise  # a crash may be transient (node lost, OOM): Ray retries it up to resources.retries times
    finally:
        stop_system_metrics(monitor)  # flushes the last samples before the run's status changes
    if oom is not None:
        _after_oom(logger, oom, gpus_per_trial)
    else:
        _finish(logger, result)


def _record_failure(logger: Any, exc: Exception, workdir: Path) -> bool:
    """Record a failed trial on its run; True when the failure is deterministic (divergence, a config the trainer
    rejects, a full disk - e.g. the checkpoint upload into the store's artifacts) and reported to Tune as failed."""
    if isinstance(exc, (TrialFailed, UserError)):
        logger.set_status("FAILED", f"{type(exc).__name__}: {exc}")
    elif is_disk_full(exc):
        logger.set_status("FAILED", f"DiskFull: {DiskFull(disk_of(exc, workdir), _checkpoint_room(workdir))}")
    else:
        logger.set_status("FAILED", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=20)}")
        return False
    _report({FAILED_METRIC: 1})
    return True


def _trial_config(spec: dict[str, Any], cpus_per_trial: float) -> TrialConfig:
    """The trial's config, with torch's threads set as it will train."""
    import torch

    cfg = TrialConfig.model_validate(spec["config"])
    threads = cfg.train.threads or max(1, int(cpus_per_trial))
    torch.set_num_threads(threads)  # one trial per CPU by default: no oversubscription between concurrent trials
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    return cfg


def _callbacks(logger: Any, cfg: TrialConfig, key: str, on_batch_end: Any) -> Any:
    """What the trial reports: each epoch to its run before the checkpoint that lets a resume skip it, each
    checkpoint to its run and to Tune, a resume's warning (run note, stderr, the driver's display), the scorecard and
    the benchmarks scored to its run."""
    from augmix_lab.tracking import gpu_epoch_stats
    from augmix_lab.training import TrialCallbacks

    notes: list[str] = []

    def on_resume(start_epoch: int, history: list[dict[str, Any]], note: str | None) -> None:
        for row in history:  # epochs the checkpoint holds but the run lacks (a run re-made while last.pt stayed)
            logger.log_epoch(int(row["epoch"]), {k: v for k, v in row.items() if k != "epoch"})
        if note:
            logger.add_note(f"resume: {note}")
            notes.append(note)
            print(f"augmix-lab: warning: trial {key}: {note}", file=sys.stderr)

    def on_epoch_metrics(epoch: int, metrics: dict[str, Any]) -> None:
        logger.log_epoch(epoch, {**metrics, **gpu_epoch_stats()})  # before its checkpoint is written (trainer)

    def on_epoch_end(epoch: int, metrics: dict[str, Any], checkpoint: Path | None) -> None:
        if checkpoint is not None:
            logger.log_checkpoint(Path(checkpoint), "last")
        extra = {NOTE_KEY: notes.pop()} if notes else {}  # shown by the driver's progress display
        _report({**metrics, "epoch": epoch, **extra}, Path(checkpoint).parent if checkpoint is not None else None)

    def on_evaluated(scorecard: Any) -> None:
        logger.log_scorecard(scorecard.summary, scorecard.table, scorecard.arrays, scorecard.predictions)
        logger.log_datasets(dataset_records(cfg, scorecard.table))

    return TrialCallbacks(
        on_epoch_end=on_epoch_end,
        on_evaluated=on_evaluated,
        on_batch_end=on_batch_end,
        on_epoch_metrics=on_epoch_metrics,
        on_resume=on_resume,
    )


def _after_oom(logger: Any, oom: str, gpus_per_trial: float) -> None:
    """A CUDA OOM (its memory already given back by ``run_releasing_oom``): below a whole GPU the driver re-packs it
    (the run stays RUNNING); at a whole GPU it is a deterministic failure (no Ray retry)."""
    if 0 < gpus_per_trial < 1:
        _report({OOM_METRIC: 1})
        return
    kind, _, message = oom.partition(": ")
    logger.set_status(
        "FAILED", f"{kind} at gpus_per_trial={gpus_per_trial:g}, no larger GPU share to re-pack to: {message}"
    )
    _report({FAILED_METRIC: 1})


def _finish(logger: Any, result: Any) -> None:
    """Upload the final checkpoint (what evaluate_checkpoint re-scores later), mark the run FINISHED, tell Tune."""
    from augmix_lab.tracking import TrialSuperseded

    try:
        if result.checkpoint is not None and Path(result.checkpoint).is_file():
            logger.log_checkpoint(Path(result.checkpoint), "final")
        logger.set_status("FINISHED")
    except TrialSuperseded:
        return
    summary = dict(result.scorecard.summary) if result.scorecard is not None else {}
    _report({**summary, DONE_METRIC: 1})
