"""``augmix-lab run STUDY --smoke``: prove every trial starts, loads its data, trains, evaluates and logs, in minutes.

Each distinct trial (seeds collapsed: a second seed runs the same code) is shrunk to one epoch of ``SMOKE_STEPS``
batches (``dataset.train_subset`` = batch size × steps), ``SMOKE_TEST_IMAGES`` test images, ``SMOKE_CORRUPTIONS``
corruptions at one severity and ``SMOKE_PERTURBATIONS`` perturbation on a couple of videos, keeping model, method,
dataset, batch size, device, sources and every evaluation option as the study has them. It runs into its own store
``<out>/smoke/`` (SQLite + Ray storage there, whatever the study's tracking URI), so the study's store is never touched.
Every trial's dataset and benchmark files are checked on the driver first (``preflight.check_inputs``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from rich.console import Console

from augmix_lab.config import TrialConfig
from augmix_lab.orchestration.plan import StudyPlan
from augmix_lab.orchestration.preflight import check_inputs
from augmix_lab.study.expand import Trial, dataset_version, eval_key
from augmix_lab.study.init import parents_of

SMOKE_DIR = "smoke"  # <out>/smoke: the smoke run's own tracking store, manifest, trial dirs and Ray storage
SMOKE_STEPS = 2  # training steps per trial
SMOKE_TEST_IMAGES = 64  # clean and on-the-fly corrupted test images
SMOKE_CORRUPTIONS = 2  # corruptions scored (at one severity): "a couple of cells"
SMOKE_PERTURBATIONS = 1
SMOKE_VIDEOS = 2


def smoke_config(cfg: TrialConfig) -> TrialConfig:
    """The trial shrunk to a few steps and a couple of evaluation cells; everything else as configured."""
    from augmix_lab.corruptions.constants import BENCHMARK_CORRUPTIONS, TEST_PERTURBATIONS

    d = cfg.model_dump(mode="json")
    ds = d["dataset"]
    n_train = cfg.train.batch_size * SMOKE_STEPS  # no max-steps setting: the subset bounds the steps (drop_last)
    if cfg.dataset.labelled is not None and cfg.dataset.labelled.fraction is not None:
        n_train = math.ceil(n_train / cfg.dataset.labelled.fraction)  # the labelled part keeps ~SMOKE_STEPS batches
    ds["train_subset"] = min(ds["train_subset"] or n_train, n_train)
    ds["test_subset"] = min(ds["test_subset"] or SMOKE_TEST_IMAGES, SMOKE_TEST_IMAGES)
    d["epochs"] = min(cfg.epochs, 1)
    c, p = d["eval"]["corruptions"], d["eval"]["perturbations"]
    c["names"] = list(c["names"] or BENCHMARK_CORRUPTIONS)[:SMOKE_CORRUPTIONS]
    c["severities"] = c["severities"][-1:]  # the harshest configured severity
    b = d["eval"]["c_bar"]
    if b["enabled"]:  # C-bar likewise (its names default to the profile's 10)
        from augmix_lab.corruptions.generate import profile_for_name
        from augmix_lab.corruptions.registry import corruption_names

        b["names"] = list(b["names"] or corruption_names(suite="c_bar", profile=profile_for_name(ds["name"])))[
            :SMOKE_CORRUPTIONS
        ]
        b["severities"] = b["severities"][-1:]
    p["names"] = list(p["names"] or TEST_PERTURBATIONS)[:SMOKE_PERTURBATIONS]
    p["max_videos"] = min(p["max_videos"] or SMOKE_VIDEOS, SMOKE_VIDEOS)
    return TrialConfig.model_validate(d)


def smoke_trials(trials: list[Trial]) -> list[Trial]:
    """One shrunk trial per distinct training config up to the seed, keyed like any trial (in the smoke store);
    a two-stage child or self-training student points at its shrunk parent (parents first)."""
    from augmix_lab.orchestration.waves import dependency_waves

    out: list[Trial] = []
    seen: set[str] = set()
    smoke_key: dict[str, str] = {}  # study key -> smoke key
    for t in [t for wave in dependency_waves(trials, set()) for t in wave]:
        sans_seed = t.config.model_dump(mode="json")
        sans_seed.pop("seed")
        for part in ("init", "teacher"):  # the parents' keys differ by seed too
            sans_seed[part].pop("parent_key")
        ident = json.dumps([t.variant, t.axes, sans_seed], sort_keys=True, default=str)
        if ident in seen or not all(p in smoke_key for p in parents_of(t.config)):
            continue
        seen.add(ident)
        cfg = smoke_config(t.config)
        for part in ("init", "teacher"):
            block = getattr(cfg, part)
            if block.parent_key is not None:
                cfg = cfg.model_copy(
                    update={part: block.model_copy(update={"parent_key": smoke_key[block.parent_key]})}
                )
        key = cfg.fingerprint(dataset_version(cfg.dataset))
        smoke_key[t.key] = key
        out.append(Trial(key=key, variant=t.variant, seed=t.seed, axes=t.axes, config=cfg, eval_key=eval_key(cfg.eval)))
    return out


def smoke_plan(plan: StudyPlan, data_root: str | None = None, console: Console | None = None) -> StudyPlan:
    """The smoke version of ``plan``: inputs checked (UserError listing every missing one), trials shrunk, own store."""
    check_inputs([t.config for t in plan.trials], data_root, what=f"{plan.study.path} (--smoke)")
    spec = plan.study.spec
    smoke_spec = spec.model_copy(
        update={
            "tracking": spec.tracking.model_copy(update={"uri": None}),  # never the study's (possibly shared) store
            "resources": spec.resources.model_copy(update={"storage_path": None, "scheduler": "none"}),
        }
    )
    study: Any = dataclasses.replace(plan.study, spec=smoke_spec)
    trials = smoke_trials(plan.trials)
    out_dir = plan.out_dir / SMOKE_DIR
    if console is not None:
        console.print(
            f"[bold]smoke[/bold] {len(plan.trials)} trials -> {len(trials)} smoke trials (seeds collapsed; "
            f"1 epoch of {SMOKE_STEPS} steps, {SMOKE_TEST_IMAGES} test images, {SMOKE_CORRUPTIONS} "
            f"corruption cells) into {out_dir}"
        )
    return StudyPlan(study=study, trials=trials, out_dir=out_dir)
