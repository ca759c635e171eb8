"""One table per operator family: each row pins (operator, filter, property value) -> outcome.

Outcome ``None`` means "cannot decide locally" (ask the server); it is a value, never
an exception. Relative dates are resolved against a fixed ``NOW``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from analytics_compat.flags.operators import (
    OPERATORS,
    compile_matcher,
    evaluate_operator,
    parse_datetime,
    parse_semver,
)

NOW = datetime(2024, 3, 31, 12, 0, 0, tzinfo=timezone.utc)
MISSING = object()

Row = tuple[str, Any, Any, Optional[bool]]


def check(operator: str, filter_value: Any, prop: Any, expected: Optional[bool]) -> None:
    props = {} if prop is MISSING else {"p": prop}
    got = evaluate_operator(operator, filter_value, "p", props, now=NOW)
    assert got is expected, f"{operator}({filter_value!r}, {prop!r}) -> {got!r}"


def test_dispatch_table_names_every_posthog_operator() -> None:
    """The operator names are exactly posthog-python's PROPERTY_OPERATORS."""
    assert set(OPERATORS) == {
        "exact", "is_not", "is_set", "is_not_set",
        "icontains", "not_icontains", "regex", "not_regex",
        "starts_with", "not_starts_with", "ends_with", "not_ends_with",
        "gt", "gte", "lt", "lte", "is_date_before", "is_date_after",
        "semver_eq", "semver_neq", "semver_gt", "semver_gte", "semver_lt", "semver_lte",
        "semver_tilde", "semver_caret", "semver_wildcard",
    }  # fmt: skip


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_missing_property_cannot_be_decided_locally(operator: str) -> None:
    """Every operator, is_not_set included, answers None when the property is absent."""
    check(operator, "1.0.0", MISSING, None)


def test_unknown_operator_is_unsupported_not_an_error() -> None:
    """An operator this SDK does not know compiles to None and evaluates to None."""
    assert compile_matcher("fuzzy_match", "x") is None
    assert evaluate_operator("fuzzy_match", "x", "p", {"p": "x"}) is None


EQUALITY: list[Row] = [
    ("exact", "Pro", "pro", True),  # case-insensitive
    ("exact", "pro", "basic", False),
    ("exact", ["pro", "Enterprise"], "enterprise", True),  # list = any of
    ("exact", ["pro", "enterprise"], "basic", False),
    ("exact", 5, "5", True),  # compared through their string form
    ("exact", "5", 5, True),
    ("exact", 5, 5.0, False),  # "5" vs "5.0", as PostHog
    ("exact", [1, "PRO"], "1", True),
    ("exact", "null", None, True),  # None renders as "null"
    ("exact", [None, "x"], "null", True),
    ("exact", True, "TRUE", True),  # booleans compare by truthiness (matching v1)
    ("exact", False, None, True),
    ("exact", False, "banana", True),
    ("exact", ["true", "false"], "true", False),
    ("exact", [], True, True),  # empty list matches a truthy value
    ("exact", [], "banana", False),
    ("exact", "οδος", "ΟΔΟΣ", True),  # full Unicode lowercasing for equality
    ("exact", "x", object(), None),  # a value with no JSON rendering is undecidable
    ("is_not", "pro", "PRO", False),
    ("is_not", "pro", "basic", True),
    ("is_not", ["a", "b"], "c", True),
    ("is_not", ["a", "b"], "B", False),
    ("is_not", "x", None, True),
    ("is_set", "any", None, True),  # present, even as None
    ("is_set", "any", "", True),
    ("is_not_set", "any", "x", False),
    ("is_not_set", "any", None, False),
]


@pytest.mark.parametrize("row", EQUALITY, ids=[f"{r[0]}-{i}" for i, r in enumerate(EQUALITY)])
def test_equality_operators(row: Row) -> None:
    """exact / is_not (scalar and list) / is_set / is_not_set."""
    check(*row)


def test_exact_matching_version_2_compares_booleans_as_strings() -> None:
    """property_matching_version 2 drops the truthiness rule: False only equals "false"."""
    assert evaluate_operator("exact", False, "p", {"p": None}, matching_version=2) is False
    assert evaluate_operator("exact", False, "p", {"p": "FALSE"}, matching_version=2) is True


