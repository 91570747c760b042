"""`augmix-lab soup STUDY.yaml`: build the study's model soups from its finished trials (no training)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (studies/*.yaml) whose finished trials are the soup members")
    parser.add_argument("--out", default=None,
                        help="study directory (default: output_dir in the study, else runs/<name>)")
    parser.add_argument("--data-root", default=None,
                        help="dataset root (default: $AUGMIX_LAB_DATA or ~/.cache/augmix-lab)")


def run(args: argparse.Namespace) -> int:
    return build_study_soups(args.study, out=args.out, data_root=args.data_root)


def build_study_soups(study_path: str, *, out: str | None = None, data_root: str | None = None,
                      console: object | None = None) -> int:
    """Exit 0 when every soup of the study exists afterwards, 1 otherwise; bad input raises ``UserError``."""
    from augmix_lab.console import make_console
    from augmix_lab.orchestration.lock import driver_lock
    from augmix_lab.orchestration.plan import experiment_for, load_plan, lookup_store
    from augmix_lab.orchestration.soups import run_soups
    from augmix_lab.study.soups import check_soups
    from augmix_lab.tracking import StudyTracker, check_reachable, resolve_tracking

    console = console or make_console(stderr=True)
    plan = load_plan(study_path, out)
    check_soups(plan.study, plan.trials, force=True)  # the command asks for soups even when soups.enabled is off
    uri, artifact_location = resolve_tracking(plan.study.spec.tracking.uri, plan.out_dir)
    check_reachable(uri)
    with driver_lock(plan.out_dir):  # it writes the study's parent run: not beside a running `augmix-lab run`
        tracker = StudyTracker(uri, experiment_for(plan.study), artifact_location)
        parent_id = tracker.start_study(plan.study.name, plan.study.hash, plan.study.text)
        lookup_store(plan, uri)
        ok = run_soups(plan, uri, tracker, parent_id, console, data_root)  # type: ignore[arg-type]
        tracker.finish_study(parent_id, "FINISHED" if ok and not plan.todo else "FAILED",
                             None if ok and not plan.todo else "soups or trials missing")
    return 0 if ok else 1
