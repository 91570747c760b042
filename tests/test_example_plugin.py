"""examples/custom_augmentation never rots: its plugin, study and README run end to end from a directory outside the
repository (plan, run with a tiny ``--set`` override, report), and editing one line of the plugin makes ``plan`` list
the trials as new, naming the plugin; reverting finds them again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "custom_augmentation"
BIN = Path(sys.executable).parent
TINY = ["--set", "seeds=1", "--set", "base.epochs=1", "--set", "base.dataset.options.n_train=128",
        "--set", "base.dataset.options.n_test=64", "--set", "base.eval.corruptions.names=[gaussian_noise]",
        "--set", "base.eval.corruptions.severities=[1]"]

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, whatever the working directory
    result = subprocess.run([str(BIN / "augmix-lab"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_plugin_is_small_and_the_readme_short() -> None:
    assert len((EXAMPLE / "gaussian_da.py").read_text().splitlines()) <= 50
    assert len((EXAMPLE / "README.md").read_text().splitlines()) <= 10


def test_example_study_runs_from_outside_the_repository(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    study = str(EXAMPLE / "study.yaml")
    planned = cli("plan", study, "--no-estimate", "--out", str(out), *TINY, cwd=elsewhere)
    assert "3 trials" in planned.stdout and "gaussian_da" in planned.stdout
    ran = cli("run", study, "--out", str(out), *TINY, cwd=elsewhere)
    assert "3/3 complete, 0 failed" in ran.stderr
    cli("report", "--study", str(out), "--format", "md,csv", cwd=elsewhere)
    summary = (out / "report" / "tables" / "summary.md").read_text()
    assert all(f"| {variant} |" in summary for variant in ("standard", "augmix", "gaussian_da")), summary

    # one edited line of the plugin (a copy: the repository stays as it is) -> its trials are new, named
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy)
    plugin = copy / "gaussian_da.py"
    original = plugin.read_text()
    plugin.write_text(original.replace('"max_sigma"]', '"max_sigma"] * 1.0'))
    edited = cli("plan", str(copy / "study.yaml"), "--no-estimate", "--out", str(out), *TINY, cwd=elsewhere)
    assert "3 new, 0 reused" in edited.stdout and "plugin code changed: gaussian_da (" in edited.stdout
    assert "0 complete" in edited.stdout
    plugin.write_text(original)
    reverted = cli("plan", str(copy / "study.yaml"), "--no-estimate", "--out", str(out), *TINY, cwd=elsewhere)
    assert "0 new, 3 reused" in reverted.stdout and "3 complete" in reverted.stdout