TEXT: list[Row] = [
    ("icontains", "EXAMPLE", "bob@example.com", True),
    ("icontains", "xyz", "bob@example.com", False),
    ("icontains", "nul", None, True),  # None renders as "null"
    ("icontains", "1", 123, True),
    ("icontains", "ss", "ß", False),  # ASCII-only lowercasing, as PostHog
    ("not_icontains", "EXAMPLE", "bob@example.com", False),
    ("not_icontains", "xyz", "bob@example.com", True),
    ("starts_with", "BOB", "bob@example.com", True),
    ("starts_with", "example", "bob@example.com", False),
    ("not_starts_with", "bob", "Bob@example.com", False),
    ("not_starts_with", "al", "bob", True),
    ("ends_with", ".COM", "bob@example.com", True),
    ("ends_with", ".org", "bob@example.com", False),
    ("not_ends_with", ".com", "x.COM", False),
    ("not_ends_with", ".org", "x.com", True),
    ("regex", r"^bob@.*\.com$", "bob@example.com", True),
    ("regex", r"^alice", "bob@example.com", False),
    ("regex", r"\d{3}", 12345, True),  # numbers are matched as text
    ("regex", "", "anything", True),
    ("regex", "[unclosed", "[unclosed", False),  # invalid regex: no match...
    ("not_regex", "[unclosed", "anything", False),  # ...for not_regex as well
    ("not_regex", r"^alice", "bob", True),
    ("not_regex", r"^bob", "bob", False),
]


@pytest.mark.parametrize("row", TEXT, ids=[f"{r[0]}-{i}" for i, r in enumerate(TEXT)])
def test_text_and_regex_operators(row: Row) -> None:
    """icontains / starts_with / ends_with (and negations), regex / not_regex."""
    check(*row)


NUMERIC: list[Row] = [
    ("gt", 10, 11, True),
    ("gt", 10, 10, False),
    ("gt", "10", 11, True),  # numeric string filter vs number
    ("gt", 10, "11", True),  # number filter vs numeric string
    ("gt", "9", "10", True),  # numbers, not strings: "10" > "9"
    ("gt", 1.5, "1.50001", True),
    ("gte", 10, 10, True),
    ("gte", "10", "9.99", False),
    ("lt", 10, 9, True),
    ("lt", 10, "1e1", False),  # exponent notation is numeric
    ("lte", 10, 10.0, True),
    ("lte", 10, "10.5", False),
    ("gt", 10, "eleven", False),  # a non-numeric property never matches
    ("gt", 10, None, False),
    ("gt", 10, True, False),  # booleans are not numbers
    ("gt", 10, " 11", False),  # no whitespace tolerance
    ("gt", "abc", 5, None),  # a non-numeric filter cannot be decided locally
    ("lt", 0, float("nan"), False),
]


@pytest.mark.parametrize("row", NUMERIC, ids=[f"{r[0]}-{i}" for i, r in enumerate(NUMERIC)])
def test_numeric_operators(row: Row) -> None:
    """gt / gte / lt / lte compare as floats; numeric strings count as numbers."""
    check(*row)


DATES: list[Row] = [
    ("is_date_before", "2024-01-15", "2024-01-14", True),
    ("is_date_before", "2024-01-15", "2024-01-16", False),
    ("is_date_after", "2024-01-15", "2024-01-15T00:00:01", True),  # naive = UTC
    ("is_date_after", "2024-01-15T10:00:00+02:00", "2024-01-15T08:30:00Z", True),  # aware
    ("is_date_before", "2024-01-15T10:00:00+02:00", "2024-01-15T07:59:59Z", True),
    ("is_date_before", "2024-01-15 10:00:00 UTC", "2024-01-15 09:00:00", True),
    ("is_date_before", "2024-01-15T10:00:00.5Z", "2024-01-15T10:00:00.25Z", True),
    ("is_date_after", "2024-01-15", datetime(2024, 1, 16), True),  # datetime objects
    ("is_date_after", "2024-01-15", datetime(2024, 1, 16, tzinfo=timezone.utc), True),
    ("is_date_before", "2024-01-15", date(2024, 1, 14), True),  # date objects
    ("is_date_before", "-7d", "2024-03-23T12:00:00Z", True),  # relative to NOW
    ("is_date_before", "-7d", "2024-03-25T00:00:00Z", False),
    ("is_date_after", "-12h", "2024-03-31T01:00:00Z", True),
    ("is_date_after", "-12h", "2024-03-30T23:00:00Z", False),
    ("is_date_after", "-2w", "2024-03-18T00:00:00Z", True),
    ("is_date_after", "-1m", "2024-02-28T00:00:00Z", False),  # Mar 31 - 1m = Feb 29 (leap)
    ("is_date_after", "-1m", "2024-03-01T00:00:00Z", True),
    ("is_date_before", "-3m", "2023-12-29T00:00:00Z", True),  # Mar 31 -> Feb 29 -> Jan 29
    ("is_date_before", "-3m", "2023-12-30T00:00:00Z", False),  # -> Dec 29, clamped stepwise
    ("is_date_before", "-1y", "2023-03-30T00:00:00Z", True),
    ("is_date_before", "-1y", "2023-04-01T00:00:00Z", False),
    ("is_date_before", "2024-01-15", "not a date", None),  # unusable value: undecidable
    ("is_date_before", "2024-01-15", 1705276800, None),
    ("is_date_before", "2024-01-15", None, False),
    ("is_date_before", "not a date", "2024-01-14", None),  # unusable filter: undecidable
    ("is_date_before", "-10000d", "2024-01-14", None),  # out of range, as PostHog
    ("is_date_before", "-5x", "2024-01-14", None),
]


