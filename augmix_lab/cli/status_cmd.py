"""`augmix-lab status STUDY.yaml`: trials done / running / interrupted / failed / to run, read from the store (no Ray),
with reasons, and whether a driver runs the study now.

Safe while the study runs: it only reads. Fast: when the study file (and ``--set``) is the one the last ``run`` wrote
its manifest for, the trial list comes from that manifest instead of a full expansion (which imports torch), and an
embedded SQLite store is read with plain SQL (``tracking/sqlite_reader.py``) instead of through MLflow's client.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augmix_lab.study.overrides import add_set_argument

STATES = ("done", "re-evaluate", "running", "interrupted", "stopped", "failed", "to run")
_ALWAYS_COUNTED = ("done", "re-evaluate", "running", "failed", "to run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (studies/*.yaml)")
    parser.add_argument(
        "--out", default=None, help="study directory (default: output_dir in the study, else runs/<name>)"
    )
    add_set_argument(parser)


@dataclass(frozen=True)
class TrialStatus:
    key: str
    label: str
    state: str  # one of STATES
    detail: str  # epoch reached, or the failure / stop reason's first line


@dataclass(frozen=True)
class _Row:
    """What status needs of a trial: from the last run's manifest, or from a full expansion."""

    key: str
    label: str
    epochs: int
    eval_key: str


def _rows_from_manifest(out_dir: Path, study: Any) -> list[_Row] | None:
    """The trials the last ``run`` of this very study file (+ overrides) wrote down, or None to expand afresh."""
    from augmix_lab import __version__
    from augmix_lab.study.manifest import read_manifest

    manifest = read_manifest(out_dir)
    if not manifest or manifest.get("study_hash") != study.hash:
        return None
    if (manifest.get("packages") or {}).get("augmix-lab", __version__) != __version__:
        return None  # another version may key trials differently
    try:
        return [_Row(str(t["key"]), str(t["label"]), int(t["epochs"]), str(t["eval_key"])) for t in manifest["trials"]]
    except (KeyError, TypeError, ValueError):
        return None  # a manifest from before labels and epochs were recorded


def _expanded_rows(study_path: str, out: str | None, overrides: tuple[str, ...]) -> list[_Row]:
    from augmix_lab.orchestration.plan import load_plan

    plan = load_plan(study_path, out, overrides)
    return [_Row(t.key, t.label, t.config.epochs, t.eval_key) for t in plan.trials]


def _store_reads(uri: str, experiment: str, study: str, keys: list[str]) -> tuple[dict, dict]:
    """(finished trials, this study's trial states): plain SQL on an embedded store, else MLflow's client."""
    from augmix_lab.tracking.store import is_sqlite_uri, sqlite_path

    if is_sqlite_uri(uri):
        from augmix_lab.tracking.sqlite_reader import study_reads

        quick = study_reads(sqlite_path(uri), experiment, study, keys)
        if quick is not None:
            return quick
    from augmix_lab.tracking.lookup import finished_trials, trial_states

    return finished_trials(uri, experiment, keys), trial_states(uri, experiment, study)


def _state(row: _Row, done: Any, run: Any, driver: str) -> TrialStatus:
    """``driver``: "live", "gone" (the lock file names a dead process on this host) or "unknown" (no lock file)."""
    from augmix_lab.tracking.tags import STOP_SCHEDULER

    if done is not None:
        return TrialStatus(row.key, row.label, "done" if done.eval_key == row.eval_key else "re-evaluate", "")
    if run is None or run.status == "SCHEDULED":
        return TrialStatus(row.key, row.label, "to run", "queued" if run is not None and driver == "live" else "")
    epoch = f"epoch {run.last_epoch}/{row.epochs}" if run.last_epoch else "before its first epoch"
    if run.status == "RUNNING":
        if driver != "gone":
            return TrialStatus(row.key, row.label, "running", epoch if run.last_epoch else "starting")
        return TrialStatus(row.key, row.label, "interrupted", f"{epoch}; its driver is not running (re-run to resume)")
    if run.status == "KILLED" and run.stopped == STOP_SCHEDULER:
        return TrialStatus(row.key, row.label, "stopped", (run.note or "stopped early by the scheduler").strip())
    if run.status == "KILLED" and run.stopped:
        reason = (run.note or run.stopped).strip().splitlines()
        return TrialStatus(
            row.key, row.label, "interrupted", f"{reason[-1] if reason else run.stopped}; re-run to resume"
        )
    reason = (run.error or run.status.lower()).strip().splitlines()
    return TrialStatus(row.key, row.label, "failed", reason[0] if reason else run.status.lower())


def study_status(
    study_path: str, out: str | None = None, overrides: tuple[str, ...] = ()
) -> tuple[str, list[TrialStatus], Any]:
    """The store's URI, one ``TrialStatus`` per trial of the study (in the study's order), and the live driver
    (``orchestration.lock.Holder``) or None."""
    from augmix_lab.orchestration.lock import live_driver, read_holder
    from augmix_lab.orchestration.plan import experiment_for, resolve_out_dir
    from augmix_lab.study import read_study
    from augmix_lab.tracking.store import check_reachable, is_sqlite_uri, resolve_tracking, sqlite_path, store_errors

    study = read_study(study_path, overrides)
    out_dir = resolve_out_dir(study, out)
    rows = _rows_from_manifest(out_dir, study) or _expanded_rows(study_path, out, overrides)
    uri, _ = resolve_tracking(study.spec.tracking.uri, out_dir)
    driver = live_driver(out_dir)
    if is_sqlite_uri(uri) and not Path(sqlite_path(uri)).is_file():
        return uri, [TrialStatus(r.key, r.label, "to run", "") for r in rows], driver  # never creates a store
    check_reachable(uri)
    with store_errors(uri):
        done, states = _store_reads(uri, experiment_for(study), study.name, [r.key for r in rows])
    seen = "live" if driver is not None else ("gone" if read_holder(out_dir) is not None else "unknown")
    return uri, [_state(r, done.get(r.key), states.get(r.key), seen) for r in rows], driver


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from augmix_lab.console import make_console

    console = make_console()
    uri, rows, driver = study_status(args.study, args.out, tuple(args.set or ()))
    table = Table(title=f"{args.study}: {len(rows)} trials", show_lines=False)
    for column in ("key", "trial", "state", "detail"):
        table.add_column(column, overflow="fold", no_wrap=column == "key")
    style = {
        "done": "green",
        "failed": "red",
        "running": "cyan",
        "re-evaluate": "yellow",
        "interrupted": "yellow",
        "stopped": "yellow",
    }
    for r in rows:
        table.add_row(
            r.key, r.label, f"[{style.get(r.state, '')}]{r.state}[/]" if r.state in style else r.state, r.detail
        )
    console.print(table)
    counts = {s: sum(r.state == s for r in rows) for s in STATES}
    shown = [s for s in STATES if s in _ALWAYS_COUNTED or counts[s]]
    console.print(", ".join(f"{counts[s]} {s}" for s in shown) + f"  (store {uri})")
    console.print(f"driver: {driver.describe()}" if driver is not None else "driver: none running")
    return 0
