"""Pure robustness/calibration metrics and the runner that scores a model into a ``Scorecard``."""

from __future__ import annotations

from augmix_lab.evaluation.runner import TABLE_COLUMNS, Scorecard, evaluate_model

__all__ = ["TABLE_COLUMNS", "Scorecard", "evaluate_model"]
