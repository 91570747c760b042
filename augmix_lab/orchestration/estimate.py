"""Cost estimate for ``augmix-lab plan``: time a few real training steps on this device, extrapolate; nothing is trained.

For each distinct (dataset, model, method, JSD arity) the estimate builds the model and augmentation, runs a couple of
warm-up steps and then times a few SGD steps on a small random uint8 batch (augmentation + forward over all views +
CE + JSD + backward + step: the trainer's own step), and one forward-only pass for evaluation. Training cost = seconds/image × images ×
epochs; evaluation = forward seconds/image × test images × (1 clean + corruptions × severities). It is an estimate: the
trainer's loss (JSD) and data pipeline differ slightly from the timed step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import torch

from augmix_lab.config import TrialConfig
from augmix_lab.study.expand import Trial

# (train images, test images, classes, image size) when a dataset cannot be loaded cheaply here
KNOWN_SIZES = {
    "cifar10": (50_000, 10_000, 10, 32),  # CIFAR-10 (Krizhevsky 2009)
    "cifar100": (50_000, 10_000, 100, 32),  # CIFAR-100 (Krizhevsky 2009)
    "imagenet": (1_281_167, 50_000, 1000, 224),  # ILSVRC-2012 train / val
}
BENCHMARK_CORRUPTION_COUNT = 15  # Hendrycks & Dietterich 2019: the 15 -C benchmark corruptions


@dataclass
class Estimate:
    train_s_per_image: float
    eval_s_per_image: float
    train_images: int
    eval_images: int
    epochs: int

    @property
    def seconds(self) -> float:
        return self.train_s_per_image * self.train_images * self.epochs + self.eval_s_per_image * self.eval_images


_SIZES: dict[str, tuple[int, int, int, int]] = {}


def dataset_sizes(cfg: TrialConfig, data_root: str | None = None) -> tuple[int, int, int, int]:
    """(train, test, classes, image size) after subsets; loads small generated datasets, else uses known sizes."""
    key = f"{cfg.dataset.name}:{sorted(cfg.dataset.options.items())}"
    if key not in _SIZES:
        sizes = KNOWN_SIZES.get(cfg.dataset.name)
        if sizes is None:
            from augmix_lab.data import load_dataset

            ds = load_dataset(cfg.dataset.name, root=cfg.dataset.root or data_root, **cfg.dataset.options)
            sizes = (len(ds.train_labels), len(ds.test_labels), ds.num_classes, ds.image_size)
        _SIZES[key] = sizes
    n_train, n_test, classes, size = _SIZES[key]
    n_train = min(n_train, cfg.dataset.train_subset or n_train)
    n_train -= min(n_train - 1, cfg.dataset.holdout or 0)  # the held-out tail is never trained on
    n_test = min(n_test, cfg.dataset.test_subset or n_test)
    return n_train, n_test, classes, size


def _eval_passes(cfg: TrialConfig) -> int:
    passes = 1 if cfg.eval.clean else 0
    if cfg.eval.corruptions.enabled:
        names = cfg.eval.corruptions.names
        passes += (len(names) if names is not None else BENCHMARK_CORRUPTION_COUNT) * len(cfg.eval.corruptions.severities)
    return passes


def measure_step(cfg: TrialConfig, num_classes: int, image_size: int, kind: str, batch: int = 16, steps: int = 5,
                 device: str = "cpu") -> tuple[float, float]:
    """(train seconds per image, forward seconds per image) measured on random images of the dataset's size.

    Times the trainer's own step (``training.build_train_step``) without its training hooks, scaled by the hooks'
    registered ``cost_factor`` (PGD: 1 + iterations passes), so ``plan`` stays quick.
    """
    from augmix_lab.models import create_model
    from augmix_lab.training import build_train_step, resolve_device
    from augmix_lab.training.step import hooks_cost_factor

    dev = resolve_device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, image_size, image_size), dtype=torch.uint8, generator=g, device=dev)
    labels = torch.randint(0, num_classes, (batch,), generator=g, device=dev)
    model = create_model(cfg.model, num_classes, cfg.norm).to(dev)
    step = build_train_step(cfg, model, num_classes=num_classes, mean=(0.5,) * 3, std=(0.5,) * 3, kind=kind,
                            image_size=image_size, device=dev, generators={"augment": g}, with_hooks=False)

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.train.threads or threads)  # time it as the trial will run
    try:
        model.train()
        for _ in range(2):  # warm-up: allocator, kernel selection
            step(images, labels)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step(images, labels)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times.append(time.perf_counter() - t0)
        train_s = sorted(times)[len(times) // 2] / batch * hooks_cost_factor(cfg)  # median: robust to a noisy neighbour
        model.eval()
        x = images.float().div(127.5).sub(1.0)
        with torch.no_grad():
            model(x)
            t0 = time.perf_counter()
            model(x)
            eval_s = (time.perf_counter() - t0) / batch
    finally:
        torch.set_num_threads(threads)
    return train_s, eval_s


def measure_step_cached(cfg: TrialConfig, num_classes: int, image_size: int, kind: str, batch: int,
                        device: str = "cpu") -> tuple[float, float]:
    """``measure_step`` through the step-cost cache (``step_cache.py``): measured once per configuration and machine."""
    from augmix_lab.orchestration import step_cache

    key = step_cache.step_cost_key(cfg, classes=num_classes, image_size=image_size, kind=kind, batch=batch, device=device)
    hit = step_cache.lookup(key)
    if hit is not None:
        return hit
    value = measure_step(cfg, num_classes, image_size, kind, batch=batch, device=device)
    step_cache.store(key, value, model=cfg.model, method=cfg.method, batch=batch, image_size=image_size, device=device)
    return value


def estimate_trials(trials: list[Trial], data_root: str | None = None) -> dict[str, Estimate]:
    """One measured estimate per trial key; trials sharing model/method/arity/dataset share one measurement."""
    measured: dict[tuple[Any, ...], tuple[float, float]] = {}
    out = {}
    for t in trials:
        cfg = t.config
        n_train, n_test, classes, size = dataset_sizes(cfg, data_root)
        kind = "imagenet" if size > 64 else "cifar"
        sig = (cfg.dataset.name, cfg.model, cfg.method, cfg.jsd.arity,
               json.dumps(cfg.method_options(), sort_keys=True, default=str), classes, size)
        if sig not in measured:
            measured[sig] = measure_step_cached(cfg, classes, size, kind,
                                                batch=4 if size > 64 else min(32, cfg.train.batch_size))
        train_s, eval_s = measured[sig]
        out[t.key] = Estimate(train_s, eval_s, n_train, n_test * _eval_passes(cfg), cfg.epochs)
    return out


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
