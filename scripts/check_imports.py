"""Fail on an import cycle among the bot, providers and storage modules, or a lazy import.

Reads the sources (never imports them) and follows every import of one of our modules
made when a module loads. Importing ``a.b`` from inside package ``a`` while ``a`` loads
is how packages work, not a cycle: only the modules named are followed. Imports under
``if TYPE_CHECKING:`` are left out (they never run).

An import inside a function is reported too, unless its line says why it is lazy with
a ``# lazy: <reason>`` comment (a heavy piece loaded only when used): a function-local
import kept only to break a cycle hides the cycle instead of removing it.

Also checks the layers (STYLE.md): ``providers`` imports neither ``bot`` nor ``storage``;
``storage`` never imports ``bot``.

    python scripts/check_imports.py        # exit 0 when clean, 1 with the findings
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "providers", "storage")
FORBIDDEN = {"providers": ("bot", "storage"), "storage": ("bot",)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    tree: ast.AST, name: str, is_package: bool, modules: set[str]
) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at load time?) for each import of one of ours."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    yield from visit(other, in_function)
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, True)
                continue
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                source = _resolve(name, is_package, child)
                targets = [source]
                targets += [f"{source}.{alias.name}" for alias in child.names]
            for target in targets:
                found = _ours(target, modules)
                if found is not None and found != name:
                    yield found, child.lineno, not in_function
            yield from visit(child, in_function)

    seen: set[tuple[str, int]] = set()
    for found, line, at_load in visit(tree, False):
        if (found, line) not in seen:
            seen.add((found, line))
            yield found, line, at_load


def _ours(target: str, modules: set[str]) -> str | None:
    """The longest name of one of our modules that ``target`` is or is inside."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strong(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                strong(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            strong(node)
    return found


def check(root: Path = ROOT) -> list[str]:
    paths = [p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))]
    paths = [p for p in paths if "migrations" not in p.parts]
    modules = {module_name(p) for p in paths}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    problems: list[str] = []
    for path in paths:
        name = module_name(path)
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))
        for target, line, at_load in _imports(tree, name, path.name == "__init__.py", modules):
            where = f"{path.relative_to(root)}:{line}"
            layer, their = name.split(".")[0], target.split(".")[0]
            if their in FORBIDDEN.get(layer, ()):
                problems.append(f"{where}: {layer} must not import {their} ({target})")
            if at_load:
                graph[name].add(target)
            elif "# lazy:" not in lines[line - 1]:
                problems.append(
                    f"{where}: {target} imported inside a function; import it at the top, "
                    "or say why it must be lazy with '# lazy: <reason>'"
                )
    for component in _cycles(graph):
        problems.append("import cycle: " + " -> ".join(component))
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
