"""Cost estimate for ``augmix-lab plan``: time a few real training steps on this device, extrapolate; nothing is trained.

For each distinct (dataset, model, method, JSD arity) the estimate builds the model and augmentation, runs a couple of
warm-up steps and then times a few SGD steps on a small random uint8 batch (augmentation + forward over all views +
CE + JSD + backward + step: the trainer's own step), and forward-only passes for evaluation. Training cost = seconds/image × images ×
epochs; evaluation = forward seconds/image × test images × (1 clean + corruptions × severities). It is an estimate: the
trainer's loss (JSD) and data pipeline differ slightly from the timed step.

A step cost is the best of ``REPEATS`` timed steps (a neighbour's load only ever slows a step down). It is not cached
when it cannot be trusted: taken while other processes kept the cores this timing needed busy (``LoadProbe``), noisy
(the repeats' median more than ``NOISY_SPREAD`` x their best), or more than ``NEIGHBOUR_FACTOR`` x off the cached cost
of the same model, method and batch on other data. A cached cost that disagrees with the study's own logged step
times (``images_per_s``) by more than ``LOGGED_FACTOR`` x is measured again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
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
REPEATS = 5  # timed training steps; the best one is the cost
NOISY_SPREAD = 1.5  # median / best of the repeats above this: the timing was disturbed, do not cache it
NEIGHBOUR_FACTOR = 3.0  # this far off the same model/method/batch on other data: suspect, do not cache it
LOGGED_FACTOR = 2.0  # a cached cost this far off the study's own logged step time is measured again


@dataclass
class Estimate:
    train_s_per_image: float
    eval_s_per_image: float
    train_images: int
    eval_images: int
    epochs: int
    test_images: int = 0  # the clean test pass every epoch ends with
    note: str | None = None  # why its step cost was not cached (under load, noisy, far off its neighbours)

    @property
    def epoch_seconds(self) -> float:
        return self.train_s_per_image * self.train_images + self.eval_s_per_image * self.test_images

    @property
    def final_eval_seconds(self) -> float:
        return self.eval_s_per_image * self.eval_images

    @property
    def seconds(self) -> float:
        return self.epoch_seconds * self.epochs + self.final_eval_seconds


class StepCost(tuple):
    """``(train seconds per image, forward seconds per image)``, with how much the repeats spread (median / best)."""

    spread: float

    def __new__(cls, train_s: float, eval_s: float, spread: float = 1.0) -> StepCost:
        cost = super().__new__(cls, (float(train_s), float(eval_s)))
        cost.spread = float(spread)
        return cost


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat (Linux), or None."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class LoadProbe:
    """How many cores other processes kept busy while the block ran (machine busy time minus this process's)."""

    def __enter__(self) -> LoadProbe:
        import os

        self.others = 0.0
        self._start = (_cpu_jiffies(), time.process_time(), time.perf_counter())
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        return self

    def __exit__(self, *exc: Any) -> None:
        end = _cpu_jiffies()
        (start, cpu0, _), wall = self._start, time.perf_counter() - self._start[2]
        if start is None or end is None or wall <= 0:
            return
        busy = (end[0] - start[0]) / self._tick
        self.others = max(0.0, busy - (time.process_time() - cpu0)) / wall

    def contended(self, threads: int) -> bool:
        """Others used more of the cores than this timing left free: the step waited for a core."""
        import os

        free = max(0.0, (os.cpu_count() or 1) - threads)
        return self.others > max(0.25, free - 0.25)


_SIZES: dict[str, tuple[int, int, int, int]] = {}


def dataset_sizes(cfg: TrialConfig, data_root: str | None = None) -> tuple[int, int, int, int]:
    """(train, test, classes, image size) after subsets; loads small generated datasets, else uses known sizes."""
    key = f"{cfg.dataset.name}:{sorted(cfg.dataset.options.items())}"
    if key not in _SIZES:
        sizes = KNOWN_SIZES.get(cfg.dataset.name)
        if sizes is None:
            from augmix_lab.data import load_dataset

            ds = load_dataset(cfg.dataset.name, cfg.dataset.root or data_root, **cfg.dataset.options)
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
        passes += (len(names) if names is not None else BENCHMARK_CORRUPTION_COUNT) * len(
            cfg.eval.corruptions.severities
        )
    return passes


def _timed(run: Callable[[], Any], repeats: int, device: torch.device, warmup: int) -> list[float]:
    """Wall seconds of each of ``repeats`` calls of ``run`` after ``warmup`` untimed ones (CUDA: synchronised)."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return times


def measure_step(
    cfg: TrialConfig,
    num_classes: int,
    image_size: int,
    kind: str,
    batch: int = 16,
    steps: int = REPEATS,
    device: str = "cpu",
) -> tuple[float, float]:
    """(train seconds per image, forward seconds per image) measured on random images of the dataset's size.

    Times the trainer's own step (``training.build_train_step``) without its training hooks, scaled by the hooks'
    registered ``cost_factor`` (PGD: 1 + iterations passes), so ``plan`` stays quick.
    """
    from augmix_lab.evaluation.scoring import Scorer
    from augmix_lab.training import build_train_step, resolve_device
    from augmix_lab.training.step import hooks_cost_factor
    from augmix_lab.training.trainer import trial_model

    dev = resolve_device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, image_size, image_size), dtype=torch.uint8, generator=g, device=dev)
    labels = torch.randint(0, num_classes, (batch,), generator=g, device=dev)
    model = trial_model(cfg, num_classes, weights=False).to(dev)  # timing: random weights do
    step = build_train_step(
        cfg,
        model,
        num_classes=num_classes,
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
        kind=kind,
        image_size=image_size,
        device=dev,
        generators={"augment": g},
        with_hooks=False,
    )

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.train.threads or threads)  # time it as the trial will run
    try:
        model.train()
        times = _timed(lambda: step(images, labels), max(1, steps), dev, warmup=2)  # warm-up: allocator, kernels
        best = min(times)  # the best of the repeats: interference only ever slows a step down
        train_s = best / batch * hooks_cost_factor(cfg)
        spread = sorted(times)[len(times) // 2] / max(best, 1e-12)
        model.eval()
        scorer = Scorer(model, (0.5,) * 3, (0.5,) * 3, dev, autocast_dtype=step.autocast_dtype)  # as evaluation scores
        forward = _timed(lambda: scorer(images), 3, dev, warmup=1)  # logits read back, as evaluation reads them
        eval_s = min(forward) / batch  # the best of the repeats, as for the training step
    finally:
        torch.set_num_threads(threads)
    return StepCost(train_s, eval_s, spread)


def measure_step_cached(
    cfg: TrialConfig,
    num_classes: int,
    image_size: int,
    kind: str,
    batch: int,
    device: str = "cpu",
    logged_s: float | None = None,
) -> tuple[tuple[float, float], str | None]:
    """``measure_step`` through the step-cost cache (``step_cache.py``): measured once per configuration and machine.

    Returns the cost and, when it was not cached, why (``None`` when it was cached or read from the cache).
    ``logged_s``: the study's own logged seconds per training image for this configuration, if any; a cached cost
    more than ``LOGGED_FACTOR`` x off it is measured again (once per logged value).
    """
    from augmix_lab.orchestration import step_cache

    key = step_cache.step_cost_key(
        cfg, classes=num_classes, image_size=image_size, kind=kind, batch=batch, device=device
    )
    hit = step_cache.lookup(key)
    recheck = (
        hit is not None
        and logged_s is not None
        and _off(hit[0], logged_s, LOGGED_FACTOR)
        and not step_cache.checked_against(key, logged_s)
    )
    if hit is not None and not recheck:
        return hit, None
    threads = cfg.train.threads or torch.get_num_threads()
    with LoadProbe() as probe:
        value = measure_step(cfg, num_classes, image_size, kind, batch=batch, device=device)
    info: dict[str, Any] = dict(
        model=cfg.model,
        method=cfg.method,
        batch=batch,
        image_size=image_size,
        device=device,
        threads=threads,
        jsd_arity=cfg.jsd.arity,
        classes=num_classes,
    )
    why = distrust(value, probe, threads, device, step_cache.neighbours(key, info))
    if why is None:
        logged: dict[str, Any] = {"logged_s": logged_s} if logged_s is not None else {}
        step_cache.store(key, value, **info, **logged)
    elif recheck:
        why = f"{why}; the cached cost disagreed with the study's logged step time"
    return value, why


def _off(a: float, b: float, factor: float) -> bool:
    return a > factor * b or b > factor * a


def distrust(
    value: tuple[float, float], probe: LoadProbe, threads: int, device: str, neighbours: list[float]
) -> str | None:
    """Why a fresh measurement must not be cached, or None: under load, noisy, or far off its neighbours."""
    import os
    import statistics

    if torch.device(device).type == "cpu" and probe.contended(threads):
        return f"taken under load: other processes kept {probe.others:.1f} of {os.cpu_count()} cores busy"
    spread = getattr(value, "spread", 1.0)
    if spread > NOISY_SPREAD:
        return f"noisy: its repeats' median was {spread:.1f}x their best"
    if neighbours and _off(value[0], statistics.median(neighbours), NEIGHBOUR_FACTOR):
        return (
            f"{value[0] / statistics.median(neighbours):.2g}x the cached cost of the same model, method and batch "
            f"on other data"
        )
    return None


def _signature(cfg: TrialConfig, data_root: str | None) -> tuple[Any, ...]:
    """What one step-cost measurement stands for: trials alike in all of it cost the same per image."""
    _, _, classes, size = dataset_sizes(cfg, data_root)
    return (
        cfg.dataset.name,
        cfg.model,
        cfg.method,
        cfg.jsd.arity,
        json.dumps(cfg.method_options(), sort_keys=True, default=str),
        classes,
        size,
        min(32, cfg.train.batch_size),
        cfg.train.threads,
        cfg.train.amp,
        cfg.device,
    )


def estimate_trials(
    trials: list[Trial],
    data_root: str | None = None,
    logged: dict[str, float] | None = None,
    budget_s: float | None = None,
    context: list[Trial] | None = None,
) -> dict[str, Estimate]:
    """One measured estimate per trial key; trials sharing model/method/arity/dataset share one measurement.

    ``logged``: trial key -> that trial's logged seconds per training image, for the keys of ``context`` (default
    ``trials``; e.g. the whole study, finished trials included): a cached cost that disagrees with the median logged
    time of its configuration is measured again. ``budget_s``: stop measuring uncached configurations after this
    many seconds; the trials left out get no estimate.
    """
    import statistics

    from augmix_lab.training.trainer import EPOCH_TEST_LIMIT  # each epoch ends with a clean pass over these

    logged_by_sig: dict[tuple[Any, ...], list[float]] = {}
    for t in context or trials:
        if (logged or {}).get(t.key):
            logged_by_sig.setdefault(_signature(t.config, data_root), []).append(logged[t.key])  # type: ignore[index]
    measured: dict[tuple[Any, ...], tuple[tuple[float, float], str | None]] = {}
    started = time.perf_counter()
    out = {}
    for t in trials:
        cfg = t.config
        n_train, n_test, classes, size = dataset_sizes(cfg, data_root)
        kind = "imagenet" if size > 64 else "cifar"
        sig = _signature(cfg, data_root)
        if sig not in measured:
            if budget_s is not None and time.perf_counter() - started > budget_s:
                continue
            seen = logged_by_sig.get(sig)
            measured[sig] = measure_step_cached(
                cfg,
                classes,
                size,
                kind,
                batch=4 if size > 64 else min(32, cfg.train.batch_size),
                logged_s=statistics.median(seen) if seen else None,
            )
        (train_s, eval_s), note = measured[sig]
        n_train, train_s = _semi_supervised(cfg, n_train, classes, train_s)
        test_images = min(n_test, EPOCH_TEST_LIMIT) if cfg.eval.clean else 0
        out[t.key] = Estimate(train_s, eval_s, n_train, n_test * _eval_passes(cfg), cfg.epochs, test_images, note)
    return out


def _semi_supervised(cfg: Any, n_train: int, classes: int, train_s: float) -> tuple[int, float]:
    """(images per epoch, seconds per image) of a trial with ``dataset.labelled`` / a teacher."""
    labelled = cfg.dataset.labelled
    if labelled is not None:  # an epoch is a pass over the labelled images
        n_train = min(
            n_train,
            round(labelled.fraction * n_train) if labelled.fraction is not None else labelled.per_class * classes,
        )
    if cfg.teacher.is_set():  # a student's batch also holds ratio x as many pseudo-labelled images
        train_s *= 1 + cfg.teacher.ratio
    return n_train, train_s


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
