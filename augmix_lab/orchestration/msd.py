"""Minimal Sample Distance as a study-level analysis (``analyses.msd``), run by the driver after the trials (and by
``augmix-lab analyze``) from the stored final checkpoint of the ``baseline`` (clean-trained) variant, logged on the
study's parent run as ``analyses/msd.csv`` (``tracking.tags.MSD_ARTIFACT``); the report only reads it.

One row per (baseline seed, variant, corruption, severity): msd = min over ``samples`` draws a of the variant's
augmentation of ||f(a) - E_c f(c)||, mmd = ||E_a f(a) - E_c f(c)||, with f(t) the mean penultimate feature of the
baseline model over ``images`` fixed training images transformed by t (analysis/msd.py). The augmentation is the
variant's training augmentation without the dataset's crop and flip (the reference's feature datasets set
``train_aug: False``); batch transforms that mix images (mixup, cutmix) mix each image with its own copies there.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import torch

from augmix_lab.tracking.tags import MSD_ARTIFACT

COLUMNS = [
    "dataset",
    "model",
    "seed",
    "baseline_run_id",
    "variant",
    "label",
    "method",
    "run_ids",
    "benchmark",
    "corruption",
    "severity",
    "msd",
    "mmd",
    "samples",
    "images",
    "corruption_samples",
    "config",
]


def _label(t: Any) -> str:
    axes = {k: v for k, v in t.axes.items() if k not in ("variant", "seed", "dataset.name", "model")}
    return t.variant + (f" [{', '.join(f'{k}={v}' for k, v in sorted(axes.items()))}]" if axes else "")


def _augmentation_key(cfg: Any) -> str:
    """What a trial's augmentation draws depend on: its augmentation method and that method's options."""
    from augmix_lab.training.spec import MethodSpec
    from augmix_lab.training.step import augmentation_options

    spec = MethodSpec.parse(cfg.method)
    return json.dumps(
        {"method": spec.augmentation, "params": augmentation_options(cfg, spec)}, sort_keys=True, default=str
    )


def corruption_cells(cfg: Any, spec: Any, profile: str) -> list[tuple[str, str, int]]:
    """(benchmark, corruption, severity) to measure: ``analyses.msd`` names/severities, else the baseline's eval."""
    from augmix_lab.corruptions.registry import CORRUPTIONS, SUITES, check_corruption_names

    cells = []
    if spec.corruptions is not None:
        for name in spec.corruptions:
            block = cfg.eval.c_bar if CORRUPTIONS.get(name).suite == "c_bar" else cfg.eval.corruptions
            for s in spec.severities or block.severities:
                cells.append((SUITES[CORRUPTIONS.get(name).suite], name, s))
        return cells
    for suite, block in (("c", cfg.eval.corruptions), ("c_bar", cfg.eval.c_bar)):
        if not block.enabled:
            continue
        names = check_corruption_names(
            block.names,
            f"eval.{'corruptions' if suite == 'c' else 'c_bar'}.names",
            suite=suite,
            profile=profile if suite == "c_bar" else None,
        )
        cells += [(SUITES[suite], n, s) for n in names for s in (spec.severities or block.severities)]
    return cells


def fixed_images(ds: Any, n: int, seed: int, device: torch.device) -> torch.Tensor:
    """D_S: ``n`` training images chosen once (np.random.choice without replacement, as the notebook), uint8."""
    total = len(ds.train_labels)
    idx = np.random.default_rng(seed).choice(total, size=min(n, total), replace=False)
    images = ds.train_images
    if isinstance(images, torch.Tensor):
        return images[torch.as_tensor(idx)].to(device)
    return torch.stack([images[int(i)] for i in idx]).to(device)  # lazy folders: decode the chosen ones


