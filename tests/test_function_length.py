"""Keep functions small where the logic lives (issue 23): no function or method in ``study/``, ``orchestration/``,
``training/`` or ``evaluation/`` spans more than ``MAX_LINES`` lines (``def`` line to last line, docstring and nested
functions included), read with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "augmix_lab"
PACKAGES = ("study", "orchestration", "training", "evaluation")
MAX_LINES = 60


def long_functions(source: str, limit: int = MAX_LINES) -> list[tuple[str, int, int]]:
    """``(name, first line, length)`` of every function longer than ``limit`` lines."""
    return [(node.name, node.lineno, node.end_lineno - node.lineno + 1)  # type: ignore[operator]
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]  # type: ignore[operator]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_is_longer_than_the_limit(package: str) -> None:
    found = [f"{path.relative_to(PACKAGE.parent)}:{line} {name} ({length} lines)"
             for path in sorted((PACKAGE / package).rglob("*.py"))
             for name, line, length in long_functions(path.read_text())]
    assert not found, f"functions over {MAX_LINES} lines (split them into named steps):\n" + "\n".join(found)


def test_the_checker_counts_methods_and_nested_functions() -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_LINES))
    source = f"class A:\n    def long(self):\n        def inner():\n            pass\n{body}\n"
    assert [name for name, _, _ in long_functions(source)] == ["long"]
