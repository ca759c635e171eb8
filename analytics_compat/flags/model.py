"""Typed, immutable feature-flag definitions, parsed once from PostHog's JSON.

Owns ``parse_definitions``: the body of ``GET /api/feature_flag/local_evaluation/``
(``{"flags": [...], "group_type_mapping": {...}, "cohorts": {...}}``) becomes a
``FlagDefinitions`` of frozen attrs objects with everything an evaluation needs
precomputed: operator matchers (regexes compiled, dates and versions parsed),
rollout thresholds, the cumulative variant table, decoded payloads, group type
names, and the SHA-1 key prefixes.

A malformed entry never fails the whole parse: a flag without a usable key is
skipped; a flag whose body is malformed is kept with ``undecidable`` set, so the
evaluator answers "cannot decide locally" for it (and the caller asks the
server). Only keys and indexes are logged, never values.

It must not know about evaluation order, HTTP, threads or the client.
"""

from __future__ import annotations

import json
import logging
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Tuple

import attrs

from analytics_compat.flags._properties import (
    COHORT_OPERATORS,
    Cohort,
    Malformed,
    Property,
    PropertyGroup,
    as_list,
    opt_int,
    opt_number,
    parse_cohorts,
    parse_property,
)

__all__ = [
    "COHORT_OPERATORS",
    "Cohort",
    "Condition",
    "FeatureFlag",
    "FlagDefinitions",
    "Holdout",
    "Property",
    "PropertyGroup",
    "Variant",
    "parse_definitions",
]

logger = logging.getLogger(__name__)

UNSUPPORTED_DEFINITION = "unsupported_definition"


@attrs.frozen
class Variant:
    """A multivariate variant and its half-open hash interval ``[lower, upper)``."""

    key: str
    rollout_percentage: float
    lower: float
    upper: float


@attrs.frozen
class Holdout:
    """An experiment holdout: ``exclusion_percentage`` of bucketing ids get ``variant``."""

    id: Any
    exclusion_percentage: float
    variant: str


@attrs.frozen
class Condition:
    """A release condition: all ``properties`` match, then ``rollout_percentage`` applies."""

    properties: Tuple[Property, ...] = ()
    rollout_percentage: Optional[float] = None
    threshold: Optional[float] = None
    """``rollout_percentage / 100``, the bucket bound; None means everyone."""
    variant: Optional[str] = None
    """Variant override, already validated against the flag's variants."""
    own_aggregation: bool = False
    """True when the condition sets its own ``aggregation_group_type_index``."""
    aggregation_group_type_index: Optional[int] = None
    group_type_name: Optional[str] = None


@attrs.frozen
class FeatureFlag:
    """One flag definition, ready to evaluate."""

    key: str
    id: Optional[int] = None
    version: Optional[int] = None
    name: str = ""
    active: bool = False
    conditions: Tuple[Condition, ...] = ()
    variants: Tuple[Variant, ...] = ()
    payloads: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    aggregation_group_type_index: Optional[int] = None
    group_type_name: Optional[str] = None
    ensure_experience_continuity: bool = False
    holdout: Optional[Holdout] = None
    early_exit: bool = False
    feature_enrollment: bool = False
    bucket_by_device_id: bool = False
    undecidable: Optional[str] = None
    """Set when the definition cannot be evaluated locally at all (malformed)."""
    hash_prefix: str = attrs.field(default="", repr=False)
    """``f"{key}."``: the SHA-1 input is ``hash_prefix + bucketing_id + salt``."""
    memo: Dict[Any, Any] = attrs.field(factory=dict, eq=False, repr=False)
    """Scratch space for the evaluator to reuse its immutable results (bounded by the
    flag's possible outcomes). Not part of the definition."""

    @property
    def is_multivariate(self) -> bool:
        return bool(self.variants)


@attrs.frozen
class FlagDefinitions:
    """Everything local evaluation needs; built by ``parse_definitions``."""

    flags: Tuple[FeatureFlag, ...] = ()
    by_key: Mapping[str, FeatureFlag] = attrs.field(factory=dict, eq=False)
    group_type_mapping: Mapping[str, str] = attrs.field(factory=dict)
    cohorts: Mapping[str, Cohort] = attrs.field(factory=dict)
    property_matching_version: int = 1
    evaluator_cache: Dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    """Scratch space for the evaluator (compiled per-flag fast paths, by key); filled
    lazily, not part of the definitions. A plan is ``plan(distinct_id, person_properties,
    groups, group_properties, now) -> FlagResult | None`` (mappings, never None); a hot
    caller may call it directly, and must ask ``evaluate_flag`` when it answers None."""


