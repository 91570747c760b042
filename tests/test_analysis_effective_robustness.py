"""Effective robustness: logit-linear trend over baseline runs; a run on the trend has ER = 0."""

from __future__ import annotations

import numpy as np
import pytest

from augmix_lab.analysis import effective_robustness, fit_trend
from augmix_lab.analysis.effective_robustness import logit, sigmoid

CLEAN = [0.6, 0.7, 0.8, 0.9]
SHIFTED = list(sigmoid(0.8 * logit(np.array(CLEAN)) - 0.5))  # exactly on a known logit-linear trend


def test_fit_recovers_a_logit_linear_trend():
    fit = fit_trend(CLEAN, SHIFTED)
    assert fit.slope == pytest.approx(0.8) and fit.intercept == pytest.approx(-0.5)
    assert fit.n_points == 4
    xs, ys = fit.line(n=5)
    assert xs[0] == pytest.approx(0.6) and xs[-1] == pytest.approx(0.9)
    assert np.allclose(logit(ys), 0.8 * logit(xs) - 0.5)


def test_run_on_the_trend_has_zero_effective_robustness_and_offsets_are_exact():
    fit = fit_trend(CLEAN, SHIFTED)
    on_trend = float(sigmoid(0.8 * logit(0.75) - 0.5))
    assert effective_robustness(fit, 0.75, on_trend) == pytest.approx(0.0, abs=1e-12)
    assert effective_robustness(fit, 0.75, on_trend + 0.05) == pytest.approx(0.05)
    er = effective_robustness(fit, np.array(CLEAN), np.array(SHIFTED) - 0.02)
    assert np.allclose(er, -0.02)


def test_noisy_baselines_give_mean_zero_residuals_in_logit_space():
    rng = np.random.default_rng(0)
    clean = np.linspace(0.5, 0.95, 7)
    shifted = sigmoid(1.1 * logit(clean) - 1.0 + rng.normal(0, 0.1, 7))
    fit = fit_trend(clean, shifted)
    assert np.mean(logit(shifted) - logit(fit.predict(clean))) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("clean", "shifted", "match"),
    [
        ([0.6, 0.7], [0.4, 0.5], "at least 3"),
        ([60.0, 70.0, 80.0], [40.0, 50.0, 60.0], "fractions"),
        ([0.7, 0.7, 0.7], [0.4, 0.5, 0.6], "same clean accuracy"),
        ([0.6, 0.7, 0.8], [0.4, 0.5], "equally long"),
    ],
)
def test_bad_baselines_are_refused(clean, shifted, match):
    from augmix_lab.errors import UserError

    with pytest.raises(UserError, match=match):
        fit_trend(clean, shifted)


def test_perfect_accuracy_is_clipped_not_infinite():
    fit = fit_trend([0.9, 0.95, 1.0], [0.5, 0.6, 0.7])
    assert np.isfinite(fit.slope) and np.isfinite(effective_robustness(fit, 1.0, 0.7))
