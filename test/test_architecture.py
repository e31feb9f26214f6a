"""The package's architecture, as docs/architecture.md states it: who may import whom, no
import loops, no module a reader must scroll through (static checks of the source: no import
of the package is needed)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "thermal_perception"
#: top-level parts of the package -> the parts each may import (directly or lazily)
ALLOWED = {
    "core": set(),
    "io": {"core"},
    "sim": {"core", "io"},
    "settings": {"core", "io", "sim", "ros"},
    "evaluation": {"core", "io", "sim", "settings"},
    "analysis": {"core", "io", "settings", "ros"},
    "ros": {"core", "io", "sim", "settings", "msg", "view"},
    "nodes": {"core", "io", "ros", "settings", "msg"},
    "view": {"core", "io"},
}
#: parts that run without a ROS install: they never import rclpy, even lazily
ROS_FREE = ("core", "io", "sim", "settings", "evaluation", "analysis", "view")
#: a module longer than this must say in its docstring why it is kept whole
MAX_LINES = 620
KEPT_WHOLE = "Kept whole"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Modules a file imports, at module level or inside functions (lazily), but not those
    under ``if TYPE_CHECKING:`` (never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_the_parts_below_it(part: str) -> None:
    wrong = []
    for module, path in MODULES.items():
        if _part(module) != part:
            continue
        for imported in _imports(path):
            target = _part(imported) if imported.startswith("thermal_perception.") else None
            if target and target != part and target not in ALLOWED[part] | {"_moved"}:
                wrong.append(f"{module} imports {imported}")
            if part in ROS_FREE and imported.split(".")[0] == "rclpy":
                wrong.append(f"{module} imports rclpy")
    assert not wrong, "\n".join(wrong)


def test_no_import_loops() -> None:
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m}
             for m, p in MODULES.items()}
    # a package's __init__ naming the API of its own modules is not a loop (importing a.b.c
    # runs a/__init__ and a/b/__init__ first, by design)
    state: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                loop = [*stack[stack.index(nxt):], nxt]
                if not all(b.startswith(a + ".") or a.startswith(b + ".")
                           for a, b in itertools.pairwise(loop)):
                    loops.append(loop)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not loops, "\n".join(" -> ".join(loop) for loop in loops)


def test_no_module_a_reader_must_scroll_through() -> None:
    long = []
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and KEPT_WHOLE not in doc:
            long.append(f"{module}: {lines} lines")
    assert not long, "\n".join(long)


def test_every_subpackage_names_its_public_api() -> None:
    quiet = [m for m, p in MODULES.items() if p.name == "__init__.py" and m.count(".") >= 1
             and m.split(".")[1] in ("core", "analysis", "evaluation") and not ast.get_docstring(
                 ast.parse(p.read_text(encoding="utf-8")))]
    assert not quiet, f"subpackages without a docstring naming their API: {quiet}"
