"""Live progress of a study on the driver: a Ray Tune callback showing each running trial's epoch, latest test error and
ETA (from the per-epoch ``epoch_time_s`` every trial reports), and a study ETA.

The study ETA comes from per-trial costs (``costs``: predicted seconds per epoch and for the final evaluation, from the
step costs of each trial's method, model and batch: ``estimate.estimate_trials``), scaled by how the trials that report
run against their prediction, and laid out over the concurrent slots in Tune's order (a trial waits for a free slot):
a study whose slow AugMix+JSD trials come after its fast Standard ones is not extrapolated from the Standard speed.
Without costs it falls back to the mean reported epoch time.

On a terminal it is a rich live display (one bar over trials, one line per running trial); when output is piped (logs,
CI, ``| tee``) it prints one plain line per trial every ``every`` epochs instead, plus one line per finished/failed trial.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ray import tune
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from augmix_lab.console import make_console
from augmix_lab.evaluation.registry import EPOCH_TIME_S, TEST_ERROR, headline_text
from augmix_lab.orchestration.trainable import DONE_METRIC, FAILED_METRIC, NOTE_KEY, OOM_METRIC

PIPED_EVERY = 5  # epochs between a trial's progress lines when piped


def format_eta(seconds: float | None) -> str:
    """Compact duration: 45s, 12m05s, 3h07m; '?' before the first epoch time is known."""
    if seconds is None:
        return "?"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class TrialState:
    """What the driver knows of one running trial from its per-epoch reports."""

    label: str
    epochs: int | None = None  # configured epochs (None: unknown)
    epoch: int = 0
    test_error: float | None = None
    epoch_times: list[float] = field(default_factory=list)
    started: float | None = None  # monotonic time the trial started (this round)
    last_report: float | None = None  # monotonic time of its last epoch report

    def mean_epoch_s(self) -> float | None:
        return sum(self.epoch_times) / len(self.epoch_times) if self.epoch_times else None

    def eta_s(self) -> float | None:
        """Seconds to the last epoch: remaining epochs x mean epoch time (evaluation not included)."""
        mean = self.mean_epoch_s()
        if mean is None or self.epochs is None:
            return None
        return max(0, self.epochs - self.epoch) * mean

    def line(self) -> str:
        total = self.epochs if self.epochs is not None else "?"
        err = f"{self.test_error:.2f}%" if self.test_error is not None else "-"
        return f"{self.label}  epoch {self.epoch}/{total}  test_error {err}  ETA {format_eta(self.eta_s())}"


class StudyProgress(tune.Callback):
    """Counts trial outcomes from Tune's driver-side hooks; shows per-trial epoch / test error / ETA and a study ETA."""

    def __init__(
        self,
        total: int,
        labels: dict[str, str],
        console: Console | None = None,
        epochs: dict[str, int] | None = None,
        live: bool | None = None,
        every: int = PIPED_EVERY,
        costs: dict[str, tuple[float, float]] | None = None,
        slots: int | None = None,
    ) -> None:
        self.total = total
        self.labels = labels
        self.epochs = dict(epochs or {})
        self.costs = dict(costs or {})  # key -> (predicted seconds per epoch, for the final evaluation)
        self.slots = slots  # trials that run at once (None: as many as run now)
        self.overheads: list[float] = []  # start -> first report, beyond the first epoch (data, model, store)
        self.eval_ratios: list[float] = []  # observed / predicted final evaluation
        self.console = console or make_console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self.every = max(1, every)
        self.running: set[str] = set()
        self.done: set[str] = set()
        self.failed: dict[str, str] = {}
        self.last_result: dict[str, dict[str, Any]] = {}
        self.states: dict[str, TrialState] = {}
        self.started = time.monotonic()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not self.live,
        )
        self._task = self._progress.add_task("trials", total=total, status=self._status())
        self._tasks: dict[str, Any] = {}

    # Tune pickles callbacks into its experiment state; the live display (locks, terminal) stays on the driver.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("console", "_progress", "_task", "_tasks"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ---------------------------------------------------------------------------------------------------- estimates
    def _mean_epoch_s(self) -> float | None:
        times = [t for s in self.states.values() for t in s.epoch_times]
        return sum(times) / len(times) if times else None

    def study_eta_s(self) -> float | None:
        """Seconds until the last trial of this round ends: per-trial costs when known (``costs``), else the mean
        epoch time x remaining epochs spread over the trials running at once."""
        pending = [k for k in self.labels if k not in self.running and k not in self.done and k not in self.failed]
        if self.costs and all(k in self.costs for k in [*self.running, *pending]):
            return self._scheduled_eta(pending)
        mean = self._mean_epoch_s()
        if mean is None:
            return None
        work = 0.0
        for key in self.running:
            state = self.states.get(key)
            eta = state.eta_s() if state is not None else None
            work += eta if eta is not None else self.epochs.get(key, 0) * mean
        pending = [k for k in self.labels if k not in self.running and k not in self.done and k not in self.failed]
        work += sum(self.epochs.get(k, 0) for k in pending) * mean
        return work / max(1, len(self.running))

    def _scheduled_eta(self, pending: list[str]) -> float:
        """Remaining time per trial (observed epoch times where a trial reported, else its predicted cost scaled by
        how reporting trials run against theirs), laid out over ``slots`` in queue order; the last end is the ETA."""
        import heapq
        import statistics

        now = time.monotonic()
        ratios = [
            mean / self.costs[k][0]
            for k, s in self.states.items()
            if self.costs.get(k, (0.0, 0.0))[0] > 0 and (mean := s.mean_epoch_s()) is not None
        ]
        scale = statistics.median(ratios) if ratios else 1.0
        eval_scale = statistics.median(self.eval_ratios) if self.eval_ratios else scale
        overhead = statistics.median(self.overheads) if self.overheads else 0.0

        def left(key: str) -> float:
            epoch_s, eval_s = self.costs[key]
            state = self.states.get(key)
            observed = state.mean_epoch_s() if state is not None else None  # None until the trial reports an epoch
            per_epoch = observed if observed is not None else epoch_s * scale
            done = state.epoch if state is not None else 0
            rest = max(0, self.epochs.get(key, 0) - done) * per_epoch + eval_s * eval_scale
            if key not in self.running or state is None:
                return overhead + rest
            since = state.last_report if state.last_report is not None else state.started
            rest += 0.0 if state.last_report is not None else overhead
            return max(0.0, rest - (now - since)) if since is not None else rest

        busy = [left(k) for k in self.running]
        free = busy + [0.0] * max(0, (self.slots or len(busy) or 1) - len(busy))
        heapq.heapify(free)
        for key in pending:
            heapq.heappush(free, heapq.heappop(free) + left(key))
        return max(free) if free else 0.0

    def _status(self) -> str:
        return (
            f"running {len(self.running)}  done {len(self.done)}  failed {len(self.failed)}  "
            f"study ETA {format_eta(self.study_eta_s())}"
        )

    def _key(self, trial: Any) -> str:
        return str(trial.config.get("trial_key"))

    def _state(self, key: str) -> TrialState:
        if key not in self.states:
            self.states[key] = TrialState(self.labels.get(key, key), self.epochs.get(key))
        return self.states[key]

    def _print(self, text: str) -> None:
        self._progress.console.print(text, highlight=False)

    def _refresh(self) -> None:
        self._progress.update(self._task, completed=len(self.done) + len(self.failed), status=self._status())

    def __enter__(self) -> StudyProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._refresh()
        self._progress.stop()

    # ------------------------------------------------------------------------------------------------ Tune's hooks
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        self.running.add(key)
        state = self._state(key)
        state.started, state.last_report = time.monotonic(), None
        if self.live and key not in self._tasks:
            self._tasks[key] = self._progress.add_task(
                f"  {state.label}", total=state.epochs, completed=state.epoch, status="starting"
            )
        self._refresh()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        key = self._key(trial)
        self.last_result[key] = result
        if result.get(FAILED_METRIC):
            self.failed[key] = "trial failed (see its MLflow run)"
        if isinstance(result.get(NOTE_KEY), str):  # e.g. resumed from a fallback checkpoint: what was skipped
            self._print(f"[yellow]WARNING[/yellow] {self.labels.get(key, key)}: {result[NOTE_KEY]}")
        if "epoch" not in result:  # the final (evaluated) report carries no epoch
            return
        self.running.add(key)
        state = self._state(key)
        state.epoch = int(result["epoch"])
        if result.get(TEST_ERROR) is not None:
            state.test_error = float(result[TEST_ERROR])
        seconds = result.get(EPOCH_TIME_S, result.get("time_this_iter_s"))
        now = time.monotonic()
        if seconds is not None:
            if state.last_report is None and state.started is not None:  # setup before the first epoch
                self.overheads.append(max(0.0, now - state.started - float(seconds)))
            state.epoch_times.append(float(seconds))
        state.last_report = now
        if self.live:
            task = self._tasks.get(key)
            if task is not None:
                err = f"{state.test_error:.2f}%" if state.test_error is not None else "-"
                self._progress.update(
                    task,
                    completed=state.epoch,
                    total=state.epochs,
                    status=f"test_error {err}  ETA {format_eta(state.eta_s())}",
                )
        elif state.epoch % self.every == 0 or state.epoch == 1 or state.epoch == state.epochs:
            self._print(f"progress {state.line()}  (study ETA {format_eta(self.study_eta_s())})")
        self._refresh()

    def _end(self, key: str) -> None:
        self.running.discard(key)
        task = self._tasks.pop(key, None)
        if task is not None:
            self._progress.remove_task(task)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        state = self.states.get(key)
        finished = bool(self.last_result.get(key, {}).get(DONE_METRIC))
        if finished and state is not None and state.last_report is not None and self.costs.get(key, (0.0, 0.0))[1] > 0:
            self.eval_ratios.append((time.monotonic() - state.last_report) / self.costs[key][1])
        self._end(key)
        label = self.labels.get(key, key)
        result = self.last_result.get(key, {})
        if key in self.failed:
            self._print(f"[red]FAILED[/red]   {label}")
        elif result.get(OOM_METRIC):  # not done: the driver re-packs it into a larger GPU share next round
            self.failed[key] = "CUDA out of memory"
            self._print(f"[yellow]OUT OF GPU MEMORY[/yellow] {label}")
        else:
            self.done.add(key)
            headline = headline_text(result)  # e.g. "clean 12.50%  mCE 20.00%" (the registry's headline metrics)
            extra = f"  {headline}" if headline else ""
            if not result.get(DONE_METRIC):
                extra = "  (stopped early by the scheduler)"
            self._print(f"[green]FINISHED[/green] {label}{extra}")
        self._refresh()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        self._end(key)
        self.failed[key] = str(getattr(trial, "error_file", "") or "error")
        self._print(f"[red]FAILED[/red]   {self.labels.get(key, key)} (crashed; error in its MLflow run)")
        self._refresh()
