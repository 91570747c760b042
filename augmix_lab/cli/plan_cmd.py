"""`augmix-lab plan STUDY.yaml`: the resolved trial table, what is already done, and a measured cost estimate."""

from __future__ import annotations

import argparse
from typing import Any

from augmix_lab.study.overrides import add_set_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (studies/*.yaml)")
    parser.add_argument(
        "--out", default=None, help="study directory (default: output_dir in the study, else runs/<name>)"
    )
    parser.add_argument(
        "--data-root", default=None, help="dataset root (default: $AUGMIX_LAB_DATA or ~/.cache/augmix-lab)"
    )
    parser.add_argument("--no-estimate", action="store_true", help="skip the measured cost estimate")
    add_set_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from augmix_lab.console import make_console
    from augmix_lab.corruptions.sources import warn_source_fallbacks
    from augmix_lab.orchestration.estimate import estimate_trials, format_duration
    from augmix_lab.orchestration.plan import load_plan, lookup_store, print_trial_table, print_verdict
    from augmix_lab.orchestration.step_cache import cache_path
    from augmix_lab.tracking import check_reachable, resolve_tracking
    from augmix_lab.tracking.store import is_sqlite_uri, sqlite_path, store_errors

    console = make_console()
    plan = load_plan(args.study, args.out, tuple(args.set or ()))
    warn_source_fallbacks([t.config for t in plan.trials], args.data_root)
    print_verdict(console, plan)
    uri, _ = resolve_tracking(plan.study.spec.tracking.uri, plan.out_dir)
    store_exists = not (is_sqlite_uri(uri) and not Path(sqlite_path(uri)).is_file())
    if not store_exists:
        plan.todo = list(plan.trials)  # no store yet: nothing is done, and planning must not create one
    else:
        check_reachable(uri)
        with store_errors(uri):
            lookup_store(plan, uri)
    extra: dict[str, str] = {}
    total = 0.0
    notes: set[str] = set()
    if not args.no_estimate:
        logged = {} if not store_exists else logged_costs(uri, plan)
        estimates = estimate_trials(plan.todo, data_root=args.data_root, logged=logged, context=plan.trials)
        methods = {t.key: f"{t.config.model} + {t.config.method}" for t in plan.trials}
        for key, est in estimates.items():
            extra[key] = f"~{format_duration(est.seconds)}"
            total += est.seconds
            if est.note:
                notes.add(f"{methods[key]}: {est.note}")
    print_trial_table(console, plan, extra)
    console.print(
        f"{len(plan.trials)} trials: {len(plan.complete)} complete, {len(plan.reevaluate)} need re-evaluation "
        f"only, {len(plan.todo)} to train  (store {uri})"
    )
    if not args.no_estimate:
        res = plan.study.spec.resources
        import os

        slots = max(1, int((os.cpu_count() or 1) // res.cpus_per_trial))
        if res.max_concurrent_trials:
            slots = min(slots, res.max_concurrent_trials)
        console.print(
            f"estimated cost on this machine: {format_duration(total)} of trial time "
            f"(~{format_duration(total / slots)} wall with {slots} concurrent trial(s)); measured from a few "
            f"training steps, evaluation extrapolated; step costs cached in {cache_path()}"
        )
        for note in sorted(notes):
            console.print(f"[yellow]not cached[/yellow] (measured again next time) {note}")
    return 0


def logged_costs(uri: str, plan: Any) -> dict[str, float]:
    """The study's own logged seconds per training image, per trial key (empty when the store cannot tell)."""
    from augmix_lab.orchestration.plan import experiment_for
    from augmix_lab.tracking.lookup import logged_step_costs
    from augmix_lab.tracking.store import store_errors

    with store_errors(uri):
        return logged_step_costs(uri, experiment_for(plan.study), plan.study.name)
