"""Local feature-flag evaluation: pure functions over parsed ``FlagDefinitions``.

Owns the PostHog evaluation rules: SHA-1 bucketing (``sha1(f"{key}.{id}{salt}")``,
first 15 hex digits over ``0xFFFFFFFFFFFFFFF``), rollout, multivariate variant
selection (salt ``"variant"``) and condition-level overrides, payloads, holdouts
(hash of ``holdout-{id}``), group flags, cohorts (nested AND/OR, negation), flag
dependencies, feature enrollment, and the cases that cannot be decided locally
(experience continuity, static cohorts, missing properties, ...). Those give a
``FlagResult`` with ``decided=False``: the caller should ask the server.

Each call first runs the flag's compiled plan (``_fastpath``: prebuilt results,
no allocation), which answers only when every filter it reads is decidable;
otherwise the full evaluation here runs, and it is the reference semantics.
Filter-level rules (properties, cohorts, dependencies) live in ``_filters``.

Pure: no I/O, no threads, no logging, no clock reads except ``datetime.now()``
for relative-date filters when the caller passes no ``now``. No exception is
used for control flow: matches are small integer outcomes.

It must not know about HTTP, polling, the client or how results are reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping, Optional

from analytics_compat.flags._fastpath import plan_for
from analytics_compat.flags._filters import (
    NO,
    SERVER,
    UNKNOWN,
    YES,
    Context,
    Outcome,
    match_all,
)
from analytics_compat.flags._hashing import sha1
from analytics_compat.flags._result import FlagResult, FlagValue, Reason
from analytics_compat.flags.model import FeatureFlag, FlagDefinitions

__all__ = ["FlagResult", "FlagValue", "Reason", "bucket_hash", "evaluate_all", "evaluate_flag"]

_SCALE = float(0xFFFFFFFFFFFFFFF)
_MISSING: Any = object()
_EMPTY: Mapping[str, Any] = {}


def bucket_hash(text: str) -> float:
    """PostHog's bucket of ``text`` in [0, 1]: the top 60 bits of its SHA-1, scaled.

    Equal, bit for bit, to ``int(sha1(text).hexdigest()[:15], 16) / float(0xFFFFFFFFFFFFFFF)``
    (PostHog divides by the float, which is 2**60, not by the exact integer).
    """
    return (int.from_bytes(sha1(text.encode("utf-8")).digest()[:8], "big") >> 4) / _SCALE


# --------------------------------------------------------------------------- flags

_UNDECIDED: Outcome = (UNKNOWN, False, None, None, "")


def _match_flag(
    flag: FeatureFlag, ctx: Context, bucketing: str, props: Mapping[str, Any], distinct: str
) -> Outcome:
    """``(outcome, value, variant, condition_index, reason)``; outcome YES means decided."""
    if flag.feature_enrollment:
        if flag.aggregation_group_type_index is not None:
            ctx.note(Reason.UNSUPPORTED_DEFINITION)
            return _UNDECIDED
        enrolled = props.get(f"$feature_enrollment/{flag.key}", _MISSING)
        if enrolled is _MISSING:
            ctx.note(Reason.MISSING_PROPERTY)
            return _UNDECIDED
        on = enrolled is True or enrolled == "true"
        return (YES, on, None, None, Reason.FEATURE_ENROLLMENT)

    holdout = flag.holdout
    if holdout is not None and (
        holdout.exclusion_percentage == 100.0
        or bucket_hash(f"holdout-{bucketing}") <= holdout.exclusion_percentage / 100
    ):
        # Held-out ids never reach the release conditions.
        return (YES, holdout.variant, holdout.variant, None, Reason.HOLDOUT)

    inconclusive = False
    out_of_bound: Optional[int] = None
    flag_aggregation = flag.aggregation_group_type_index
    hashed_bucket: Optional[str] = None
    hashed = 0.0
    for index, cond in enumerate(flag.conditions):
        cond_props, cond_bucket = props, bucketing
        if (
            cond.own_aggregation
            and cond.aggregation_group_type_index != flag_aggregation
            and cond.aggregation_group_type_index is not None
        ):
            # Mixed targeting: this condition is about a group, not the person.
            name = cond.group_type_name
            if not name or name not in ctx.groups:
                continue
            group_props = ctx.group_properties.get(name)
            if group_props is None:
                ctx.note(Reason.MISSING_GROUP_PROPERTIES)
                inconclusive = True
                continue
            cond_props, cond_bucket = group_props, f"{ctx.groups[name]}"
        if cond.properties:
            outcome = match_all(cond.properties, ctx, cond_props, distinct)
            if outcome == SERVER:
                return (SERVER, False, None, None, "")
            if outcome == UNKNOWN:
                inconclusive = True
                continue
            if outcome == NO:
                continue
        threshold = cond.threshold
        if threshold is not None:
            if hashed_bucket != cond_bucket:
                hashed_bucket = cond_bucket
                hashed = bucket_hash(f"{flag.hash_prefix}{cond_bucket}")
            if hashed > threshold:
                if out_of_bound is None:
                    out_of_bound = index
                if flag.early_exit:
                    break
                continue
        variant = cond.variant
        if variant is None and flag.variants:
            position = bucket_hash(f"{flag.hash_prefix}{cond_bucket}variant")
            for candidate in flag.variants:
                if candidate.lower <= position < candidate.upper:
                    variant = candidate.key
                    break
        return (YES, variant or True, variant, index, Reason.CONDITION_MATCH)

    if inconclusive:
        return _UNDECIDED
    if out_of_bound is not None:
        return (YES, False, None, out_of_bound, Reason.OUT_OF_ROLLOUT_BOUND)
    return (YES, False, None, None, Reason.NO_CONDITION_MATCH)


def _undecided(flag: FeatureFlag, reason: str) -> FlagResult:
    return FlagResult(flag.key, False, None, None, reason, None, False, flag.id, flag.version)


def _fixed(flag: FeatureFlag, reason: str) -> FlagResult:
    """A decided False that does not depend on the caller (disabled, group not passed)."""
    result: Optional[FlagResult] = flag.memo.get(reason)
    if result is None:
        result = FlagResult(flag.key, False, None, None, reason, None, True, flag.id, flag.version)
        flag.memo[reason] = result
    return result


def _evaluate(
    ctx: Context, flag: FeatureFlag, distinct_id: str, person_properties: Mapping[str, Any]
) -> FlagResult:
    if not flag.active:
        return _fixed(flag, Reason.FLAG_DISABLED)
    if flag.ensure_experience_continuity:
        return _undecided(flag, Reason.EXPERIENCE_CONTINUITY)
    if flag.undecidable is not None:
        return _undecided(flag, flag.undecidable)
    if flag.aggregation_group_type_index is not None:
        name = flag.group_type_name
        if name is None:
            return _undecided(flag, Reason.UNSUPPORTED_DEFINITION)
        if name not in ctx.groups:
            # The server would say False too, so no need to ask it.
            return _fixed(flag, Reason.NO_GROUP)
        props = ctx.group_properties.get(name)
        if props is None:
            return _undecided(flag, Reason.MISSING_GROUP_PROPERTIES)
        distinct = bucketing = f"{ctx.groups[name]}"
    else:
        props = person_properties
        distinct = bucketing = distinct_id
        if flag.bucket_by_device_id:
            if not ctx.device_id:
                return _undecided(flag, Reason.MISSING_DEVICE_ID)
            bucketing = ctx.device_id
    ctx.cache = None
    ctx.why = None
    outcome = _match_flag(flag, ctx, bucketing, props, distinct)
    # Results are immutable and a flag has few distinct outcomes: reuse them.
    result: Optional[FlagResult] = flag.memo.get(outcome)
    if result is not None:
        return result
    code, value, variant, index, reason = outcome
    if code != YES:
        return _undecided(flag, ctx.why or Reason.UNSUPPORTED_DEFINITION)
    payload = None
    if value is True:
        payload = flag.payloads.get("true")
    elif value is not False:
        payload = flag.payloads.get(value)
    result = FlagResult(
        flag.key, value, variant, payload, reason, index, True, flag.id, flag.version
    )
    if len(flag.memo) < 256:
        flag.memo[outcome] = result
    return result


def _full(
    defs: FlagDefinitions,
    key: str,
    distinct_id: str,
    groups: Mapping[str, Any],
    person: Mapping[str, Any],
    group_properties: Mapping[str, Mapping[str, Any]],
    device_id: Optional[str],
    now: Optional[datetime],
) -> FlagResult:
    """The reference evaluation, taken whenever a flag's fast path cannot answer."""
    ctx = Context(defs, groups, group_properties, device_id, now, _match_flag)
    return _evaluate(ctx, defs.by_key[key], distinct_id, person)


