"""The library never imports its callers: only ``operators/`` and ``cli/`` build on Airflow and connections."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "include" / "labelbridge"
#: What may import what: the library below, the Airflow layer and the CLI above it.
CALLERS = ("labelbridge.operators", "labelbridge.cli")
LIBRARY = sorted(
    path
    for path in PACKAGE.rglob("*.py")
    if path.relative_to(PACKAGE).parts[0] not in ("operators", "cli", "connections.py")
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", LIBRARY, ids=[str(p.relative_to(PACKAGE)) for p in LIBRARY])
def test_library_modules_import_neither_operators_nor_the_cli(path: Path) -> None:
    offending = sorted(n for n in _imports(path) if n.startswith(CALLERS) or n in ("labelbridge.connections",))
    assert offending == [], f"{path.relative_to(PACKAGE)} imports {offending}"


def test_clouds_imports_nothing_from_labelbridge() -> None:
    assert not [n for n in _imports(PACKAGE / "clouds.py") if n.startswith("labelbridge")]
