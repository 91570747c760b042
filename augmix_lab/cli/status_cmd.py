"""`augmix-lab status STUDY.yaml`: trials done / running / failed / to run, read from the store (no Ray), with reasons.

Safe while the study runs: it only reads (one search of the study's trial runs and one of finished trials).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

STATES = ("done", "re-evaluate", "running", "failed", "to run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (studies/*.yaml)")
    parser.add_argument("--out", default=None, help="study directory (default: output_dir in the study, else runs/<name>)")


@dataclass(frozen=True)
class TrialStatus:
    key: str
    label: str
    state: str  # one of STATES
    detail: str  # epoch reached, or the failure reason's first line


def study_status(study_path: str, out: str | None = None) -> tuple[str, list[TrialStatus]]:
    """The store's URI and one ``TrialStatus`` per trial of the study, in the study's order."""
    from pathlib import Path

    from augmix_lab.orchestration.plan import experiment_for, load_plan
    from augmix_lab.tracking import check_reachable, finished_trials, resolve_tracking
    from augmix_lab.tracking.lookup import trial_states
    from augmix_lab.tracking.store import is_sqlite_uri, sqlite_path

    plan = load_plan(study_path, out)
    uri, _ = resolve_tracking(plan.study.spec.tracking.uri, plan.out_dir)
    if is_sqlite_uri(uri) and not Path(sqlite_path(uri)).is_file():
        return uri, [TrialStatus(t.key, t.label, "to run", "") for t in plan.trials]  # never creates a store
    check_reachable(uri)
    experiment = experiment_for(plan.study)
    keys = [t.key for t in plan.trials]
    finished = finished_trials(uri, experiment, keys)  # any study's finished run of the same training counts
    states = trial_states(uri, experiment, plan.study.name)
    rows = []
    for t in plan.trials:
        done, run = finished.get(t.key), states.get(t.key)
        if done is not None:
            rows.append(TrialStatus(t.key, t.label, "done" if done.eval_key == t.eval_key else "re-evaluate", ""))
        elif run is not None and run.status in ("RUNNING", "SCHEDULED"):
            epoch = f"epoch {run.last_epoch}/{t.config.epochs}" if run.last_epoch else "starting"
            rows.append(TrialStatus(t.key, t.label, "running", epoch))
        elif run is not None and run.status in ("FAILED", "KILLED"):
            reason = (run.error or run.status.lower()).strip().splitlines()
            rows.append(TrialStatus(t.key, t.label, "failed", reason[0] if reason else run.status.lower()))
        else:
            rows.append(TrialStatus(t.key, t.label, "to run", ""))
    return uri, rows


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from augmix_lab.console import make_console

    console = make_console()
    uri, rows = study_status(args.study, args.out)
    table = Table(title=f"{args.study}: {len(rows)} trials", show_lines=False)
    for column in ("key", "trial", "state", "detail"):
        table.add_column(column, overflow="fold", no_wrap=column == "key")
    style = {"done": "green", "failed": "red", "running": "cyan", "re-evaluate": "yellow"}
    for r in rows:
        table.add_row(r.key, r.label, f"[{style.get(r.state, '')}]{r.state}[/]" if r.state in style else r.state,
                      r.detail)
    console.print(table)
    counts = {s: sum(r.state == s for r in rows) for s in STATES}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) + f"  (store {uri})")
    return 0