@pytest.mark.parametrize("row", DATES, ids=[f"{r[0]}-{i}" for i, r in enumerate(DATES)])
def test_date_operators(row: Row) -> None:
    """is_date_before / is_date_after: absolute (naive and aware) and relative dates."""
    check(*row)


def test_relative_dates_follow_the_clock_passed_in() -> None:
    """The same "-1d" filter flips when ``now`` moves, so tests never depend on today."""
    matcher = compile_matcher("is_date_after", "-1d")
    assert matcher is not None
    value = "2024-03-30T13:00:00Z"
    assert matcher(value, NOW) is True
    assert matcher(value, NOW + timedelta(days=1)) is False
    assert matcher(value, NOW.replace(tzinfo=None)) is True  # a naive clock is UTC


def test_relative_dates_without_a_clock_use_the_current_time() -> None:
    """With no ``now``, -1d is measured from the real current time."""
    recent = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert evaluate_operator("is_date_after", "-1d", "p", {"p": recent}) is True


def test_parse_datetime_accepts_common_iso_forms_on_every_python() -> None:
    """Z, +HHMM, +HH, space separator, comma fraction; naive is UTC; junk is None."""
    utc = timezone.utc
    assert parse_datetime("2024-01-02") == datetime(2024, 1, 2, tzinfo=utc)
    assert parse_datetime("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc)
    assert parse_datetime("2024-01-02 03:04+0100") == datetime(2024, 1, 2, 2, 4, tzinfo=utc)
    assert parse_datetime("2024-01-02T03:04:05,5-01") == datetime(
        2024, 1, 2, 4, 4, 5, 500000, tzinfo=utc
    )
    assert parse_datetime("2024-02-30") is None
    assert parse_datetime("yesterday") is None


SEMVER: list[Row] = [
    ("semver_eq", "1.2.3", "1.2.3", True),
    ("semver_eq", "1.2.3", "v1.2.3", True),  # v prefix
    ("semver_eq", "v1.2", "1.2.0", True),  # missing parts are 0
    ("semver_eq", "1.2.3", "1.2.3-beta.1", True),  # pre-release ignored, as PostHog
    ("semver_eq", "1.2.3", "1.2.3+build.5", True),
    ("semver_eq", "1.2.3", " 1.2.3 ", True),
    ("semver_neq", "1.2.3", "1.2.4", True),
    ("semver_neq", "1.2.3", "1.2.3-rc.1", False),
    ("semver_gt", "1.2.3", "1.10.0", True),  # numeric, not lexical
    ("semver_gt", "1.2.3", "1.2.3", False),
    ("semver_gte", "1.2.3-alpha", "1.2.3", True),
    ("semver_lt", "2.0.0", "1.99.99", True),
    ("semver_lte", "1.2.3", "1.2.4", False),
    ("semver_tilde", "1.2.3", "1.2.9", True),  # >=1.2.3 <1.3.0
    ("semver_tilde", "1.2.3", "1.3.0", False),
    ("semver_caret", "1.2.3", "1.9.0", True),  # >=1.2.3 <2.0.0
    ("semver_caret", "1.2.3", "2.0.0", False),
    ("semver_caret", "0.2.3", "0.2.9", True),  # >=0.2.3 <0.3.0
    ("semver_caret", "0.2.3", "0.3.0", False),
    ("semver_caret", "0.0.3", "0.0.4", False),  # >=0.0.3 <0.0.4
    ("semver_wildcard", "1.*", "1.99.0", True),
    ("semver_wildcard", "1.2.*", "1.3.0", False),
    ("semver_wildcard", "v1.2.*", "1.2.7", True),
    ("semver_gt", "1.2.3", "not-a-version", None),  # unusable value: undecidable
    ("semver_gt", "1.2.3", "01.2.3", None),  # leading zeros rejected
    ("semver_gt", "1.2.3", None, False),
    ("semver_gt", "banana", "1.2.3", None),  # unusable filter: undecidable
    ("semver_wildcard", "*", "1.2.3", None),
]


@pytest.mark.parametrize("row", SEMVER, ids=[f"{r[0]}-{i}" for i, r in enumerate(SEMVER)])
def test_semver_operators(row: Row) -> None:
    """semver comparisons and ranges: v prefix, pre-release suffixes, partial versions."""
    check(*row)


def test_parse_semver() -> None:
    """Three integers, or None for anything PostHog's sortableSemver rejects."""
    assert parse_semver("V10.20.30-rc.1+b") == (10, 20, 30)
    assert parse_semver("1.2.3.4") == (1, 2, 3)
    assert parse_semver("1") == (1, 0, 0)
    assert parse_semver("") is None
    assert parse_semver("1.x") is None
