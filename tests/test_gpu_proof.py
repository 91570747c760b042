"""The GPU proof harness's CPU path: `--device cpu --quick` exits 0, prints every row, writes the JSON table, with
MLflow and Ray unimportable (the GPU machine has neither): the test step collects and runs the gpu-marked modules."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def blocked_imports(folder: Path) -> Path:
    """A PYTHONPATH entry whose ``mlflow`` and ``ray`` raise ImportError on import, as on the GPU machine."""
    for name in ("mlflow", "ray"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed on the GPU machine')\n")
    return folder


def harness():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("gpu_proof", ROOT / "benchmarks" / "gpu_proof.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.slow
def test_gpu_proof_quick_cpu_prints_every_row_without_mlflow_or_ray(tmp_path: Path) -> None:
    out = tmp_path / "proof.json"
    shim = blocked_imports(tmp_path / "blocked")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(shim), str(ROOT))), "OMP_NUM_THREADS": "1"}
    # the tests section is test_the_test_step_collects_with_mlflow_and_ray_unimportable below (it costs ~20 s here)
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_proof.py"), "--device", "cpu", "--quick",
                        "--skip-tests", "--out", str(out)], capture_output=True, text=True, env=env, timeout=900,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    sections = {row["section"] for row in rows}
    assert set(harness().SECTIONS) - {"tests"} | {"total"} == sections
    names = [row["name"] for row in rows]
    assert any("reference PIL" in n for n in names) and any("timm" in n for n in names)
    assert sum(n.startswith(("wrn40_2/", "resnext29_32x4d/")) for n in names) == 8  # 2 models x 2 methods x eager/compile
    engines = [row for row in rows if row["section"] == "engines"]
    assert [row["name"].split()[1] for row in engines] == ["32px", "32px", "224px", "224px"]
    eval_c = [row for row in rows if row["section"] == "eval-C" and "s3 + forward" in row["name"]]
    assert eval_c and all("host->device" in row["note"] for row in eval_c)  # copies counted per corruption
    projection = next(row for row in rows if row["section"] == "projection")["value"]
    assert all(study in projection for study in ("ablation", "methods", "imagenet"))
    assert {f"section {s}" for s in harness().SECTIONS if s != "tests"} <= set(names)  # per-section wall times
    assert doc["device"] == "cpu" and doc["sections"] == list(harness().SECTIONS)[1:]


def test_the_table_is_written_after_every_row_and_sections_parse(tmp_path: Path) -> None:
    gp = harness()
    gp.STATE["out"] = tmp_path / "partial.json"
    gp.ROWS.clear()
    gp.row("augmix", "first", 1.0, "img/s")
    assert [r["name"] for r in json.loads(gp.STATE["out"].read_text())["rows"]] == ["first"]
    gp.row("augmix", "second", 2.0, "img/s")  # a timeout after this row keeps both
    assert [r["name"] for r in json.loads(gp.STATE["out"].read_text())["rows"]] == ["first", "second"]
    assert gp.parse_sections(None, skip_tests=True) == [s for s in gp.SECTIONS if s != "tests"]
    assert gp.parse_sections("compile, tests,engines", skip_tests=False) == ["tests", "engines", "compile"]
    with pytest.raises(SystemExit, match="allowed"):
        gp.parse_sections("tests,gpu", skip_tests=False)


def test_a_failing_test_step_is_recorded_and_the_measurements_still_run(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    gp = harness()
    gp.STATE["out"], gp.STATE["failed"] = tmp_path / "proof.json", []
    gp.ROWS.clear()
    fake = [sys.executable, "-c", "print('FAILED tests/test_x.py::test_y - boom'); print('1 failed'); raise SystemExit(1)"]
    monkeypatch.setattr(gp, "gpu_test_command", lambda: fake)
    gp.run_gpu_tests(torch.device("cpu"))  # no SystemExit: the next sections run
    assert gp.ROWS[-1]["value"] == "FAILED" and "tests/test_x.py::test_y" in gp.ROWS[-1]["note"]
    assert gp.STATE["failed"] == ["tests"] and "boom" in (tmp_path / "proof.tests.log").read_text()


def test_the_test_step_runs_the_gpu_marked_modules_with_deprecations_not_fatal() -> None:
    gp = harness()
    files = gp.gpu_test_files()
    decorated = sorted(p for p in (ROOT / "tests").glob("test_*.py")
                       if any(line.strip().startswith("@pytest.mark.gpu") for line in p.read_text().splitlines()))
    assert files == decorated and len(files) >= 5 and Path(__file__) not in files
    command = gp.gpu_test_command()
    assert command[command.index("-m", 2) + 1] == "gpu" and all(str(f) in command for f in files)
    assert "default::DeprecationWarning" in command  # pyproject's filterwarnings=error stays on for the rest


@pytest.mark.slow
def test_the_test_step_collects_with_mlflow_and_ray_unimportable(tmp_path: Path) -> None:
    """What the GPU machine does first (issue 29 item 1): before, collecting tests/ failed on seven modules."""
    shim = blocked_imports(tmp_path / "blocked")
    gp = harness()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(shim), str(ROOT)))}
    r = subprocess.run([*gp.gpu_test_command(), "--collect-only"], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    collected = {line.split("::")[0] for line in r.stdout.splitlines() if "::" in line}
    assert collected == {str(f.relative_to(ROOT)) for f in gp.gpu_test_files()}
