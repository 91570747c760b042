"""The study driver: validate -> verdict -> expand -> skip finished -> re-evaluate eval-only changes -> Ray Tune the rest.

The driver alone talks to the tracking store's structure: it creates the study's parent run and every trial's run before
anything launches (no creation races on SQLite, no duplicate runs on re-runs), then hands each trial its run id. Each
invocation builds a fresh ``tune.Tuner`` over the unfinished trials only; resumption is per trial, from the
content-addressed work directory ``<out>/trials/<key>/`` (or Tune's / MLflow's copy of its checkpoint), so a re-run
after Ctrl-C, a killed driver or an edited study never repeats finished work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from augmix_lab.console import make_console
from augmix_lab.orchestration.soups import run_soups  # hook: model soups
from augmix_lab.orchestration.waves import run_waves  # hook: two-stage studies
from augmix_lab.errors import UserError
from augmix_lab.paths import ray_storage_dir, study_dir
from augmix_lab.study import Study, Trial, differing_params, expand_study, read_study
from augmix_lab.study.manifest import read_manifest, verdict, write_manifest
from augmix_lab.study.schema import get_dotted

EVAL_KEY_TAG = "augmix_lab.eval_key"  # docs/architecture.md, tracking tags


@dataclass
class StudyPlan:
    """A study resolved against its output directory (and, when it exists, its tracking store)."""

    study: Study
    trials: list[Trial]
    out_dir: Path
    complete: dict[str, str] = field(default_factory=dict)  # key -> run id, FINISHED with the same eval settings
    reevaluate: dict[str, str] = field(default_factory=dict)  # key -> run id, FINISHED but evaluated differently
    todo: list[Trial] = field(default_factory=list)

    def states(self) -> dict[str, str]:
        return {**{k: "complete" for k in self.complete}, **{k: "reevaluate" for k in self.reevaluate}}


def resolve_out_dir(study: Study, out: str | None) -> Path:
    if out:
        return Path(out).resolve()
    if study.spec.output_dir:
        p = Path(study.spec.output_dir)
        return (p if p.is_absolute() else study.path.resolve().parent / p).resolve()
    return study_dir(study.name)


def load_plan(study_path: str | Path, out: str | None = None) -> StudyPlan:
    study = read_study(study_path)
    trials = expand_study(study)
    return StudyPlan(study=study, trials=trials, out_dir=resolve_out_dir(study, out))


def lookup_store(plan: StudyPlan, uri: str) -> None:
    """Fill ``complete`` / ``reevaluate`` / ``todo`` from the tracking store (content-addressed: any study's runs count)."""
    from mlflow.tracking import MlflowClient

    from augmix_lab.tracking import StudyTracker

    keys = [t.key for t in plan.trials]
    tracker = StudyTracker(uri, experiment_for(plan.study), None)
    finished = tracker.completed_trials(keys)
    client = MlflowClient(tracking_uri=uri)
    for t in plan.trials:
        run_id = finished.get(t.key)
        if run_id is None:
            plan.todo.append(t)
            continue
        stored = client.get_run(run_id).data.tags.get(EVAL_KEY_TAG)
        (plan.complete if stored == t.eval_key else plan.reevaluate)[t.key] = run_id


def experiment_for(study: Study) -> str:
    return study.spec.tracking.experiment or study.name


def print_trial_table(console: Console, plan: StudyPlan, extra: dict[str, str] | None = None) -> None:
    cols = differing_params(plan.trials)
    table = Table(title=f"study {plan.study.name}: {len(plan.trials)} trials", show_lines=False)
    table.add_column("key", no_wrap=True)
    for c in ["variant", "seed", *cols, "state"]:
        table.add_column(c, overflow="fold")
    states = plan.states()
    for t in plan.trials:
        flat = t.config.model_dump(mode="json")
        vals = []
        for c in cols:
            try:
                vals.append(str(get_dotted(flat, c)))
            except KeyError:
                vals.append("")
        state = states.get(t.key, "to run")
        if extra and t.key in extra:
            state = f"{state} {extra[t.key]}"
        table.add_row(t.key, t.variant, str(t.seed), *vals, state)
    console.print(table)


def print_verdict(console: Console, plan: StudyPlan) -> None:
    v = verdict(read_manifest(plan.out_dir), plan.trials)
    console.print(f"[bold]verdict[/bold] {plan.study.path}: {v.summary(plan.study.hash)}")
    if v.orphaned:
        console.print(f"  orphaned (kept in the store, not part of this study any more): {', '.join(v.orphaned)}")


def _short_temp_dir(out_dir: Path) -> str:
    """Ray's session dir: short on purpose, its unix socket paths must stay under ~107 bytes (AF_UNIX limit)."""
    return f"/tmp/ray-{hashlib.sha256(str(out_dir).encode()).hexdigest()[:8]}"


RAY_AUTH_MODE_ENV = "RAY_AUTH_MODE"  # Ray's token-authentication switch (ray/_private/authentication)
RAY_TOKEN_FILE = "~/.ray/auth_token"  # where `ray start --head` saves a cluster's token by default


def use_token_if_available() -> None:
    """Connect with token auth when a token is at hand and the mode is unset, as Ray does for clusters it starts.

    `ray start --head` turns token authentication on by default, but a driver connecting by address does not, so
    without this a driver on the head node itself is refused ("Authentication token is missing").
    """
    try:  # Ray's own rule (and its config refresh); private, hence the guard
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def init_ray(address: str | None, out_dir: Path) -> bool:
    """Connect to ``address`` / ``$RAY_ADDRESS``, or start a local Ray sized to this machine. True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        use_token_if_available()
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"cannot connect to the Ray cluster at {address!r}: {exc}. If the cluster uses token authentication "
                f"(the default of `ray start` since Ray 2.5x), set {RAY_AUTH_MODE_ENV}=token and give this machine its "
                f"token as $RAY_AUTH_TOKEN or {RAY_TOKEN_FILE}".replace("\n", " ")
            ) from None
        return True
    temp_dir = _short_temp_dir(out_dir)
    for attempt in (1, 2):  # Ray waits a fixed 30 s for its raylet; a heavily loaded machine can miss that once
        try:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False,
                     logging_level="ERROR", configure_logging=True)
            break
        except Exception:  # noqa: BLE001 - Ray raises a bare Exception on a start-up timeout
            ray.shutdown()
            if attempt == 2:
                raise
    logs = ray_storage_dir(out_dir) / "logs"
    logs.parent.mkdir(parents=True, exist_ok=True)
    try:  # Ray's session logs live in the short temp dir; make them findable from the study directory
        if logs.is_symlink() or logs.exists():
            logs.unlink()
        logs.symlink_to(Path(temp_dir) / "session_latest" / "logs")
    except OSError:
        pass
    return True


def _create_runs(plan: StudyPlan, tracker: Any, parent_id: str, launch: str) -> dict[str, str]:
    run_ids = {}
    for t in plan.todo:
        cfg_dict = t.config.model_dump(mode="json")
        run_id, _status = tracker.trial_run(
            parent_id, t.key, study=plan.study.name, variant=t.variant, seed=t.seed, axes=t.axes,
            params=t.config.training_dict(), config_yaml=yaml.safe_dump(cfg_dict, sort_keys=False),
            eval_key=t.eval_key, launch=launch,
        )
        run_ids[t.key] = run_id
    return run_ids


def reevaluate(plan: StudyPlan, uri: str, console: Console, data_root: str | None) -> list[str]:
    """Re-score stored checkpoints of trials whose evaluation settings changed; never retrains. Returns failed keys."""
    from mlflow.tracking import MlflowClient

    from augmix_lab.orchestration.trainable import FINAL_CHECKPOINT_FILE, trial_workdir
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.training import evaluate_checkpoint

    failed = []
    by_key = {t.key: t for t in plan.trials}
    for key, run_id in plan.reevaluate.items():
        t = by_key[key]
        logger = TrialLogger(uri, run_id)
        ckpt = trial_workdir(plan.out_dir, key) / "checkpoints" / FINAL_CHECKPOINT_FILE
        try:
            if not ckpt.is_file():
                got = Path(logger.download_checkpoint("final", ckpt.parent))
                if got != ckpt:
                    got.replace(ckpt)
            card = evaluate_checkpoint(t.config, ckpt, data_root=data_root)
            logger.log_scorecard(card.summary, card.table)
            MlflowClient(tracking_uri=uri).set_tag(run_id, EVAL_KEY_TAG, t.eval_key)
            plan.complete[key] = run_id
            console.print(f"[cyan]RE-EVALUATED[/cyan] {t.label}  mCE {card.summary.get('mean_corruption_error', float('nan')):.2f}%")
        except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the study
            failed.append(key)
            console.print(f"[red]RE-EVALUATION FAILED[/red] {t.label}: {type(exc).__name__}: {exc}")
    for key in plan.complete:
        plan.reevaluate.pop(key, None)
    return failed


def _scheduler(plan: StudyPlan) -> Any:
    res = plan.study.spec.resources
    if res.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(metric=res.asha.metric, mode=res.asha.mode, time_attr="training_iteration",
                         max_t=max(1, max(t.config.epochs for t in plan.todo)) + 1,  # +1: the final evaluated report
                         grace_period=res.asha.grace_period, reduction_factor=res.asha.reduction_factor)


def run_tune(plan: StudyPlan, uri: str, run_ids: dict[str, str], launch: str, console: Console,
             max_concurrent: int | None, data_root: str | None) -> tuple[list[str], list[str]]:
    """One Tuner over the unfinished trials. Returns (finished keys, failed keys)."""
    from ray import tune

    from augmix_lab.orchestration.progress import StudyProgress
    from augmix_lab.orchestration.trainable import DONE_METRIC, FAILED_METRIC, train_trial
    from augmix_lab.tracking import TrialLogger

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter honours verbose=0: no tables, no banners
    res = plan.study.spec.resources
    payload = {t.key: {"config": t.config.model_dump(mode="json"), "run_id": run_ids[t.key], "launch": launch}
               for t in plan.todo}
    trainable = tune.with_parameters(train_trial, trials=payload, tracking_uri=uri, out_dir=str(plan.out_dir),
                                     data_root=data_root, cpus_per_trial=res.cpus_per_trial)
    trainable = tune.with_resources(trainable, {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial})
    labels = {t.key: t.label for t in plan.todo}
    progress = StudyProgress(len(plan.todo), labels, console)
    tuner = tune.Tuner(
        trainable,
        param_space={"trial_key": tune.grid_search([t.key for t in plan.todo])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent or res.max_concurrent_trials, scheduler=_scheduler(plan),
            reuse_actors=True,  # no new worker process (torch import, ~5 s) per trial; trials share no state
            trial_name_creator=lambda trial: labels.get(trial.config["trial_key"], trial.trial_id),
            trial_dirname_creator=lambda trial: trial.config["trial_key"],
        ),
        run_config=tune.RunConfig(
            name=f"{plan.study.name}-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=res.storage_path or str(ray_storage_dir(plan.out_dir)),
            failure_config=tune.FailureConfig(max_failures=res.retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1), callbacks=[progress], verbose=0,
        ),
    )
    quiet = [logging.getLogger(name) for name in ("ray.tune", "ray.train", "ray.air")]
    levels = [lg.level for lg in quiet]
    try:  # our progress view reports each trial; failures' tracebacks are in MLflow and Ray's logs
        for lg in quiet:
            lg.setLevel(logging.CRITICAL)
        with progress:
            grid = tuner.fit()
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    finished, failed = [], []
    for result in grid:
        key = (result.config or {}).get("trial_key")
        metrics = result.metrics or {}
        if key is None:
            continue
        if result.error is not None or metrics.get(FAILED_METRIC):
            failed.append(key)
        elif metrics.get(DONE_METRIC):
            finished.append(key)
        else:  # stopped by the scheduler (ASHA) before the end: a deliberate outcome, recorded as KILLED
            TrialLogger(uri, run_ids[key], launch).set_status("KILLED", "stopped early by the ASHA scheduler")
    return finished, failed


def run_study(study_path: str | Path, *, out: str | None = None, address: str | None = None,
              max_concurrent: int | None = None, dry_run: bool = False, data_root: str | None = None,
              console: Console | None = None) -> int:
    """``augmix-lab run``. Exit code: 0 all trials complete, 1 any failed; bad input raises ``UserError`` (exit 2)."""
    from augmix_lab.tracking import StudyTracker, check_reachable, resolve_tracking

    console = console or make_console(stderr=True)
    plan = load_plan(study_path, out)
    spec = plan.study.spec
    print_verdict(console, plan)
    if dry_run:
        print_trial_table(console, plan)
        console.print(f"dry run: {len(plan.trials)} trials, nothing started")
        return 0

    uri, artifact_location = resolve_tracking(spec.tracking.uri, plan.out_dir)
    check_reachable(uri)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    tracker = StudyTracker(uri, experiment_for(plan.study), artifact_location)
    parent_id = tracker.start_study(plan.study.name, plan.study.hash, plan.study.text,
                                    tags={"augmix_lab.study_file": str(plan.study.path.resolve())})
    lookup_store(plan, uri)
    console.print(f"{len(plan.trials)} trials: {len(plan.complete)} complete, {len(plan.reevaluate)} to re-evaluate, "
                  f"{len(plan.todo)} to train  (store {uri})")
    write_manifest(plan.out_dir, plan.study, plan.trials, plan.states())

    failed = reevaluate(plan, uri, console, data_root) if plan.reevaluate else []
    if plan.todo:
        launch = uuid.uuid4().hex  # this invocation's claim on the runs it hands out (tracking "one owner per run")
        run_ids = _create_runs(plan, tracker, parent_id, launch)
        started = init_ray(address or spec.resources.address, plan.out_dir)
        try:
            # hook: two-stage studies run in dependency waves (orchestration/waves.py); one wave = run_tune as before
            finished, tune_failed = run_waves(plan, uri, run_ids, launch, console, max_concurrent, data_root, run_tune)
        finally:
            if started:
                import ray

                ray.shutdown()
        plan.complete.update({k: run_ids[k] for k in finished})
        failed += tune_failed
    states = plan.states()
    states.update({k: "failed" for k in failed})
    write_manifest(plan.out_dir, plan.study, plan.trials, states)
    ok = len(plan.complete) == len(plan.trials) and not failed
    if spec.soups.enabled:  # hook: model soups of the finished trials (orchestration/soups.py)
        ok = run_soups(plan, uri, tracker, parent_id, console, data_root) and ok
    tracker.finish_study(parent_id, "FINISHED" if ok else "FAILED")
    console.print(f"study {plan.study.name}: {len(plan.complete)}/{len(plan.trials)} complete, {len(failed)} failed "
                  f"-> {plan.out_dir}")
    return 0 if ok else 1
