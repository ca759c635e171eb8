"""Legacy analytics-node messages -> PostHog events.

Owns the analytics-node message shapes (``{'userId', 'event', 'properties', ...}``,
also given as snake_case keywords, or as segment-python's positional arguments, which
``_segment`` names), their validation (every error names the field as the caller
spelled it, suggests the field a misspelt one was meant to be, and is raised before
anything is queued), and the mapping of DESIGN.md onto the PostHog core:

- identify -> ``$identify`` with ``$set`` (and ``$anon_distinct_id`` when the message
  has an anonymous id beside its userId); track -> the event; alias ->
  ``$create_alias``; group -> ``$groupidentify`` with ``$group_type`` / ``$group_key`` /
  ``$group_set``; page -> ``$pageview``, screen -> ``$screen`` (see ``_segment``);
- the person is ``userId``, else ``anonymousId``, else ``sessionId`` (analytics-node
  0.x's name for the anonymous id);
- ``context.ip`` -> ``$ip``, ``context.userAgent`` -> ``$raw_user_agent``; the other
  context keys are kept under ``$context``, and Segment's ``integrations`` under
  ``$integrations``; ``messageId`` -> the event uuid (``_segment.message_uuid``).
- track's flag fields, ``flags`` (a snapshot) and ``sendFeatureFlags``, into the
  ``Hint`` ``_flag_options`` makes of them (``track_fields``).

Knows nothing about queues, threads or HTTP.
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
    check_distinct_id,
)
from ._flag_options import flags_hint
from ._jsonsafe import json_safe_mapping
from ._pipeline import Hint
from ._segment import (
    POSITIONAL,
    is_positional_id,
    message_uuid,
    page_properties,
    screen_properties,
    segment_fields,
)
from ._spellings import did_you_mean
from .errors import ValidationError

__all__ = [
    "fields_of",
    "legacy_alias",
    "legacy_group",
    "legacy_identify",
    "legacy_page",
    "legacy_track",
    "normalize",
    "track_fields",
]

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
_PERSON = _COMMON | {"userId", "anonymousId", "sessionId"}
_FIELDS = {
    "identify": _PERSON | {"traits"},
    "track": _PERSON | {"event", "properties"} | _TRACK_FLAGS,
    "alias": _COMMON | {"from", "to", "previousId", "userId"},
    "group": _PERSON | {"groupId", "groupType", "traits"},
    "page": _PERSON | {"name", "category", "properties"},
    "screen": _PERSON | {"name", "category", "properties"},
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
        order = ", ".join(POSITIONAL[call][:3])
        raise ValidationError(
            f"{call}() takes a message mapping (analytics-node), or segment-python's "
            f"({order}, ...), not {type(message).__name__}",
            field="message",
        )
    merged: Dict[str, Any] = {}
    for source in (message, kwargs):
        for key, value in source.items():
            name = _SNAKE.get(key, key)
            if name not in allowed:
                raise _unknown(call, key, allowed)
            merged[name] = value
    return merged


def _unknown(call: str, key: Any, allowed: frozenset[str]) -> ValidationError:
    text = f"{call}() got an unknown field {key!r}"
    if isinstance(key, str):
        spellings = allowed | {snake for snake, name in _SNAKE.items() if name in allowed}
        meant = did_you_mean(key, spellings)
        text += (
            f"; did you mean {meant!r}?"
            if meant
            else f" (its fields: {', '.join(sorted(allowed))})"
        )
    return ValidationError(text, field=str(key))


def fields_of(
    call: str, message: Any, args: Tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Dict[str, Any]:
    """Every shape of a legacy call as one legacy-named dict: analytics-node's mapping
    (and snake_case keywords), or segment-python's positional arguments (an id first,
    or more than one argument) and keywords."""
    if not args and not is_positional_id(message):
        return normalize(call, message, kwargs)
    fields = segment_fields(call, message, args)
    for key in kwargs:
        if _SNAKE.get(key, key) in fields:
            raise ValidationError(
                f"{call}() got two values for {key!r} (a positional argument and a keyword)",
                field=key,
            )
    return normalize(call, fields, kwargs)


_TRACK_PLAIN = _FIELDS["track"] - _TRACK_FLAGS


def track_fields(
    message: Any, args: Tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Tuple[Dict[str, Any], Optional[Hint]]:
    """``track``'s fields (every shape ``fields_of`` reads) and the ``Hint`` its flag
    fields ask for (None: a plain call)."""
    # The hot path: the one test normalize's fast path makes, flag fields excluded.
    if not args and not kwargs and type(message) is dict and message.keys() <= _TRACK_PLAIN:
        return message, None
    fields = fields_of("track", message, args, kwargs)
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


def _nobody(call: str) -> ValidationError:
    return ValidationError(
        f"{call}() needs userId or anonymousId (the id of someone not signed in; "
        "sessionId in analytics-node 0.x): it was given neither",
        field="userId",
    )


def _extra(msg: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """Properties carried by the context (``$ip``, ``$raw_user_agent``, ``$context``) and
    by Segment's ``integrations`` (``$integrations``, when not empty)."""
    extra: Dict[str, Any] = {}
    integrations = msg.get("integrations")
    if integrations:
        extra["$integrations"] = json_safe_mapping(integrations, "integrations")
    context = msg.get("context")
    if context is None:
        return extra or None
    context = json_safe_mapping(context, "context")
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
    """``uuid`` if given (validated later); else the one ``messageId`` names: itself when
    it is a UUID, else derived from it (Segment's are often ``node-<hash>``), so the
    same message sent twice is one event."""
    if msg.get("uuid") is not None:
        return msg["uuid"]
    return message_uuid(msg.get("messageId"))


