"""Plan and verdict: a study resolved against its output folder and tracking store, and the tables printed about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from augmix_lab.paths import study_dir
from augmix_lab.study import Study, Trial, differing_params, expand_study, read_study
from augmix_lab.study.manifest import read_manifest, verdict
from augmix_lab.study.schema import get_dotted


@dataclass
class StudyPlan:
    """A study resolved against its output directory (and, when it exists, its tracking store)."""

    study: Study
    trials: list[Trial]
    out_dir: Path
    complete: dict[str, str] = field(default_factory=dict)  # key -> run id, FINISHED with the same eval settings
    reevaluate: dict[str, str] = field(default_factory=dict)  # key -> run id, FINISHED but evaluated differently
    todo: list[Trial] = field(default_factory=list)

    def states(self) -> dict[str, str]:
        return {**{k: "complete" for k in self.complete}, **{k: "reevaluate" for k in self.reevaluate}}


def resolve_out_dir(study: Study, out: str | None) -> Path:
    if out:
        return Path(out).resolve()
    if study.spec.output_dir:
        p = Path(study.spec.output_dir)
        return (p if p.is_absolute() else study.path.resolve().parent / p).resolve()
    return study_dir(study.name)


def load_plan(study_path: str | Path, out: str | None = None, overrides: tuple[str, ...] = ()) -> StudyPlan:
    study = read_study(study_path, overrides)
    trials = expand_study(study)
    return StudyPlan(study=study, trials=trials, out_dir=resolve_out_dir(study, out))


def experiment_for(study: Study) -> str:
    return study.spec.tracking.experiment or study.name


def lookup_store(plan: StudyPlan, uri: str) -> None:
    """Fill ``complete`` / ``reevaluate`` / ``todo`` from the tracking store (content-addressed: any study's runs count)."""
    from augmix_lab.tracking import finished_trials

    finished = finished_trials(uri, experiment_for(plan.study), [t.key for t in plan.trials])
    for t in plan.trials:
        found = finished.get(t.key)
        if found is None:
            plan.todo.append(t)
        else:
            (plan.complete if found.eval_key == t.eval_key else plan.reevaluate)[t.key] = found.run_id


def _cell(flat: dict, dotted: str) -> str:
    try:
        return str(get_dotted(flat, dotted))
    except KeyError:
        return ""


def print_trial_table(console: Console, plan: StudyPlan, extra: dict[str, str] | None = None) -> None:
    cols = differing_params(plan.trials)
    table = Table(title=f"study {plan.study.name}: {len(plan.trials)} trials", show_lines=False)
    table.add_column("key", no_wrap=True)
    for c in ["variant", "seed", *cols, "state"]:
        table.add_column(c, overflow="fold")
    states = plan.states()
    for t in plan.trials:
        flat = t.config.model_dump(mode="json")
        state = states.get(t.key, "to run")
        if extra and t.key in extra:
            state = f"{state} {extra[t.key]}"
        table.add_row(t.key, t.variant, str(t.seed), *(_cell(flat, c) for c in cols), state)
    console.print(table)


def print_verdict(console: Console, plan: StudyPlan) -> None:
    v = verdict(read_manifest(plan.out_dir), plan.trials)
    console.print(f"[bold]verdict[/bold] {plan.study.path}: {v.summary(plan.study.hash)}")
    if v.orphaned:
        console.print(f"  orphaned (kept in the store, not part of this study any more): {', '.join(v.orphaned)}")
