"""Live progress of a study on the driver: a Ray Tune callback drawing trials done / running / failed and an ETA with rich."""

from __future__ import annotations

import time
from typing import Any

from ray import tune
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from augmix_lab.console import make_console
from augmix_lab.orchestration.trainable import DONE_METRIC, FAILED_METRIC, OOM_METRIC


class StudyProgress(tune.Callback):
    """Counts trial outcomes from Tune's driver-side hooks and prints one line per finished or failed trial."""

    def __init__(self, total: int, labels: dict[str, str], console: Console | None = None) -> None:
        self.total = total
        self.labels = labels
        self.console = console or make_console(stderr=True)
        self.running: set[str] = set()
        self.done: set[str] = set()
        self.failed: dict[str, str] = {}
        self.last_result: dict[str, dict[str, Any]] = {}
        self.started = time.monotonic()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self._task = self._progress.add_task("trials", total=total, status=self._status())

    # Tune pickles callbacks into its experiment state; the live display (locks, terminal) stays on the driver.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("console", "_progress", "_task"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _status(self) -> str:
        return f"running {len(self.running)}  done {len(self.done)}  failed {len(self.failed)}"

    def _key(self, trial: Any) -> str:
        return str(trial.config.get("trial_key"))

    def _refresh(self) -> None:
        self._progress.update(self._task, completed=len(self.done) + len(self.failed), status=self._status())

    def __enter__(self) -> "StudyProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._refresh()
        self._progress.stop()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(self._key(trial))
        self._refresh()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        key = self._key(trial)
        self.last_result[key] = result
        if result.get(FAILED_METRIC):
            self.failed[key] = "trial failed (see its MLflow run)"

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        self.running.discard(key)
        label = self.labels.get(key, key)
        result = self.last_result.get(key, {})
        if key in self.failed:
            self._progress.console.print(f"[red]FAILED[/red]   {label}")
        elif result.get(OOM_METRIC):  # not done: the driver re-packs it into a larger GPU share next round
            self.failed[key] = "CUDA out of memory"
            self._progress.console.print(f"[yellow]OUT OF GPU MEMORY[/yellow] {label}")
        else:
            self.done.add(key)
            mce = result.get("mean_corruption_error")
            extra = f"  clean {result.get('clean_error', float('nan')):.2f}%  mCE {mce:.2f}%" if mce is not None else ""
            if not result.get(DONE_METRIC):
                extra = "  (stopped early by the scheduler)"
            self._progress.console.print(f"[green]FINISHED[/green] {label}{extra}")
        self._refresh()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        self.running.discard(key)
        self.failed[key] = str(getattr(trial, "error_file", "") or "error")
        self._progress.console.print(f"[red]FAILED[/red]   {self.labels.get(key, key)} (crashed; error in its MLflow run)")
        self._refresh()
