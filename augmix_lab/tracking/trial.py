"""Worker side: a trial logs into the run the driver created for it, through an explicit tracking URI.

``TrialLogger`` holds only strings when pickled (URI, run id, launch id), so it can be shipped to a Ray worker in
another process or machine. It never touches MLflow's global active run and never calls ``mlflow.start_run``.
With a launch id, every write first checks that the run still belongs to that launch: a worker orphaned by a killed
driver stops with ``TrialSuperseded`` instead of overwriting what the re-run logged.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from augmix_lab.evaluation.registry import TRAIN_LOSS
from augmix_lab.tracking.records import (
    MAX_METRICS_PER_BATCH,
    TERMINAL_STATUSES,
    chunks,
    limit_tag,
    to_float,
)
from augmix_lab.tracking.store import call_with_retries, make_client
from augmix_lab.tracking.tags import TRACKING_TAGS

EPOCH_METRIC = TRAIN_LOSS  # every epoch logs it (a registered history metric)
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_KINDS = ("final", "last")
SCORECARD_TABLE = "scorecard/table.csv"
SCORECARD_SUMMARY = "scorecard/summary.json"
PREDICTIONS_ARTIFACT = "predictions/predictions.npz"  # per-image class ids (augmix_lab/evaluation/predictions.py)
SCORECARD_STEP = 0  # final metrics carry step 0; per-epoch metrics use steps 1..epochs


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """``[(step, value), ...]`` of one metric, sorted by step; a step logged twice keeps its latest value."""
    client = make_client(uri)
    return _history(client, run_id, key)


def _history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    latest: dict[int, tuple[int, float]] = {}
    for m in call_with_retries(client.get_metric_history, run_id, key):
        if m.step not in latest or m.timestamp >= latest[m.step][0]:
            latest[m.step] = (m.timestamp, m.value)
    return [(step, latest[step][1]) for step in sorted(latest)]


class TrialSuperseded(RuntimeError):
    """The trial's run was handed to a newer launch (a re-run after a killed driver): this process must stop."""


