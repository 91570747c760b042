"""Study-level analyses run by the driver after the trials finish, from stored checkpoints (never retraining):
affinity and diversity (Gontijo-Lopes et al., ICLR 2021) of each variant's augmentation, measured with the study's
baseline (clean-trained) model, one row per (variant trial, seed), logged on the study's parent run as
``analyses/affinity_diversity.csv``. ``run_study`` calls ``run_study_analyses`` at its end; ``augmix-lab report``
calls ``ensure_study_analyses`` so a store without the table gets it without retraining.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from augmix_lab.analysis.affinity import affinity, diversity
from augmix_lab.tracking.tags import AFFINITY_ARTIFACT

AFFINITY_IMAGES = 1000  # held-out images per measurement (the test split's first N when no held-out split exists)
COLUMNS = ["dataset", "model", "variant", "label", "method", "seed", "run_id", "heldout", "n_images", "clean_acc",
           "augmented_acc", "affinity", "train_loss", "baseline_train_loss", "diversity"]


# ---- pure parts ------------------------------------------------------------------------------------------------------
@torch.no_grad()
def augmentation_accuracies(model_fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                            labels: torch.Tensor, augmentation: Any, *, mean, std, seed: int = 0,
                            batch_size: int = 500) -> tuple[float, float]:
    """(clean accuracy, augmented accuracy) as fractions of ``model_fn`` (normalised float batch -> logits) on uint8
    held-out ``images``; ``augmentation`` is an ``augment.create_augmentation`` object (jsd arity 1: ``views[0]`` is
    the augmented image). Soft targets (mixup, cutmix) count against their dominant class."""
    from augmix_lab.augment import normalize

    gen = torch.Generator(device=images.device).manual_seed(seed)
    clean = aug = 0
    for i in range(0, len(images), batch_size):
        xb, yb = images[i:i + batch_size], labels[i:i + batch_size]
        clean += int((model_fn(normalize(xb, mean, std)).argmax(1) == yb).sum())
        out = augmentation(xb, yb, gen)
        target = out.targets if out.targets.ndim == 1 else out.targets.argmax(1)
        aug += int((model_fn(out.views[0]).argmax(1) == target.to(yb.device)).sum())
    return clean / len(images), aug / len(images)


def affinity_diversity_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (variant trial, seed) with ``clean_acc``, ``augmented_acc`` (fractions), ``train_loss`` and
    ``baseline_train_loss`` filled in; adds ``affinity`` (ratio of accuracies) and ``diversity`` (ratio of final
    training losses; NaN when a loss is missing)."""
    out = []
    for r in rows:
        r = {c: r.get(c, math.nan) for c in COLUMNS}
        r["affinity"] = affinity(r["augmented_acc"], r["clean_acc"]) if r["clean_acc"] > 0 else math.nan
        ok = all(isinstance(r[k], (int, float)) and math.isfinite(r[k]) for k in ("train_loss", "baseline_train_loss"))
        r["diversity"] = diversity(r["train_loss"], r["baseline_train_loss"]) if ok and r["baseline_train_loss"] > 0 \
            else math.nan
        out.append(r)
    return pd.DataFrame(out, columns=COLUMNS)


# ---- driver side -----------------------------------------------------------------------------------------------------
def _final_train_loss(uri: str, run_id: str) -> float:
    from augmix_lab.evaluation.registry import TRAIN_LOSS
    from augmix_lab.tracking import metric_history

    history = [v for step, v in metric_history(uri, run_id, TRAIN_LOSS) if step >= 1]
    return float(history[-1]) if history else math.nan


def _baseline_model(trial: Any, run_id: str, uri: str, out_dir: Path, data_root: str | None):
    """(model on its device, dataset) of a finished baseline trial, from its final checkpoint."""
    from augmix_lab.models import create_model
    from augmix_lab.orchestration.reevaluate import local_checkpoint
    from augmix_lab.tracking import TrialLogger
    from augmix_lab.training.checkpoint import load_checkpoint
    from augmix_lab.device import resolve_device
    from augmix_lab.training.trainer import load_trial_dataset

    cfg = trial.config
    state = load_checkpoint(local_checkpoint(TrialLogger(uri, run_id), out_dir, trial.key))
    ds = load_trial_dataset(cfg, data_root)
    model = create_model(cfg.model, ds.num_classes, cfg.norm)
    model.load_state_dict(state["model"])
    return model.to(resolve_device(cfg.device)).eval(), ds


