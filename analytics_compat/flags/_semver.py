"""Semantic-version operators (``semver_eq`` ... ``semver_wildcard``).

Versions are read as PostHog's ``sortableSemver`` reads them: whitespace and a
``v`` prefix stripped, pre-release and build suffixes ignored (``1.2.3-rc.1`` is
``1.2.3``), missing parts 0, leading zeros rejected. Filter versions and range
bounds are parsed once, when the definitions are; property values through a
small cache. It must not know about flags or other operators.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Optional, Tuple

from analytics_compat.flags._typing import Compiler, Matcher, Version

__all__ = ["parse_semver", "semver_compare", "semver_range"]

_SEMVER_NUMBER = re.compile(r"0|[1-9][0-9]*")


def _semver_number(part: str) -> Optional[int]:
    return int(part) if _SEMVER_NUMBER.fullmatch(part) else None


def parse_semver(value: Any) -> Optional[Version]:
    """``(major, minor, patch)`` of a version string, as PostHog's sortableSemver reads it.

    Strips whitespace and a ``v``/``V`` prefix, drops ``-pre-release`` and ``+build``
    suffixes, defaults missing parts to 0 (``1.2`` -> ``1.2.0``), ignores parts after
    the third, rejects leading zeros. None if invalid.
    """
    return _parse_semver_text(value if isinstance(value, str) else str(value))


@lru_cache(maxsize=4096)
def _parse_semver_text(value: str) -> Optional[Version]:
    text = value.strip().lstrip("vV").split("-")[0].split("+")[0]
    parts = text.split(".")
    if not parts[0]:
        return None
    numbers = [_semver_number(parts[0])]
    for part in parts[1:3]:
        numbers.append(_semver_number(part) if part else 0)
    if None in numbers:
        return None
    while len(numbers) < 3:
        numbers.append(0)
    return (numbers[0], numbers[1], numbers[2])  # type: ignore[return-value]


def _semver_bounds(operator: str, value: Any) -> Optional[Tuple[Version, Version]]:
    if operator == "semver_wildcard":
        cleaned = str(value).strip().lstrip("vV").replace("*", "").rstrip(".")
        parts = [p for p in cleaned.split(".") if p]
        numbers = [_semver_number(p) for p in parts[:3]]
        if not numbers or None in numbers:
            return None
        n = [x for x in numbers if x is not None]
        if len(n) == 1:
            return (n[0], 0, 0), (n[0] + 1, 0, 0)
        if len(n) == 2:
            return (n[0], n[1], 0), (n[0], n[1] + 1, 0)
        return (n[0], n[1], n[2]), (n[0], n[1], n[2] + 1)
    lower = parse_semver(value)
    if lower is None:
        return None
    major, minor, patch = lower
    if operator == "semver_tilde":
        return lower, (major, minor + 1, 0)
    if major > 0:  # caret
        return lower, (major + 1, 0, 0)
    if minor > 0:
        return lower, (0, minor + 1, 0)
    return lower, (0, 0, patch + 1)


def semver_compare(test: Callable[[Version, Version], bool]) -> Compiler:
    def compile_semver(value: Any, version: int) -> Optional[Matcher]:
        target = parse_semver(value)
        if target is None:
            return None

        def semver(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            if prop is None:
                return False
            parsed = parse_semver(prop)
            return None if parsed is None else test(parsed, target)

        return semver

    return compile_semver


def semver_range(operator: str) -> Compiler:
    def compile_range(value: Any, version: int) -> Optional[Matcher]:
        bounds = _semver_bounds(operator, value)
        if bounds is None:
            return None
        lower, upper = bounds

        def in_range(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            if prop is None:
                return False
            parsed = parse_semver(prop)
            return None if parsed is None else lower <= parsed < upper

        return in_range

    return compile_range
