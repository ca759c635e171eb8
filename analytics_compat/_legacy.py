"""Legacy analytics-node messages -> PostHog events.

Owns the analytics-node message shapes (``{'userId', 'event', 'properties', ...}``,
also given as snake_case keywords), their validation (every error names the field
as the caller spelled it, and is raised before anything is queued), and the
mapping of DESIGN.md onto the PostHog core:

- identify -> ``$identify`` with ``$set``; track -> the event; alias -> ``$create_alias``;
  group -> ``$groupidentify`` with ``$group_type`` / ``$group_key`` / ``$group_set``;
- ``context.ip`` -> ``$ip``, ``context.userAgent`` -> ``$raw_user_agent``; the other
  context keys are kept under ``$context``;
- track's flag fields, ``flags`` (a snapshot) and ``sendFeatureFlags``, into the
  ``Hint`` ``_flag_options`` makes of them (``track_fields``).

Knows nothing about queues, threads or HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from ._events import (
    Message,
    build_alias,
    build_capture,
    build_group_identify,
    build_set,
    check_distinct_id,
)
from ._flag_options import flags_hint
from ._jsonsafe import json_safe_mapping
from ._pipeline import Hint
from .errors import ValidationError

__all__ = ["legacy_alias", "legacy_group", "legacy_identify", "legacy_track", "normalize"]

# snake_case keyword -> the analytics-node field name.
_SNAKE = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "group_id": "groupId",
    "group_type": "groupType",
    "session_id": "sessionId",
    "message_id": "messageId",
    "previous_id": "previousId",
    "from_": "from",
    "send_feature_flags": "sendFeatureFlags",
}
_COMMON = frozenset({"timestamp", "context", "integrations", "messageId", "uuid"})
_TRACK_FLAGS = frozenset({"sendFeatureFlags", "flags"})
_FIELDS = {
    "identify": _COMMON | {"userId", "anonymousId", "traits"},
    "track": _COMMON | {"userId", "anonymousId", "event", "properties"} | _TRACK_FLAGS,
    "alias": _COMMON | {"from", "to", "previousId", "userId"},
    "group": _COMMON | {"groupId", "groupType", "userId", "anonymousId", "sessionId", "traits"},
}


def normalize(call: str, message: Any, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge a legacy mapping and snake_case keywords into one legacy-named dict."""
    allowed = _FIELDS[call]
    # Fast path: a plain dict with legacy names only, no keywords. Read, never mutated.
    if not kwargs and type(message) is dict and message.keys() <= allowed:
        return message
    if message is None:
        message = {}
    elif not isinstance(message, Mapping):
        raise ValidationError(
            f"{call}() takes a message mapping (dict), not {type(message).__name__}",
            field="message",
        )
    merged: Dict[str, Any] = {}
    for source in (message, kwargs):
        for key, value in source.items():
            name = _SNAKE.get(key, key)
            if name not in allowed:
                raise ValidationError(f"{call}() got an unknown field {key!r}", field=str(key))
            merged[name] = value
    return merged


_TRACK_PLAIN = _FIELDS["track"] - _TRACK_FLAGS


def track_fields(message: Any, kwargs: Mapping[str, Any]) -> Tuple[Dict[str, Any], Optional[Hint]]:
    """``track``'s fields and the ``Hint`` its flag fields ask for (None: a plain call)."""
    # The hot path: the one test normalize's fast path makes, flag fields excluded.
    if not kwargs and type(message) is dict and message.keys() <= _TRACK_PLAIN:
        return message, None
    fields = normalize("track", message, kwargs)
    send, flags = fields.get("sendFeatureFlags"), fields.get("flags")
    if not send and flags is None:
        return fields, None
    return fields, flags_hint(send, flags, None, None)


def _person(msg: Mapping[str, Any], *names: str) -> Tuple[Any, str]:
    """The first id field present, with its name (for error messages)."""
    for name in names:
        if msg.get(name) is not None:
            return msg[name], name
    return None, names[0]


def _extra(msg: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """Properties carried by the context: ``$ip``, ``$raw_user_agent``, ``$context``."""
    context = msg.get("context")
    if context is None:
        return None
    context = json_safe_mapping(context, "context")
    extra: Dict[str, Any] = {}
    ip = context.pop("ip", None)
    if ip is not None:
        extra["$ip"] = ip
    agent = context.pop("userAgent", None)
    if agent is not None:
        extra["$raw_user_agent"] = agent
    if context:
        extra["$context"] = context
    return extra


def _uuid(msg: Mapping[str, Any]) -> Any:
    """``uuid`` if given (validated later); else ``messageId`` when it is a UUID.

    Segment message ids are often not UUIDs ("node-<hash>"); those are ignored and
    the event gets a fresh uuid.
    """
    if msg.get("uuid") is not None:
        return msg["uuid"]
    message_id = msg.get("messageId")
    if message_id is None:
        return None
    try:
        return str(uuid.UUID(str(message_id)))
    except ValueError:
        return None


def legacy_identify(msg: Mapping[str, Any]) -> Message:
    user, field = _person(msg, "userId", "anonymousId")
    if user is None:
        check_distinct_id(user, field)
    return build_set(
        user,
        msg.get("traits"),
        msg.get("timestamp"),
        _uuid(msg),
        event="$identify",
        id_field=field,
        properties_field="traits",
        extra=_extra(msg),
    )


def legacy_track(msg: Mapping[str, Any]) -> Message:
    # The hot path: written out rather than through _person/_extra.
    user = msg.get("userId")
    field = "userId"
    if user is None and msg.get("anonymousId") is not None:
        user, field = msg["anonymousId"], "anonymousId"
    if user is None:  # analytics-node requires one (PostHog's calls may leave it out)
        check_distinct_id(user, field)
    message = build_capture(
        user,
        msg.get("event"),
        msg.get("properties"),
        msg.get("timestamp"),
        _uuid(msg) if "uuid" in msg or "messageId" in msg else None,
        id_field=field,
    )
    if "context" in msg:
        extra = _extra(msg)
        if extra:
            message.properties.update(extra)
    return message


def legacy_alias(msg: Mapping[str, Any]) -> Message:
    previous, previous_field = _person(msg, "from", "previousId")
    new, new_field = _person(msg, "to", "userId")
    return build_alias(
        previous,
        new,
        msg.get("timestamp"),
        _uuid(msg),
        previous_field=previous_field,
        id_field=new_field,
        extra=_extra(msg),
    )


def legacy_group(msg: Mapping[str, Any], default_group_type: str) -> Message:
    user, field = _person(msg, "userId", "anonymousId", "sessionId")
    if user is None:
        raise ValidationError("group() needs userId (or sessionId)", field="userId")
    return build_group_identify(
        msg.get("groupType", default_group_type),
        msg.get("groupId"),
        msg.get("traits"),
        msg.get("timestamp"),
        _uuid(msg),
        user,
        type_field="groupType",
        key_field="groupId",
        id_field=field,
        properties_field="traits",
        extra=_extra(msg),
    )
