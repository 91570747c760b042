"""Effective robustness (Taori et al., NeurIPS 2020, "Measuring robustness to natural distribution shifts"): a model's
accuracy under shift minus what a linear trend, fitted on logit-scaled axes over baseline models, predicts from its
clean accuracy. Accuracies are fractions in [0, 1] (not percent); a run exactly on the trend has ER = 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from augmix_lab.errors import UserError

# logit(0) and logit(1) are infinite: accuracies are clipped to [EPS, 1 - EPS] first (toy data reach 100%)
EPS = 1e-4


def _fractions(values, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
        raise UserError(
            f"effective robustness: {what}={a.tolist()}; allowed: accuracies as fractions in [0, 1] "
            "(divide percentages by 100)"
        )
    return a


def logit(p, eps: float = EPS) -> np.ndarray:
    """log(p / (1 - p)) after clipping p to [eps, 1 - eps] (Taori et al. plot and fit on logit-scaled axes)."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def sigmoid(z) -> np.ndarray:
    """Inverse of ``logit``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


@dataclass(frozen=True)
class TrendFit:
    """logit(shifted acc) = slope * logit(clean acc) + intercept, fitted by least squares over baseline runs."""

    slope: float
    intercept: float
    clean: tuple[float, ...]  # the fitted points (fractions), for plotting
    shifted: tuple[float, ...]
    eps: float = EPS

    @property
    def n_points(self) -> int:
        return len(self.clean)

    def predict(self, clean_acc):
        """Trend's shifted accuracy (fraction) at ``clean_acc`` (fraction; scalar or array)."""
        out = sigmoid(self.slope * logit(_fractions(clean_acc, "clean_acc"), self.eps) + self.intercept)
        return float(out) if out.ndim == 0 else out

    def line(self, lo: float | None = None, hi: float | None = None, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """(clean, shifted) accuracies along the trend for a plot; straight on logit axes, curved on linear ones."""
        lo = min(self.clean) if lo is None else lo
        hi = max(self.clean) if hi is None else hi
        xs = sigmoid(np.linspace(logit(lo, self.eps), logit(hi, self.eps), n))
        return xs, np.asarray(self.predict(xs))


def fit_trend(clean_acc: Sequence[float], shifted_acc: Sequence[float], *, eps: float = EPS) -> TrendFit:
    """Fit the baseline trend over (clean, -C) accuracy pairs of baseline runs; at least 3 runs with distinct clean
    accuracies (seeds, architectures, epochs or checkpoints along training)."""
    x = _fractions(clean_acc, "clean_acc")
    y = _fractions(shifted_acc, "shifted_acc")
    if x.shape != y.shape or x.ndim != 1:
        raise UserError(
            f"effective robustness: clean ({x.shape}) and shifted ({y.shape}) accuracies must be two equally long lists"
        )
    if len(x) < 3:
        raise UserError(
            f"effective robustness: {len(x)} baseline run(s); allowed: at least 3 (add seeds, "
            "architectures or checkpoints along training of the baseline method)"
        )
    lx, ly = logit(x, eps), logit(y, eps)
    if np.ptp(lx) < 1e-12:
        raise UserError(
            "effective robustness: all baseline runs have the same clean accuracy; the trend's slope is "
            "undefined (vary architectures, epochs or checkpoints)"
        )
    slope, intercept = np.polyfit(lx, ly, 1)
    return TrendFit(float(slope), float(intercept), tuple(map(float, x)), tuple(map(float, y)), eps)


def effective_robustness(fit: TrendFit, clean_acc, c_acc):
    """-C accuracy minus the trend's prediction at the run's clean accuracy (fractions; scalar or array)."""
    out = _fractions(c_acc, "c_acc") - np.asarray(fit.predict(clean_acc))
    return float(out) if np.ndim(out) == 0 else out
