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
