"""`plan`'s step costs: measured once per configuration and machine, cached in a small JSON file, corruption ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from augmix_lab.cli.main import main
from augmix_lab.orchestration import estimate, step_cache

TINY = """name: tiny
base: {dataset: {name: shapes, options: {n_train: 64, n_test: 32}}, model: small_cnn, epochs: 1,
       train: {batch_size: 8, threads: 1}, eval: {corruptions: {names: [contrast], severities: [1]}}}
variants:
  - {name: standard, method: standard, jsd: {arity: 1}}
  - {name: augmix, method: augmix, jsd: {arity: 3}}
seeds: 2
"""


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []

    def fake_measure(cfg, num_classes, image_size, kind, batch=16, steps=5, device="cpu"):  # noqa: ANN001, ANN202
        calls.append((cfg.model, cfg.method))
        return 1e-3, 1e-4

    monkeypatch.setattr(estimate, "measure_step", fake_measure)
    monkeypatch.setattr(estimate.LoadProbe, "contended", lambda self, threads: False)  # a fake step has no load
    return calls


def test_second_plan_measures_nothing(tmp_path: Path, counted: list, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    assert main(["plan", str(study), "--out", str(tmp_path / "out")]) == 0
    assert sorted(counted) == [("small_cnn", "augmix"), ("small_cnn", "standard")]  # once per config, not per seed
    first = capsys.readouterr().out
    assert step_cache.cache_path().is_file() and str(step_cache.cache_path()) in first
    assert main(["plan", str(study), "--out", str(tmp_path / "out")]) == 0
    assert len(counted) == 2, "the second plan must read the cache, not measure again"
    assert "estimated cost on this machine" in capsys.readouterr().out
    assert main(["plan", str(study), "--out", str(tmp_path / "out"), "--set", "base.train.batch_size=4"]) == 0
    assert len(counted) == 4, "another batch size is another configuration"


def test_cache_key_names_what_the_timing_depends_on() -> None:
    from augmix_lab.config import TrialConfig

    cfg = TrialConfig(model="small_cnn", method="augmix")
    key = dict(classes=10, image_size=32, kind="cifar", batch=16, device="cpu")
    base = step_cache.step_cost_key(cfg, **key)
    assert base == step_cache.step_cost_key(cfg.model_copy(update={"seed": 5, "epochs": 3}), **key)
    for other in (cfg.model_copy(update={"model": "allconv"}), cfg.model_copy(update={"method": "standard"})):
        assert step_cache.step_cost_key(other, **key) != base
    assert step_cache.step_cost_key(cfg, **{**key, "batch": 32}) != base
    assert step_cache.step_cost_key(cfg, **{**key, "image_size": 64}) != base


def test_a_cost_timed_with_the_torch_engine_is_not_reused_for_the_compiled_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from augmix_lab import jit
    from augmix_lab.config import TrialConfig

    cfg = TrialConfig(model="small_cnn", method="augmix")
    key = dict(classes=10, image_size=32, kind="cifar", batch=16, device="cpu")
    monkeypatch.setattr(jit, "available", lambda: True)
    compiled = step_cache.step_cost_key(cfg, **key)
    monkeypatch.setattr(jit, "available", lambda: False)  # no numba: the torch engine runs the ops
    assert step_cache.step_cost_key(cfg, **key) != compiled


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"k": {"train_s_per_image": "x"}}', ""])
def test_corrupted_cache_is_ignored_and_rewritten(content: str) -> None:
    path = step_cache.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    assert step_cache.lookup("k") is None
    step_cache.store("k", (2e-3, 3e-4))
    assert step_cache.lookup("k") == (2e-3, 3e-4)
    path.unlink()  # safe to delete
    assert step_cache.lookup("k") is None


# ---- issue 27: only trustworthy step costs are cached --------------------------------------------------------------

@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(step_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _cfg():  # noqa: ANN202
    from augmix_lab.config import TrialConfig

    return TrialConfig.model_validate({"model": "small_cnn", "method": "standard", "jsd": {"arity": 1},
                                       "train": {"batch_size": 4, "threads": 1}})


def test_a_step_cost_is_the_best_of_its_repeats_and_knows_its_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    # a fake clock: the 5 timed steps take 5, 1, 3, 2, 4 s; the 3 forward passes 0.5, 0.25, 1 s
    ticks = iter([0, 5, 10, 11, 20, 23, 30, 32, 40, 44, 50, 50.5, 60, 60.25, 70, 71])
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: float(next(ticks)))
    cost = estimate.measure_step(_cfg(), 10, 32, "cifar", batch=4)
    assert cost == (1 / 4, 0.25 / 4) and cost.spread == 3.0  # best of the repeats; median 3 s over best 1 s


@pytest.mark.parametrize(("spread", "contended", "neighbour", "why"), [
    (1.0, False, None, None),
    (2.0, False, None, "noisy: its repeats' median was 2.0x their best"),
    (1.0, True, None, "taken under load"),
    (1.0, False, 0.0053, "x the cached cost of the same model, method and batch on other data"),
])
def test_a_measurement_under_load_noisy_or_far_off_its_neighbours_is_not_cached(
        fresh_cache: Path, monkeypatch: pytest.MonkeyPatch, spread: float, contended: bool, neighbour: float | None,
        why: str | None) -> None:
    cfg = _cfg()
    monkeypatch.setattr(estimate, "measure_step", lambda *a, **k: estimate.StepCost(0.216, 1e-3, spread))
    monkeypatch.setattr(estimate.LoadProbe, "contended", lambda self, threads: contended)
    if neighbour is not None:  # the same model, method and batch on CIFAR-100, measured right
        key = step_cache.step_cost_key(cfg, classes=100, image_size=32, kind="cifar", batch=4, device="cpu")
        step_cache.store(key, (neighbour, 1e-4), model="small_cnn", method="standard", batch=4, image_size=32,
                         device="cpu", threads=1, jsd_arity=1, classes=100)
    value, note = estimate.measure_step_cached(cfg, 10, 32, "cifar", batch=4)
    assert value == (0.216, 1e-3)
    key = step_cache.step_cost_key(cfg, classes=10, image_size=32, kind="cifar", batch=4, device="cpu")
    assert (step_cache.lookup(key) is None) == (why is not None)
    assert (note is None) if why is None else (why in note)


def test_a_cached_cost_that_disagrees_with_the_logged_step_times_is_measured_again(
        fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, calls = _cfg(), []
    key = step_cache.step_cost_key(cfg, classes=10, image_size=32, kind="cifar", batch=4, device="cpu")
    step_cache.store(key, (0.216, 1e-3), model="small_cnn", method="standard", batch=4)  # cached 40x too slow

    def measure(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return estimate.StepCost(0.0053, 1e-4)

    monkeypatch.setattr(estimate, "measure_step", measure)
    monkeypatch.setattr(estimate.LoadProbe, "contended", lambda self, threads: False)
    assert estimate.measure_step_cached(cfg, 10, 32, "cifar", batch=4, logged_s=0.0055) == ((0.0053, 1e-4), None)
    assert calls == [1] and step_cache.lookup(key) == (0.0053, 1e-4)
    assert estimate.measure_step_cached(cfg, 10, 32, "cifar", batch=4, logged_s=0.0055)[0] == (0.0053, 1e-4)
    assert estimate.measure_step_cached(cfg, 10, 32, "cifar", batch=4, logged_s=0.0060)[0] == (0.0053, 1e-4)
    assert calls == [1], "an agreeing cache entry is not measured again"


def test_plan_checks_its_cache_against_the_studys_logged_step_times(
        fresh_cache: Path, tmp_path: Path, counted: list, monkeypatch: pytest.MonkeyPatch) -> None:
    from augmix_lab.cli import plan_cmd
    from augmix_lab.study import expand_study, read_study

    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    out = tmp_path / "out"
    assert main(["plan", str(study), "--out", str(out)]) == 0 and len(counted) == 2  # fake: 1e-3 s per image
    out.mkdir()
    (out / "mlflow.db").touch()  # a store exists (its reads are faked below)
    import augmix_lab.tracking as tracking
    from augmix_lab.orchestration import plan as plan_module

    monkeypatch.setattr(plan_module, "lookup_store", lambda plan, uri: plan.todo.extend(plan.trials))
    monkeypatch.setattr(tracking, "check_reachable", lambda uri: None)
    standard = next(t for t in expand_study(read_study(study)) if t.variant == "standard")
    monkeypatch.setattr(plan_cmd, "logged_costs", lambda uri, plan: {standard.key: 0.05})  # it really ran 50x slower
    monkeypatch.setattr(estimate.LoadProbe, "contended", lambda self, threads: False)
    assert main(["plan", str(study), "--out", str(out)]) == 0
    assert counted[2:] == [("small_cnn", "standard")], "only the disagreeing configuration is measured again"
