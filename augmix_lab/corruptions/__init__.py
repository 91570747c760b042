"""-C / -P robustness benchmarks: batched corruption generators, released-benchmark loaders and downloads."""

from __future__ import annotations

from augmix_lab.corruptions.constants import (
    BENCHMARK_CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    NOISE_PERTURBATIONS,
    TEST_PERTURBATIONS,
    VALIDATION_PERTURBATIONS,
)
from augmix_lab.corruptions.functional import CORRUPTIONS, corrupt

PERTURBATIONS: tuple[str, ...] = TEST_PERTURBATIONS + VALIDATION_PERTURBATIONS

__all__ = [
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTIONS",
    "EXTRA_CORRUPTIONS",
    "NOISE_PERTURBATIONS",
    "PERTURBATIONS",
    "TEST_PERTURBATIONS",
    "VALIDATION_PERTURBATIONS",
    "corrupt",
]
