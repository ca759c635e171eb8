"""Property operators of PostHog feature flags, compiled once into matchers.

Owns the dispatch table ``OPERATORS`` (operator name -> compiler). A compiler
turns a filter value from a flag definition into a ``Matcher`` once, when the
definitions are parsed: regexes are compiled, numbers, dates and semantic
versions are parsed then. A matcher takes the caller's property value and
returns ``True`` / ``False``, or ``None`` when the flag cannot be decided
locally (the value cannot be used, e.g. an unparseable date). No exception is
used for control flow.

Semantics follow posthog-python's local evaluation (``match_property``):
``exact``/``is_not`` compare case-insensitively on the JSON rendering of the
value; the ``*contains``/``*_with`` family lowercases ASCII only; ``gt``..``lte``
compare numbers and numeric strings as floats; semver comparisons ignore
pre-release and build suffixes (``1.2.3-beta`` == ``1.2.3``) as PostHog's
``sortableSemver`` does. ``regex``/``not_regex`` follow the flag service itself, not
Python's ``re`` (``_regex``): its syntax and semantics, in linear time, an invalid pattern
matching nothing, and no matcher for a pattern whose meaning there is not certain.

It must not know about flags, conditions, cohorts or HTTP.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Mapping, Optional

from analytics_compat.flags._dates import compile_date, parse_datetime
from analytics_compat.flags._regex import regex_compiler
from analytics_compat.flags._semver import parse_semver, semver_compare, semver_range
from analytics_compat.flags._typing import Compiler, Matcher

__all__ = [
    "OPERATORS",
    "Compiler",
    "Matcher",
    "compile_matcher",
    "evaluate_operator",
    "match_property",
    "parse_datetime",
    "parse_semver",
]

_MISSING: Any = object()


# --------------------------------------------------------------------------- value rendering
# PostHog compares non-string values through their compact JSON rendering
# (``True`` -> "true", ``None`` -> "null", ``[1, "a"]`` -> '[1,"a"]').


def _float_to_string(value: float) -> Optional[str]:
    if not math.isfinite(value):
        return None
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    if -6 < exponent < 0:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exponent >= 0 else ''}{exponent}"


def _json_to_string(value: Any) -> Optional[str]:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_to_string(value)
    if isinstance(value, (list, tuple)):
        parts = [_json_to_string(item) for item in value]
        return None if None in parts else "[" + ",".join(parts) + "]"  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            return None
        items = []
        for k in sorted(value):
            rendered = _json_to_string(value[k])
            if rendered is None:
                return None
            items.append(f"{json.dumps(k, ensure_ascii=False)}:{rendered}")
        return "{" + ",".join(items) + "}"
    return None


def _to_string(value: Any) -> Optional[str]:
    """The string PostHog compares for ``value``; None if it has no JSON rendering."""
    if isinstance(value, str):
        return value
    return _json_to_string(value)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _is_truthy_or_falsy(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.lower() in ("true", "false")
    if isinstance(value, list):
        return all(_is_truthy_or_falsy(item) for item in value)
    return False


def _is_truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    if isinstance(value, list):
        return all(_is_truthy(item) for item in value)
    return False


# --------------------------------------------------------------------------- equality


def _compile_exact(value: Any, version: int) -> Optional[Matcher]:
    if isinstance(value, list) and not value:
        # An empty filter list matches a truthy property (recursively), in both versions.
        def empty_list(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            return None if _to_string(prop) is None else _is_truthy(prop)

        return empty_list
    if version != 2 and _is_truthy_or_falsy(value):
        expected = _is_truthy(value)

        def truthiness(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            if not isinstance(prop, (str, bool)) and _to_string(prop) is None:
                return None
            return _is_truthy(prop) == expected

        return truthiness
    if isinstance(value, list):
        rendered = [_to_string(item) for item in value]
        if None in rendered:
            return None
        candidates = frozenset(text.lower() for text in rendered if text is not None)

        def in_list(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            text = prop if isinstance(prop, str) else _to_string(prop)
            return None if text is None else text.lower() in candidates

        return in_list
    single = _to_string(value)
    if single is None:
        return None
    target = single.lower()

    def equals(prop: Any, now: Optional[datetime]) -> Optional[bool]:
        text = prop if isinstance(prop, str) else _to_string(prop)
        return None if text is None else text.lower() == target

    return equals


def _compile_is_not(value: Any, version: int) -> Optional[Matcher]:
    exact = _compile_exact(value, version)
    if exact is None:
        return None

    def is_not(prop: Any, now: Optional[datetime]) -> Optional[bool]:
        matched = exact(prop, now)
        return None if matched is None else not matched

    return is_not


def _compile_is_set(value: Any, version: int) -> Matcher:
    return lambda prop, now: True


def _compile_is_not_set(value: Any, version: int) -> Matcher:
    # Only reached when the property is present: a missing one is undecidable locally.
    return lambda prop, now: False


# --------------------------------------------------------------------------- text


def _text_compiler(test: Callable[[str, str], bool], negate: bool) -> Compiler:
    def compile_text(value: Any, version: int) -> Optional[Matcher]:
        rendered = _to_string(value)
        if rendered is None:
            return None
        needle = rendered.translate(_ASCII_LOWER)

        def text(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            haystack = prop if isinstance(prop, str) else _to_string(prop)
            if haystack is None:
                return None
            # ASCII-only lowercasing, as PostHog; str.lower() is the fast path for ASCII.
            lowered = haystack.lower() if haystack.isascii() else haystack.translate(_ASCII_LOWER)
            return test(lowered, needle) != negate

        return text

    return compile_text


def _contains(haystack: str, needle: str) -> bool:
    return needle in haystack


# --------------------------------------------------------------------------- numbers

_NUMERIC = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _to_number(value: Any) -> Optional[float]:
    if type(value) is float:  # fast path; bool is excluded by the exact type check
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        return None
    if isinstance(value, str) and _NUMERIC.fullmatch(value) is None:
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _numeric_compiler(test: Callable[[float, float], bool]) -> Compiler:
    def compile_numeric(value: Any, version: int) -> Optional[Matcher]:
        target = _to_number(value)
        if target is None:
            return None

        def numeric(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            number = _to_number(prop)
            # A property that is not a number (None included) never matches.
            return False if number is None else test(number, target)

        return numeric

    return compile_numeric


# --------------------------------------------------------------------------- dates

# --------------------------------------------------------------------------- dispatch table

OPERATORS: Mapping[str, Compiler] = {
    "exact": _compile_exact,
    "is_not": _compile_is_not,
    "is_set": _compile_is_set,
    "is_not_set": _compile_is_not_set,
    "icontains": _text_compiler(_contains, False),
    "not_icontains": _text_compiler(_contains, True),
    "starts_with": _text_compiler(str.startswith, False),
    "not_starts_with": _text_compiler(str.startswith, True),
    "ends_with": _text_compiler(str.endswith, False),
    "not_ends_with": _text_compiler(str.endswith, True),
    "regex": regex_compiler(False),
    "not_regex": regex_compiler(True),
    "gt": _numeric_compiler(lambda a, b: a > b),
    "gte": _numeric_compiler(lambda a, b: a >= b),
    "lt": _numeric_compiler(lambda a, b: a < b),
    "lte": _numeric_compiler(lambda a, b: a <= b),
    "is_date_before": compile_date(True),
    "is_date_after": compile_date(False),
    "semver_eq": semver_compare(lambda a, b: a == b),
    "semver_neq": semver_compare(lambda a, b: a != b),
    "semver_gt": semver_compare(lambda a, b: a > b),
    "semver_gte": semver_compare(lambda a, b: a >= b),
    "semver_lt": semver_compare(lambda a, b: a < b),
    "semver_lte": semver_compare(lambda a, b: a <= b),
    "semver_tilde": semver_range("semver_tilde"),
    "semver_caret": semver_range("semver_caret"),
    "semver_wildcard": semver_range("semver_wildcard"),
}


def compile_matcher(
    operator: Optional[str], value: Any, *, matching_version: int = 1
) -> Optional[Matcher]:
    """Compile ``value`` for ``operator`` (None -> ``exact``); None if locally unsupported.

    Unsupported means an unknown operator or a filter value the operator cannot
    use (``gt`` with ``"abc"``, an unparseable date or version): a flag needing it
    cannot be decided locally.
    """
    compiler = OPERATORS.get(operator or "exact")
    return None if compiler is None else compiler(value, matching_version)


def match_property(
    matcher: Optional[Matcher],
    key: str,
    properties: Mapping[str, Any],
    *,
    now: Optional[datetime] = None,
) -> Optional[bool]:
    """Apply ``matcher`` to ``properties[key]``; None when it cannot be decided locally.

    A missing property, an unsupported filter (``matcher is None``) or an unusable
    property value all give None ("ask the server").
    """
    value = properties.get(key, _MISSING)
    if value is _MISSING or matcher is None:
        return None
    return matcher(value, now)


def evaluate_operator(
    operator: str,
    filter_value: Any,
    key: str,
    properties: Mapping[str, Any],
    *,
    now: Optional[datetime] = None,
    matching_version: int = 1,
) -> Optional[bool]:
    """Compile and apply in one call (convenient for tests and one-off checks)."""
    matcher = compile_matcher(operator, filter_value, matching_version=matching_version)
    return match_property(matcher, key, properties, now=now)