def decode_payload(raw: Any) -> Any:
    """Payloads come as JSON text (definitions and /flags answers); bad JSON reads as None."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        logger.debug("feature flag payload is not valid JSON; treating it as absent")
        return None


# --------------------------------------------------------------------------- flags


def _parse_variants(filters: Mapping[str, Any]) -> Tuple[Variant, ...]:
    multivariate = filters.get("multivariate") or {}
    if not isinstance(multivariate, Mapping):
        raise Malformed
    variants = []
    lower: float = 0
    for raw in as_list(multivariate.get("variants")):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str):
            raise Malformed
        percentage = opt_number(raw.get("rollout_percentage"))
        if percentage is None:
            raise Malformed
        # Same float arithmetic, in the same order, as every PostHog SDK.
        upper = lower + percentage / 100
        variants.append(Variant(raw["key"], percentage, lower, upper))
        lower = upper
    return tuple(variants)


def _parse_condition(
    raw: Any,
    version: int,
    variant_keys: frozenset[str],
    group_type_mapping: Mapping[str, str],
) -> Condition:
    if not isinstance(raw, Mapping):
        raise Malformed
    rollout = opt_number(raw.get("rollout_percentage"))
    override = raw.get("variant")
    own = "aggregation_group_type_index" in raw
    aggregation = opt_int(raw.get("aggregation_group_type_index")) if own else None
    return Condition(
        properties=tuple(parse_property(p, version) for p in as_list(raw.get("properties"))),
        rollout_percentage=rollout,
        threshold=None if rollout is None else rollout / 100,
        variant=override if isinstance(override, str) and override in variant_keys else None,
        own_aggregation=own,
        aggregation_group_type_index=aggregation,
        group_type_name=None if aggregation is None else group_type_mapping.get(str(aggregation)),
    )


def _parse_holdout(raw: Any) -> Optional[Holdout]:
    if not raw:
        return None
    if not isinstance(raw, Mapping):
        raise Malformed
    percentage = opt_number(raw.get("exclusion_percentage"))
    holdout_id = raw.get("id")
    if percentage is None or holdout_id is None:
        return None
    percentage = min(max(float(percentage), 0.0), 100.0)
    return Holdout(id=holdout_id, exclusion_percentage=percentage, variant=f"holdout-{holdout_id}")


def _parse_flag(raw: Mapping[str, Any], version: int, mapping: Mapping[str, str]) -> FeatureFlag:
    key: str = raw["key"]
    filters = raw.get("filters") or {}
    if not isinstance(filters, Mapping):
        raise Malformed
    variants = _parse_variants(filters)
    variant_keys = frozenset(v.key for v in variants)
    conditions = tuple(
        _parse_condition(c, version, variant_keys, mapping) for c in as_list(filters.get("groups"))
    )
    payloads_raw = filters.get("payloads") or {}
    if not isinstance(payloads_raw, Mapping):
        raise Malformed
    aggregation = opt_int(filters.get("aggregation_group_type_index"))
    bucketing = raw.get("bucketing_identifier") or filters.get("bucketing_identifier")
    return FeatureFlag(
        key=key,
        id=opt_int(raw.get("id")),
        version=opt_int(raw.get("version")),
        name=str(raw.get("name") or ""),
        active=bool(raw.get("active")),
        conditions=conditions,
        variants=variants,
        payloads=MappingProxyType({str(k): decode_payload(v) for k, v in payloads_raw.items()}),
        aggregation_group_type_index=aggregation,
        group_type_name=None if aggregation is None else mapping.get(str(aggregation)),
        ensure_experience_continuity=bool(raw.get("ensure_experience_continuity")),
        holdout=_parse_holdout(filters.get("holdout")),
        early_exit=bool(filters.get("early_exit")),
        feature_enrollment=filters.get("feature_enrollment") is True,
        bucket_by_device_id=bucketing == "device_id",
        hash_prefix=f"{key}.",
    )


def _undecidable_flag(raw: Mapping[str, Any]) -> FeatureFlag:
    key: str = raw["key"]
    flag_id, version = raw.get("id"), raw.get("version")
    return FeatureFlag(
        key=key,
        id=flag_id if isinstance(flag_id, int) and not isinstance(flag_id, bool) else None,
        version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        active=bool(raw.get("active")),
        ensure_experience_continuity=bool(raw.get("ensure_experience_continuity")),
        undecidable=UNSUPPORTED_DEFINITION,
        hash_prefix=f"{key}.",
    )


def parse_definitions(payload: Mapping[str, Any]) -> FlagDefinitions:
    """Parse a local-evaluation response body into ``FlagDefinitions``; never raises on data.

    Flags without a string ``key`` are skipped; malformed flags are kept as
    undecidable; a later duplicate key replaces an earlier one in ``by_key``.
    """
    if not isinstance(payload, Mapping):
        logger.warning("feature flag definitions are not a JSON object; ignored")
        return FlagDefinitions()
    version = payload.get("property_matching_version", 1)
    if version not in (1, 2) or isinstance(version, bool):
        version = 1
    raw_mapping = payload.get("group_type_mapping") or {}
    mapping = (
        {str(k): v for k, v in raw_mapping.items() if isinstance(v, str)}
        if isinstance(raw_mapping, Mapping)
        else {}
    )
    cohorts = parse_cohorts(payload.get("cohorts"), version)
    raw_flags = payload.get("flags") or []
    if not isinstance(raw_flags, list):
        logger.warning("feature flag definitions: 'flags' is not a list; ignored")
        raw_flags = []
    flags: list[FeatureFlag] = []
    for index, raw in enumerate(raw_flags):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str) or not raw["key"]:
            logger.warning("feature flag definition #%d has no key; skipped", index)
            continue
        try:
            flags.append(_parse_flag(raw, version, mapping))
        except (Malformed, TypeError, ValueError, AttributeError, KeyError, RecursionError):
            logger.warning(
                "feature flag %r is malformed; it will be evaluated by the server", raw["key"]
            )
            flags.append(_undecidable_flag(raw))
    by_key = {flag.key: flag for flag in flags}
    return FlagDefinitions(
        flags=tuple(by_key.values()),
        by_key=MappingProxyType(by_key),
        group_type_mapping=MappingProxyType(mapping),
        cohorts=MappingProxyType(cohorts),
        property_matching_version=version,
    )
