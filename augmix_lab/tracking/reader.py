"""Read side of the tracking layer: the report's only door to MLflow (plain records in, no MLflow types out).

``StoreReader(uri)`` holds one explicit-URI client. Runs come back as ``RunRow`` (ids, status, tags, params, finite
metrics); artifacts as text, numpy arrays or a DataFrame; metric histories as ``[(step, value)]``.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augmix_lab.tracking.lookup import experiment_id, search_runs, tag_filter
from augmix_lab.tracking.records import TRACKING_TAGS
from augmix_lab.tracking.store import call_with_retries, make_client


@dataclass(frozen=True)
class RunRow:
    """One MLflow run as plain data."""

    run_id: str
    status: str
    start_time: int
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]  # finite values only


class StoreReader:
    """Read-only access to one tracking store (``uri`` is passed explicitly, never the global one)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.client = make_client(uri)

    def experiment_names(self) -> list[str]:
        return sorted(e.name for e in call_with_retries(self.client.search_experiments))

    def experiment_id(self, name: str) -> str | None:
        """The id of the active experiment ``name``, or None."""
        return experiment_id(self.client, name)

    def runs(self, experiment_id: str, role: str) -> list[RunRow]:
        """Every run of the experiment whose ``augmix_lab.role`` tag is ``role`` ("study" or "trial"), all pages
        (the one pager, ``lookup.search_runs``: retried on a busy store)."""
        return [_row(r) for r in search_runs(self.client, [experiment_id], tag_filter(TRACKING_TAGS.role, role))]

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """Per-epoch values (steps >= 1; step 0 holds final metrics); a re-logged step keeps its newest value."""
        latest: dict[int, tuple[int, float]] = {}
        for m in self.client.get_metric_history(run_id, key):
            if m.step >= 1 and (m.step not in latest or m.timestamp >= latest[m.step][0]):
                latest[int(m.step)] = (int(m.timestamp), float(m.value))
        return [(step, latest[step][1]) for step in sorted(latest)]

    def text(self, run_id: str, path: str) -> str | None:
        """An artifact's text, or None when it cannot be read."""
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return Path(self.client.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")
        except Exception:  # noqa: BLE001 - a missing/unreadable artifact is reported as None
            return None

    def table(self, run_id: str, path: str) -> Any:
        """A CSV artifact as a pandas DataFrame, or None when it is missing or unreadable."""
        import pandas as pd

        try:
            with tempfile.TemporaryDirectory() as tmp:
                return pd.read_csv(self.client.download_artifacts(run_id, path, tmp))
        except Exception:  # noqa: BLE001 - old runs have no tidy table
            return None

    def artifact_names(self, run_id: str, folder: str) -> set[str] | None:
        """File names directly under ``folder``, or None when the artifact store cannot be listed."""
        try:
            return {Path(a.path).name for a in self.client.list_artifacts(run_id, folder)}
        except Exception:  # noqa: BLE001 - an unreadable artifact store only disables optional inputs
            return None

    def arrays(self, run_id: str, folder: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """``name -> array`` for the ``.npy`` files of ``folder`` that exist (no pickles)."""
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=folder, dst_path=tmp, tracking_uri=self.uri
                )
            )
            return {n: np.load(local / n, allow_pickle=False) for n in names if (local / n).is_file()}

    def npz(self, run_id: str, path: str) -> dict[str, np.ndarray] | None:
        """The arrays of one ``.npz`` artifact (no pickles), or None when it is missing or unreadable."""
        try:
            with tempfile.TemporaryDirectory() as tmp:
                with np.load(self.client.download_artifacts(run_id, path, tmp), allow_pickle=False) as data:
                    return {k: data[k] for k in data.files}
        except Exception:  # noqa: BLE001 - runs from before predictions were stored have none
            return None


def _row(run: Any) -> RunRow:
    metrics = {k: float(v) for k, v in run.data.metrics.items() if v is not None and math.isfinite(float(v))}
    return RunRow(
        run.info.run_id, run.info.status, run.info.start_time or 0, dict(run.data.tags), dict(run.data.params), metrics
    )
