"""Seed statistics: mean, std, n and Student-t 95 % intervals, paired t-tests and paired image bootstraps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95  # two-sided 95 % intervals throughout the report
SIGNIFICANCE = 0.05  # p below this earns the dagger mark in tables
MISSING = "—"  # an absent cell; never 0
MIN_SEEDS_FOR_INTERVAL = 3  # below this a t-interval (t = 12.7 at n = 2) says nothing: cells show min–max instead
MIN_PAIRS_FOR_TEST = 3  # below this the paired t-test has no power to state significance; no p-value is printed
FEW_PAIRS = f"n<{MIN_PAIRS_FOR_TEST}"  # the p cell when there are too few seed pairs


@dataclass(frozen=True)
class SeedStats:
    """One metric of one condition over its seeds."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else math.nan

    @property
    def ci95(self) -> float:
        """Half-width of the Student-t interval of the mean; NaN with fewer than two seeds."""
        if self.n < 2:
            return math.nan
        return float(sps.t.ppf(0.5 + CONFIDENCE / 2, self.n - 1) * self.std / math.sqrt(self.n))

    @property
    def bar(self) -> float:
        """Plot error-bar half-width, as in the cells: the t-interval from 3 seeds, half the min–max range at 2."""
        if self.n >= MIN_SEEDS_FOR_INTERVAL:
            return self.ci95
        return (max(self.values) - min(self.values)) / 2 if self.n == 2 else math.nan


def summarize(values: Sequence[float]) -> SeedStats:
    return SeedStats(tuple(float(v) for v in values if v is not None and math.isfinite(float(v))))


@dataclass(frozen=True)
class PairedComparison:
    """Difference (method − baseline) over seeds present in both; ``p_value`` from a paired t-test."""

    diff: SeedStats
    p_value: float

    @property
    def significant(self) -> bool:
        return math.isfinite(self.p_value) and self.p_value < SIGNIFICANCE


def paired_t_test(method: Mapping[int, float], baseline: Mapping[int, float]) -> PairedComparison | None:
    """Pairs runs by seed; None when no seed is shared. p is NaN below three pairs or with constant differences."""
    seeds = sorted(set(method) & set(baseline))
    if not seeds:
        return None
    a = np.array([method[s] for s in seeds], dtype=float)
    b = np.array([baseline[s] for s in seeds], dtype=float)
    diff = summarize(a - b)
    p = math.nan
    if len(seeds) >= MIN_PAIRS_FOR_TEST and np.ptp(a - b) > 0:
        p = float(sps.ttest_rel(a, b).pvalue)
    return PairedComparison(diff, p)


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap over test images of the error difference (percent points, method − baseline)."""

    diff: float
    low: float
    high: float
    p_value: float
    n_images: int
    n_seeds: int
    n_resamples: int


def paired_bootstrap(
    method_correct: Sequence[np.ndarray],
    baseline_correct: Sequence[np.ndarray],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> BootstrapResult:
    """Resamples test images (the same indices for both models and every seed pair) and averages over seeds.

    Each array is one seed's per-image correctness (bool, or a fraction in [0, 1] such as the mean over -C cells;
    length = test images); seed pairs are aligned by position.
    """
    if not method_correct or len(method_correct) != len(baseline_correct):
        raise ValueError("need the same positive number of seed arrays for method and baseline")
    a = np.stack([np.asarray(x, dtype=np.float64) for x in method_correct])
    b = np.stack([np.asarray(x, dtype=np.float64) for x in baseline_correct])
    if a.shape != b.shape:
        raise ValueError(f"per-image arrays differ in shape: {a.shape} vs {b.shape}")
    # error difference per image, averaged over seeds: 100 * (wrong_method - wrong_baseline)
    per_image = 100.0 * ((1.0 - a) - (1.0 - b)).mean(axis=0)
    n = per_image.shape[0]
    rng = np.random.default_rng(seed)
    boot = np.empty(n_resamples)
    for i in range(n_resamples):
        boot[i] = per_image[rng.integers(0, n, n)].mean()
    low, high = np.quantile(boot, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2])
    # two-sided bootstrap p: how often the resampled difference lands on the other side of zero
    p = min(1.0, 2.0 * min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0))))
    return BootstrapResult(float(per_image.mean()), float(low), float(high), p, n, a.shape[0], n_resamples)


def format_number(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    text = f"{value:.{digits}f}"
    return "0.00" if text in ("-0.00", "-0.0") else text


def format_stat(s: SeedStats | None, digits: int = 2, mark: str = "") -> str:
    """``mean ± CI95 (n=k)`` from 3 seeds; ``mean [min–max] (n=2, range)``; ``mean (n=1)``; the missing sign."""
    if s is None or s.n == 0:
        return MISSING
    if s.n == 1:
        return f"{format_number(s.mean, digits)}{mark} (n=1)"
    if s.n < MIN_SEEDS_FOR_INTERVAL:
        low, high = format_number(min(s.values), digits), format_number(max(s.values), digits)
        return f"{format_number(s.mean, digits)}{mark} [{low}–{high}] (n={s.n}, range)"
    return f"{format_number(s.mean, digits)}{mark} ± {format_number(s.ci95, digits)} (n={s.n})"


def format_p(p: float, n_pairs: int | None = None) -> str:
    """The p cell; ``n<3`` when ``n_pairs`` is too small for the paired test, ``n/a`` when p is undefined."""
    if n_pairs is not None and n_pairs < MIN_PAIRS_FOR_TEST:
        return FEW_PAIRS
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
