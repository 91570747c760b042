"""Lint and types as habits (issue 23): ruff's lint and format check and mypy over ``augmix_lab/`` stay clean.

Settings: ``[tool.ruff]`` and ``[tool.mypy]`` in pyproject.toml; versions pinned in constraints.txt (the ``test``
extra installs them). Each test fails with the tool's own report, so the fix is in the failure message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m <tool> ...`` in the repository root (where pyproject.toml configures the tool)."""
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{' '.join(map(str, proc.args[2:]))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"


def test_ruff_check_is_clean() -> None:
    proc = _run("ruff", "check", "augmix_lab", timeout=120)
    assert proc.returncode == 0, _report(proc)


def test_ruff_format_check_is_clean() -> None:
    proc = _run("ruff", "format", "--check", "augmix_lab", timeout=120)
    assert proc.returncode == 0, _report(proc) + "\nrun `ruff format augmix_lab`"


def test_mypy_is_clean() -> None:
    proc = _run("mypy", timeout=600)  # files = ["augmix_lab"] in pyproject.toml
    assert proc.returncode == 0, _report(proc)
