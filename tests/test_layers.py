"""The library never imports its callers: only ``operators/``, ``hooks/``, ``cli/`` and ``ui/`` build on Airflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "include" / "labelbridge"
#: What may import what: the library below, the Airflow layer and the CLI above it.
CALLERS = ("labelbridge.operators", "labelbridge.hooks", "labelbridge.cli", "labelbridge.ui")
LIBRARY = sorted(
    path
    for path in PACKAGE.rglob("*.py")
    if path.relative_to(PACKAGE).parts[0] not in ("operators", "hooks", "cli", "ui", "connections.py")
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


def _module_name(path: Path) -> str:
    parts = ("labelbridge", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every labelbridge module and the labelbridge modules it imports anywhere in its text:
    at top level, inside functions and under ``TYPE_CHECKING`` alike, since each can hide a cycle."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path):
            # "from a.b import c" names module a.b.c when it is one, else a.b's attribute c.
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def test_no_import_cycles_hidden_or_not() -> None:
    graph = _import_graph()
    cycles = []
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []
