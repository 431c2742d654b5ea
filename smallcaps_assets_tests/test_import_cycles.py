"""The package's import graph has no cycle.

Every module of ``smallcaps_assets`` is parsed with ``ast``; every import counts, at module level and
inside functions alike (a function-level import only defers a cycle, it does not remove it). Relative
imports are resolved; ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else
to ``pkg``. Importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b`` first, so it is an edge to
those packages too, unless the importer lives inside them (its own package is initialised before
it, and counting that edge would make every package that re-exports a submodule a cycle). Imports
under ``if TYPE_CHECKING:`` never run and are skipped. Only modules of the package count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import smallcaps_assets

PACKAGE_ROOT = Path(smallcaps_assets.__file__).parent

# Edges (importer, imported) left out of the check, each one part of a known cycle in code outside this
# change. Remove an entry once its cycle is broken; the test then guards that it stays broken.
ALLOWED_EDGES: frozenset[tuple[str, str]] = frozenset()


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module under ``root`` (the directory of ``package``) by dotted name."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


class _Imports(ast.NodeVisitor):
    """Collects the imports of one module as (module, names) pairs, ``names`` empty for ``import x``
    (relative modules resolved); ``if TYPE_CHECKING:`` bodies are skipped."""

    def __init__(self, package_of_module: str) -> None:
        self.package = package_of_module
        self.found: list[tuple[str, tuple[str, ...]]] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.extend((alias.name, ()) for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            if node.level - 1 >= len(parts):
                raise ValueError(f"relative import beyond the top-level package in {self.package}")
            pkg = ".".join(parts[: len(parts) - (node.level - 1)])
            base = f"{pkg}.{node.module}" if node.module else pkg
        self.found.append((base, tuple(alias.name for alias in node.names)))


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (anywhere in its code)."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        visitor = _Imports(name if path.name == "__init__.py" else name.rpartition(".")[0])
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        targets = set()
        for base, names in visitor.found:
            # ``from base import x`` imports the submodule ``base.x`` when there is one, else a
            # name defined in ``base``.
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
            targets.update(subs)
            if len(subs) < len(names) or not names:
                targets.add(base)
        for target in list(targets):
            parts = target.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if name != parent and not name.startswith(parent + "."):
                    targets.add(parent)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycles(graph: dict[str, set[str]], ignore: Iterable[tuple[str, str]] = ()) -> list[list[str]]:
    """One cycle (a list of modules, first == last) per strongly connected component that has one."""
    skip = set(ignore)
    edges = {m: sorted(t for t in ts if (m, t) not in skip and t in graph) for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan, iterative over an explicit work stack
        work = [(v, iter(edges[v]))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges[w])))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    components.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    cycles = []
    for comp in components:
        if len(comp) == 1 and comp[0] not in edges[comp[0]]:
            continue
        covered: set[str] = set()
        for start in comp:  # a shortest cycle through each module not yet on a reported one
            if start not in covered:
                cycle = _shortest_cycle(edges, set(comp), start)
                covered.update(cycle)
                cycles.append(cycle)
    return cycles


def _shortest_cycle(edges: dict[str, list[str]], members: set[str], start: str) -> list[str]:
    """The shortest path from ``start`` back to itself inside one strongly connected component."""
    parent: dict[str, str] = {}
    frontier = [start]
    while start not in parent:
        nxt = []
        for u in frontier:
            for w in edges[u]:
                if w in members and w not in parent:
                    parent[w] = u
                    nxt.append(w)
        frontier = nxt
    path = [start]
    node = parent[start]
    while node != start:
        path.append(node)
        node = parent[node]
    path.append(start)
    return path[::-1]


def format_cycles(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in cycles)


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE_ROOT, "smallcaps_assets")
    assert len(graph) > 50 and "smallcaps_assets.schemas" in graph  # the walker saw the package
    cycles = find_cycles(graph, ALLOWED_EDGES)
    assert not cycles, "import cycles:\n" + format_cycles(cycles)


def test_allowed_edges_still_exist():
    """An allow-list entry whose import is gone is stale: delete it."""
    graph = import_graph(PACKAGE_ROOT, "smallcaps_assets")
    stale = sorted((a, b) for a, b in ALLOWED_EDGES if b not in graph.get(a, set()))
    assert not stale, f"stale ALLOWED_EDGES entries: {stale}"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_walker_finds_an_injected_cycle(tmp_path):
    """A fake package whose cycle runs through a function-level relative import and a
    ``from package import submodule``; a TYPE_CHECKING import is not an edge."""
    _write(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/schemas.py": "def f():\n    from .stages.events import X\n    return X\n",
            "fake/stages/__init__.py": "",
            "fake/stages/events.py": "from ..util import helper\nX = 1\n",
            "fake/util.py": (
                "from typing import TYPE_CHECKING\n"
                "from fake import schemas\n"
                "if TYPE_CHECKING:\n    from fake.stages import other\n"
                "def helper():\n    return schemas\n"
            ),
            "fake/stages/other.py": "import fake.util\n",
        },
    )
    graph = import_graph(tmp_path / "fake", "fake")
    assert graph["fake.schemas"] == {"fake.stages", "fake.stages.events"}
    assert graph["fake.stages.events"] == {"fake.util"}
    assert graph["fake.util"] == {"fake.schemas"}
    assert graph["fake.stages.other"] == {"fake.util"}  # ``fake`` itself is a parent of the importer
    cycles = find_cycles(graph)
    assert cycles == [["fake.schemas", "fake.stages.events", "fake.util", "fake.schemas"]]
    assert "fake.schemas -> fake.stages.events -> fake.util -> fake.schemas" in format_cycles(cycles)
    # Breaking one edge of it (as the allow-list does) leaves no cycle.
    assert find_cycles(graph, [("fake.util", "fake.schemas")]) == []


def test_walker_finds_a_self_contained_two_module_cycle(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from .a import A\n",
            "pkg/a.py": "from .b import B\nA = 1\n",
            "pkg/b.py": "import pkg.a\nB = 2\n",
        },
    )
    cycles = find_cycles(import_graph(tmp_path / "pkg", "pkg"))
    assert cycles == [["pkg.a", "pkg.b", "pkg.a"]]


def test_walker_finds_a_cycle_through_a_package_init(tmp_path):
    """Importing a submodule runs its package's ``__init__``: a cycle through it counts, while a
    package re-exporting its own submodules is no cycle."""
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/schemas.py": "from .stages.events.registry import T\n",
            "pkg/stages/__init__.py": "",
            "pkg/stages/events/__init__.py": "from .registry import T\nfrom .score import S\n",
            "pkg/stages/events/registry.py": "T = 1\n",
            "pkg/stages/events/score.py": "def f():\n    from ...schemas import T\n    return T\nS = 2\n",
        },
    )
    graph = import_graph(tmp_path / "pkg", "pkg")
    assert graph["pkg.schemas"] == {"pkg.stages", "pkg.stages.events", "pkg.stages.events.registry"}
    assert graph["pkg.stages.events.score"] == {"pkg.schemas"}
    cycles = find_cycles(graph)
    assert cycles == [["pkg.schemas", "pkg.stages.events", "pkg.stages.events.score", "pkg.schemas"]]
    (tmp_path / "pkg/stages/events/score.py").write_text("S = 2\n")
    assert find_cycles(import_graph(tmp_path / "pkg", "pkg")) == []
