"""The package's modules import one another one way: no import circles, counting
the imports inside functions too (they are how circles hide: each works only
because the other module happens to be loaded first).

The graph: one node per module of the package (``spatial/x/__init__.py`` is the
node ``spatial.x``); an edge A -> B for every ``import`` statement in A, at any
depth of the file, that names B:

- ``import spatial.x.y`` and ``from spatial.x.y import name`` name ``spatial.x.y``;
- ``from spatial.x import y`` names ``spatial.x.y`` when ``y`` is a submodule, else
  (``y`` defined in ``spatial/x/__init__.py``) the package ``spatial.x``;
- relative imports are resolved against the importing module's package first.

The rule for packages: Python initialises a package's ``__init__`` before any of its
children, and a child being imported while its package is still initialising
finds the package in ``sys.modules`` already. So the parents a statement passes
through (``spatial`` and ``spatial.x`` for ``import spatial.x.y``) are not edges:
only the module it names is. A package importing its own child, and that child
importing a sibling, is therefore no circle; it is one only if the child (or
anything it imports) names the package itself back, e.g. ``from spatial.x import
f`` with ``f`` defined in ``spatial/x/__init__.py``.

Not counted: ``importlib.import_module`` with a computed name (``spatial/__init__``'s
lazy exports), which runs on first attribute access, not at import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import spatial

PACKAGE = Path(spatial.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's modules that the statements of `tree` (module `name`) name."""
    here = name if is_package else name.rpartition(".")[0]  # the package relative imports start in
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.add(child if child in known else target)
    return {module for module in found if module in known}


def graph() -> dict[str, set[str]]:
    paths = modules()
    known = set(paths)
    return {name: imported(ast.parse(path.read_text(), str(path)), name,
                           path.name == "__init__.py", known) - {name}
            for name, path in paths.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `edges` as [a, b, ..., a], or None (depth-first, colours)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_function_level_and_relative_imports():
    tree = ast.parse("def f():\n    from spatial.x import y, z\n    from . import w\n"
                     "    from ..x import v\n    import spatial.q\n")
    known = {"spatial.x", "spatial.x.y", "spatial.a.w", "spatial.x.v", "spatial.q"}
    assert imported(tree, "spatial.a.b", False, known) == {
        "spatial.x.y", "spatial.x", "spatial.a.w", "spatial.x.v", "spatial.q"}
    # in a package's __init__, "." is the package itself
    assert imported(ast.parse("from . import w"), "spatial.a", True, known) == {"spatial.a.w"}


def test_the_cycle_finder():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    # a package importing its child, the child a sibling: no circle (parents are not edges)
    assert find_cycle({"p": {"p.a"}, "p.a": {"p.b"}, "p.b": set()}) is None
    # the child naming the package back is one
    assert find_cycle({"p": {"p.a"}, "p.a": {"p"}}) == ["p", "p.a", "p"]


def test_no_import_circles():
    edges = graph()
    assert len(edges) > 40 and edges["spatial.plan"], "the package was not parsed"
    cycle = find_cycle(edges)
    assert cycle is None, "import circle: " + " -> ".join(cycle)
