"""The layer rules of docs/architecture.md, read from the source with ``ast``.

Every ``import`` of every module of the package is resolved to a module name (relative imports
included) and judged against the rules below. Imports under ``if TYPE_CHECKING:`` never run and are
skipped; an import inside a function runs only when the function does ("lazy"), which two rules
allow on purpose. The last tests build a tiny fake package that breaks every rule, so a checker that
stopped seeing imports would fail here too.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import smallcaps_assets

PACKAGE_DIR = Path(smallcaps_assets.__file__).parent


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. smallcaps_assets.stages.events
    target: str  # dotted module (or module.attribute) name
    line: int
    lazy: bool  # inside a function body

    def layer(self, name: str) -> str:
        """The package part a module belongs to: ``stages``, ``defs``, ``gates``, ... or, outside
        the package, its top-level distribution (``dagster``, ``polars``)."""
        parts = name.split(".")
        return parts[1] if parts[0] == self.importer.split(".")[0] and len(parts) > 1 else parts[0]

    @property
    def source_layer(self) -> str:
        return self.layer(self.importer)

    @property
    def target_layer(self) -> str:
        return self.layer(self.target)


def module_name(path: Path, package_dir: Path) -> str:
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:  # the else branch runs
                yield other, lazy
                yield from _walk(other, lazy)
            continue
        inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield child, lazy
        yield from _walk(child, inner)


def imports(package_dir: Path) -> list[Import]:
    """Every runtime import of every module under ``package_dir``."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        module = module_name(path, package_dir)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node, lazy in _walk(ast.parse(path.read_text(), str(path)), lazy=False):
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name, node.lineno, lazy) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if node.module is None:  # from . import x: x is a module of the package
                    found += [
                        Import(module, f"{target}.{alias.name}", node.lineno, lazy) for alias in node.names
                    ]
                else:
                    found.append(Import(module, target, node.lineno, lazy))
    return found


@dataclass(frozen=True)
class Rule:
    text: str
    applies: Callable[[Import], bool]  # the imports this rule judges
    allowed: Callable[[Import], bool]


def _is_dagster(layer: str) -> bool:
    return layer == "dagster" or layer.startswith("dagster_")


# The Dagster layer (definitions and their helpers) and the entry points (CLI, benchmarks, calibration).
DAGSTER_LAYER = {
    "defs",
    "assetkit",
    "checks",
    "check_history",
    "definitions",
    "partitions",
    "resources",
    "materialize",
    "freshness",
    "runs_recovery",
}
ENTRY_POINTS = {"cli", "bench", "calibrate"}
# Modules that know nothing of Dagster: logic, the simulator, the vendor client, contracts, the lake.
PURE = {
    "stages",
    "sim",
    "polygon",
    "gates",
    "schemas",
    "asset_names",
    "lake",
    "calendar",
    "flatfiles_source",
    "storage",
}
OWN = {
    "stages",
    "sim",
    "polygon",
    "defs",
    "assetkit",
    "bench",
    *DAGSTER_LAYER,
    *PURE,
    "cli",
    "calibrate",
    "lake_sql",
}

RULES = [
    Rule(
        "stages/, sim/, polygon/ and the pure modules never import Dagster, defs/ or the CLI",
        lambda i: i.source_layer in PURE,
        lambda i: not _is_dagster(i.target_layer) and i.target_layer not in DAGSTER_LAYER | ENTRY_POINTS,
    ),
    Rule(
        "sim/ never imports the vendor client (polygon/): the simulator does not know who calls it",
        lambda i: i.source_layer == "sim",
        lambda i: i.target_layer != "polygon",
    ),
    Rule(
        "polygon/ imports only itself, and the simulator lazily (in-process mode)",
        lambda i: i.source_layer == "polygon" and i.target_layer in OWN,
        lambda i: i.target_layer == "polygon" or (i.target_layer == "sim" and i.lazy),
    ),
    Rule(
        "stages/ never import the simulator, and the vendor client only lazily (its error type)",
        lambda i: i.source_layer == "stages",
        lambda i: i.target_layer != "sim" and (i.target_layer != "polygon" or i.lazy),
    ),
    Rule(
        "a defs/ module never imports another: each is loaded as definitions on its own",
        lambda i: i.source_layer == "defs",
        lambda i: i.target_layer != "defs" or i.target.split(".")[:3] == i.importer.split(".")[:3],
    ),
    Rule(
        "no module imports defs/: the code location loads the folder (dg.load_from_defs_folder)",
        lambda i: i.source_layer != "defs",
        lambda i: i.target_layer != "defs",
    ),
    Rule(
        "the CLI is imported by nobody, the benchmarks by the CLI only",
        lambda i: i.source_layer not in ENTRY_POINTS,
        lambda i: i.target_layer not in ENTRY_POINTS,
    ),
]


