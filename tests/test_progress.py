"""The live progress view, driven with synthetic per-epoch Tune results: per-trial epoch / test error / ETA lines."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from rich.console import Console

from augmix_lab.orchestration.progress import StudyProgress, TrialState, format_eta
from augmix_lab.orchestration.trainable import DONE_METRIC


def _trial(key: str) -> SimpleNamespace:
    return SimpleNamespace(config={"trial_key": key}, error_file=None)


def _progress(live: bool = False) -> tuple[StudyProgress, io.StringIO]:
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=live, color_system=None)
    labels = {"a": "augmix-s0-aaaa", "b": "standard-s0-bbbb", "c": "mixup-s0-cccc"}
    return StudyProgress(3, labels, console, epochs={"a": 10, "b": 10, "c": 10}, every=5), buf


def test_piped_prints_one_line_per_trial_every_few_epochs_with_eta() -> None:
    prog, buf = _progress(live=False)
    with prog:
        for key in ("a", "b"):
            prog.on_trial_start(0, [], _trial(key))
        for epoch in range(1, 11):
            prog.on_trial_result(0, [], _trial("a"), {"epoch": epoch, "test_error": 50.0 - epoch, "epoch_time_s": 2.0})
            if epoch <= 5:
                prog.on_trial_result(0, [], _trial("b"), {"epoch": epoch, "test_error": 60.0, "epoch_time_s": 4.0})
        prog.on_trial_result(0, [], _trial("a"), {"clean_error": 12.5, "mean_corruption_error": 20.0, DONE_METRIC: 1})
        prog.on_trial_complete(0, [], _trial("a"))
    lines = buf.getvalue().splitlines()
    a_lines = [ln for ln in lines if ln.startswith("progress augmix-s0-aaaa")]
    assert [re.search(r"epoch (\d+)/10", ln).group(1) for ln in a_lines] == ["1", "5", "10"]  # not every epoch
    assert "test_error 45.00%  ETA 10s" in a_lines[1]  # 5 epochs left x 2 s
    assert "ETA 0s" in a_lines[2]
    b5 = next(ln for ln in lines if ln.startswith("progress standard-s0-bbbb  epoch 5/10"))
    assert "test_error 60.00%  ETA 20s" in b5
    assert any(ln.startswith("FINISHED augmix-s0-aaaa  clean 12.50%  mCE 20.00%") for ln in lines)
    # study ETA: b has 5 x 4 s left, c (pending) 10 epochs x the mean epoch time (2.5 s), b alone running
    assert prog.study_eta_s() == 5 * 4.0 + 10 * (sum([2.0] * 10 + [4.0] * 5) / 15)


def test_live_display_shows_running_trials_and_the_study_eta() -> None:
    prog, buf = _progress(live=True)
    with prog:
        prog.on_trial_start(0, [], _trial("a"))
        prog.on_trial_result(0, [], _trial("a"), {"epoch": 3, "test_error": 41.0, "epoch_time_s": 60.0})
        prog._progress.refresh()
        text = buf.getvalue()
        assert "augmix-s0-aaaa" in text and "test_error 41.00%  ETA 7m00s" in text
        assert re.search(r"study ETA \d+m\d\ds", text)
        assert not any(ln.startswith("progress ") for ln in text.splitlines())  # no piped lines on a terminal
        prog.on_trial_complete(0, [], _trial("a"))
        assert "a" not in prog._tasks


def test_trial_state_and_eta_format() -> None:
    state = TrialState("x", epochs=100, epoch=40, epoch_times=[30.0, 30.0])
    assert state.eta_s() == 1800 and format_eta(state.eta_s()) == "30m00s"
    assert format_eta(None) == "?" and format_eta(7300) == "2h01m" and format_eta(12.4) == "12s"
    assert TrialState("y").line() == "y  epoch 0/?  test_error -  ETA ?"


def test_study_eta_lays_per_trial_costs_over_the_slots(monkeypatch) -> None:  # noqa: ANN001
    """Issue 27: fast trials first must not make the slow ones look fast. Two slots; a, b cost 1 s/epoch and c
    3 s/epoch as predicted; a and b really take 2 s/epoch, so c is expected to take 6 s/epoch after them."""
    from augmix_lab.orchestration import progress as progress_module

    clock = {"now": 0.0}
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock["now"])
    buf = io.StringIO()
    labels = {"a": "standard-s0", "b": "standard-s1", "c": "augmix-s0"}
    prog = StudyProgress(3, labels, Console(file=buf, width=200, color_system=None), epochs=dict.fromkeys(labels, 10),
                         costs={"a": (1.0, 0.0), "b": (1.0, 0.0), "c": (3.0, 0.0)}, slots=2)
    assert prog.study_eta_s() == 10 * 1.0 + 10 * 3.0  # before any report: predicted, c after a (or b)
    for key in ("a", "b"):
        prog.on_trial_start(0, [], _trial(key))
    clock["now"] = 2.0
    for key in ("a", "b"):
        prog.on_trial_result(0, [], _trial(key), {"epoch": 1, "test_error": 50.0, "epoch_time_s": 2.0})
    assert prog.study_eta_s() == 9 * 2.0 + 10 * 3.0 * 2.0  # a, b: 18 s left; then c at twice its predicted cost
    clock["now"] = 3.0
    assert prog.study_eta_s() == 9 * 2.0 - 1.0 + 60.0  # a second into their second epoch
