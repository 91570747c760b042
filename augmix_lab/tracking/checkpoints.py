"""The one fetcher of a trial's stored checkpoint: the local file when it is there, else the copy the trial uploaded to
its MLflow run (``TrialLogger.log_checkpoint``), downloaded to exactly that path (every store call retried).

Re-evaluation, two-stage children, soups and the study-level analyses all get a finished trial's ``final.pt`` here
(through ``orchestration.trainable.final_checkpoint``, which knows where a trial's work directory is), so a study
moved to a machine without its ``trials/`` folder still re-scores, fine-tunes, soups and analyses from the store.
"""

from __future__ import annotations

from pathlib import Path

from augmix_lab.tracking.trial import TrialLogger


def fetch_checkpoint(uri: str, run_id: str | None, path: str | Path, kind: str = "final") -> Path:
    """``path`` when that file exists, else run ``run_id``'s stored ``kind`` checkpoint (``final`` or ``last``)
    downloaded to ``path``; FileNotFoundError when neither exists."""
    path = Path(path)
    if path.is_file():
        return path
    if run_id is None:
        raise FileNotFoundError(f"no {kind} checkpoint at {path} and no run to fetch it from")
    got = TrialLogger(uri, run_id).download_checkpoint(kind, path.parent)
    if got != path:
        got.replace(path)
    return path