def measure(
    model: torch.nn.Module, ds: Any, cells: list[tuple[str, str, int]], augmentations: dict[str, Any], spec: Any
) -> dict[tuple[str, str, str, int], tuple[float, float]]:
    """(augmentation key, benchmark, corruption, severity) -> (msd, mmd) for one baseline model."""
    from augmix_lab.analysis.msd import (
        PenultimateFeatures,
        augmentation_features,
        corruption_centre,
        mean_distance,
        minimal_sample_distance,
    )
    from augmix_lab.augment import normalize
    from augmix_lab.corruptions.functional import corrupt_shared
    from augmix_lab.corruptions.generate import profile_for, stable_seed

    extract = PenultimateFeatures(model, spec.batch_size)
    images = fixed_images(ds, spec.images, spec.seed, extract.device)
    profile = profile_for(ds)
    labels = torch.zeros(1, dtype=torch.long)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return normalize(x, ds.mean, ds.std)

    centres = {}
    for bench, name, s in cells:

        def group(batch: torch.Tensor, g: torch.Generator, name: str = name, s: int = s) -> torch.Tensor:
            return corrupt_shared(batch, name, s, g, profile, group=len(images))

        chunk = max(1, spec.batch_size // len(images))
        centres[(bench, name, s)] = corruption_centre(
            extract, images, group, norm, spec.corruption_samples, stable_seed(spec.seed, "msd", name, s), chunk=chunk
        )
    out: dict[tuple[str, str, str, int], tuple[float, float]] = {}
    for key, aug in augmentations.items():

        def augment(batch: torch.Tensor, g: torch.Generator, aug: Any = aug) -> torch.Tensor:
            return aug(batch, labels.expand(batch.shape[0]).to(batch.device), g).views[0]

        feats = augmentation_features(
            extract, images, augment, spec.samples, stable_seed(spec.seed, "msd-aug", key), chunk=spec.batch_size
        )
        for (bench, name, s), centre in centres.items():
            out[(key, bench, name, s)] = (minimal_sample_distance(feats, centre), mean_distance(feats, centre))
    return out


def _augmentations(group: list[Any], ds: Any) -> dict[str, Any]:
    """One augmentation (jsd arity 1, no crop/flip) per distinct augmentation setting of the trials in ``group``."""
    from augmix_lab.augment import create_augmentation

    augs: dict[str, Any] = {}
    for t in group:
        key = _augmentation_key(t.config)
        if key not in augs:
            options = json.loads(key)
            augs[key] = create_augmentation(options["method"], options["params"], jsd_arity=1,
                                            num_classes=ds.num_classes, mean=ds.mean, std=ds.std, kind=ds.kind,
                                            image_size=ds.image_size, crop_flip=False)  # fmt: skip
    return augs


def compute_msd(plan: Any, uri: str, data_root: str | None = None) -> pd.DataFrame | None:
    """The MSD table of a study plan's finished trials (None: disabled, no baseline or no finished baseline run).
    Each variant is measured with the baseline model of its dataset and model (the lowest ``baseline_seeds`` seeds)."""
    from augmix_lab.corruptions.generate import profile_for
    from augmix_lab.orchestration.analyses import trial_model

    spec = plan.study.spec.analyses.msd
    baseline = plan.study.spec.baseline
    done = [t for t in plan.trials if t.key in plan.complete]
    bases: dict[tuple[str, str], list[Any]] = {}
    for t in sorted((t for t in done if t.variant == baseline), key=lambda t: t.seed):
        bases.setdefault((t.config.dataset.name, t.config.model), []).append(t)
    if not spec.enabled or not baseline or not bases:
        return None
    rows = []
    for (dataset, model_name), base_trials in sorted(bases.items()):
        group = [t for t in done if (t.config.dataset.name, t.config.model) == (dataset, model_name)]
        for base in base_trials[: spec.baseline_seeds]:
            model, data = trial_model(base, plan.complete[base.key], uri, plan.out_dir, data_root)
            ds = data.dataset
            cells = corruption_cells(base.config, spec, profile_for(ds))
            distances = measure(model, ds, cells, _augmentations(group, ds), spec)
            labels: dict[tuple[str, str, str], list[str]] = {}
            for t in group:
                labels.setdefault((_augmentation_key(t.config), t.variant, _label(t)), []).append(plan.complete[t.key])
            for (key, variant, label), run_ids in sorted(labels.items(), key=lambda kv: kv[0][2]):
                method = json.loads(key)["method"]
                for bench, name, s in cells:
                    msd, mmd = distances[(key, bench, name, s)]
                    rows.append(
                        {
                            "dataset": dataset,
                            "model": model_name,
                            "seed": base.seed,
                            "baseline_run_id": plan.complete[base.key],
                            "variant": variant,
                            "label": label,
                            "method": method,
                            "run_ids": ";".join(sorted(run_ids)),
                            "benchmark": bench,
                            "corruption": name,
                            "severity": s,
                            "msd": msd,
                            "mmd": mmd,
                            "samples": spec.samples,
                            "images": spec.images,
                            "corruption_samples": spec.corruption_samples,
                            "config": spec.fingerprint(),
                        }
                    )
    return pd.DataFrame(rows, columns=COLUMNS)


def _up_to_date(uri: str, parent_id: str, plan: Any) -> bool:
    """The stored table was computed with the same settings from the same finished runs."""
    from augmix_lab.tracking.reader import StoreReader

    table = StoreReader(uri).table(parent_id, MSD_ARTIFACT)
    if table is None or not len(table) or "config" not in table or "run_ids" not in table:
        return False
    stored = {r for ids in table["run_ids"].astype(str) for r in ids.split(";")}
    return set(table["config"].astype(str)) == {plan.study.spec.analyses.msd.fingerprint()} and stored == set(
        plan.complete.values()
    ) - _unmeasured(plan)


def _unmeasured(plan: Any) -> set[str]:
    """Finished runs the table never holds: trials of datasets/models without a finished baseline."""
    baseline = plan.study.spec.baseline
    done = [t for t in plan.trials if t.key in plan.complete]
    measured = {(t.config.dataset.name, t.config.model) for t in done if t.variant == baseline}
    return {plan.complete[t.key] for t in done if (t.config.dataset.name, t.config.model) not in measured}


def log_msd(
    plan: Any,
    uri: str,
    parent_id: str,
    data_root: str | None = None,
    console: Any = None,
) -> pd.DataFrame | None:
    """Compute and log the MSD table unless disabled or already stored for the same runs and settings (one of the
    driver's ``STUDY_ANALYSES``: a failure raises, and the driver reports it without failing the study)."""
    from augmix_lab.orchestration.analyses import store_table

    if not plan.study.spec.analyses.msd.enabled or _up_to_date(uri, parent_id, plan):
        return None
    return store_table(compute_msd(plan, uri, data_root), uri, parent_id, MSD_ARTIFACT, "minimal sample distance",
                       console)  # fmt: skip
