"""Analyses beyond the AugMix paper, as pure functions: model soups, effective robustness, Fourier heat maps,
affinity/diversity. Conventions: accuracies and error rates are fractions in [0, 1] (never percent); images are
uint8 or float N×3×H×W; Fourier grids have the zero frequency at the centre (row = vertical, column = horizontal)."""

from __future__ import annotations

from augmix_lab.analysis.affinity import affinity, augmented_accuracy, diversity
from augmix_lab.analysis.effective_robustness import TrendFit, effective_robustness, fit_trend
from augmix_lab.analysis.fourier import FourierHeatMap, fourier_basis, fourier_heat_map, fourier_summary
from augmix_lab.analysis.soups import (
    SoupMember,
    check_compatible,
    greedy_soup,
    recompute_batchnorm,
    uniform_soup,
)

__all__ = [
    "FourierHeatMap",
    "SoupMember",
    "TrendFit",
    "affinity",
    "augmented_accuracy",
    "check_compatible",
    "diversity",
    "effective_robustness",
    "fit_trend",
    "fourier_basis",
    "fourier_heat_map",
    "fourier_summary",
    "greedy_soup",
    "recompute_batchnorm",
    "uniform_soup",
]
