"""Ray Tune orchestration of a study: the driver, the function trainable, live progress and cost estimates."""

from __future__ import annotations

from typing import Any

__all__ = ["StudyPlan", "load_plan", "run_study"]


def __getattr__(name: str) -> Any:
    """Lazy: importing one light module (``plan``, ``lock``: what ``status`` needs) must not pull in Ray and torch."""
    if name in ("StudyPlan", "load_plan"):
        from augmix_lab.orchestration import plan

        return getattr(plan, name)
    if name == "run_study":
        from augmix_lab.orchestration.runner import run_study

        return run_study
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
