"""`augmix-lab train`: a config file plus overriding flags trains, scores and writes its outputs; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augmix_lab.cli.main import main

TRIAL_YAML = """\
dataset:
  name: shapes
  options: {n_train: 256, n_test: 128}
model: small_cnn
epochs: 3
method: standard
train: {batch_size: 64, threads: 2}
eval:
  corruptions: {enabled: false}
device: cpu
"""


def test_train_from_config_with_flag_overrides_writes_scorecard_and_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "trial.yaml"
    config.write_text(TRIAL_YAML)
    out = tmp_path / "out"
    argv = ["train", "--config", str(config), "--epochs", "1", "--method", "augmix", "--jsd-arity", "3",
            "--seed", "5", "--train-subset", "128", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "clean_error" in captured.out and "epoch 1:" in captured.err
    payload = json.loads((out / "scorecard.json").read_text())
    assert payload["config"]["epochs"] == 1 and payload["config"]["method"] == "augmix"
    assert payload["config"]["jsd"]["arity"] == 3 and payload["config"]["seed"] == 5
    assert payload["config"]["dataset"]["options"] == {"n_train": 256, "n_test": 128}
    assert len(payload["history"]) == 1 and 0 <= payload["summary"]["clean_error"] <= 100
    assert (out / "checkpoints" / "final.pt").is_file()
    assert (out / "table.csv").is_file()


def test_bad_train_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--model", "wrn_40_2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "wrn_40_2" in err and "wrn40_2" in err
    assert main(["train", "--jsd-arity", "7", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "jsd.arity" in err and "7" in err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
