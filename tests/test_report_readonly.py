"""`augmix-lab report` only reads the store (issue 23): importing the report imports no torch, and a report builds in
a process where torch cannot be imported, from a store whose checkpoints are gone, leaving the store as it was.
Study-level analyses (affinity/diversity, soups) were computed by `run`; `analyze` recomputes nothing up to date."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_soups_study import STUDY, in_process_tune  # the same tiny two-stage study and Ray-free trial runner

ROOT = Path(__file__).resolve().parent.parent
NO_TORCH = """import sys
class NoTorch:  # a machine without torch: every `import torch` raises, as if it were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoTorch())
"""


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_importing_the_report_and_its_command_imports_no_torch(tmp_path: Path) -> None:
    done = _python("import sys\nimport augmix_lab.report, augmix_lab.cli.report_cmd, augmix_lab.report.plots\n"
                   "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _artifact_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_report_builds_from_the_store_alone_without_torch_or_checkpoints(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from augmix_lab.orchestration import runner
    from augmix_lab.orchestration.analyses import analyze_study

    path = tmp_path / "souptest.yaml"
    text = textwrap.dedent(STUDY) % {"db": tmp_path / "mlflow.db", "out": tmp_path / "out"}
    path.write_text(text.replace("variants:\n", "baseline: base\nvariants:\n", 1))
    monkeypatch.setattr(runner, "ray_session", lambda *a, **k: contextlib.nullcontext())
    monkeypatch.setattr(runner, "run_tune", in_process_tune)
    assert runner.run_study(path) == 0  # trains, builds the soups, computes affinity/diversity
    assert analyze_study(str(path)) == 0  # up to date: nothing recomputed
    shutil.rmtree(tmp_path / "out" / "trials")  # a machine with the store but no checkpoints
    artifacts = next(p for p in tmp_path.rglob("mlartifacts") if p.is_dir())
    for ckpt in list(artifacts.rglob("*.pt")):
        ckpt.unlink()
    before = _artifact_files(artifacts)
    out = tmp_path / "report"
    done = _python(NO_TORCH + "from augmix_lab.cli.main import main\n"
                   f"raise SystemExit(main(['report', '--tracking-uri', 'sqlite:///{tmp_path / 'mlflow.db'}', "
                   f"'--experiment', 'souptest', '--out', {str(out)!r}, '--format', 'md,csv']))", tmp_path)
    assert done.returncode == 0, done.stderr
    tables = {p.stem for p in (out / "tables").glob("*.md")}
    assert {"summary", "affinity_diversity", "soups", "effective_robustness"} <= tables
    assert "soups_shapes_small_cnn" in (out / "report.md").read_text()
    assert _artifact_files(artifacts) == before  # the report wrote nothing into the store's artifacts
