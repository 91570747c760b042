"""examples/custom_augmentation never rots: its plugin, study and README run end to end from a directory outside the
repository (plan, run with a tiny ``--set`` override, report), and editing one line of the plugin makes ``plan`` list
the trials as new, naming the plugin; reverting finds them again. (In-process on the test session's Ray; the driver
shipping the plugin to workers of a separate cluster is tests/test_cluster.py's.)"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from augmix_lab.cli.main import main
from augmix_lab.plugins import loaded_plugins, unload_plugins

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "custom_augmentation"
TINY = ["--set", "seeds=1", "--set", "base.epochs=1", "--set", "base.dataset.options.n_train=128",
        "--set", "base.dataset.options.n_test=64", "--set", "base.eval.corruptions.names=[gaussian_noise]",
        "--set", "base.eval.corruptions.severities=[1]"]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory outside the repository; the example's plugin is forgotten afterwards."""
    before = set(loaded_plugins())
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    yield folder
    unload_plugins([p for m, p in loaded_plugins().items() if m not in before])


def test_the_plugin_is_small_and_the_readme_short() -> None:
    assert len((EXAMPLE / "gaussian_da.py").read_text().splitlines()) <= 50
    assert len((EXAMPLE / "README.md").read_text().splitlines()) <= 10


@pytest.mark.slow
@pytest.mark.integration
def test_example_study_runs_from_outside_the_repository(ray_session, elsewhere: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    study = str(EXAMPLE / "study.yaml")
    assert main(["plan", study, "--no-estimate", "--out", str(out), *TINY]) == 0
    assert "3 trials" in capsys.readouterr().out
    assert main(["run", study, "--out", str(out), *TINY]) == 0
    assert "3/3 complete, 0 failed" in capsys.readouterr().err
    assert main(["report", "--study", str(out), "--format", "md,csv"]) == 0
    summary = (out / "report" / "tables" / "summary.md").read_text()
    assert all(f"| {variant} |" in summary for variant in ("standard", "augmix", "gaussian_da")), summary

    # one edited line of the plugin (a copy: the repository stays as it is) -> its trials are new, named
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy)
    plugin = copy / "gaussian_da.py"
    original = plugin.read_text()
    unload_plugins(loaded_plugins().values())  # the copy imports under the same module name
    plugin.write_text(original.replace('"max_sigma"]', '"max_sigma"] * 1.0'))
    assert main(["plan", str(copy / "study.yaml"), "--no-estimate", "--out", str(out), *TINY]) == 0
    edited = capsys.readouterr().out
    assert "3 new, 0 reused" in edited and "plugin code changed: gaussian_da (" in edited and "0 complete" in edited
    plugin.write_text(original)
    assert main(["plan", str(copy / "study.yaml"), "--no-estimate", "--out", str(out), *TINY]) == 0
    reverted = capsys.readouterr().out
    assert "0 new, 3 reused" in reverted and "3 complete" in reverted
