"""Matching of flag regexes in time linear in the value, whatever the pattern.

Owns ``compile_pattern(pattern) -> Regex``. A ``Regex`` is ``INVALID`` (the flag service
cannot compile it: it matches nothing), ``DEFERRED`` (its meaning on the service is not
certain here, see ``_regex_syntax``), or ready: ``search(text)`` answers whether the
pattern matches anywhere in ``text``, or None when this value cannot be decided here.

Why not Python's ``re``: it backtracks, and holds the interpreter lock while doing so, so
one pattern such as ``^(a+)+$`` against a 30-character value stops every thread of the
process for seconds. Here the parsed pattern becomes a Thompson NFA, run as a DFA built
lazily: one state per set of NFA states, one transition per (state, character) the first
time it is needed, kept for the next evaluations. A warm search costs one dictionary
lookup per character; a cold step costs one closure over the NFA. The work of cold steps
in one search is counted, and past ``MAX_WORK`` (10-20 ms of CPU measured) or past
``MAX_LENGTH`` characters the search answers None: the flag service decides that value.
The cache is bounded too: past its limits it is dropped and rebuilt, which costs time,
never correctness. Answers for recent short values are remembered (one person's flags
are evaluated again and again with the same properties).

Only whether a match exists is computed (no positions, no captures): that is all
``regex`` / ``not_regex`` need, and for it greedy and lazy quantifiers are the same.
Plain literals (optionally anchored) skip the automaton: ``in``, ``startswith``, ...

Pure: no I/O, no threads, no logging. Concurrent searches may race to fill the cache;
each entry is immutable once built, so a race only computes a transition twice.

It must not know about flags, properties or how values are rendered to text.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

from analytics_compat.flags._regex_syntax import Deferred, Invalid, parse
from analytics_compat.flags._regex_tree import (
    BOL,
    BOT,
    EOL,
    EOT,
    Alt,
    Assert,
    Cat,
    Chars,
    Node,
    Rep,
)

__all__ = ["DEFERRED", "INVALID", "MAX_LENGTH", "MAX_WORK", "READY", "Regex", "compile_pattern"]

READY, INVALID, DEFERRED = "ready", "invalid", "deferred"

MAX_STATES = 2000  # NFA states after expanding counted repetitions
MAX_WEIGHT = 2500  # approximate size of what the Rust crate would compile (see Chars.weight)
MAX_LENGTH = 50_000  # characters: the bound on one search once its transitions are cached
MAX_WORK = 20_000  # NFA states visited building new transitions: the bound on a cold search
MAX_DFA_STATES = 1000
MAX_TRANSITIONS = 20_000
MAX_TRANSITIONS_PER_STATE = 512
MAX_MEMO = 1024  # answers remembered per pattern, for values up to MAX_MEMO_LENGTH
MAX_MEMO_LENGTH = 256

_CHAR, _SPLIT, _ASSERT, _MATCH = 0, 1, 2, 3
_START, _NL, _OTHER = 0, 1, 2  # what precedes a position
_END = 0  # what follows a position: _END, _NL or _OTHER
_SURROGATES = re.compile("[\ud800-\udfff]")

Search = Callable[[str], Optional[bool]]


class Regex:
    """A compiled pattern; ``detail`` says why it is ``INVALID`` or ``DEFERRED``."""

    __slots__ = ("detail", "search", "status")

    def __init__(self, status: str, detail: str = "", search: Optional[Search] = None) -> None:
        self.status = status
        self.detail = detail
        self.search: Search = search or _no_search

    def __repr__(self) -> str:
        return f"Regex({self.status}{': ' + self.detail if self.detail else ''})"


def _no_search(text: str) -> Optional[bool]:
    return None


def compile_pattern(pattern: str) -> Regex:
    """Parse and compile ``pattern`` once; never raises, never takes more than linear time."""
    try:
        tree = parse(pattern)
        literal = _literal_search(tree)
        if literal is not None:
            return Regex(READY, search=literal)
        return Regex(READY, search=_Automaton(tree).search)
    except Invalid as error:
        return Regex(INVALID, str(error))
    except Deferred as error:
        return Regex(DEFERRED, str(error))
    except RecursionError:
        return Regex(DEFERRED, "pattern nested too deeply")


# --------------------------------------------------------------------------- literals


def _literal_search(tree: Node) -> Optional[Search]:
    items = tree.items if isinstance(tree, Cat) else (tree,)
    start = bool(items) and isinstance(items[0], Assert) and items[0].kind == BOT
    end = len(items) > start and isinstance(items[-1], Assert) and items[-1].kind == EOT
    text_chars = []
    for item in items[int(start) : len(items) - int(end)]:
        single = item.single() if isinstance(item, Chars) else None
        if single is None:
            return None
        text_chars.append(single)
    needle = "".join(text_chars)
    if start and end:
        test: Callable[[str], bool] = needle.__eq__
    elif start:
        test = lambda text: text.startswith(needle)  # noqa: E731
    elif end:
        test = lambda text: text.endswith(needle)  # noqa: E731
    else:
        test = lambda text: needle in text  # noqa: E731

    def search(text: str) -> Optional[bool]:
        if not text.isascii() and _SURROGATES.search(text):
            return None  # the service's strings cannot hold these
        return test(text)

    return search


# --------------------------------------------------------------------------- automaton


class _State:
    """A DFA state: the NFA states reached (``kernel``) and what the last character was."""

    __slots__ = ("closures", "final", "kernel", "prev", "trans", "value")

    def __init__(self, kernel: FrozenSet[int], prev: int) -> None:
        self.kernel = kernel
        self.prev = prev
        self.trans: Dict[str, _State] = {}
        self.closures: List[Optional[Tuple[Tuple[int, ...], bool]]] = [None, None, None]
        self.final = False  # the search ends on entering this state, answering ``value``
        self.value: Optional[bool] = None


def _final(value: Optional[bool]) -> _State:
    state = _State(frozenset(), _OTHER)
    state.final, state.value = True, value
    return state


_MATCHED = _final(True)
_UNKNOWN = _final(None)
_NOT_YET: Any = object()


class _Automaton:
    def __init__(self, tree: Node) -> None:
        self.kind: List[int] = []
        self.chars: List[Optional[Chars]] = []
        self.anchor: List[str] = []
        self.out: List[Tuple[int, ...]] = []
        self.weight = 0
        match = self._add(_MATCH, None, "", ())
        self.entry = self._emit(tree, match)
        self.line_start = BOL in self.anchor
        self.size = len(self.kind)
        # Copies of a repeated node share one Chars object: test each distinct set once.
        self.classes: List[Tuple[Chars, FrozenSet[int]]] = []
        by_id: Dict[int, List[int]] = {}
        for index, chars in enumerate(self.chars):
            if chars is not None:
                by_id.setdefault(id(chars), []).append(index)
        for indexes in by_id.values():
            self.classes.append((self.chars[indexes[0]], frozenset(indexes)))  # type: ignore[arg-type]
        self.next_of = [out[0] if out else -1 for out in self.out]
        self.states: Dict[Tuple[FrozenSet[int], int], _State] = {}
        self.hits: Dict[str, Optional[FrozenSet[int]]] = {}
        self.memo: Dict[str, bool] = {}
        self.transitions = 0
        self.start = self._state(frozenset(), _START)

    # ------------------------------------------------------------------ construction

    def _add(self, kind: int, chars: Optional[Chars], anchor: str, out: Tuple[int, ...]) -> int:
        if len(self.kind) >= MAX_STATES:
            raise Deferred("pattern too large once repetitions are expanded")
        if chars is not None:
            self.weight += chars.weight
            if self.weight > MAX_WEIGHT:
                raise Deferred("pattern too large for a certain compile on the service")
        self.kind.append(kind)
        self.chars.append(chars)
        self.anchor.append(anchor)
        self.out.append(out)
        return len(self.kind) - 1

    def _emit(self, node: Node, then: int) -> int:
        """Emit ``node`` followed by state ``then``; returns the entry state (built backwards)."""
        if isinstance(node, Chars):
            return self._add(_CHAR, node, "", (then,))
        if isinstance(node, Cat):
            for item in reversed(node.items):
                then = self._emit(item, then)
            return then
        if isinstance(node, Alt):
            entries = tuple(self._emit(branch, then) for branch in node.items)
            return self._add(_SPLIT, None, "", entries)
        if isinstance(node, Assert):
            return self._add(_ASSERT, None, node.kind, (then,))
        return self._emit_repeat(node, then)

    def _emit_repeat(self, node: Rep, then: int) -> int:
        if node.hi is None:
            loop = self._add(_SPLIT, None, "", ())
            body = self._emit(node.item, loop)
            self.out[loop] = (body, then)
            tail = loop
        else:
            tail = then
            for _ in range(node.hi - node.lo):  # x{0,n}: (x(x(x)?)?)?
                body = self._emit(node.item, tail)
                tail = self._add(_SPLIT, None, "", (body, then))
        for _ in range(node.lo):
            tail = self._emit(node.item, tail)
        return tail

    # ------------------------------------------------------------------ search

    def search(self, text: str) -> Optional[bool]:
        known = self.memo.get(text)
        if known is not None:
            return known  # the same value again (one person's flags): a dictionary lookup
        found = self._run(text)
        if found is not None and len(text) <= MAX_MEMO_LENGTH:
            if len(self.memo) >= MAX_MEMO:
                self.memo.clear()
            self.memo[text] = found
        return found

    def _run(self, text: str) -> Optional[bool]:
        if len(text) > MAX_LENGTH:
            return None
        state = self.start
        step = self._step
        work = 0
        for c in text:
            following = state.trans.get(c)
            if following is None:
                following, cost = step(state, c)
                work += cost
                if work > MAX_WORK:
                    return None  # too costly to decide here: the service decides
            if following.final:
                return following.value
            state = following
        return self._closure(state, _END)[0][1]

    def _closure(self, state: _State, following: int) -> Tuple[Tuple[Tuple[int, ...], bool], int]:
        """The CHAR states reachable without input from ``state`` (plus a fresh start, as
        a search may begin anywhere), whether the pattern has matched by then, and the
        work it took (0 when cached)."""
        cached = state.closures[following]
        if cached is not None:
            return cached, 0
        kind, anchor, out, prev = self.kind, self.anchor, self.out, state.prev
        stack = [self.entry, *state.kernel]
        seen = set()
        found: List[int] = []
        matched = False
        while stack:
            index = stack.pop()
            if index in seen:
                continue
            seen.add(index)
            what = kind[index]
            if what == _CHAR:
                found.append(index)
            elif what == _SPLIT:
                stack.extend(out[index])
            elif what == _ASSERT:
                mark = anchor[index]
                if (
                    (mark == BOT and prev == _START)
                    or (mark == BOL and prev != _OTHER)
                    or (mark == EOT and following == _END)
                    or (mark == EOL and following != _OTHER)
                ):
                    stack.append(out[index][0])
            else:
                matched = True
                break
        result = ((), True) if matched else (tuple(found), False)
        state.closures[following] = result
        return result, len(seen)

    def _step(self, state: _State, c: str) -> Tuple[_State, int]:
        """The state after ``c`` and the work it took; caches the transition."""
        newline = c == "\n"
        (reached, matched), cost = self._closure(state, _NL if newline else _OTHER)
        following: _State
        if matched:
            following = _MATCHED
        else:
            hits = self.hits.get(c, _NOT_YET)
            if hits is _NOT_YET:
                hits = self._hits(c)
                cost += len(self.classes)
            if hits is None:
                return _UNKNOWN, cost  # not cached: another value may never reach this state
            next_of = self.next_of
            kernel = frozenset([next_of[index] for index in hits.intersection(reached)])
            cost += len(reached)
            following = self._state(kernel, _NL if newline else _OTHER)
        if len(state.trans) < MAX_TRANSITIONS_PER_STATE:
            state.trans[c] = following
            self.transitions += 1
            if self.transitions > MAX_TRANSITIONS:
                self._reset()
        return following, cost

    def _hits(self, c: str) -> Optional[FrozenSet[int]]:
        """The CHAR states whose set holds ``c``; None if that cannot be known here."""
        if "\ud800" <= c <= "\udfff":
            return None  # the service's strings cannot hold these
        found: set[int] = set()
        for chars, indexes in self.classes:
            hit = chars.test(c)
            if hit is None:
                return None
            if hit:
                found.update(indexes)
        hits = frozenset(found)
        if len(self.hits) < MAX_DFA_STATES:
            self.hits[c] = hits
        return hits

    def _state(self, kernel: FrozenSet[int], prev: int) -> _State:
        key = (kernel, prev)
        state = self.states.get(key)
        if state is not None:
            return state
        if len(self.states) >= MAX_DFA_STATES:
            self._reset()
        state = _State(kernel, prev)
        # Nothing in progress and no anchor the future can satisfy: only the end of the
        # text can still match (e.g. an anchored pattern that failed early).
        if (
            not kernel
            and prev != _START
            and not self.line_start
            and self._closure(state, _OTHER)[0] == ((), False) == self._closure(state, _NL)[0]
        ):
            state.final, state.value = True, self._closure(state, _END)[0][1]
        self.states[key] = state
        return state

    def _reset(self) -> None:
        # Searches in progress keep their own references; new ones start from scratch.
        self.states = {}
        self.hits = {}
        self.transitions = 0
        self.start = self._state(frozenset(), _START)
