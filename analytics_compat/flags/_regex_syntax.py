"""The regex syntax PostHog's flag service accepts, parsed into a small tree, or refused.

Owns ``parse(pattern)``: the subset of the Rust ``fancy-regex`` syntax (PostHog evaluates
``regex`` / ``not_regex`` with ``fancy_regex::RegexBuilder`` and a 10,000-step
backtrack limit) whose meaning we know exactly, as a tree of ``Chars`` (one character
from a set), ``Cat``, ``Alt``, ``Rep`` and ``Assert`` nodes. Everything else raises:

- ``Invalid``: the server cannot compile the pattern either (unbalanced group,
  unterminated class, a quantifier with nothing to repeat, a reversed range, a trailing
  backslash); the server then answers False for ``regex`` and ``not_regex`` alike.
- ``Deferred``: the pattern may be valid but its meaning is not certain here:
  constructs only the backtracking half of fancy-regex runs (word boundaries,
  lookaround, backreferences, atomic groups, possessive quantifiers: their answer
  depends on the step limit), syntax whose reading differs between fancy-regex
  versions (``{`` that is not a repetition, ``{,n}``, stacked quantifiers, a
  quantified assertion or empty group, rare escapes, named groups, ``x``/``U`` flags,
  flags in mid-pattern), Unicode properties (``\\p{..}``), set operations and nested
  classes, case-insensitive non-ASCII letters, and patterns too large to bound. The
  flag is then not decidable locally.

Semantics kept (the Rust ``regex`` crate's, which fancy-regex delegates to): ``$`` is end
of text (not "before a final newline"), ``^`` start of text, ``(?m)`` makes them line
anchors for ``\\n`` only, ``.`` is any character but ``\\n`` (any with ``(?s)``), ``\\d``,
``\\w`` and ``\\s`` are Unicode-aware, ``(?i)`` uses simple case folding (``k`` also matches
KELVIN SIGN, ``s`` LONG S).

It must not know about flags, matching or how a tree is executed.
"""

from __future__ import annotations

import re
from typing import FrozenSet, Optional, Tuple, Union

from analytics_compat.flags._regex_tree import (
    BOL,
    BOT,
    EMPTY,
    EOL,
    EOT,
    Alt,
    Assert,
    Cat,
    Chars,
    Node,
    Rep,
)

__all__ = ["MAX_COUNT", "MAX_DEPTH", "MAX_PATTERN", "Deferred", "Invalid", "parse"]

MAX_PATTERN = 4096
MAX_DEPTH = 32  # fancy-regex refuses 64 nested groups; well below, nothing differs
MAX_COUNT = 1000  # counted repetitions above this are expanded too far to bound


class Invalid(Exception):
    """The flag service cannot compile this pattern: it matches nothing."""


class Deferred(Exception):
    """The pattern's meaning on the flag service is not certain here; ``args[0]`` says why."""


# --------------------------------------------------------------------------- parser

_CONTROL = {"n": "\n", "r": "\r", "t": "\t", "f": "\x0c"}
_CLASS_ESCAPES = frozenset("\\-[]^.$*+?(){}|")
_HEX = frozenset("0123456789abcdefABCDEF")
_REPEAT = re.compile(r"\{([0-9]{1,4})(?:(,)([0-9]{0,4}))?\}")
_GROUP_FLAGS = re.compile(r"\?([ims]*):")
_LEADING_FLAGS = re.compile(r"\(\?([ims]+)\)")
_FOLD_EXTRA = {"k": "\u212a", "s": "\u017f"}  # KELVIN SIGN, LATIN SMALL LETTER LONG S


def _fold(c: str) -> FrozenSet[str]:
    """The characters simple case folding makes equal to ``c``; Deferred if not known here."""
    if c < "\x80":
        if not c.isalpha():
            return frozenset(c)
        lower = c.lower()
        extra = _FOLD_EXTRA.get(lower)
        return frozenset((lower, c.upper(), extra) if extra else (lower, c.upper()))
    if c == c.lower() == c.upper() == c.casefold():
        return frozenset(c)  # a caseless character folds to nothing else
    raise Deferred("case-insensitive matching of a non-ASCII letter")