def evaluate_flag(
    defs: FlagDefinitions,
    key: str,
    distinct_id: str,
    *,
    groups: Optional[Mapping[str, str]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    device_id: Optional[str] = None,
    now: Optional[datetime] = None,
) -> Optional[FlagResult]:
    """Evaluate flag ``key`` for ``distinct_id``; None when ``key`` is not in ``defs``.

    ``groups`` maps group type to group key; ``group_properties`` maps group type
    to that group's properties. ``device_id`` is only needed by flags bucketed by
    device. ``now`` anchors relative-date filters (``-7d``); default: the current time.
    """
    plan = defs.evaluator_cache.get(key) or plan_for(defs, key)
    if plan is None:
        return None
    person = person_properties or _EMPTY
    group_keys = groups or _EMPTY
    group_props = group_properties or _EMPTY
    result = plan(distinct_id, person, group_keys, group_props, now)
    if result is None:
        result = _full(defs, key, distinct_id, group_keys, person, group_props, device_id, now)
    return result


def evaluate_all(
    defs: FlagDefinitions,
    distinct_id: str,
    *,
    groups: Optional[Mapping[str, str]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    device_id: Optional[str] = None,
    now: Optional[datetime] = None,
    keys: Optional[Iterable[str]] = None,
) -> dict[str, FlagResult]:
    """Evaluate every flag in ``defs`` (or only ``keys``, those of them ``defs`` has);
    results with ``decided=False`` need the server."""
    person = person_properties or _EMPTY
    group_keys = groups or _EMPTY
    group_props = group_properties or _EMPTY
    cache = defs.evaluator_cache
    by_key = defs.by_key
    results: dict[str, FlagResult] = {}
    for key in by_key if keys is None else [k for k in keys if k in by_key]:
        plan = cache.get(key) or plan_for(defs, key)
        result = None if plan is None else plan(distinct_id, person, group_keys, group_props, now)
        if result is None:
            result = _full(defs, key, distinct_id, group_keys, person, group_props, device_id, now)
        results[key] = result
    return results
