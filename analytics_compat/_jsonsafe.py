"""Turn caller-supplied values into values JSON can carry, at call time.

Owns the one rule for property values: JSON scalars, lists and string-keyed
mappings pass; datetime, date, time, Decimal, UUID, Enum, set, frozenset, tuple and
bytes are converted; anything else is rejected with a ``ValidationError`` whose
``field`` is the dotted path to the value. So is an integer PostHog cannot read as a
JSON number (beyond a double's range, 2**1024: serde_json refuses it, and the whole
batch with it), and a non-finite float. The result is a fresh copy, so a caller
mutating its dict after the call cannot change what is sent.

Knows nothing about messages, queues or HTTP.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import enum
import math
import uuid
from collections.abc import Mapping
from typing import Any

from .errors import ValidationError

__all__ = ["check_int", "iso_utc", "json_safe", "json_safe_mapping", "not_a_name"]

_SCALARS = (str, bool, type(None))
_FAST = frozenset(_SCALARS)  # pass as they are; int and float pass after a range check
_MAX_DEPTH = 32
_INT_LIMIT = 1 << 1024  # beyond a double's range: no JSON number PostHog parses
_INT_FLOOR = -_INT_LIMIT


def check_int(value: int, field: str) -> int:
    """An integer JSON can carry to PostHog, or a ``ValidationError`` naming ``field``."""
    if _INT_FLOOR < value < _INT_LIMIT:
        return value
    raise ValidationError(
        f"{field} is an integer of {value.bit_length()} bits, too large for a JSON number",
        field=field,
    )


def iso_utc(value: _dt.datetime) -> str:
    """ISO-8601 in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    else:
        value = value.astimezone(_dt.timezone.utc)
    return value.isoformat()


def not_a_name(value: Any, field: str, *, ints: bool = False) -> ValidationError:
    """The error for a required string field (an id when ``ints``) that is missing, empty
    or of another type: it says which of the three."""
    if value is None:
        text = f"{field} is required (a non-empty string)"
    elif isinstance(value, str):
        text = f"{field} must not be empty"
    else:
        kind = "a string or an int" if ints else "a string"
        text = f"{field} must be {kind}, not {type(value).__name__}"
    return ValidationError(text, field=field)


def json_safe_mapping(value: Any, field: str) -> dict[str, Any]:
    """Check that ``value`` is a mapping and return a JSON-safe copy of it."""
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValidationError(
            f"{field} must be a mapping (dict), not {type(value).__name__}", field=field
        )
    return _mapping(value, field, 0)


def json_safe(value: Any, field: str) -> Any:
    """Return a JSON-safe copy of ``value`` or raise ``ValidationError`` naming ``field``."""
    return _convert(value, field, 0)


def _mapping(value: Mapping[Any, Any], field: str, depth: int) -> dict[str, Any]:
    # Copy at C speed, then check: the common case (a handful of str/int values under
    # str keys) costs one pass and no per-key allocation.
    out = dict(value)
    for key, item in out.items():
        if type(key) is not str:
            return _mapping_slow(out, field, depth)
        kind = type(item)
        if kind not in _FAST:
            if kind is int:
                if _INT_FLOOR < item < _INT_LIMIT:
                    continue
            elif kind is float and item - item == 0:  # finite float
                continue
            out[key] = _convert(item, f"{field}.{key}", depth + 1)
    return out


def _mapping_slow(value: Mapping[Any, Any], field: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            if isinstance(key, (int, float, bool)) or key is None:
                key = json_key(key)
            else:
                raise ValidationError(
                    f"{field} has a key of type {type(key).__name__}; keys must be strings",
                    field=field,
                )
        out[key] = _convert(item, f"{field}.{key}", depth + 1)
    return out


def json_key(key: Any) -> str:
    """Stringify a scalar mapping key the way ``json.dumps`` would."""
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    return str(key)


def _convert(value: Any, field: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ValidationError(f"{field} is nested more than {_MAX_DEPTH} levels deep", field=field)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, int):
        return check_int(value, field)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise ValidationError(f"{field} is {value!r}, which JSON cannot carry", field=field)
    if isinstance(value, Mapping):
        return _mapping(value, field, depth)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_convert(item, f"{field}[{i}]", depth + 1) for i, item in enumerate(items)]
    if isinstance(value, _dt.datetime):
        try:
            return iso_utc(value)
        except OverflowError:
            raise ValidationError(f"{field} is out of range in UTC", field=field) from None
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        number = float(value) if value.is_finite() else math.inf
        if math.isfinite(number):  # 1e400 is finite as a Decimal, not as a double
            return number
        raise ValidationError(f"{field} is {value}, which JSON cannot carry", field=field)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return _convert(value.value, field, depth + 1)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    raise ValidationError(
        f"{field} has a value of type {type(value).__name__}, which cannot be sent as JSON",
        field=field,
    )
