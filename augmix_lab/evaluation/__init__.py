"""Pure robustness/calibration metrics, the metric registry, the one ``Scorer`` (model + images -> logits) and the
runner that scores a model into a ``Scorecard``."""

from __future__ import annotations

from typing import Any

from augmix_lab.evaluation.registry import METRICS, MetricSpec, SummaryContext, register_metric, summarize_table

__all__ = ["METRICS", "MetricSpec", "Scorer", "SummaryContext", "TABLE_COLUMNS", "Scorecard", "evaluate_model",
           "register_metric", "summarize_table"]  # fmt: skip
_RUNNER = ("TABLE_COLUMNS", "Scorecard", "evaluate_model")


def __getattr__(name: str) -> Any:
    # the runner imports torch: loaded on first use so the report (registry only) stays torch-free
    if name in _RUNNER:
        from augmix_lab.evaluation import runner

        return getattr(runner, name)
    if name == "Scorer":
        from augmix_lab.evaluation.scoring import Scorer

        return Scorer
    raise AttributeError(f"module 'augmix_lab.evaluation' has no attribute {name!r}")
