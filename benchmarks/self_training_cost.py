"""What a self-training study costs: each variant's epoch against the quickstart's Standard epoch, in the same run.

Sizes studies/self_training.yaml on a busy machine honestly: every variant's seed-0 trial (a student with a synthetic
pseudo-label set of the real pool's size) trains one epoch, interleaved with the reference — the quickstart's Standard
trial (8,000 shapes images, small_cnn, batch 32, bf16, one thread) — for ``--repeats`` rounds; the medians give each
variant's cost as a multiple of the reference epoch. One evaluation (the study's -C cells) is timed the same way. The
projection to an idle machine divides by the slowdown of the reference here against its idle throughput, passed as
``--idle-reference-ips`` (studies/quickstart.yaml records ~3,300 images/s for it on an idle 2-core machine), and packs
the trials two at a time, wave by wave (teachers before students), longest first.
Usage: python benchmarks/self_training_cost.py [--study studies/self_training.yaml] [--repeats 3]
       [--idle-reference-ips 3300] [--cores 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from augmix_lab.config import TrialConfig
from augmix_lab.evaluation.registry import IMAGES_PER_S
from augmix_lab.study import expand_study, read_study
from augmix_lab.study.init import parents_of
from augmix_lab.training.self_training import build_set
from augmix_lab.data.trial import load_trial_data
from augmix_lab.training.trainer import Trainer

REFERENCE = {"dataset": {"name": "shapes", "options": {"n_train": 8000, "n_test": 500}}, "model": "small_cnn",
             "method": "standard", "epochs": 1, "train": {"batch_size": 32, "lr": 0.1, "threads": 1, "amp": "on"},
             "eval": {"corruptions": {"enabled": False}}, "device": "cpu"}  # studies/quickstart.yaml's Standard


def with_synthetic_labels(cfg: TrialConfig, folder: Path) -> TrialConfig:
    """A student config whose pseudo-label set covers its real pool (random teacher logits: the cost is the same)."""
    if not cfg.teacher.is_set():
        return cfg
    pool = load_trial_data(cfg, None).pool
    logits = torch.randn(len(pool), 10, generator=torch.Generator().manual_seed(0)) * 3
    path = build_set(logits, cfg.teacher, meta={"pool_version": pool.version}).save(folder / "set.npz")
    return cfg.model_copy(update={"teacher": cfg.teacher.model_copy(update={"labels_file": str(path)})})


def epoch_seconds(cfg: TrialConfig, folder: Path) -> tuple[float, float]:
    """(seconds of one training epoch incl. its test pass, training images/s) of a freshly built trial."""
    trainer = Trainer(cfg.model_copy(update={"epochs": 1}), folder).build()
    t0 = time.perf_counter()
    metrics = trainer.train_epoch(1)
    return time.perf_counter() - t0, metrics[IMAGES_PER_S]


def pack(durations: list[float], cores: int) -> float:
    """Wall time of independent jobs on ``cores`` workers, longest first (Ray Tune runs them as they fit)."""
    loads = [0.0] * cores
    for d in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += d
    return max(loads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default="studies/self_training.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--idle-reference-ips", type=float, default=3300.0)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    trials = expand_study(read_study(args.study))
    first = {}
    for t in trials:
        first.setdefault(t.variant, t)
    tmp = Path(tempfile.mkdtemp(prefix="st-cost-"))
    configs = {v: with_synthetic_labels(t.config, tmp / v) for v, t in first.items()}
    ref_cfg = TrialConfig.model_validate(REFERENCE)
    rows: dict[str, list[float]] = {v: [] for v in configs}
    ref_ips: list[float] = []
    ref_seconds: list[float] = []
    eval_ratios: list[float] = []
    for r in range(args.repeats):
        seconds, ips = epoch_seconds(ref_cfg, tmp / f"ref{r}")
        ref_ips.append(ips)
        ref_seconds.append(seconds)
        for v, cfg in configs.items():
            rows[v].append(epoch_seconds(cfg, tmp / f"{v}{r}")[0] / seconds)  # ratio to the reference epoch
        evaluator = Trainer(next(iter(configs.values())), tmp / f"eval{r}").build()
        t0 = time.perf_counter()
        evaluator.evaluate()
        eval_ratios.append((time.perf_counter() - t0) / seconds)
    slowdown = args.idle_reference_ips / statistics.median(ref_ips)
    idle_ref_epoch = statistics.median(ref_seconds) / slowdown
    eval_idle = statistics.median(eval_ratios) * idle_ref_epoch
    print(f"reference (quickstart Standard epoch, 8000 images): {statistics.median(ref_ips):,.0f} images/s here, "
          f"{args.idle_reference_ips:,.0f} idle -> this machine is {slowdown:.1f}x slower now")
    per_trial: dict[str, float] = {}
    for v, ratios in rows.items():
        ratio = statistics.median(ratios)
        cfg = configs[v]
        per_trial[v] = ratio * idle_ref_epoch * cfg.epochs + eval_idle
        print(f"{v:16s} epoch = {ratio:5.3f} x reference (range {min(ratios):.3f}-{max(ratios):.3f}); "
              f"{cfg.epochs} epochs + evaluation ~ {per_trial[v]:6.1f} s idle")
    waves: list[list[float]] = [[], []]
    for t in trials:
        waves[1 if parents_of(t.config) else 0].append(per_trial[t.variant])
    walls = [pack(w, args.cores) for w in waves if w]
    print(f"evaluation (the study's -C cells, one trial) = {statistics.median(eval_ratios):.3f} x reference epoch "
          f"~ {eval_idle:.1f} s idle")
    print(f"projected idle wall time of training + evaluation, {len(trials)} trials on {args.cores} cores in "
          f"{len(walls)} waves: {' + '.join(f'{w:.0f}' for w in walls)} = {sum(walls):.0f} s "
          "(plus Ray start-up and the driver's MLflow work)")


if __name__ == "__main__":
    main()
