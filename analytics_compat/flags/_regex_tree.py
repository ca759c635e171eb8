"""The tree a flag regex parses into: character sets and the nodes around them.

Owns ``Chars`` (a set of characters: explicit ones, code point ranges, and Rust's
Unicode-aware ``\\d``/``\\w``/``\\s`` and their negations), ``Cat``, ``Alt``, ``Rep``,
``Assert`` and the anchor kinds. Membership is tri-state: a code point this Python's
Unicode tables do not know (``Cn``, newer than its Unicode version) gives None for the
Unicode classes, since the flag service's tables may know it.

It must not know about pattern syntax or how a tree is matched.
"""

from __future__ import annotations

import unicodedata
from typing import Callable, FrozenSet, Optional, Tuple, Union

__all__ = ["BOL", "BOT", "EMPTY", "EOL", "EOT", "Alt", "Assert", "Cat", "Chars", "Node", "Rep"]

BOT, EOT, BOL, EOL = "bot", "eot", "bol", "eol"  # text and (?m) line anchors

_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)  # Unicode White_Space, what Rust's \s means (Python's \s adds U+001C..U+001F)
# Symbols with the Other_Alphabetic property (circled and squared Latin letters): \w in
# Rust, and not letters by general category.
_ALPHABETIC_SYMBOLS = ((0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189))


def _is_digit(c: str) -> Optional[bool]:
    if c < "\x80":
        return "0" <= c <= "9"
    category = unicodedata.category(c)
    return None if category == "Cn" else category == "Nd"


def _is_word(c: str) -> Optional[bool]:
    """Rust's Unicode \\w: Alphabetic, marks, decimal digits, connector punctuation, joiners.

    None for a code point this Python's Unicode tables do not know (the server's may).
    """
    if c < "\x80":
        return c.isalnum() or c == "_"
    category = unicodedata.category(c)
    if category == "Cn":
        return None
    if category[0] in "LM" or category in ("Nd", "Nl", "Pc") or c in "\u200c\u200d":
        return True
    if category == "So":
        point = ord(c)
        return any(lo <= point <= hi for lo, hi in _ALPHABETIC_SYMBOLS)
    return False


def _is_space(c: str) -> Optional[bool]:
    return c in _WHITE_SPACE


def _negate(test: Callable[[str], Optional[bool]]) -> Callable[[str], Optional[bool]]:
    def negated(c: str) -> Optional[bool]:
        result = test(c)
        return None if result is None else not result

    return negated


_PERL = {"d": _is_digit, "w": _is_word, "s": _is_space}
PERL_CLASSES = {**_PERL, **{k.upper(): _negate(v) for k, v in _PERL.items()}}
# A rough size of the Rust automaton each class compiles to: Unicode \w is a large
# UTF-8 automaton, \d a medium one. Bounds what we accept well under the crate's limit.
_WEIGHT = {"w": 40, "W": 40, "d": 4, "D": 4, "s": 1, "S": 2}


class Chars:
    """A set of characters, consumed one at a time: explicit ones, ranges, Perl classes."""

    __slots__ = ("chars", "negated", "perl", "ranges", "weight")

    def __init__(
        self,
        chars: FrozenSet[str] = frozenset(),
        ranges: Tuple[Tuple[int, int], ...] = (),
        perl: Tuple[str, ...] = (),
        negated: bool = False,
    ) -> None:
        self.chars = chars
        self.ranges = ranges
        self.perl = perl
        self.negated = negated
        self.weight = max([1, *(_WEIGHT[p] for p in perl)]) + (2 if negated else 0)

    def test(self, c: str) -> Optional[bool]:
        """Whether ``c`` is in the set; None if this Python cannot tell (unassigned code point)."""
        hit = c in self.chars
        if not hit and self.ranges:
            point = ord(c)
            hit = any(lo <= point <= hi for lo, hi in self.ranges)
        unknown = False
        if not hit:
            for name in self.perl:
                result = PERL_CLASSES[name](c)
                if result:
                    hit = True
                    break
                unknown = unknown or result is None
        if not hit and unknown:
            return None
        return hit != self.negated

    def single(self) -> Optional[str]:
        """The one character this set is, if it is exactly one (for literal fast paths)."""
        if len(self.chars) == 1 and not (self.ranges or self.perl or self.negated):
            return next(iter(self.chars))
        return None


class Cat:
    """A sequence; ``Cat(())`` is the empty pattern."""

    __slots__ = ("items",)

    def __init__(self, items: Tuple[Node, ...]) -> None:
        self.items = items


class Alt:
    __slots__ = ("items",)

    def __init__(self, items: Tuple[Node, ...]) -> None:
        self.items = items


class Rep:
    """``item`` repeated ``lo`` to ``hi`` times (``hi`` None: unbounded). Greed is irrelevant
    to whether a match exists, so lazy quantifiers parse to the same node."""

    __slots__ = ("hi", "item", "lo")

    def __init__(self, item: Node, lo: int, hi: Optional[int]) -> None:
        self.item = item
        self.lo = lo
        self.hi = hi


class Assert:
    """A zero-width anchor: ``BOT``/``EOT`` (text) or ``BOL``/``EOL`` (lines, ``(?m)``)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


Node = Union[Chars, Cat, Alt, Rep, Assert]
EMPTY = Cat(())
