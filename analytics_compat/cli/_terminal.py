"""Making stored data safe to print on a terminal.

Owns one rule: characters that can steer a terminal or hide what is printed are
shown as escapes (``\\x1b``, ``\\u202e``) instead of being written. That is every
control character (C0 such as ESC, BEL, CR, LF and TAB; DEL; C1 such as CSI
U+009B), the line and paragraph separators, and the invisible format characters
(bidirectional overrides, zero-width spaces, tag characters) except the zero-width
joiners that emoji sequences need. Escaping an escaped string changes nothing.
It knows nothing about events or where the text comes from.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["printable", "printable_lines"]

_KEEP = frozenset({"\u200c", "\u200d"})  # zero-width (non-)joiners: emoji sequences
_TAGS = "\U000e0000-\U000e007f"  # invisible tag characters, outside the BMP


@functools.lru_cache(maxsize=1)
def _unsafe() -> re.Pattern[str]:
    chars = [
        chr(point)
        for point in range(0x10000)
        if unicodedata.category(chr(point)) in ("Cc", "Cf", "Zl", "Zp")
        and chr(point) not in _KEEP
        and not 0xD800 <= point <= 0xDFFF
    ]
    return re.compile("[" + "".join(re.escape(c) for c in chars) + _TAGS + "]")


def _escape(match: re.Match[str]) -> str:
    point = ord(match.group())
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


def printable(text: str) -> str:
    """``text`` with every terminal-steering or invisible character escaped."""
    return _unsafe().sub(_escape, text)


def printable_lines(text: str) -> str:
    """Like ``printable`` but keeping line breaks (for multi-line log records)."""
    return "\n".join(printable(line) for line in text.split("\n"))
