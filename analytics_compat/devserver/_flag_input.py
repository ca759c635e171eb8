"""What the app API accepts as a feature flag, and the shapes it answers.

Owns the checks on a ``POST`` / ``PATCH`` / ``PUT`` body of
``/api/projects/{p}/feature_flags/`` before anything is stored, each failure a 400
naming the field (``attr``) and the reason, as PostHog's API answers:

- ``key``: letters, digits, ``-`` and ``_`` only, unique among flags not deleted;
- ``name`` (the description) a string, ``active`` / ``deleted`` /
  ``ensure_experience_continuity`` booleans, ``tags`` a list of strings;
- ``filters`` in PostHog's local-evaluation format: ``groups`` (each with
  ``properties``, ``rollout_percentage`` 0-100, an optional ``variant`` that names a
  variant), ``multivariate.variants`` (unique keys, percentages summing to 100),
  ``payloads`` keyed by ``"true"`` or a variant, ``aggregation_group_type_index``.
  A property needs a ``key``, a ``type`` of ``person``, ``group`` (with
  ``group_type_index``) or ``cohort``, and an operator the evaluator knows with a
  value it can use; last, the whole flag must parse for local evaluation.
  Flag dependencies (``type: "flag"``) are refused: their ``dependency_chain`` is
  computed by PostHog's server, which this one does not do (a ``--flags`` file can
  carry them).

It builds the stored record, the local-evaluation definition served for it, and the
REST view (``is_simple_flag``, ``rollout_percentage`` as PostHog derives them). It
knows nothing about HTTP routing, storage or the other resources.
"""

from __future__ import annotations

import math
import re
from typing import Any, Collection, Mapping, Optional

from analytics_compat.flags._properties import COHORT_OPERATORS
from analytics_compat.flags.model import parse_definitions
from analytics_compat.flags.operators import compile_matcher

from ._errors import RequestError

__all__ = ["TEAM_ID", "changed_flag", "definition", "new_flag", "view"]

#: The one project of the devserver (``/api/projects/1/`` is ``/api/projects/@current/``).
TEAM_ID = 1

_KEY = re.compile(r"[A-Za-z0-9_-]+")
_DEFINITION_FIELDS = (
    "id", "team_id", "name", "key", "filters", "deleted", "active",
    "ensure_experience_continuity", "version",
)  # fmt: skip
_WRITABLE = ("key", "name", "active", "deleted", "ensure_experience_continuity", "tags", "filters")


def _invalid(attr: str, reason: str) -> RequestError:
    return RequestError(400, "invalid_input", reason, attr=attr)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _percentage(value: Any, attr: str) -> None:
    if value is not None and not (_number(value) and 0 <= value <= 100):
        raise _invalid(attr, "must be a number from 0 to 100 (or null)")


def _index(value: Any, attr: str) -> None:
    if value is not None and not (isinstance(value, int) and not isinstance(value, bool)):
        raise _invalid(attr, "must be a group type index, an integer (or null)")
    if value is not None and value < 0:
        raise _invalid(attr, "must not be negative")


def _property(raw: Any, attr: str) -> None:
    if not isinstance(raw, Mapping):
        raise _invalid(attr, "must be an object")
    kind = raw.get("type", "person")
    if kind == "flag":
        raise _invalid(
            attr + ".type",
            "flag dependencies cannot be made over this devserver's API (PostHog's server "
            "computes their dependency_chain); put such a flag in the --flags file",
        )
    if kind not in ("person", "group", "cohort"):
        raise _invalid(attr + ".type", "must be person, group or cohort")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise _invalid(attr + ".key", "must be a non-empty string")
    operator = raw.get("operator") or "exact"
    if kind == "cohort":
        if operator not in COHORT_OPERATORS:
            raise _invalid(attr + ".operator", "a cohort filter takes in, not_in or exact")
        return
    if kind == "group":
        if raw.get("group_type_index") is None:
            raise _invalid(attr + ".group_type_index", "a group filter needs a group type index")
        _index(raw.get("group_type_index"), attr + ".group_type_index")
    if not isinstance(operator, str) or compile_matcher(operator, raw.get("value")) is None:
        raise _invalid(attr, "the operator is unknown or cannot use this value")


def _variants(filters: Mapping[str, Any]) -> frozenset[str]:
    multivariate = filters.get("multivariate")
    if multivariate is None:
        return frozenset()
    attr = "filters.multivariate"
    if not isinstance(multivariate, Mapping) or not isinstance(multivariate.get("variants"), list):
        raise _invalid(attr, "must be an object with a list of variants (or null)")
    keys: list[str] = []
    total = 0.0
    for index, variant in enumerate(multivariate["variants"]):
        where = f"{attr}.variants[{index}]"
        if not isinstance(variant, Mapping):
            raise _invalid(where, "must be an object")
        key, share = variant.get("key"), variant.get("rollout_percentage")
        if not isinstance(key, str) or not key:
            raise _invalid(where + ".key", "must be a non-empty string")
        if key in keys:
            raise _invalid(where + ".key", "repeats another variant's key")
        if share is None:
            raise _invalid(where + ".rollout_percentage", "is required")
        _percentage(share, where + ".rollout_percentage")
        if not isinstance(variant.get("name", ""), (str, type(None))):
            raise _invalid(where + ".name", "must be a string")
        keys.append(key)
        total += share
    if not keys:
        raise _invalid(attr + ".variants", "must name at least one variant")
    if abs(total - 100) > 1e-9:
        raise _invalid(attr + ".variants", "rollout percentages must sum to 100")
    return frozenset(keys)


