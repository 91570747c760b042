"""Read-only SQL on an embedded MLflow SQLite store, for ``augmix-lab status`` (no MLflow import: it costs seconds).

The same answers as ``lookup.trial_states`` / ``lookup.finished_trials`` (active runs of active experiments, tags as
MLflow wrote them), read straight from MLflow's tables ``experiments``, ``runs`` and ``tags``, whose columns have
been stable since MLflow 1.x. A store whose tables look different returns None and the caller asks MLflow instead.
The connection is opened read-only; nothing here can write into the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from augmix_lab.tracking.lookup import FinishedTrial, TrialState
from augmix_lab.tracking.tags import ROLE_TRIAL, TRACKING_TAGS

_TAGS = (
    TRACKING_TAGS.trial_key,
    TRACKING_TAGS.eval_key,
    TRACKING_TAGS.error,
    TRACKING_TAGS.last_epoch,
    TRACKING_TAGS.stopped,
    TRACKING_TAGS.note,
    TRACKING_TAGS.study,
)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:  # e.g. a WAL store whose -shm cannot be made read-only: plain reads only
        return sqlite3.connect(str(path), timeout=10)


def _runs(conn: sqlite3.Connection, where: str, args: tuple) -> dict[str, dict]:
    """run id -> {status, start, end, experiment, tags...} of active trial runs matching ``where``."""
    marks = ",".join("?" * len(_TAGS))
    rows = conn.execute(
        f"SELECT r.run_uuid, r.status, r.start_time, r.end_time, r.experiment_id, t.key, t.value "
        f"FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
        f"WHERE r.lifecycle_stage = 'active' AND t.key IN ({marks}) AND r.run_uuid IN "
        f"(SELECT run_uuid FROM tags WHERE key = ? AND value = ?) AND {where}",
        (*_TAGS, TRACKING_TAGS.role, ROLE_TRIAL, *args),
    ).fetchall()
    runs: dict[str, dict] = {}
    for run_id, status, start, end, experiment, key, value in rows:
        run = runs.setdefault(
            run_id, {"status": status, "start": start or 0, "end": end or 0, "experiment": str(experiment)}
        )
        run[key] = value
    return runs


def _experiment(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute(
        "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'", (name,)
    ).fetchone()
    return None if row is None else str(row[0])


def study_reads(
    path: Path, experiment_name: str, study: str, keys: Iterable[str]
) -> tuple[dict[str, FinishedTrial], dict[str, TrialState]] | None:
    """``(finished_trials, trial_states)`` as ``lookup`` gives them, or None when the tables are not as expected."""
    wanted = set(keys)
    try:
        with closing(_connect(path)) as conn:
            home = _experiment(conn, experiment_name)
            active = "r.experiment_id IN (SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'active')"
            finished = _runs(conn, f"r.status = 'FINISHED' AND {active}", ())
            mine = (
                _runs(
                    conn,
                    "r.experiment_id = ? AND r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = ? AND value = ?)",
                    (home, TRACKING_TAGS.study, study),
                )
                if home is not None
                else {}
            )
    except sqlite3.Error:
        return None
    best: dict[str, tuple[tuple[bool, int], str, dict]] = {}
    for run_id, run in finished.items():
        key = run.get(TRACKING_TAGS.trial_key)
        if key is None or key not in wanted:
            continue
        rank = (run["experiment"] == home, run["end"])  # lookup.finished_trials' preference
        if key not in best or rank > best[key][0]:
            best[key] = (rank, run_id, run)
    done = {key: FinishedTrial(run_id, run.get(TRACKING_TAGS.eval_key)) for key, (_, run_id, run) in best.items()}
    states: dict[str, TrialState] = {}
    for run_id, run in sorted(mine.items(), key=lambda item: (item[1]["start"], item[0])):  # newest run per key wins
        key = run.get(TRACKING_TAGS.trial_key)
        if key is None:
            continue
        epoch = run.get(TRACKING_TAGS.last_epoch) or ""
        states[key] = TrialState(
            run_id,
            run["status"],
            run.get(TRACKING_TAGS.error),
            int(epoch) if epoch.isdigit() else None,
            run["start"],
            run.get(TRACKING_TAGS.stopped),
            run.get(TRACKING_TAGS.note),
        )
    return done, states
