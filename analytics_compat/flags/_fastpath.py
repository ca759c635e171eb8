"""A compiled fast path for the common flag: one closure per flag, prebuilt results.

Owns ``compile_plan(defs, flag)``. A plan is ``plan(distinct_id, person_properties,
groups, group_properties, now) -> FlagResult | None``; ``None`` means "take the
full evaluator" (``evaluator._evaluate``), which stays the reference semantics.

A plan only answers when every filter it reads is decidable: the first missing
property, unusable value or undecidable cohort entry makes it return None, so the
subtle rules for undecidable filters (a later "no" still wins, reason precedence)
live in one place only. With every filter decided those rules reduce to plain
boolean logic, which is what a plan runs, without per-call allocation: results
are built once per (condition, variant). Flags with dependencies, feature
enrollment, device bucketing or mixed group targeting get no plan.

Pure, like the evaluator. It must not know about I/O or the client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, List, Mapping, Optional, Tuple, Union

from analytics_compat.flags._hashing import sha1
from analytics_compat.flags._result import FlagResult, Reason
from analytics_compat.flags.model import (
    COHORT_OPERATORS,
    FeatureFlag,
    FlagDefinitions,
    Property,
    PropertyGroup,
)

__all__ = ["Plan", "compile_plan", "plan_for"]

Plan = Callable[
    [
        Any,
        Mapping[str, Any],
        Mapping[str, Any],
        Mapping[str, Mapping[str, Any]],
        Optional[datetime],
    ],
    Optional[FlagResult],
]
# A filter in a plan: (property key, matcher) or (None, cohort test over the properties).
_Filter = Tuple[Optional[str], Callable[[Any, Optional[datetime]], Optional[bool]]]

_SCALE = float(0xFFFFFFFFFFFFFFF)
_MISSING: Any = object()
_MAX_COHORT_DEPTH = 8


class _Ineligible(Exception):
    """Compile-time only: this flag takes the full evaluator."""


def _result(flag: FeatureFlag, value: Union[bool, str], reason: str, index: Optional[int],
            decided: bool = True) -> FlagResult:  # fmt: skip
    variant = value if isinstance(value, str) else None
    payload = None
    if value is True:
        payload = flag.payloads.get("true")
    elif variant is not None:
        payload = flag.payloads.get(variant)
    return FlagResult(flag.key, value, variant, payload, reason, index, decided, flag.id,
                      flag.version)  # fmt: skip


def _constant(result: FlagResult) -> Plan:
    return lambda distinct_id, person, groups, group_props, now: result


def _no_plan(distinct_id: Any, person: Any, groups: Any, group_props: Any, now: Any) -> None:
    return None


# --------------------------------------------------------------------------- filters


def _compile_group(
    group: PropertyGroup, defs: FlagDefinitions, depth: int
) -> Callable[[Any, Optional[datetime]], Optional[bool]]:
    entries: List[Tuple[bool, Optional[str], Callable[[Any, Optional[datetime]], Optional[bool]]]]
    entries = []
    for entry in group.values:
        if isinstance(entry, PropertyGroup):
            entries.append((False, None, _compile_group(entry, defs, depth + 1)))
        else:
            key, test = _compile_filter(entry, defs, depth + 1)
            entries.append((entry.negation, key, test))
    is_and = group.is_and
    if not entries:
        return lambda props, now: True

    def match_group(props: Any, now: Optional[datetime]) -> Optional[bool]:
        undecided = False
        for negate, key, test in entries:
            if key is None:
                matched = test(props, now)
            else:
                value = props.get(key, _MISSING)
                matched = None if value is _MISSING else test(value, now)
            if matched is None:
                undecided = True
                continue
            if (matched != negate) != is_and:
                return not is_and  # a decisive entry wins over undecided ones
        return None if undecided else is_and

    return match_group


def _compile_filter(prop: Property, defs: FlagDefinitions, depth: int) -> _Filter:
    if prop.matcher is not None:
        return prop.key, prop.matcher
    if prop.type != "cohort" or depth > _MAX_COHORT_DEPTH:
        raise _Ineligible
    cohort = defs.cohorts.get(prop.cohort_id or "")
    if cohort is None or cohort.group is None or prop.operator not in COHORT_OPERATORS:
        raise _Ineligible  # static or malformed cohort: the full evaluator reports it
    inner = _compile_group(cohort.group, defs, depth)
    if prop.operator != "not_in":
        return None, inner

    def not_in(props: Any, now: Optional[datetime]) -> Optional[bool]:
        matched = inner(props, now)
        return None if matched is None else not matched

    return None, not_in


# --------------------------------------------------------------------------- flags


def compile_plan(defs: FlagDefinitions, flag: FeatureFlag) -> Plan:
    """The fast path for ``flag`` (a plan that always returns None when ineligible)."""
    if not flag.active:
        return _constant(_result(flag, False, Reason.FLAG_DISABLED, None))
    if flag.ensure_experience_continuity:
        return _constant(_result(flag, False, Reason.EXPERIENCE_CONTINUITY, None, False))
    if flag.undecidable is not None or flag.feature_enrollment or flag.bucket_by_device_id:
        return _no_plan
    try:
        return _compile_flag(defs, flag)
    except _Ineligible:
        return _no_plan


def _compile_flag(defs: FlagDefinitions, flag: FeatureFlag) -> Plan:
    aggregation = flag.aggregation_group_type_index
    group_name = flag.group_type_name
    if aggregation is not None and group_name is None:
        return _constant(_result(flag, False, Reason.UNSUPPORTED_DEFINITION, None, False))
    no_group = _result(flag, False, Reason.NO_GROUP, None)
    no_match = _result(flag, False, Reason.NO_CONDITION_MATCH, None)
    variant_keys = {v.key for v in flag.variants}
    conditions = []
    for index, cond in enumerate(flag.conditions):
        if cond.own_aggregation and cond.aggregation_group_type_index not in (None, aggregation):
            raise _Ineligible  # mixed targeting
        filters = tuple(_compile_filter(p, defs, 0) for p in cond.properties)
        on = _result(flag, cond.variant or True, Reason.CONDITION_MATCH, index)
        by_variant = tuple(
            (v.lower, v.upper, _result(flag, v.key, Reason.CONDITION_MATCH, index))
            for v in flag.variants
        )
        pick = bool(flag.variants) and cond.variant not in variant_keys
        out = _result(flag, False, Reason.OUT_OF_ROLLOUT_BOUND, index)
        conditions.append((filters, cond.threshold, pick, on, by_variant, out))
    rows = tuple(conditions)
    prefix = flag.hash_prefix
    early_exit = flag.early_exit
    holdout = flag.holdout
    held = None if holdout is None else _result(flag, holdout.variant, Reason.HOLDOUT, None)
    hold_all = holdout is not None and holdout.exclusion_percentage == 100.0
    hold_bound = 0.0 if holdout is None else holdout.exclusion_percentage / 100
    from_bytes = int.from_bytes

    def plan(
        distinct_id: Any,
        person: Mapping[str, Any],
        groups: Mapping[str, Any],
        group_props: Mapping[str, Mapping[str, Any]],
        now: Optional[datetime],
    ) -> Optional[FlagResult]:
        if group_name is not None:
            group_key = groups.get(group_name, _MISSING)
            if group_key is _MISSING:
                return no_group
            props = group_props.get(group_name)
            if props is None:
                return None
            bucket = f"{group_key}"
        else:
            props = person
            bucket = distinct_id if type(distinct_id) is str else f"{distinct_id}"
        if held is not None:
            if hold_all:
                return held
            digest = sha1(f"holdout-{bucket}".encode()).digest()
            if (from_bytes(digest[:8], "big") >> 4) / _SCALE <= hold_bound:
                return held
        hashed = -1.0
        first_out: Optional[FlagResult] = None
        for filters, threshold, pick, on, by_variant, out in rows:
            matched = True
            for key, test in filters:
                if key is None:
                    verdict = test(props, now)
                else:
                    value = props.get(key, _MISSING)
                    if value is _MISSING:
                        return None
                    verdict = test(value, now)
                if verdict is True:
                    continue
                if verdict is False:
                    matched = False
                    break
                return None  # undecidable filter: the full evaluator decides
            if not matched:
                continue
            if threshold is not None:
                if hashed < 0:
                    digest = sha1((prefix + bucket).encode()).digest()
                    hashed = (from_bytes(digest[:8], "big") >> 4) / _SCALE
                if hashed > threshold:
                    if first_out is None:
                        first_out = out
                    if early_exit:
                        break
                    continue
            if pick:
                digest = sha1((prefix + bucket + "variant").encode()).digest()
                spot = (from_bytes(digest[:8], "big") >> 4) / _SCALE
                for lower, upper, result in by_variant:
                    if lower <= spot < upper:
                        return result
            return on
        return first_out or no_match

    return plan


def plan_for(defs: FlagDefinitions, key: str) -> Optional[Plan]:
    """Compile and memoize the plan for ``key``; None if ``key`` is not in ``defs``."""
    flag = defs.by_key.get(key)
    if flag is None:
        return None
    plan = defs.evaluator_cache[key] = compile_plan(defs, flag)
    return plan
