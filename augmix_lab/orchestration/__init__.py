"""Ray Tune orchestration of a study: the driver, the function trainable, live progress and cost estimates."""

from augmix_lab.orchestration.plan import StudyPlan, load_plan
from augmix_lab.orchestration.runner import run_study

__all__ = ["StudyPlan", "load_plan", "run_study"]
