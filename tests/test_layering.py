"""The package import graph follows the layering documented in docs/architecture.md ("Layering").

Every ``import augmix_lab.<pkg>`` (top level or inside a function: a lazy import is still a dependency) is read
statically with ``ast``; a package may import only packages of a strictly lower layer, so two packages of one layer
never import each other and there is no cycle between packages.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "augmix_lab"
LAYER_LINE = re.compile(r"^L(\d+)\s+([a-z_][a-z_, ]*):")


def documented_layers() -> dict[str, int]:
    """``package -> layer`` from the fenced block under "## Layering" in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Layering", 1)[1]
    block = section.split("```", 2)[1]
    layers: dict[str, int] = {}
    for line in block.splitlines():
        m = LAYER_LINE.match(line.strip())
        if m:
            for name in m.group(2).split(","):
                layers[name.strip()] = int(m.group(1))
    return layers


def unit_of(path: Path) -> str:
    """The package a source file belongs to: its folder under augmix_lab/, or a top-level module's name."""
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) > 1:
        return rel.parts[0]
    return "augmix_lab" if rel.stem == "__init__" else rel.stem


def imported_units(path: Path) -> dict[str, int]:
    """``package -> first line`` of every augmix_lab package this file imports (relative imports stay inside)."""
    out: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module] if node.module != "augmix_lab" else [f"augmix_lab.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "augmix_lab":
                continue
            known = len(parts) > 1 and ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file())
            out.setdefault(parts[1] if known else "augmix_lab", node.lineno)  # `from augmix_lab import __version__`
    return out


def import_edges() -> list[tuple[str, str, str]]:
    """``(importer package, imported package, file:line)`` for every cross-package import."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = unit_of(path)
        for dst, line in imported_units(path).items():
            if dst != src:
                edges.append((src, dst, f"{path.relative_to(ROOT)}:{line}"))
    return edges


def test_every_package_has_a_documented_layer() -> None:
    layers = documented_layers()
    units = {unit_of(p) for p in PACKAGE.rglob("*.py")}
    assert units - set(layers) == set(), "add the new package to docs/architecture.md 'Layering'"
    assert set(layers) - units == set(), "docs/architecture.md 'Layering' names a package that does not exist"


def test_packages_import_only_lower_layers() -> None:
    layers = documented_layers()
    bad = [f"{where}: {src} (L{layers[src]}) imports {dst} (L{layers[dst]})"
           for src, dst, where in import_edges() if layers[dst] >= layers[src]]
    assert not bad, "imports against the layering of docs/architecture.md:\n" + "\n".join(bad)


@pytest.mark.parametrize(("importer", "imported"), [
    ("augment", "training"),  # MethodSpec lives in training: augment knows no hooks
    ("augment", "config"),  # methods own their Params; the config knows no methods
    ("config", "augment"),
    ("config", "training"),
    ("evaluation", "training"),  # device resolution is augmix_lab/device.py
    ("study", "tracking"),  # the spec stage knows nothing of MLflow
])
def test_named_seams_hold(importer: str, imported: str) -> None:
    edges = [where for src, dst, where in import_edges() if (src, dst) == (importer, imported)]
    assert not edges, f"{importer} imports {imported}: {edges}"


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    """A function-level import counts (else the test could not fail for the imports that matter most)."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from augmix_lab.training.spec import MethodSpec\n    import augmix_lab.config\n")
    assert imported_units(src) == {"training": 2, "config": 3}
