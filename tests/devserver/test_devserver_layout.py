"""The devserver and cli packages keep their shape: no import cycle, small documented modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "analytics_compat"
PACKAGES = ("devserver", "cli")


def _modules(package: str) -> dict[str, Path]:
    return {path.stem: path for path in sorted((ROOT / package).glob("*.py"))}


def _imports(path: Path, package: str, names: set[str]) -> set[str]:
    """Sibling modules a module imports anywhere: at the top, inside functions (a lazy
    import is still a dependency) and under ``TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    absolute = f"analytics_compat.{package}"
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif node.level == 1:
            found.update(alias.name for alias in node.names)
        elif node.module and node.module.startswith(absolute + "."):
            found.add(node.module[len(absolute) + 1 :].split(".")[0])
    return found & names


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_import_each_other_without_a_cycle(package: str) -> None:
    modules = _modules(package)
    graph = {name: _imports(path, package, set(modules)) - {name} for name, path in modules.items()}
    # __init__ may import everything; nothing may import __init__ back
    assert not [name for name, deps in graph.items() if "__init__" in deps]
    done: set[str] = set()

    def walk(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            cycle = " -> ".join((*trail[trail.index(name) :], name))
            pytest.fail(f"import cycle in {package}: {cycle}")
        if name in done:
            return
        for dep in sorted(graph[name]):
            walk(dep, (*trail, name))
        done.add(name)

    for name in graph:
        walk(name, ())


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_small_and_says_what_it_owns(package: str) -> None:
    for name, path in _modules(package).items():
        text = path.read_text(encoding="utf-8")
        assert ast.get_docstring(ast.parse(text)), f"{package}/{name}.py has no docstring"
        lines = text.count("\n")
        assert lines <= 420, f"{package}/{name}.py has {lines} lines"