def legacy_identify(msg: Mapping[str, Any]) -> Message:
    user, field = _person(msg, "userId", "anonymousId", "sessionId")
    if user is None:
        raise _nobody("identify")
    extra = _extra(msg)
    anonymous, anonymous_field = _person(msg, "anonymousId", "sessionId")
    if field == "userId" and anonymous is not None and anonymous != user:
        # PostHog merges the anonymous person into the identified one, as its Segment
        # destination asks with the same two ids.
        extra = extra or {}
        extra["$anon_distinct_id"] = check_distinct_id(anonymous, anonymous_field)
    return build_set(
        user,
        msg.get("traits"),
        msg.get("timestamp"),
        _uuid(msg),
        event="$identify",
        id_field=field,
        properties_field="traits",
        extra=extra,
    )


def legacy_track(msg: Mapping[str, Any]) -> Message:
    # The hot path: written out rather than through _person/_extra.
    user = msg.get("userId")
    field = "userId"
    if user is None:
        user, field = _person(msg, "anonymousId", "sessionId")
    if user is None:  # analytics-node requires one (PostHog's calls may leave it out)
        raise _nobody("track")
    message = build_capture(
        user,
        msg.get("event"),
        msg.get("properties"),
        msg.get("timestamp"),
        _uuid(msg) if "uuid" in msg or "messageId" in msg else None,
        id_field=field,
    )
    if "context" in msg or "integrations" in msg:
        extra = _extra(msg)
        if extra:
            message.properties.update(extra)
    return message


def legacy_page(msg: Mapping[str, Any], screen: bool = False) -> Message:
    """Segment's page -> ``$pageview`` (screen -> ``$screen``); see ``_segment``."""
    user, field = _person(msg, "userId", "anonymousId", "sessionId")
    if user is None:
        raise _nobody("screen" if screen else "page")
    message = build_capture(
        user,
        "$screen" if screen else "$pageview",
        msg.get("properties"),
        msg.get("timestamp"),
        _uuid(msg),
        id_field=field,
    )
    props = message.properties
    if screen:
        screen_properties(props, msg.get("name"), msg.get("category"))
    else:
        page_properties(props, msg.get("name"), msg.get("category"), msg.get("context"))
    extra = _extra(msg)
    if extra:
        props.update(extra)
    return message


def legacy_alias(msg: Mapping[str, Any]) -> Message:
    previous, previous_field = _person(msg, "from", "previousId")
    # The missing one is named as the caller's shape names it: {from, to} or Segment's.
    new, new_field = _person(msg, *(("to", "userId") if "from" in msg else ("userId", "to")))
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
        raise _nobody("group")
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
