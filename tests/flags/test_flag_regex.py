"""``regex`` / ``not_regex``: the flag service's answer, or "ask the service", never a hang.

PostHog evaluates these operators in Rust with ``fancy_regex`` (a 10,000-step backtrack
limit for the constructs it cannot hand to the linear ``regex`` crate). Each test names
the rule it pins: end-of-text ``$``, Unicode classes as Rust defines them, the constructs
deferred to the service (each with ``Reason.UNSUPPORTED_REGEX``), invalid patterns
(False for both operators), how values become text, and agreement with Python's ``re``
wherever the two engines mean the same thing.
"""

from __future__ import annotations

import random
import re
from typing import Any, Optional

import pytest

from analytics_compat.flags import evaluator
from analytics_compat.flags._regex_engine import DEFERRED, INVALID, READY, compile_pattern
from analytics_compat.flags.evaluator import Reason, evaluate_flag
from analytics_compat.flags.model import FlagDefinitions, parse_definitions
from analytics_compat.flags.operators import compile_matcher


def regex_flag(pattern: Any, operator: str = "regex", key: str = "rx") -> FlagDefinitions:
    prop = {"key": "email", "value": pattern, "operator": operator, "type": "person"}
    body = {"id": 3, "key": key, "active": True,
            "filters": {"groups": [{"properties": [prop], "rollout_percentage": 100}]}}  # fmt: skip
    return parse_definitions({"flags": [body], "cohorts": {}, "group_type_mapping": {}})


def answer(pattern: Any, value: Any, operator: str = "regex") -> Optional[bool]:
    """The local answer through the public path and the full evaluator (they must agree);
    None when the flag is not decidable locally."""
    defs = regex_flag(pattern, operator)
    public = evaluate_flag(defs, "rx", "user-1", person_properties={"email": value})
    full = evaluator._full(defs, "rx", "user-1", {}, {"email": value}, {}, None, None)
    assert public is not None and public == full
    return public.value is True if public.decided else None


def reason(pattern: Any, value: Any) -> str:
    result = evaluate_flag(regex_flag(pattern), "rx", "u", person_properties={"email": value})
    assert result is not None and not result.decided
    return result.reason


# --------------------------------------------------------------------------- semantics


def test_dollar_is_end_of_text_not_before_a_final_newline() -> None:
    """Rust's $ is \\z: "corp.io$" does not match "bob@corp.io\\n" (Python's re says it does)."""
    assert re.search(r"corp\.io$", "bob@corp.io\n") is not None  # the old, wrong answer
    assert answer(r"corp\.io$", "bob@corp.io\n") is False
    assert answer(r"corp\.io$", "bob@corp.io\n", "not_regex") is True
    assert answer(r"corp\.io$", "bob@corp.io") is True
    assert answer(r"^(a+)+$", "aa\n") is False
    assert answer(r"(?m)corp\.io$", "bob@corp.io\nnext") is True  # line anchors only with m


RUST_SEMANTICS = [
    # (pattern, value, the service's answer)
    (r"^\w+$", "\u0301", True),  # combining marks are \w in Rust, not in Python
    (r"^\w+$", "é١_x", True),
    (r"^\w+$", "\u24b6", True),  # CIRCLED LATIN CAPITAL LETTER A: Other_Alphabetic
    (r"^\W+$", "²", True),  # other numbers are not \w in Rust (Python says they are)
    (r"^\d+$", "١٢", True),  # Unicode decimal digits
    (r"^\d$", "²", False),
    (r"^\s$", "\x1c", False),  # Python's \s includes U+001C..U+001F, Rust's does not
    (r"^\s$", "\u2003", True),
    (r"^\S$", "\ufeff", True),
    ("^.$", "\n", False),
    ("(?s)^.$", "\n", True),
    ("^.$", "😀", True),
    ("^.$", "\r", True),
    ("(?i)^kelvin$", "\u212aELVIN", True),  # simple case folding: K ~ KELVIN SIGN
    ("(?i)^[a-z]+$", "\u017f", True),  # s ~ LATIN SMALL LETTER LONG S
    ("(?i)^i$", "\u0130", False),  # no simple folding for DOTTED CAPITAL I (Python: True)
    ("(?i:ab)c", "ABc", True),
    ("(?i:ab)c", "ABC", False),  # a scoped flag ends with its group
    ("^foo$", "foo\nbar", False),
    ("(?m)^bar$", "foo\nbar", True),
    (r"^[\w.+-]+@example\.com$", "a.b+tag@example.com", True),
    (r"^[]a]+$", "]a", True),  # ']' first in a class is a literal
    (r"[\b]", "\x08", True),  # backspace inside a class
    (r"^a\ b$", "a b", True),
    ("", "anything", True),
    ("^$", "", True),
    ("a{2,3}?b", "aab", True),  # lazy quantifiers change positions, not whether it matches
    (r"^(a|aa)+$", "a" * 200, True),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), RUST_SEMANTICS)
