"""Study files: schema and validation, expansion into trials, and the study manifest."""

from augmix_lab.study.expand import Trial, dataset_version, differing_params, eval_key, expand_study
from augmix_lab.study.schema import Study, StudySpec, read_study

__all__ = [
    "Study",
    "StudySpec",
    "Trial",
    "dataset_version",
    "differing_params",
    "eval_key",
    "expand_study",
    "read_study",
]