def _surrogate(c: str) -> bool:
    return "\ud800" <= c <= "\udfff"


ClassItem = Union[str, Tuple[str]]  # a character, or (perl class name,)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.n = len(pattern)
        self.i = 0
        self.casei = self.multi = self.dotall = False

    def parse(self) -> Node:
        while True:  # flags at the very start apply to the whole pattern, in every version
            match = _LEADING_FLAGS.match(self.p, self.i)
            if match is None:
                break
            self._set_flags(match.group(1))
            self.i = match.end()
        if self.i and self.p[self.i : self.i + 1] in ("*", "+", "?", "{"):
            raise Deferred("quantified flag group")
        node = self._alt(0)
        if self.i < self.n:
            raise Invalid("unbalanced ')'")
        return node

    def _set_flags(self, flags: str) -> None:
        self.casei = self.casei or "i" in flags
        self.multi = self.multi or "m" in flags
        self.dotall = self.dotall or "s" in flags

    def _alt(self, depth: int) -> Node:
        branches = [self._concat(depth)]
        while self.i < self.n and self.p[self.i] == "|":
            self.i += 1
            branches.append(self._concat(depth))
        return branches[0] if len(branches) == 1 else Alt(tuple(branches))

    def _concat(self, depth: int) -> Node:
        items: list[Node] = []
        while self.i < self.n:
            c = self.p[self.i]
            if c in "|)":
                break
            if c in "*+?":
                raise Invalid("quantifier with nothing to repeat")
            atom, repeatable = self._atom(depth)
            if self.i < self.n and self.p[self.i] in "*+?{":
                if not repeatable:
                    raise Deferred("quantified assertion or empty group")
                lo, hi = self._quantifier()
                if self.i < self.n and self.p[self.i] == "?":
                    self.i += 1  # lazy: the same language
                following = self.p[self.i : self.i + 1]
                if following in ("*", "?"):
                    raise Invalid("quantifier with nothing to repeat")  # a** as *foo
                if following in ("+", "{"):
                    raise Deferred("possessive quantifier or '{' after a quantifier")
                atom = Rep(atom, lo, hi)
            items.append(atom)
        if not items:
            return EMPTY
        return items[0] if len(items) == 1 else Cat(tuple(items))

    def _quantifier(self) -> Tuple[int, Optional[int]]:
        c = self.p[self.i]
        if c != "{":
            self.i += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        match = _REPEAT.match(self.p, self.i)
        if match is None:
            raise Deferred("'{' that is not a plain {n}, {n,} or {n,m} repetition")
        lo = int(match.group(1))
        hi: Optional[int] = lo
        if match.group(2):
            hi = int(match.group(3)) if match.group(3) else None
        if lo > MAX_COUNT or (hi is not None and (hi > MAX_COUNT or hi < lo)):
            raise Deferred("repetition count too large or reversed")
        self.i = match.end()
        return lo, hi

    def _atom(self, depth: int) -> Tuple[Node, bool]:
        c = self.p[self.i]
        if c == "(":
            return self._group(depth)
        if c == "[":
            return self._class(), True
        if c == "\\":
            return self._escape()
        self.i += 1
        if c == ".":
            return Chars(frozenset() if self.dotall else frozenset("\n"), negated=True), True
        if c == "^":
            return Assert(BOL if self.multi else BOT), False
        if c == "$":
            return Assert(EOL if self.multi else EOT), False
        if c == "{":
            raise Deferred("'{' that is not a repetition")
        return self._literal(c), True

    def _literal(self, c: str) -> Chars:
        if _surrogate(c):
            raise Deferred("surrogate code point in the pattern")
        return Chars(_fold(c) if self.casei else frozenset(c))

    def _group(self, depth: int) -> Tuple[Node, bool]:
        if depth + 1 > MAX_DEPTH:
            raise Deferred("groups nested too deeply")
        self.i += 1
        saved = (self.casei, self.multi, self.dotall)
        if self.p.startswith("?", self.i):
            match = _GROUP_FLAGS.match(self.p, self.i)
            if match is None:
                # lookaround, atomic, named, conditional, negated or mid-pattern flags
                raise Deferred("group syntax other than (...), (?:...) and (?ims:...)")
            self._set_flags(match.group(1))
            self.i = match.end()
        inner = self._alt(depth + 1)
        if self.i >= self.n:
            raise Invalid("unclosed group")
        self.i += 1
        self.casei, self.multi, self.dotall = saved
        return inner, inner is not EMPTY

    def _escape(self) -> Tuple[Node, bool]:
        self.i += 1
        if self.i >= self.n:
            raise Invalid("trailing backslash")
        c = self.p[self.i]
        self.i += 1
        if c in "dDwWsS":
            return Chars(perl=(c,)), True
        if c in "bB<>":
            raise Deferred("word boundaries run on the server's step-limited backtracker")
        if c in _CONTROL:
            return self._literal(_CONTROL[c]), True
        if c == "x":
            return self._literal(self._hex()), True
        if " " <= c <= "~" and not c.isalnum():
            return self._literal(c), True
        raise Deferred("escape with no certain meaning here (backreference, \\p, \\A, ...)")

    def _hex(self) -> str:
        digits = self.p[self.i : self.i + 2]
        if len(digits) != 2 or not _HEX.issuperset(digits):
            raise Deferred("hex escape other than \\xHH")
        self.i += 2
        return chr(int(digits, 16))

    def _class(self) -> Chars:
        self.i += 1
        negated = self.p.startswith("^", self.i)
        self.i += negated
        chars: set[str] = set()
        ranges: list[Tuple[int, int]] = []
        perl: list[str] = []
        first = True
        while True:
            if self.i >= self.n:
                raise Invalid("unterminated character class")
            c = self.p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            if c == "[":
                raise Deferred("nested or POSIX character class")
            if self.p[self.i : self.i + 2] in ("&&", "--", "~~"):
                raise Deferred("character class set operation")
            lo = self._class_item(first)
            leading_bracket = first and c == "]"
            first = False
            dash = self.p[self.i : self.i + 1] == "-"
            if dash and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                if self.p[self.i] == "[" or not isinstance(lo, str) or leading_bracket:
                    raise Deferred("character class range with an unusual endpoint")
                hi = self._class_item(False)
                if not isinstance(hi, str):
                    raise Deferred("character class range with an unusual endpoint")
                if lo > hi:
                    raise Invalid("reversed character class range")
                self._add_range(lo, hi, chars, ranges)
            elif isinstance(lo, str):
                chars.update(_fold(lo) if self.casei else lo)
            else:
                perl.append(lo[0])
        return Chars(frozenset(chars), tuple(ranges), tuple(perl), negated)

    def _add_range(self, lo: str, hi: str, chars: set[str], ranges: list[Tuple[int, int]]) -> None:
        if not self.casei:
            ranges.append((ord(lo), ord(hi)))
        elif hi < "\x80":
            for point in range(ord(lo), ord(hi) + 1):
                chars.update(_fold(chr(point)))
        else:
            raise Deferred("case-insensitive non-ASCII range")

    def _class_item(self, first: bool) -> ClassItem:
        c = self.p[self.i]
        if c == "\\":
            self.i += 1
            if self.i >= self.n:
                raise Invalid("trailing backslash")
            e = self.p[self.i]
            self.i += 1
            if e in "dDwWsS":
                return (e,)
            if e in _CONTROL:
                return _CONTROL[e]
            if e == "b":
                return "\x08"  # backspace inside a class, in both engines
            if e == "x":
                return self._hex()
            if e in _CLASS_ESCAPES:
                return e
            raise Deferred("escape inside a character class with no certain meaning here")
        if c == "-" and not first and self.p[self.i + 1 : self.i + 2] != "]":
            raise Deferred("'-' in the middle of a character class")
        if _surrogate(c):
            raise Deferred("surrogate code point in the pattern")
        self.i += 1
        return c


def parse(pattern: str) -> Node:
    """The tree for ``pattern``; raises ``Invalid`` or ``Deferred`` (see the module docstring)."""
    if len(pattern) > MAX_PATTERN:
        raise Deferred("pattern too long")
    return _Parser(pattern).parse()
