"""parse_definitions: parsed once into frozen typed objects; bad entries never sink the set."""

from __future__ import annotations

import logging
from typing import Any

import attrs
import pytest

from analytics_compat.flags.evaluator import Reason, evaluate_flag
from analytics_compat.flags.model import (
    Cohort,
    FeatureFlag,
    FlagDefinitions,
    PropertyGroup,
    parse_definitions,
)

GOOD = {
    "id": 1,
    "key": "good",
    "active": True,
    "filters": {"groups": [{"rollout_percentage": 100}]},
}


def test_parses_the_local_evaluation_body_into_typed_objects() -> None:
    email = {"key": "email", "operator": "regex", "value": "^a", "type": "group"}
    variants = [{"key": "a", "rollout_percentage": 60}, {"key": "b", "rollout_percentage": 40}]
    filters = {
        "aggregation_group_type_index": 0,
        "groups": [
            {
                "properties": [{**email, "group_type_index": 0}],
                "rollout_percentage": 25,
                "variant": "b",
            }
        ],
        "multivariate": {"variants": variants},
        "payloads": {"a": '{"x": 1}', "b": "not json"},
        "holdout": {"id": 3, "exclusion_percentage": 150},
    }
    body = {
        "flags": [{"id": 5, "key": "exp", "version": 4, "active": True, "filters": filters}],
        "group_type_mapping": {"0": "company"},
        "cohorts": {"7": {"type": "OR", "values": [{"type": "AND", "values": []}]}},
    }
    defs = parse_definitions(body)
    flag = defs.by_key["exp"]
    assert isinstance(flag, FeatureFlag) and defs.flags == (flag,)
    assert (flag.id, flag.version, flag.group_type_name) == (5, 4, "company")
    (condition,) = flag.conditions
    assert (condition.threshold, condition.variant) == (0.25, "b")
    (parsed,) = condition.properties
    assert (parsed.type, parsed.group_type_index) == ("group", 0)
    assert parsed.matcher is not None and parsed.matcher("abc", None) is True  # compiled once
    assert [(v.key, v.lower, v.upper) for v in flag.variants] == [("a", 0, 0.6), ("b", 0.6, 1.0)]
    assert dict(flag.payloads) == {"a": {"x": 1}, "b": None}
    assert flag.holdout is not None and flag.holdout.exclusion_percentage == 100.0  # clamped
    assert defs.group_type_mapping == {"0": "company"}
    cohort = defs.cohorts["7"]
    assert isinstance(cohort, Cohort) and isinstance(cohort.group, PropertyGroup)
    assert isinstance(cohort.group.values[0], PropertyGroup)


def test_definitions_are_frozen() -> None:
    defs = parse_definitions({"flags": [GOOD]})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        defs.flags[0].active = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        defs.by_key["other"] = defs.flags[0]  # type: ignore[index]


@pytest.mark.parametrize(
    "bad",
    [
        "not an object",
        {"id": 2, "active": True},  # no key
        {"key": "", "active": True},
        {"key": 42, "active": True},
    ],
)
def test_flags_without_a_usable_key_are_skipped_and_logged(bad: Any, caplog) -> None:
    caplog.set_level(logging.WARNING)
    defs = parse_definitions({"flags": [bad, GOOD]})
    assert list(defs.by_key) == ["good"]
    assert "skipped" in caplog.text


@pytest.mark.parametrize(
    "filters",
    [
        "filters as text",
        {"groups": "not a list"},
        {"groups": ["not a condition"]},
        {"groups": [{"rollout_percentage": "fifty"}]},
        {"groups": [{"properties": ["not a filter"]}]},
        {"groups": [{}], "multivariate": {"variants": [{"key": "a"}]}},
        {"groups": [{}], "aggregation_group_type_index": "zero"},
        {"groups": [{}], "payloads": ["x"]},
    ],
)
def test_malformed_flags_are_kept_as_undecidable(filters: Any, caplog) -> None:
    caplog.set_level(logging.WARNING)
    bad = {"id": 3, "key": "bad", "active": True, "filters": filters}
    defs = parse_definitions({"flags": [bad, GOOD]})
    assert set(defs.by_key) == {"bad", "good"}
    assert defs.by_key["bad"].undecidable == Reason.UNSUPPORTED_DEFINITION
    result = evaluate_flag(defs, "bad", "u")
    assert result is not None and (result.decided, result.flag_id) == (False, 3)
    good = evaluate_flag(defs, "good", "u")
    assert good is not None and good.value is True
    assert "'bad' is malformed" in caplog.text


def test_malformed_cohort_sends_its_flags_to_the_server() -> None:
    body = {
        "flags": [{"key": "c", "active": True, "filters": {"groups": [{"properties": [
            {"key": "id", "type": "cohort", "value": 9}]}]}}],
        "cohorts": {"9": {"type": "XOR", "values": []}},
    }  # fmt: skip
    defs = parse_definitions(body)
    assert defs.cohorts["9"].group is None
    result = evaluate_flag(defs, "c", "u")
    assert result is not None and result.decided is False


@pytest.mark.parametrize(
    "payload",
    [None, [], "text", {"flags": "nope"}, {"flags": None, "cohorts": [], "group_type_mapping": 3}],
)
def test_unusable_bodies_give_empty_definitions(payload: Any) -> None:
    defs = parse_definitions(payload)
    assert isinstance(defs, FlagDefinitions) and defs.flags == ()


def test_later_duplicate_key_wins() -> None:
    first = {**GOOD, "id": 1}
    second = {**GOOD, "id": 2}
    defs = parse_definitions({"flags": [first, second]})
    assert defs.by_key["good"].id == 2 and len(defs.flags) == 1


def test_logs_name_flags_but_never_carry_values(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "SECRET-VALUE-42"
    bad = {"key": "leaky", "active": True, "filters": {"groups": [{"rollout_percentage": secret}],
           "payloads": {"true": secret + "{"}}}  # fmt: skip
    parse_definitions({"flags": [bad], "cohorts": {"1": {"type": "?", "values": secret}}})
    assert "leaky" in caplog.text
    assert secret not in caplog.text


def test_regexes_dates_and_versions_are_parsed_at_load_time() -> None:
    """Invalid filter values are found at parse time: the matcher is None (unsupported)."""
    props = [
        {"key": "a", "operator": "regex", "value": "(unclosed"},
        {"key": "b", "operator": "is_date_before", "value": "someday"},
        {"key": "c", "operator": "semver_gt", "value": "one.two"},
        {"key": "d", "operator": "gt", "value": "many"},
    ]
    body = {"flags": [{"key": "f", "active": True, "filters": {"groups": [{"properties": props}]}}]}
    (condition,) = parse_definitions(body).by_key["f"].conditions
    regex, date, semver, number = condition.properties
    assert regex.matcher is not None and regex.matcher("(unclosed", None) is False
    assert (date.matcher, semver.matcher, number.matcher) == (None, None, None)
