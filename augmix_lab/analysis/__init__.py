"""Analyses beyond the AugMix paper, as pure functions: model soups (and the soup-kind registry), effective
robustness, Fourier heat maps, affinity/diversity. The driver (orchestration/) feeds them models and data and logs the
results; the report reads the results from the store. torch is imported only where a model or weights are computed
on, so the report imports this package without it. Conventions: accuracies and error rates are fractions in [0, 1]
(never percent); images are uint8 or float N×3×H×W; Fourier grids have the zero frequency at the centre (row =
vertical, column = horizontal)."""

from __future__ import annotations

from augmix_lab.analysis.affinity import affinity, affinity_diversity_table, diversity
from augmix_lab.analysis.effective_robustness import TrendFit, effective_robustness, fit_trend
from augmix_lab.analysis.fourier import FourierHeatMap, fourier_basis, fourier_heat_map, fourier_summary
from augmix_lab.analysis.soups import (
    SOUP_KINDS,
    SoupMember,
    SoupResult,
    check_compatible,
    greedy_soup,
    recompute_batchnorm,
    register_soup_kind,
    soup_kinds,
    uniform_soup,
)

__all__ = [
    "FourierHeatMap",
    "SOUP_KINDS",
    "SoupMember",
    "SoupResult",
    "TrendFit",
    "affinity",
    "affinity_diversity_table",
    "check_compatible",
    "diversity",
    "effective_robustness",
    "fit_trend",
    "fourier_basis",
    "fourier_heat_map",
    "fourier_summary",
    "greedy_soup",
    "recompute_batchnorm",
    "register_soup_kind",
    "soup_kinds",
    "uniform_soup",
]
