"""Fail on an import circle between our modules (``make lint`` runs it).

A circle is two or more modules that import each other, directly or through others. Python
often lets one pass (an import inside a function, a name read late), until a change of order
breaks it; and it means the modules are one piece cut in two. Counted: every ``import`` and
``from ... import`` at module level and inside functions and classes. Not counted: those
under ``if TYPE_CHECKING:`` (types only, never run), and the parent package that Python
imports before a submodule (a package's ``__init__`` importing its own modules is not a
circle by that alone).

Standard library only: ``python scripts/check_import_cycles.py [SOURCE_ROOT ...]``, where a
source root holds the top-level packages (``libs/common`` holds ``notion_batch/common``).
Without arguments: the product's source roots. Exit 0 with none; 1 naming each circle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The source roots of the product: the shared library, the services and the emulator.
DEFAULT_ROOTS = ("libs/common", "services/*", "emulator")
SKIPPED_DIRS = {".venv", "__pycache__", "tests", "build", "dist"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Every module below ``root``, by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if SKIPPED_DIRS.intersection(relative.parts[:-1]):
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts and all(part.isidentifier() for part in parts):
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement run at some point: all but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                yield from _imports_of(branch)
        else:
            yield from _imports(node)


def _imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def _known(name: str, known: dict[str, Path]) -> str | None:
    """The module ``name`` runs: itself if ours, else its longest prefix that is ours."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def edges(module: str, path: Path, known: dict[str, Path]) -> Iterator[Edge]:
    """The modules of ours that ``module`` imports."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            # `from package import name`: the submodule when there is one, else the package.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            resolved = _known(target, known)
            if resolved is not None and resolved != module:
                yield Edge(module, resolved, node.lineno)


def graph(roots: Iterable[Path]) -> dict[str, dict[str, Edge]]:
    """Module → the modules it imports (the first import line of each)."""
    known: dict[str, Path] = {}
    for root in roots:
        known.update(modules(root))
    imported: dict[str, dict[str, Edge]] = {name: {} for name in known}
    for name, path in known.items():
        for edge in edges(name, path, known):
            imported[name].setdefault(edge.target, edge)
    return imported


def _components(imported: dict[str, dict[str, Edge]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(imported):
        if start in index:
            continue
        work = [(start, iter(sorted(imported[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imported[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _circle(start: str, members: set[str], imported: dict[str, dict[str, Edge]]) -> list[Edge]:
    """The shortest way from ``start`` back to itself inside one component."""
    paths: dict[str, list[Edge]] = {start: []}
    queue = [start]
    for node in queue:
        for target in sorted(imported[node]):
            if target not in members:
                continue
            path = [*paths[node], imported[node][target]]
            if target == start:
                return path
            if target not in paths:
                paths[target] = path
                queue.append(target)
    raise AssertionError(f"{start} is in no circle")  # a component always holds one


def cycles(roots: Iterable[Path]) -> list[list[Edge]]:
    """One circle per group of modules that import each other, as the imports that close it."""
    imported = graph(roots)
    return [_circle(component[0], set(component), imported) for component in _components(imported)]


def describe(circle: list[Edge]) -> str:
    steps = " -> ".join(f"{edge.source} (line {edge.line})" for edge in circle)
    return f"{steps} -> {circle[0].source}"


def default_roots() -> list[Path]:
    return [
        path for pattern in DEFAULT_ROOTS for path in sorted(REPO.glob(pattern)) if path.is_dir()
    ]


def main(argv: list[str]) -> int:
    roots = [Path(arg) for arg in argv] if argv else default_roots()
    found = cycles(roots)
    for circle in found:
        print(f"import circle: {describe(circle)}", file=sys.stderr)
    if found:
        print(f"{len(found)} import circle(s); see scripts/check_import_cycles.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