class TrialLogger:
    """Logs one trial's epochs, scorecard, checkpoints and status into an existing run (created by the driver).

    ``launch``: the id the driver tagged the run with when it handed it out (``augmix_lab.launch``); when given,
    each write raises ``TrialSuperseded`` if the run's tag names another launch.
    """

    def __init__(self, uri: str, run_id: str, launch: str | None = None) -> None:
        self.uri = str(uri)
        self.run_id = str(run_id)
        self.launch = launch
        self._client: Any = None
        self._last_epoch: int | None = None

    # Only the strings travel: the client (sockets, DB engine) is rebuilt lazily in the receiving process.
    def __getstate__(self) -> dict[str, str | None]:
        return {"uri": self.uri, "run_id": self.run_id, "launch": self.launch}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["uri"], state["run_id"], state.get("launch"))  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"TrialLogger(uri={self.uri!r}, run_id={self.run_id!r}, launch={self.launch!r})"

    def check_owner(self) -> None:
        """Raise ``TrialSuperseded`` when a newer launch owns the run (no-op without a launch id)."""
        if self.launch is None:
            return
        owner = call_with_retries(self.client.get_run, self.run_id).data.tags.get(TRACKING_TAGS.launch)
        if owner != self.launch:
            raise TrialSuperseded(f"run {self.run_id} now belongs to launch {owner}, not {self.launch}")

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.uri)
        return self._client

    def _log_batch(self, metrics: Sequence[Any] = (), tags: Sequence[Any] = ()) -> None:
        call_with_retries(self.client.log_batch, self.run_id, metrics=list(metrics), tags=list(tags))

    def last_logged_epoch(self) -> int:
        """The last epoch whose metrics are in the run (0 if none): a resumed trial logs only later epochs."""
        history = _history(self.client, self.run_id, EPOCH_METRIC)
        run = call_with_retries(self.client.get_run, self.run_id)
        tagged = run.data.tags.get(TRACKING_TAGS.last_epoch, "0")
        self._last_epoch = max([int(tagged) if tagged.isdigit() else 0] + [step for step, _ in history])
        return self._last_epoch

    def log_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> bool:
        """Log one epoch's metrics in ONE ``log_batch`` with ``step=epoch``; returns False if already logged.

        Epochs at or before the last logged one are skipped, so a trial that crashed after logging epoch 3 and
        resumed from an older checkpoint never writes duplicate or overlapping steps (Ray #48664).
        """
        from mlflow.entities import Metric, RunTag

        epoch = int(epoch)
        if epoch < 1:
            raise ValueError(f"epoch must be >= 1 (1-based steps), got {epoch}")
        self.check_owner()
        last = self._last_epoch if self._last_epoch is not None else self.last_logged_epoch()
        if epoch <= last:
            return False
        timestamp = int(time.time() * 1000)  # one timestamp: a retried batch writes identical rows
        batch = [Metric(key, to_float(key, value), timestamp, epoch) for key, value in metrics.items()]
        if len(batch) > MAX_METRICS_PER_BATCH:
            raise ValueError(f"{len(batch)} metrics in one epoch; at most {MAX_METRICS_PER_BATCH} fit one batch")
        self._log_batch(metrics=batch, tags=[RunTag(TRACKING_TAGS.last_epoch, str(epoch))])
        self._last_epoch = epoch
        return True

    def log_scorecard(
        self,
        summary: Mapping[str, Any],
        table: Any,
        arrays: Mapping[str, Any] | None = None,
        predictions: Mapping[str, Any] | None = None,
    ) -> None:
        """Final metrics (step 0, as few batches as possible) + ``scorecard/table.csv`` and ``summary.json``;
        ``arrays`` (artifact path ``folder/name.npy`` -> array, e.g. the Fourier heat map) go through ``log_arrays``,
        ``predictions`` (name -> per-image class ids) to one ``predictions/predictions.npz``."""
        from mlflow.entities import Metric

        self.check_owner()
        timestamp = int(time.time() * 1000)
        metrics = [Metric(key, to_float(key, value), timestamp, SCORECARD_STEP) for key, value in summary.items()]
        for batch in chunks(metrics, MAX_METRICS_PER_BATCH):
            self._log_batch(metrics=list(batch))
        finite = {k: (v if math.isfinite(v) else str(v)) for k, v in ((m.key, m.value) for m in metrics)}
        call_with_retries(
            self.client.log_text, self.run_id, json.dumps(finite, indent=1, sort_keys=True), SCORECARD_SUMMARY
        )
        if table is not None:
            call_with_retries(self.client.log_text, self.run_id, table.to_csv(index=False), SCORECARD_TABLE)
        if arrays:
            self.log_arrays(arrays)
        if predictions:
            self.log_npz(predictions, PREDICTIONS_ARTIFACT)

    def log_npz(self, arrays: Mapping[str, Any], artifact: str) -> None:
        """Numpy arrays as one compressed ``.npz`` artifact (``folder/name.npz``); read back by ``StoreReader.npz``."""
        import numpy as np

        self.check_owner()
        folder, name = os.path.split(artifact)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            np.savez_compressed(path, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]  # keys are array names, never allow_pickle
            call_with_retries(self.client.log_artifact, self.run_id, str(path), folder or None)

    def log_file(self, path: str | os.PathLike[str], folder: str) -> str:
        """Upload a file as artifact ``folder/<name>`` (e.g. a pseudo-label set on its teacher's run)."""
        self.check_owner()
        call_with_retries(self.client.log_artifact, self.run_id, str(path), folder)
        return f"{folder}/{Path(path).name}"

    def download_file(self, artifact: str, dst: str | os.PathLike[str]) -> Path | None:
        """Download artifact ``folder/<name>`` into folder ``dst``; None when the run has no such artifact."""
        folder, name = os.path.split(artifact)
        listed = call_with_retries(self.client.list_artifacts, self.run_id, folder or None)
        if not any(not f.is_dir and Path(f.path).name == name for f in listed):
            return None
        Path(dst).mkdir(parents=True, exist_ok=True)
        return Path(call_with_retries(self.client.download_artifacts, self.run_id, artifact, str(dst)))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags (names from ``tracking/tags.py``), e.g. a student's link to its teacher's run."""
        from mlflow.entities import RunTag

        self.check_owner()
        self._log_batch(tags=[RunTag(k, limit_tag(str(v))) for k, v in tags.items()])

    def log_table(self, table: Any, path: str) -> None:
        """A DataFrame as the CSV artifact ``path`` (e.g. a study analysis on the parent run)."""
        self.check_owner()
        call_with_retries(self.client.log_text, self.run_id, table.to_csv(index=False), path)

    def log_arrays(self, arrays: Mapping[str, Any]) -> None:
        """Each ``folder/name.npy`` -> array as a ``.npy`` artifact (read back by ``StoreReader.arrays``)."""
        import numpy as np

        self.check_owner()
        with tempfile.TemporaryDirectory(prefix="augmix-lab-arrays-") as tmp:
            for path, array in arrays.items():
                local = Path(tmp) / path
                local.parent.mkdir(parents=True, exist_ok=True)
                np.save(local, np.asarray(array), allow_pickle=False)
                folder = str(Path(path).parent)
                call_with_retries(self.client.log_artifact, self.run_id, str(local), None if folder == "." else folder)

    def log_datasets(self, records: Sequence[Any]) -> None:
        """Log datasets (``tracking.inputs.DatasetRecord``) as run inputs; one already on the run is kept once."""
        if not records:
            return
        self.check_owner()
        call_with_retries(self.client.log_inputs, self.run_id, datasets=[r.to_mlflow() for r in records])

    def mark_evaluated(self, eval_key: str, worker: str | None = None) -> None:
        """Record the evaluation settings (``augmix_lab.eval_key``) the run's scorecard now reflects, and which
        process (``"host:pid"``, tag ``augmix_lab.eval_worker``) scored it when given."""
        from mlflow.entities import RunTag

        self.check_owner()
        tags = [RunTag(TRACKING_TAGS.eval_key, eval_key)]
        if worker is not None:
            tags.append(RunTag(TRACKING_TAGS.eval_worker, worker))
        self._log_batch(tags=tags)

    def log_plugin_origins(self, origins: Mapping[str, str]) -> None:
        """Which file each plugin module was imported from in this worker (tag ``augmix_lab.plugins``, JSON)."""
        from mlflow.entities import RunTag

        if origins:
            self.check_owner()
            self._log_batch(tags=[RunTag(TRACKING_TAGS.plugins, limit_tag(json.dumps(dict(origins), sort_keys=True)))])

    def record_repack(self, old_fraction: float, new_fraction: float) -> str:
        """A CUDA out-of-memory re-pack: append ``new_fraction`` to tag ``augmix_lab.repacks`` (``"0.25->0.5"``), set
        ``augmix_lab.gpu_fraction`` and add a note; the run stays RUNNING for its retry. Returns the chain."""
        from mlflow.entities import RunTag

        self.check_owner()
        tags = call_with_retries(self.client.get_run, self.run_id).data.tags
        chain = tags.get(TRACKING_TAGS.repacks) or _fraction(old_fraction)
        chain = f"{chain}->{_fraction(new_fraction)}"
        note = (
            f"CUDA out of memory at gpus_per_trial={_fraction(old_fraction)}; re-packed with "
            f"{_fraction(new_fraction)} GPU, resuming from its last checkpoint (re-packs: {chain})"
        )
        self._log_batch(
            tags=[
                RunTag(TRACKING_TAGS.repacks, chain),
                RunTag(TRACKING_TAGS.gpu_fraction, _fraction(new_fraction)),
                RunTag(TRACKING_TAGS.note, limit_tag(note)),
            ]
        )
        return chain

    def log_checkpoint(self, path: str | os.PathLike[str], kind: str = "final") -> str:
        """Upload a checkpoint file as artifact ``checkpoints/<kind><suffix>``; returns the artifact path.

        Uploaded explicitly from the trial's persistent workdir (Ray's staging directory loses them, Ray #46569).
        """
        from mlflow.entities import RunTag

        _check_kind(kind)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        self.check_owner()
        name = f"{kind}{path.suffix or '.pt'}"
        with tempfile.TemporaryDirectory(prefix="augmix-lab-ckpt-") as tmp:
            staged = Path(tmp) / name
            try:
                staged.symlink_to(path.resolve())  # no copy of a large file just to rename it
            except OSError:
                shutil.copy2(path, staged)
            call_with_retries(self.client.log_artifact, self.run_id, str(staged), CHECKPOINT_DIR)
        artifact = f"{CHECKPOINT_DIR}/{name}"
        self._log_batch(tags=[RunTag(f"{TRACKING_TAGS.checkpoint_prefix}{kind}", artifact)])
        return artifact

    def download_checkpoint(self, kind: str = "final", dst: str | os.PathLike[str] = ".") -> Path:
        """Download ``checkpoints/<kind>.*`` into folder ``dst`` (created if needed); returns the file's path."""
        _check_kind(kind)
        run = call_with_retries(self.client.get_run, self.run_id)
        artifact = run.data.tags.get(f"{TRACKING_TAGS.checkpoint_prefix}{kind}")
        if artifact is None:
            listed = call_with_retries(self.client.list_artifacts, self.run_id, CHECKPOINT_DIR)
            matches = [f.path for f in listed if not f.is_dir and Path(f.path).stem == kind]
            if not matches:
                raise FileNotFoundError(f"run {self.run_id} has no '{kind}' checkpoint under '{CHECKPOINT_DIR}/'")
            artifact = matches[0]
        dst = Path(dst)
        dst.mkdir(parents=True, exist_ok=True)
        local = call_with_retries(self.client.download_artifacts, self.run_id, artifact, str(dst))
        return Path(local)

    def add_note(self, line: str) -> None:
        """Append a line to the run's description (``mlflow.note.content``, shown in the MLflow UI)."""
        from mlflow.entities import RunTag

        self.check_owner()
        note = call_with_retries(self.client.get_run, self.run_id).data.tags.get(TRACKING_TAGS.note)
        text = f"{note}\n{line}" if note else line
        self._log_batch(tags=[RunTag(TRACKING_TAGS.note, limit_tag(text))])

    def mark_stopped(self, kind: str, reason: str) -> None:
        """End the run KILLED because it was stopped, not because it failed: tag ``augmix_lab.stopped`` = ``kind``
        (``tags.STOP_KINDS``) and the reason as the run's note. ``augmix-lab status`` tells these apart."""
        from mlflow.entities import RunTag

        from augmix_lab.tracking.tags import STOP_KINDS

        if kind not in STOP_KINDS:
            raise ValueError(f"stop kind {kind!r}: allowed {', '.join(STOP_KINDS)}")
        self.check_owner()
        self._log_batch(tags=[RunTag(TRACKING_TAGS.stopped, kind), RunTag(TRACKING_TAGS.note, limit_tag(reason))])
        call_with_retries(self.client.set_terminated, self.run_id, status="KILLED")

    def fail_if_unfinished(self, reason: str) -> bool:
        """FAILED with ``reason`` unless the run already ended (e.g. the trainable recorded its own failure).

        The driver's word after Ray gave up on a trial: a worker that died hard (killed, out of host memory) could
        not record anything, and its run would otherwise stay RUNNING with no reason. Returns True if it wrote.
        """
        run = call_with_retries(self.client.get_run, self.run_id)
        if run.info.status in TERMINAL_STATUSES and (
            run.info.status != "FAILED" or TRACKING_TAGS.error in run.data.tags
        ):
            return False
        self.set_status("FAILED", reason)
        return True

    def set_status(self, status: str, error: str | None = None) -> None:
        """End the run as FINISHED / FAILED / KILLED (or mark it RUNNING again); FAILED records ``error``."""
        from mlflow.entities import RunTag

        status = status.upper()
        if status not in TERMINAL_STATUSES + ("RUNNING",):
            raise ValueError(f"status {status!r}: allowed {', '.join(TERMINAL_STATUSES + ('RUNNING',))}")
        self.check_owner()
        if error:
            reason = limit_tag(str(error))
            self._log_batch(tags=[RunTag(TRACKING_TAGS.error, reason), RunTag(TRACKING_TAGS.note, reason)])
        if status == "RUNNING":
            if not error:  # a retry starts: the previous attempt's failure no longer describes this run
                clear_failure(self.client, self.run_id, call_with_retries(self.client.get_run, self.run_id).data.tags)
            call_with_retries(self.client.update_run, self.run_id, status="RUNNING")
        else:
            call_with_retries(self.client.set_terminated, self.run_id, status=status)


def clear_failure(client: Any, run_id: str, tags: Mapping[str, str]) -> None:
    """Remove a previous attempt's failure or stop reason (and the UI note that repeats it) from a run being retried."""
    reason = tags.get(TRACKING_TAGS.error)
    if TRACKING_TAGS.stopped in tags:
        call_with_retries(client.delete_tag, run_id, TRACKING_TAGS.stopped)
        reason = tags.get(TRACKING_TAGS.note) if reason is None else reason
    if reason is None:
        return
    if TRACKING_TAGS.error in tags:
        call_with_retries(client.delete_tag, run_id, TRACKING_TAGS.error)
    if tags.get(TRACKING_TAGS.note) == reason:
        call_with_retries(client.delete_tag, run_id, TRACKING_TAGS.note)


def _fraction(value: float) -> str:
    """0.25 -> "0.25", 1.0 -> "1": how the re-pack chain spells a GPU fraction."""
    return f"{float(value):g}"


def _check_kind(kind: str) -> None:
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"checkpoint kind {kind!r}: allowed {', '.join(CHECKPOINT_KINDS)}")
