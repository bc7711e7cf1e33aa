"""The import graph of ``gen_framework``: no cycles, and the core packages stacked in layers.

The graph is read from the source with ``ast``, so it holds every import that can run: those at module level
and those inside functions (a function-local import hides a cycle from Python, not from this test). Imports
under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gen_framework

ROOT = Path(gen_framework.__file__).parent

#: The core packages from the bottom up: a module may import those below it, never one above it. Atomic writes
#: are a leaf every layer uses (the plugin index's cache included); the rest of persistence builds models
#: through the registry.
LAYERS = (
    "gen_framework.errors",
    "gen_framework._utils",
    "gen_framework.persistence.atomic",
    "gen_framework.registry",
    "gen_framework.persistence",
    "gen_framework.families",
)


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> source file, for every module under ``root`` (packages by their ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is a module of the package (``a.b.func`` -> ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (module level and function local)."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the submodule `pkg.sub` when there is one
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                known = _known(target, modules)
                if known is not None and known != name:
                    graph[name].add(known)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _layer(module: str) -> int | None:
    """The index in :data:`LAYERS` of the longest entry ``module`` is or lies under."""
    matches = [i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + ".")]
    return max(matches, key=lambda i: len(LAYERS[i]), default=None)


def test_gen_framework_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_core_packages_only_import_downwards():
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in import_graph().items()
        for target in targets
        if _layer(source) is not None and _layer(target) is not None and _layer(target) > _layer(source)
    )
    assert not upward, "a lower layer imports a higher one (order: " + " < ".join(LAYERS) + "):\n" + "\n".join(upward)


@pytest.mark.parametrize("local", [True, False], ids=["function-local", "module-level"])
def test_the_check_finds_a_cycle_however_it_is_hidden(tmp_path, local):
    """Two modules importing each other, one of them inside a function: still a cycle."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import g\n\ndef f():\n    return g()\n")
    body = "def g():\n    from pkg.a import f\n    return f\n" if local else "from pkg import a\n\ndef g():\n    return a\n"
    (package / "b.py").write_text(body)
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n")
    graph = import_graph(package)
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
    assert graph["pkg.c"] == set(), "imports that only type checkers run are not edges"


def test_the_top_level_holds_packages_and_the_few_public_modules():
    """A newcomer can name every top-level entry of gen_framework/ from the folder list."""
    root = Path(gen_framework.__file__).parent
    modules = sorted(p.name for p in root.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "errors.py"], modules
    packages = sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file())
    assert packages == [
        "_utils", "callbacks", "cli", "data", "families", "metrics", "persistence", "registry", "testing"
    ], packages
