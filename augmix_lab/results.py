"""Results for notebooks: a study's scorecards as one tidy pandas DataFrame.

```python
from augmix_lab import results
df = results.load("quickstart")                       # a study name (runs/<name>), a study YAML, or a tracking URI
c = df[df.benchmark == "C"]
c.groupby(["variant", "severity"]).error.mean().unstack()
```
One row per finished trial x benchmark x corruption x severity (each trial's logged ``scorecard/table.csv``), with
the trial's identity (``run_id``, ``trial_key``, ``study``, ``variant``, ``seed``) and its params as columns
(``method``, ``model``, ``dataset.name``, ``train.lr``, ...; a param whose name is already a column gets ``param.``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from augmix_lab.errors import UserError

IDENTITY = ("run_id", "trial_key", "study", "variant", "seed")
_NUMERIC = ("severity", "error", "rms_calib_error", "ece", "nll", "brier", "n", "flip_prob", "t5d")


def load(study_or_uri: str | os.PathLike[str], *, experiment: str | None = None) -> Any:
    """The tidy results of a study: ``study_or_uri`` is a study name or folder (its ``mlflow.db``), a study YAML
    file (its own store and experiment), or a tracking URI (then ``experiment``, unless the store holds one).
    A damaged store raises one ``UserError`` naming the file."""
    from augmix_lab.report.loading import check_store_exists, resolve_experiment
    from augmix_lab.tracking.store import store_errors

    uri, experiment, study = _locate(study_or_uri, experiment)
    check_store_exists(uri)
    with store_errors(uri):
        return _load(uri, resolve_experiment(uri, experiment), study)


def _load(uri: str, experiment: str, study: str | None) -> Any:
    import pandas as pd

    from augmix_lab.tracking.reader import StoreReader
    from augmix_lab.tracking.tags import ROLE_TRIAL, TRACKING_TAGS
    from augmix_lab.tracking.trial import SCORECARD_TABLE

    reader = StoreReader(uri)
    exp_id = reader.experiment_id(experiment)
    newest: dict[str, Any] = {}
    for run in reader.runs(exp_id, ROLE_TRIAL) if exp_id is not None else []:
        if run.status != "FINISHED" or (study is not None and run.tags.get(TRACKING_TAGS.study) != study):
            continue
        key = run.tags.get(TRACKING_TAGS.trial_key, run.run_id)
        if key not in newest or (run.start_time, run.run_id) > (newest[key].start_time, newest[key].run_id):
            newest[key] = run
    frames = []
    for key, run in sorted(newest.items()):
        table = reader.table(run.run_id, SCORECARD_TABLE)
        if table is None or table.empty:
            continue
        frames.append(_with_identity(table, key, run))
    if not frames:
        return pd.DataFrame(columns=[*IDENTITY, "benchmark", "corruption", "severity", "error"])
    df = pd.concat(frames, ignore_index=True)
    for column in _NUMERIC:
        if column in df:
            df[column] = pd.to_numeric(df[column], errors="coerce")
    return df


def _with_identity(table: Any, key: str, run: Any) -> Any:
    from augmix_lab.tracking.tags import TRACKING_TAGS

    seed = run.tags.get(TRACKING_TAGS.seed, run.params.get("seed"))
    identity = {
        "run_id": run.run_id,
        "trial_key": key,
        "study": run.tags.get(TRACKING_TAGS.study),
        "variant": run.tags.get(TRACKING_TAGS.variant),
        "seed": int(seed) if seed is not None and str(seed).lstrip("-").isdigit() else None,
    }
    out = table.copy()
    for name, value in identity.items():
        out.insert(list(identity).index(name), name, value)
    for name, value in sorted(run.params.items()):
        out[f"param.{name}" if name in out.columns else name] = _value(value)
    return out


def _value(text: str) -> Any:
    """A param's text as int / float / bool when it is one (MLflow keeps params as strings)."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def _locate(given: str | os.PathLike[str], experiment: str | None) -> tuple[str, str | None, str | None]:
    """(tracking URI, experiment or None = find it, study name to keep or None) of a name, YAML or URI."""
    from augmix_lab.paths import default_tracking_uri, study_dir

    text = str(given)
    if "://" in text:
        return text, experiment, None
    path = Path(text)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"results.load: study file {path} does not exist")
        from augmix_lab.orchestration.plan import experiment_for, resolve_out_dir
        from augmix_lab.study import read_study
        from augmix_lab.tracking.store import resolve_tracking

        study = read_study(path)
        uri, _ = resolve_tracking(study.spec.tracking.uri, resolve_out_dir(study, None))
        return uri, experiment or experiment_for(study), study.name
    folder = study_dir(text)
    if not folder.is_dir():
        raise UserError(f"results.load: no study folder at {folder}; give a study name, a study YAML or a tracking URI")
    uri = default_tracking_uri(folder)
    if experiment is None:
        from augmix_lab.report.loading import check_store_exists
        from augmix_lab.tracking.reader import StoreReader

        check_store_exists(uri)
        names = StoreReader(uri).experiment_names()
        experiment = folder.name if folder.name in names else None  # else: the store's only experiment
    return uri, experiment, None