def test_answers_are_the_services(pattern: str, value: str, expected: bool) -> None:
    assert answer(pattern, value) is expected
    assert answer(pattern, value, "not_regex") is (not expected)


# --------------------------------------------------------------------------- deferred

DEFERRED_CONSTRUCTS = [
    (r"\bbot\b", "word boundaries: step-limited backtracking on the service"),
    (r"\Bx", "not-a-word-boundary"),
    (r"\<foo\>", "start/end of word"),
    (r"a(?=b)", "lookahead"),
    (r"a(?!b)", "negative lookahead"),
    (r"(?<=a)b", "lookbehind"),
    (r"(?<!a)b", "negative lookbehind"),
    (r"(a)\1", "backreference"),
    (r"(?P<n>a)(?P=n)", "named group and backreference"),
    (r"(?>a+)b", "atomic group"),
    (r"a++b", "possessive quantifier"),
    (r"a{2}+", "possessive counted quantifier"),
    (r"(?(1)a|b)", "conditional"),
    (r"\p{L}+", "Unicode property"),
    (r"\P{L}", "negated Unicode property"),
    (r"[[:alpha:]]", "POSIX class"),
    (r"[a-z&&[^aeiou]]", "class intersection"),
    (r"[a-z--b]", "class difference"),
    (r"[a~~b]", "class symmetric difference"),
    (r"[a-z-9]", "'-' between a range and a character"),
    (r"[\d-z]", "range from a class"),
    (r"[\@]", "escape inside a class with no certain meaning"),
    (r"a{,2}", "{,n}: read differently across versions"),
    (r"{foo}", "'{' that is not a repetition"),
    (r"a*{2}", "'{' after a quantifier"),
    (r"^?x", "quantified anchor"),
    (r"()+", "quantified empty group"),
    (r"a(?i)b", "flags in mid-pattern"),
    (r"(?x)a b", "extended mode"),
    (r"(?-i)a", "negated flag"),
    (r"\Afoo\z", "\\A and \\z"),
    (r"\Z", "end before trailing newlines"),
    (r"\x{41}", "braced hex escape"),
    (r"\u0041", "\\u escape"),
    (r"\q", "unknown letter escape"),
    (r"\v", "vertical tab escape (version dependent)"),
    (r"\é", "escaped non-ASCII"),
    ("(?i)é", "case-insensitive non-ASCII letter"),
    ("a{1001}", "repetition count above 1000"),
    (r"\w{100}", "too large for a certain compile on the service"),
    ("(" * 40 + "a" + ")" * 40, "groups nested too deeply"),
    ("a" * 5000, "pattern too long"),
    ("\ud800", "surrogate in the pattern"),
]


@pytest.mark.parametrize(("pattern", "construct"), DEFERRED_CONSTRUCTS)
@pytest.mark.parametrize("operator", ["regex", "not_regex"])
def test_each_deferred_construct_needs_the_service(
    pattern: str, construct: str, operator: str
) -> None:
    assert compile_pattern(pattern).status == DEFERRED, construct
    assert compile_matcher(operator, pattern) is None
    assert answer(pattern, "a", operator) is None
    result = evaluate_flag(regex_flag(pattern, operator), "rx", "u", person_properties={})
    assert result is not None and result.reason == Reason.UNSUPPORTED_REGEX


def test_a_later_definite_no_still_decides_a_condition_with_a_deferred_regex() -> None:
    body = {"id": 1, "key": "f", "active": True, "filters": {"groups": [{"properties": [
        {"key": "email", "value": r"\bbot", "operator": "regex", "type": "person"},
        {"key": "plan", "value": "pro", "operator": "exact", "type": "person"},
    ], "rollout_percentage": 100}]}}  # fmt: skip
    defs = parse_definitions({"flags": [body]})
    props = {"email": "a bot", "plan": "free"}
    result = evaluate_flag(defs, "f", "u", person_properties=props)
    assert result is not None and result.decided and result.value is False


# --------------------------------------------------------------------------- invalid

