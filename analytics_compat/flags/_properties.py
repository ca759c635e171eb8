"""Property filters and cohorts: typed objects and their parsing.

Owns ``Property`` (one filter, with its operator compiled into a matcher),
``PropertyGroup`` (a cohort's nested AND/OR group), ``Cohort``, and the parsing
of both from PostHog's JSON. A shape error raises the internal ``Malformed``,
which ``model`` turns into "this flag/cohort needs the server".

It must not know about flags, conditions, evaluation or HTTP.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Tuple, Union

import attrs

from analytics_compat.flags.operators import Matcher, compile_matcher

__all__ = [
    "COHORT_OPERATORS",
    "Cohort",
    "Malformed",
    "Property",
    "PropertyGroup",
    "as_list",
    "opt_int",
    "opt_number",
    "parse_cohorts",
    "parse_property",
]

logger = logging.getLogger(__name__)

COHORT_OPERATORS = frozenset({"exact", "in", "not_in"})


class Malformed(Exception):
    """Internal to parsing: the entry being parsed does not have the expected shape."""


@attrs.frozen
class Property:
    """One filter: ``type`` is person, group, cohort or flag (others match like person)."""

    key: str
    operator: str
    value: Any
    type: str = "person"
    negation: bool = False
    group_type_index: Optional[int] = None
    dependency_chain: Optional[Tuple[str, ...]] = None
    matcher: Optional[Matcher] = attrs.field(default=None, eq=False, repr=False)
    """Compiled operator (person/group properties); None if locally unsupported."""
    cohort_id: Optional[str] = None
    """For ``type == "cohort"``: the referenced cohort id as a string."""
    malformed_dependency: bool = False
    """For ``type == "flag"``: wrong operator or no key/value, a definite no-match."""
    regex: bool = False
    """``regex``/``not_regex``: an absent matcher or a None answer needs the service for
    regex reasons (the evaluator reports them as such)."""


@attrs.frozen
class PropertyGroup:
    """A cohort's AND/OR group of filters and nested groups."""

    is_and: bool
    values: Tuple[Union[PropertyGroup, Property], ...]


@attrs.frozen
class Cohort:
    """A dynamic cohort; ``group`` is None when its definition is malformed."""

    id: str
    group: Optional[PropertyGroup]


# --------------------------------------------------------------------------- helpers


def opt_int(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed
    return value


def opt_number(value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed
    return value


# --------------------------------------------------------------------------- properties


def parse_property(raw: Any, version: int) -> Property:
    if not isinstance(raw, Mapping):
        raise Malformed
    ptype = raw.get("type") or "person"
    if not isinstance(ptype, str):
        raise Malformed
    key = raw.get("key")
    operator = raw.get("operator") or "exact"
    if not isinstance(operator, str):
        operator = str(operator)
    value = raw.get("value")
    negation = bool(raw.get("negation", False))
    group_type_index = raw.get("group_type_index")
    if isinstance(group_type_index, bool) or not isinstance(group_type_index, (int, type(None))):
        group_type_index = None
    if ptype == "flag":
        chain_raw = raw.get("dependency_chain")
        chain = (
            tuple(str(k) for k in chain_raw) if isinstance(chain_raw, list) else None
        )  # None: missing or invalid chain; (): circular dependency
        malformed = raw.get("operator") != "flag_evaluates_to" or not key or value is None
        return Property(
            key=str(key) if key is not None else "",
            operator=operator,
            value=value,
            type=ptype,
            negation=negation,
            group_type_index=group_type_index,
            dependency_chain=chain,
            malformed_dependency=malformed,
        )
    if ptype == "cohort":
        return Property(
            key=str(key) if key is not None else "id",
            operator=operator,
            value=value,
            type=ptype,
            negation=negation,
            cohort_id=str(value),
        )
    matcher = compile_matcher(operator, value, matching_version=version)
    if not isinstance(key, str):
        matcher = None  # a filter without a property name cannot be checked locally
    return Property(
        key=key if isinstance(key, str) else "",
        operator=operator,
        value=value,
        type=ptype,
        negation=negation,
        group_type_index=group_type_index,
        matcher=matcher,
        regex=operator in ("regex", "not_regex"),
    )


def _is_nested_group(raw: Mapping[str, Any]) -> bool:
    return not raw or "values" in raw or raw.get("type") in ("AND", "OR")


def _parse_group(raw: Any, version: int, depth: int = 0) -> PropertyGroup:
    if depth > 32 or not isinstance(raw, Mapping):
        raise Malformed
    if not raw:  # PostHog serializes an empty property group as {}
        return PropertyGroup(is_and=True, values=())
    gtype = raw.get("type")
    values = raw.get("values")
    if gtype not in ("AND", "OR") or not isinstance(values, list):
        raise Malformed
    entries: list[Union[PropertyGroup, Property]] = []
    for entry in values:
        if not isinstance(entry, Mapping):
            raise Malformed
        if _is_nested_group(entry):
            entries.append(_parse_group(entry, version, depth + 1))
        else:
            entries.append(parse_property(entry, version))
    return PropertyGroup(is_and=gtype == "AND", values=tuple(entries))


def parse_cohorts(raw: Any, version: int) -> dict[str, Cohort]:
    cohorts: dict[str, Cohort] = {}
    if not isinstance(raw, Mapping):
        if raw is not None:
            logger.warning("feature flag definitions: 'cohorts' is not an object; ignored")
        return cohorts
    for cohort_id, body in raw.items():
        cid = str(cohort_id)
        try:
            cohorts[cid] = Cohort(id=cid, group=_parse_group(body, version))
        except Malformed:
            logger.warning("cohort %s is malformed; flags using it need the server", cid)
            cohorts[cid] = Cohort(id=cid, group=None)
    return cohorts
