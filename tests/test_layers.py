"""The package's layers, read from its source: every import of the project's own modules
(those inside functions included; those under ``if TYPE_CHECKING:`` left out, as they
never run) must go to the same layer or one below, and no import cycle may remain.

The declared order, lowest first (docs/architecture.md draws it): the core (``xladjust/``),
the stages in pipeline order (align, adjust, tasks, probes: probes read every stage's
outputs), the pipeline and the report, and the command line on top. A stage that needs a
later one receives it as a callback from above (``adjust(config, on_step=...)``)."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS = ("core", "align", "adjust", "tasks", "probes", "pipeline/report", "cli")

# core modules that belong to a layer above the stages
UPPER_CORE = {
    "xladjust.config_docs": "pipeline/report",
    "xladjust.push": "cli",
    "xladjust.__main__": "cli",
}
UPPER_PACKAGES = {"pipeline": "pipeline/report", "report": "pipeline/report", "cli": "cli"}
STAGES = ("align", "adjust", "tasks", "probes")


def package_dirs() -> dict[str, Path]:
    """Import name -> folder, as pyproject.toml's package-dir maps them."""
    tomllib = pytest.importorskip("tomllib")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {name: ROOT / folder for name, folder in data["tool"]["setuptools"]["package-dir"].items()}


def modules() -> dict[str, Path]:
    """Every module of the package by its import name."""
    dirs = package_dirs()
    found: dict[str, Path] = {}
    for package, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            owner = max((p for p in dirs if name == p or name.startswith(p + ".")), key=len)
            if owner == package:  # a folder mapped to its own package is read there
                found[name] = path
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    if module in UPPER_CORE:
        return UPPER_CORE[module]
    if len(parts) > 1 and parts[1] in UPPER_PACKAGES:
        return UPPER_PACKAGES[parts[1]]
    if len(parts) > 1 and parts[1] in STAGES:
        return parts[1]
    return "core"


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(dotted name, line) of every import in ``tree``, relative ones resolved; the names
    an import-from brings are listed too, as they may be submodules."""
    names: list[tuple[str, int]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, *([node.module] if node.module else [])])
            names += [(base, node.lineno)] + [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
        stack.extend(ast.iter_child_nodes(node))
    return names


def import_graph(mods: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of the first such import}."""
    graph: dict[str, dict[str, int]] = defaultdict(dict)
    for module, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, line in imported_names(tree, module, path.name == "__init__.py"):
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                graph[module].setdefault(name, line)
    return graph


def upward_imports(graph: dict[str, dict[str, int]], mods: dict[str, Path], root: Path = ROOT) -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    found = []
    for module, targets in sorted(graph.items()):
        for target, line in sorted(targets.items()):
            if rank[layer(target)] > rank[layer(module)]:
                where = mods[module].relative_to(root)
                found.append(f"{where}:{line}: {module} ({layer(module)}) imports {target} ({layer(target)})")
    return found


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def package() -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    mods = modules()
    return mods, import_graph(mods)


def test_the_reader_sees_every_stage_and_in_function_imports(package):
    mods, graph = package
    assert {layer(m) for m in mods} == set(LAYERS)
    assert len(mods) > 100
    # an import inside a function is read: the adjust command builds its geometry hook there
    assert "xladjust.probes.geometry" in graph["xladjust.cli.adjust"]


def test_no_import_reaches_a_later_stage_or_a_layer_above(package):
    mods, graph = package
    found = upward_imports(graph, mods)
    assert not found, "imports against the layer order:\n" + "\n".join(found)


def test_no_import_cycle(package):
    _, graph = package
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_an_upward_import_and_a_cycle_are_found(tmp_path):
    """The checks themselves: a stage importing the CLI inside a function, and two
    modules importing each other."""
    code = "def f():\n    from xladjust.cli import main\n    return main\n"
    tree = ast.parse(code)
    mods = {"xladjust.align.x": tmp_path / "x.py", "xladjust.cli": tmp_path / "cli.py"}
    graph = {"xladjust.align.x": {name: line for name, line in imported_names(tree, "xladjust.align.x", False)
                                  if name in mods}}
    assert upward_imports(graph, mods, tmp_path) == ["x.py:2: xladjust.align.x (align) imports xladjust.cli (cli)"]
    assert cycles({"a": {"b": 1}, "b": {"a": 1}, "c": {"a": 1}}) == [["a", "b"]]
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import xladjust.cli\n")
    assert [n for n, _ in imported_names(guarded, "xladjust.align.x", False)] == ["typing", "typing.TYPE_CHECKING"]