def heldout_images(cfg: Any, ds: Any, data_root: str | None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(uint8 images, labels, label) to measure affinity on: the study's held-out split of the training data when the
    trial declares one (``dataset.holdout``: the last N training images), else the test split's first N images."""
    n_hold = getattr(cfg.dataset, "holdout", None)
    if n_hold:
        from augmix_lab.data import load_dataset
        from augmix_lab.data.holdout import split_holdout
        from augmix_lab.training.trainer import subset_dataset

        full = subset_dataset(load_dataset(cfg.dataset.name, root=cfg.dataset.root or data_root,
                                           **cfg.dataset.options), cfg.dataset.train_subset, None)
        _, images, labels = split_holdout(full, n_hold)
        n = min(AFFINITY_IMAGES, len(labels))
        return torch.as_tensor(images[:n]), torch.as_tensor(labels[:n]), f"train[-{n_hold}:][:{n}]"
    n = min(AFFINITY_IMAGES, len(ds.test_labels))
    images = ds.test_images[:n]
    images = images if isinstance(images, torch.Tensor) else torch.stack([ds.test_images[i] for i in range(n)])
    return images, torch.as_tensor(np.asarray(ds.test_labels[:n])), f"test[:{n}]"


def compute_affinity_diversity(plan: Any, uri: str, data_root: str | None = None) -> pd.DataFrame | None:
    """The affinity/diversity table of a study plan's finished trials (None: no baseline variant or no finished
    baseline run). Each variant trial is paired with the baseline run of the same dataset, model and seed."""
    from augmix_lab.augment import create_augmentation
    from augmix_lab.training.spec import MethodSpec
    from augmix_lab.training.step import augmentation_options

    baseline = plan.study.spec.baseline
    done = [t for t in plan.trials if t.key in plan.complete]
    bases = {(t.config.dataset.name, t.config.model, t.seed): t for t in done if t.variant == baseline}
    if not baseline or not bases:
        return None
    rows = []
    for (dataset, model_name, seed), base in sorted(bases.items(), key=lambda kv: str(kv[0])):
        model, ds = _baseline_model(base, plan.complete[base.key], uri, plan.out_dir, data_root)
        device = next(model.parameters()).device
        images, labels, heldout = heldout_images(base.config, ds, data_root)
        images, labels, n = images.to(device), labels.to(device), len(labels)
        base_loss = _final_train_loss(uri, plan.complete[base.key])
        for t in done:
            cfg = t.config
            if (cfg.dataset.name, cfg.model, t.seed) != (dataset, model_name, seed):
                continue
            spec = MethodSpec.parse(cfg.method)
            aug = create_augmentation(spec.augmentation, augmentation_options(cfg, spec), jsd_arity=1,
                                      num_classes=ds.num_classes, mean=ds.mean, std=ds.std,
                                      kind=ds.kind, image_size=ds.image_size)
            clean_acc, aug_acc = augmentation_accuracies(model, images, labels, aug, mean=ds.mean, std=ds.std,
                                                         seed=seed)
            axes = {k: v for k, v in t.axes.items() if k not in ("variant", "seed", "dataset.name", "model")}
            label = t.variant + (f" [{', '.join(f'{k}={v}' for k, v in sorted(axes.items()))}]" if axes else "")
            rows.append({"dataset": dataset, "model": model_name, "variant": t.variant, "label": label,
                         "method": cfg.method, "seed": seed, "run_id": plan.complete[t.key],
                         "heldout": heldout, "n_images": n, "clean_acc": clean_acc, "augmented_acc": aug_acc,
                         "train_loss": _final_train_loss(uri, plan.complete[t.key]),
                         "baseline_train_loss": base_loss})
    return affinity_diversity_table(rows)


def _stored_run_ids(uri: str, parent_id: str) -> set[str] | None:
    from augmix_lab.tracking.reader import StoreReader

    table = StoreReader(uri).table(parent_id, AFFINITY_ARTIFACT)
    return None if table is None or "run_id" not in table else set(table["run_id"].astype(str))


def run_study_analyses(plan: Any, uri: str, parent_id: str, data_root: str | None = None, console: Any = None,
                       ) -> pd.DataFrame | None:
    """Compute and log the study-level analyses unless the parent run already holds them for the same finished runs
    (re-running a study never recomputes what is up to date). Failures are reported, never fatal."""
    from augmix_lab.tracking import TrialLogger

    try:
        if _stored_run_ids(uri, parent_id) == set(plan.complete.values()) or not plan.study.spec.baseline:
            return None
        table = compute_affinity_diversity(plan, uri, data_root)
        if table is not None and len(table):
            TrialLogger(uri, parent_id).log_table(table, AFFINITY_ARTIFACT)
            if console is not None:
                console.print(f"affinity/diversity: {len(table)} row(s) -> {AFFINITY_ARTIFACT} on the study run")
        return table
    except Exception as exc:  # noqa: BLE001 - an analysis must not fail a study whose trials all finished
        if console is not None:
            console.print(f"[yellow]affinity/diversity skipped[/yellow]: {type(exc).__name__}: {exc}")
        return None


def ensure_study_analyses(uri: str, experiment: str, out_dir: Path | None, data_root: str | None = None,
                          console: Any = None) -> pd.DataFrame | None:
    """``augmix-lab report``'s hook: when the latest study run lacks the analyses, rebuild the plan from the study
    file it recorded and compute them from the stored checkpoints (no training)."""
    from augmix_lab.orchestration.plan import load_plan, lookup_store
    from augmix_lab.tracking import TRACKING_TAGS
    from augmix_lab.tracking.reader import StoreReader

    reader = StoreReader(uri)
    exp_id = reader.experiment_id(experiment)
    parents = sorted(reader.runs(exp_id, "study"), key=lambda r: (r.start_time, r.run_id)) if exp_id else []
    if not parents or _stored_run_ids(uri, parents[-1].run_id) is not None:
        return None
    study_file = parents[-1].tags.get(TRACKING_TAGS.study_file)
    if not study_file or not Path(study_file).is_file():
        return None
    try:
        plan = load_plan(study_file, str(out_dir) if out_dir is not None else None)
        lookup_store(plan, uri)
    except Exception as exc:  # noqa: BLE001 - an edited or moved study file only skips the analysis
        if console is not None:
            console.print(f"[yellow]affinity/diversity not recomputed[/yellow]: {type(exc).__name__}: {exc}")
        return None
    plan.complete.update(plan.reevaluate)  # finished runs evaluated with other settings still have their checkpoint
    return run_study_analyses(plan, uri, parents[-1].run_id, data_root, console)
