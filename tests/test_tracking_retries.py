"""Which store errors ``call_with_retries`` retries: lock contention and the dataset-input race, nothing else."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from augmix_lab.tracking import store
from augmix_lab.tracking.store import call_with_retries, is_transient

# what MLflow's SQL store raised when two trials logged the same dataset input at once (seen in the suite)
DATASET_RACE = ("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, datasets.name, "
                "datasets.digest [SQL: INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, ...)]")


@pytest.mark.parametrize("text, transient", [
    ("(sqlite3.OperationalError) database is locked", True),
    (DATASET_RACE, True),
    ("(sqlite3.IntegrityError) UNIQUE constraint failed: runs.run_uuid", False),  # a real bug: never retried
    ("RESOURCE_DOES_NOT_EXIST: run 'x' not found", False),
])
def test_only_contention_and_the_dataset_race_are_transient(text: str, transient: bool) -> None:
    assert is_transient(MlflowException(text)) is transient


def test_a_dataset_race_is_retried_until_the_other_writer_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_RETRY_BASE_S", 0.0)
    calls = []

    def log_inputs() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException(DATASET_RACE)
        return "linked"

    assert call_with_retries(log_inputs) == "linked" and len(calls) == 2
