"""The report's model-soups table and plot, from a tiny two-stage study with soups trained in-process."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import pytest
from test_soups_study import STUDY, in_process_tune  # the same tiny study and Ray-free trial runner


def test_report_shows_soups_beside_best_member_and_members_mean(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from augmix_lab.cli.main import main
    from augmix_lab.orchestration import runner

    path = tmp_path / "souptest.yaml"
    path.write_text(textwrap.dedent(STUDY) % {"db": tmp_path / "mlflow.db", "out": tmp_path / "out"})
    monkeypatch.setattr(runner, "ray_session", lambda *a, **k: contextlib.nullcontext())
    monkeypatch.setattr(runner, "run_tune", in_process_tune)
    assert runner.run_study(path) == 0
    out = tmp_path / "report"
    assert main(["report", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--experiment", "souptest",
                 "--out", str(out), "--format", "md,csv"]) == 0
    md = (out / "report.md").read_text()
    assert "Model soups" in md and "soups_shapes_small_cnn" in md  # table and held-out vs -C error plot
    assert (out / "tables" / "soups.csv").is_file()
    rows = {r[3].split(" (")[0]: r for r in _rows(out / "tables" / "soups.md")}
    assert set(rows) == {"uniform soup", "greedy soup", "best single member", "members' mean"}
    assert rows["members' mean"][5].endswith("(n=3)")  # ± sd over the three fine-tuned members
    assert all(rows[k][4] for k in rows)  # every row names its members
    acc = {k: float(r[5].split()[0]) for k, r in rows.items()}
    assert acc["greedy soup"] >= acc["best single member"]  # greedy soup (Alg. 1) never ends below its best member
    summary_variants = {r[2] for r in _rows(out / "tables" / "summary.md")}
    assert summary_variants == {"base", "ft_lr1", "ft_lr2", "ft_aug"}  # soup runs never become trial rows


def _rows(md: Path) -> list[list[str]]:
    lines = [ln for ln in md.read_text().splitlines() if ln.startswith("|")][2:]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
