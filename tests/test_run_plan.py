"""`augmix-lab plan`: the trial table, counts and a measured cost estimate, without training or creating a store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from augmix_lab.cli.main import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_plan_lists_every_trial_with_a_measured_estimate_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    assert main(["plan", str(ROOT / "studies" / "smoke.yaml"), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "2 trials: 0 complete, 0 need re-evaluation only, 2 to train" in out
    rows = [ln for ln in out.splitlines() if re.search(r"\b[0-9a-f]{16}\b", ln)]
    assert len(rows) == 2 and any("standard" in r for r in rows) and any("augmix" in r for r in rows)
    assert all(re.search(r"~\d+(\.\d)? (s|min|h)", r) for r in rows), rows
    assert "estimated cost on this machine" in out
    assert not out_dir.exists(), "planning must not create the study directory or a tracking store"


def test_plan_of_a_bad_study_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbase: {epochs: -3}\n")
    assert main(["plan", str(bad)]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
