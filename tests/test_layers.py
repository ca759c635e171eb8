"""The layering written in ARCHITECTURE.md holds in the code, and modules stay small.

Every module of the package is placed on a floor by the table in ARCHITECTURE.md;
an import (at module level or inside a function, ``TYPE_CHECKING`` included) may
only reach a module on the same floor or below, and no modules may import each
other in a circle. A module the table does not place fails the test, so the table
cannot fall behind the code. Every module says in a docstring what it owns, and is
short enough to read in one sitting.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Optional, Set

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "analytics_compat"
_ROW = re.compile(r"^\|\s*(\d+)\s*\|[^|]*\|([^|]*)\|")


def _floors() -> Dict[str, int]:
    """``{"_client.py": 8, "transport/": 3, ...}`` from the ARCHITECTURE.md table."""
    table: Dict[str, int] = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        match = _ROW.match(line)
        if match:
            for name in re.findall(r"`([^`]+)`", match.group(2)):
                table[name] = int(match.group(1))
    return table


def _modules() -> List[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _floor_of(path: Path, table: Dict[str, int]) -> Optional[int]:
    rel = path.relative_to(PACKAGE)
    if rel.as_posix() in table:
        return table[rel.as_posix()]
    if len(rel.parts) > 1 and f"{rel.parts[0]}/" in table:
        return table[f"{rel.parts[0]}/"]
    return None


def _resolve(path: Path, module: Optional[str], level: int, name: Optional[str]) -> Optional[Path]:
    """The package file an import names, or None if it is outside the package."""
    if level:
        base = path.parent
        for _ in range(level - 1):
            base = base.parent
        parts = module.split(".") if module else []
    else:
        if not module or module.split(".")[0] != "analytics_compat":
            return None
        base = ROOT
        parts = module.split(".")
    target = base.joinpath(*parts)
    if name is not None and (target / f"{name}.py").exists():
        return target / f"{name}.py"
    if name is not None and (target / name / "__init__.py").exists():
        return target / name / "__init__.py"
    if target.with_suffix(".py").exists():
        return target.with_suffix(".py")
    if (target / "__init__.py").exists():
        return target / "__init__.py"
    return None


def _imports(path: Path) -> Set[Path]:
    found: Set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                target = _resolve(path, node.module, node.level, alias.name)
                if target is not None:
                    found.add(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(path, alias.name, 0, None)
                if target is not None:
                    found.add(target)
    found.discard(path)
    return found


def test_every_module_is_placed_on_a_floor() -> None:
    table = _floors()
    assert table, "ARCHITECTURE.md has no floor table"
    unplaced = [str(p.relative_to(ROOT)) for p in _modules() if _floor_of(p, table) is None]
    assert not unplaced, f"add these to the table in ARCHITECTURE.md: {unplaced}"


def test_no_import_runs_upward() -> None:
    table = _floors()
    upward = []
    for path in _modules():
        mine = _floor_of(path, table)
        for target in _imports(path):
            theirs = _floor_of(target, table)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(
                    f"{path.relative_to(PACKAGE)} (floor {mine}) imports "
                    f"{target.relative_to(PACKAGE)} (floor {theirs})"
                )
    assert not upward, upward


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = {path: _imports(path) for path in _modules()}
    state: Dict[Path, int] = {}  # 1 = on the current path, 2 = done
    circles: List[str] = []

    def visit(node: Path, trail: List[Path]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                loop = [*trail[trail.index(nxt) :], nxt]
                circles.append(" -> ".join(str(p.relative_to(PACKAGE)) for p in loop))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not circles, circles


def test_the_parser_resolves_relative_imports() -> None:
    """Relative imports resolve to package files, so a real violation would be seen."""
    fake = PACKAGE / "_events.py"
    assert PACKAGE / "_promise.py" in _imports(fake)
    assert PACKAGE / "transport" / "_outcome.py" in _imports(PACKAGE / "transport" / "_sender.py")
    assert PACKAGE / "_client.py" not in _imports(fake)


MAX_LINES = 420  # "about 400": a module past this is two modules


def test_every_module_is_small_and_says_what_it_owns() -> None:
    problems = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if not ast.get_docstring(ast.parse(text)):
            problems.append(f"{name} has no docstring")
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{name} has {lines} lines")
    assert not problems, problems