def _filters(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid("filters", "must be an object")
    variants = _variants(value)
    groups = value.get("groups", [])
    if not isinstance(groups, list):
        raise _invalid("filters.groups", "must be a list")
    for index, group in enumerate(groups):
        attr = f"filters.groups[{index}]"
        if not isinstance(group, Mapping):
            raise _invalid(attr, "must be an object")
        properties = group.get("properties") or []
        if not isinstance(properties, list):
            raise _invalid(attr + ".properties", "must be a list")
        for number, prop in enumerate(properties):
            _property(prop, f"{attr}.properties[{number}]")
        _percentage(group.get("rollout_percentage"), attr + ".rollout_percentage")
        variant = group.get("variant")
        if variant is not None and variant not in variants:
            raise _invalid(attr + ".variant", "must be one of the flag's variants")
    payloads = value.get("payloads", {})
    if payloads is not None and not isinstance(payloads, Mapping):
        raise _invalid("filters.payloads", "must be an object")
    for key in payloads or {}:
        if key != "true" and key not in variants:
            raise _invalid("filters.payloads", f"keys are 'true' or a variant, not {key!r:.40}")
    _index(value.get("aggregation_group_type_index"), "filters.aggregation_group_type_index")
    return {"groups": [], **value}


def _checked(body: Mapping[str, Any], taken_keys: Collection[str]) -> dict[str, Any]:
    """The writable fields of ``body``, each checked."""
    out: dict[str, Any] = {}
    if "key" in body:
        key = body["key"]
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise _invalid("key", "only letters, numbers, hyphens (-) and underscores (_)")
        if key in taken_keys:
            raise RequestError(
                400, "unique", "there is already a feature flag with this key", attr="key"
            )
        out["key"] = key
    if "name" in body:
        if not isinstance(body["name"], (str, type(None))):
            raise _invalid("name", "must be a string")
        out["name"] = body["name"] or ""
    for field in ("active", "deleted", "ensure_experience_continuity"):
        if field in body:
            if not isinstance(body[field], bool):
                raise _invalid(field, "must be true or false")
            out[field] = body[field]
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise _invalid("tags", "must be a list of strings")
        out["tags"] = list(tags)
    if "filters" in body:
        out["filters"] = _filters(body["filters"])
    return out


def _parses(record: Mapping[str, Any]) -> None:
    defs = parse_definitions({"flags": [definition(record)]})
    flag = defs.by_key.get(record["key"])
    if flag is None or flag.undecidable is not None:
        raise _invalid("filters", "these filters cannot be evaluated locally")


def new_flag(
    body: Mapping[str, Any], *, flag_id: int, now: str, taken_keys: Collection[str]
) -> dict[str, Any]:
    """The record of a flag created with ``body`` (``key`` required)."""
    if "key" not in body:
        raise _invalid("key", "is required")
    record: dict[str, Any] = {
        "id": flag_id,
        "name": "",
        "active": True,
        "deleted": False,
        "ensure_experience_continuity": False,
        "tags": [],
        "filters": {"groups": []},
        **_checked(body, taken_keys),
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    _parses(record)
    return record


def changed_flag(
    record: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    now: str,
    taken_keys: Collection[str],
    full: bool,
) -> dict[str, Any]:
    """``record`` with ``body`` applied (PATCH; ``full`` for PUT, which needs ``key``)."""
    if full and "key" not in body:
        raise _invalid("key", "is required")
    others = [k for k in taken_keys if k != record["key"]]
    changes = _checked(body, others)
    updated = {**record, **changes}
    if any(updated.get(field) != record.get(field) for field in _WRITABLE):
        updated["version"] = int(record.get("version") or 0) + 1
        updated["updated_at"] = now
    _parses(updated)
    return updated


def definition(record: Mapping[str, Any]) -> dict[str, Any]:
    """The flag as ``/flags/definitions`` serves it (PostHog's local-evaluation fields)."""
    flag = {field: record.get(field) for field in _DEFINITION_FIELDS if field in record}
    flag["team_id"] = TEAM_ID
    return flag


def _simple(filters: Mapping[str, Any]) -> tuple[bool, Optional[float]]:
    groups = filters.get("groups") or []
    simple = (
        isinstance(groups, list)
        and len(groups) == 1
        and isinstance(groups[0], Mapping)
        and not (groups[0].get("properties") or [])
        and not filters.get("multivariate")
        and filters.get("aggregation_group_type_index") is None
    )
    return simple, groups[0].get("rollout_percentage") if simple else None


def view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The flag as the app API answers it."""
    filters = record.get("filters") if isinstance(record.get("filters"), Mapping) else {}
    simple, rollout = _simple(filters or {})
    return {
        "id": record.get("id"),
        "team_id": TEAM_ID,
        "name": record.get("name") or "",
        "key": record.get("key"),
        "filters": filters,
        "deleted": bool(record.get("deleted")),
        "active": bool(record.get("active")),
        "created_by": None,
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "version": record.get("version"),
        "is_simple_flag": simple,
        "rollout_percentage": rollout,
        "ensure_experience_continuity": bool(record.get("ensure_experience_continuity")),
        "tags": list(record.get("tags") or []),
    }
