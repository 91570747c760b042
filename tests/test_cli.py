"""CLI contract: help for every subcommand, exit 2 with one line (no traceback) on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from augmix_lab.cli.main import SUBCOMMANDS, main


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert f"augmix-lab {name}" in out and "--help" in out


def test_unknown_subcommand_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid choice: 'frobnicate'" in err


def test_missing_study_file_exits_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["run", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err


def test_unknown_dataset_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "cifar11"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cifar11" in err and "cifar10" in err and len(err.splitlines()) == 1


def test_console_script_runs_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "augmix_lab.cli.main", "no-such-command"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip()


def test_augment_draws_a_png_gallery_of_every_op_and_refuses_bad_severities(tmp_path, capsys) -> None:  # noqa: ANN001
    from PIL import Image

    out = tmp_path / "gallery.png"
    assert main(["augment", "--out", str(out), "--severities", "1", "10", "--samples", "2", "--all-ops"]) == 0
    with Image.open(out) as png:  # one row per op (13 with --all-ops) plus the AugMix row
        assert png.format == "PNG" and png.size[1] > 13 * 100
    assert main(["augment", "--out", str(out), "--severities", "11"]) == 2
    assert "allowed: integers 1..10" in capsys.readouterr().err
