"""Matching of one condition's filters: properties, cohorts and flag dependencies.

Owns the tri-state outcomes (``NO``, ``YES``, ``UNKNOWN`` = cannot decide here,
``SERVER`` = needs server-side data such as a static cohort) and the rules that
combine them: an undecidable filter does not stop a condition (a later definite
"no" still rules it out); cohort groups are AND/OR with negation; a flag
dependency evaluates its ``dependency_chain`` once per evaluation through
``Context.match_flag``, supplied by the evaluator (this module does not know
flag-level rules). Pure: no I/O, no logging.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from analytics_compat.flags._result import REASON_RANK, FlagValue, Reason
from analytics_compat.flags.model import (
    COHORT_OPERATORS,
    FeatureFlag,
    FlagDefinitions,
    Property,
    PropertyGroup,
)

__all__ = ["NO", "SERVER", "UNKNOWN", "YES", "Context", "Outcome", "match_all", "match_filter"]

NO = 0
YES = 1
UNKNOWN = 2  # cannot decide here; a later condition may still decide the flag
SERVER = 3  # needs server-side data (static cohort): stop and ask the server

Outcome = Tuple[int, FlagValue, Optional[str], Optional[int], str]
"""``(code, value, variant, condition_index, reason)``; code YES means decided."""

MatchFlag = Callable[["FeatureFlag", "Context", str, Mapping[str, Any], str], Outcome]

_MISSING: Any = object()
MAX_DEPTH = 32


class Context:
    """Per-evaluation scratch state (never shared between threads).

    ``match_flag`` evaluates a whole flag (the evaluator's); dependencies use it.
    """

    __slots__ = (
        "cache",
        "defs",
        "depth",
        "device_id",
        "group_properties",
        "groups",
        "match_flag",
        "now",
        "why",
    )

    def __init__(
        self,
        defs: FlagDefinitions,
        groups: Mapping[str, Any],
        group_properties: Mapping[str, Mapping[str, Any]],
        device_id: Optional[str],
        now: Optional[datetime],
        match_flag: MatchFlag,
    ) -> None:
        self.match_flag = match_flag
        self.defs = defs
        self.groups = groups
        self.group_properties = group_properties
        self.device_id = device_id
        self.now = now
        self.cache: Optional[Dict[str, Optional[FlagValue]]] = None
        self.why: Optional[str] = None
        self.depth = 0

    def note(self, reason: str) -> int:
        """Remember why the flag may be undecidable; returns ``UNKNOWN`` for brevity."""
        if self.why is None or REASON_RANK[reason] < REASON_RANK[self.why]:
            self.why = reason
        return UNKNOWN


# --------------------------------------------------------------------------- filters


def match_filter(prop: Property, ctx: Context, props: Mapping[str, Any], distinct: str) -> int:
    matcher = prop.matcher
    if matcher is not None:
        value = props.get(prop.key, _MISSING)
        if value is _MISSING:
            return ctx.note(Reason.MISSING_PROPERTY)
        matched = matcher(value, ctx.now)
        if matched is None:
            return ctx.note(_value_reason(prop))
        return YES if matched else NO
    if prop.type == "cohort":
        return _match_cohort(prop, ctx, props, distinct)
    if prop.type == "flag":
        return _match_dependency(prop, ctx, props, distinct)
    return ctx.note(Reason.UNSUPPORTED_REGEX if prop.regex else Reason.UNSUPPORTED_DEFINITION)


def _value_reason(prop: Property) -> str:
    return Reason.UNDECIDABLE_REGEX_VALUE if prop.regex else Reason.INVALID_PROPERTY_VALUE


def match_all(
    properties: Tuple[Property, ...], ctx: Context, props: Mapping[str, Any], distinct: str
) -> int:
    # Filters have no defined order: an undecidable one does not stop the loop,
    # a later definite "no" still rules the condition out.
    inconclusive = False
    server = False
    for prop in properties:
        matcher = prop.matcher
        if matcher is not None:  # inline fast path for plain property filters
            value = props.get(prop.key, _MISSING)
            if value is _MISSING:
                outcome = ctx.note(Reason.MISSING_PROPERTY)
            else:
                matched = matcher(value, ctx.now)
                if matched is True:
                    continue
                if matched is False:
                    return NO
                outcome = ctx.note(_value_reason(prop))
        else:
            outcome = match_filter(prop, ctx, props, distinct)
            if outcome == YES:
                continue
            if outcome == NO:
                return NO
        if outcome == SERVER and not inconclusive:
            server = True
        inconclusive = True
    if server:
        return SERVER
    return UNKNOWN if inconclusive else YES


def _match_group(
    group: PropertyGroup, ctx: Context, props: Mapping[str, Any], distinct: str
) -> int:
    if not group.values:
        return YES
    is_and = group.is_and
    decisive: Optional[bool] = None
    inconclusive = False
    for entry in group.values:
        if isinstance(entry, PropertyGroup):
            outcome, negate = _match_group(entry, ctx, props, distinct), False
        else:
            outcome, negate = match_filter(entry, ctx, props, distinct), entry.negation
        if outcome == SERVER:
            return SERVER
        if outcome == UNKNOWN:
            inconclusive = True
            continue
        effective = (outcome == YES) != negate
        if effective != is_and:
            decisive = effective
    if decisive is not None:
        return YES if decisive else NO
    if inconclusive:
        return UNKNOWN
    return YES if is_and else NO


def _match_cohort(prop: Property, ctx: Context, props: Mapping[str, Any], distinct: str) -> int:
    cohort = ctx.defs.cohorts.get(prop.cohort_id or "")
    if cohort is None:
        # Not among the definitions: a static cohort, only the server knows its members.
        ctx.note(Reason.STATIC_COHORT)
        return SERVER
    if prop.operator not in COHORT_OPERATORS:
        return ctx.note(Reason.UNSUPPORTED_DEFINITION)
    if cohort.group is None:
        ctx.note(Reason.UNSUPPORTED_DEFINITION)
        return SERVER
    if ctx.depth >= MAX_DEPTH:  # cohorts referencing each other in a cycle
        return ctx.note(Reason.UNSUPPORTED_DEFINITION)
    ctx.depth += 1
    outcome = _match_group(cohort.group, ctx, props, distinct)
    ctx.depth -= 1
    if prop.operator == "not_in" and outcome in (YES, NO):
        outcome = YES - outcome
    return outcome


def _dependency_matches(expected: Any, actual: FlagValue) -> bool:
    if isinstance(actual, str) and actual:
        if isinstance(expected, bool):
            return expected  # any variant counts as "enabled"
        return isinstance(expected, str) and actual == expected
    if isinstance(actual, bool) and isinstance(expected, bool):
        return actual == expected
    return False


def _match_dependency(prop: Property, ctx: Context, props: Mapping[str, Any], distinct: str) -> int:
    if prop.malformed_dependency:
        return NO  # as the server does: a malformed condition is a definite no-match
    chain = prop.dependency_chain
    if not chain:  # missing, invalid, or empty (the server's mark of a cycle)
        return ctx.note(Reason.UNSUPPORTED_DEFINITION)
    if ctx.cache is None:
        ctx.cache = {}
    cache = ctx.cache
    by_key = ctx.defs.by_key
    for key in chain:
        if key not in cache and key not in by_key:
            cache[key] = None
            return ctx.note(Reason.UNSUPPORTED_DEFINITION)
    for key in chain:
        if key in cache:
            continue
        dep = by_key[key]
        if not dep.active:
            cache[key] = False
            continue
        if dep.ensure_experience_continuity or dep.undecidable:
            cache[key] = None
            return ctx.note(Reason.UNRESOLVED_DEPENDENCY)
        bucket = distinct
        if dep.bucket_by_device_id and dep.aggregation_group_type_index is None:
            if not ctx.device_id:
                cache[key] = None
                return ctx.note(Reason.UNRESOLVED_DEPENDENCY)
            bucket = ctx.device_id
        cache[key] = None  # in progress: a dependency cycle reads it as unresolved
        if ctx.depth >= MAX_DEPTH:
            return ctx.note(Reason.UNRESOLVED_DEPENDENCY)
        ctx.depth += 1
        outcome, value, _, _, _ = ctx.match_flag(dep, ctx, bucket, props, distinct)
        ctx.depth -= 1
        if outcome == SERVER:
            del cache[key]
            return SERVER
        if outcome == UNKNOWN:
            return ctx.note(Reason.UNRESOLVED_DEPENDENCY)
        cache[key] = value
    actual = cache.get(prop.key)
    if actual is None:
        reason = (
            Reason.UNRESOLVED_DEPENDENCY
            if prop.key in by_key and prop.key in cache
            else Reason.UNSUPPORTED_DEFINITION
        )
        return ctx.note(reason)
    return YES if _dependency_matches(prop.value, actual) else NO
