"""Study-level analyses in the driver: after a study's trials (``run``) or on demand (``augmix-lab analyze
STUDY.yaml``), measured from the stored final checkpoints (never retraining) and logged on the study's parent run.
The report only reads them. The one home of analysis orchestration; the pure computations are ``analysis/``.

Affinity and diversity (Gontijo-Lopes et al., ICLR 2021) of each variant's augmentation, measured with the study's
baseline (clean-trained) model through its trial ``Scorer``, one row per (variant trial, seed):
``analyses/affinity_diversity.csv`` (``tracking.tags.AFFINITY_ARTIFACT``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from augmix_lab.analysis.affinity import affinity_diversity_table
from augmix_lab.tracking.tags import AFFINITY_ARTIFACT

AFFINITY_IMAGES = 1000  # held-out images per measurement (the test split's first N when no held-out split exists)
AFFINITY_BATCH = 500  # images per augmentation draw and forward


# ---- measurements ----------------------------------------------------------------------------------------------------
def augmentation_accuracies(
    scorer: Any, images: torch.Tensor, labels: torch.Tensor, augmentation: Any, *, seed: int = 0
) -> tuple[float, float]:
    """(clean accuracy, augmented accuracy) as fractions of ``scorer`` (an ``evaluation.Scorer``) on uint8 held-out
    ``images``; ``augmentation`` is an ``augment.create_augmentation`` object (jsd arity 1: ``views[0]`` is the
    augmented, normalised image). Soft targets (mixup, cutmix) count against their dominant class."""
    gen = torch.Generator(device=images.device).manual_seed(seed)
    clean = aug = 0
    with torch.no_grad():
        for i in range(0, len(images), scorer.batch_size):
            xb, yb = images[i : i + scorer.batch_size], labels[i : i + scorer.batch_size]
            clean += int((scorer.logits(xb).argmax(1) == yb.to(scorer.device)).sum())
            out = augmentation(xb, yb, gen)
            target = out.targets if out.targets.ndim == 1 else out.targets.argmax(1)
            aug += int((scorer.forward(out.views[0]).argmax(1) == target.to(scorer.device)).sum())
    return clean / len(images), aug / len(images)


def trial_model(trial: Any, run_id: str, uri: str, out_dir: Path, data_root: str | None) -> tuple[Any, Any]:
    """(model on its device in eval mode, ``data.trial.TrialData``) of a finished trial, from its final checkpoint
    (the trial's work directory, else its run in the store)."""
    from augmix_lab.data.trial import load_trial_data
    from augmix_lab.device import resolve_device
    from augmix_lab.orchestration.trainable import final_checkpoint
    from augmix_lab.training.checkpoint import final_model, load_final

    cfg = trial.config
    state = load_final(final_checkpoint(out_dir, trial.key, uri, run_id))
    data = load_trial_data(cfg, data_root)
    return final_model(state, data.dataset.num_classes, resolve_device(cfg.device)), data


def heldout_images(data: Any) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(uint8 images, labels, label) to measure affinity on: the study's held-out split of the training data when the
    trial declares one (``dataset.holdout``: the last N training images), else the test split's first N images."""
    ds = data.dataset
    if data.heldout_images is not None:
        n = min(AFFINITY_IMAGES, len(data.heldout_labels))
        held = f"train[-{len(data.heldout_labels)}:][:{n}]"
        return torch.as_tensor(data.heldout_images[:n]), torch.as_tensor(data.heldout_labels[:n]), held
    n = min(AFFINITY_IMAGES, len(ds.test_labels))
    images = ds.test_images[:n]
    images = images if isinstance(images, torch.Tensor) else torch.stack([ds.test_images[i] for i in range(n)])
    return images, torch.as_tensor(ds.test_labels[:n]), f"test[:{n}]"


def _final_train_loss(uri: str, run_id: str) -> float:
    from augmix_lab.evaluation.registry import TRAIN_LOSS
    from augmix_lab.tracking import metric_history

    history = [v for step, v in metric_history(uri, run_id, TRAIN_LOSS) if step >= 1]
    return float(history[-1]) if history else math.nan


def trial_label(trial: Any) -> str:
    """The variant name with the trial's other axis values (the report's row label)."""
    axes = {k: v for k, v in trial.axes.items() if k not in ("variant", "seed", "dataset.name", "model")}
    return trial.variant + (f" [{', '.join(f'{k}={v}' for k, v in sorted(axes.items()))}]" if axes else "")


def _affinity_rows(plan: Any, base: Any, uri: str, data_root: str | None) -> list[dict[str, Any]]:
    """One row per finished trial of ``base``'s dataset, model and seed, measured with ``base``'s model."""
    from augmix_lab.augment import create_augmentation
    from augmix_lab.training.spec import MethodSpec
    from augmix_lab.training.step import augmentation_options
    from augmix_lab.training.trainer import trial_scorer

    model, data = trial_model(base, plan.complete[base.key], uri, plan.out_dir, data_root)
    ds = data.dataset
    scorer = trial_scorer(model, ds, base.config, next(model.parameters()).device, batch_size=AFFINITY_BATCH)
    images, labels, heldout = heldout_images(data)
    images, labels = images.to(scorer.device), labels.to(scorer.device)
    base_loss = _final_train_loss(uri, plan.complete[base.key])
    rows = []
    for t in plan.trials:
        cfg = t.config
        if t.key not in plan.complete or (cfg.dataset.name, cfg.model, t.seed) != (
            base.config.dataset.name,
            base.config.model,
            base.seed,
        ):
            continue
        spec = MethodSpec.parse(cfg.method)
        aug = create_augmentation(
            spec.augmentation,
            augmentation_options(cfg, spec),
            jsd_arity=1,
            num_classes=ds.num_classes,
            mean=ds.mean,
            std=ds.std,
            kind=ds.kind,
            image_size=ds.image_size,
        )
        clean_acc, aug_acc = augmentation_accuracies(scorer, images, labels, aug, seed=t.seed)
        rows.append(
            {
                "dataset": cfg.dataset.name,
                "model": cfg.model,
                "variant": t.variant,
                "label": trial_label(t),
                "method": cfg.method,
                "seed": t.seed,
                "run_id": plan.complete[t.key],
                "heldout": heldout,
                "n_images": len(labels),
                "clean_acc": clean_acc,
                "augmented_acc": aug_acc,
                "train_loss": _final_train_loss(uri, plan.complete[t.key]),
                "baseline_train_loss": base_loss,
            }
        )
    return rows


def compute_affinity_diversity(plan: Any, uri: str, data_root: str | None = None) -> Any:
    """The affinity/diversity table of a study plan's finished trials (None: no baseline variant or no finished
    baseline run). Each variant trial is paired with the baseline run of the same dataset, model and seed."""
    baseline = plan.study.spec.baseline
    bases = {
        (t.config.dataset.name, t.config.model, t.seed): t
        for t in plan.trials
        if t.key in plan.complete and t.variant == baseline
    }
    if not baseline or not bases:
        return None
    rows = [
        r
        for _, base in sorted(bases.items(), key=lambda kv: str(kv[0]))
        for r in _affinity_rows(plan, base, uri, data_root)
    ]
    return affinity_diversity_table(rows)


def _stored_run_ids(uri: str, parent_id: str) -> set[str] | None:
    from augmix_lab.tracking.reader import StoreReader

    table = StoreReader(uri).table(parent_id, AFFINITY_ARTIFACT)
    return None if table is None or "run_id" not in table else set(table["run_id"].astype(str))


def log_affinity_diversity(plan: Any, uri: str, parent_id: str, data_root: str | None, console: Any) -> Any:
    """Compute and log the affinity/diversity table unless the parent run holds it for the same finished runs."""
    if _stored_run_ids(uri, parent_id) == set(plan.complete.values()) or not plan.study.spec.baseline:
        return None
    return store_table(compute_affinity_diversity(plan, uri, data_root), uri, parent_id, AFFINITY_ARTIFACT,
                       "affinity/diversity", console)  # fmt: skip


def store_table(table: Any, uri: str, parent_id: str, artifact: str, title: str, console: Any) -> Any:
    """Log a study-level analysis table (when it has rows) on the study's parent run, saying so; returns it."""
    from augmix_lab.tracking import TrialLogger

    if table is not None and len(table):
        TrialLogger(uri, parent_id).log_table(table, artifact)
        if console is not None:
            console.print(f"{title}: {len(table)} row(s) -> {artifact} on the study run")
    return table


# ---- the study's analyses --------------------------------------------------------------------------------------------
# (name, fn(plan, uri, parent_id, data_root, console) -> table or None): each skips what is stored and up to date
def log_msd(plan: Any, uri: str, parent_id: str, data_root: str | None, console: Any) -> Any:
    from augmix_lab.orchestration.msd import log_msd as log  # analyses.msd (Mintun et al. 2021)

    return log(plan, uri, parent_id, data_root, console)


STUDY_ANALYSES: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("minimal sample distance", log_msd),
    ("affinity/diversity", log_affinity_diversity),
)


