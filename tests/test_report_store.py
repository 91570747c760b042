"""Report-test helper (no tests here): fills a real MLflow SQLite store through ``augmix_lab.tracking`` with a known study.

The study: baseline ``standard``; variants ``augmix`` (much better on -C), ``mixup`` (no real difference, one seed
FAILED), ``cutout`` (one RUNNING trial, no results); a sweep of ``augmix.width`` over {1, 5}; datasets cifar10 and
cifar100 (cifar100 only for standard and augmix). Every logged number is kept in ``FilledStudy.logged``.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augmix_lab.config import TrialConfig
from augmix_lab.paths import default_artifact_location, default_tracking_uri
from augmix_lab.tracking import StudyTracker, TrialLogger

CORRUPTIONS = ("gaussian_noise", "fog", "jpeg_compression")
PERTURBATIONS = ("gaussian_noise", "rotate")
EPOCHS = 3
N_IMAGES = 400
FAILURE = "non-finite loss 'nan' at epoch 2 batch 5"


@dataclass
class FilledStudy:
    tracking_uri: str
    experiment: str
    out_dir: Path
    # (dataset, variant label, seed) -> metric -> value, for FINISHED trials only
    logged: dict[tuple[str, str, int], dict[str, float]] = field(default_factory=dict)
    failed: list[tuple[str, str, int, str, str]] = field(default_factory=list)  # dataset, variant, seed, status, error


# (variant, method, jsd arity, -C error offset vs standard, datasets, seeds, sweep)
_PLAN: list[tuple[str, str, int, float, tuple[str, ...], tuple[int, ...], tuple[str, Any] | None]] = [
    ("standard", "standard", 1, 0.0, ("cifar10", "cifar100"), (0, 1, 2), None),
    ("augmix", "augmix", 3, -10.0, ("cifar10", "cifar100"), (0, 1, 2), None),
    ("mixup", "mixup", 1, 0.0, ("cifar10",), (0, 1), None),
    ("augmix", "augmix", 3, -8.0, ("cifar10",), (0, 1), ("augmix.width", 1)),
    ("augmix", "augmix", 3, -9.0, ("cifar10",), (0, 1), ("augmix.width", 5)),
]


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(json.dumps(key).encode()))


def _summary(dataset: str, offset: float, rng: np.random.Generator) -> dict[str, float]:
    base_c = 30.0 if dataset == "cifar10" else 55.0
    clean = 6.0 + rng.normal(0, 0.3)
    per_c = {c: base_c + offset + 3 * i + rng.normal(0, 0.5) for i, c in enumerate(CORRUPTIONS)}
    per_s = {s: base_c + offset + 4 * (s - 3) + rng.normal(0, 0.5) for s in range(1, 6)}
    m: dict[str, float] = {
        "clean_error": clean,
        "mean_corruption_error": float(np.mean(list(per_c.values()))),
        "clean_rms_calib_error": 5.0 + rng.normal(0, 0.5),
        "c_rms_calib_error": 20.0 + offset / 2 + rng.normal(0, 0.5),
        "mfp": 4.0 + offset / 10 + rng.normal(0, 0.1),
    }
    m.update({f"corruption_error.{c}": v for c, v in per_c.items()})
    m.update({f"corruption_error.severity_{s}": v for s, v in per_s.items()})
    m.update({f"c_rms_calib_error.severity_{s}": 10 + 3 * s + offset / 2 + rng.normal(0, 0.3) for s in range(1, 6)})
    m.update({f"flip_prob.{p}": 4.0 + offset / 10 + i + rng.normal(0, 0.1) for i, p in enumerate(PERTURBATIONS)})
    return m


def _tidy_table(summary: dict[str, float], source: str = "released") -> pd.DataFrame:
    """A small tidy per-cell table as evaluation logs it (its ``source`` column is what the report labels)."""
    rows = [{"benchmark": "clean", "corruption": "clean", "severity": 0, "error": summary["clean_error"],
             "source": "test"}]  # fmt: skip
    rows += [{"benchmark": "C", "corruption": c, "severity": 1, "error": summary[f"corruption_error.{c}"],
              "source": source} for c in CORRUPTIONS]  # fmt: skip
    rows += [{"benchmark": "P", "corruption": p, "severity": 0, "flip_prob": summary[f"flip_prob.{p}"],
              "source": source} for p in PERTURBATIONS]  # fmt: skip
    return pd.DataFrame(rows)


def fill_study(root: Path, name: str = "ablation_test", with_predictions: bool = True) -> FilledStudy:
    out_dir = root / name
    out_dir.mkdir(parents=True, exist_ok=True)
    uri = default_tracking_uri(out_dir)
    tracker = StudyTracker(uri, name, artifact_location=default_artifact_location(out_dir))
    # like the study runner: the baseline is only in the stored study file, not in a tag
    parent = tracker.start_study(name, "hash0", f"name: {name}\nbaseline: standard\nsweep: {{augmix.width: [1, 5]}}\n")
    filled = FilledStudy(uri, name, out_dir)
    trials: list[tuple[str, str, int, float, str, int, tuple[str, Any] | None, str]] = []
    for variant, method, arity, offset, datasets, seeds, sweep in _PLAN:
        for dataset in datasets:
            for seed in seeds:
                trials.append((variant, method, arity, offset, dataset, seed, sweep, "FINISHED"))
    trials.append(("mixup", "mixup", 1, 0.0, "cifar10", 2, None, "FAILED"))
    trials.append(("cutout", "cutout", 1, 0.0, "cifar10", 0, None, "RUNNING"))

    for variant, method, arity, offset, dataset, seed, sweep, status in trials:
        overrides: dict[str, Any] = {"dataset": dataset, "model": "wrn40_2", "method": method, "seed": seed,
                                     "epochs": EPOCHS, "jsd": {"arity": arity}}  # fmt: skip
        axes: dict[str, Any] = {"dataset.name": dataset, "sweep": "base"}  # as augmix_lab.study.expand writes them
        label = variant
        if sweep is not None:
            knob, value = sweep
            overrides["augmix"] = {"width": value}
            axes.update({"sweep": knob, knob: value})
            label = f"{variant} [{knob}={value}]"
        cfg = TrialConfig.model_validate(overrides)
        key = cfg.fingerprint("test-data")
        run_id, _ = tracker.trial_run(
            parent, key, study=name, variant=variant, seed=seed, axes=axes, params=cfg.model_dump(mode="json"),
            config_yaml=json.dumps(cfg.model_dump(mode="json")), eval_key="eval0",
        )  # fmt: skip
        logger = TrialLogger(uri, run_id)
        rng = _rng(dataset, variant, seed, sweep)
        last_epoch = EPOCHS if status == "FINISHED" else 1
        for epoch in range(1, last_epoch + 1):
            logger.log_epoch(epoch, {"train_loss": 2.0 / epoch, "train_error": 50.0 / epoch,
                                     "test_error": 40.0 / epoch + offset / 5 + rng.normal(0, 0.2), "lr": 0.1})  # fmt: skip
        if status == "FINISHED":
            summary = _summary(dataset, offset, rng)
            table = _tidy_table(summary)
            logger.log_scorecard(summary, table)
            filled.logged[(dataset, label, seed)] = summary
            if with_predictions and sweep is None and variant in ("standard", "augmix") and dataset == "cifar10":
                correct = _rng("pred", variant, seed).random(N_IMAGES) > (0.3 if variant == "standard" else 0.2)
                pred_dir = out_dir / "tmp_pred"
                pred_dir.mkdir(exist_ok=True)
                np.save(pred_dir / "clean.npy", correct)
                logger.client.log_artifact(run_id, str(pred_dir / "clean.npy"), "predictions")
            logger.set_status("FINISHED")
        elif status == "FAILED":
            logger.set_status("FAILED", error=FAILURE)
            filled.failed.append((dataset, variant, seed, status, FAILURE))
        else:
            logger.set_status("RUNNING")  # as the trainable does when it starts (the driver queues runs SCHEDULED)
            filled.failed.append((dataset, variant, seed, status, ""))
    tracker.finish_study(parent)
    return filled
