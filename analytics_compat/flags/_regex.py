"""The ``regex`` and ``not_regex`` operators, as PostHog's flag service evaluates them.

Owns ``regex_compiler(negate)`` (an ``operators`` compiler) and ``rust_text``. The
service (Rust, ``rust/feature-flags``) turns both the filter value and the property
value into text with ``to_string_representation``: a string as it is, anything else as
compact JSON (``true``, ``null``, ``12``, ``["a",1]``), then runs
``fancy_regex::Regex::find``. So a filter whose value is JSON null matches nothing (the
service returns False before compiling), an invalid pattern matches nothing for both
operators, and the match itself is ``_regex_engine``'s (linear time, the service's
semantics, or "cannot decide here").

A matcher returns None, and the flag is asked of the service, when the value has no
text we are sure the service would produce the same way (an object, whose key order
depends on the service's build; a float in exponent notation, which Rust and Python
write differently; an integer outside 64 bits, which the service reads as a float), or
when the search itself cannot decide (see ``_regex_engine``). A pattern that cannot be
compiled with certainty gives no matcher at all (the compiler returns None).

It must not know about flags, conditions or evaluation order.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Optional

from analytics_compat.flags._regex_engine import DEFERRED, INVALID, compile_pattern
from analytics_compat.flags._typing import Compiler, Matcher

__all__ = ["regex_compiler", "rust_text"]

_INT_RANGE = range(-(2**63), 2**64)  # what serde_json keeps as an integer (i64 or u64)


def _never(prop: Any, now: Optional[datetime]) -> Optional[bool]:
    return False


def _json_item(value: Any) -> Optional[str]:
    if isinstance(value, str):
        # Same escapes as serde_json: \" \\ \b \f \n \r \t, other controls as \u00xx.
        return json.dumps(value, ensure_ascii=False)
    return rust_text(value)


def rust_text(value: Any) -> Optional[str]:
    """The text the service matches for ``value``; None when it is not certain."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value in _INT_RANGE else None
    if isinstance(value, float):
        text = repr(value)
        # Both shortest round-trip forms agree outside exponent notation (0.0001, 1.5, 1e15).
        return text if math.isfinite(value) and "e" not in text else None
    if isinstance(value, (list, tuple)):
        parts = [_json_item(item) for item in value]
        return None if None in parts else "[" + ",".join(parts) + "]"  # type: ignore[arg-type]
    return None  # objects (key order is the service's build choice) and anything else


def regex_compiler(negate: bool) -> Compiler:
    def compile_regex(value: Any, version: int) -> Optional[Matcher]:
        if value is None:
            return _never  # the service answers False for a filter without a value
        pattern = rust_text(value)
        if pattern is None:
            return None
        regex = compile_pattern(pattern)
        if regex.status == INVALID:
            return _never  # regex and not_regex alike: an invalid pattern matches nothing
        if regex.status == DEFERRED:
            return None
        search = regex.search

        def match_regex(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            text = prop if type(prop) is str else rust_text(prop)
            if text is None:
                return None
            found = search(text)
            return None if found is None else found != negate

        return match_regex

    return compile_regex
