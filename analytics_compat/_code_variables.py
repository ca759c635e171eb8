"""Local variable values for ``$exception`` frames: opt-in, masked, bounded.

Owns ``collector``: with ``capture_exception_code_variables`` on, each in-app frame
of an ``$exception_list`` gets ``code_variables``, a ``name -> value`` mapping of
that frame's locals, as posthog-python sends it (``_exceptions`` asks the collector
for each in-app frame it serializes). Local variables can hold secrets, so this
fails closed, as posthog-python's masking does:

- names matching the ignore patterns (default: dunder names) are left out;
- a name matching a mask pattern (password, secret, token, api_key, auth, dsn, ...)
  has its value replaced by ``REDACTED``, unread; so does a string value matching one,
  a value that looks like a credential (a known key format, a PEM private key, a long
  high-entropy token), and a mapping entry or attribute whose key matches;
- credentials in URLs (``scheme://user:pass@``) and ``Bearer``/``Basic`` values are cut;
- a string too long to scan is ``TOO_LONG``; every value is cut at 1024 characters,
  and one capture sends at most 10 KiB of them (scalars first).

Numbers stay numbers; everything else becomes text. Knows nothing about clients.
"""

from __future__ import annotations

import functools
import json
import math
import re
import types
from collections import Counter
from typing import Any, Callable, Dict, List, Pattern, Tuple

__all__ = ["REDACTED", "TOO_LONG", "collector"]

REDACTED = "$$_posthog_redacted_based_on_masking_rules_$$"
TOO_LONG = "$$_posthog_value_too_long_$$"
MAX_VALUE = 1024
MAX_TOTAL = 10 * 1024
_MAX_SCAN = 2048
_MAX_ITEMS = 50
_MAX_DEPTH = 4
_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.\-]{0,30}://)(?=[^/@\s]*:)[^/\s]*@", re.I)
_AUTH_VALUE = re.compile(r"\b(bearer|basic)((?:\s*:\s*|\s+)['\"]?)([A-Za-z0-9._~+/-]{8,}=*)", re.I)
_KNOWN_SECRET = re.compile(
    "|".join(
        (
            r"sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}",  # Anthropic, OpenAI
            r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key ids
            r"AIza[A-Za-z0-9_-]{35}",  # Google API keys
            r"(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
            r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{20,}",  # GitHub
            r"xox[abeoprs]-[A-Za-z0-9-]{10,}",  # Slack
            r"phx_[A-Za-z0-9]{20,}",  # PostHog personal API keys
            r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{6,}",  # JWT
        )
    )
)

Matcher = Tuple[Pattern[str], ...]


@functools.lru_cache(maxsize=32)
def _compile(patterns: Tuple[str, ...]) -> Matcher:
    return tuple(re.compile(p) for p in patterns)


def _matches(text: str, matcher: Matcher) -> bool:
    return any(p.search(text) for p in matcher)


def collector(
    mask_patterns: Tuple[str, ...], ignore_patterns: Tuple[str, ...]
) -> Callable[[types.FrameType], Dict[str, Any]]:
    """A function from an in-app frame to its masked variables; the frames of one
    capture share one budget, so make one collector per capture."""
    mask, ignore = _compile(mask_patterns), _compile(ignore_patterns)
    budget = [MAX_TOTAL]

    def collect(frame: types.FrameType) -> Dict[str, Any]:
        return _variables(frame, mask, ignore, budget) if budget[0] > 0 else {}

    return collect


def _variables(
    frame: types.FrameType, mask: Matcher, ignore: Matcher, budget: List[int]
) -> Dict[str, Any]:
    try:
        local = dict(frame.f_locals)
    except Exception:
        return {}
    names = [n for n in local if isinstance(n, str) and not _matches(n, ignore)]
    simple = sorted(n for n in names if isinstance(local[n], (type(None), bool, int, float, str)))
    rest = sorted(n for n in names if n not in set(simple))
    out: Dict[str, Any] = {}
    for name in simple + rest:
        if _matches(name, mask):
            value: Any = REDACTED
        else:
            try:
                value = _encode(local[name], mask)
            except Exception:
                value = f"<{_type_name(local[name])}>"
        cost = len(value) if isinstance(value, str) else len(str(value))
        if cost > budget[0]:
            break
        budget[0] -= cost
        out[name] = value
    return out


def _encode(value: Any, mask: Matcher) -> Any:
    """A wire value: a finite number as is, anything else as masked, truncated text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value if math.isfinite(value) and abs(value) < 2**53 else str(value)
    if isinstance(value, str):
        return _cut(_mask_text(value, mask))
    masked = _mask(value, mask, 0, set())
    text = masked if isinstance(masked, str) else json.dumps(masked, default=str)
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _mask_text(text: str, mask: Matcher) -> str:
    if len(text) > _MAX_SCAN:
        return TOO_LONG
    if _matches(text, mask) or _looks_like_secret(text):
        return REDACTED
    text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return _AUTH_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def _mask(value: Any, mask: Matcher, depth: int, seen: set[int]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, mask)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH or id(value) in seen:
        return TOO_LONG if depth >= _MAX_DEPTH else "<circular ref>"
    seen.add(id(value))
    if isinstance(value, dict):
        return _mask_items(value.items(), mask, depth, seen, len(value))
    if isinstance(value, (list, tuple, set, frozenset)):
        if len(value) > _MAX_ITEMS:
            return TOO_LONG
        return [_mask(item, mask, depth + 1, seen) for item in value]
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict) and attributes and not isinstance(value, type):
        out = _mask_items(attributes.items(), mask, depth, seen, len(attributes))
        if isinstance(out, dict):
            out["__class__"] = _type_name(value)
        return out
    try:
        text = repr(value)
    except Exception:
        return f"<{_type_name(value)}>"
    # An opaque value is only its repr: redact all of it if any of it looks sensitive.
    masked = _mask_text(text, mask)
    return REDACTED if masked != text else text


def _mask_items(items: Any, mask: Matcher, depth: int, seen: set[int], count: int) -> Any:
    if count > _MAX_ITEMS:
        return TOO_LONG
    out: Dict[str, Any] = {}
    for index, (key, item) in enumerate(items):
        name = key if isinstance(key, str) else str(key)
        if _matches(name, mask) or _looks_like_secret(name):
            if not re.fullmatch(r"[\w.\-]+", name):  # the key itself may hold the secret
                name = f"$$_posthog_redacted_key_{index}_$$"
            out[name] = REDACTED
        else:
            out[_mask_text(name, mask)] = _mask(item, mask, depth + 1, seen)
    return out


def _looks_like_secret(text: str) -> bool:
    """A last resort after the name rules: credential formats and long random tokens."""
    if "PRIVATE KEY-----" in text:
        return True
    if len(text) < 16:
        return False
    if _KNOWN_SECRET.search(text):
        return True
    if " " in text or "/" in text or "://" in text or len(text) > 512:
        return False
    if re.fullmatch(r"[0-9a-fA-F-]+", text):  # hashes and uuids are ids, not secrets
        return False
    classes = sum(
        (
            any(c.islower() for c in text),
            any(c.isupper() for c in text),
            any(c.isdigit() for c in text),
            any(not c.isalnum() for c in text),
        )
    )
    if classes < 3 or any(c in "()[]{}<>'\"`,;" for c in text):
        return False
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return entropy >= 3.8


def _type_name(value: Any) -> str:
    try:
        return str(type(value).__qualname__)
    except Exception:
        return "unknown"