INVALID_PATTERNS = ["[", "[]", "[^]", "(", "(a", "a)", "*a", "?*", "a|*b", "(*a)", "a**",
                    "a+?*", "[z-a]", "\\", "[a"]  # fmt: skip


@pytest.mark.parametrize("pattern", INVALID_PATTERNS)
def test_a_pattern_the_service_cannot_compile_matches_nothing_for_both_operators(
    pattern: str,
) -> None:
    assert compile_pattern(pattern).status == INVALID
    for value in ("value", "a", "[", "\n"):
        assert answer(pattern, value) is False
        assert answer(pattern, value, "not_regex") is False


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (r"^\d{3}", 12345, True),  # integers as their digits
        ("^true$", True, True),  # booleans as JSON, not Python's "True"
        ("^null$", None, True),
        (r"^1\.5$", 1.5, True),
        (r"^3\.0$", 3.0, True),
        (r'^\["a",1\]$', ["a", 1], True),  # compact JSON arrays
        (r"\\n", ["x\ny"], True),  # strings inside arrays are JSON-escaped
    ],
)
def test_non_string_values_are_matched_as_the_services_json_text(
    pattern: str, value: Any, expected: bool
) -> None:
    assert answer(pattern, value) is expected


@pytest.mark.parametrize(
    "value",
    [{"a": 1}, 1e20, 1e-7, 2**70, "a\ud800b", "x" * 60_000],
    ids=["object", "float-exponent", "small-float", "big-int", "surrogate", "too-long"],
)
def test_values_whose_text_or_cost_is_uncertain_need_the_service(value: Any) -> None:
    assert reason(r"a.c", value) == Reason.UNDECIDABLE_REGEX_VALUE


def test_a_value_too_costly_for_a_cold_automaton_needs_the_service() -> None:
    # (a|b)*a(a|b){14}c needs 2**15 DFA states: every character builds a new one.
    rng = random.Random(1)
    value = "".join(rng.choice("ab") for _ in range(20_000))
    assert reason(r"(a|b)*a(a|b){14}c", value) == Reason.UNDECIDABLE_REGEX_VALUE
    assert answer(r"(a|b)*a(a|b){14}c", value[:300] + "c") is True  # short ones are decided


def test_filter_values_are_the_services_text_too() -> None:
    assert answer(True, "true") is True  # the pattern is "true", as JSON
    assert answer(12, "x12") is True
    assert answer(None, "anything") is False  # no value: False for regex and not_regex
    assert answer(None, "anything", "not_regex") is False
    assert answer({"a": 1}, "x") is None


def test_a_value_with_an_unassigned_code_point_defers_only_for_unicode_classes() -> None:
    unassigned = "\u0378"  # unassigned in every Unicode version so far
    assert reason(r"^\w$", unassigned) == Reason.UNDECIDABLE_REGEX_VALUE
    assert answer("^.$", unassigned) is True
    assert answer("^[a-z]$", unassigned) is False


# --------------------------------------------------------------------------- engine


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    def atom() -> str:
        roll = rng.random()
        if depth < 3 and roll < 0.2:
            return "(" + rng.choice(["", "?:"]) + _random_pattern(rng, depth + 1) + ")"
        if roll < 0.45:
            return rng.choice(["[ab]", "[^a]", "[a-c]", r"\d", r"\w", r"\s", ".", r"\.", "[.\n]"])
        if roll < 0.5:
            return rng.choice(["^", "$"])
        return rng.choice("abc")

    def piece() -> str:
        text = atom()
        if text in ("^", "$"):
            return text
        return text + rng.choice(["", "", "", "*", "+", "?", "{1,2}", "{2}", "*?", "{0,}"])

    branches = [
        "".join(piece() for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(1, 3))
    ]
    return "|".join(branches)


def test_same_answers_as_python_re_where_both_engines_mean_the_same() -> None:
    """On ASCII values and with $ read as \\Z, Python's re and the service agree: so must we."""
    rng = random.Random(20240611)
    compared = 0
    for _ in range(600):
        flags = rng.choice(["", "", "(?i)", "(?s)", "(?m)"])
        pattern = flags + _random_pattern(rng)
        compiled = compile_pattern(pattern)
        if compiled.status != READY:
            continue  # e.g. a quantified empty group, which the service may read differently
        reference = re.compile(pattern if flags == "(?m)" else pattern.replace("$", r"\Z"))
        for _ in range(12):
            text = "".join(rng.choice("abcA1 \n_.") for _ in range(rng.randint(0, 9)))
            assert compiled.search(text) is (reference.search(text) is not None), (pattern, text)
            compared += 1
    assert compared > 6000
