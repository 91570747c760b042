"""The README's two set-up commands are the contract with a new user; CI must run exactly the test one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_command(marker: str) -> str:
    """The single command line in the fenced block that follows ``<!-- marker -->`` in README.md."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```(?:bash|sh)?\n(.+?)\n```", text, re.S)
    assert match, f"README.md has no fenced command after <!-- {marker} -->"
    lines = [ln for ln in match.group(1).splitlines() if ln.strip()]
    assert len(lines) == 1, f"the {marker} block must be one command line, got {lines}"
    return lines[0]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = _readme_command("test-command")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines, f".ci/run must contain the README test command verbatim: {command}"
    assert "pytest" in command and "constraints.txt" in command


def test_quickstart_command_installs_pinned_and_runs_the_quickstart_then_report() -> None:
    command = _readme_command("quickstart-command")
    assert "pip install -c constraints.txt" in command
    assert "augmix-lab run studies/quickstart.yaml" in command
    assert command.rstrip().split("&&")[-1].strip().startswith("augmix-lab report")
    assert (ROOT / "studies" / "quickstart.yaml").is_file()


def test_constraints_pin_every_runtime_dependency() -> None:
    pins = {
        ln.split("==")[0].strip().lower().replace("_", "-")
        for ln in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in ln and not ln.startswith("#")
    }
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    for dep in deps:
        name = re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is a dependency but not pinned in constraints.txt"
