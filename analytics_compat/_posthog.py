"""PostHog's call shapes -> messages: posthog-python 6.x/7.x keywords and posthog-node's objects.

Owns the reading of the calls as PostHog's documentation writes them, beside our
analytics-node ones (``_legacy``):

- posthog-python: ``capture("event", distinct_id=..., properties=..., groups=...,
  timestamp=..., uuid=..., flags=..., send_feature_flags=..., disable_geoip=...)``,
  where the distinct id may be left out (the context's, or a personless event), and
  the older ``capture(distinct_id, event, properties)``: two positional arguments
  are always the older form;
- posthog-node, as Python mappings or keywords: ``capture({"distinctId", "event",
  "properties", "groups", "flags", "sendFeatureFlags", "timestamp", "uuid",
  "disableGeoip"})``, ``identify({"distinctId", "properties"})``,
  ``alias({"distinctId", "alias"})``, ``group_identify({"groupType", "groupKey",
  "properties", "distinctId"})``.

Each returns the ``Message`` and the ``Hint`` the pipeline needs (None for a plain
call; ``flags`` and ``send_feature_flags`` are read by ``_flag_options``).
``disable_geoip`` given for one call is written into the event as
``$geoip_disable``; the client's default is added when the event is encoded.
Pure: knows nothing about queues, clients or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from ._events import (
    Message,
    build_alias,
    build_capture,
    build_group_identify,
    build_set,
)
from ._flag_options import flags_hint
from ._legacy import fields_of, legacy_alias, legacy_identify, normalize
from ._pipeline import Hint
from .errors import ValidationError

__all__ = [
    "UNSET",
    "capture_message",
    "node_alias",
    "node_capture",
    "node_group_identify",
    "node_identify",
    "with_geoip",
]

UNSET: Any = object()  # an argument the caller did not give
PERSONLESS = Hint()  # a call without a distinct id: the personless stage must see it
Built = Tuple[Message, Optional[Hint]]


def with_geoip(message: Message, disable_geoip: Optional[bool]) -> Message:
    """Write a per-call ``disable_geoip`` into the event (None: the client's default)."""
    if disable_geoip is not None:
        message.properties["$geoip_disable"] = bool(disable_geoip)
    return message


def _hint(
    message: Message, send_feature_flags: Any, flags: Any, groups: Any, geoip: Any
) -> Optional[Hint]:
    if send_feature_flags or flags is not None:
        return flags_hint(send_feature_flags, flags, groups, geoip)
    return PERSONLESS if message.distinct_id is None else None


def capture_message(
    first: Any,
    second: Any,
    properties: Any,
    timestamp: Any,
    uuid: Any,
    groups: Any,
    *,
    distinct_id: Any,
    event: Any,
    send_feature_flags: Any,
    disable_geoip: Optional[bool],
    flags: Any = None,
) -> Built:
    """Resolve every ``capture`` form (see the module) into one message."""
    if isinstance(first, Mapping) and second is UNSET and event is UNSET:
        return node_capture(first)
    if second is not UNSET:  # capture(distinct_id, event, ...): the older form
        if distinct_id is not UNSET or event is not UNSET:
            raise ValidationError(
                "capture(distinct_id, event) was also given distinct_id= or event=; "
                "use capture(event, distinct_id=...)",
                field="distinct_id" if distinct_id is not UNSET else "event",
            )
        did, name = first, second
    elif event is not UNSET:  # capture(distinct_id, event=...) or all keywords
        if first is not UNSET and distinct_id is not UNSET:
            raise ValidationError("capture() got two distinct ids", field="distinct_id")
        did = first if distinct_id is UNSET else distinct_id
        name = event
    else:  # capture(event, distinct_id=...): posthog-python 6.x and later
        if first is UNSET:
            raise ValidationError("capture() needs an event name", field="event")
        did = None if distinct_id is UNSET else distinct_id
        name = first
    did = None if did is UNSET else did
    message = build_capture(did, name, properties, timestamp, uuid, groups)
    with_geoip(message, disable_geoip)
    return message, _hint(message, send_feature_flags, flags, groups, disable_geoip)


# -- posthog-node's objects -------------------------------------------------------------
_NODE_CAPTURE = frozenset(
    {"distinctId", "event", "properties", "groups", "sendFeatureFlags", "timestamp", "uuid"}
    | {"disableGeoip", "flags"}
)


def _fields(call: str, message: Mapping[Any, Any], allowed: frozenset[str]) -> Dict[str, Any]:
    unknown = [key for key in message if key not in allowed]
    if unknown:
        raise ValidationError(
            f"{call}() got an unknown field {unknown[0]!r} (posthog-node's fields are: "
            f"{', '.join(sorted(allowed))})",
            field=str(unknown[0]),
        )
    return dict(message)


def node_capture(message: Mapping[Any, Any]) -> Built:
    """posthog-node's ``capture({distinctId, event, properties, ...})``."""
    fields = _fields("capture", message, _NODE_CAPTURE)
    built = build_capture(
        fields.get("distinctId"),
        fields.get("event"),
        fields.get("properties"),
        fields.get("timestamp"),
        fields.get("uuid"),
        fields.get("groups"),
        id_field="distinctId",
    )
    geoip = fields.get("disableGeoip")
    with_geoip(built, geoip)
    flags = fields.get("flags")
    return built, _hint(built, fields.get("sendFeatureFlags"), flags, fields.get("groups"), geoip)


def is_node_identify(message: Any) -> bool:
    """Is this ``identify(...)`` argument posthog-node's object (not analytics-node's)?"""
    return isinstance(message, Mapping) and "distinctId" in message


def node_identify(message: Mapping[Any, Any]) -> Built:
    """posthog-node's ``identify({distinctId, properties})``: ``$identify`` with the
    properties under ``$set`` (``$set`` / ``$set_once`` / ``$anon_distinct_id`` lifted)."""
    fields = _fields("identify", message, frozenset({"distinctId", "properties", "disableGeoip"}))
    built = build_set(
        fields.get("distinctId"),
        fields.get("properties"),
        event="$identify",
        id_field="distinctId",
    )
    return with_geoip(built, fields.get("disableGeoip")), None


def is_node_alias(message: Any) -> bool:
    return isinstance(message, Mapping) and "alias" in message and "distinctId" in message


def node_alias(message: Mapping[Any, Any]) -> Built:
    """posthog-node's ``alias({distinctId, alias})``: ``distinctId`` is the existing id
    and ``alias`` the other one, as posthog-node sends it."""
    fields = _fields("alias", message, frozenset({"distinctId", "alias", "disableGeoip"}))
    built = build_alias(
        fields.get("distinctId"), fields.get("alias"), previous_field="distinctId", id_field="alias"
    )
    return with_geoip(built, fields.get("disableGeoip")), None


_NODE_GROUP = frozenset({"groupType", "groupKey", "properties", "distinctId", "disableGeoip"})


def node_group_identify(message: Mapping[Any, Any]) -> Built:
    """posthog-node's ``groupIdentify({groupType, groupKey, properties, distinctId})``."""
    fields = _fields("group_identify", message, _NODE_GROUP)
    built = build_group_identify(
        fields.get("groupType"),
        fields.get("groupKey"),
        fields.get("properties"),
        None,
        None,
        fields.get("distinctId"),
        type_field="groupType",
        key_field="groupKey",
        id_field="distinctId",
    )
    return with_geoip(built, fields.get("disableGeoip")), None


# -- the calls that take several shapes -----------------------------------------------
def identify_message(message: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Built:
    """Every ``identify`` form: analytics-node's mapping, posthog-node's, PostHog's
    ``identify(distinct_id, properties)`` and segment-python's ``identify(user_id,
    traits, context, timestamp, anonymous_id, integrations, message_id)`` (the same
    call for its first two arguments; ``properties=`` is PostHog's name for traits)."""
    if is_node_identify(message) and not args and not kwargs:
        return node_identify(message)
    if args and isinstance(message, Mapping):
        raise ValidationError(
            "identify() takes a message mapping alone, or (user_id, traits, ...)",
            field="traits",
        )
    geoip = kwargs.pop("disable_geoip", None)
    if "properties" in kwargs and "traits" not in kwargs:
        kwargs["traits"] = kwargs.pop("properties")
    return with_geoip(legacy_identify(fields_of("identify", message, args, kwargs)), geoip), None


# Keywords only segment-python's alias takes: with one of them, it is that call.
_SEGMENT_ALIAS = frozenset({"user_id", "context", "integrations", "message_id"})


def alias_message(
    message: Any, to: Any, kwargs: Dict[str, Any], args: Tuple[Any, ...] = ()
) -> Built:
    """Every ``alias`` form: ``{from, to}``, ``(old, new)``, keywords, posthog-node's, and
    segment-python's ``(previous_id, user_id, context, timestamp, integrations,
    message_id)`` (a third argument, or one of its own keywords, says it is that one)."""
    if args or not _SEGMENT_ALIAS.isdisjoint(kwargs):
        return legacy_alias(fields_of("alias", message, (to, *args), kwargs)), None
    if is_node_alias(message) and to is None and not kwargs:
        return node_alias(message)
    if isinstance(message, Mapping) or (message is None and to is None and not kwargs):
        return legacy_alias(normalize("alias", message, {})), None
    previous = kwargs.pop("previous_id", message)
    new = kwargs.pop("distinct_id", to)
    if previous is None and new is None and kwargs:
        return legacy_alias(normalize("alias", None, kwargs)), None
    timestamp, uuid = kwargs.pop("timestamp", None), kwargs.pop("uuid", None)
    geoip = kwargs.pop("disable_geoip", None)
    if kwargs:
        name = next(iter(kwargs))
        raise ValidationError(f"alias() got an unknown argument {name!r}", field=name)
    return with_geoip(build_alias(previous, new, timestamp, uuid), geoip), None


def group_identify_message(
    gtype: Any, gkey: Any, props: Any, timestamp: Any, uuid: Any, did: Any, geoip: Any
) -> Built:
    """``group_identify``'s positional form, or posthog-node's object."""
    if isinstance(gtype, Mapping) and gkey is None:
        return node_group_identify(gtype)
    return with_geoip(build_group_identify(gtype, gkey, props, timestamp, uuid, did), geoip), None