def run_study_analyses(plan: Any, uri: str, parent_id: str, data_root: str | None = None, console: Any = None) -> bool:
    """Compute and log every study-level analysis that is not stored for the same finished runs (re-running a study
    never recomputes what is up to date). A failure is reported, never fatal to the study; False when one failed."""
    ok = True
    for name, analyse in STUDY_ANALYSES:
        try:
            analyse(plan, uri, parent_id, data_root, console)
        except Exception as exc:  # noqa: BLE001 - an analysis must not fail a study whose trials all finished
            ok = False
            if console is not None:
                console.print(f"[yellow]{name} skipped[/yellow]: {type(exc).__name__}: {exc}")
    return ok


def analyze_study(study_path: str, *, out: str | None = None, data_root: str | None = None, console: Any = None) -> int:
    """``augmix-lab analyze STUDY.yaml``: the study-level analyses of its finished trials, from their stored
    checkpoints (no training). Exit 0 when every analysis succeeded, 1 otherwise; bad input raises ``UserError``."""
    from augmix_lab.console import make_console
    from augmix_lab.orchestration.lock import driver_lock
    from augmix_lab.orchestration.plan import load_plan, lookup_store
    from augmix_lab.orchestration.runner import open_study

    console = console or make_console(stderr=True)
    plan = load_plan(study_path, out)
    with driver_lock(plan.out_dir):  # it writes the study's parent run: not beside a running `augmix-lab run`
        uri, tracker, parent_id = open_study(plan)
        lookup_store(plan, uri)
        plan.complete.update(plan.reevaluate)  # finished runs evaluated with other settings still have their checkpoint
        ok = run_study_analyses(plan, uri, parent_id, data_root, console)
        tracker.finish_study(
            parent_id, "FINISHED" if not plan.todo else "FAILED", None if not plan.todo else "trials missing"
        )
    return 0 if ok else 1