def violations(found: list[Import], rules: list[Rule] = RULES) -> list[str]:
    return [
        f"{i.importer}:{i.line} imports {i.target}: breaks '{rule.text}'"
        for rule in rules
        for i in found
        if rule.applies(i) and not rule.allowed(i)
    ]


def test_the_package_obeys_the_layer_rules():
    found = imports(PACKAGE_DIR)
    assert len(found) > 300, "the walk should see the package's imports"
    assert violations(found) == []


def test_every_module_belongs_to_a_known_layer():
    layers = {
        module_name(p, PACKAGE_DIR).split(".")[1]
        for p in PACKAGE_DIR.rglob("*.py")
        if p.name != "__init__.py"
    }
    assert layers <= OWN, f"new top-level modules need a layer in docs/architecture.md: {layers - OWN}"


def _fake_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "smallcaps_assets"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return package


def test_each_rule_catches_its_break_in_a_fake_tree(tmp_path):
    package = _fake_package(
        tmp_path,
        {
            "stages/detect.py": "import dagster as dg\nfrom ..sim import market\n",
            "stages/windows.py": "from ..polygon import PolygonError\n",
            "sim/market.py": "from ..polygon.client import PolygonClient\nfrom ..defs import bars\n",
            "polygon/client.py": "from ..stages import windows\nfrom ..sim import market\n",
            "defs/bars.py": "from .reference import ticker_reference\n",
            "defs/reference.py": "",
            "gates.py": "from dagster_duckdb import DuckDBResource\n",
            "lake_sql.py": "from .cli import app\n",
            "cli.py": "from .defs.bars import daily_bars\n",
        },
    )
    broken = violations(imports(package))
    expected = [
        ("smallcaps_assets.stages.detect:1", "dagster"),
        ("smallcaps_assets.stages.detect:2", "smallcaps_assets.sim"),
        ("smallcaps_assets.stages.windows:1", "smallcaps_assets.polygon"),
        ("smallcaps_assets.sim.market:1", "smallcaps_assets.polygon.client"),
        ("smallcaps_assets.sim.market:2", "smallcaps_assets.defs"),
        ("smallcaps_assets.polygon.client:1", "smallcaps_assets.stages"),
        ("smallcaps_assets.polygon.client:2", "smallcaps_assets.sim"),
        ("smallcaps_assets.defs.bars:1", "smallcaps_assets.defs.reference"),
        ("smallcaps_assets.gates:1", "dagster_duckdb"),
        ("smallcaps_assets.lake_sql:1", "smallcaps_assets.cli"),
        ("smallcaps_assets.cli:1", "smallcaps_assets.defs.bars"),
    ]
    for where, target in expected:
        assert any(v.startswith(f"{where} imports {target}:") for v in broken), (where, target, broken)


def test_lazy_and_type_checking_imports_are_told_apart(tmp_path):
    package = _fake_package(
        tmp_path,
        {
            "stages/windows.py": "def download():\n    from ..polygon import PolygonError\n",
            "polygon/connect.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from ..stages import windows\n"
                "def connect():\n    from ..sim import SimMarket\n"
            ),
        },
    )
    found = imports(package)
    assert violations(found) == []
    assert {
        (i.importer, i.target, i.lazy) for i in found if i.target_layer in {"polygon", "sim", "stages"}
    } == {
        ("smallcaps_assets.stages.windows", "smallcaps_assets.polygon", True),
        ("smallcaps_assets.polygon.connect", "smallcaps_assets.sim", True),
    }
