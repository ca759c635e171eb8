"""Local evaluation rules: rollout, variants, payloads, groups, cohorts, dependencies, holdouts.

Each test names the behaviour it pins. Expected buckets are recomputed here with
PostHog's formula, independently of the evaluator's own hashing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

import attrs
import pytest

from analytics_compat.flags.evaluator import (
    FlagResult,
    Reason,
    bucket_hash,
    evaluate_all,
    evaluate_flag,
)
from analytics_compat.flags.model import FlagDefinitions, parse_definitions

IDS = [f"user-{i}" for i in range(200)]


def ph_hash(text: str) -> float:
    # PostHog divides by float(0xFFFFFFFFFFFFFFF) (== 2**60), not by the exact integer:
    # the last bit of the result differs, and the shared vectors depend on it.
    return int(hashlib.sha1(text.encode()).hexdigest()[:15], 16) / float(0xFFFFFFFFFFFFFFF)


def flag(key: str, *groups: dict[str, Any], active: bool = True, **filters: Any) -> dict[str, Any]:
    extra = {k: filters.pop(k) for k in ("ensure_experience_continuity", "version") if k in filters}
    return {
        "id": 7,
        "key": key,
        "active": active,
        "filters": {"groups": list(groups), **filters},
        **extra,
    }


def cond(*props: dict[str, Any], rollout: Optional[float] = 100, **extra: Any) -> dict[str, Any]:
    return {"properties": list(props), "rollout_percentage": rollout, **extra}


def prop(key: str, value: Any, operator: str = "exact", **extra: Any) -> dict[str, Any]:
    return {"key": key, "value": value, "operator": operator, "type": "person", **extra}


def defs_of(*flags: dict[str, Any], cohorts: Any = None, mapping: Any = None) -> FlagDefinitions:
    return parse_definitions(
        {"flags": list(flags), "cohorts": cohorts or {}, "group_type_mapping": mapping or {}}
    )


def ev(defs: FlagDefinitions, key: str, distinct_id: str = "user-1", **kw: Any) -> FlagResult:
    result = evaluate_flag(defs, key, distinct_id, **kw)
    assert result is not None
    return result


# --------------------------------------------------------------------------- basics


def test_bucket_hash_is_posthogs_sha1_formula() -> None:
    """bucket_hash(s) == int(sha1(s).hexdigest()[:15], 16) / float(0xFFF...F), bit for bit."""
    for text in ["a.b", "flag.user-1", "x.yvariant", "holdout-u", "ünïcødé.ü"]:
        assert bucket_hash(text) == ph_hash(text)


def test_unknown_key_gives_none() -> None:
    assert evaluate_flag(defs_of(flag("a", cond())), "nope", "u") is None


def test_disabled_flag_is_false_and_decided() -> None:
    result = ev(defs_of(flag("a", cond(), active=False)), "a")
    assert (result.value, result.reason, result.decided, result.flag_id) == (
        False,
        Reason.FLAG_DISABLED,
        True,
        7,
    )


def test_rollout_follows_the_hash_of_key_dot_id() -> None:
    """Enabled iff sha1("flag.<id>") bucket <= rollout/100; out-of-bound otherwise."""
    defs = defs_of(flag("roll", cond(rollout=30)))
    for distinct_id in IDS:
        result = ev(defs, "roll", distinct_id)
        expected = ph_hash(f"roll.{distinct_id}") <= 0.30
        assert result.value is expected
        assert result.reason == (
            Reason.CONDITION_MATCH if expected else Reason.OUT_OF_ROLLOUT_BOUND
        )
        assert result.condition_index == 0 and result.decided


def test_zero_and_full_rollout_and_no_conditions() -> None:
    defs = defs_of(flag("zero", cond(rollout=0)), flag("full", cond(rollout=100)), flag("none"))
    assert ev(defs, "zero").value is False
    assert ev(defs, "full").value is True
    no_conditions = ev(defs, "none")
    assert (no_conditions.value, no_conditions.reason) == (False, Reason.NO_CONDITION_MATCH)


def test_null_rollout_means_everyone_who_matches() -> None:
    defs = defs_of(flag("a", cond(prop("plan", "pro"), rollout=None)))
    assert ev(defs, "a", person_properties={"plan": "pro"}).value is True
    assert ev(defs, "a", person_properties={"plan": "free"}).value is False


def test_first_matching_condition_wins_and_reports_its_index() -> None:
    defs = defs_of(flag("a", cond(prop("plan", "pro")), cond(prop("country", "FR"))))
    result = ev(defs, "a", person_properties={"plan": "free", "country": "fr"})
    assert (result.value, result.condition_index) == (True, 1)


# --------------------------------------------------------------------------- undecidable


def test_missing_property_makes_the_flag_undecidable() -> None:
    """Not an exception: decided=False with a reason, so the caller asks the server."""
    result = ev(defs_of(flag("a", cond(prop("plan", "pro")))), "a")
    assert (result.decided, result.value, result.reason) == (False, False, Reason.MISSING_PROPERTY)


def test_a_later_condition_can_still_decide_after_an_undecidable_one() -> None:
    defs = defs_of(flag("a", cond(prop("plan", "pro")), cond(prop("country", "FR"))))
    decided = ev(defs, "a", person_properties={"country": "FR"})
    assert (decided.decided, decided.value, decided.condition_index) == (True, True, 1)
    undecided = ev(defs, "a", person_properties={"country": "DE"})
    assert undecided.decided is False


def test_a_definite_no_beats_an_undecidable_filter_in_the_same_condition() -> None:
    """Filters have no order: plan is missing, but country rules the condition out."""
    defs = defs_of(flag("a", cond(prop("plan", "pro"), prop("country", "FR"))))
    result = ev(defs, "a", person_properties={"country": "DE"})
    assert (result.decided, result.value) == (True, False)


def test_unusable_property_value_is_undecidable() -> None:
    defs = defs_of(flag("a", cond(prop("seen", "2024-01-01", "is_date_before"))))
    result = ev(defs, "a", person_properties={"seen": "last tuesday"})
    assert (result.decided, result.reason) == (False, Reason.INVALID_PROPERTY_VALUE)


def test_experience_continuity_is_undecidable() -> None:
    defs = defs_of(flag("a", cond(), ensure_experience_continuity=True))
    result = ev(defs, "a")
    assert (result.decided, result.reason) == (False, Reason.EXPERIENCE_CONTINUITY)


def test_early_exit_stops_at_the_first_out_of_bound_condition() -> None:
    out = next(i for i in IDS if ph_hash(f"ee.{i}") > 0.5)
    later = cond(prop("plan", "pro"), rollout=100)
    plain = defs_of(flag("ee", cond(rollout=50), later))
    early = defs_of(flag("ee", cond(rollout=50), later, early_exit=True))
    assert ev(plain, "ee", out, person_properties={"plan": "pro"}).value is True
    result = ev(early, "ee", out, person_properties={"plan": "pro"})
    assert (result.value, result.reason) == (False, Reason.OUT_OF_ROLLOUT_BOUND)


# --------------------------------------------------------------------------- variants & payloads

VARIANTS = {"variants": [
    {"key": "control", "rollout_percentage": 34},
    {"key": "test", "rollout_percentage": 33},
    {"key": "other", "rollout_percentage": 33},
]}  # fmt: skip


def expected_variant(key: str, distinct_id: str) -> str:
    position = ph_hash(f"{key}.{distinct_id}variant")
    bounds = [("control", 0, 0.34), ("test", 0.34, 0.67), ("other", 0.67, 1.0)]
    return next(name for name, low, high in bounds if low <= position < high)


def test_multivariate_variant_uses_the_variant_salt() -> None:
    defs = defs_of(flag("mv", cond(), multivariate=VARIANTS))
    seen = set()
    for distinct_id in IDS:
        result = ev(defs, "mv", distinct_id)
        assert result.value == result.variant == expected_variant("mv", distinct_id)
        seen.add(result.variant)
    assert seen == {"control", "test", "other"}


def test_condition_variant_override_wins_when_it_names_a_variant() -> None:
    defs = defs_of(
        flag("mv", cond(prop("beta", True), variant="test"), cond(), multivariate=VARIANTS)
    )
    assert {ev(defs, "mv", i, person_properties={"beta": True}).value for i in IDS} == {"test"}
    mixed = {ev(defs, "mv", i, person_properties={"beta": False}).value for i in IDS}
    assert len(mixed) == 3


def test_unknown_variant_override_is_ignored() -> None:
    defs = defs_of(flag("mv", cond(variant="nope"), multivariate=VARIANTS))
    assert ev(defs, "mv", "user-3").value == expected_variant("mv", "user-3")


def test_variants_not_covering_100_percent_leave_the_flag_plainly_on() -> None:
    defs = defs_of(flag("mv", cond(), multivariate={"variants": [
        {"key": "only", "rollout_percentage": 50}]}))  # fmt: skip
    uncovered = next(i for i in IDS if ph_hash(f"mv.{i}variant") >= 0.5)
    result = ev(defs, "mv", uncovered)
    assert (result.value, result.variant) == (True, None)


def test_payloads_are_decoded_json_for_true_and_for_each_variant() -> None:
    payloads = {"true": json.dumps({"color": "blue"}), "control": "[1, 2]", "test": '"hi"'}
    defs = defs_of(
        flag("bool", cond(), payloads={"true": payloads["true"]}),
        flag("mv", cond(), multivariate=VARIANTS, payloads=payloads),
        flag("off", cond(rollout=0), payloads=payloads),
        flag("junk", cond(), payloads={"true": "{not json"}),
    )
    assert ev(defs, "bool").payload == {"color": "blue"}
    by_variant = {"control": [1, 2], "test": "hi", "other": None}
    for distinct_id in IDS[:30]:
        result = ev(defs, "mv", distinct_id)
        assert result.payload == by_variant[str(result.variant)]
    assert ev(defs, "off").payload is None  # no payload for a disabled value
    assert ev(defs, "junk").payload is None  # undecodable JSON reads as absent, as PostHog


def test_results_are_immutable_and_repeatable() -> None:
    defs = defs_of(flag("mv", cond(), multivariate=VARIANTS, payloads={"test": "{}"}))
    first = ev(defs, "mv", "user-5")
    assert ev(defs, "mv", "user-5") == first
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.value = True  # type: ignore[misc]


# --------------------------------------------------------------------------- groups

MAPPING = {"0": "company", "1": "project"}


def group_flag(*groups: dict[str, Any], index: int = 0, **filters: Any) -> dict[str, Any]:
    return flag("g", *groups, aggregation_group_type_index=index, **filters)


def test_group_flag_buckets_by_group_key_and_matches_group_properties() -> None:
    defs = defs_of(
        group_flag(cond(prop("tier", "gold", type="group"), rollout=50)), mapping=MAPPING
    )
    for company in IDS[:50]:
        result = ev(
            defs,
            "g",
            "whoever",
            groups={"company": company},
            group_properties={"company": {"tier": "gold"}},
        )
        assert result.value is (ph_hash(f"g.{company}") <= 0.5)


def test_group_flag_without_its_group_is_false_and_decided() -> None:
    defs = defs_of(group_flag(cond()), mapping=MAPPING)
    result = ev(defs, "g", groups={"project": "p1"})
    assert (result.value, result.decided, result.reason) == (False, True, Reason.NO_GROUP)


def test_group_flag_without_group_properties_or_mapping_is_undecidable() -> None:
    defs = defs_of(group_flag(cond(prop("tier", "gold"))), mapping=MAPPING)
    missing = ev(defs, "g", groups={"company": "acme"})
    assert (missing.decided, missing.reason) == (False, Reason.MISSING_GROUP_PROPERTIES)
    unmapped = defs_of(group_flag(cond(), index=5), mapping=MAPPING)
    assert ev(unmapped, "g", groups={"company": "acme"}).decided is False


def test_condition_level_group_aggregation_targets_the_group() -> None:
    """Mixed targeting: one condition on the person, one on the company."""
    defs = defs_of(
        flag(
            "mixed",
            cond(prop("email", "@corp.com", "icontains")),
            cond(prop("tier", "gold"), aggregation_group_type_index=0),
        ),
        mapping=MAPPING,
    )
    person = {"email": "a@b.org"}
    gold = {"company": {"tier": "gold"}}
    result = ev(defs, "mixed", groups={"company": "acme"}, person_properties=person,
                group_properties=gold)  # fmt: skip
    assert (result.value, result.condition_index) == (True, 1)
    no_group = ev(defs, "mixed", person_properties=person)
    assert (no_group.value, no_group.decided) == (False, True)


# --------------------------------------------------------------------------- cohorts


def cohort_prop(cohort_id: Any, operator: str = "in", **extra: Any) -> dict[str, Any]:
    return {"key": "id", "value": cohort_id, "type": "cohort", "operator": operator, **extra}


COHORTS = {
    "1": {"type": "OR", "values": [
        {"type": "AND", "values": [prop("plan", "pro"), prop("country", "FR")]},
        {"type": "AND", "values": [prop("email", "@corp.com", "icontains")]},
    ]},
    "2": {"type": "AND", "values": [prop("banned", True, negation=True)]},
    "3": {"type": "AND", "values": [cohort_prop(1), prop("age", 18, "gte")]},
}  # fmt: skip


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"plan": "pro", "country": "FR", "email": "x"}, True),
        ({"plan": "pro", "country": "DE", "email": "a@corp.com"}, True),
        ({"plan": "pro", "country": "DE", "email": "a@b.c"}, False),
        ({"plan": "free", "email": "a@corp.com"}, True),  # one OR branch decides alone
    ],
)
def test_nested_and_or_cohort(props: dict[str, Any], expected: bool) -> None:
    defs = defs_of(flag("c", cond(cohort_prop(1))), cohorts=COHORTS)
    result = ev(defs, "c", person_properties=props)
    assert (result.value, result.decided) == (expected, True)


def test_cohort_with_only_undecidable_branches_is_undecidable() -> None:
    defs = defs_of(flag("c", cond(cohort_prop(1))), cohorts=COHORTS)
    assert ev(defs, "c", person_properties={"plan": "pro"}).decided is False


def test_negated_property_inside_a_cohort() -> None:
    defs = defs_of(flag("c", cond(cohort_prop(2))), cohorts=COHORTS)
    assert ev(defs, "c", person_properties={"banned": False}).value is True
    assert ev(defs, "c", person_properties={"banned": True}).value is False


def test_not_in_cohort_and_cohort_inside_cohort() -> None:
    defs = defs_of(
        flag("out", cond(cohort_prop(1, "not_in"))), flag("nested", cond(cohort_prop(3))),
        cohorts=COHORTS,
    )  # fmt: skip
    corp = {"email": "a@corp.com", "plan": "free", "age": 30}
    assert ev(defs, "out", person_properties=corp).value is False
    assert ev(defs, "out", person_properties={**corp, "email": "a@b.c"}).value is True
    assert ev(defs, "nested", person_properties=corp).value is True
    assert ev(defs, "nested", person_properties={**corp, "age": 12}).value is False


def test_static_cohort_needs_the_server_even_if_a_later_condition_matches() -> None:
    """A cohort absent from the definitions is static: stop and ask the server."""
    defs = defs_of(flag("s", cond(cohort_prop(99)), cond()), cohorts=COHORTS)
    result = ev(defs, "s")
    assert (result.decided, result.reason) == (False, Reason.STATIC_COHORT)


def test_an_earlier_matching_condition_decides_before_a_static_cohort() -> None:
    defs = defs_of(flag("s", cond(), cond(cohort_prop(99))), cohorts=COHORTS)
    assert ev(defs, "s").value is True


# --------------------------------------------------------------------------- dependencies


def dep(key: str, value: Any, chain: Optional[list[str]] = None, **extra: Any) -> dict[str, Any]:
    return {"key": key, "operator": "flag_evaluates_to", "value": value, "type": "flag",
            "dependency_chain": [key] if chain is None else chain, **extra}  # fmt: skip


def test_flag_dependency_on_an_enabled_flag() -> None:
    defs = defs_of(
        flag("base", cond(prop("plan", "pro"))),
        flag("child", cond(dep("base", True))),
        flag("unless", cond(dep("base", False))),
    )
    assert ev(defs, "child", person_properties={"plan": "pro"}).value is True
    assert ev(defs, "child", person_properties={"plan": "free"}).value is False
    assert ev(defs, "unless", person_properties={"plan": "free"}).value is True


def test_flag_dependency_on_a_variant_and_a_chain() -> None:
    defs = defs_of(
        flag("a", cond()),
        flag("mv", cond(dep("a", True)), multivariate=VARIANTS),
        flag("child", cond(dep("mv", "test", chain=["a", "mv"]))),
        flag("any", cond(dep("mv", True, chain=["a", "mv"]))),
    )
    for distinct_id in IDS[:40]:
        is_test = expected_variant("mv", distinct_id) == "test"
        assert ev(defs, "child", distinct_id).value is is_test
        assert ev(defs, "any", distinct_id).value is True  # any variant counts as on


def test_dependency_on_a_disabled_flag_evaluates_to_false() -> None:
    defs = defs_of(flag("off", cond(), active=False), flag("child", cond(dep("off", False))))
    assert ev(defs, "child").value is True


@pytest.mark.parametrize(
    "dependency",
    [
        dep("ghost", True),  # referenced flag not in the definitions
        dep("base", True, chain=[]),  # empty chain: the server's mark of a cycle
        {"key": "base", "operator": "flag_evaluates_to", "value": True, "type": "flag"},
    ],
    ids=["missing-flag", "circular", "no-chain"],
)
def test_unresolvable_dependencies_are_undecidable(dependency: dict[str, Any]) -> None:
    defs = defs_of(flag("base", cond()), flag("child", cond(dependency)))
    assert ev(defs, "child").decided is False


def test_dependency_on_a_continuity_or_undecidable_flag_is_undecidable() -> None:
    defs = defs_of(
        flag("sticky", cond(), ensure_experience_continuity=True),
        flag("needs", cond(prop("plan", "pro"))),
        flag("a", cond(dep("sticky", True))),
        flag("b", cond(dep("needs", True))),
    )
    assert ev(defs, "a").reason == Reason.UNRESOLVED_DEPENDENCY
    assert ev(defs, "b").decided is False
    assert ev(defs, "b", person_properties={"plan": "pro"}).value is True


def test_malformed_dependency_is_a_definite_no_match() -> None:
    defs = defs_of(flag("base", cond()), flag("child", cond(dep("base", True, operator="exact"))))
    result = ev(defs, "child")
    assert (result.value, result.decided) == (False, True)


def test_cyclic_dependencies_terminate_as_undecidable() -> None:
    defs = defs_of(flag("a", cond(dep("b", True))), flag("b", cond(dep("a", True))))
    assert ev(defs, "a").decided is False


# --------------------------------------------------------------------------- holdouts & misc


def holdout_flag(percentage: float, rollout: float = 100) -> dict[str, Any]:
    return flag("exp", cond(rollout=rollout), multivariate=VARIANTS,
                holdout={"id": 727, "exclusion_percentage": percentage})  # fmt: skip


def test_full_holdout_excludes_everyone_before_release_conditions() -> None:
    defs = defs_of(holdout_flag(100, rollout=0))
    result = ev(defs, "exp")
    assert (result.value, result.variant, result.reason) == (
        "holdout-727",
        "holdout-727",
        "holdout",
    )


def test_holdout_membership_hashes_holdout_dash_id() -> None:
    """Held out iff sha1("holdout-<id>") bucket <= percentage (a "-", not a ".")."""
    defs = defs_of(holdout_flag(20))
    held = {i for i in IDS if ev(defs, "exp", i).value == "holdout-727"}
    assert held == {i for i in IDS if ph_hash(f"holdout-{i}") <= 0.2}
    assert held != {i for i in IDS if ph_hash(f"holdout.{i}") <= 0.2}
    assert {ev(defs_of(holdout_flag(0)), "exp", i).value for i in IDS} <= {
        "control",
        "test",
        "other",
    }


def test_feature_enrollment_reads_the_enrollment_property() -> None:
    defs = defs_of(flag("beta", feature_enrollment=True))
    assert ev(defs, "beta", person_properties={"$feature_enrollment/beta": True}).value is True
    assert ev(defs, "beta", person_properties={"$feature_enrollment/beta": "false"}).value is False
    assert ev(defs, "beta").decided is False


def test_device_id_bucketing_needs_a_device_id() -> None:
    defs = defs_of({**flag("dev", cond(rollout=50)), "bucketing_identifier": "device_id"})
    assert ev(defs, "dev", "user-1").reason == Reason.MISSING_DEVICE_ID
    for device in IDS[:30]:
        assert ev(defs, "dev", "user-1", device_id=device).value is (
            ph_hash(f"dev.{device}") <= 0.5
        )


def test_evaluate_all_covers_every_flag_and_marks_undecided_ones() -> None:
    defs = defs_of(flag("on", cond()), flag("off", active=False), flag("ask", cond(prop("p", 1))))
    results = evaluate_all(defs, "user-1")
    assert set(results) == {"on", "off", "ask"}
    assert results["on"].value is True and results["off"].value is False
    assert results["ask"].decided is False


def test_evaluation_does_not_mutate_inputs() -> None:
    props = {"plan": "pro"}
    groups = {"company": "acme"}
    defs = defs_of(flag("a", cond(prop("plan", "pro"))), mapping=MAPPING)
    evaluate_all(defs, "u", person_properties=props, groups=groups)
    assert props == {"plan": "pro"} and groups == {"company": "acme"}
